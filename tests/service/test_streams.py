"""SPSS Modeler streams through /pm/v1: deploy, score, metadata, download, refusals."""

from __future__ import annotations

import csv
import re
from typing import Any

import pytest
from tests.service.conftest import Client, Keys
from tests.spss._build import simple_stream, two_source_stream
from tests.spss._streams import stream_bytes, stream_path

from pmserve.api._metadata import INPUT_LABEL, OUTPUT_LABEL

DRUG_HEADER = ["Age", "Sex", "BP", "Cholesterol", "Na", "K"]
DRUG_ROWS = [[23, "F", "HIGH", "HIGH", 0.792535, 0.031258], ["47", "M", "LOW", "HIGH", "0.739309", "0.056468"]]


def put(client: Client, key: str, model_id: str, content: bytes, filename: str) -> Any:
    return client.put(f"/pm/v1/model/{model_id}", params={"accesskey": key},
                      files={"model_file": (filename, content, "application/octet-stream")})


def score(client: Client, key: str, model_id: str, body: object) -> Any:
    return client.post(f"/pm/v1/score/{model_id}", params={"accesskey": key}, json=body)


def metadata(client: Client, key: str, model_id: str, **params: str) -> str:
    reply = client.get(f"/pm/v1/metadata/{model_id}", params={"accesskey": key, **params}).json()
    assert reply["flag"] is True
    return str(reply["message"])


def test_drug1n_deploys_and_scores_with_the_terminals_header(client: Client, keys: Keys) -> None:
    assert put(client, keys.alice, "drug", stream_bytes("Drug1n.str"), "Drug1n.str").json()["flag"] is True
    reply = score(client, keys.alice, "drug", {"tablename": "scoreInput", "header": DRUG_HEADER, "data": DRUG_ROWS})
    body = reply.json()
    assert body[0]["header"] == [*DRUG_HEADER, "$N-Drug", "$NC-Drug"]
    assert [row[6] for row in body[0]["data"]] == ["drugY", "drugC"]
    assert body[0]["data"][1][:6] == [47, "M", "LOW", "HIGH", 0.739309, 0.056468]
    assert all(0.0 <= row[7] <= 1.0 for row in body[0]["data"])


def test_stream_with_a_wrong_tablename_is_refused(client: Client, keys: Keys) -> None:
    put(client, keys.alice, "made", simple_stream(), "made.str")
    reply = score(client, keys.alice, "made", {"tablename": "nope", "header": ["x1", "x2"], "data": [[1, 2]]})
    assert reply.json()["flag"] is False
    assert "expected 'scoreInput'" in reply.json()["message"]


def test_made_stream_scores_without_the_shared_files(client: Client, keys: Keys) -> None:
    put(client, keys.alice, "made", simple_stream(), "made.str")
    body = score(client, keys.alice, "made", {"header": ["x2", "x1"], "data": [[2, 1], [None, 3]]}).json()
    assert body == [{"header": ["x1", "x2", "$L-y"], "data": [[1.0, 2, 2.5], [3.0, None, None]]}]


def test_download_returns_the_uploaded_stream_bytes(client: Client, keys: Keys) -> None:
    content = simple_stream()
    put(client, keys.alice, "made", content, "made.str")
    reply = client.get("/pm/v1/model/made", params={"accesskey": keys.alice})
    assert reply.content == content
    assert "made.str" in reply.headers["content-disposition"]


def test_stream_metadata_lists_every_source_table(client: Client, keys: Keys) -> None:
    put(client, keys.alice, "drug", stream_bytes("Drug1n.str"), "Drug1n.str")
    text = metadata(client, keys.alice, "drug")
    assert re.findall(r'<table name="([^"]+)">', text) == ["scoreInput", "trainingInput"]
    assert '<field name="Age" storageType="LONG" measurementLevel="CONTINUOUS"/>' in text
    assert '<field name="Sex" storageType="STRING" measurementLevel="FLAG"/>' in text
    assert '<field name="BP" storageType="STRING" measurementLevel="NOMINAL"/>' in text


def test_stream_score_metadata_is_the_branch_input_and_the_terminal_output(client: Client, keys: Keys) -> None:
    put(client, keys.alice, "drug", stream_bytes("Drug1n.str"), "Drug1n.str")
    text = metadata(client, keys.alice, "drug", metadatatype="score")
    inputs, outputs = text.split(OUTPUT_LABEL)
    assert inputs.startswith(INPUT_LABEL)
    assert re.findall(r'name="([^"]+)"/>', inputs) == DRUG_HEADER
    assert re.findall(r'name="([^"]+)"/>', outputs) == [*DRUG_HEADER, "$N-Drug", "$NC-Drug"]
    assert 'measurementLevel="CONTINUOUS" storageType="DOUBLE" name="$NC-Drug"' in outputs
    assert 'name="scoreInput"' in inputs


@pytest.mark.parametrize(("name", "node"), [
    ("example-regression-gbt.str", "node 'GradientBoostedTreeswithMLlib' (CFApplyModelNode, id 6) cannot be "
                                   "scored: its model is a Spark MLlib model container"),
    ("catalog_streaming_timeseries.str", "node 'Streaming TS' (TimeSeriesProcessNode, id 2), step 3 of 6"),
])
def test_stream_pmserve_cannot_run_is_refused_naming_the_node(client: Client, keys: Keys, name: str,
                                                              node: str) -> None:
    reply = put(client, keys.alice, "s", stream_bytes(name), name).json()
    assert reply["flag"] is False
    assert node in reply["message"]


def test_zementis_stream_scores_its_sample_file(client: Client, keys: Keys) -> None:
    put(client, keys.alice, "iris", stream_bytes("zementis-sample_v17.str"), "zementis-sample_v17.str")
    with stream_path("data/irisFull.csv").open(encoding="utf-8", newline="") as handle:
        rows = list(csv.reader(handle))
    body = score(client, keys.alice, "iris", {"tablename": "Var. File", "header": rows[0], "data": rows[1:]}).json()
    assert body[0]["header"] == [*rows[0], "$C-setosa", "$CC-setosa"]
    assert len(body[0]["data"]) == 150
    agree = sum(1 for row in body[0]["data"] if row[4] == row[5])
    assert agree >= 140


def test_financial_stream_returns_its_forecast_rows(client: Client, keys: Keys) -> None:
    """The Modeler 18 time-series stream (spss.ts nugget) appends its forecast records."""
    put(client, keys.alice, "fin", stream_bytes("financial-performance-prediction.str"),
        "financial-performance-prediction.str")
    with stream_path("data/seasonal1.csv").open(encoding="utf-8", newline="") as handle:
        rows = list(csv.reader(handle))[1:]
    body = score(client, keys.alice, "fin", {"tablename": "in", "header": ["DATE", "VALUE"], "data": rows}).json()
    assert body[0]["header"] == ["DATE", "VALUE", "$TS-VALUE", "$TSLCI-VALUE", "$TSUCI-VALUE"]
    future = [row for row in body[0]["data"] if row[1] is None]
    assert len(future) == 3
    assert all(row[3] <= row[2] <= row[4] for row in future)


def test_stream_with_two_sources_reads_one_table_per_source(client: Client, keys: Keys) -> None:
    """A JSON array of tables, one per source node, feeds an Append branch; the reply is one table."""
    put(client, keys.alice, "two", two_source_stream(), "two.str")
    body = score(client, keys.alice, "two", [
        {"tablename": "second", "header": ["x1", "x2"], "data": [[10, 0]]},
        {"tablename": "first", "header": ["x1", "x2"], "data": [[1, 2], [2, 2]]},
    ]).json()
    assert body == [{"header": ["x1", "x2", "$L-y"], "data": [[1.0, 2, 2.5], [2.0, 2, 4.5], [10.0, 0, 21.5]]}]


def test_stream_with_two_sources_names_the_missing_table(client: Client, keys: Keys) -> None:
    put(client, keys.alice, "two", two_source_stream(), "two.str")
    body = score(client, keys.alice, "two", {"tablename": "first", "header": ["x1", "x2"], "data": [[1, 2]]}).json()
    assert body["flag"] is False
    assert "reads 2 input tables; the request lacks 'second'" in body["message"]


def test_stream_with_two_sources_lists_both_tables_in_metadata(client: Client, keys: Keys) -> None:
    put(client, keys.alice, "two", two_source_stream(), "two.str")
    assert re.findall(r'<table name="([^"]+)">', metadata(client, keys.alice, "two")) == ["first", "second"]
