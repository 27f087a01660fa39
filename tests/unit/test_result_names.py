"""Result names are unique: an OutputField named like the target takes the target's place, with
the OutputField's value and type, as JPMML-Evaluator's result map does."""

from __future__ import annotations

import pytest

from pmserve import pmml

DOC = """<PMML xmlns="http://www.dmg.org/PMML-4_4" version="4.4">
  <Header/>
  <DataDictionary>
    <DataField name="x" optype="continuous" dataType="double"/>
    <DataField name="y" optype="continuous" dataType="double"/>
  </DataDictionary>
  <RegressionModel functionName="regression">
    <MiningSchema><MiningField name="x"/><MiningField name="y" usageType="target"/></MiningSchema>
    <Output>
      <OutputField name="doubled" optype="continuous" dataType="double" feature="predictedValue"/>
      <OutputField name="y" optype="categorical" dataType="string" feature="transformedValue">
        <Apply function="if">
          <Apply function="greaterThan"><FieldRef field="doubled"/><Constant>3</Constant></Apply>
          <Constant dataType="string">big</Constant><Constant dataType="string">small</Constant>
        </Apply>
      </OutputField>
    </Output>
    <RegressionTable intercept="1"><NumericPredictor name="x" coefficient="1"/></RegressionTable>
  </RegressionModel>
</PMML>"""


def test_output_field_named_like_the_target_replaces_it_in_place() -> None:
    """Names once each, the target's position kept, the OutputField's type and value in it."""
    model = pmml.load(DOC.encode())
    assert [f.name for f in model.output_fields] == ["y", "doubled"]
    assert model.output_fields[0].data_type is pmml.DataType.STRING
    scored = model.score({"x": [1.0, 5.0]})
    assert list(scored["y"]) == ["small", "big"]
    assert list(scored["doubled"]) == pytest.approx([2.0, 6.0])
