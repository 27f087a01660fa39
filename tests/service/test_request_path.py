"""The score request path: what is measured at load, what decides between the event loop and a thread."""

from __future__ import annotations

import math
from importlib import resources
from pathlib import Path
from typing import Any

import orjson
import pytest
from starlette.datastructures import QueryParams
from starlette.testclient import TestClient
from tests.service.conftest import IRIS_HEADER, linear_pmml

from pmserve.api import _pmv1, _score_route, create_app
from pmserve.errors import BadRequestError, ConfigurationError, DataError
from pmserve.service import ScoreTable, Service, parse_score_request
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


def test_a_table_of_numbers_read_as_one_block_scores_as_cell_by_cell(tmp_path: Path) -> None:
    """100 rows of ints and floats: the float64 block gives the reply the cell-by-cell path gives,
    for number fields, an integer field (fractional cells refused per row) and a string field."""
    doc = linear_pmml(0.5).replace(b'<DataField name="x" optype="continuous" dataType="double"/>',
                                   b'<DataField name="x" optype="continuous" dataType="integer"/>')
    settings = Settings(data_dir=tmp_path / "data")
    service = Service(settings, SQLiteStore(settings.data_dir))
    tenant = service.authenticate(service.create_key("alice"))
    service.deploy(tenant, "m", "m.pmml", doc)
    service.deploy(tenant, "iris", "iris.pmml", resources.files("pmserve.samples").joinpath("iris.pmml").read_bytes())
    rows = [[i, i * 0.5, 2**40 + i, -i] for i in range(100)]
    body = {"header": ["x", "extra", "big", "species"], "data": rows}
    block = parse_score_request(orjson.loads(orjson.dumps(body)), no_booleans=True)[0]
    cells = parse_score_request(orjson.loads(orjson.dumps(body)))[0]
    assert block.block is not None
    assert cells.block is None
    assert service.score(tenant, "m", block) == service.score(tenant, "m", cells)
    with_fraction = {"header": ["x"], "data": [[1.5]] + [[i] for i in range(100)]}
    for no_booleans in (True, False):
        table = parse_score_request(with_fraction, no_booleans=no_booleans)[0]
        with pytest.raises(DataError, match=r"1\.5"):
            service.score(tenant, "m", table)
    iris_rows = {"header": [*IRIS_HEADER, "species"], "data": [[5.1, 3.5, 1.4, 0.2, 1]] * 70}
    together = [parse_score_request(orjson.loads(orjson.dumps(iris_rows)), no_booleans=flag)[0]
                for flag in (True, False)]
    assert together[0].block is not None
    assert service.score(tenant, "iris", together[0]) == service.score(tenant, "iris", together[1])
    service.close()


@pytest.mark.parametrize("data", [
    [[1.0, True]] * 70,  # a boolean (the caller said there is none: numpy would make it 1.0)
    [[1.0, "a"]] * 70,
    [[1.0, None]] * 70,
    [[1.0, 2.0]] * 69 + [[1.0]],
])
def test_tables_that_are_not_all_numbers_are_read_cell_by_cell(data: list[list[object]]) -> None:
    """Strings, nulls, nested arrays and ragged rows never make a block (booleans are ruled out by
    the caller, which sees the JSON text)."""
    tables = parse_score_request({"header": ["a", "b"], "data": data},
                                 no_booleans=not any(isinstance(c, bool) for r in data for c in r))
    assert tables[0].block is None


def test_a_nested_array_among_numbers_is_still_refused() -> None:
    """A table that is not a block has its cells checked: an array cell is a bad request."""
    with pytest.raises(BadRequestError, match="row 1 is a JSON array"):
        parse_score_request({"header": ["a", "b"], "data": [[1.0, [2.0]]] * 70}, no_booleans=True)


_NUMBERS = [[0.25 * i, -1.5e-7 * i, 2 * i] for i in range(4000)]  # past the 64 KB of a small body


@pytest.mark.parametrize(("body", "booleans"), [
    ({"tablename": "scoreInput", "header": ["a", "b", "c"], "data": _NUMBERS}, False),
    ({"header": ["a", "b", "c"], "data": [*_NUMBERS, [True, 1.0, 2.0]]}, True),
    ({"header": ["a", "b", "c"], "data": [[False, 1.0, 2.0], *_NUMBERS]}, True),
    ({"header": ["a", "b", "c"], "data": [*_NUMBERS[:10], [1.0, 2.0, False], *_NUMBERS]}, True),
    ({"tablename": "true", "header": ["a", "b", "c"], "data": _NUMBERS}, True),  # the words anywhere
    ({"header": ["a", "b", "c"], "data": [[f"ul{i}", 1, 2] for i in range(4000)]}, False),  # many u/l
    ({"header": ["a", "b", "c"], "data": [*[[f"ul{i}", 1, 2] for i in range(4000)], [1, 2, True]]}, True),
    ({"header": ["a", "b", "c"], "data": [[1, 2, True]]}, True),  # a small body
    ({"header": ["a", "b", "c"], "data": [[1, 2, 3]]}, False),
])
def test_the_search_for_booleans_answers_as_searching_the_text(body: dict[str, object], booleans: bool) -> None:
    """A score body holds a JSON true or false exactly when the words occur in its text."""
    text = orjson.dumps(body)
    assert (b"true" in text or b"false" in text) == booleans
    assert _pmv1._no_booleans(text) is not booleans


def test_the_app_answers_score_requests_as_its_starlette_route_does(
        tmp_path: Path, iris_pmml: bytes, monkeypatch: pytest.MonkeyPatch) -> None:
    """POST /pm/v1/score is answered by the app itself (no Starlette stack); under a root_path it
    goes through Starlette's route.  Both give the same status, headers and body, errors included."""
    settings = Settings(data_dir=tmp_path / "data", max_score_body_mb=0.01)
    service = Service(settings, SQLiteStore(settings.data_dir))
    key = service.create_key("alice")
    service.deploy(service.authenticate(key), "iris", "iris.pmml", iris_pmml)
    taken: list[str] = []

    async def noted(*args: Any) -> bytes:
        taken.append(args[3])
        return await _pmv1.score_reply(*args)
    monkeypatch.setattr(_score_route, "score_reply", noted)
    good = orjson.dumps({"header": IRIS_HEADER, "data": [[5.1, 3.5, 1.4, 0.2]]})
    cases: list[tuple[str, str, bytes]] = [
        ("iris", f"accesskey={key}", good),
        ("iris", f"accesskey=%22{key}%22&other=1", good),  # quoted, escaped, among other parameters
        ("iris", f"accesskey={key}", orjson.dumps({"header": IRIS_HEADER, "data": [[5.1, 3.5, 1.4, 0.2]] * 100})),
        ("iris", "", good),  # no key: 401
        ("iris", "accesskey=nope", good),
        ("iris", f"accesskey={key}", b""),  # no body: 500
        ("iris", f"accesskey={key}", b"{"),
        ("iris", f"accesskey={key}", b"[" + b"1," * 10_000 + b"1]"),  # past the body limit
        ("iris", f"accesskey={key}", orjson.dumps({"header": ["nope"], "data": [[1]]})),
        ("none", f"accesskey={key}", good),
    ]
    app = create_app(settings, service)
    with TestClient(app) as direct, TestClient(app, root_path="/mounted") as routed:
        for model_id, query, body in cases:
            replies = [client.post(f"/pm/v1/score/{model_id}?{query}", content=body,
                                   headers={"content-type": "application/json"}) for client in (direct, routed)]
            assert [(r.status_code, r.headers.multi_items(), r.content) for r in replies] == \
                [(replies[1].status_code, replies[1].headers.multi_items(), replies[1].content)] * 2
    assert taken == [model_id for model_id, _, _ in cases]  # the direct requests only, each once
    service.close()


@pytest.mark.parametrize("query", [b"accesskey=abc", b"accesskey=", b"accesskey=a%2Bb", b"accesskey=a+b",
                                   b"accesskey=1&accesskey=2", b"x=1&accesskey=k", b"accesskey", b"",
                                   "accesskey=\u00e9".encode()])
def test_the_access_key_is_read_as_starlette_reads_it(query: bytes) -> None:
    assert _score_route.access_key(query) == QueryParams(query).get("accesskey")
