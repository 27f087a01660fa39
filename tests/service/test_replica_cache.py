"""Two app instances on one PostgreSQL store: cached keys and versions, and the staleness bound.

Score requests answer from memory (no query for the key or the version), and a change made
through one instance - a refresh, a revoked key, a delete - is seen by the other within
PMSERVE_STORE_STALE_S of its commit.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient
from tests.service.conftest import linear_pmml, wait_warm

from pmserve.api import create_app
from pmserve.service import Service
from pmserve.settings import Settings
from pmserve.store import open_store

pytestmark = pytest.mark.postgres

STALE_S = 0.5


@pytest.fixture
def two_apps(postgres_url: str, tmp_path: Path) -> Iterator[tuple[Service, TestClient, Service, TestClient]]:
    settings = Settings(data_dir=tmp_path / "data", store_url=postgres_url, store_stale_s=STALE_S)
    a, b = Service(settings, open_store(settings)), Service(settings, open_store(settings))
    with TestClient(create_app(settings, a)) as client_a, TestClient(create_app(settings, b)) as client_b:
        # Warm-up holds the interpreter for seconds, which may starve the store's change watcher
        # past the bound (the generation is then unknown and requests query the store): wait it out.
        wait_warm(a)
        wait_warm(b)
        yield a, client_a, b, client_b


def _y(client: TestClient, key: str) -> float:
    reply = client.post("/pm/v1/score/m", params={"accesskey": key}, json={"header": ["x"], "data": [[0.0]]})
    assert reply.status_code == 200, reply.text
    value: float = reply.json()[0]["data"][0][-1]
    return value


def _deploy(client: TestClient, key: str, intercept: float) -> None:
    reply = client.put("/pm/v1/model/m", params={"accesskey": key},
                       files={"model_file": ("m.pmml", linear_pmml(intercept))})
    assert reply.json()["flag"] is True, reply.text


def test_score_requests_answer_from_memory_once_key_and_version_are_seen(
        two_apps: tuple[Service, TestClient, Service, TestClient]) -> None:
    """After one request, the key and the live model of the other instance come from memory."""
    a, client_a, b, client_b = two_apps
    key = a.create_key("alice")
    _deploy(client_a, key, 1.0)
    assert b.cached(key, "m") is None
    assert _y(client_b, key) == pytest.approx(1.0)
    hit = b.cached(key, "m")
    assert hit is not None
    assert hit[0].name == "alice"
    assert hit[1].record.version == a.model(hit[0], "m").record.version
    assert b.store.generation() is not None  # the watcher answers: no query per request


def test_refresh_through_one_instance_is_seen_by_the_other_within_the_bound(
        two_apps: tuple[Service, TestClient, Service, TestClient]) -> None:
    """A refresh committed through A is what B scores with, at the latest STALE_S later."""
    a, client_a, _, client_b = two_apps
    key = a.create_key("alice")
    _deploy(client_a, key, 1.0)
    assert _y(client_b, key) == pytest.approx(1.0)
    for intercept in (2.0, 3.0, 4.0):
        _deploy(client_a, key, intercept)
        time.sleep(STALE_S)
        assert _y(client_b, key) == pytest.approx(intercept)


def test_refresh_is_usually_seen_long_before_the_bound(
        two_apps: tuple[Service, TestClient, Service, TestClient]) -> None:
    """The trigger's NOTIFY wakes B's watcher: B scores the new version well within STALE_S."""
    a, client_a, _, client_b = two_apps
    key = a.create_key("alice")
    _deploy(client_a, key, 1.0)
    assert _y(client_b, key) == pytest.approx(1.0)
    seen_after = []
    for intercept in (2.0, 3.0, 4.0, 5.0, 6.0):
        _deploy(client_a, key, intercept)
        started = time.monotonic()
        while _y(client_b, key) != pytest.approx(intercept):
            time.sleep(0.005)
        seen_after.append(time.monotonic() - started)
    assert min(seen_after) < STALE_S / 2, seen_after


def test_key_revoked_and_model_deleted_through_one_instance_are_refused_by_the_other(
        two_apps: tuple[Service, TestClient, Service, TestClient]) -> None:
    """A revoked key and a deleted model stop working on B within STALE_S."""
    a, client_a, _, client_b = two_apps
    key, other = a.create_key("alice"), a.create_key("bob", tenant="alice")
    _deploy(client_a, key, 1.0)
    assert _y(client_b, key) == pytest.approx(1.0)
    assert _y(client_b, other) == pytest.approx(1.0)
    a.revoke_key("alice")
    time.sleep(STALE_S)
    reply = client_b.post("/pm/v1/score/m", params={"accesskey": key}, json={"header": ["x"], "data": [[0.0]]})
    assert reply.status_code == 401
    assert client_a.delete("/pm/v1/model/m", params={"accesskey": other}).json()["flag"] is True
    time.sleep(STALE_S)
    reply = client_b.post("/pm/v1/score/m", params={"accesskey": other}, json={"header": ["x"], "data": [[0.0]]})
    assert reply.json()["flag"] is False  # IBM answers an unknown context id with 200 and flag:false
    assert "no model deployed" in reply.json()["message"]
