"""Checks every record-wise node passes: the records scored together equal the same records scored
one by one, and a compiled node pickles and scores the same after the round trip."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from pmserve.formats.spss._model import Table
from pmserve.formats.spss.nodes import compile_node

from ._node_xml import CONTEXT, fields, make_node, table, values

F = fields(Age="integer", Na="real", Drug="string", BP="string")
DATA = table(F, {
    "Age": [23, 47, None, 61, 15, 74],
    "Na": [0.5, 0.75, 0.25, None, 0.9, 0.1],
    "Drug": ["drugA", "drugC", None, "drugC", "drugX", "drugY"],
    "BP": ["HIGH", "LOW", "NORMAL", None, "HIGH", "LOW"],
})

NODES = {
    "type-coerce": ("TypeNode", "<typeTable><rows><row><name>Age</name><type><storage>integer</storage>"
                    "<measure>range</measure><values><value type=\"J\">20</value><value type=\"J\">70</value>"
                    "</values></type><check>Coerce</check></row></rows></typeTable>"),
    "type-discard": ("TypeNode", "<typeTable><rows><row><name>BP</name><type><storage>string</storage>"
                     "<measure>set</measure><values><value type=\"A\">HIGH</value><value type=\"A\">LOW</value>"
                     "</values></type><check>Discard</check></row></rows></typeTable>"),
    "filter": ("FilterNode", "<filterTable><defaultDrop>false</defaultDrop><rows><row><name>BP</name>"
               "<drop>true</drop></row><row><name>Na</name><newName>Sodium</newName></row></rows></filterTable>"),
    "select": ("SelectNode", "<selectMode>discard</selectMode><selectCondition>Age &gt; 40 and BP = \"LOW\""
               "</selectCondition>"),
    "derive-formula": ("DeriveNode", "<deriveMode>single</deriveMode><deriveType>formula</deriveType>"
                       "<deriveSingleFieldName>x</deriveSingleFieldName><deriveFormulaExpression>"
                       "if Age &gt; 30 then lowertoupper(Drug) &gt;&lt; \"/\" &gt;&lt; to_string(Na) else BP endif"
                       "</deriveFormulaExpression>"),
    "derive-flag": ("DeriveNode", "<deriveMode>single</deriveMode><deriveType>flag</deriveType>"
                    "<deriveSingleFieldName>f</deriveSingleFieldName><deriveFlagTrueValue>Y</deriveFlagTrueValue>"
                    "<deriveFlagFalseValue>N</deriveFlagFalseValue><deriveFlagFieldCondition>member(Drug, "
                    "[\"drugA\", \"drugX\"]) or Na &lt; 0.2</deriveFlagFieldCondition>"),
    "derive-multiple": ("DeriveNode", "<deriveMode>multiple</deriveMode><deriveType>conditional</deriveType>"
                        "<deriveMultipleFieldList><field>Drug</field><field>BP</field></deriveMultipleFieldList>"
                        "<deriveMultipleExtensionName>_c</deriveMultipleExtensionName>"
                        "<deriveConditionalIfCondition>@NULL(@FIELD)</deriveConditionalIfCondition>"
                        "<deriveConditionalThenExpression>\"?\"</deriveConditionalThenExpression>"
                        "<deriveConditionalElseExpression>substring(1, 2, @FIELD)</deriveConditionalElseExpression>"),
    "filler": ("FillerNode", "<fillerFields><field>Age</field><field>Na</field></fillerFields>"
               "<fillerReplaceMode>BlankAndNull</fillerReplaceMode><fillerReplaceWith>-1</fillerReplaceWith>"),
    "reclassify": ("ReclassifyNode", "<reclassifyMode>single</reclassifyMode><reclassifyField>BP</reclassifyField>"
                   "<reclassifyReplaceField>true</reclassifyReplaceField><reclassifyTable><rows><row><oldValue>LOW"
                   "</oldValue><newValue>NOT HIGH</newValue></row><row><oldValue>NORMAL</oldValue><newValue>NOT HIGH"
                   "</newValue></row></rows></reclassifyTable>"),
}


def _row(t: Table, i: int) -> Table:
    return Table(t.fields, {k: v[i:i + 1] for k, v in t.columns.items()}, 1)


def _rows(t: Table) -> list[tuple[object, ...]]:
    names = [f.name for f in t.fields]
    return list(zip(*(values(t, n) for n in names), strict=True)) if names else []


@pytest.mark.parametrize("case", sorted(NODES))
def test_records_together_equal_records_one_by_one(case: str) -> None:
    """A batch gives the records the single-record runs give, in the same order."""
    class_name, xml = NODES[case]
    compiled = compile_node(make_node(class_name, xml), [F], CONTEXT)
    together = compiled.run([DATA])
    one_by_one = [r for i in range(DATA.n_rows) for r in _rows(compiled.run([_row(DATA, i)]))]
    assert _rows(together) == one_by_one
    assert [f.name for f in together.fields] == [f.name for f in compiled.output_fields]
    for f in together.fields:
        col = together.columns[f.name]
        assert col.dtype == (np.dtype(object) if f.storage == "string" else np.dtype(float)), f.name


@pytest.mark.parametrize("case", sorted(NODES))
def test_a_compiled_node_pickles(case: str) -> None:
    """The round trip keeps the node's behaviour."""
    class_name, xml = NODES[case]
    compiled = compile_node(make_node(class_name, xml), [F], CONTEXT)
    again = pickle.loads(pickle.dumps(compiled))
    assert _rows(again.run([DATA])) == _rows(compiled.run([DATA]))
