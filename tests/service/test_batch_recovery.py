"""A server killed (-9) in the middle of a job: after a restart the job ends, never half done."""

from __future__ import annotations

import csv
import io
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from tests.service.conftest import IRIS_HEADER

from pmserve.service import Service
from pmserve.settings import Settings
from pmserve.store import SQLiteStore

ROWS = 600_000


class Server:
    """``pmserve serve`` in a subprocess of its own, on a free port."""

    def __init__(self, data_dir: Path, **env: str) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.env = {**os.environ, "PMSERVE_DATA_DIR": str(data_dir), "PMSERVE_PORT": str(self.port),
                    "PMSERVE_LOG_LEVEL": "warning", **env}
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "pmserve", "serve"], env=self.env,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{self.url}/ready", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the server did not start within 30 s"
            assert self.proc.poll() is None, "the server exited at start-up"
            time.sleep(0.1)

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def key(data_dir: Path) -> str:
    service = Service(Settings(data_dir=data_dir), SQLiteStore(data_dir))
    try:
        return service.create_key("alice")
    finally:
        service.close()


def wait_for(client: httpx.Client, key: str, until: Any, timeout: float = 120) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        status: dict[str, Any] = client.get("/pm/v1/jobs/j/status", params={"accesskey": key}).json()
        if until(status):
            return status
        assert time.monotonic() < deadline, f"still {status} after {timeout} s"
        time.sleep(0.05)


@pytest.fixture
def servers() -> Iterator[list[Server]]:
    made: list[Server] = []
    yield made
    for server in made:
        server.stop()


@pytest.mark.slow
@pytest.mark.server
@pytest.mark.parametrize(("attempts", "outcome"), [(3, "SUCCESS"), (1, "FAILED")])
def test_job_of_a_killed_server_is_resumed_or_failed_after_restart(
        data_dir: Path, key: str, iris_pmml: bytes, servers: list[Server], attempts: int, outcome: str) -> None:
    """kill -9 mid-job, restart: the job runs again to a complete output, or fails saying why, with none."""
    env = {"PMSERVE_JOB_STALE_SECONDS": "1", "PMSERVE_JOB_CHUNK_ROWS": "2000",
           "PMSERVE_JOB_MAX_ATTEMPTS": str(attempts)}
    first = Server(data_dir, **env)
    servers.append(first)
    first.start()
    params = {"accesskey": key}
    rows = io.StringIO()
    writer = csv.writer(rows, lineterminator="\n")
    writer.writerow(IRIS_HEADER)
    writer.writerows([5.0 + i % 10 / 10, 3.0, 1.5 + i % 7 / 10, 0.2] for i in range(ROWS))
    job = {"action": "BATCH_SCORE", "model": {"id": "iris.pmml"},
           "setting": {"inputs": [{"file": {"id": "in.csv"}}], "exports": [{"file": {"id": "out.csv"}}]}}
    with httpx.Client(base_url=first.url, timeout=30) as client:
        client.put("/pm/v1/file/iris.pmml", params=params, files={"file": ("iris.pmml", iris_pmml)})
        client.put("/pm/v1/file/in.csv", params=params, files={"file": ("in.csv", rows.getvalue().encode())})
        client.post("/pm/v1/jobs/j", params=params, content=orjson.dumps(job))
        # Kill as soon as the job writes its output: since jobs read, score and write on three
        # threads, 600,000 rows can take well under a second, too short to poll its status for.
        deadline = time.monotonic() + 30
        while not list((data_dir / "job-work").glob("*/*.part")) and time.monotonic() < deadline:
            time.sleep(0.002)
    first.kill()
    leftovers = list((data_dir / "job-work").glob("*/*.part"))
    assert leftovers, "the killed attempt should have been writing its output"

    second = Server(data_dir, **env)
    servers.append(second)
    second.start()
    with httpx.Client(base_url=second.url, timeout=30) as client:
        status = wait_for(client, key, lambda s: s["jobStatus"] in ("SUCCESS", "FAILED", "CANCELED"))
        assert status["jobStatus"] == outcome, status
        job_json = client.get("/pm/v1/jobs/j", params=params).json()
        out = client.get("/pm/v1/file/out.csv", params=params)
    assert not any(p.exists() for p in leftovers)
    if outcome == "SUCCESS":
        assert job_json["progress"]["attempts"] == 2
        assert status["rowsDone"] == ROWS
        lines = out.text.splitlines()
        assert len(lines) == ROWS + 1
        assert lines[-1].startswith("5.9,3.0,")
    else:
        assert "the server running this job stopped 1 times" in status["failureMsg"]
        assert out.status_code == 404
