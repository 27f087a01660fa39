"""Constructs today's producers write that JPMML accepts (issue #15), on minimal documents.

Each behaviour was checked against JPMML-Evaluator 1.7 (jpmml-evaluator 0.16.0); the stored
producer-zoo cases (tests/producer_zoo) check the same on the producers' own documents.
"""

from __future__ import annotations

import pytest

from pmserve.errors import DocumentProblems, EvaluationError
from pmserve.pmml import load

CONSTANT_DOC = """<PMML xmlns="http://www.dmg.org/PMML-4_4" version="4.4">
 <DataDictionary><DataField name="x" optype="continuous" dataType="double"/>
  <DataField name="y" optype="continuous" dataType="double"/></DataDictionary>
 <TransformationDictionary>
  <DerivedField name="d" optype="continuous" dataType="double">
   <Apply function="if"><Apply function="greaterThan"><FieldRef field="x"/><Constant>0</Constant></Apply>
    <Constant dataType="integer">2246.977</Constant><FieldRef field="x"/></Apply>
  </DerivedField>
 </TransformationDictionary>
 <RegressionModel functionName="regression"><MiningSchema><MiningField name="x"/>
  <MiningField name="y" usageType="target"/></MiningSchema>
  <RegressionTable intercept="0"><NumericPredictor name="d" coefficient="1"/></RegressionTable></RegressionModel>
</PMML>"""

MAP_DOC = """<PMML xmlns="http://www.dmg.org/PMML-4_4" xmlns:data="http://jpmml.org/jpmml-model/InlineTable"
 version="4.4">
 <DataDictionary><DataField name="c" optype="categorical" dataType="string"/>
  <DataField name="y" optype="continuous" dataType="double"/></DataDictionary>
 <RegressionModel functionName="regression"><MiningSchema><MiningField name="c"/>
  <MiningField name="y" usageType="target"/></MiningSchema>
  <LocalTransformations><DerivedField name="code" optype="continuous" dataType="double">
   <MapValues outputColumn="data:output" defaultValue="-1"><FieldColumnPair field="c" column="data:input"/>
    <InlineTable><row><data:input>a</data:input><data:output>1</data:output></row>
     <row><data:input>b</data:input><data:output>2</data:output></row></InlineTable></MapValues>
  </DerivedField></LocalTransformations>
  <RegressionTable intercept="0"><NumericPredictor name="code" coefficient="10"/></RegressionTable>
 </RegressionModel>
</PMML>"""


def test_constant_not_of_its_data_type_loads_and_fails_only_rows_that_evaluate_it() -> None:
    """An integer Constant holding 2246.977 fails a record only where it is evaluated, as in JPMML."""
    scored = load(CONSTANT_DOC.encode()).score({"x": [-1.0, 2.0]}, errors="collect")
    assert list(scored.errors) == [1]
    assert scored.to_lists()["y"][0] == pytest.approx(-1.0)
    with pytest.raises(EvaluationError, match=r"Constant .2246\.977. at line 7 cannot be read as integer"):
        load(CONSTANT_DOC.encode()).score({"x": [2.0]})


def test_inline_table_columns_keep_their_namespace_prefix() -> None:
    """data:input / data:output cells are the columns named data:input / data:output (JPMML's rule)."""
    scored = load(MAP_DOC.encode()).score({"c": ["a", "b", "z"]})
    assert scored.to_lists()["y"] == pytest.approx([10.0, 20.0, -10.0])


def _state_space(intercept_vector: str = '<InterceptVector type="observation"><Array n="1" type="real">10'
                                         '</Array></InterceptVector>') -> bytes:
    return f"""<PMML xmlns="http://www.dmg.org/PMML-4_4" version="4.4">
 <DataDictionary><DataField name="y" optype="continuous" dataType="double"/>
  <DataField name="h" optype="continuous" dataType="integer"/></DataDictionary>
 <TimeSeriesModel functionName="timeSeries" bestFit="StateSpaceModel">
  <MiningSchema><MiningField name="y" usageType="target"/><MiningField name="h" usageType="supplementary"/>
  </MiningSchema>
  <StateSpaceModel intercept="0">
   <StateVector><Array n="2" type="real">3 0.5</Array></StateVector>
   <TransitionMatrix><Matrix nbRows="2" nbCols="2"><Array type="real">1 1</Array><Array type="real">0 0.5</Array>
   </Matrix></TransitionMatrix>
   <MeasurementMatrix><Matrix nbRows="1" nbCols="2"><Array type="real">1 2</Array></Matrix></MeasurementMatrix>
   {intercept_vector}
  </StateSpaceModel>
 </TimeSeriesModel>
</PMML>""".encode()


def test_state_space_forecast_is_the_first_observation_whatever_the_horizon() -> None:
    """JPMML returns Z a + d (here 1*3 + 2*0.5 + 10) for every horizon from 1; a missing horizon is 1."""
    scored = load(_state_space()).score({"h": [1, 5, None]})
    assert scored.to_lists()["y"] == pytest.approx([14.0, 14.0, 14.0])


def test_state_space_horizon_below_one_fails_the_record() -> None:
    """JPMML's forecast list is empty for a horizon of 0: the record fails, the others score."""
    scored = load(_state_space()).score({"h": [0, 2]}, errors="collect")
    assert list(scored.errors) == [0]
    assert scored.to_lists()["y"][1] == pytest.approx(14.0)


def test_state_space_intercept_vector_of_the_wrong_length_is_refused() -> None:
    """A state-length InterceptVector (nyoka's SARIMAX) fails every record in JPMML: refused at load."""
    bad = '<InterceptVector><Array n="2" type="real">0 0</Array></InterceptVector>'
    with pytest.raises(DocumentProblems, match="InterceptVector holds 2 values but there are 1 observations"):
        load(_state_space(bad))
