"""AssociationModel (pmserve.pmml.models.association) on small hand-written documents."""

from __future__ import annotations

import pickle
from typing import Any

import numpy as np
import pytest

from pmserve import pmml
from pmserve.errors import DocumentProblems, EvaluationError, InvalidValueError

# The DMG spec's shopping-basket example, re-typed: five rules over six items.
ITEMS = """
    <Item id="1" value="Cracker"/>
    <Item id="2" value="Water"/>
    <Item id="3" value="Coke"/>
    <Item id="4" value="Nachos"/>
    <Item id="5" value="Pear"/>
    <Item id="6" value="Banana"/>
    <Itemset id="1"><ItemRef itemRef="1"/></Itemset>
    <Itemset id="2"><ItemRef itemRef="2"/></Itemset>
    <Itemset id="3"><ItemRef itemRef="3"/></Itemset>
    <Itemset id="4"><ItemRef itemRef="4"/></Itemset>
    <Itemset id="5"><ItemRef itemRef="1"/><ItemRef itemRef="2"/></Itemset>
    <Itemset id="6"><ItemRef itemRef="5"/><ItemRef itemRef="6"/></Itemset>
    <AssociationRule antecedent="1" consequent="2" support="0.6" confidence="0.7" lift="1.1" leverage="0.1"
      affinity="0.3"/>
    <AssociationRule id="r2" antecedent="2" consequent="1" support="0.6" confidence="0.8" lift="1.2"
      leverage="0.2" affinity="0.2"/>
    <AssociationRule antecedent="1" consequent="3" support="0.4" confidence="0.9" lift="1.3" leverage="0.3"
      affinity="0.1"/>
    <AssociationRule antecedent="5" consequent="4" support="0.2" confidence="0.5" lift="1.4" leverage="0.4"
      affinity="0.4"/>
    <AssociationRule antecedent="2" consequent="6" support="0.2" confidence="0.8" lift="1.5" leverage="0.5"
      affinity="0.5"/>
"""

TRANSACTIONAL_HEAD = """<PMML xmlns="http://www.dmg.org/PMML-4_4" version="4.4">
  <DataDictionary>
    <DataField name="transaction" optype="categorical" dataType="string"/>
    <DataField name="item" optype="categorical" dataType="string"/>
  </DataDictionary>
  <AssociationModel functionName="associationRules">
    <MiningSchema>
      <MiningField name="transaction" usageType="group"/>
      <MiningField name="item"/>
    </MiningSchema>
"""


def transactional(outputs: str, items: str = ITEMS) -> bytes:
    return (TRANSACTIONAL_HEAD + f"<Output>{outputs}</Output>{items}</AssociationModel></PMML>").encode()


def out(name: str, **attrs: str) -> str:
    text = " ".join(f'{k}="{v}"' for k, v in attrs.items())
    return f'<OutputField name="{name}" {text}/>'


BASKETS: list[Any] = [
    ["Cracker"],  # rules 1 and 3
    ("Water", "Cracker"),  # rules 1, r2, 3, 5; rule 4 ({Cracker,Water} -> Nachos) too
    '["Water", "Pear", "Banana"]',  # r2 and 5 (5's consequent is in the basket)
    ["Nachos"],  # nothing
    set(),  # nothing
]


def score(doc: bytes, baskets: list[Any]) -> dict[str, list[Any]]:
    return pmml.load(doc).score({"item": baskets}, errors="collect").to_lists()


def test_recommendations_are_ranked_by_confidence_by_default() -> None:
    """The default ranking is by confidence, descending; rank picks the n-th selected rule."""
    doc = transactional(out("top", feature="ruleValue", ruleFeature="consequent", algorithm="recommendation")
                        + out("second", feature="ruleValue", ruleFeature="ruleId", algorithm="recommendation",
                              rank="2"))
    got = score(doc, BASKETS)
    assert got["top"] == [["Coke"], ["Coke"], ["Cracker"], None, None]
    # Row 2: confidences 0.7, 0.8, 0.9, 0.5, 0.8 -> rule 3, then r2 (before rule 5, document order).
    assert got["second"] == ["1", "r2", "5", None, None]


@pytest.mark.parametrize(("algorithm", "expected"), [
    ("recommendation", [["1", "3"], ["1", "r2", "3", "4", "5"], ["r2", "5"], [], []]),
    ("exclusiveRecommendation", [["1", "3"], ["3", "4", "5"], ["r2"], [], []]),
    ("ruleAssociation", [[], ["1", "r2"], ["5"], [], []]),
])
def test_algorithms_select_rules_by_antecedent_and_consequent(algorithm: str, expected: list[Any]) -> None:
    """recommendation / exclusiveRecommendation / ruleAssociation select as the spec says."""
    doc = transactional(out("all", feature="ruleValue", ruleFeature="ruleId", algorithm=algorithm, rank="0",
                            rankBasis="support", rankOrder="ascending", isMultiValued="1"))
    got = score(doc, BASKETS)["all"]
    # Ascending support (stable): order the expected ids by the rules' supports.
    support = {"1": 0.6, "r2": 0.6, "3": 0.4, "4": 0.2, "5": 0.2}
    assert got == [sorted(ids, key=lambda i: support[i]) for ids in expected]


def test_multi_valued_rank_limits_the_number_of_values() -> None:
    """isMultiValued with rank n gives at most the n best rules."""
    doc = transactional(out("two", feature="ruleValue", ruleFeature="rule", algorithm="recommendation",
                            rank="2", rankBasis="lift", isMultiValued="1"))
    got = score(doc, BASKETS[:2])["two"]
    assert got == [["{Cracker}->{Coke}", "{Cracker}->{Water}"], ["{Water}->{Pear,Banana}", "{Cracker,Water}->{Nachos}"]]


@pytest.mark.parametrize(("feature", "expected"), [
    ("antecedent", ["Water"]),
    ("consequent", ["Pear", "Banana"]),
    ("rule", "{Water}->{Pear,Banana}"),
    ("ruleId", "5"),
    ("entityId", "5"),
    ("support", 0.2),
    ("confidence", 0.8),
    ("lift", 1.5),
    ("leverage", 0.5),
    ("affinity", 0.5),
])
def test_rule_features_as_features_of_their_own(feature: str, expected: Any) -> None:
    """The PMML 4.2 spellings (feature="rule", "support", ...) read the ranked rule like ruleValue.

    The basket {Cracker, Water} selects rules 3, 4 and 5 exclusively; rule 5 has the most leverage.
    """
    doc = transactional(out("x", feature=feature, algorithm="exclusiveRecommendation", rankBasis="leverage")
                        + out("y", feature="ruleValue", ruleFeature="ruleId" if feature == "entityId" else feature,
                              algorithm="exclusiveRecommendation", rankBasis="leverage"))
    got = score(doc, [("Cracker", "Water")])
    assert got["x"] == [expected] or got["x"][0] == pytest.approx(expected)
    assert got["y"] == got["x"] or float(got["y"][0]) == pytest.approx(expected)


def test_a_missing_basket_fails_the_record() -> None:
    """JPMML: a transactional record without its item collection cannot be scored."""
    model = pmml.load(transactional(out("top", feature="ruleValue", algorithm="recommendation")))
    with pytest.raises(EvaluationError, match="field 'item' has no basket"):
        model.score({"item": [None]})
    got = model.score({"item": [None, ["Water"]]}, errors="collect")
    assert list(got.errors) == [0]
    assert got.to_lists()["top"] == [None, ["Cracker"]]


def test_a_basket_that_is_no_collection_is_an_invalid_value() -> None:
    """A text cell must be a JSON array of items."""
    model = pmml.load(transactional(out("top", feature="ruleValue", algorithm="recommendation")))
    with pytest.raises(InvalidValueError, match="expects a collection of items"):
        model.score({"item": ["Water"]})


def test_transactional_model_survives_pickling() -> None:
    """A pickled model scores baskets as the original does."""
    model = pmml.load(transactional(out("top", feature="ruleValue", algorithm="recommendation", rank="0",
                                        isMultiValued="1")))
    clone = pickle.loads(pickle.dumps(model))
    assert clone.score({"item": BASKETS}).to_lists() == model.score({"item": BASKETS}).to_lists()


CATEGORICAL = """<PMML xmlns="http://www.dmg.org/PMML-4_4" version="4.4">
  <DataDictionary>
    <DataField name="Water" optype="categorical" dataType="boolean"/>
    <DataField name="Cracker" optype="categorical" dataType="string"/>
    <DataField name="Day" optype="categorical" dataType="string"/>
  </DataDictionary>
  <AssociationModel functionName="associationRules">
    <MiningSchema>
      <MiningField name="Water"/>
      <MiningField name="Cracker"/>
      <MiningField name="Day"/>
    </MiningSchema>
    <Output>
      <OutputField name="recs" feature="ruleValue" ruleFeature="consequent" algorithm="recommendation" rank="0"
        isMultiValued="1"/>
    </Output>
    <Item id="w" value="Water"/>
    <Item id="c" value="Cracker"/>
    <Item id="we" value="Day=Weekend"/>
    <Item id="wd" value="weekday" field="Day" category="Weekday"/>
    <Itemset id="1"><ItemRef itemRef="w"/></Itemset>
    <Itemset id="2"><ItemRef itemRef="c"/></Itemset>
    <Itemset id="3"><ItemRef itemRef="we"/></Itemset>
    <Itemset id="4"><ItemRef itemRef="wd"/></Itemset>
    <AssociationRule antecedent="1" consequent="2" support="0.5" confidence="0.9"/>
    <AssociationRule antecedent="3" consequent="1" support="0.5" confidence="0.8"/>
    <AssociationRule antecedent="4" consequent="2" support="0.5" confidence="0.7"/>
  </AssociationModel>
</PMML>"""


def test_categorical_items_read_true_false_fields_and_field_categories() -> None:
    """An Item names a true/false field, a 'field=category' pair, or field and category attributes."""
    model = pmml.load(CATEGORICAL.encode())
    got = model.score({"Water": [True, "false", None, None], "Cracker": ["T", "F", None, "true"],
                       "Day": ["Weekend", "Weekday", None, "Monday"]}).to_lists()
    assert got["recs"] == [[["Cracker"], ["Water"]], [["Cracker"]], [], []]


def test_a_categorical_item_field_that_is_not_true_or_false_fails_the_record() -> None:
    """A present/absent field holding anything but true or false is a data error (JPMML)."""
    model = pmml.load(CATEGORICAL.encode())
    with pytest.raises(EvaluationError, match="field 'Cracker' says whether an item is present"):
        model.score({"Water": [None], "Cracker": ["maybe"], "Day": [None]})


@pytest.mark.parametrize(("outputs", "items", "message"), [
    (out("x", feature="ruleValue", algorithm="bestGuess"), ITEMS, "attribute algorithm must be one of"),
    (out("x", feature="ruleValue", rankBasis="novelty"), ITEMS, "attribute rankBasis must be one of"),
    (out("x", feature="ruleValue", ruleFeature="colour"), ITEMS, "ruleFeature must be one of"),
    (out("x", feature="ruleValue", rank="0"), ITEMS, "rank must be an integer of at least 1, got '0'"),
    (out("x", feature="ruleValue", isMultiValued="2"), ITEMS, "attribute isMultiValued must be one of 0, 1"),
    ("", ITEMS.replace('<ItemRef itemRef="6"/>', '<ItemRef itemRef="9"/>'), "ItemRef itemRef='9' names no Item"),
    ("", ITEMS.replace('antecedent="5"', 'antecedent="7"'), "attribute antecedent='7' names no Itemset"),
    ("", ITEMS.replace(' confidence="0.5"', ""), "attribute confidence is required"),
    ("", ITEMS.replace('<Item id="6" value="Banana"/>', '<Item id="6"/>'),
     r"Item \(line \d+\): attribute value is required"),
    (out("x", feature="ruleValue", rankBasis="lift"), ITEMS.replace(' lift="1.4"', ""),
     "rankBasis lift: AssociationRule '4' has no lift"),
])
def test_invalid_association_models_are_refused_at_load(outputs: str, items: str, message: str) -> None:
    """Every broken piece is reported at load with its element and line."""
    with pytest.raises(DocumentProblems, match=message) as info:
        pmml.load(transactional(outputs, items))
    assert all(p.line for p in info.value.problems)


def test_an_item_naming_no_field_is_refused_in_the_categorical_layout() -> None:
    """Without a group field an Item's value must name a field, or a field=category pair."""
    doc = CATEGORICAL.replace('value="Day=Weekend"', 'value="Sunday"')
    with pytest.raises(DocumentProblems, match="Item value 'Sunday' names no field"):
        pmml.load(doc.encode())


def test_batch_of_baskets_equals_baskets_scored_alone() -> None:
    """Scoring baskets together gives what each gives alone."""
    model = pmml.load(transactional(out("top", feature="ruleValue", ruleFeature="support",
                                        algorithm="recommendation", rankBasis="lift")))
    together = model.score({"item": BASKETS}).to_lists()["top"]
    alone = [model.score({"item": [b]}).to_lists()["top"][0] for b in BASKETS]
    np.testing.assert_allclose(np.array([np.nan if v is None else float(v) for v in together]),
                               np.array([np.nan if v is None else float(v) for v in alone]))
