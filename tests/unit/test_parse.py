"""Parsing: hardening, errors with lines, and the bulk Node tables giving what lxml gives."""

from __future__ import annotations

import dataclasses
import gzip
import io
from typing import Any

import numpy as np
import pytest

from pmserve.errors import DocumentProblems, InvalidMarkupError
from pmserve.pmml import load
from pmserve.pmml.compiler import ModelEnv, compile_document
from pmserve.pmml.document import node_table as node_table_module
from pmserve.pmml.document import parse as _parse
from pmserve.pmml.document.element import Element
from pmserve.pmml.document.node_table import NodeHierarchy
from pmserve.pmml.document.parse import parse, read_bytes
from pmserve.pmml.document.problems import Problems
from pmserve.pmml.expressions.transformations import ExpressionCompiler
from pmserve.pmml.fields.schema import Scope, parse_data_field, parse_mining_schema
from pmserve.pmml.model import Model
from pmserve.pmml.trees.bulk import node_table
from pmserve.pmml.trees.flat import FlatTree
from pmserve.pmml.trees.nodes import compile_flat

MINIMAL = b"""<?xml version="1.0"?>
<PMML xmlns="http://www.dmg.org/PMML-4_4" version="4.4">
  <Header/>
  <DataDictionary numberOfFields="1"><DataField name="x" optype="continuous" dataType="double"/></DataDictionary>
</PMML>
"""


def canonical(el: Element) -> tuple[Any, ...]:
    """An element and its descendants as plain tuples (a NodeHierarchy builds its children here)."""
    return (el.tag, dict(el.attrs), tuple(canonical(c) for c in el.children), el.text, el.line)


def forest(trees: int = 3, seed: int = 1, *, node_attrs: str = "", field_type: str = "double",
           function: str = "classification", leaf_extra: str = "", newline: str = "\n") -> bytes:
    """A small seeded forest in sklearn2pmml's shape: binary numeric splits, distributions at leaves."""
    rng = np.random.default_rng(seed)
    target = ('<DataField name="y" optype="categorical" dataType="string"><Value value="a"/><Value value="b"/>'
              "</DataField>" if function == "classification" else
              '<DataField name="y" optype="continuous" dataType="double"/>')
    out = ['<?xml version="1.0" encoding="UTF-8"?>', '<PMML xmlns="http://www.dmg.org/PMML-4_4" version="4.4">',
           "<Header/>", "<DataDictionary>", target]
    out += [f'<DataField name="x{i}" optype="continuous" dataType="{field_type}"/>' for i in range(3)]
    out += ["</DataDictionary>", f'<MiningModel functionName="{function}">', "<MiningSchema>",
            '<MiningField name="y" usageType="target"/>']
    out += [f'<MiningField name="x{i}"/>' for i in range(3)]
    out += ["</MiningSchema>", '<Segmentation multipleModelMethod="average">']

    def node(depth: int, predicate: str, ident: int) -> None:
        leaf = depth == 3 or rng.random() < 0.2
        if leaf:
            a, b = int(rng.integers(0, 9)), int(rng.integers(1, 9))
            score = ("a" if a > b else "b") if function == "classification" else repr(round(rng.normal(), 4))
            out.append(f'<Node id="n{ident}" score="{score}" recordCount="{a + b}"{node_attrs}>')
            out.append(predicate)
            if function == "classification":
                out.append(f'<ScoreDistribution value="a" recordCount="{a}"{leaf_extra}/>')
                out.append(f'<ScoreDistribution value="b" recordCount="{b}"/>')
            out.append("</Node>")
            return
        out.append(f"<Node{node_attrs}>")
        out.append(predicate)
        field, split = f"x{rng.integers(0, 3)}", repr(round(float(rng.normal()), 5))
        node(depth + 1, f'<SimplePredicate field="{field}" operator="lessOrEqual" value="{split}"/>', ident * 2)
        node(depth + 1, f'<SimplePredicate field="{field}" operator="greaterThan" value="{split}"/>', ident * 2 + 1)
        out.append("</Node>")

    for t in range(trees):
        out += [f'<Segment id="{t + 1}">', "<True/>",
                f'<TreeModel functionName="{function}" splitCharacteristic="binarySplit">', "<MiningSchema>"]
        out += [f'<MiningField name="x{i}"/>' for i in range(3)]
        out.append("</MiningSchema>")
        node(0, "<True/>", 1)
        out += ["</TreeModel>", "</Segment>"]
    out += ["</Segmentation>", "</MiningModel>", "</PMML>", ""]
    return newline.join(out).encode()


def hierarchies(root: Element) -> list[Element]:
    return [t.find("Node") for t in root.iter() if t.tag == "TreeModel"]  # type: ignore[misc]


# -- hardening -----------------------------------------------------------------------------------------


def test_a_dtd_is_refused() -> None:
    """A document type declaration (and so every entity) is refused."""
    doc = b'<?xml version="1.0"?>\n<!DOCTYPE PMML [<!ENTITY e "x">]>\n<PMML version="4.4"><Header/></PMML>'
    with pytest.raises(InvalidMarkupError, match="declares a DTD"):
        parse(doc)


def test_an_entity_expansion_bomb_is_refused_without_expanding() -> None:
    """The billion laughs document is refused, not expanded."""
    entities = "".join(f'<!ENTITY l{i} "{("&l" + str(i - 1) + ";") * 10}">' for i in range(1, 10))
    doc = (f'<?xml version="1.0"?>\n<!DOCTYPE PMML [<!ENTITY l0 "lol">{entities}]>\n'
           f'<PMML version="4.4"><Header description="&l9;"/></PMML>').encode()
    with pytest.raises(InvalidMarkupError, match=r"(not well-formed XML: .*[Ee]ntit)|(declares a DTD)"):
        parse(doc)


def test_an_external_entity_is_never_read(tmp_path: Any) -> None:
    """An external entity naming a local file is refused and the file is not read into the document."""
    secret = tmp_path / "secret.txt"
    secret.write_text("top secret")
    doc = (f'<?xml version="1.0"?>\n<!DOCTYPE PMML [<!ENTITY s SYSTEM "file://{secret}">]>\n'
           f'<PMML version="4.4"><Header description="&s;"/></PMML>').encode()
    with pytest.raises(InvalidMarkupError, match=r"(external entity 's')|(declares a DTD)") as info:
        parse(doc)
    assert "top secret" not in str(info.value)


def test_not_well_formed_xml_is_reported_with_its_line() -> None:
    """A syntax error names the line it is on."""
    doc = b'<?xml version="1.0"?>\n<PMML version="4.4">\n<Header>\n</PMML>\n'
    with pytest.raises(InvalidMarkupError, match="not well-formed") as info:
        parse(doc)
    assert info.value.line == 4


def test_a_broken_node_hierarchy_is_reported_with_lxml_line() -> None:
    """An error inside a tree's Nodes is reported at the line lxml finds it, bulk scan or not."""
    lines = forest(1).decode().split("\n")
    at = next(i for i, text in enumerate(lines) if text.startswith("<Node") and i > 20)
    lines[at] = lines[at].replace("<Node", "<Node broken", 1)
    doc = "\n".join(lines).encode()
    with pytest.raises(InvalidMarkupError, match="not well-formed") as info:
        parse(doc)
    assert info.value.line == at + 1


def test_a_document_of_another_root_is_refused() -> None:
    """The root element must be PMML."""
    with pytest.raises(InvalidMarkupError, match=r"expected a PMML document.*'html'"):
        parse(b"<html><body/></html>")


@pytest.mark.parametrize("doc", [b"", b"  \n\t "])
def test_an_empty_document_is_refused(doc: bytes) -> None:
    """Nothing (or only whitespace) is not a PMML document."""
    with pytest.raises(InvalidMarkupError, match="empty"):
        parse(doc)


def test_a_gzip_compressed_document_reads_as_the_plain_one() -> None:
    """gzip is undone before parsing."""
    doc = forest(2)
    assert canonical(parse(gzip.compress(doc))) == canonical(parse(doc))


def test_a_corrupt_gzip_document_is_refused() -> None:
    """A truncated gzip stream is reported as such."""
    with pytest.raises(InvalidMarkupError, match="cannot be decompressed"):
        read_bytes(gzip.compress(MINIMAL)[:20])


def test_a_document_above_the_size_limit_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    """The size limit applies to the uncompressed document (a gzip bomb stops at the limit)."""
    monkeypatch.setattr(_parse, "MAX_DOCUMENT_BYTES", 1000)
    with pytest.raises(InvalidMarkupError, match="larger than"):
        read_bytes(gzip.compress(b" " * 5000 + MINIMAL))


def test_a_text_file_object_is_refused() -> None:
    """Only binary file objects are read."""
    with pytest.raises(InvalidMarkupError, match="binary file object"):
        read_bytes(io.StringIO("<PMML/>"))  # type: ignore[arg-type]


# -- bulk Node tables ----------------------------------------------------------------------------------


@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_bulk_read_hierarchies_equal_the_lxml_elements(newline: str) -> None:
    """Every TreeModel's Nodes are read in bulk and build the very Elements lxml gives."""
    doc = forest(4, newline=newline)
    bulk = parse(doc)
    assert all(isinstance(n, NodeHierarchy) for n in hierarchies(bulk))
    assert canonical(bulk) == canonical(parse(doc, bulk=False))


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ('value="a"', 'value="a&amp;b"'),  # an entity
        ('value="a"', "value='a'"),  # single quotes
        ("<True/>", "<True/><!-- a comment -->"),
        ("<True/>", "<True/><Extension name='x'/>"),
        ('recordCount="', 'weight="1" recordCount="'),  # an attribute outside the subset
        ('<Node id="', '<Node\nid="'),  # a tag over two lines
        ('value="a"', 'value="a\tb"'),  # a tab that XML reads as a space
        ("<True/>", "<CompoundPredicate booleanOperator=\"and\"><True/><True/></CompoundPredicate>"),
        ('value="a"', 'value="\xe4"'),  # non-ASCII text (still read in bulk)
        ('<Node id="', '<Node  id="'),  # two spaces (still read in bulk)
    ],
)
def test_hierarchies_outside_the_subset_read_the_same(old: str, new: str) -> None:
    """Markup outside the bulk subset is left to lxml; the Elements are the same either way."""
    doc = forest(2).decode().replace(old, new).encode()
    assert canonical(parse(doc)) == canonical(parse(doc, bulk=False))


def test_a_document_naming_the_stand_in_tag_is_read_element_by_element() -> None:
    """A document that uses the parser's stand-in tag name is never read in bulk."""
    doc = forest(1).replace(b"<Header/>", b"<Header><pmserve-node-table n=\"0\"/></Header>")
    root = parse(doc)
    assert not any(isinstance(n, NodeHierarchy) for n in hierarchies(root))
    assert canonical(root) == canonical(parse(doc, bulk=False))


def test_a_node_hierarchy_inside_a_comment_is_not_taken_for_one() -> None:
    """A commented-out TreeModel stays a comment."""
    doc = forest(1)
    start, end = doc.find(b"<Segment "), doc.find(b"</Segment>") + len(b"</Segment>")
    doc = doc[:start] + b"<!--" + doc[start:end].replace(b"--", b"") + b"-->" + doc[start:]
    assert canonical(parse(doc)) == canonical(parse(doc, bulk=False))


def test_a_node_table_lists_kinds_owners_lines_and_attributes() -> None:
    """The table's rows, owners, lines and attribute texts are those of the document."""
    doc = forest(1)
    root = parse(doc)
    hierarchy = hierarchies(root)[0]
    assert isinstance(hierarchy, NodeHierarchy)
    table = hierarchy.table
    elements = [hierarchy] + [e for e in hierarchy.iter() if e is not hierarchy]
    flat: list[tuple[Element, int]] = []

    def walk(el: Element, owner: int) -> None:
        row = len(flat)
        flat.append((el, owner))
        for c in el.children:
            walk(c, row)

    walk(hierarchy, -1)
    assert len(flat) == len(table.kind) == len(elements)
    assert [node_table_module.NODE_TABLE_TAGS[k] for k in table.kind.tolist()] == [e.tag for e, _ in flat]
    assert table.owner.tolist() == [o for _, o in flat]
    assert table.lines.tolist() == [e.line for e, _ in flat]
    table.release()  # a released table scans its bytes again when used
    assert table.owner.tolist() == [o for _, o in flat]
    rows = np.arange(len(flat))
    for attr in node_table_module.NODE_TABLE_ATTRS:
        texts = table.texts(rows, attr).tolist()
        assert texts == [e.get(attr, "").encode() for e, _ in flat]
        assert table.present(rows, attr).tolist() == [attr in e.attrs for e, _ in flat]


# -- compiled trees ----------------------------------------------------------------------------------


def _flat_trees(doc: bytes, bulk: bool) -> list[FlatTree]:
    root = parse(doc, bulk=bulk)
    problems = Problems()
    scope = Scope()
    dictionary = root.find("DataDictionary")
    assert dictionary is not None
    for df in dictionary.findall("DataField"):
        scope.add(parse_data_field(df, problems))
    out = []
    for tree_el in (t for t in root.iter() if t.tag == "TreeModel"):
        assert (node_table(tree_el) is not None) == bulk
        mining = parse_mining_schema(tree_el.find("MiningSchema"), scope, problems)
        env = ModelEnv(tree_el, tree_el.get("functionName", ""), ExpressionCompiler(scope, problems), mining, None,
                       problems)
        flat = compile_flat(tree_el, env)
        assert flat is not None
        out.append(flat)
    assert not problems
    return out


@pytest.mark.parametrize("field_type", ["double", "float"])
@pytest.mark.parametrize("node_attrs", ["", ' x="1"'])
def test_bulk_compiled_trees_equal_the_element_compiled_ones(field_type: str, node_attrs: str) -> None:
    """compile_flat gives the same FlatTree from a Node table as from Elements."""
    doc = forest(3, seed=7, field_type=field_type).decode()
    if node_attrs:  # an attribute outside the subset: that tree is read element by element
        doc = doc.replace("<Node>", f"<Node{node_attrs}>", 1)
    raw = doc.encode()
    root = parse(raw)
    bulk_read = [node_table(t) is not None for t in root.iter() if t.tag == "TreeModel"]
    assert bulk_read == ([False, True, True] if node_attrs else [True, True, True])
    if node_attrs:
        return
    for a, b in zip(_flat_trees(raw, True), _flat_trees(raw, False), strict=True):
        for f in dataclasses.fields(FlatTree):
            x, y = getattr(a, f.name), getattr(b, f.name)
            if f.name == "columns":
                assert [c.name for c in x] == [c.name for c in y]
            elif isinstance(x, np.ndarray):
                np.testing.assert_array_equal(x, y, err_msg=f.name)
            else:
                assert tuple(x) == tuple(y) if isinstance(x, tuple) else x == y, f.name


@pytest.mark.parametrize(
    ("function", "leaf_extra"),
    [("classification", ""), ("classification", ' confidence="0.5"'), ("regression", "")],
)
def test_bulk_compiled_models_score_as_element_compiled_ones(function: str, leaf_extra: str) -> None:
    """Whole forests score the same (values, probabilities, entity ids) on either path."""
    doc = forest(5, seed=3, function=function, leaf_extra=leaf_extra)
    rng = np.random.default_rng(11)
    data: dict[str, Any] = {f"x{i}": rng.normal(size=60) for i in range(3)}
    data["x1"] = np.where(rng.random(60) < 0.2, np.nan, data["x1"])
    fast = Model(compile_document(parse(doc), doc)).score(data, errors="collect")
    slow = Model(compile_document(parse(doc, bulk=False), doc)).score(data, errors="collect")
    assert list(fast) == list(slow)
    for name in fast:
        got, want = fast[name], slow[name]
        if got.dtype.kind == "f":
            np.testing.assert_allclose(got, want, rtol=0, atol=0, equal_nan=True)
        else:
            assert got.tolist() == want.tolist()
    assert fast.errors.keys() == slow.errors.keys()


def test_a_tree_the_bulk_compiler_declines_is_reported_as_before() -> None:
    """An invalid tree read in bulk is compiled element by element, which names the problem and line."""
    doc = forest(1).replace(b'operator="lessOrEqual"', b'operator="lessOrEqualish"', 1)
    line = doc[:doc.find(b"lessOrEqualish")].count(b"\n") + 1
    with pytest.raises(DocumentProblems, match=f"line {line}\\): operator must be one of .*'lessOrEqualish'"):
        load(doc)


def test_a_tree_without_attributes_compiles_from_its_table() -> None:
    """Nodes with no attribute at all (no scores, no ids) still compile; rows then have no score."""
    doc = forest(1).decode()
    start, end = doc.find("<Node"), doc.find("</TreeModel>")
    bare = "<Node>\n<True/>\n<Node>\n<False/>\n</Node>\n<Node>\n<True/>\n</Node>\n</Node>\n"
    doc = (doc[:start] + bare + doc[end:]).encode()
    doc = doc.replace(b'functionName="classification"', b'functionName="regression"').replace(
        b'<DataField name="y" optype="categorical" dataType="string"><Value value="a"/><Value value="b"/>'
        b"</DataField>", b'<DataField name="y" optype="continuous" dataType="double"/>')
    (fast,), (slow,) = _flat_trees(doc, True), _flat_trees(doc, False)
    assert fast.ids == slow.ids == ("1", "2", "3")
    np.testing.assert_array_equal(fast.has_score, [False, False, False])
    np.testing.assert_array_equal(fast.nd, slow.nd)
