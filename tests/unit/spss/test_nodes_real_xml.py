"""The node compilers on the real node XML of the shared sample streams, decoded by pmserve's
Fast Infoset reader: every node compiled against the fields that truly reach it (the branch
compiled from its source), then run on a few records whose results are worked out by hand."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pytest
from tests.spss._streams import stream_bytes

from pmserve.errors import DocumentError
from pmserve.formats.spss._archive import read_archive
from pmserve.formats.spss._fastinfoset import decode
from pmserve.formats.spss._limits import StreamLimits
from pmserve.formats.spss._loader import NODE_COMPILERS
from pmserve.formats.spss._model import CompiledNode, StreamContext, Table
from pmserve.formats.spss._stream import Stream, read_stream
from pmserve.formats.spss.nodes import compile_node

from ._node_xml import fields, table, values


def _stream(name: str) -> Stream:
    """A shared sample stream decoded (the test skips when ../shared is absent)."""
    limits = StreamLimits()
    archive = read_archive(name, stream_bytes(name), limits)
    return read_stream(archive, decode(archive.xml, limits.fast_infoset()))


def _compile_to(stream: Stream, node_id: str) -> dict[str, CompiledNode]:
    """The node and everything upstream of it, compiled source first, as the loader does."""
    context = StreamContext(stream.properties, stream.blobs)
    compiled: dict[str, CompiledNode] = {}
    order: list[str] = []
    pending = [node_id]
    while pending:  # upstream closure, then compile in an order where inputs come first
        current = pending.pop()
        if current in order:
            continue
        order.append(current)
        pending.extend(stream.upstream(current))
    remaining = list(reversed(order))
    while remaining:
        for nid in remaining:
            ups = stream.upstream(nid)
            if all(u in compiled for u in ups):
                node = stream.node(nid)
                inputs = [compiled[u].output_fields for u in ups]
                # sources come from the loader's registry; every other node from this package's
                compiler = compile_node if ups else NODE_COMPILERS[node.class_name]
                compiled[nid] = compiler(node, inputs, context)
                remaining.remove(nid)
                break
    return compiled


def _run(compiled: Mapping[str, CompiledNode], stream: Stream, path: Sequence[str], data: Table) -> Table:
    """Run the nodes of a linear path (after its source) on a table."""
    out = data
    for nid in path:
        out = compiled[nid].run([out])
    return out


def test_example_regression_gbt_derive_filter_type_partition_on_real_xml() -> None:
    """Var. File → Derive ``(G1 + G2 + G3)/3`` → Filter (drops G1-G3) → Type → Partition, as saved."""
    stream = _stream("example-regression-gbt.str")
    compiled = _compile_to(stream, "4")
    source = compiled["0"].output_fields
    names = [f.name for f in source]
    assert {"G1", "G2", "G3"} <= set(names)
    derived = compiled["1"].output_fields
    assert derived[-1].name == "Avg.Score"
    assert derived[-1].storage == "real"
    after_filter = [f.name for f in compiled["2"].output_fields]
    assert "G1" not in after_filter
    assert "Avg.Score" in after_filter
    typed = {f.name: f for f in compiled["3"].output_fields}
    assert typed["Avg.Score"].measure == "range"
    assert typed["Avg.Score"].values == pytest.approx((1.3333333333333333, 19.333333333333332))
    rows: dict[str, list[Any]] = {f.name: [None, None] for f in source}
    rows.update({"G1": [10, 5], "G2": [11, None], "G3": [15, 7]})
    out = _run(compiled, stream, ["1", "2", "3", "4"], table(source, rows))
    got = values(out, "Avg.Score")
    assert got[0] == pytest.approx(12.0)
    assert got[1] is None  # $null$ in a sum is $null$
    assert [f.name for f in out.fields] == [f.name for f in compiled["4"].output_fields]


def test_example_regression_gbt_select_on_the_partition_field_is_refused() -> None:
    """At scoring Partition adds no field, so the 'Testing' Select that reads it is refused by name."""
    stream = _stream("example-regression-gbt.str")
    with pytest.raises(DocumentError, match=r"node 'Testing' \(SelectNode, id 5\).*field 'Partition'"):
        _compile_to(stream, "5")


def test_example_regression_gbt_mean_n_derive_on_real_xml() -> None:
    """``mean_n([G1,G2,G3])`` ignores $null$ values."""
    stream = _stream("example-regression-gbt.str")
    compiled = _compile_to(stream, "8")
    source = compiled["7"].output_fields
    rows: dict[str, list[Any]] = {f.name: [None, None] for f in source}
    rows.update({"G1": [10, None], "G2": [11, 4], "G3": [15, 8]})
    out = compiled["8"].run([table(source, rows)])
    name = compiled["8"].output_fields[-1].name
    assert values(out, name) == pytest.approx([12.0, 6.0])


def test_catalog_timeseries_select_and_filter_on_real_xml() -> None:
    """``'$TI_Future'= 1`` keeps the future records; the Filter drops $TI_Future and names absent here."""
    stream = _stream("catalog_timeseries.str")
    node_select, node_filter = stream.node("6"), stream.node("7")
    incoming = fields(**{"men": "real", "$TI_Future": "integer", "$TS-men": "real", "$TSLCI-men": "real"})
    context = StreamContext(stream.properties, stream.blobs)
    select = compile_node(node_select, [incoming], context)
    filt = compile_node(node_filter, [select.output_fields], context)
    assert [f.name for f in filt.output_fields] == ["$TS-men", "$TSLCI-men"]  # men and $TI_Future dropped
    data = table(incoming, {"men": [1.0, 2.0, None, None], "$TI_Future": [0, 0, 1, 1],
                            "$TS-men": [1.5, 2.5, 3.5, 4.5], "$TSLCI-men": [1.0, 2.0, 3.0, 4.0]})
    out = filt.run([select.run([data])])
    assert out.n_rows == 2
    assert values(out, "$TS-men") == [3.5, 4.5]


def test_db2_append_and_type_on_real_xml() -> None:
    """Two database sources appended by name (main fields only), then the Type node's metadata."""
    stream = _stream("db2-customer-satisfaction-prediction.str")
    compiled = _compile_to(stream, "3")
    first, second = compiled["0"].output_fields, compiled["1"].output_fields
    appended = compiled["2"].output_fields
    assert [f.name for f in appended] == [f.name for f in first]
    typed = {f.name: f for f in compiled["3"].output_fields}
    assert typed["Churn"].role == "out"
    assert typed["Contract"].values == ("Month-to-month", "One year", "Two year")
    rows_a: dict[str, list[Any]] = {f.name: [None] for f in first}
    rows_b: dict[str, list[Any]] = {f.name: [None, None] for f in second}
    key = next(f.name for f in first if f.storage == "string")
    rows_a[key], rows_b[key] = ["a"], ["b", None]
    out = compiled["2"].run([table(first, rows_a), table(second, rows_b)])
    assert out.n_rows == 3
    assert values(out, key) == ["a", "b", None]
