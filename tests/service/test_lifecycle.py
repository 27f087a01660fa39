"""Tenant isolation, atomic refresh under load, restart recovery, replicas sharing one store."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import httpx
import pytest
from tests.service.conftest import IRIS_HEADER, Client, Keys, RunningServer, linear_pmml
from tests.service.test_pmv1 import ROWS, put, score

from pmserve.api import create_app
from pmserve.errors import NotFoundError, UnauthorizedError
from pmserve.service import ScoreTable, Service, Tenant
from pmserve.settings import Settings
from pmserve.store import SQLiteStore


def test_other_tenant_can_never_see_score_download_or_delete(client: Client, keys: Keys,
                                                             iris_pmml: bytes) -> None:
    """Bob's key reaches none of Alice's models on any endpoint, and his own id is a separate model."""
    put(client, keys.alice, "iris", iris_pmml)
    bob = {"accesskey": keys.bob}
    assert client.get("/pm/v1/model", params=bob).json() == []
    assert client.get("/pm/v1/model/iris", params=bob).status_code == 404
    assert score(client, keys.bob, "iris", {"header": IRIS_HEADER, "data": ROWS}).json()["flag"] is False
    assert client.get("/pm/v1/metadata/iris", params=bob).json()["flag"] is False
    assert client.delete("/pm/v1/model/iris", params=bob).status_code == 404
    # Bob deploying the same id makes his own model; Alice's stays as it was.
    assert put(client, keys.bob, "iris", linear_pmml(1.0), filename="lin.pmml").json()["message"].startswith(
        "success to upload")
    assert client.get("/pm/v1/model", params={"accesskey": keys.alice}).json() == [
        {"stream": "iris.pmml", "id": "iris"}]
    assert client.get("/pm/v1/model/iris", params={"accesskey": keys.alice}).content == iris_pmml
    alice_reply = score(client, keys.alice, "iris", {"header": IRIS_HEADER, "data": ROWS}).json()
    assert alice_reply[0]["header"][:4] == IRIS_HEADER


def test_keys_of_one_tenant_share_its_models(service: Service, iris_pmml: bytes) -> None:
    """A second key created for the same tenant sees that tenant's models."""
    service.create_key("app-v1", tenant="shop")
    second = service.create_key("app-v2", tenant="shop")
    service.deploy(Tenant("shop", "app-v1"), "iris", "iris.pmml", iris_pmml)
    assert [m.model_id for m in service.list_models(service.authenticate(second))] == ["iris"]


@pytest.mark.server
def test_refresh_50_times_while_scoring_gives_no_failed_or_mixed_replies(settings: Settings,
                                                                        service: Service) -> None:
    """Scoring threads see every reply whole, from one version, and versions never go backwards."""
    key = service.create_key("load")
    rows = [[float(x)] for x in range(20)]
    stop = threading.Event()
    problems: list[str] = []
    seen: list[set[float]] = []

    def scorer() -> None:
        last = -1.0
        mine: set[float] = set()
        with httpx.Client(base_url=server.url, timeout=30) as http:
            while not stop.is_set():
                reply = http.post("/pm/v1/score/lin", params={"accesskey": key},
                                  json={"header": ["x"], "data": rows})
                body = reply.json()
                if reply.status_code != 200 or not isinstance(body, list):
                    problems.append(f"{reply.status_code} {body}")
                    continue
                intercepts = {round(r[1] - r[0], 9) for r in body[0]["data"]}
                if len(intercepts) != 1:
                    problems.append(f"mixed versions in one reply: {sorted(intercepts)}")
                    continue
                (now,) = intercepts
                if now < last:
                    problems.append(f"went back from version {last} to {now}")
                last = now
                mine.add(now)
        seen.append(mine)

    with RunningServer(create_app(settings, service)) as server, \
            httpx.Client(base_url=server.url, timeout=30) as admin:
        assert put(admin, key, "lin", linear_pmml(0.0), filename="lin.pmml").json()["flag"]
        threads = [threading.Thread(target=scorer) for _ in range(3)]
        for t in threads:
            t.start()
        for version in range(1, 51):
            body = put(admin, key, "lin", linear_pmml(float(version)), filename="lin.pmml").json()
            assert body["flag"], body
        stop.set()
        for t in threads:
            t.join(30)
    assert problems == []
    assert all(seen), "every scorer got replies"
    assert set().union(*seen) <= {float(v) for v in range(51)}
    assert len(service.history(Tenant("load", "load"), "lin")) == settings.keep_versions + 1


def test_restart_restores_every_deployed_model(settings: Settings, iris_pmml: bytes) -> None:
    """A new process on the same data dir serves every model deployed before, with the same results."""
    first = Service(settings, SQLiteStore(settings.data_dir))
    key = first.create_key("app")
    tenant = first.authenticate(key)
    first.deploy(tenant, "iris", "iris.pmml", iris_pmml)
    first.deploy(tenant, "lin", "lin.pmml", linear_pmml(3.0), tablename="in")
    table = ScoreTable(IRIS_HEADER, [list(r) for r in ROWS])
    before = first.score(tenant, "iris", table)
    first.close()

    second = Service(settings, SQLiteStore(settings.data_dir))
    second.warm_up()
    assert second.loaded_models == 2
    assert second.failed_models == {}
    tenant = second.authenticate(key)
    assert second.score(tenant, "iris", table) == before
    assert second.metadata(tenant, "lin").tablename == "in"
    second.close()


def test_replica_notices_a_refresh_made_through_another(settings: Settings) -> None:
    """Two service instances on one store (two workers): a refresh via one is served by the other."""
    a = Service(settings, SQLiteStore(settings.data_dir))
    b = Service(settings, SQLiteStore(settings.data_dir))
    tenant = a.authenticate(a.create_key("app"))
    table = ScoreTable(["x"], [[1.0]])
    a.deploy(tenant, "lin", "lin.pmml", linear_pmml(10.0))
    assert b.score(tenant, "lin", table).data[0] == pytest.approx([1.0, 11.0])
    a.deploy(tenant, "lin", "lin.pmml", linear_pmml(20.0))
    assert b.score(tenant, "lin", table).data[0] == pytest.approx([1.0, 21.0])
    a.delete(tenant, "lin")
    with pytest.raises(NotFoundError, match="no model deployed with context id 'lin'"):
        b.score(tenant, "lin", table)
    a.close()
    b.close()


def test_a_key_revoked_through_another_replica_is_refused_at_once(settings: Settings) -> None:
    """A replica that has just accepted a key refuses it on the next request once another revoked it."""
    a = Service(settings, SQLiteStore(settings.data_dir))
    b = Service(settings, SQLiteStore(settings.data_dir))
    key = a.create_key("app")
    tenant = b.authenticate(key)
    a.deploy(tenant, "lin", "lin.pmml", linear_pmml(1.0))
    assert b.score(b.authenticate(key), "lin", ScoreTable(["x"], [[1.0]])).data[0] == pytest.approx([1.0, 2.0])
    a.revoke_key("app")
    with pytest.raises(UnauthorizedError, match="unknown or revoked access key"):
        b.authenticate(key)
    a.close()
    b.close()


@pytest.mark.postgres
def test_service_on_postgres_store_shares_models_between_replicas(postgres_url: str, tmp_path: Path) -> None:
    """Stateless replicas on one PostgreSQL store deploy, score and refresh the same models."""
    from pmserve.store._postgres import PostgresStore

    settings = Settings(data_dir=tmp_path, store_url=postgres_url)
    a = Service(settings, PostgresStore(postgres_url))
    b = Service(settings, PostgresStore(postgres_url))
    tenant = a.authenticate(a.create_key("app"))
    a.deploy(tenant, "lin", "lin.pmml", linear_pmml(1.0))
    assert b.score(tenant, "lin", ScoreTable(["x"], [[2.0]])).data[0] == pytest.approx([2.0, 3.0])
    a.deploy(tenant, "lin", "lin.pmml", linear_pmml(5.0))
    # b sees the refresh within PMSERVE_STORE_STALE_S of its commit (at once, unless the change
    # watcher's notification is late)
    deadline = time.monotonic() + settings.store_stale_s + 2.0
    while b.score(tenant, "lin", ScoreTable(["x"], [[2.0]])).data[0] != pytest.approx([2.0, 7.0]):
        assert time.monotonic() < deadline, "replica b still scores the replaced model"
        time.sleep(0.05)
    assert b.download(tenant, "lin")[1] == linear_pmml(5.0)
    a.close()
    b.close()
