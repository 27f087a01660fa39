"""``pmserve jobs ...`` against a real server: submit with uploads, wait, list, fetch, cancel, delete."""

from __future__ import annotations

from pathlib import Path

import httpx
import orjson
import pytest
from click.testing import CliRunner
from tests.service.conftest import IRIS_HEADER, Keys

from pmserve.cli import main
from pmserve.settings import Settings


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data", job_chunk_rows=1000)


@pytest.mark.server
def test_jobs_commands_submit_wait_fetch_list_and_delete(server_client: httpx.Client, keys: Keys,
                                                         tmp_path: Path, iris_pmml: bytes) -> None:
    """A job submitted with its files uploaded runs to SUCCESS; its output is fetched; list and delete work."""
    (tmp_path / "iris.pmml").write_bytes(iris_pmml)
    (tmp_path / "in.csv").write_text(",".join(IRIS_HEADER) + "\n5.1,3.5,1.4,0.2\n6.7,3.0,5.2,2.3\n")
    job = {"action": "BATCH_SCORE", "model": {"id": "iris.pmml"},
           "setting": {"inputs": [{"file": {"id": "in.csv"}}], "reportFormat": "CSV"}}
    (tmp_path / "job.json").write_bytes(orjson.dumps(job))
    env = {"PMSERVE_URL": str(server_client.base_url).rstrip("/"), "PMSERVE_KEY": keys.alice}
    runner = CliRunner()
    done = runner.invoke(main, ["jobs", "submit", "j1", str(tmp_path / "job.json"), "--file",
                                f"iris.pmml={tmp_path / 'iris.pmml'}", "--file", f"in.csv={tmp_path / 'in.csv'}",
                                "--wait"], env=env)
    assert done.exit_code == 0, done.output
    assert '"jobStatus":"SUCCESS"' in done.stdout
    fetched = runner.invoke(main, ["jobs", "fetch", "j1", "-o", str(tmp_path / "out.csv")], env=env)
    assert fetched.exit_code == 0, fetched.output
    lines = (tmp_path / "out.csv").read_text().splitlines()
    assert lines[0].startswith("sepal_length,sepal_width,petal_length,petal_width,species")
    assert lines[2].startswith("6.7,3.0,5.2,2.3,virginica,virginica,")
    listed = runner.invoke(main, ["jobs", "list"], env=env)
    assert listed.stdout.startswith("j1\tSUCCESS\t2\t0\t")
    status = runner.invoke(main, ["jobs", "status", "j1"], env=env)
    assert orjson.loads(status.stdout)["rowsDone"] == 2
    assert runner.invoke(main, ["jobs", "delete", "j1", "nope"], env=env).stdout.strip() == "1"


@pytest.mark.server
def test_jobs_commands_report_server_errors_in_one_line(server_client: httpx.Client, keys: Keys) -> None:
    """Unknown job, bad key, unreachable server, missing URL: one clear message, exit status 1 or 2."""
    runner = CliRunner()
    env = {"PMSERVE_URL": str(server_client.base_url).rstrip("/") + "/pm/v1", "PMSERVE_KEY": keys.alice}
    missing = runner.invoke(main, ["jobs", "status", "nope"], env=env)
    assert missing.exit_code == 1
    assert "HTTP 404: no job with id 'nope'" in missing.output
    bad_key = runner.invoke(main, ["jobs", "list"], env={**env, "PMSERVE_KEY": "wrong"})
    assert "HTTP 401" in bad_key.output
    unreachable = runner.invoke(main, ["jobs", "list"], env={**env, "PMSERVE_URL": "http://127.0.0.1:9"})
    assert unreachable.exit_code == 1
    assert "cannot reach pmserve at http://127.0.0.1:9/pm/v1" in unreachable.output
    no_url = runner.invoke(main, ["jobs", "list"], env={"PMSERVE_URL": "", "PMSERVE_KEY": "k"})
    assert no_url.exit_code == 2
    assert "--url or PMSERVE_URL" in no_url.output
    not_done = runner.invoke(main, ["jobs", "cancel", "nope"], env=env)
    assert "HTTP 404" in not_done.output
