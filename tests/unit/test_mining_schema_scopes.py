"""MiningSchema treatment across nested models: a segment sees values its parent treated."""

from __future__ import annotations

import pytest

from pmserve.errors import InvalidValueError
from pmserve.pmml import load

DOC = """<PMML xmlns="http://www.dmg.org/PMML-4_4" version="4.4">
<DataDictionary>
  <DataField name="x" optype="continuous" dataType="double"><Interval closure="closedClosed" leftMargin="0"
    rightMargin="10"/></DataField>
  <DataField name="y" optype="continuous" dataType="double"/>
</DataDictionary>
<MiningModel functionName="regression">
  <MiningSchema><MiningField name="x" invalidValueTreatment="{outer}"/><MiningField name="y" usageType="target"/>
  </MiningSchema>
  <Segmentation multipleModelMethod="sum">
    <Segment><True/>
      <RegressionModel functionName="regression">
        <MiningSchema><MiningField name="x" invalidValueTreatment="{inner}"/>
          <MiningField name="y" usageType="target"/></MiningSchema>
        <RegressionTable intercept="1"><NumericPredictor name="x" coefficient="2"/></RegressionTable>
      </RegressionModel>
    </Segment>
  </Segmentation>
</MiningModel>
</PMML>"""


@pytest.mark.parametrize(("outer", "inner"), [("returnInvalid", "returnInvalid"), ("returnInvalid", "asIs")])
def test_an_invalid_value_fails_its_record_when_the_outer_model_checks_it(outer: str, inner: str) -> None:
    """returnInvalid in the outer model fails the record once; the other records are scored."""
    model = load(DOC.format(outer=outer, inner=inner).encode())
    result = model.score({"x": [1.0, 20.0, 3.0]}, errors="collect")
    assert list(result.errors) == [1]
    assert isinstance(result.errors[1], InvalidValueError)
    assert result["y"][[0, 2]].tolist() == pytest.approx([3.0, 7.0])


def test_a_default_nested_mining_field_inherits_the_value_an_outer_asis_let_through() -> None:
    """A segment's returnInvalid does not check again a value its parent kept with asIs (JPMML)."""
    model = load(DOC.format(outer="asIs", inner="returnInvalid").encode())
    result = model.score({"x": [1.0, 20.0, 3.0]}, errors="collect")
    assert not result.errors
    assert result["y"].tolist() == pytest.approx([3.0, 41.0, 7.0])


def test_a_nested_as_missing_treats_a_value_the_parent_kept_with_asis() -> None:
    """A segment's own asMissing still makes an invalid value missing under an outer asIs."""
    model = load(DOC.format(outer="asIs", inner="asMissing").encode())
    result = model.score({"x": [1.0, 20.0]}, errors="collect")
    assert not result.errors
    assert result.to_lists()["y"] == [pytest.approx(3.0), None]


def test_values_made_missing_by_the_parent_reach_the_segment_as_missing() -> None:
    """asMissing in the parent: the segment sees a missing value, not the invalid one."""
    model = load(DOC.format(outer="asMissing", inner="returnInvalid").encode())
    result = model.score({"x": [20.0, 2.0]}, errors="collect")
    assert not result.errors
    assert result.to_lists()["y"] == [None, pytest.approx(5.0)]


TIE = """<PMML xmlns="http://www.dmg.org/PMML-4_4" version="4.4">
<DataDictionary>
  <DataField name="x" optype="continuous" dataType="double"/>
  <DataField name="y" optype="categorical" dataType="integer"><Value value="0"/><Value value="1"/></DataField>
</DataDictionary>
<MiningModel functionName="classification">
  <MiningSchema><MiningField name="x"/><MiningField name="y" usageType="target"/></MiningSchema>
  <Segmentation multipleModelMethod="average">
    <Segment><True/><TreeModel functionName="classification">
      <MiningSchema><MiningField name="x"/></MiningSchema>
      <Node score="1"><True/><ScoreDistribution value="1" recordCount="3"/>
        <ScoreDistribution value="0" recordCount="0"/></Node>
    </TreeModel></Segment>
    <Segment><True/><TreeModel functionName="classification">
      <MiningSchema><MiningField name="x"/></MiningSchema>
      <Node score="0"><True/><ScoreDistribution value="0" recordCount="2"/>
        <ScoreDistribution value="1" recordCount="0"/></Node>
    </TreeModel></Segment>
  </Segmentation>
</MiningModel>
</PMML>"""


def test_averaged_probabilities_tie_goes_to_the_first_target_category() -> None:
    """A 0.5/0.5 forest vote predicts the target's first category, as JPMML and scikit-learn do.

    The segments name no target (as sklearn2pmml writes them) and meet category 1 first.
    """
    result = load(TIE.encode()).score({"x": [1.0]})
    assert result["probability(0)"][0] == pytest.approx(0.5)
    assert result["probability(1)"][0] == pytest.approx(0.5)
    assert result.to_lists()["y"] == [0]
