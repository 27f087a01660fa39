"""The pmserve command: keys, models in the local store, quick start, local CSV scoring."""

from __future__ import annotations

import csv
import io
import os
import stat
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from tests.service.conftest import IRIS_HEADER, linear_pmml, select_all_pmml

from pmserve import pmml
from pmserve.cli import _quickstart, main
from pmserve.service import Service
from pmserve.settings import Settings
from pmserve.store import SQLiteStore

Run = Callable[..., Result]


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def run(data_dir: Path) -> Run:
    runner = CliRunner()

    def invoke(*args: str) -> Result:
        return runner.invoke(main, list(args), env={"PMSERVE_DATA_DIR": str(data_dir)},
                             catch_exceptions=False)
    return invoke


def test_help_lists_every_command(run: Run) -> None:
    """pmserve --help names every command."""
    out = run("--help").output
    for command in ("serve", "keys", "deploy", "models", "undeploy", "score"):
        assert command in out


def test_keys_create_prints_key_alone_on_last_line_and_stores_only_its_hash(run: Run,
                                                                           data_dir: Path) -> None:
    """The new key is the last output line, >= 256 bits and URL-safe; the store holds only a hash."""
    result = run("keys", "create", "--name", "APP")
    assert result.exit_code == 0
    key = result.output.rstrip("\n").splitlines()[-1]
    assert len(key) >= 43
    assert all(c.isalnum() or c in "-_" for c in key)
    assert key.encode() not in (data_dir / "pmserve.sqlite3").read_bytes()
    service = Service(Settings(data_dir=data_dir), SQLiteStore(data_dir))
    assert service.authenticate(key).name == "APP"
    service.close()


def test_keys_list_and_revoke(run: Run) -> None:
    """keys list shows names and state; revoke marks a key revoked; a second revoke fails."""
    run("keys", "create", "--name", "app")
    assert "app\ttenant=app" in run("keys", "list").output
    assert run("keys", "revoke", "app").exit_code == 0
    assert "revoked" in run("keys", "list").output
    again = run("keys", "revoke", "app")
    assert again.exit_code == 1
    assert "no active access key named 'app'" in again.output


def test_deploy_models_undeploy_against_local_store(run: Run, tmp_path: Path) -> None:
    """deploy, models and undeploy act on the tenant of a key, in the local store."""
    model = tmp_path / "lin.pmml"
    model.write_bytes(linear_pmml(1.0))
    run("keys", "create", "--name", "app")
    assert "deployed 'lin'" in run("deploy", str(model), "--id", "lin", "--key-name", "app").output
    assert "refreshed 'lin'" in run("deploy", str(model), "--id", "lin", "--tenant", "app").output
    assert run("models", "--key-name", "app").stdout.startswith("lin\tlin.pmml\t")
    assert run("models", "--tenant", "other").stdout == ""
    assert run("undeploy", "lin", "--key-name", "app").exit_code == 0
    missing = run("undeploy", "lin", "--key-name", "app")
    assert missing.exit_code == 1
    assert "no model deployed with context id 'lin'" in missing.output


def test_deploy_bad_file_fails_with_message(run: Run, tmp_path: Path) -> None:
    """A file that is no model fails the command with the reason."""
    bad = tmp_path / "churn.str"
    bad.write_bytes(b"PK\x03\x04")
    result = run("deploy", str(bad), "--id", "x", "--tenant", "t")
    assert result.exit_code == 1
    assert ".str" in result.output


def test_quickstart_reuses_its_key_and_deploys_the_sample(data_dir: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    """--quickstart prints the same key on every run (kept in a 0600 file) and deploys 'iris'."""
    settings = Settings(data_dir=data_dir, port=8123)
    _quickstart(settings)
    first = capsys.readouterr().out
    _quickstart(settings)
    second = capsys.readouterr().out
    assert first == second
    key = next(line.split()[-1] for line in first.splitlines() if line.startswith("Access key:"))
    assert "http://127.0.0.1:8123/pm/v1" in first
    assert f"/score/iris?accesskey={key}" in first
    assert stat.S_IMODE(os.stat(data_dir / "quickstart.key").st_mode) == 0o600
    service = Service(settings, SQLiteStore(data_dir))
    assert [m.model_id for m in service.list_models(service.authenticate(key))] == ["iris"]
    service.close()


def _write(path: Path, rows: list[list[str]]) -> Path:
    with open(path, "w", newline="") as f:
        csv.writer(f).writerows(rows)
    return path


def _read(path: Path) -> list[list[str]]:
    return list(csv.reader(io.StringIO(path.read_text())))


def test_score_csv_writes_inputs_results_and_error_column(run: Run, tmp_path: Path, iris_pmml: bytes) -> None:
    """Output = input columns, the model's results, then 'error'; results match the engine's."""
    model = tmp_path / "iris.pmml"
    model.write_bytes(iris_pmml)
    rows = [["5.1", "3.5", "1.4", "0.2"], ["6.7", "3.0", "5.2", "2.3"], ["5.9", "3.0", "4.2", "1.5"]]
    src = _write(tmp_path / "in.csv", [IRIS_HEADER, *rows])
    out = tmp_path / "out.csv"
    result = run("score", str(model), str(src), "-o", str(out), "--chunk-size", "2")
    assert result.exit_code == 0, result.output
    lines = _read(out)
    engine = pmml.load(iris_pmml)
    assert lines[0] == [*IRIS_HEADER, *(f.name for f in engine.output_fields), "error"]
    expected = engine.score({h: [r[i] for r in rows] for i, h in enumerate(IRIS_HEADER)}).rows()
    for line, given, want in zip(lines[1:], rows, expected, strict=True):
        assert line[:4] == given
        assert line[4:6] == want[:2]
        assert [float(v) for v in line[6:9]] == pytest.approx(want[2:], rel=1e-12)
        assert line[9] == ""


def test_score_csv_actual_target_column_gives_way_to_the_prediction(run: Run, tmp_path: Path,
                                                                   iris_pmml: bytes) -> None:
    """An input column named like a result is not echoed, so the output names each column once."""
    model = tmp_path / "iris.pmml"
    model.write_bytes(iris_pmml)
    src = _write(tmp_path / "in.csv", [[*IRIS_HEADER, "species"], ["5.1", "3.5", "1.4", "0.2", "virginica"]])
    out = tmp_path / "out.csv"
    result = run("score", str(model), str(src), "-o", str(out))
    assert result.exit_code == 0, result.output
    header, row = _read(out)
    assert header.count("species") == 1
    assert dict(zip(header, row, strict=True))["species"] == "setosa"


def test_score_csv_writes_a_list_valued_result_as_a_json_array(run: Run, tmp_path: Path) -> None:
    """A selectAll model's list per record is one CSV cell holding a JSON array (null for missing items)."""
    model = tmp_path / "all.pmml"
    model.write_bytes(select_all_pmml())
    src = _write(tmp_path / "in.csv", [["x"], ["2"], ["-1"], [""]])
    out = tmp_path / "out.csv"
    result = run("score", str(model), str(src), "-o", str(out))
    assert result.exit_code == 0, result.output
    assert _read(out) == [["x", "y", "error"], ["2", "[3.0, 12.0]", ""], ["-1", "[0.0]", ""], ["", "[null]", ""]]


def test_score_csv_bad_record_gets_error_and_others_still_scored(run: Run, tmp_path: Path) -> None:
    """A value that cannot be read leaves empty results and its message in 'error'; --na marks missing."""
    model = tmp_path / "lin.pmml"
    model.write_bytes(linear_pmml(1.0))
    src = _write(tmp_path / "in.csv", [["x"], ["1"], ["abc"], ["NA"], ["N/A"], [""], ["4"]])
    out = tmp_path / "out.csv"
    result = run("score", str(model), str(src), "-o", str(out), "--na", "NA", "--na", "N/A",
                 "--chunk-size", "2")
    assert result.exit_code == 0
    assert "1 of 6 record(s) could not be scored" in result.output
    lines = _read(out)
    assert lines[0] == ["x", "y", "error"]
    assert float(lines[1][1]) == pytest.approx(2.0)
    assert lines[2][:2] == ["abc", ""]
    assert "'x'" in lines[2][2]
    assert "'abc'" in lines[2][2]
    assert "row 2" in lines[2][2]
    missing = pmml.load(linear_pmml(1.0)).score({"x": [None]}).rows()[0][0]
    assert [line[1] for line in lines[3:6]] == ["" if missing is None else str(missing)] * 3
    assert float(lines[6][1]) == pytest.approx(5.0)


def test_score_csv_fail_fast_stops_at_first_bad_record(run: Run, tmp_path: Path) -> None:
    """--fail-fast stops with the record's message and leaves no partial output (an old one intact)."""
    model = tmp_path / "lin.pmml"
    model.write_bytes(linear_pmml(1.0))
    src = _write(tmp_path / "in.csv", [["x"], ["1"], ["2"], ["3"], ["abc"], ["5"]])
    out = tmp_path / "out.csv"
    out.write_text("earlier scores\n")
    result = run("score", str(model), str(src), "-o", str(out), "--fail-fast", "--chunk-size", "3")
    assert result.exit_code == 1
    assert "row 4 cannot be scored: field 'x' expects a number, got 'abc'" in result.output
    assert out.read_text() == "earlier scores\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.csv", "lin.pmml", "out.csv"]


def test_score_refuses_to_write_over_its_input(run: Run, tmp_path: Path) -> None:
    """`pmserve score M same.csv -o same.csv` is refused before anything is written: the input stays."""
    model = tmp_path / "lin.pmml"
    model.write_bytes(linear_pmml(1.0))
    src = _write(tmp_path / "same.csv", [["x"], ["1"], ["2"]])
    before = src.read_bytes()
    result = run("score", str(model), str(src), "-o", str(tmp_path / "." / "same.csv"))
    assert result.exit_code == 2
    assert "is the input file" in result.output
    assert src.read_bytes() == before


def test_score_into_a_missing_folder_is_a_clear_error(run: Run, tmp_path: Path) -> None:
    """An output folder that does not exist is named; no traceback."""
    model = tmp_path / "lin.pmml"
    model.write_bytes(linear_pmml(1.0))
    src = _write(tmp_path / "in.csv", [["x"], ["1"]])
    result = run("score", str(model), str(src), "-o", str(tmp_path / "nowhere" / "out.csv"))
    assert result.exit_code == 2
    assert "output folder" in result.output
    assert "nowhere" in result.output
    assert "Traceback" not in result.output


def test_score_exits_non_zero_when_no_record_could_be_scored(run: Run, tmp_path: Path) -> None:
    """Every record failing is a failure of the command (the output still says why for each)."""
    model = tmp_path / "lin.pmml"
    model.write_bytes(linear_pmml(1.0))
    src = _write(tmp_path / "in.csv", [["x"], ["abc"], ["def"]])
    out = tmp_path / "out.csv"
    result = run("score", str(model), str(src), "-o", str(out))
    assert result.exit_code == 1
    assert "none of the 2 record(s) could be scored" in result.output
    assert [line[-1] != "" for line in _read(out)[1:]] == [True, True]


def test_read_commands_refuse_to_create_an_empty_store_elsewhere(tmp_path: Path) -> None:
    """Run from another folder, `keys list` says there is no store there instead of making one."""
    runner = CliRunner()
    empty = tmp_path / "not-a-store"
    for args in (["keys", "list"], ["models", "--tenant", "t"], ["undeploy", "m", "--tenant", "t"]):
        result = runner.invoke(main, args, env={"PMSERVE_DATA_DIR": str(empty)})
        assert result.exit_code == 1, args
        assert f"no pmserve store in {empty}" in result.output
    assert not empty.exists()


def test_management_commands_name_the_store_they_use(run: Run, tmp_path: Path) -> None:
    """The store in use is named on standard error, so a wrong folder shows at once."""
    result = run("keys", "create", "--name", "app")
    assert f"pmserve: store {(tmp_path / 'data').resolve()}" in result.stderr
    assert "pmserve: store" not in result.stdout
