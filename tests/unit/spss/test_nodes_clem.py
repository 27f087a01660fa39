"""Select and Derive: the nodes that run CLEM, on node XML in the shape the sample streams use."""

from __future__ import annotations

import pickle

import pytest

from pmserve.errors import DocumentError, UnsupportedMarkupError
from pmserve.formats.spss._model import Node
from pmserve.formats.spss.nodes import compile_node

from ._node_xml import CONTEXT, fields, make_node, table, values

F = fields(Age="integer", Na="real", Drug="string", G1="integer", G2="integer", G3="integer")
DATA = table(F, {
    "Age": [23, 47, None, 61], "Na": [0.5, 0.75, 0.25, None], "Drug": ["drugA", "drugC", None, "drugC"],
    "G1": [10, 12, 8, None], "G2": [11, 14, 9, 7], "G3": [12, 16, 10, 9],
})


def _select(mode: str, condition: str) -> Node:
    return make_node("SelectNode", f"<selectMode>{mode}</selectMode><selectCondition>{condition}</selectCondition>")


def test_select_include_keeps_records_whose_condition_is_true() -> None:
    """Include keeps true records only; a $null$ condition does not select."""
    compiled = compile_node(_select("include", "Age &gt; 30"), [F], CONTEXT)
    out = compiled.run([DATA])
    assert out.n_rows == 2
    assert values(out, "Age") == [47.0, 61.0]
    assert compiled.output_fields == F


def test_select_discard_drops_true_and_null_records() -> None:
    """Discard drops the selected records, and a $null$ condition counts as selected (IBM's note)."""
    compiled = compile_node(_select("discard", "Drug = \"drugC\""), [F], CONTEXT)
    out = compiled.run([DATA])
    assert values(out, "Drug") == ["drugA"]


def test_select_with_the_sample_streams_condition() -> None:
    """``'$TI_Future' = 1`` as catalog_timeseries.str writes it."""
    f = fields(**{"$TI_Future": "integer", "men": "real"})
    compiled = compile_node(_select("include", "'$TI_Future' = 1"), [f], CONTEXT)
    out = compiled.run([table(f, {"$TI_Future": [0, 0, 1, 1], "men": [1.0, 2.0, 3.0, 4.0]})])
    assert values(out, "men") == [3.0, 4.0]


def test_select_refuses_an_unknown_field_naming_node_and_field() -> None:
    """A condition on a field that does not reach the node fails at deploy."""
    with pytest.raises(DocumentError, match=r"node 'Select' \(SelectNode, id 7\).*field 'Partition'") as info:
        compile_node(_select("include", 'Partition = "2_Testing"'), [F], CONTEXT)
    assert info.value.context["field"] == "Partition"


def test_select_without_condition_is_refused() -> None:
    """An empty condition is a document error naming the property."""
    with pytest.raises(DocumentError, match="selectCondition"):
        compile_node(_select("include", ""), [F], CONTEXT)


DERIVE_DEFAULTS = """<deriveFlagTrueValue>T</deriveFlagTrueValue><deriveFlagFalseValue>F</deriveFlagFalseValue>
<deriveMultipleExtensionName>_Derive1</deriveMultipleExtensionName>
<deriveMultipleExtensionPosition>suffix</deriveMultipleExtensionPosition><deriveMultipleFieldList/>
<deriveSetDefaultValue>default</deriveSetDefaultValue><deriveSetTable><rows/></deriveSetTable>
<deriveFormulaFieldMeasure>auto</deriveFormulaFieldMeasure>"""


def _derive(props: str) -> Node:
    return make_node("DeriveNode", props + DERIVE_DEFAULTS)


def test_derive_formula_as_example_regression_gbt_writes_it() -> None:
    """``(G1 + G2 + G3)/3`` gives a real field appended after the inputs; $null$ propagates."""
    node = _derive("<deriveMode>single</deriveMode><deriveType>formula</deriveType>"
                   "<deriveSingleFieldName>Avg.Score</deriveSingleFieldName>"
                   "<deriveFormulaExpression>(G1 + G2 + G3)/3</deriveFormulaExpression>")
    compiled = compile_node(node, [F], CONTEXT)
    assert [f.name for f in compiled.output_fields] == [*(f.name for f in F), "Avg.Score"]
    assert compiled.output_fields[-1].storage == "real"
    out = compiled.run([DATA])
    got = values(out, "Avg.Score")
    assert got[:3] == pytest.approx([11.0, 14.0, 9.0])
    assert got[3] is None


def test_derive_mean_n_ignores_nulls() -> None:
    """``mean_n([G1,G2,G3])`` averages the values present."""
    node = _derive("<deriveMode>single</deriveMode><deriveType>formula</deriveType>"
                   "<deriveSingleFieldName>m</deriveSingleFieldName>"
                   "<deriveFormulaExpression>mean_n([G1,G2,G3])</deriveFormulaExpression>")
    out = compile_node(node, [F], CONTEXT).run([DATA])
    assert values(out, "m") == pytest.approx([11.0, 14.0, 9.0, 8.0])


def test_derive_replaces_an_existing_field_in_place() -> None:
    """Deriving a field that exists keeps its position and changes its storage as the formula says."""
    node = _derive("<deriveMode>single</deriveMode><deriveType>formula</deriveType>"
                   "<deriveSingleFieldName>Age</deriveSingleFieldName>"
                   "<deriveFormulaExpression>to_string(Age)</deriveFormulaExpression>")
    compiled = compile_node(node, [F], CONTEXT)
    assert [f.name for f in compiled.output_fields] == [f.name for f in F]
    assert compiled.output_fields[0].storage == "string"
    assert values(compiled.run([DATA]), "Age") == ["23", "47", None, "61"]


def test_derive_multiple_with_field_and_prefix() -> None:
    """Multiple mode derives one field per listed field, ``@FIELD`` standing for it (testStream's shape)."""
    node = make_node("DeriveNode", "<deriveMode>multiple</deriveMode><deriveType>formula</deriveType>"
                     "<deriveMultipleFieldList><field>G1</field><field>G2</field></deriveMultipleFieldList>"
                     "<deriveMultipleExtensionName>C</deriveMultipleExtensionName>"
                     "<deriveMultipleExtensionPosition>prefix</deriveMultipleExtensionPosition>"
                     "<deriveFormulaExpression>@FIELD * 10</deriveFormulaExpression>")
    compiled = compile_node(node, [F], CONTEXT)
    assert [f.name for f in compiled.output_fields][-2:] == ["CG1", "CG2"]
    out = compiled.run([DATA])
    assert values(out, "CG1") == [100.0, 120.0, 80.0, None]
    assert values(out, "CG2") == [110.0, 140.0, 90.0, 70.0]


def test_derive_multiple_to_datetime_keeps_a_date_a_date() -> None:
    """``to_datetime(DATE)`` with suffix naming, as valid-17-1's Derive (prefix C) but suffixed."""
    f = fields(DATE="date", VALUE="real")
    node = make_node("DeriveNode", "<deriveMode>multiple</deriveMode><deriveType>formula</deriveType>"
                     "<deriveMultipleFieldList><field>DATE</field></deriveMultipleFieldList>"
                     "<deriveMultipleExtensionName>_x</deriveMultipleExtensionName>"
                     "<deriveMultipleExtensionPosition>suffix</deriveMultipleExtensionPosition>"
                     "<deriveFormulaExpression>to_datetime(DATE)</deriveFormulaExpression>")
    compiled = compile_node(node, [f], CONTEXT)
    assert compiled.output_fields[-1].name == "DATE_x"
    assert compiled.output_fields[-1].storage == "date"
    out = compiled.run([table(f, {"DATE": [15368.0, None], "VALUE": [1.1, 2.2]})])
    assert values(out, "DATE_x") == [15368.0, None]


def test_derive_multiple_refuses_a_listed_field_that_is_absent() -> None:
    """Every listed field must reach the node."""
    node = make_node("DeriveNode", "<deriveMode>multiple</deriveMode><deriveType>formula</deriveType>"
                     "<deriveMultipleFieldList><field>Date</field></deriveMultipleFieldList>"
                     "<deriveFormulaExpression>@FIELD</deriveFormulaExpression>")
    with pytest.raises(DocumentError, match="derives from field 'Date', which does not reach it"):
        compile_node(node, [F], CONTEXT)


def test_derive_flag_gives_true_or_false_value_and_null_is_false() -> None:
    """A flag derive is the true value where the condition holds, else the false value."""
    node = _derive("<deriveMode>single</deriveMode><deriveType>flag</deriveType>"
                   "<deriveSingleFieldName>old</deriveSingleFieldName>"
                   "<deriveFlagFieldCondition>Age &gt;= 47</deriveFlagFieldCondition>")
    compiled = compile_node(node, [F], CONTEXT)
    new = compiled.output_fields[-1]
    assert (new.storage, new.measure, new.values) == ("string", "flag", ("F", "T"))
    assert values(compiled.run([DATA]), "old") == ["F", "T", "F", "T"]


def test_derive_flag_with_numeric_values_is_an_integer_field() -> None:
    """Flag values 1 and 0 give integer storage."""
    node = make_node("DeriveNode", "<deriveMode>single</deriveMode><deriveType>flag</deriveType>"
                     "<deriveSingleFieldName>c</deriveSingleFieldName><deriveFlagTrueValue>1</deriveFlagTrueValue>"
                     "<deriveFlagFalseValue>0</deriveFlagFalseValue>"
                     "<deriveFlagFieldCondition>Drug = \"drugC\"</deriveFlagFieldCondition>")
    compiled = compile_node(node, [F], CONTEXT)
    assert compiled.output_fields[-1].storage == "integer"
    assert values(compiled.run([DATA]), "c") == [0.0, 1.0, 0.0, 1.0]


def test_derive_conditional_and_set() -> None:
    """Conditional: then/else by the condition; set: the value of the first true condition."""
    cond = make_node("DeriveNode", "<deriveMode>single</deriveMode><deriveType>conditional</deriveType>"
                     "<deriveSingleFieldName>band</deriveSingleFieldName>"
                     "<deriveConditionalIfCondition>Na &gt; 0.5</deriveConditionalIfCondition>"
                     "<deriveConditionalThenExpression>\"high\"</deriveConditionalThenExpression>"
                     "<deriveConditionalElseExpression>\"low\"</deriveConditionalElseExpression>")
    assert values(compile_node(cond, [F], CONTEXT).run([DATA]), "band") == ["low", "high", "low", "low"]
    nominal = make_node("DeriveNode", "<deriveMode>single</deriveMode><deriveType>set</deriveType>"
                        "<deriveSingleFieldName>grp</deriveSingleFieldName>"
                        "<deriveSetDefaultValue>other</deriveSetDefaultValue><deriveSetTable><rows>"
                        "<row><value>young</value><condition>Age &lt; 30</condition></row>"
                        "<row><value>old</value><condition>Age &gt; 40</condition></row>"
                        "</rows></deriveSetTable>")
    compiled = compile_node(nominal, [F], CONTEXT)
    assert compiled.output_fields[-1].values == ("young", "old", "other")
    assert values(compiled.run([DATA]), "grp") == ["young", "old", "other", "old"]


@pytest.mark.parametrize("kind", ["state", "count"])
def test_state_and_count_derives_are_refused_by_name(kind: str) -> None:
    """Derives whose value carries across records are refused at deploy, naming the type."""
    node = _derive(f"<deriveMode>single</deriveMode><deriveType>{kind}</deriveType>"
                   "<deriveSingleFieldName>s</deriveSingleFieldName>")
    message = rf"node 'Derive' \(DeriveNode, id 7\): pmserve does not run {kind}"
    with pytest.raises(UnsupportedMarkupError, match=message):
        compile_node(node, [F], CONTEXT)


def test_derive_refuses_an_unsupported_function_naming_node_and_function() -> None:
    """An unsupported CLEM function stops the deploy with the node and the function."""
    node = _derive("<deriveMode>single</deriveMode><deriveType>formula</deriveType>"
                   "<deriveSingleFieldName>r</deriveSingleFieldName>"
                   "<deriveFormulaExpression>random(Age)</deriveFormulaExpression>")
    with pytest.raises(UnsupportedMarkupError, match=r"node 'Derive' \(DeriveNode, id 7\): CLEM function 'random'"):
        compile_node(node, [F], CONTEXT)


def test_compiled_select_and_derive_pickle() -> None:
    """The compiled nodes survive pickling."""
    node = _derive("<deriveMode>single</deriveMode><deriveType>formula</deriveType>"
                   "<deriveSingleFieldName>x</deriveSingleFieldName>"
                   "<deriveFormulaExpression>if Drug = \"drugC\" then Na * 2 else 0 endif</deriveFormulaExpression>")
    compiled = pickle.loads(pickle.dumps(compile_node(node, [F], CONTEXT)))
    assert values(compiled.run([DATA]), "x") == [0.0, 1.5, 0.0, None]
