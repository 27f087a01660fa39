"""The attack suite of issue #10: hostile models, bodies, ids and connections get a clear refusal.

One test (or table of cases) per defect found when pmserve was attacked; each names the defect.
"""

from __future__ import annotations

import gzip
import random
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner
from starlette.testclient import TestClient
from tests.service.conftest import IRIS_HEADER, Keys, RunningServer, linear_pmml

from pmserve.api import create_app
from pmserve.api._server import protocol_for, uvicorn_options
from pmserve.cli import main
from pmserve.errors import BadRequestError, ConflictError, DocumentError, NotFoundError
from pmserve.service import ScoreTable, Service
from pmserve.settings import Settings
from pmserve.store import SQLiteStore, Store

HEADER = """<?xml version="1.0"?>
<PMML xmlns="http://www.dmg.org/PMML-4_4" version="4.4"><Header/>
<DataDictionary><DataField name="x" optype="continuous" dataType="double"/>
<DataField name="y" optype="continuous" dataType="double"/></DataDictionary>
"""


def regression(body: str = "", predictor: str = "x", mining: str = '<MiningField name="x"/>') -> bytes:
    return (HEADER + body + f"""<RegressionModel functionName="regression"><MiningSchema>{mining}
<MiningField name="y" usageType="target"/></MiningSchema>
<RegressionTable intercept="1"><NumericPredictor name="{predictor}" coefficient="1"/></RegressionTable>
</RegressionModel></PMML>""").encode()


def tree(depth: int, padding: int = 0) -> bytes:
    """A TreeModel whose Nodes nest ``depth`` deep (in the plain shape read in bulk)."""
    nodes = "".join(f'<Node id="{i}" score="{i}">\n<SimplePredicate field="x" operator="lessThan" value="{i}"/>\n'
                    for i in range(1, depth))
    return (HEADER + "<!--" + "p" * padding + "-->\n" + """<TreeModel functionName="regression"><MiningSchema>
<MiningField name="x"/><MiningField name="y" usageType="target"/></MiningSchema>
<Node id="0" score="0">\n<True/>\n""" + nodes + "</Node>\n" * depth + "</TreeModel></PMML>").encode()


def put(client: TestClient, key: str, model_id: str, content: bytes, filename: str = "m.pmml") -> Any:
    return client.put(f"/pm/v1/model/{model_id}", params={"accesskey": key},
                      files={"model_file": (filename, content, "application/octet-stream")}).json()


def score(client: TestClient, key: str, model_id: str, body: Any) -> Any:
    return client.post(f"/pm/v1/score/{model_id}", params={"accesskey": key}, json=body)


def refused(reply: dict[str, Any], *words: str) -> None:
    assert reply["flag"] is False, reply
    for word in words:
        assert word in reply["message"], reply["message"]


@pytest.fixture
def small_settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data", max_upload_mb=1.0, max_score_body_mb=0.05, max_score_rows=500,
                    max_score_cells=1000)


@pytest.fixture
def small(small_settings: Settings) -> Iterator[tuple[TestClient, Keys, Service]]:
    service = Service(small_settings, SQLiteStore(small_settings.data_dir))
    with TestClient(create_app(small_settings, service)) as client:
        yield client, Keys(service), service
    service.close()


# -- 1. many attributes --------------------------------------------------------------------------

def test_an_element_with_many_attributes_is_refused_before_they_are_read(client: TestClient, keys: Keys) -> None:
    """#1: attribute conversion is quadratic; the count is checked first (PMSERVE_MAX_XML_ATTRIBUTES)."""
    attrs = " ".join(f'a{i}="1"' for i in range(20_000))
    doc = regression().replace(b"<Header/>", f"<Header {attrs}/>".encode())
    refused(put(client, keys.alice, "attrs", doc), "20000 attributes", "PMSERVE_MAX_XML_ATTRIBUTES")


def test_too_many_elements_are_refused(tmp_path: Path) -> None:
    """The element count of a document is bounded (PMSERVE_MAX_XML_ELEMENTS)."""
    settings = Settings(data_dir=tmp_path, max_xml_elements=1000)
    service = Service(settings, SQLiteStore(tmp_path))
    tenant = service.authenticate(service.create_key("t"))
    doc = regression().replace(b"<Header/>", b"<Header>" + b"<Annotation/>" * 2000 + b"</Header>")
    with pytest.raises(DocumentError, match="PMSERVE_MAX_XML_ELEMENTS"):
        service.deploy(tenant, "many", "m.pmml", doc)
    service.close()


# -- 2. gzip past the upload cap -----------------------------------------------------------------

def test_gzip_inflating_past_the_upload_limit_is_refused(client: TestClient, keys: Keys) -> None:
    """#2: the upload limit holds after decompression, trailing bytes or not (PMSERVE_MAX_UPLOAD_MB)."""
    block = random.Random(1).randbytes(8 * 1024).hex().encode()  # 16 KB that gzip cannot shrink much
    doc = regression().replace(b"<Header/>", b"<Header><!--" + block * 128 + b"--></Header>")  # 2 MB
    packed = gzip.compress(doc) + b"trailing bytes gzip ignores"
    assert len(packed) < 200 * 1024
    refused(put(client, keys.alice, "bomb", packed, "m.pmml.gz"), "PMSERVE_MAX_UPLOAD_MB")
    assert client.get("/pm/v1/model/bomb", params={"accesskey": keys.alice}).status_code == 404


# -- 3. score body size, rows, cells ---------------------------------------------------------------

def test_a_score_body_past_its_limit_is_refused_before_decoding(small: tuple[TestClient, Keys, Service]) -> None:
    """#3: the body is bounded (PMSERVE_MAX_SCORE_BODY_MB), then rows and cells."""
    client, keys, _ = small
    assert put(client, keys.alice, "lin", regression())["flag"] is True
    big = {"header": ["x", "pad"], "data": [[1.0, "p" * 1000]] * 100}
    refused(score(client, keys.alice, "lin", big).json(), "PMSERVE_MAX_SCORE_BODY_MB")
    refused(score(client, keys.alice, "lin", {"header": ["x"], "data": [[1]] * 501}).json(),
            "501 rows", "PMSERVE_MAX_SCORE_ROWS")
    refused(score(client, keys.alice, "lin", {"header": ["x", "a", "b", "c"], "data": [[1, 2, 3, 4]] * 300}).json(),
            "1200 cells", "PMSERVE_MAX_SCORE_CELLS")
    ok = score(client, keys.alice, "lin", {"header": ["x"], "data": [[1.0]] * 500})
    assert ok.status_code == 200
    assert len(ok.json()[0]["data"]) == 500


# -- 4. deployed models that cannot score ------------------------------------------------------------

def chain(n: int) -> bytes:
    fields = "".join(f'<DerivedField name="d{i}" optype="continuous" dataType="double">'
                     f'<FieldRef field="{"x" if i == 0 else f"d{i - 1}"}"/></DerivedField>' for i in range(n))
    return regression(f"<TransformationDictionary>{fields}</TransformationDictionary>", predictor=f"d{n - 1}")


def nested_apply(n: int) -> bytes:
    expr = '<FieldRef field="x"/>'
    for _ in range(n):
        expr = f'<Apply function="+">{expr}<Constant>1</Constant></Apply>'
    return regression('<TransformationDictionary><DerivedField name="d" optype="continuous" dataType="double">'
                      f'{expr}</DerivedField></TransformationDictionary>', predictor="d")


@pytest.mark.parametrize(("doc", "words"), [
    (regression(mining=""), ["'x'", "MiningSchema does not list"]),
    (chain(200), ["PMSERVE_MAX_DERIVED_DEPTH"]),
    (nested_apply(150), ["PMSERVE_MAX_EXPRESSION_DEPTH"]),
    (nested_apply(2000), ["PMSERVE_MAX_XML_DEPTH"]),
], ids=["missing-mining-field", "derived-chain-200", "nested-apply-150", "nested-apply-2000"])
def test_a_model_that_could_not_score_is_refused_at_deploy(client: TestClient, keys: Keys, doc: bytes,
                                                            words: list[str]) -> None:
    """#4: whatever a deployed model needs is checked at deploy; nothing fails at score time."""
    refused(put(client, keys.alice, "m", doc), *words)


def test_chains_and_nesting_within_the_limits_deploy_and_score(client: TestClient, keys: Keys) -> None:
    """Chains and nesting just inside the default limits score, in the server's threads."""
    for model_id, doc, want in (("chain", chain(90), 2.0), ("apply", nested_apply(90), 92.0)):
        assert put(client, keys.alice, model_id, doc)["flag"] is True
        reply = score(client, keys.alice, model_id, {"header": ["x"], "data": [[1.0]] * 100})
        assert reply.status_code == 200
        assert reply.json()[0]["data"][0][-1] == pytest.approx(want)


# -- 5. malformed multipart ---------------------------------------------------------------------------

MULTIPART_CASES = {
    "no-boundary": ("multipart/form-data", b"--x\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\nabc\r\n--x--"),
    "wrong-boundary": ("multipart/form-data; boundary=zzz", b"--x\r\nContent-Disposition: form-data; "
                       b"name=\"file\"; filename=\"a\"\r\n\r\nabc\r\n--x--\r\n"),
    "too-many-parts": ("multipart/form-data; boundary=x", b"".join(
        b"--x\r\nContent-Disposition: form-data; name=\"f%d\"; filename=\"a\"\r\n\r\nabc\r\n" % i
        for i in range(50)) + b"--x--\r\n"),
    "too-many-fields": ("multipart/form-data; boundary=x", b"".join(
        b"--x\r\nContent-Disposition: form-data; name=\"f%d\"\r\n\r\nabc\r\n" % i for i in range(50)) + b"--x--\r\n"),
    "no-name": ("multipart/form-data; boundary=x", b"--x\r\nContent-Disposition: form-data\r\n\r\nabc\r\n--x--\r\n"),
    "long-filename": ("multipart/form-data; boundary=x", b"--x\r\nContent-Disposition: form-data; name=\"file\"; "
                      b"filename=\"" + b"a" * 5000 + b"\"\r\n\r\n" + regression() + b"\r\n--x--\r\n"),
}


@pytest.mark.parametrize("case", MULTIPART_CASES)
def test_malformed_multipart_answers_flag_false(client: TestClient, keys: Keys, case: str) -> None:
    """#5: a broken multipart body is the client's error: 200 flag:false, never a 500."""
    content_type, body = MULTIPART_CASES[case]
    reply = client.put("/pm/v1/model/m", params={"accesskey": keys.alice}, content=body,
                       headers={"content-type": content_type})
    assert reply.status_code == 200
    refused(reply.json())


# -- 6. file names ----------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["a\tb.pmml", "a\x01b.pmml", "a\x00b.pmml", "a\x7fb.pmml", "a\x85b.pmml", "..", "."])
def test_a_file_name_with_control_characters_is_refused_at_deploy(client: TestClient, keys: Keys, name: str) -> None:
    """#6: such a name would break the download's Content-Disposition header later."""
    body = (b'--x\r\nContent-Disposition: form-data; name="model_file"; filename="' + name.encode() + b'"\r\n\r\n'
            + regression() + b"\r\n--x--\r\n")
    reply = client.put("/pm/v1/model/m", params={"accesskey": keys.alice}, content=body,
                       headers={"content-type": "multipart/form-data; boundary=x"})
    refused(reply.json(), "file name must be")
    assert client.get("/pm/v1/model/m", params={"accesskey": keys.alice}).status_code == 404


@pytest.mark.parametrize("name", ["modèle ü.pmml", 'a"b;c.pmml', "模型.pmml"])
def test_any_accepted_file_name_downloads_with_an_rfc_6266_header(client: TestClient, keys: Keys, name: str) -> None:
    """Non-token names get an ASCII fallback and a UTF-8 filename* parameter."""
    assert put(client, keys.alice, "m", regression(), filename=name)["flag"] is True
    reply = client.get("/pm/v1/model/m", params={"accesskey": keys.alice})
    assert reply.status_code == 200
    disposition = reply.headers["content-disposition"]
    assert disposition.isascii()
    assert "filename*=UTF-8''" in disposition


# -- 7. keys ------------------------------------------------------------------------------------------

def test_a_new_key_never_joins_an_existing_tenant_implicitly(service: Service) -> None:
    """#7: 'keys create --name X' makes a new tenant; sharing X's models needs an explicit tenant."""
    service.create_key("X")
    with pytest.raises(ConflictError, match="tenant named 'X' exists"):
        service.create_key("X")
    key = service.create_key("X2", tenant="X")
    assert service.authenticate(key).name == "X"


def test_cli_keys_create_refuses_a_name_that_is_a_tenant(tmp_path: Path) -> None:
    """The CLI says how to share on purpose (--tenant) instead of joining silently."""
    runner = CliRunner()
    env = {"PMSERVE_DATA_DIR": str(tmp_path)}
    assert runner.invoke(main, ["keys", "create", "--name", "X"], env=env).exit_code == 0
    again = runner.invoke(main, ["keys", "create", "--name", "X"], env=env)
    assert again.exit_code != 0
    assert "--tenant X" in again.output
    assert runner.invoke(main, ["keys", "create", "--name", "X-b", "--tenant", "X"], env=env).exit_code == 0


# -- 8. slow connections ----------------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["httptools", "h11"])
def test_a_connection_whose_headers_trickle_in_is_closed(tmp_path: Path, kind: str) -> None:
    """#8: headers must arrive within PMSERVE_REQUEST_TIMEOUT_S; meanwhile others are served."""
    settings = Settings(data_dir=tmp_path, request_timeout_s=1.0)
    with RunningServer(create_app(settings), http=protocol_for(settings, kind),
                       **uvicorn_options(settings)) as running:
        port = running.port
        slow = [socket.create_connection(("127.0.0.1", port)) for _ in range(5)]
        for s in slow:
            s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n")
        assert httpx.get(f"{running.url}/health", timeout=5).status_code == 200
        time.sleep(1.0)
        for s in slow:
            s.sendall(b"X-Slow: 1\r\n")  # still trickling: not a completed request
        time.sleep(1.5)
        for s in slow:
            s.settimeout(2)
            assert s.recv(100) == b""  # closed by the server
            s.close()


@pytest.mark.parametrize("kind", ["httptools", "h11"])
def test_a_flood_of_slow_connections_gives_way_to_new_clients(tmp_path: Path, kind: str) -> None:
    """#8: at PMSERVE_LIMIT_CONCURRENCY connections the ones waiting longest for headers are closed."""
    settings = Settings(data_dir=tmp_path, limit_concurrency=20)
    with RunningServer(create_app(settings), http=protocol_for(settings, kind),
                       **uvicorn_options(settings)) as running:
        slow = [socket.create_connection(("127.0.0.1", running.port)) for _ in range(40)]
        for s in slow:
            s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n")
        time.sleep(0.3)
        for _ in range(5):
            assert httpx.get(f"{running.url}/health", timeout=5).status_code == 200
        closed = 0
        for s in slow:
            s.settimeout(0.05)
            try:
                closed += s.recv(100) == b""
            except ConnectionResetError:
                # The server closed it with request bytes still unread, which the kernel sends as a
                # reset: closed all the same.
                closed += 1
            except TimeoutError:
                pass
            s.close()
        assert closed >= 20  # the oldest ones; the newest are still waiting for their deadline


def test_a_stalled_body_is_answered_flag_false(tmp_path: Path) -> None:
    """A body that stops arriving for PMSERVE_REQUEST_TIMEOUT_S is refused, not waited for."""
    settings = Settings(data_dir=tmp_path, request_timeout_s=1.0)
    service = Service(settings, SQLiteStore(tmp_path))
    key = service.create_key("t")
    app = create_app(settings, service)
    with RunningServer(app, http=protocol_for(settings), **uvicorn_options(settings)) as running, \
            socket.create_connection(("127.0.0.1", running.port)) as s:
        s.sendall(f"PUT /pm/v1/model/m?accesskey={key} HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n"
                  f"Content-Type: multipart/form-data; boundary=x\r\n\r\n--x\r\n".encode())
        s.settimeout(10)
        reply = s.recv(4096)
    assert reply.startswith(b"HTTP/1.1 200 ")
    assert b"the deploy request stalled: no data for 1 s (PMSERVE_REQUEST_TIMEOUT_S)" in reply


def test_a_request_head_past_its_limit_is_refused(tmp_path: Path) -> None:
    """A request head over PMSERVE_MAX_HEADER_KB gets a 4xx, while a big body is fine (httptools)."""
    settings = Settings(data_dir=tmp_path, max_header_kb=4)
    with RunningServer(create_app(settings), http=protocol_for(settings),
                       **uvicorn_options(settings)) as running:
        reply = httpx.get(f"{running.url}/health", headers={"x-big": "a" * 8000}, timeout=5)
        assert 400 <= reply.status_code < 500
        ok = httpx.post(f"{running.url}/pm/v1/score/m", params={"accesskey": "k"}, content=b"x" * 500_000,
                        timeout=5)
        assert ok.status_code == 401
        assert httpx.get(f"{running.url}/health", timeout=5).status_code == 200


# -- 9. NUL in ids, both stores ---------------------------------------------------------------------

@pytest.mark.parametrize("bad", ["a\x00b", "a\x01", "\x9b", ".", ".."])
def test_an_id_outside_the_rule_is_refused_the_same_way_by_both_stores(settings: Settings, store: Store,
                                                                       bad: str) -> None:
    """#9: the id rule is checked before the store (PostgreSQL cannot hold a NUL: it looked unavailable)."""
    service = Service(settings, store)
    tenant = service.authenticate(service.create_key("t"))
    with pytest.raises(BadRequestError, match="context id must be"):
        service.deploy(tenant, bad, "m.pmml", regression())
    with pytest.raises(BadRequestError, match="file name must be"):
        service.deploy(tenant, "ok", bad if bad not in (".", "..") else "a\x00", regression())
    with pytest.raises(NotFoundError, match="no model deployed"):
        service.download(tenant, bad)
    with pytest.raises(NotFoundError, match="no model deployed"):
        service.delete(tenant, bad)


def test_a_nul_in_an_id_over_http_is_not_a_503(client: TestClient, keys: Keys) -> None:
    """The reply for a NUL id is the ordinary not-found / flag:false, never 'store unavailable'."""
    assert client.get("/pm/v1/model/a%00b", params={"accesskey": keys.alice}).status_code == 404
    reply = score(client, keys.alice, "a%00b", {"header": ["x"], "data": [[1]]})
    assert reply.status_code == 200
    refused(reply.json(), "no model deployed")


# -- 10. numbers, results, messages, nesting, tree depth ------------------------------------------------

@pytest.mark.parametrize("cell", ["5_1", "\u0665.\u0661", True])
def test_a_number_field_refuses_what_is_not_a_number(client: TestClient, keys: Keys, cell: Any) -> None:
    """#10: '5_1', Arabic-Indic digits and booleans are not numbers."""
    assert put(client, keys.alice, "lin", regression())["flag"] is True
    refused(score(client, keys.alice, "lin", {"header": ["x"], "data": [[cell]]}).json(), "expects a number")


def test_an_infinite_result_is_a_record_error_not_null(client: TestClient, keys: Keys) -> None:
    """#10: a result overflowing to infinity is an error naming the row, not a silent null."""
    doc = regression().replace(b'coefficient="1"', b'coefficient="1e308"')
    assert put(client, keys.alice, "big", doc)["flag"] is True
    refused(score(client, keys.alice, "big", {"header": ["x"], "data": [[1.0], [1e10]]}).json(), "row 2", "'y'")


def test_an_error_quotes_a_short_prefix_of_a_huge_cell(client: TestClient, keys: Keys) -> None:
    """#10: a 40 KB bad cell is quoted by its first characters and its length."""
    assert put(client, keys.alice, "lin", regression())["flag"] is True
    message = score(client, keys.alice, "lin", {"header": ["x"], "data": [["z" * 40_000]]}).json()["message"]
    assert len(message) < 400
    assert "40000 characters" in message


def test_a_deeply_nested_pass_through_cell_is_refused(client: TestClient, keys: Keys) -> None:
    """#10: cells are scalars; a 900-deep array answered a 500 when echoed."""
    assert put(client, keys.alice, "lin", regression())["flag"] is True
    cell: Any = 1
    for _ in range(900):
        cell = [cell]
    reply = score(client, keys.alice, "lin", {"header": ["x", "extra"], "data": [[1.0, cell]]})
    assert reply.status_code == 200
    refused(reply.json(), "'extra'", "JSON array")


def test_tree_depth_has_one_limit_whatever_the_file_size(tmp_path: Path) -> None:
    """#10: a 300-deep tree deploys, small or large; one deeper than the limit is refused in both."""
    settings = Settings(data_dir=tmp_path, max_upload_mb=64)
    service = Service(settings, SQLiteStore(tmp_path))
    tenant = service.authenticate(service.create_key("t"))
    for padding in (0, 9 * 1024 * 1024):
        assert service.deploy(tenant, "ok", "t.pmml", tree(300, padding)).record.version >= 1
        assert service.score(tenant, "ok", ScoreTable(["x"], [[0.5]])).data[0][-1] == pytest.approx(299.0)
        with pytest.raises(Exception, match="PMSERVE_MAX_XML_DEPTH"):
            service.deploy(tenant, "deep", "t.pmml", tree(1200, padding))
    service.close()


def test_iris_still_scores(client: TestClient, keys: Keys, iris_pmml: bytes) -> None:
    """The limits leave an ordinary model alone."""
    assert put(client, keys.alice, "iris", iris_pmml)["flag"] is True
    reply = score(client, keys.alice, "iris", {"header": IRIS_HEADER, "data": [[5.1, 3.5, 1.4, 0.2]]})
    assert reply.status_code == 200
    assert reply.json()[0]["data"][0][-1] is not None
    assert put(client, keys.alice, "lin", linear_pmml(1.0))["flag"] is True


# -- the deploy time budget ---------------------------------------------------------------------------

def test_a_deploy_over_its_time_budget_is_abandoned_and_nothing_is_stored(tmp_path: Path, iris_pmml: bytes) -> None:
    """A deploy past PMSERVE_DEPLOY_TIMEOUT_S is refused naming the setting; the old version stays live."""
    service = Service(Settings(data_dir=tmp_path), SQLiteStore(tmp_path))
    tenant = service.authenticate(service.create_key("t"))
    service.deploy(tenant, "m", "m.pmml", linear_pmml(1.0))
    hurried = Service(Settings(data_dir=tmp_path, deploy_timeout_s=1e-9), SQLiteStore(tmp_path))
    with pytest.raises(DocumentError, match="PMSERVE_DEPLOY_TIMEOUT_S"):
        hurried.deploy(tenant, "m", "m.pmml", iris_pmml)
    with pytest.raises(DocumentError, match="PMSERVE_DEPLOY_TIMEOUT_S"):
        hurried.deploy(tenant, "new", "m.pmml", iris_pmml)
    assert [v.version for v in service.history(tenant, "m")] == [1]
    assert service.download(tenant, "m")[1] == linear_pmml(1.0)
    with pytest.raises(NotFoundError):
        service.download(tenant, "new")
    hurried.close()
    service.close()


def test_health_answers_while_a_hostile_deploy_is_refused(small: tuple[TestClient, Keys, Service]) -> None:
    """Deploys run on the heavy-work threads: /health is served between them (no timing asserted)."""
    client, keys, _ = small
    attrs = " ".join(f'a{i}="1"' for i in range(50_000))
    doc = regression().replace(b"<Header/>", f"<Header {attrs}/>".encode())
    replies: list[Any] = []
    worker = threading.Thread(target=lambda: replies.append(put(client, keys.alice, "h", doc)))
    worker.start()
    assert client.get("/health").json() == {"status": "ok"}
    worker.join(60)
    refused(replies[0], "PMSERVE_MAX_XML_ATTRIBUTES")


def test_an_invalid_category_megabytes_long_is_quoted_by_a_prefix(client: TestClient, keys: Keys) -> None:
    """#10: returnInvalid's message quotes a short prefix of the cell, not the 1 MB cell itself."""
    doc = b"""<PMML xmlns="http://www.dmg.org/PMML-4_4" version="4.4"><Header/><DataDictionary>
<DataField name="c" optype="categorical" dataType="string"><Value value="a"/></DataField>
<DataField name="y" optype="continuous" dataType="double"/></DataDictionary>
<RegressionModel functionName="regression"><MiningSchema><MiningField name="c" invalidValueTreatment="returnInvalid"/>
<MiningField name="y" usageType="target"/></MiningSchema><RegressionTable intercept="1">
<CategoricalPredictor name="c" value="a" coefficient="1"/></RegressionTable></RegressionModel></PMML>"""
    assert put(client, keys.alice, "cat", doc)["flag"] is True
    message = score(client, keys.alice, "cat", {"header": ["c"], "data": [["q" * 1_000_000]]}).json()["message"]
    assert len(message) < 400
    assert "1000000 characters" in message
