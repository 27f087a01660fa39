"""Reading whole streams: archive checks, the scoring branch, nuggets, and the real shared streams."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import math
import pickle
import random
import re
import struct
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest

from pmserve.errors import (
    DataError,
    DocumentError,
    InvalidMarkupError,
    UnsupportedFormatError,
    UnsupportedMarkupError,
    VerificationError,
)
from pmserve.formats import RowTable, StreamLimits, load_model
from pmserve.formats.spss._containers import InflateBudget, read_java_zip, read_scf
from pmserve.formats.spss._loader import StreamModel, load_stream
from pmserve.formats.spss._model import SpssField
from pmserve.formats.spss.nodes._source import convert_column, python_values

from ._build import REGRESSION_PMML, archive, field, node, nugget, simple_stream, source, stream_xml, table
from ._streams import STREAM_NAMES, stream_bytes, stream_path

LIMITS = StreamLimits()
REFERENCE = Path(__file__).resolve().parent / "reference"


def _load(content: bytes, limits: StreamLimits = LIMITS, name: str = "made.str") -> StreamModel:
    return load_stream(name, content, limits)


# -- a hand-made stream, end to end ---------------------------------------------------------------

def test_made_stream_scores_through_its_nugget_with_the_source_filter_applied() -> None:
    model = _load(simple_stream())
    assert model.tablenames == ("scoreInput",)
    assert [f.name for f in model.input_fields] == ["x1", "x2"]
    reply = model.score_tables([RowTable(["x1", "x2", "extra"], [[1.0, 2, "a"], ["3", None, "b"]], "scoreInput")])
    assert reply.header == ["x1", "x2", "$L-y"]
    assert reply.data[0] == [1.0, 2, pytest.approx(1.5 + 2 - 1)]
    assert reply.data[1][:2] == [3.0, None]


def test_load_model_sniffs_a_zip_as_a_stream() -> None:
    assert load_model("anything.bin", simple_stream()).format == "spss-str"


def test_wrong_tablename_is_a_data_error() -> None:
    with pytest.raises(DataError, match=r"tablename 'other' does not match .* expected 'scoreInput'"):
        _load(simple_stream()).score_tables([RowTable(["x1", "x2"], [[1, 2]], "other")])


def test_missing_source_column_names_the_field_and_table() -> None:
    with pytest.raises(DataError, match="input table 'scoreInput' has no column 'x2'"):
        _load(simple_stream()).score_tables([RowTable(["x1"], [[1]], None)])


def test_bad_number_names_field_and_row() -> None:
    with pytest.raises(DataError, match=r"field 'x2' \(integer\) expects an integer, got '2.5' \(row 2\)"):
        _load(simple_stream()).score_tables([RowTable(["x1", "x2"], [[1, 2], [1, "2.5"]], None)])


# -- hostile and broken archives ------------------------------------------------------------------

@pytest.mark.parametrize(("content", "error", "message"), [
    (b"{\\rtf1}", UnsupportedFormatError, "does not start with the ZIP signature"),
    (b"PK\x03\x04garbage", InvalidMarkupError, "not a readable ZIP archive"),
    (archive({"data/0001.dat": b"x"}), UnsupportedFormatError, "exactly one top-level \\*.xml entry .* found none"),
    (archive({"a.xml": b"<a/>", "b.xml": b"<b/>"}), UnsupportedFormatError, "found 'a.xml', 'b.xml'"),
    (archive({"s.xml": b"<a/>", "../evil.dat": b"x"}), InvalidMarkupError, "'../evil.dat'.*'\\.\\.'"),
    (archive({"s.xml": b"<a/>", "/etc/passwd": b"x"}), InvalidMarkupError, "absolute paths"),
    (archive({"s.xml": b"<a/>"}), UnsupportedFormatError, "holds <a>, not a Modeler <clementineStream>"),
])
def test_broken_archives_are_refused(content: bytes, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        _load(content)


def test_zip_bomb_is_refused_before_inflating() -> None:
    bomb = archive({"s.xml": b"<a/>", "data/0001.dat": b"\0" * (8 * 1024 * 1024)})
    with pytest.raises(InvalidMarkupError, match="refused as a decompression bomb"):
        _load(bomb)


def test_total_inflated_size_is_limited() -> None:
    content = archive({"s.xml": b"<a/>", "data/0001.dat": bytes(range(256)) * 40})
    with pytest.raises(InvalidMarkupError, match=r"inflates to .* the limit is 5000"):
        _load(content, StreamLimits(max_inflated_bytes=5000))


def test_too_many_entries_are_refused() -> None:
    content = archive({"s.xml": b"<a/>", **{f"data/{i:04d}.dat": b"x" for i in range(20)}})
    with pytest.raises(InvalidMarkupError, match="holds 21 archive entries; the limit is 10"):
        _load(content, StreamLimits(max_entries=10))


@pytest.mark.parametrize("path", ["../../etc/passwd", "data/../../x", "/data/0001.dat", "data/sub/../../x"])
def test_blob_reference_outside_data_is_refused(path: str) -> None:
    xml = stream_xml(source() + nugget(blob=path) + table(), [("0", "1"), ("1", "2")])
    with pytest.raises(InvalidMarkupError, match="not a plain path under 'data/'"):
        _load(archive({"s.xml": xml, "data/0001.dat": REGRESSION_PMML}))


def test_blob_reference_to_a_missing_entry_is_refused() -> None:
    xml = stream_xml(source() + nugget(blob="data/0009.dat") + table(), [("0", "1"), ("1", "2")])
    with pytest.raises(InvalidMarkupError, match="names a blob the archive does not hold"):
        _load(archive({"s.xml": xml}))


def test_plain_xml_with_entities_is_refused() -> None:
    xml = (b'<?xml version="1.0"?><!DOCTYPE s [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
           b"<clementineStream><stream>&e;</stream></clementineStream>")
    with pytest.raises(InvalidMarkupError, match="declares a DTD"):
        _load(archive({"s.xml": xml}))


def test_truncated_fast_infoset_is_refused_with_its_offset() -> None:
    xml = b"\xe0\x00\x00\x01\x00\x3c\x0fclementineStream"
    with pytest.raises(InvalidMarkupError, match=r"ends early \(truncated\) at byte offset 23"):
        _load(archive({"s.xml": xml}))


def test_huge_fast_infoset_length_is_refused_without_allocating() -> None:
    xml = b"\xe0\x00\x00\x01\x00\x3c\x60\x7f\xff\xff\xff"
    with pytest.raises(InvalidMarkupError, match="string of 2147483968 bytes runs past the end"):
        _load(archive({"s.xml": xml}))


def test_oversized_decoded_xml_is_refused() -> None:
    xml = stream_xml(source() + nugget() + table(), [("0", "1"), ("1", "2")])
    with pytest.raises(InvalidMarkupError, match="the limit is 100"):
        _load(archive({"s.xml": xml, "data/0001.dat": REGRESSION_PMML}), StreamLimits(max_xml_chars=100))


# -- the scoring branch ---------------------------------------------------------------------------

def test_link_cycle_is_refused_naming_its_nodes() -> None:
    xml = stream_xml(source() + nugget() + table() + nugget("3"), [("0", "1"), ("1", "2"), ("3", "1"), ("1", "3")])
    with pytest.raises(InvalidMarkupError, match=r"links form a cycle through node 'y' .*id 1.*id 3"):
        _load(archive({"s.xml": xml, "data/0001.dat": REGRESSION_PMML}))


def test_declared_terminal_that_names_no_node_is_refused() -> None:
    xml = stream_xml(source() + nugget() + table(), [("0", "1"), ("1", "2")], terminal="idNOWHERE")
    with pytest.raises(InvalidMarkupError, match="names node uid 'idNOWHERE', which is not in the diagram"):
        _load(archive({"s.xml": xml, "data/0001.dat": REGRESSION_PMML}))


def test_without_declared_terminal_the_single_nugget_leads_to_its_table() -> None:
    xml = stream_xml(source(drop="y") + nugget() + table(), [("0", "1"), ("1", "2")], terminal="")
    model = _load(archive({"s.xml": xml, "data/0001.dat": REGRESSION_PMML}))
    assert model.info.branch[-1] == "node 'Table' (TableNode, id 2)"
    assert model.info.declared is False


def test_competing_nuggets_without_declared_terminal_are_named() -> None:
    xml = stream_xml(source() + nugget() + table() + nugget("3") + table("4"),
                     [("0", "1"), ("1", "2"), ("0", "3"), ("3", "4")], terminal="")
    with pytest.raises(UnsupportedMarkupError, match=r"2 model nuggets compete .*id 1\); node 'y' .*id 3\)"):
        _load(archive({"s.xml": xml, "data/0001.dat": REGRESSION_PMML}))


def test_unknown_node_on_the_branch_is_refused_with_its_label_class_and_place() -> None:
    from ._build import node

    xml = stream_xml(source() + node("5", "MysteryNode", name="Mystery", label="What") + nugget() + table(),
                     [("0", "5"), ("5", "1"), ("1", "2")])
    with pytest.raises(UnsupportedMarkupError,
                       match=r"node 'What' \(MysteryNode, id 5\), step 2 of 4 on the scoring branch "
                             r"\(scoreInput → What → y → Table\): pmserve cannot run MysteryNode"):
        _load(archive({"s.xml": xml, "data/0001.dat": REGRESSION_PMML}))


def test_nugget_without_pmml_is_refused_by_name() -> None:
    xml = stream_xml(source() + nugget() + table(), [("0", "1"), ("1", "2")])
    with pytest.raises(UnsupportedMarkupError, match="node 'y' \\(CFApplyModelNode, id 1\\) cannot be scored: it "
                                                     "holds no PMML model"):
        _load(archive({"s.xml": xml, "data/0001.dat": b"not a model"}))


# -- containers ------------------------------------------------------------------------------------

def _scf(payload: bytes, header: str = "mimeType=application/vnd.spss.pmml+xml\ntypeId=MEpmml.xml") -> bytes:
    text = header.encode()
    body = b"\0\0\0\0\x03" + struct.pack(">H", len(text)) + text + payload
    deflater = zlib.compressobj()
    chunk = deflater.compress(body) + deflater.flush(zlib.Z_SYNC_FLUSH)  # no final block, as Modeler writes
    toc = zlib.compress(b"\0\0\0\1")
    data = struct.pack(">II", len(chunk), len(body)) + chunk
    return b"SCF\x01\0\0\0\0" + struct.pack(">I", 12 + len(data)) + data + struct.pack(">II", len(toc), 4) + toc


def test_scf_container_yields_its_pmml_from_a_sync_flushed_chunk() -> None:
    entries = read_scf(_scf(REGRESSION_PMML), InflateBudget(1 << 20), where="blob")
    assert [e.mime_type for e in entries] == ["application/vnd.spss.pmml+xml"]
    assert entries[0].content == REGRESSION_PMML


def test_scf_stream_deploys_and_scores() -> None:
    xml = stream_xml(source(drop="y") + nugget() + table(), [("0", "1"), ("1", "2")])
    model = _load(archive({"s.xml": xml, "data/0001.dat": _scf(REGRESSION_PMML)}))
    assert model.score_tables([RowTable(["x1", "x2"], [[2, 4]])]).data == [[2.0, 4, 3.5]]


def test_scf_chunk_declaring_more_than_the_budget_is_refused() -> None:
    with pytest.raises(InvalidMarkupError, match=r"declares .* bytes, past the stream's size limit"):
        read_scf(_scf(REGRESSION_PMML), InflateBudget(100), where="blob")


def test_java_zip_with_property_extras_and_data_descriptors_is_walked() -> None:
    extra = struct.pack(">III", 1, 9, 24) + b"mime-type" + b"application/vnd.pmml+xml"
    deflater = zlib.compressobj(wbits=-15)
    packed = deflater.compress(REGRESSION_PMML) + deflater.flush()
    header = b"PK\x03\x04" + struct.pack("<HHHHHIIIHH", 20, 0x808, 8, 0, 0, 0, 0, 0, 5, len(extra))
    descriptor = b"PK\x07\x08" + struct.pack("<III", zlib.crc32(REGRESSION_PMML), len(packed), len(REGRESSION_PMML))
    entries = read_java_zip(header + b"0.xml" + extra + packed + descriptor, InflateBudget(1 << 20), where="blob")
    assert [(e.name, e.mime_type, e.content) for e in entries] == [
        ("0.xml", "application/vnd.pmml+xml", REGRESSION_PMML)]


# -- the real shared streams ----------------------------------------------------------------------

REFUSALS = {
    "catalog_streaming_timeseries.str": "pmserve cannot run TimeSeriesProcessNode nodes",
    "example-regression-gbt.str": "its model is a Spark MLlib model container, not PMML",
}


@pytest.mark.parametrize("name", sorted(REFUSALS))
def test_streams_pmserve_cannot_run_are_refused_naming_the_node(name: str) -> None:
    with pytest.raises(DocumentError, match=r"node '.*' \(\w+, id \d+\)") as caught:
        _load(stream_bytes(name), name=name)
    assert REFUSALS[name] in caught.value.message


def _refusal(name: str) -> str | None:
    """The message a shared stream is refused with, or None when it compiles."""
    try:
        _load(stream_bytes(name), name=name)
    except DocumentError as exc:
        return exc.message
    return None


@pytest.mark.parametrize("name", STREAM_NAMES)
def test_every_shared_stream_deploys_or_is_refused_naming_a_node(name: str) -> None:
    """The issue's bar: a stream either compiles, or the refusal names the node that cannot run."""
    message = _refusal(name)
    assert message is None or re.search(r"node '[^']*' \(\w+, id \d+\)", message), message


def test_invalid_rtf_stream_is_refused_as_not_a_zip() -> None:
    with pytest.raises(UnsupportedFormatError, match="not an SPSS Modeler stream"):
        load_model("invalid.str", b"{\\rtf1}")


def test_drug1n_reads_its_scoring_source_and_terminal_columns() -> None:
    model = _load(stream_bytes("Drug1n.str"), name="Drug1n.str")
    assert model.tablenames == ("scoreInput",)
    assert [(f.name, f.storage, f.measure) for f in model.source_fields] == [
        ("Age", "integer", "range"), ("Sex", "string", "flag"), ("BP", "string", "set"),
        ("Cholesterol", "string", "flag"), ("Na", "real", "range"), ("K", "real", "range")]
    assert [f.name for f in model.reply_fields] == ["Age", "Sex", "BP", "Cholesterol", "Na", "K", "$N-Drug",
                                                   "$NC-Drug"]
    assert [t for t, _ in model.input_tables] == ["scoreInput", "trainingInput"]


def test_zementis_stream_finds_its_branch_without_a_declared_terminal() -> None:
    model = _load(stream_bytes("zementis-sample_v17.str"), name="zementis-sample_v17.str")
    assert model.info.declared is False
    assert model.info.branch == ("node 'Var. File' (DelimitedFileImportNode, id 0)", "node 'Type' (TypeNode, id 1)",
                                 "node 'setosaC5' (ApplyC5RuleNode, id 2)", "node 'Table' (TableNode, id 3)")


def _reference_cases() -> list[str]:
    return sorted(p.parent.name for p in REFERENCE.glob("*/case.json"))


@pytest.mark.parametrize("case", _reference_cases())
def test_nugget_outputs_equal_jpmml_on_the_nuggets_document(case: str) -> None:
    """Each nugget's columns equal JPMML's on the same document (stored by tools/jpmml_reference/streams.py)."""
    folder = REFERENCE / case
    spec = json.loads((folder / "case.json").read_text(encoding="utf-8"))
    model = _load(stream_path(spec["stream"]).read_bytes(), name=spec["stream"])
    with (folder / "input.csv").open(encoding="utf-8", newline="") as handle:
        rows = list(csv.reader(handle))
    reply = model.score_tables([RowTable(rows[0], [list(r) for r in rows[1:]])])
    with (folder / "expected.csv").open(encoding="utf-8", newline="") as handle:
        expected = list(csv.DictReader(handle))
    compared = 0
    for name in (c for c in reply.header if c.startswith("$")):
        ours = [row[reply.header.index(name)] for row in reply.data]
        for i, (mine, theirs) in enumerate(zip(ours, expected, strict=True)):
            if theirs.get("error"):
                continue  # JPMML refused the record (see meta.json); nothing to compare
            want = theirs[name]
            if isinstance(mine, float):
                assert math.isclose(mine, float(want), rel_tol=1e-9, abs_tol=1e-12), (name, i, mine, want)
            else:
                assert (mine if mine is not None else "") == want, (name, i)
            compared += 1
    assert compared >= 40


def test_input_schema_takes_measure_and_values_from_the_type_node_downstream() -> None:
    model = _load(stream_bytes("zementis-sample_v17.str"), name="zementis-sample_v17.str")
    setosa = model.source_fields[-1]
    assert (setosa.name, setosa.storage, setosa.measure, setosa.role) == ("setosa", "string", "set", "out")
    assert setosa.values == ("setosa", "versicolor", "virginica")


def test_compiled_stream_pickles_and_scores_the_same() -> None:
    model = _load(stream_bytes("Drug1n.str"), name="Drug1n.str")
    rows = [[23, "F", "HIGH", "HIGH", 0.79, 0.03], [61, "M", "LOW", "NORMAL", 0.55, 0.07]]
    header = ["Age", "Sex", "BP", "Cholesterol", "Na", "K"]
    again = pickle.loads(pickle.dumps(model))
    assert again.score_tables([RowTable(header, rows)]) == model.score_tables([RowTable(header, rows)])


def test_score_by_columns_returns_the_terminals_columns() -> None:
    scored = _load(simple_stream()).score({"x1": [1.0, 2.0], "x2": [2, 4]})
    assert [f.name for f in scored.fields] == ["x1", "x2", "$L-y"]
    assert scored.rows() == [[1.0, 2, 2.5], [2.0, 4, 3.5]]


@pytest.mark.parametrize(("expected", "ok"), [("2.5", True), ("99", False)])
def test_verify_replays_the_nuggets_model_verification(expected: str, ok: bool) -> None:
    verification = (b'<ModelVerification recordCount="1"><VerificationFields><VerificationField field="x1"/>'
                    b'<VerificationField field="x2"/><VerificationField field="y"/></VerificationFields>'
                    b"<InlineTable><row><x1>1</x1><x2>2</x2><y>" + expected.encode() + b"</y></row></InlineTable>"
                    b"</ModelVerification>")
    document = REGRESSION_PMML.replace(b"</RegressionTable>", b"</RegressionTable>" + verification)
    xml = stream_xml(source(drop="y") + nugget() + table(), [("0", "1"), ("1", "2")])
    model = _load(archive({"s.xml": xml, "data/0001.dat": document}))
    if ok:
        model.verify()
    else:
        with pytest.raises(VerificationError, match=r"node 'y' \(CFApplyModelNode, id 1\): its PMML's "
                                                    r"ModelVerification records do not reproduce"):
            model.verify()


@pytest.mark.parametrize(("storage", "column", "expected"), [
    ("integer", np.array([1.0, np.nan, -3.0]), [1, None, -3]),
    ("integer", np.array([1.5, np.nan]), [1.5, None]),
    ("real", np.array([0.25, np.nan]), [0.25, None]),
    ("date", np.array([0.0, np.nan, 19000.0]), ["1970-01-01", None, "2022-01-08"]),
    ("string", np.array(["a", None, 3], dtype=object), ["a", None, "3"]),
])
def test_reply_values_follow_the_storage(storage: str, column: np.ndarray, expected: list[object]) -> None:
    assert python_values(SpssField("f", storage), column) == expected


@pytest.mark.parametrize("entry", ["Drug1n.xml", "data/0002.dat"])
def test_corrupted_stream_entries_are_refused_as_document_errors(entry: str) -> None:
    """Byte flips in the stream XML or the nugget's SCF container never escape as anything else."""
    with zipfile.ZipFile(io.BytesIO(stream_bytes("Drug1n.str"))) as original:
        entries = {n: original.read(n) for n in original.namelist()}
    rng = random.Random(entry)
    for _ in range(60):
        data = bytearray(entries[entry])
        for _ in range(rng.randint(1, 3)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        with contextlib.suppress(DocumentError):
            _load(archive({**entries, entry: bytes(data)}), name="Drug1n.str")


@pytest.mark.parametrize(("extension", "what"), [
    ('extensionID="spss.python.mymodel" extensionObjectID="pymodel"', "a Python extension model"),
    ('extensionID="spss.sparkgbt" extensionObjectID="pyspark_model"', "a Spark MLlib model container"),
])
def test_non_pmml_extension_nuggets_are_refused_by_name(extension: str, what: str) -> None:
    from ._build import node

    output = ('<output><name>$R-y</name><type><storage>real</storage><measure>range</measure></type>'
              '<modelFieldInfo role="predictedValue" targetField="y"/></output>')
    ext_nugget = node("1", "CFApplyModelNode", name="y", attrs=extension,
                      props=f"<model><outputs>{output}</outputs></model>",
                      body='<container containerData="data/0001.dat"/>')
    xml = stream_xml(source() + ext_nugget + table(), [("0", "1"), ("1", "2")])
    with pytest.raises(UnsupportedMarkupError, match=f"node 'y' \\(CFApplyModelNode, id 1\\) cannot be scored: "
                                                     f"its model is {what}, not PMML"):
        _load(archive({"s.xml": xml, "data/0001.dat": b"\x80\x04pickled model"}))


ADP_PMML = """<?xml version="1.0" encoding="UTF-8"?><PMML version="4.2" xmlns="http://www.dmg.org/PMML-4_2">
<DataDictionary numberOfFields="2">
<DataField name="x1" dataType="double" optype="continuous"><Extension extender="spss.com"><UsageType value="disable"/>
</Extension></DataField>
<DataField name="x2" dataType="integer" optype="categorical"><Extension extender="spss.com"><UsageType value="enable"/>
</Extension><Value value="1"/><Value value="2"/></DataField>
</DataDictionary>
<TransformationDictionary>
<DerivedField name="x1_transformed" dataType="double" optype="continuous">
<Extension extender="spss.com"><UsageType value="enable"/></Extension>
<Apply function="/"><Apply function="-"><FieldRef field="x1"/><Constant>2</Constant></Apply>
<Constant>4</Constant></Apply>
</DerivedField>
<DerivedField name="x2_transformed" dataType="string" optype="categorical">
<Extension extender="spss.com"><UsageType value="enable"/></Extension>
<MapValues outputColumn="out" dataType="string"><FieldColumnPair field="x2" column="in"/>
<InlineTable><row><in>1</in><out>one</out></row><row><in>2</in><out>two</out></row></InlineTable></MapValues>
</DerivedField>
<DerivedField name="unused" dataType="double" optype="continuous">
<Extension extender="spss.com"><UsageType value="disable"/></Extension><FieldRef field="x1"/>
</DerivedField>
</TransformationDictionary></PMML>"""


def test_auto_data_prep_appends_its_enabled_derived_fields_and_drops_disabled_ones() -> None:
    from xml.sax.saxutils import quoteattr

    from ._build import node

    adp = node("1", "AutoDataPrepNode", name="Auto Data Prep", attrs=f"analysisPmml={quoteattr(ADP_PMML)}")
    xml = stream_xml(source(drop="y") + adp + table(), [("0", "1"), ("1", "2")])
    model = _load(archive({"s.xml": xml}))
    reply = model.score_tables([RowTable(["x1", "x2"], [[6.0, 1], [None, 2], [2.0, 3]])])
    assert reply.header == ["x2", "x1_transformed", "x2_transformed"]
    assert reply.data == [[1, 1.0, "one"], [2, None, "two"], [3, 0.0, None]]


def test_two_sources_with_one_name_are_refused() -> None:
    from ._build import node

    append = node("5", "AppendNode", name="Append", props="<appendMode>name</appendMode>")
    nodes = source("0", "same", drop="y") + source("3", "same", drop="y") + append + nugget() + table()
    xml = stream_xml(nodes, [("0", "5"), ("3", "5"), ("5", "1"), ("1", "2")])
    with pytest.raises(DocumentError, match=r"id 0\) and node 'same' .*id 3\) are both input table 'same'"):
        _load(archive({"s.xml": xml, "data/0001.dat": REGRESSION_PMML}))


@pytest.mark.parametrize(("storage", "cells", "expected"), [
    ("real", [1, "2.5", None, ""], [1.0, 2.5, None, None]),
    ("integer", ["7", 8, None], [7, 8, None]),
    ("string", ["a", 3, "", None], ["a", "3", None, None]),
    ("date", ["2012-01-29", None], ["2012-01-29", None]),
    ("timestamp", ["1970-01-02 00:00:01", "2000-01-01T12:00:00"], ["1970-01-02 00:00:01", "2000-01-01 12:00:00"]),
    ("time", ["12:30:05", ""], ["12:30:05", None]),
])
def test_request_cells_become_columns_of_their_storage_and_back(storage: str, cells: list[object],
                                                                expected: list[object]) -> None:
    f = SpssField("f", storage)
    assert python_values(f, convert_column(f, cells)) == expected


@pytest.mark.parametrize(("storage", "cell", "message"), [
    ("real", "abc", r"expects a number, got 'abc' \(row 1\)"),
    ("real", True, "expects a number, got True"),
    ("date", "29/01/2012", r"expects a date \(YYYY-MM-DD\)"),
    ("time", "noon", r"expects a time \(HH:MM:SS\)"),
    ("string", [1], "expects a string"),
])
def test_bad_cells_name_the_field_and_row(storage: str, cell: object, message: str) -> None:
    with pytest.raises(DataError, match=message):
        convert_column(SpssField("f", storage), [cell])


def test_two_nuggets_in_a_row_append_their_numbered_outputs() -> None:
    """Modeler numbers the prefixes of several nuggets ($L1-y, $L2-y); each appends its own columns."""
    nodes = source(drop="y") + nugget("1", outputs="$L1-y") + nugget("4", outputs="$L2-y") + table()
    xml = stream_xml(nodes, [("0", "1"), ("1", "4"), ("4", "2")])
    model = _load(archive({"s.xml": xml, "data/0001.dat": REGRESSION_PMML}))
    reply = model.score_tables([RowTable(["x1", "x2"], [[1, 2]])])
    assert reply == RowTable(["x1", "x2", "$L1-y", "$L2-y"], [[1.0, 2, 2.5, 2.5]])


def test_without_declared_terminal_a_chain_of_nuggets_is_one_branch() -> None:
    nodes = source(drop="y") + nugget("1", outputs="$L1-y") + nugget("4", outputs="$L2-y") + table()
    xml = stream_xml(nodes, [("0", "1"), ("1", "4"), ("4", "2")], terminal="")
    model = _load(archive({"s.xml": xml, "data/0001.dat": REGRESSION_PMML}))
    assert [f.name for f in model.reply_fields] == ["x1", "x2", "$L1-y", "$L2-y"]


# -- a source's Types tab follows the Type node's rules --------------------------------------------

def _source_with_types_tab(rows: str) -> bytes:
    fields = field("x1", "real") + field("x2", "integer") + field("y", "real")
    src = node("0", "DelimitedFileImportNode", name="Var. File", label="scoreInput",
               props=f"<typeTable><rows>{rows}</rows></typeTable>", body=f"<importedFields>{fields}</importedFields>")
    xml = stream_xml(src + nugget() + table(), [("0", "1"), ("1", "2")])
    return archive({"made.xml": xml, "data/0001.dat": REGRESSION_PMML})


def test_source_types_tab_declares_measure_and_role_of_its_fields() -> None:
    """A row-level measure and a direction on a source's Types tab reach the stream's input schema."""
    row = "<row><name>x2</name><measure>flag</measure><direction>both</direction></row>"
    model = _load(_source_with_types_tab(row))
    x2 = next(f for f in model.source_fields if f.name == "x2")
    assert (x2.measure, x2.role) == ("flag", "both")


def test_source_types_tab_with_an_unknown_role_is_refused() -> None:
    """An unknown direction on a source's Types tab is refused as on a Type node."""
    with pytest.raises(DocumentError, match=r"field 'x1' has the unknown role \(direction\) 'sideways'"):
        _load(_source_with_types_tab("<row><name>x1</name><direction>sideways</direction></row>"))


# -- errors="collect": a bad record fails alone ----------------------------------------------------

def test_collect_scores_the_good_rows_and_returns_each_bad_rows_error() -> None:
    """With errors="collect" a record with an unreadable cell gets missing results and its own error."""
    scored = _load(simple_stream()).score({"x1": [1.0, 2.0, 3.0, 4.0], "x2": [2, "abc", 4, "2.5"]},
                                          errors="collect")
    assert scored.n_rows == 4
    assert sorted(scored.errors) == [1, 3]
    assert scored.errors[1].field == "x2"
    assert "got 'abc' (row 2)" in str(scored.errors[1])
    assert scored.errors[3].row == 3
    assert scored["$L-y"][0] == pytest.approx(1.5 + 2 - 1)
    assert scored["$L-y"][2] == pytest.approx(1.5 + 6 - 2)
    assert np.isnan(scored["$L-y"][1])
    assert np.isnan(scored["$L-y"][3])


def test_raise_stops_at_the_first_bad_row_as_before() -> None:
    """With errors="raise" (the default) the first unreadable cell raises, naming field and row."""
    with pytest.raises(DataError, match=r"field 'x2' \(integer\) expects a number, got 'abc' \(row 2\)"):
        _load(simple_stream()).score({"x1": [1.0, 2.0], "x2": [2, "abc"]})


def test_collect_without_bad_rows_equals_raise() -> None:
    """Collecting changes nothing for a batch whose records are all readable."""
    model = _load(simple_stream())
    columns = {"x1": [1.0, -2.5, 3.0], "x2": [2, 0, None]}
    collected, raised = model.score(columns, errors="collect"), model.score(columns)
    assert collected.errors == {}
    np.testing.assert_allclose(collected["$L-y"], raised["$L-y"], rtol=1e-12, equal_nan=True)
