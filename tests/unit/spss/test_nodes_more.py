"""Append (several inputs), Filler and Reclassify, on hand-built node XML.
Append's shape is the one db2-customer-satisfaction-prediction.str writes; Filler's and
Reclassify's property names are unverified (no sample has them)."""

from __future__ import annotations

import pytest

from pmserve.errors import DataError, DocumentError
from pmserve.formats.spss._model import Node
from pmserve.formats.spss.nodes import compile_node

from ._node_xml import CONTEXT, fields, make_node, table, values

APPEND = """<tagTable><tagNames><tag id="2"><name>second</name></tag><tag id="1"><name>first</name></tag>
</tagNames><lastTagName>2</lastTagName></tagTable><appendIncludeTag>{tag}</appendIncludeTag>
<appendIncludeAllFields>{all}</appendIncludeAllFields><appendMatchCase>{case}</appendMatchCase>
<appendMode>{mode}</appendMode><appendTagField>Input</appendTagField>"""


def _append(mode: str = "name", all_fields: bool = False, case: bool = False, tag: bool = False) -> Node:
    return make_node("AppendNode", APPEND.format(mode=mode, all=str(all_fields).lower(), case=str(case).lower(),
                                                 tag=str(tag).lower()))


A = fields(id="integer", name="string", score="real")
B = fields(NAME="string", id="real", extra="string")
TA = table(A, {"id": [1, 2], "name": ["a", "b"], "score": [0.5, 0.25]})
TB = table(B, {"NAME": ["c"], "id": [3.5], "extra": ["x"]})


def test_append_by_name_keeps_main_fields_and_fills_missing_with_null() -> None:
    """Fields of the first input, matched by name without case; absent ones are $null$."""
    compiled = compile_node(_append(), [A, B], CONTEXT)
    assert [(f.name, f.storage) for f in compiled.output_fields] == [
        ("id", "real"), ("name", "string"), ("score", "real")]  # integer + real = real
    out = compiled.run([TA, TB])
    assert out.n_rows == 3
    assert values(out, "id") == [1.0, 2.0, 3.5]
    assert values(out, "name") == ["a", "b", "c"]
    assert values(out, "score") == [0.5, 0.25, None]


def test_append_with_case_and_all_fields_adds_unmatched_fields() -> None:
    """Matching with case leaves NAME unmatched; all fields appends NAME and extra after the main ones."""
    compiled = compile_node(_append(all_fields=True, case=True), [A, B], CONTEXT)
    assert [f.name for f in compiled.output_fields] == ["id", "name", "score", "NAME", "extra"]
    out = compiled.run([TA, TB])
    assert values(out, "name") == ["a", "b", None]
    assert values(out, "NAME") == [None, None, "c"]
    assert values(out, "extra") == [None, None, "x"]


def test_append_by_position_and_tag_field() -> None:
    """Position mode pairs the j-th fields; the tag field names each record's input by its tag."""
    c = fields(k="integer", s="string")
    compiled = compile_node(_append(mode="position", tag=True), [c, c], CONTEXT)
    assert [f.name for f in compiled.output_fields] == ["k", "s", "Input"]
    out = compiled.run([table(c, {"k": [1], "s": ["p"]}), table(c, {"k": [2, 3], "s": ["q", None]})])
    assert values(out, "k") == [1.0, 2.0, 3.0]
    assert values(out, "Input") == ["first", "second", "second"]


def test_append_refuses_a_string_appended_to_a_number() -> None:
    """Storages that cannot share a column are a document error naming node and field."""
    s = fields(id="string")
    with pytest.raises(DocumentError, match=r"node 'Append' \(AppendNode, id 7\) appends field 'id'"):
        compile_node(_append(), [A, s], CONTEXT)


def test_append_refuses_a_wrong_number_of_tables_at_run_time() -> None:
    """The request must carry one table per input."""
    compiled = compile_node(_append(), [A, B], CONTEXT)
    with pytest.raises(DataError, match="appends 2 inputs, got 1 tables"):
        compiled.run([TA])


F = fields(Age="integer", Drug="string", Na="real")
DATA = table(F, {"Age": [20, None, 70], "Drug": ["a", None, "c"], "Na": [0.5, None, 2.0]})


def _filler(fields_: list[str], mode: str, replace_with: str, condition: str = "") -> Node:
    items = "".join(f"<field>{f}</field>" for f in fields_)
    return make_node("FillerNode", f"<fillerFields>{items}</fillerFields><fillerReplaceMode>{mode}</fillerReplaceMode>"
                     f"<fillerCondition>{condition}</fillerCondition><fillerReplaceWith>{replace_with}</fillerReplaceWith>")


def test_filler_replaces_nulls_with_an_expression_per_field() -> None:
    """Null mode fills $null$ values; @FIELD is each filled field."""
    compiled = compile_node(_filler(["Age", "Na"], "Null", "0"), [F], CONTEXT)
    out = compiled.run([DATA])
    assert values(out, "Age") == [20.0, 0.0, 70.0]
    assert values(out, "Na") == [0.5, 0.0, 2.0]
    assert compiled.output_fields[2].storage == "real"


def test_filler_conditional_and_always() -> None:
    """Conditional replaces where the condition holds; Always replaces every value and may change storage."""
    cond = compile_node(_filler(["Age"], "Conditional", "@FIELD - 1", "@FIELD &gt; 50"), [F], CONTEXT)
    assert values(cond.run([DATA]), "Age") == [20.0, None, 69.0]
    always = compile_node(_filler(["Age"], "Always", "to_string(@FIELD)"), [F], CONTEXT)
    assert always.output_fields[0].storage == "string"
    assert values(always.run([DATA]), "Age") == ["20", None, "70"]


def test_filler_with_undef_nulls_values_of_any_storage() -> None:
    """``undef`` gives the field's own missing value."""
    compiled = compile_node(_filler(["Drug"], "Conditional", "undef", 'Drug = "c"'), [F], CONTEXT)
    assert compiled.output_fields[1].storage == "string"
    assert values(compiled.run([DATA]), "Drug") == ["a", None, None]


def test_filler_refuses_a_number_for_a_string_field_and_absent_properties() -> None:
    """A replacement of another storage (not Always) and a node without fields are document errors."""
    with pytest.raises(DocumentError, match="fills string field 'Drug' with integer values"):
        compile_node(_filler(["Drug"], "Null", "0"), [F], CONTEXT)
    with pytest.raises(DocumentError, match="names no fields to fill"):
        compile_node(make_node("FillerNode", ""), [F], CONTEXT)
    with pytest.raises(DocumentError, match="fills field 'Sex', which does not reach it"):
        compile_node(_filler(["Sex"], "Null", "0"), [F], CONTEXT)


RECLASSIFY = """<reclassifyMode>single</reclassifyMode><reclassifyField>Drug</reclassifyField>
<reclassifyReplaceField>{replace}</reclassifyReplaceField><reclassifyNewName>DrugGroup</reclassifyNewName>
<reclassifyUseDefault>{use_default}</reclassifyUseDefault><reclassifyDefault>{default}</reclassifyDefault>
<reclassifyTable><rows><row><oldValue>a</oldValue><newValue>AB</newValue></row>
<row><oldValue>b</oldValue><newValue>AB</newValue></row></rows></reclassifyTable>"""


def test_reclassify_into_a_new_field_keeping_unlisted_values() -> None:
    """Listed values map; others keep their value; $null$ stays $null$."""
    node = make_node("ReclassifyNode", RECLASSIFY.format(replace="false", use_default="false", default=""))
    compiled = compile_node(node, [F], CONTEXT)
    assert compiled.output_fields[-1].name == "DrugGroup"
    assert values(compiled.run([DATA]), "DrugGroup") == ["AB", None, "c"]


def test_reclassify_in_place_with_a_default() -> None:
    """Replacing the field itself; unlisted values (and $null$) take the default."""
    node = make_node("ReclassifyNode", RECLASSIFY.format(replace="true", use_default="true", default="other"))
    compiled = compile_node(node, [F], CONTEXT)
    assert [f.name for f in compiled.output_fields] == ["Age", "Drug", "Na"]
    assert values(compiled.run([DATA]), "Drug") == ["AB", "other", "other"]
