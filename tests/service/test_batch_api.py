"""/pm/v1/file and /pm/v1/jobs: IBM's status codes, bodies and job JSON (reference §1.2, §2.8)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import orjson
import pytest
from starlette.testclient import TestClient
from tests.service.conftest import Client, Keys

from pmserve.api import create_app
from pmserve.service import Service
from pmserve.settings import Settings
from pmserve.store import SQLiteStore

# The job definition of reference §2.8, with a database type pmserve reaches.
REFERENCE_JOB: dict[str, Any] = {
    "action": "BATCH_SCORE",
    "model": {"id": "drug_batch_src", "name": "drug_batch.str"},
    "outputType": "DATA_URL",
    "dbDefinitions": {
        "warehouse": {"type": "PostgreSQL", "host": "db.example.net", "port": "5432",
                      "db": "BLUDB", "username": "u1", "password": "p1", "options": "Security=SSL"}},
    "setting": {
        "inputs": [{"node": "patients_in", "odbc": {"dbRef": "warehouse", "table": "PATIENTS"}, "attributes": []}],
        "exports": [{"node": "Table", "odbc": {"dbRef": "warehouse", "table": "SCORED", "insertMode": "Create"},
                     "attributes": []}],
        "reportFormat": "TAB"}}


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """No job runner: these tests look at jobs as submitted, before anything runs them."""
    return Settings(data_dir=tmp_path / "data", max_upload_mb=1.0, job_workers=0)


def test_file_store_lists_nothing_at_first(client: Client, keys: Keys) -> None:
    """GET /pm/v1/file answers [] (IBM's clients probe it before they start)."""
    for path in ("/pm/v1/file", "/pm/v1/file/"):
        reply = client.get(path, params={"accesskey": keys.alice})
        assert (reply.status_code, reply.json()) == (200, [])


def test_file_upload_answers_plain_text_url_and_downloads_back(client: Client, keys: Keys) -> None:
    """PUT answers the file's URL as text; GET returns the bytes; any single part name works."""
    content = b"a,b\n1,2\n" * 100_000
    reply = client.put("/pm/v1/file/in.csv", params={"accesskey": keys.alice},
                       files={"whatever": ("in.csv", content)})
    assert reply.status_code == 200
    assert reply.headers["content-type"].startswith("text/plain")
    assert reply.text.endswith("/pm/v1/file/in.csv")
    got = client.get("/pm/v1/file/in.csv", params={"accesskey": keys.alice})
    assert got.status_code == 200
    assert got.headers["content-type"] == "application/octet-stream"
    assert got.content == content
    assert client.get("/pm/v1/file", params={"accesskey": keys.alice}).json() == ["in.csv"]


def test_file_upload_with_empty_part_is_accepted(client: Client, keys: Keys) -> None:
    """An empty file part still answers 200 and the URL (reference §2.8)."""
    reply = client.put("/pm/v1/file/empty", params={"accesskey": keys.alice}, files={"model_file": ("e", b"")})
    assert reply.status_code == 200
    assert client.get("/pm/v1/file/empty", params={"accesskey": keys.alice}).content == b""


def test_file_upload_without_multipart_body_is_500(client: Client, keys: Keys) -> None:
    """No multipart body: 500, as IBM answered."""
    reply = client.put("/pm/v1/file/x", params={"accesskey": keys.alice}, content=b"raw bytes")
    assert reply.status_code == 500
    assert "multipart" in reply.json()["message"]


def test_file_delete_answers_1_then_404(client: Client, keys: Keys) -> None:
    """DELETE answers the text 1; unknown files are 404 on GET and DELETE."""
    client.put("/pm/v1/file/f", params={"accesskey": keys.alice}, files={"file": ("f", b"x")})
    reply = client.delete("/pm/v1/file/f", params={"accesskey": keys.alice})
    assert (reply.status_code, reply.text) == (200, "1")
    assert client.delete("/pm/v1/file/f", params={"accesskey": keys.alice}).status_code == 404
    assert client.get("/pm/v1/file/f", params={"accesskey": keys.alice}).status_code == 404


def test_files_belong_to_their_tenant(client: Client, keys: Keys) -> None:
    """Another tenant's key neither lists nor reads a file; no key is 401."""
    client.put("/pm/v1/file/f", params={"accesskey": keys.alice}, files={"file": ("f", b"x")})
    assert client.get("/pm/v1/file", params={"accesskey": keys.bob}).json() == []
    assert client.get("/pm/v1/file/f", params={"accesskey": keys.bob}).status_code == 404
    assert client.get("/pm/v1/file").status_code == 401


def test_file_larger_than_the_limit_is_refused(tmp_path: Path) -> None:
    """PMSERVE_MAX_FILE_MB bounds an upload: 413, and nothing is stored."""
    settings = Settings(data_dir=tmp_path, max_file_mb=1.0)
    service = Service(settings, SQLiteStore(tmp_path))
    key = service.create_key("alice")
    with TestClient(create_app(settings, service)) as client:
        big = b"x" * (2 * 1024 * 1024)
        reply = client.put("/pm/v1/file/big", params={"accesskey": key}, files={"file": ("big", big)})
        assert reply.status_code == 413
        assert "PMSERVE_MAX_FILE_MB" in reply.json()["message"]
        assert client.get("/pm/v1/file", params={"accesskey": key}).json() == []


# -- jobs -----------------------------------------------------------------------------------------

def post_job(client: Client, key: str, job_id: str, body: Any, method: str = "POST") -> Any:
    return client.request(method, f"/pm/v1/jobs/{job_id}", params={"accesskey": key},
                          content=orjson.dumps(body), headers={"Content-Type": "application/json"})


def test_reference_job_round_trips_as_pending_job_json(client: Client, keys: Keys) -> None:
    """POST echoes the §2.8 definition with id, PENDING, namespace, storageId and epoch-ms times."""
    reply = post_job(client, keys.alice, "nightly_0412", REFERENCE_JOB)
    assert reply.status_code == 200
    job = reply.json()
    assert {k: job[k] for k in REFERENCE_JOB if k != "setting"} == \
        {k: v for k, v in REFERENCE_JOB.items() if k != "setting"}
    assert job["setting"] == {**REFERENCE_JOB["setting"], "parameterOverride": []}
    assert (job["id"], job["status"], job["namespace"], job["storageId"]) == \
        ("nightly_0412", "PENDING", "alice", "alice/nightly_0412")
    assert job["createdAt"] > 1_600_000_000_000
    assert "result" not in job
    assert "finishedAt" not in job
    assert job["creater"].startswith("Tenant [instanceId=alice")
    assert job["dbDefinitions"]["warehouse"]["password"] == "p1"  # echoed, as IBM did
    again = client.get("/pm/v1/jobs/nightly_0412", params={"accesskey": keys.alice}).json()
    assert again["setting"] == job["setting"]
    assert [j["id"] for j in client.get("/pm/v1/jobs", params={"accesskey": keys.alice}).json()] == ["nightly_0412"]


def test_duplicate_post_is_409_and_put_is_201_then_200(client: Client, keys: Keys) -> None:
    """POST of an existing id conflicts; PUT creates (201) then resubmits (200)."""
    assert post_job(client, keys.alice, "j", REFERENCE_JOB).status_code == 200
    assert post_job(client, keys.alice, "j", REFERENCE_JOB).status_code == 409
    assert post_job(client, keys.alice, "k", REFERENCE_JOB, "PUT").status_code == 201
    assert post_job(client, keys.alice, "k", REFERENCE_JOB, "PUT").status_code == 200


@pytest.mark.parametrize(("change", "message"), [
    ({"action": "TRAINING"}, "TRAINING is not supported"),
    ({"action": "NOPE"}, "'action' must be one of"),
    ({"model": "x"}, "'model' must be an object"),
    ({"dbDefinitions": {"warehouse": {"type": "DashDB", "db": "BLUDB"}}}, "'DashDB' is an IBM database type"),
    ({"dbDefinitions": {"warehouse": {"type": "Access", "db": "x"}}}, "'Access' is unknown"),
    ({"setting": {"inputs": []}}, "exactly one input"),
    ({"setting": {"inputs": [{"odbc": {"dbRef": "nope", "table": "T"}}]}}, "names no entry of dbDefinitions"),
    ({"setting": {"inputs": [{"odbc": {"dbRef": "warehouse", "table": "T; drop"}}]}}, "must be a table name"),
    ({"setting": {"inputs": [{"file": {"id": "f"}}], "reportFormat": "HTML"}}, "'HTML' is an IBM report format"),
])
def test_invalid_job_definitions_are_500_naming_the_problem(client: Client, keys: Keys, change: dict[str, Any],
                                                             message: str) -> None:
    """A definition pmserve cannot run is refused at submit with 500 and a message saying why."""
    body = {**copy.deepcopy(REFERENCE_JOB), **change}
    reply = post_job(client, keys.alice, "bad", body)
    assert reply.status_code == 500
    assert message in reply.json()["message"]


@pytest.mark.parametrize("body", [b"", b"{not json", b"[1, 2]"])
def test_empty_or_invalid_job_body_is_500(client: Client, keys: Keys, body: bytes) -> None:
    """A missing or malformed body is 500, as IBM answered."""
    reply = client.post("/pm/v1/jobs/j", params={"accesskey": keys.alice}, content=body)
    assert reply.status_code == 500


def test_unknown_job_is_404_and_delete_counts(client: Client, keys: Keys) -> None:
    """GET of an unknown job is 404; DELETE of a comma list answers how many went."""
    assert client.get("/pm/v1/jobs/nope", params={"accesskey": keys.alice}).status_code == 404
    assert client.get("/pm/v1/jobs/nope/status", params={"accesskey": keys.alice}).status_code == 404
    post_job(client, keys.alice, "a", REFERENCE_JOB)
    post_job(client, keys.alice, "b", REFERENCE_JOB)
    reply = client.delete("/pm/v1/jobs/a,b,c", params={"accesskey": keys.alice})
    assert (reply.status_code, reply.text) == (200, "2")
    assert client.delete("/pm/v1/jobs/a", params={"accesskey": keys.alice}).text == "0"


def test_jobs_belong_to_their_tenant(client: Client, keys: Keys) -> None:
    """Another tenant cannot see, read or delete a job."""
    post_job(client, keys.alice, "a", REFERENCE_JOB)
    assert client.get("/pm/v1/jobs", params={"accesskey": keys.bob}).json() == []
    assert client.get("/pm/v1/jobs/a", params={"accesskey": keys.bob}).status_code == 404
    assert client.delete("/pm/v1/jobs/a", params={"accesskey": keys.bob}).text == "0"


def test_cancel_of_pending_job_shows_canceled_status(client: Client, keys: Keys) -> None:
    """POST .../cancel stops a job that has not started: its status is CANCELED."""
    post_job(client, keys.alice, "a", REFERENCE_JOB)
    reply = client.post("/pm/v1/jobs/a/cancel", params={"accesskey": keys.alice})
    assert reply.json()["jobStatus"] == "CANCELED"
    status = client.get("/pm/v1/jobs/a/status", params={"accesskey": keys.alice}).json()
    assert status["jobStatus"] == "CANCELED"
    job = client.get("/pm/v1/jobs/a", params={"accesskey": keys.alice}).json()
    assert job["result"]["jobStatus"] == "CANCELED"
    assert "finishedAt" in job
