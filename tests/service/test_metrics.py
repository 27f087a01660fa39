"""/metrics in Prometheus' text format: request outcomes, scoring, deploys, models, store, build;
summed over worker processes; and the logs that say why a deploy or score was refused."""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families
from tests.service.conftest import IRIS_HEADER, Client, Keys

ROWS = [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3], [5.9, 3.0, 4.2, 1.5]]


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of a scrape, by name and labels (parsing fails on anything not the text format)."""
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def value(scrape: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str) -> float:
    return sum(v for (n, ls), v in scrape.items() if n == name and set(labels.items()) <= ls)


def scrape(client: Client | httpx.Client) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    reply = client.get("/metrics")
    assert reply.status_code == 200
    assert reply.headers["content-type"].startswith("text/plain")
    return samples(reply.text)


def test_metrics_count_scores_rows_refusals_and_deploys(client: Client, keys: Keys, iris_pmml: bytes) -> None:
    """One deploy, two scores (three rows, then a refused one), one bad deploy: each shows in /metrics."""
    before = scrape(client)
    ok = client.put(f"/pm/v1/model/m1?accesskey={keys.alice}", files={"model_file": ("iris.pmml", iris_pmml)})
    assert ok.json()["flag"] is True
    bad = client.put(f"/pm/v1/model/m2?accesskey={keys.alice}", files={"model_file": ("x.pmml", b"<PMML")})
    assert bad.json()["flag"] is False
    good = client.post(f"/pm/v1/score/m1?accesskey={keys.alice}", json={"header": IRIS_HEADER, "data": ROWS})
    assert good.status_code == 200
    refused = client.post(f"/pm/v1/score/m1?accesskey={keys.alice}", json={"header": ["nope"], "data": [[1]]})
    assert refused.json()["flag"] is False
    time.sleep(0.05)  # a real server counts a request once its reply is out
    after = scrape(client)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("pmserve_requests_total", endpoint="score", status="200", flag="true") == 1
    assert delta("pmserve_requests_total", endpoint="score", status="200", flag="false") == 1
    assert delta("pmserve_requests_total", endpoint="deploy", flag="false") == 1
    assert delta("pmserve_rows_scored_total", tenant="alice", model="m1") == 3
    assert delta("pmserve_score_failures_total", tenant="alice", model="m1") == 1
    assert delta("pmserve_score_duration_seconds_count", tenant="alice", model="m1") == 1
    assert delta("pmserve_deploys_total", outcome="success") == 1
    assert delta("pmserve_deploys_total", outcome="failed") == 1
    assert value(after, "pmserve_models_loaded") >= 1
    assert value(after, "pmserve_store_duration_seconds_count", operation="current_version") >= 1
    assert value(after, "pmserve_build_info") == 1


def test_refused_deploys_and_scores_are_logged_with_their_reason_and_flag(
        client: Client, keys: Keys, iris_pmml: bytes, caplog: pytest.LogCaptureFixture) -> None:
    """IBM answers refusals with 200: the log says flag false and why, and never the key."""
    with caplog.at_level(logging.INFO, logger="pmserve"):
        client.put(f"/pm/v1/model/m2?accesskey={keys.alice}", files={"model_file": ("x.pmml", b"<PMML")})
        client.put(f"/pm/v1/model/m1?accesskey={keys.alice}", files={"model_file": ("iris.pmml", iris_pmml)})
        client.post(f"/pm/v1/score/m1?accesskey={keys.alice}", json={"header": ["nope"], "data": [[1]]})
        deadline = time.monotonic() + 5
        while len([r for r in caplog.records if r.name == "pmserve.api"]) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
    refusals = [r.getMessage() for r in caplog.records if r.name == "pmserve.api"]
    assert any(m.startswith("deploy of 'm2' refused: ") for m in refusals)
    assert any(m.startswith("score of 'm1' refused: ") and "sepal_length" in m for m in refusals)
    access = [orjson.loads(r.getMessage()) for r in caplog.records if r.name == "pmserve.access"]
    assert {(a["path"], a["flag"]) for a in access} >= {("/pm/v1/model/m2", False), ("/pm/v1/model/m1", True),
                                                        ("/pm/v1/score/m1", False)}
    assert keys.alice not in caplog.text


# -- several worker processes ----------------------------------------------------------------------

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture
def two_workers(tmp_path: Path, iris_pmml: bytes) -> Iterator[tuple[str, str]]:
    env = {**os.environ, "PMSERVE_DATA_DIR": str(tmp_path / "data"), "PMSERVE_LOG_LEVEL": "warning"}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    cli = [sys.executable, "-m", "pmserve"]
    key = subprocess.run([*cli, "keys", "create", "--name", "app"], env=env, check=True, capture_output=True,
                         text=True, timeout=60).stdout.strip().splitlines()[-1]
    port = _free_port()
    server = subprocess.Popen([*cli, "serve", "--port", str(port), "--workers", "2"], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(url + "/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline or server.poll() is not None:
                raise RuntimeError("pmserve serve --workers 2 did not start")
            time.sleep(0.1)
        httpx.put(f"{url}/pm/v1/model/iris?accesskey={key}", files={"model_file": ("iris.pmml", iris_pmml)},
                  timeout=30).raise_for_status()
        yield url, key
    finally:
        server.terminate()
        server.wait(30)


@pytest.mark.slow
@pytest.mark.server
def test_metrics_are_summed_over_worker_processes(two_workers: tuple[str, str]) -> None:
    """40 one-row scores spread over 2 workers by fresh connections: every scrape counts all 40."""
    url, key = two_workers
    for _ in range(40):  # a new connection each time, so the kernel spreads them over both workers
        reply = httpx.post(f"{url}/pm/v1/score/iris?accesskey={key}",
                           json={"header": IRIS_HEADER, "data": [ROWS[0]]}, timeout=30)
        assert reply.status_code == 200
    time.sleep(0.2)
    for _ in range(4):
        with httpx.Client(base_url=url, timeout=30) as client:
            got = scrape(client)
        assert value(got, "pmserve_rows_scored_total", model="iris") == 40
        assert value(got, "pmserve_requests_total", endpoint="score", flag="true") == 40
