"""Scorecard (pmserve.pmml.models.scorecard) on small hand-written documents."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from pmserve import pmml
from pmserve.errors import DocumentProblems, EvaluationError


def document(characteristics: str, attrs: str = 'useReasonCodes="true" reasonCodeAlgorithm="pointsBelow"',
             outputs: int = 3) -> bytes:
    reason_fields = "".join(
        f'<OutputField name="RC{i}" feature="reasonCode" rank="{i}" dataType="string"/>'
        for i in range(1, outputs + 1))
    return f"""<PMML xmlns="http://www.dmg.org/PMML-4_4" version="4.4">
  <DataDictionary>
    <DataField name="dept" optype="categorical" dataType="string"/>
    <DataField name="age" optype="continuous" dataType="double"/>
    <DataField name="income" optype="continuous" dataType="double"/>
    <DataField name="score" optype="continuous" dataType="double"/>
  </DataDictionary>
  <Scorecard functionName="regression" initialScore="100" {attrs}>
    <MiningSchema>
      <MiningField name="dept"/>
      <MiningField name="age"/>
      <MiningField name="income"/>
      <MiningField name="score" usageType="target"/>
    </MiningSchema>
    <Output>
      <OutputField name="final" feature="predictedValue" dataType="double"/>
      {reason_fields}
    </Output>
    <Characteristics>
{characteristics}
    </Characteristics>
  </Scorecard>
</PMML>""".encode()


# After the DMG spec's scorecard example (re-typed, numbers changed).
CHARACTERISTICS = """
      <Characteristic name="deptScore" reasonCode="RC_D" baselineScore="20">
        <Attribute partialScore="-5"><SimplePredicate field="dept" operator="isMissing"/></Attribute>
        <Attribute partialScore="20"><SimplePredicate field="dept" operator="equal" value="sales"/></Attribute>
        <Attribute partialScore="4"><SimplePredicate field="dept" operator="equal" value="it"/></Attribute>
      </Characteristic>
      <Characteristic name="ageScore" reasonCode="RC_A" baselineScore="15">
        <Attribute partialScore="0"><SimplePredicate field="age" operator="lessOrEqual" value="30"/></Attribute>
        <Attribute partialScore="15" reasonCode="RC_OLD"><SimplePredicate field="age" operator="greaterThan"
          value="30"/></Attribute>
      </Characteristic>
      <Characteristic name="incomeScore" reasonCode="RC_I" baselineScore="10">
        <Attribute partialScore="2"><SimplePredicate field="income" operator="isMissing"/></Attribute>
        <Attribute>
          <SimplePredicate field="income" operator="lessOrEqual" value="1000"/>
          <ComplexPartialScore>
            <Apply function="+"><Apply function="*"><Constant>0.01</Constant><FieldRef field="income"/></Apply>
              <Constant>1</Constant></Apply>
          </ComplexPartialScore>
        </Attribute>
        <Attribute partialScore="12"><True/></Attribute>
      </Characteristic>
"""


def score(doc: bytes, rows: list[dict[str, Any]]) -> dict[str, list[Any]]:
    return pmml.load(doc).score(rows, errors="collect").to_lists()


def test_score_is_initial_plus_first_matching_partial_scores() -> None:
    """Each characteristic adds its first true attribute's partial score, expressions included."""
    got = score(document(CHARACTERISTICS), [
        {"dept": "it", "age": 25, "income": 500},
        {"dept": "sales", "age": 40, "income": 5000},
        {"dept": None, "age": 40, "income": None},
    ])
    np.testing.assert_allclose(got["final"], [100 + 4 + 0 + 6, 100 + 20 + 15 + 12, 100 - 5 + 15 + 2])
    np.testing.assert_allclose(got["score"], got["final"])


def test_reason_codes_rank_points_below_baseline_highest_first() -> None:
    """pointsBelow: baseline - partial per code, negative totals dropped, missing ranks empty."""
    got = score(document(CHARACTERISTICS), [
        {"dept": "it", "age": 25, "income": 500},  # RC_D 16, RC_A 15, RC_I 4
        {"dept": "sales", "age": 40, "income": 5000},  # RC_D 0, RC_OLD 0, RC_I -2 (dropped)
    ])
    assert [got["RC1"], got["RC2"], got["RC3"]] == [["RC_D", "RC_D"], ["RC_A", "RC_OLD"], ["RC_I", None]]


def test_points_above_reverses_the_differences() -> None:
    """pointsAbove: partial - baseline."""
    got = score(document(CHARACTERISTICS, 'reasonCodeAlgorithm="pointsAbove"'),
                [{"dept": "it", "age": 40, "income": 5000}])  # RC_D -16, RC_OLD 0, RC_I 2
    assert [got["RC1"], got["RC2"], got["RC3"]] == [["RC_I"], ["RC_OLD"], [None]]


def test_points_of_one_reason_code_add_up_over_characteristics() -> None:
    """Characteristics sharing a reason code sum their points before ranking."""
    chars = """
      <Characteristic reasonCode="X" baselineScore="10">
        <Attribute partialScore="4"><True/></Attribute></Characteristic>
      <Characteristic reasonCode="Y" baselineScore="10">
        <Attribute partialScore="1"><True/></Attribute></Characteristic>
      <Characteristic reasonCode="X" baselineScore="10">
        <Attribute partialScore="6"><True/></Attribute></Characteristic>
"""
    got = score(document(chars, outputs=2), [{"dept": "it", "age": 1, "income": 1}])
    assert [got["RC1"], got["RC2"]] == [["X"], ["Y"]]  # X 6 + 4 = 10 beats Y 9


def test_equal_points_keep_the_order_codes_were_met() -> None:
    """Ties are ranked in the order their codes first contributed."""
    chars = """
      <Characteristic reasonCode="B" baselineScore="5"><Attribute partialScore="0"><True/></Attribute>
      </Characteristic>
      <Characteristic reasonCode="A" baselineScore="5"><Attribute partialScore="0"><True/></Attribute>
      </Characteristic>
"""
    got = score(document(chars, outputs=2), [{"dept": "it", "age": 1, "income": 1}])
    assert [got["RC1"], got["RC2"]] == [["B"], ["A"]]


def test_a_characteristic_matching_no_attribute_fails_the_record() -> None:
    """No true attribute: the whole score is undefined and the record fails (spec, JPMML)."""
    model = pmml.load(document(CHARACTERISTICS))
    with pytest.raises(EvaluationError, match="matched none of its Attributes"):
        model.score([{"dept": "hr", "age": 25, "income": 500}])
    got = model.score([{"dept": "hr", "age": 25, "income": 1}, {"dept": "it", "age": 25, "income": 1}],
                      errors="collect")
    assert list(got.errors) == [0]
    assert got.to_lists()["final"][0] is None


def test_without_reason_codes_only_the_score_is_given() -> None:
    """useReasonCodes=false needs no baselines or codes and yields no reason codes."""
    chars = '<Characteristic><Attribute partialScore="7"><True/></Attribute></Characteristic>'
    got = score(document(chars, 'useReasonCodes="false"', outputs=1), [{"dept": "x", "age": 1, "income": 1}])
    assert got["final"] == [107.0]
    assert got["RC1"] == [None]


@pytest.mark.parametrize(("chars", "attrs", "message"), [
    ('<Characteristic reasonCode="R"><Attribute partialScore="1"><True/></Attribute></Characteristic>',
     'useReasonCodes="true"', "needs a baselineScore"),
    ('<Characteristic baselineScore="1"><Attribute partialScore="1"><True/></Attribute></Characteristic>',
     'useReasonCodes="true"', "needs a reasonCode"),
    ('<Characteristic><Attribute><True/></Attribute></Characteristic>',
     'useReasonCodes="false"', "needs attribute partialScore or a ComplexPartialScore"),
    ('<Characteristic><Attribute partialScore="1"/></Characteristic>',
     'useReasonCodes="false"', "an Attribute needs a predicate"),
    ('<Characteristic name="empty"/>', 'useReasonCodes="false"', "Characteristic 'empty' needs at least one"),
    ('<Characteristic><Attribute partialScore="1"><True/></Attribute></Characteristic>',
     'reasonCodeAlgorithm="pointsAround" useReasonCodes="false"',
     "attribute reasonCodeAlgorithm must be one of pointsBelow, pointsAbove"),
    ('<Characteristic><Attribute partialScore="a lot"><True/></Attribute></Characteristic>',
     'useReasonCodes="false"', "partialScore must be a number, got 'a lot'"),
    ('<Characteristic><Attribute><True/><ComplexPartialScore><FieldRef field="dept"/></ComplexPartialScore>'
     '</Attribute></Characteristic>', 'useReasonCodes="false"', "ComplexPartialScore must compute a number"),
])
def test_invalid_scorecards_are_refused_at_load(chars: str, attrs: str, message: str) -> None:
    """Every broken piece is reported at load with its element and line."""
    with pytest.raises(DocumentProblems, match=message) as info:
        pmml.load(document(chars, attrs))
    assert all(p.line for p in info.value.problems)


def test_a_scorecard_must_be_a_regression() -> None:
    """JPMML scores Scorecards as regressions only."""
    doc = document(CHARACTERISTICS).replace(b'functionName="regression"', b'functionName="classification"')
    with pytest.raises(DocumentProblems,
                       match="functionName 'classification' is not supported for a Scorecard; expected regression"):
        pmml.load(doc)


def test_a_missing_complex_partial_score_makes_the_prediction_missing() -> None:
    """A ComplexPartialScore without a value gives no score and no reason codes, but no error."""
    chars = """
      <Characteristic reasonCode="L" baselineScore="5">
        <Attribute><True/><ComplexPartialScore><Apply function="ln"><FieldRef field="income"/></Apply>
        </ComplexPartialScore></Attribute></Characteristic>
"""
    got = pmml.load(document(chars, outputs=1)).score(
        [{"dept": "x", "age": 1, "income": -1.0}, {"dept": "x", "age": 1, "income": float(np.e)}], errors="collect")
    assert not got.errors
    values = got.to_lists()
    assert values["final"][0] is None
    assert values["final"][1] == pytest.approx(101.0)
    assert values["RC1"] == [None, "L"]
