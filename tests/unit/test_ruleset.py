"""RuleSetModel (pmserve.pmml.models.ruleset) on small hand-written documents."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from pmserve import pmml
from pmserve.errors import DocumentProblems, EvaluationError

HEAD = """<PMML xmlns="http://www.dmg.org/PMML-4_4" version="4.4">
  <DataDictionary>
    <DataField name="BP" optype="categorical" dataType="string"/>
    <DataField name="K" optype="continuous" dataType="double"/>
    <DataField name="Age" optype="continuous" dataType="double"/>
    <DataField name="Drug" optype="categorical" dataType="string"/>
  </DataDictionary>
  <RuleSetModel functionName="classification">
    <MiningSchema>
      <MiningField name="BP"/>
      <MiningField name="K"/>
      <MiningField name="Age"/>
      <MiningField name="Drug" usageType="predicted"/>
    </MiningSchema>
    <Output>
      <OutputField name="pred" feature="predictedValue" dataType="string"/>
      <OutputField name="conf" feature="confidence" dataType="double"/>
      <OutputField name="conf_drugB" feature="confidence" value="drugB" dataType="double"/>
      <OutputField name="rule" feature="entityId" dataType="string"/>
    </Output>
"""

# The DMG spec's RuleSet example, re-typed and cut down: a CompoundRule on BP=HIGH around two rules,
# and a third rule of its own.
RULES = """
      <CompoundRule>
        <SimplePredicate field="BP" operator="equal" value="HIGH"/>
        <SimpleRule id="R1" score="drugB" confidence="0.9" weight="0.9">
          <SimplePredicate field="K" operator="greaterThan" value="0.045"/>
        </SimpleRule>
        <SimpleRule id="R2" score="drugA" confidence="0.6" weight="0.6">
          <SimplePredicate field="Age" operator="lessOrEqual" value="50"/>
        </SimpleRule>
      </CompoundRule>
      <SimpleRule score="drugA" confidence="0.36" weight="0.36">
        <SimplePredicate field="K" operator="greaterThan" value="0.021"/>
      </SimpleRule>
"""


def document(criterion: str, rules: str = RULES, rule_set_attrs: str = 'defaultScore="drugY" '
             'defaultConfidence="0.3"') -> bytes:
    return (HEAD + f"""    <RuleSet {rule_set_attrs}>
      <RuleSelectionMethod criterion="{criterion}"/>
      <RuleSelectionMethod criterion="firstHit"/>
{rules}    </RuleSet>
  </RuleSetModel>
</PMML>""").encode()


def score(doc: bytes, rows: list[dict[str, Any]]) -> dict[str, list[Any]]:
    return pmml.load(doc).score(rows, errors="collect").to_lists()


ROWS = [
    {"BP": "HIGH", "K": 0.05, "Age": 40},  # R1, R2 and rule 3 fire
    {"BP": "HIGH", "K": 0.03, "Age": 40},  # R2 and rule 3
    {"BP": "LOW", "K": 0.03, "Age": 40},  # rule 3 only
    {"BP": "LOW", "K": 0.01, "Age": 40},  # none: the default
    {"BP": None, "K": None, "Age": None},  # unknown predicates fire no rule
]


def test_first_hit_predicts_the_first_fired_rule_with_its_confidence() -> None:
    """firstHit: the first fired rule in document order wins; a category's confidence is its first rule's."""
    got = score(document("firstHit"), ROWS)
    assert got["pred"] == ["drugB", "drugA", "drugA", "drugY", "drugY"]
    np.testing.assert_allclose(got["conf"], [0.9, 0.6, 0.36, 0.3, 0.3])
    assert got["rule"] == ["R1", "R2", "3", None, None]
    assert got["conf_drugB"][0] == pytest.approx(0.9)
    assert got["conf_drugB"][1] is None


def test_weighted_sum_divides_category_weight_by_all_fired_rules() -> None:
    """weightedSum: confidence = sum of the category's fired weights / number of fired rules."""
    got = score(document("weightedSum"), ROWS)
    # Row 1: drugB 0.9/3 = 0.3, drugA (0.6+0.36)/3 = 0.32 -> drugA, won by its heavier rule R2.
    assert got["pred"][:4] == ["drugA", "drugA", "drugA", "drugY"]
    np.testing.assert_allclose(got["conf"][:3], [0.96 / 3, 0.96 / 2, 0.36])
    assert got["conf_drugB"][0] == pytest.approx(0.3)
    assert got["rule"][:3] == ["R2", "R2", "3"]


def test_weighted_max_takes_the_confidence_of_the_heaviest_fired_rule() -> None:
    """weightedMax: each category is represented by its heaviest fired rule."""
    got = score(document("weightedMax"), ROWS)
    assert got["pred"][:3] == ["drugB", "drugA", "drugA"]
    np.testing.assert_allclose(got["conf"][:3], [0.9, 0.6, 0.36])
    assert got["rule"][:3] == ["R1", "R2", "3"]


def test_equal_confidences_go_to_the_category_that_fired_first() -> None:
    """Ties between categories are won by the category whose rule fired first (JPMML)."""
    rules = """
      <SimpleRule id="a" score="drugC" confidence="0.5" weight="1"><True/></SimpleRule>
      <SimpleRule id="b" score="drugX" confidence="0.5" weight="1"><True/></SimpleRule>
"""
    for criterion in ("weightedSum", "weightedMax"):
        got = score(document(criterion, rules), ROWS[:1])
        assert got["pred"] == ["drugC"], criterion
        assert got["rule"] == ["a"], criterion


def test_no_rule_fired_and_no_default_score_fails_the_record() -> None:
    """Without defaultScore a record that fires no rule is an evaluation error."""
    model = pmml.load(document("firstHit", rule_set_attrs=""))
    with pytest.raises(EvaluationError, match="no rule fired and the RuleSet has no defaultScore"):
        model.score([{"BP": "LOW", "K": 0.01, "Age": 1}])
    assert model.score([{"BP": "LOW", "K": 0.03, "Age": 1}]).to_lists()["pred"] == ["drugA"]


def test_batch_equals_rows_scored_one_by_one() -> None:
    """Scoring rows together gives what each gives alone."""
    model = pmml.load(document("weightedSum"))
    together = model.score(ROWS).to_lists()
    for i, row in enumerate(ROWS):
        alone = model.score([row]).to_lists()
        for name, values in together.items():
            assert alone[name] == [values[i]] or alone[name][0] == pytest.approx(values[i])


@pytest.mark.parametrize(("rule_set", "message"), [
    ('<RuleSet defaultScore="drugY"><SimpleRule score="drugA"><True/></SimpleRule></RuleSet>',
     "RuleSet needs at least one RuleSelectionMethod"),
    ('<RuleSet><RuleSelectionMethod criterion="mostVotes"/></RuleSet>',
     "criterion must be one of firstHit, weightedSum, weightedMax, got 'mostVotes'"),
    ('<RuleSet><RuleSelectionMethod criterion="firstHit"/><SimpleRule score="drugA"/></RuleSet>',
     "a SimpleRule needs a predicate"),
    ('<RuleSet><RuleSelectionMethod criterion="firstHit"/><SimpleRule><True/></SimpleRule></RuleSet>',
     "attribute score is required"),
    ('<RuleSet><RuleSelectionMethod criterion="firstHit"/>'
     '<SimpleRule score="drugA" weight="heavy"><True/></SimpleRule></RuleSet>',
     "attribute weight must be a number, got 'heavy'"),
    ('<RuleSet><RuleSelectionMethod criterion="firstHit"/>'
     '<SimpleRule score="drugA"><SimplePredicate field="nope" operator="equal" value="1"/></SimpleRule></RuleSet>',
     "field 'nope' is not defined"),
])
def test_invalid_rule_sets_are_refused_at_load(rule_set: str, message: str) -> None:
    """Every broken piece of a RuleSet is reported at load, naming element and line."""
    doc = (HEAD + rule_set + "</RuleSetModel></PMML>").encode()
    with pytest.raises(DocumentProblems, match=message) as info:
        pmml.load(doc)
    assert all(p.line for p in info.value.problems)


def test_a_rule_set_model_without_rule_set_is_refused() -> None:
    """The RuleSet element is required."""
    with pytest.raises(DocumentProblems, match="a RuleSetModel needs a RuleSet"):
        pmml.load((HEAD + "</RuleSetModel></PMML>").encode())
