"""Every /pm/v1 online endpoint and every status/flag case of the wire reference §2."""

from __future__ import annotations

import gzip
import logging
import re
import time
from pathlib import Path
from typing import Any

import orjson
import pytest
from lxml import etree
from tests.service.conftest import IRIS_HEADER, Client, Keys, linear_pmml, select_all_pmml

from pmserve import pmml
from pmserve.api._metadata import INPUT_LABEL, NAMESPACE, OUTPUT_LABEL
from pmserve.service import Service, _hash_key
from pmserve.store import KeyRecord

JSON_UTF8 = "application/json;charset=UTF-8"
ROWS = [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3], [5.9, 3.0, 4.2, 1.5]]


def put(client: Client, key: str, model_id: str, content: bytes, filename: str = "iris.pmml",
        part: str = "model_file", **form: str) -> Any:
    return client.put(f"/pm/v1/model/{model_id}", params={"accesskey": key},
                      files={part: (filename, content, "application/octet-stream")}, data=form)


def score(client: Client, key: str, model_id: str, body: object) -> Any:
    return client.post(f"/pm/v1/score/{model_id}", params={"accesskey": key}, json=body)


def expected_rows(model_bytes: bytes, header: list[str], rows: list[list[object]]) -> list[list[object]]:
    """What the engine itself returns for these rows (the reply must pass it through unchanged)."""
    columns = {h: [r[i] for r in rows] for i, h in enumerate(header)}
    return pmml.load(model_bytes).score(columns).rows()


@pytest.fixture
def deployed(client: Client, keys: Keys, iris_pmml: bytes) -> str:
    reply = put(client, keys.alice, "iris", iris_pmml)
    assert reply.json()["flag"] is True
    return "iris"


# -- deploy ------------------------------------------------------------------------------------------

def test_deploy_new_model_replies_upload_message_and_url(client: Client, keys: Keys,
                                                          iris_pmml: bytes) -> None:
    """PUT of a new context id answers flag:true, IBM's upload wording and the model URL."""
    reply = put(client, keys.alice, "churn_v2", iris_pmml)
    assert reply.status_code == 200
    body = reply.json()
    assert body["flag"] is True
    assert body["message"] == "success to upload stream with given context id churn_v2"
    assert body["url"].endswith("/pm/v1/model/churn_v2")
    assert keys.alice not in reply.text


def test_deploy_existing_id_replies_update_message(client: Client, keys: Keys, deployed: str,
                                                   iris_pmml: bytes) -> None:
    """PUT on a deployed context id refreshes it with IBM's update wording."""
    body = put(client, keys.alice, deployed, iris_pmml).json()
    assert body == {"flag": True, "message": "success to update stream with given context id iris",
                    "url": body["url"]}


def test_deploy_accepts_part_named_file(client: Client, keys: Keys, iris_pmml: bytes) -> None:
    """The form part may be called 'file', as IBM's own notebook sent it."""
    assert put(client, keys.alice, "m", iris_pmml, part="file").json()["flag"] is True


def test_deploy_accepts_gzip_compressed_pmml(client: Client, keys: Keys, iris_pmml: bytes) -> None:
    """A gzip-compressed PMML document is recognised by its content and deployed."""
    assert put(client, keys.alice, "gz", gzip.compress(iris_pmml), filename="iris.pmml.gz").json()["flag"]
    reply = score(client, keys.alice, "gz", {"header": IRIS_HEADER, "data": ROWS[:1]})
    assert reply.json()[0]["data"][0][4:] == expected_rows(iris_pmml, IRIS_HEADER, ROWS[:1])[0]


def test_deploy_fixes_tablename_when_given(client: Client, keys: Keys, iris_pmml: bytes) -> None:
    """The optional form field tablename becomes the model's input table name."""
    assert put(client, keys.alice, "t", iris_pmml, tablename="patients_in").json()["flag"]
    meta = client.get("/pm/v1/metadata/t", params={"accesskey": keys.alice}).json()
    assert '<table name="patients_in">' in meta["message"]


BAD_UPLOADS = [
    ("empty", b"", "iris.pmml", "empty"),
    ("not xml", b"hello, this is not a model", "model.pmml", "not XML"),
    ("spss stream", b"PK\x03\x04rest-of-a-zip", "churn.str", r"\.str"),
    ("zip", b"PK\x03\x04rest-of-a-zip", "model.zip", "zip"),
    ("not pmml", b"<html><body>hi</body></html>", "page.xml", "PMML|html"),
    ("broken gzip", b"\x1f\x8b\x08\x00garbage", "model.pmml.gz", "gzip"),
]


@pytest.mark.parametrize(("content", "filename", "match"), [c[1:] for c in BAD_UPLOADS],
                         ids=[c[0] for c in BAD_UPLOADS])
def test_deploy_bad_upload_replies_flag_false(client: Client, keys: Keys, content: bytes, filename: str,
                                              match: str) -> None:
    """An upload that is no deployable model answers 200 flag:false saying what is wrong."""
    reply = put(client, keys.alice, "bad", content, filename=filename)
    assert reply.status_code == 200
    assert reply.json()["flag"] is False
    assert re.search(match, reply.json()["message"]), reply.json()["message"]
    assert client.get("/pm/v1/model", params={"accesskey": keys.alice}).json() == []


def test_deploy_refused_format_message_says_what_is_accepted(client: Client, keys: Keys) -> None:
    """Refusing a file of an unknown format names the accepted formats."""
    message = put(client, keys.alice, "s", b"\x00\x01 binary", filename="model.bin").json()["message"]
    assert ".pmml" in message
    assert ".xml" in message
    assert "gzip" in message
    assert ".str" in message


def test_deploy_broken_stream_says_it_is_not_a_zip(client: Client, keys: Keys) -> None:
    """A .str that is no ZIP archive is refused saying so."""
    reply = put(client, keys.alice, "s", b"PK\x03\x04...", filename="churn.str")
    assert reply.json()["flag"] is False
    assert "not a readable ZIP archive" in reply.json()["message"]


def test_deploy_xml_bomb_is_refused(client: Client, keys: Keys) -> None:
    """A billion-laughs document is refused quickly instead of expanded."""
    bomb = (b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
            + b"".join(f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">'.encode()
                       for i in range(1, 10))
            + b']><PMML xmlns="http://www.dmg.org/PMML-4_4" version="4.4">&lol9;</PMML>')
    reply = put(client, keys.alice, "bomb", bomb)
    assert reply.status_code == 200
    assert reply.json()["flag"] is False


def test_deploy_external_entity_is_not_resolved(client: Client, keys: Keys, tmp_path: Path) -> None:
    """An external entity is never read: the secret does not appear and the deploy fails."""
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-VALUE")
    doc = (f'<?xml version="1.0"?><!DOCTYPE PMML [<!ENTITY xxe SYSTEM "file://{secret}">]>'
           '<PMML xmlns="http://www.dmg.org/PMML-4_4" version="4.4"><Header description="&xxe;"/>'
           '</PMML>').encode()
    reply = put(client, keys.alice, "xxe", doc)
    assert reply.json()["flag"] is False
    assert "TOP-SECRET-VALUE" not in reply.text


def test_deploy_over_upload_limit_is_refused(client: Client, keys: Keys) -> None:
    """A file over PMSERVE_MAX_UPLOAD_MB (1 MB in these tests) is refused, naming the limit."""
    big = b"<PMML>" + b" " * (2 * 1024 * 1024) + b"</PMML>"
    reply = put(client, keys.alice, "big", big)
    assert reply.status_code == 200
    assert reply.json()["flag"] is False
    assert "limit" in reply.json()["message"]


def test_deploy_with_wrong_part_name_is_refused(client: Client, keys: Keys, iris_pmml: bytes) -> None:
    """A file sent in another form part is refused, naming the expected part."""
    body = put(client, keys.alice, "m", iris_pmml, part="stream").json()
    assert body["flag"] is False
    assert "'model_file'" in body["message"]
    assert "'stream'" in body["message"]


def test_deploy_without_body_is_refused(client: Client, keys: Keys) -> None:
    """A PUT with no multipart body answers flag:false naming the expected part."""
    body = client.put("/pm/v1/model/m", params={"accesskey": keys.alice}).json()
    assert body["flag"] is False
    assert "model_file" in body["message"]


def test_failed_refresh_keeps_old_model_serving(client: Client, keys: Keys, deployed: str) -> None:
    """A refresh that fails to compile leaves the previous version live and downloadable."""
    before = client.get(f"/pm/v1/model/{deployed}", params={"accesskey": keys.alice}).content
    broken = b"<PMML version='4.4'><nonsense/></PMML>"
    assert put(client, keys.alice, deployed, broken).json()["flag"] is False
    assert client.get(f"/pm/v1/model/{deployed}", params={"accesskey": keys.alice}).content == before
    assert score(client, keys.alice, deployed, {"header": IRIS_HEADER, "data": ROWS}).status_code == 200


# -- list / download / delete ----------------------------------------------------------------------

@pytest.mark.parametrize("path", ["/pm/v1/model", "/pm/v1/model/"])
def test_list_is_empty_array_when_nothing_deployed(client: Client, keys: Keys, path: str) -> None:
    """GET /model (with or without the slash) answers [] for a tenant with no models."""
    reply = client.get(path, params={"accesskey": keys.alice})
    assert reply.status_code == 200
    assert reply.json() == []


@pytest.mark.parametrize("path", ["/pm/v1/model", "/pm/v1/model/"])
def test_list_names_stream_and_id(client: Client, keys: Keys, deployed: str, iris_pmml: bytes,
                                  path: str) -> None:
    """Each deployed model is listed as {"stream": file name, "id": context id}."""
    put(client, keys.alice, "drugs", iris_pmml, filename="drug_tree.pmml")
    assert client.get(path, params={"accesskey": keys.alice}).json() == [
        {"stream": "drug_tree.pmml", "id": "drugs"}, {"stream": "iris.pmml", "id": "iris"}]


def test_download_returns_the_uploaded_bytes(client: Client, keys: Keys, deployed: str,
                                             iris_pmml: bytes) -> None:
    """GET /model/{id} answers the original file as an octet-stream attachment."""
    reply = client.get(f"/pm/v1/model/{deployed}", params={"accesskey": keys.alice})
    assert reply.status_code == 200
    assert reply.headers["content-type"] == "application/octet-stream"
    assert reply.headers["content-disposition"] == "attachment; filename=iris.pmml"
    assert reply.content == iris_pmml


def test_download_unknown_model_is_404_with_flag_false(client: Client, keys: Keys) -> None:
    """GET of an unknown context id answers 404 with a JSON flag:false body."""
    reply = client.get("/pm/v1/model/nope", params={"accesskey": keys.alice})
    assert reply.status_code == 404
    assert reply.json()["flag"] is False
    assert "nope" in reply.json()["message"]


def test_delete_undeploys_the_model(client: Client, keys: Keys, deployed: str) -> None:
    """DELETE answers IBM's success message and the model is gone everywhere."""
    reply = client.delete(f"/pm/v1/model/{deployed}", params={"accesskey": keys.alice})
    assert reply.status_code == 200
    assert reply.json() == {"flag": True, "message": "success to delete stream with specified id iris"}
    assert client.get("/pm/v1/model", params={"accesskey": keys.alice}).json() == []
    assert score(client, keys.alice, deployed, {"header": IRIS_HEADER, "data": ROWS}).json()["flag"] is False


def test_delete_unknown_model_is_404_with_not_found_text(client: Client, keys: Keys) -> None:
    """DELETE of an unknown context id answers 404 and IBM's text 'Not Found Model:<id>'."""
    reply = client.delete("/pm/v1/model/churn_v2", params={"accesskey": keys.alice})
    assert reply.status_code == 404
    assert reply.text == "Not Found Model:churn_v2"


# -- score -----------------------------------------------------------------------------------------

def test_score_replies_inputs_then_model_results(client: Client, keys: Keys, deployed: str,
                                                 iris_pmml: bytes) -> None:
    """The reply is a one-element array: input columns passed through, then the model's result columns."""
    body = {"tablename": "scoreInput", "header": IRIS_HEADER, "data": ROWS}
    reply = score(client, keys.alice, deployed, body)
    assert reply.status_code == 200
    assert reply.headers["content-type"] == JSON_UTF8
    body = reply.json()
    assert len(body) == 1
    results = [f.name for f in pmml.load(iris_pmml).output_fields]
    assert body[0]["header"] == IRIS_HEADER + results
    expected = expected_rows(iris_pmml, IRIS_HEADER, ROWS)
    for row, given, want in zip(body[0]["data"], ROWS, expected, strict=True):
        assert row[:4] == given
        assert row[4:6] == want[:2]
        assert row[6:] == pytest.approx(want[2:], rel=1e-12)
        assert sum(row[6:]) == pytest.approx(1.0, abs=1e-9)


def test_score_accepts_strings_for_numbers(client: Client, keys: Keys, deployed: str) -> None:
    """Numbers sent as strings (as R and CSV clients do) score like the numbers themselves."""
    as_text = [[str(v) for v in r] for r in ROWS]
    numbers = score(client, keys.alice, deployed, {"header": IRIS_HEADER, "data": ROWS}).json()[0]["data"]
    strings = score(client, keys.alice, deployed, {"header": IRIS_HEADER, "data": as_text}).json()[0]["data"]
    assert [r[4:] for r in strings] == [r[4:] for r in numbers]
    assert [r[:4] for r in strings] == as_text


@pytest.mark.parametrize("missing", [None, ""])
def test_score_null_or_empty_is_a_missing_value(client: Client, keys: Keys, missing: object) -> None:
    """null and "" are missing values, scored as the engine scores a missing value."""
    model = linear_pmml(2.0)
    put(client, keys.alice, "lin", model, filename="lin.pmml")
    data = [[missing], [1.5]]
    body = score(client, keys.alice, "lin", {"header": ["x"], "data": data}).json()[0]
    assert body["header"] == ["x", "y"]
    assert [r[1:] for r in body["data"]] == expected_rows(model, ["x"], [[None], [1.5]])


def test_score_list_valued_result_is_a_json_array(client: Client, keys: Keys) -> None:
    """A selectAll model's prediction (one value per true segment) is a JSON array, null when none."""
    put(client, keys.alice, "all", select_all_pmml(), filename="all.pmml")
    body = score(client, keys.alice, "all", {"header": ["x"], "data": [[2.0], [-1.0], [None]]}).json()[0]
    assert body["header"] == ["x", "y"]
    assert body["data"] == [[2.0, [3.0, 12.0]], [-1.0, [0.0]], [None, [None]]]


def test_score_passes_extra_columns_through(client: Client, keys: Keys, deployed: str) -> None:
    """Columns the model does not use are tolerated and echoed."""
    header = [*IRIS_HEADER, "customer"]
    body = score(client, keys.alice, deployed, {"header": header, "data": [[*ROWS[0], "c-17"]]}).json()[0]
    assert body["header"][:5] == header
    assert body["data"][0][:5] == [*ROWS[0], "c-17"]


def test_score_input_column_named_like_a_result_is_not_echoed(client: Client, keys: Keys,
                                                               deployed: str) -> None:
    """An actual target value sent along gives way to the prediction: each header name appears once."""
    header = [*IRIS_HEADER, "species"]
    body = score(client, keys.alice, deployed, {"header": header, "data": [[*ROWS[0], "not-a-class"]]}).json()[0]
    assert body["header"].count("species") == 1
    assert body["header"][:4] == IRIS_HEADER
    row = dict(zip(body["header"], body["data"][0], strict=True))
    assert row["species"] == "setosa"


def test_score_empty_data_replies_header_and_no_rows(client: Client, keys: Keys, deployed: str,
                                                     iris_pmml: bytes) -> None:
    """data: [] answers 200 with the full header and empty data."""
    reply = score(client, keys.alice, deployed, {"header": IRIS_HEADER, "data": []}).json()
    results = [f.name for f in pmml.load(iris_pmml).output_fields]
    assert reply == [{"header": IRIS_HEADER + results, "data": []}]


def test_score_any_tablename_when_none_fixed(client: Client, keys: Keys, deployed: str) -> None:
    """Without a tablename at deploy, every tablename is accepted."""
    body = {"tablename": "whatever", "header": IRIS_HEADER, "data": ROWS}
    reply = score(client, keys.alice, deployed, body)
    assert isinstance(reply.json(), list)


SCORE_FAILURES = [
    ("unknown context id", "nope", {"header": IRIS_HEADER, "data": ROWS}, "nope"),
    ("tablename mismatch", "fixed", {"tablename": "other", "header": IRIS_HEADER, "data": ROWS},
     "tablename 'other'.*'patients_in'"),
    ("header lacks a needed field", "fixed", {"header": IRIS_HEADER[:3], "data": [r[:3] for r in ROWS]},
     "petal_width"),
    ("ragged row", "fixed", {"header": IRIS_HEADER, "data": [ROWS[0], ROWS[1][:3]]}, "row 2 has 3 values"),
    ("value not a number", "fixed", {"header": IRIS_HEADER, "data": [ROWS[0], ["abc", 3.0, 1.0, 0.2]]},
     "sepal_length.*'abc'.*row 2"),
    ("not an object", "fixed", [1, 2], "JSON object"),
    ("header not names", "fixed", {"header": "sepal_length", "data": []}, "'header'"),
    ("data not rows", "fixed", {"header": IRIS_HEADER, "data": [1, 2]}, "'data'"),
]


@pytest.mark.parametrize(("model_id", "body", "match"), [c[1:] for c in SCORE_FAILURES],
                         ids=[c[0] for c in SCORE_FAILURES])
def test_score_failure_replies_200_flag_false(client: Client, keys: Keys, iris_pmml: bytes,
                                              model_id: str, body: object, match: str) -> None:
    """Bad score requests answer HTTP 200 with flag:false and a message naming what is wrong."""
    put(client, keys.alice, "fixed", iris_pmml, tablename="patients_in")
    reply = score(client, keys.alice, model_id, body)
    assert reply.status_code == 200
    assert reply.json()["flag"] is False
    assert re.search(match, reply.json()["message"]), reply.json()["message"]


def test_score_invalid_json_replies_flag_false(client: Client, keys: Keys, deployed: str) -> None:
    """A body that is not JSON answers 200 flag:false."""
    reply = client.post(f"/pm/v1/score/{deployed}", params={"accesskey": keys.alice}, content=b"{header:",
                        headers={"content-type": "application/json"})
    assert reply.status_code == 200
    assert reply.json()["flag"] is False


def test_score_without_body_is_500(client: Client, keys: Keys, deployed: str) -> None:
    """A score request with no body at all answers 500, as IBM's service did."""
    reply = client.post(f"/pm/v1/score/{deployed}", params={"accesskey": keys.alice})
    assert reply.status_code == 500
    assert reply.json()["flag"] is False


# -- metadata --------------------------------------------------------------------------------------

def _fields(xml: str) -> list[tuple[str, str, str]]:
    root = etree.fromstring(xml.strip().encode())
    assert root.tag == f"{{{NAMESPACE}}}metadata"
    return [(f.get("name"), f.get("storageType"), f.get("measurementLevel"))
            for f in root.iter(f"{{{NAMESPACE}}}field")]


def test_metadata_describes_input_table(client: Client, keys: Keys, deployed: str) -> None:
    """GET /metadata/{id} answers flag:true and SPSS XML of the input table 'scoreInput'."""
    reply = client.get(f"/pm/v1/metadata/{deployed}", params={"accesskey": keys.alice})
    assert reply.status_code == 200
    assert reply.headers["content-type"] == JSON_UTF8
    body = reply.json()
    assert body["flag"] is True
    assert body["message"].startswith('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>')
    root = etree.fromstring(body["message"].encode())
    assert [t.get("name") for t in root] == ["scoreInput"]
    assert _fields(body["message"]) == [(h, "DOUBLE", "CONTINUOUS") for h in IRIS_HEADER]


def test_metadata_score_glues_input_and_output_documents(client: Client, keys: Keys, deployed: str,
                                                         iris_pmml: bytes) -> None:
    """metadatatype=score answers both documents behind IBM's labels; output = inputs then results."""
    params = {"accesskey": keys.alice, "metadatatype": "score"}
    reply = client.get(f"/pm/v1/metadata/{deployed}", params=params)
    message = reply.json()["message"]
    assert message.startswith(INPUT_LABEL)
    assert OUTPUT_LABEL.strip() in message
    first, second = message[len(INPUT_LABEL):].split(OUTPUT_LABEL)
    inputs, outputs = _fields(first), _fields(second)
    assert [f[0] for f in inputs] == IRIS_HEADER
    results = pmml.load(iris_pmml).output_fields
    assert [f[0] for f in outputs] == IRIS_HEADER + [f.name for f in results]
    assert outputs[4] == ("species", "STRING", "NOMINAL")
    table = etree.fromstring(first.encode())[0]
    assert table.get("{http://www.w3.org/2001/XMLSchema-instance}type") == "nodeImpl"
    assert table.get("tag", "").startswith("id")


def test_metadata_unknown_model_replies_flag_false(client: Client, keys: Keys) -> None:
    """Metadata of an unknown context id answers 200 flag:false."""
    reply = client.get("/pm/v1/metadata/nope", params={"accesskey": keys.alice})
    assert reply.status_code == 200
    assert reply.json()["flag"] is False


def test_metadata_unknown_type_replies_flag_false(client: Client, keys: Keys, deployed: str) -> None:
    """An unsupported metadatatype answers flag:false naming the accepted value."""
    body = client.get(f"/pm/v1/metadata/{deployed}",
                      params={"accesskey": keys.alice, "metadatatype": "stream"}).json()
    assert body["flag"] is False
    assert "'score'" in body["message"]


# -- wadl, health, auth, logs ----------------------------------------------------------------------

def test_wadl_describes_the_endpoints(client: Client) -> None:
    """OPTIONS /wadl answers a WADL document listing the /pm/v1 resources."""
    reply = client.options("/pm/v1/wadl")
    assert reply.status_code == 200
    assert reply.headers["content-type"] == "application/vnd.sun.wadl+xml"
    root = etree.fromstring(reply.content)
    ns = "{http://wadl.dev.java.net/2009/02}"
    paths = {r.get("path") for r in root.iter(f"{ns}resource")}
    assert {"model", "model/{id}", "score/{id}", "metadata/{id}"} <= paths
    assert root.find(f"{ns}resources").get("base").endswith("/pm/v1/")


def test_health_and_ready(client: Client, deployed: str) -> None:
    """/health is live; /ready reports the store reachable and the models loaded."""
    assert client.get("/health").json() == {"status": "ok"}
    ready = client.get("/ready")
    assert ready.status_code == 200
    assert ready.json()["status"] == "ready"
    assert ready.json()["models"] == 1


@pytest.mark.parametrize("key", [None, "", "not-a-key"])
@pytest.mark.parametrize(("method", "path"), [
    ("PUT", "/pm/v1/model/iris"), ("GET", "/pm/v1/model"), ("GET", "/pm/v1/model/"),
    ("GET", "/pm/v1/model/iris"), ("DELETE", "/pm/v1/model/iris"), ("POST", "/pm/v1/score/iris"),
    ("GET", "/pm/v1/metadata/iris")])
def test_missing_or_unknown_key_is_401_flag_false(client: Client, deployed: str, key: str | None,
                                                  method: str, path: str) -> None:
    """Every /pm/v1 endpoint answers 401 with flag:false without a valid key."""
    params = {} if key is None else {"accesskey": key}
    reply = client.request(method, path, params=params, json={"header": IRIS_HEADER, "data": ROWS})
    assert reply.status_code == 401
    assert reply.json()["flag"] is False
    assert "access key" in reply.json()["message"]


def test_revoked_key_is_refused(client: Client, keys: Keys, deployed: str, service: Service) -> None:
    """A revoked key stops working at once."""
    service.revoke_key("alice")
    assert client.get("/pm/v1/model", params={"accesskey": keys.alice}).status_code == 401


def test_key_in_quotes_is_accepted(client: Client, keys: Keys, deployed: str) -> None:
    """A key sent with literal surrounding double quotes (%22) works."""
    reply = client.get(f"/pm/v1/model?accesskey=%22{keys.alice}%22")
    assert reply.status_code == 200
    assert reply.json() == [{"stream": "iris.pmml", "id": "iris"}]


def test_key_with_plus_sent_unencoded_is_accepted(client: Client, service: Service) -> None:
    """A base64 key whose '+' arrives as a space (unencoded in the URL) works."""
    key = "AbC+dEf/GhI+jKl="
    service.store.add_key(KeyRecord("legacy", "legacy", _hash_key(key), "2017-01-01T00:00:00Z"))
    reply = client.get(f"/pm/v1/model?accesskey={key}")
    assert reply.status_code == 200
    assert reply.json() == []


def _score_lines(caplog: pytest.LogCaptureFixture) -> list[dict[str, object]]:
    lines = [orjson.loads(r.getMessage()) for r in caplog.records if r.name == "pmserve.access"]
    return [line for line in lines if line["method"] == "POST"]


def test_each_request_logs_one_line_without_the_key(client: Client, keys: Keys, deployed: str,
                                                    caplog: pytest.LogCaptureFixture) -> None:
    """One structured access-log line per request: method, path, status, ms, context id; never the key."""
    with caplog.at_level(logging.INFO, logger="pmserve.access"):
        score(client, keys.alice, deployed, {"header": IRIS_HEADER, "data": ROWS})
        # A real server writes the line once the reply is out, i.e. possibly after we read it.
        # The deploy's own line may also land late, so only this request's lines are counted.
        deadline = time.monotonic() + 5
        while not _score_lines(caplog) and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.05)
    lines = _score_lines(caplog)
    assert len(lines) == 1
    line = lines[0]
    assert (line["method"], line["path"], line["status"], line["context_id"]) == \
        ("POST", "/pm/v1/score/iris", 200, "iris")
    assert line["ms"] >= 0
    assert keys.alice not in caplog.text
