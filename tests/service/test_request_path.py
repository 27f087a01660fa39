"""The score request path: what is measured at load, what decides between the event loop and a thread."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from starlette.testclient import TestClient
from tests.service.conftest import IRIS_HEADER

from pmserve.api import create_app
from pmserve.errors import ConfigurationError
from pmserve.service import ScoreTable, Service
from pmserve.settings import Settings
from pmserve.store import SQLiteStore


@pytest.mark.parametrize("budget_us", [0.0, 250.0, 100_000.0])
def test_score_replies_are_the_same_whether_scored_in_place_or_on_a_thread(
        tmp_path: Path, iris_pmml: bytes, budget_us: float) -> None:
    """PMSERVE_INLINE_SCORE_US only moves the work: 1 and 100 rows score the same at every budget."""
    settings = Settings(data_dir=tmp_path / "data", inline_score_us=budget_us)
    service = Service(settings, SQLiteStore(settings.data_dir))
    key = service.create_key("alice")
    tenant = service.authenticate(key)
    service.deploy(tenant, "iris", "iris.pmml", iris_pmml)
    deployed = service.model(tenant, "iris")
    assert math.isfinite(deployed.one_record_s)
    assert deployed.one_record_s > 0
    assert service.inline(deployed, 1) is (deployed.one_record_s <= budget_us * 1e-6)
    assert service.inline(deployed, 10**9) is False
    rows = [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]] * 50
    with TestClient(create_app(settings, service)) as client:
        for data in (rows[:1], rows):
            reply = client.post("/pm/v1/score/iris", params={"accesskey": key},
                                json={"header": IRIS_HEADER, "data": data})
            assert reply.status_code == 200, reply.text
            got = reply.json()[0]
            want = service.score_tables(tenant, "iris", [ScoreTable(IRIS_HEADER, [list(r) for r in data])])[0]
            assert got["header"] == want.header
            assert got["data"] == want.data
    service.close()


def test_one_row_request_gives_what_the_batch_path_gives(tmp_path: Path, iris_pmml: bytes) -> None:
    """A one-row request (the one-record plan) and the same row inside a batch give one reply row."""
    settings = Settings(data_dir=tmp_path / "data")
    service = Service(settings, SQLiteStore(settings.data_dir))
    tenant = service.authenticate(service.create_key("alice"))
    service.deploy(tenant, "iris", "iris.pmml", iris_pmml)
    rows: list[list[float | None]] = [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3], [None, 3.0, 5.2, 2.3]]
    together = service.score(tenant, "iris", ScoreTable(IRIS_HEADER, rows))
    for i, row in enumerate(rows):
        alone = service.score(tenant, "iris", ScoreTable(IRIS_HEADER, [row]))
        assert alone.header == together.header
        for got, want in zip(alone.data[0], together.data[i], strict=True):
            assert got == (pytest.approx(want, rel=1e-12) if isinstance(want, float) else want)
    service.close()


@pytest.mark.parametrize(("variable", "value", "expected"), [
    ("PMSERVE_INLINE_SCORE_US", "-1", "from 0 to 100000"),
    ("PMSERVE_STORE_STALE_S", "0", "from 0.05 to 3600"),
])
def test_request_path_settings_are_checked_at_start_up(variable: str, value: str, expected: str) -> None:
    """A bad budget or staleness bound stops start-up naming the variable and the allowed range."""
    with pytest.raises(ConfigurationError, match=f"{variable}.*{expected}"):
        Settings.from_env({variable: value})
