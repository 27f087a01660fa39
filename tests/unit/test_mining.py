"""MiningModel: every combination method, predicates, model chains, missing predictions, load errors."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from pmserve.errors import DocumentProblems
from pmserve.pmml import load
from pmserve.pmml.fields.types import DataType

FIELDS = """
  <DataField name="x" optype="continuous" dataType="double"/>
  <DataField name="g" optype="categorical" dataType="string">
    <Value value="a"/><Value value="b"/>
  </DataField>
  <DataField name="y" optype="continuous" dataType="double"/>
  <DataField name="c" optype="categorical" dataType="string">
    <Value value="red"/><Value value="green"/><Value value="blue"/>
  </DataField>
"""


def linear(intercept: float, slope: float = 0.0, output: str = "", target: str = "y") -> str:
    """A regression segment model: intercept + slope * x (missing when x is missing and slope != 0)."""
    predictor = f'<NumericPredictor name="x" coefficient="{slope}"/>' if slope else ""
    mining = f'<MiningField name="{target}" usageType="target"/>' if target else ""
    return f"""<RegressionModel functionName="regression">
      <MiningSchema><MiningField name="x"/>{mining}</MiningSchema>
      {output}
      <RegressionTable intercept="{intercept}">{predictor}</RegressionTable>
    </RegressionModel>"""


def leaf(score: str, probs: dict[str, float] | None = None, x_missing_is_null: bool = False) -> str:
    """A classification segment: a one-node tree (with a child that x missing cannot enter)."""
    dist = "".join(f'<ScoreDistribution value="{k}" recordCount="{v}"/>' for k, v in (probs or {score: 1}).items())
    if x_missing_is_null:
        # The root's only child tests x; with x missing, nullPrediction gives no prediction.
        body = f"""<Node score="{score}"><True/>{dist}
          <Node score="{score}"><SimplePredicate field="x" operator="greaterOrEqual" value="-1e300"/>{dist}</Node>
        </Node>"""
        attrs = 'missingValueStrategy="nullPrediction"'
    else:
        body = f'<Node score="{score}"><True/>{dist}</Node>'
        attrs = ""
    return f"""<TreeModel functionName="classification" {attrs}>
      <MiningSchema><MiningField name="x"/><MiningField name="c" usageType="target"/></MiningSchema>
      {body}
    </TreeModel>"""


def segment(model: str, predicate: str = "<True/>", sid: str | None = None, weight: float | None = None) -> str:
    attrs = (f' id="{sid}"' if sid else "") + (f' weight="{weight}"' if weight is not None else "")
    return f"<Segment{attrs}>{predicate}{model}</Segment>"


def mining(
    segments: list[str], method: str, function: str = "regression", target: str = "y", output: str = "",
    seg_attrs: str = "", model_attrs: str = "", targets: str = "",
) -> bytes:
    mf = f'<MiningField name="{target}" usageType="target"/>' if target else ""
    return f"""<PMML xmlns="http://www.dmg.org/PMML-4_4" version="4.4">
<DataDictionary>{FIELDS}</DataDictionary>
<MiningModel functionName="{function}" {model_attrs}>
  <MiningSchema><MiningField name="x"/><MiningField name="g"/>{mf}</MiningSchema>
  {output}{targets}
  <Segmentation multipleModelMethod="{method}" {seg_attrs}>{''.join(segments)}</Segmentation>
</MiningModel>
</PMML>""".encode()


def score(doc: bytes, x: list[Any], g: list[Any] | None = None) -> dict[str, list[Any]]:
    model = load(doc)
    return model.score({"x": x, "g": g if g is not None else ["a"] * len(x)}).to_lists()


G_IS_A = '<SimplePredicate field="g" operator="equal" value="a"/>'
G_IS_B = '<SimplePredicate field="g" operator="equal" value="b"/>'

# -- regression ---------------------------------------------------------------------------------------

THREE = [segment(linear(1.0), sid="s1", weight=1.0), segment(linear(2.0), sid="s2", weight=3.0),
         segment(linear(0.0, 1.0), sid="s3", weight=4.0)]


@pytest.mark.parametrize(("method", "expected"), [
    ("sum", lambda x: 1 + 2 + x),
    ("weightedSum", lambda x: 1 * 1 + 3 * 2 + 4 * x),
    ("average", lambda x: (1 + 2 + x) / 3),
    ("weightedAverage", lambda x: (1 * 1 + 3 * 2 + 4 * x) / 8),
    ("median", lambda x: sorted([1, 2, x])[1]),
])
def test_regression_methods_combine_segment_values_as_the_spec_defines(method: str, expected: Any) -> None:
    """sum, weightedSum, average, weightedAverage and median follow their PMML definitions."""
    xs = [0.5, 1.5, 10.0, -3.0]
    got = score(mining(THREE, method), xs)["y"]
    np.testing.assert_allclose(got, [expected(x) for x in xs], rtol=1e-12)


@pytest.mark.parametrize(("x", "expected"), [(0.5, 0.5), (1.5, 1.5), (10.0, 2.0), (-3.0, -3.0), (1.8, 1.8)])
def test_weighted_median_is_the_value_whose_cumulated_weight_reaches_half(x: float, expected: float) -> None:
    """weightedMedian sorts the values and takes the first whose cumulated weight reaches half the total."""
    # Weights 1 (value 1), 3 (value 2), 4 (value x): x reaches half (4 of 8) unless 1 and 2 come first.
    got = score(mining(THREE, "weightedMedian"), [x])["y"]
    assert got[0] == pytest.approx(expected)


def test_weighted_median_takes_the_lower_value_when_half_is_reached_exactly() -> None:
    """With weights 1 and 1 the first (smaller) value reaches half of the total weight."""
    doc = mining([segment(linear(5.0)), segment(linear(3.0))], "weightedMedian")
    assert score(doc, [0.0])["y"] == [pytest.approx(3.0)]


def test_segments_take_part_only_on_rows_where_their_predicate_holds() -> None:
    """An average runs each segment only where its predicate is true and averages what ran."""
    doc = mining([segment(linear(1.0), G_IS_A), segment(linear(3.0), G_IS_A), segment(linear(10.0), G_IS_B)],
                 "average")
    assert score(doc, [0.0, 0.0], ["a", "b"])["y"] == [pytest.approx(2.0), pytest.approx(10.0)]


def test_a_row_no_segment_applies_to_has_a_missing_prediction() -> None:
    """When no predicate is true the result is missing."""
    doc = mining([segment(linear(1.0), G_IS_A)], "sum")
    assert score(doc, [0.0, 0.0], ["b", "a"])["y"] == [None, pytest.approx(1.0)]


def test_an_unknown_predicate_counts_as_false() -> None:
    """A predicate on a missing value does not select the segment."""
    doc = mining([segment(linear(1.0), G_IS_A), segment(linear(5.0))], "sum")
    assert score(doc, [0.0], [None])["y"] == [pytest.approx(5.0)]


def test_targets_of_the_mining_model_rescale_the_combined_value() -> None:
    """The MiningModel's own Targets apply after the segments are combined."""
    targets = '<Targets><Target field="y" rescaleFactor="2" rescaleConstant="1"/></Targets>'
    doc = mining([segment(linear(1.0)), segment(linear(2.0))], "sum", targets=targets)
    assert score(doc, [0.0])["y"] == [pytest.approx(7.0)]


def test_float_math_context_sums_in_single_precision() -> None:
    """x-mathContext="float" adds the segment values in float32, one after the other."""
    values = [0.1, 0.2, 0.3, 1e-8]
    doc = mining([segment(linear(v)) for v in values], "sum", model_attrs='x-mathContext="float"')
    acc = np.float32(0.0)
    for v in values:
        acc = np.float32(acc + np.float32(v))
    got = score(doc, [0.0])["y"][0]
    assert got == pytest.approx(float(acc), rel=1e-12, abs=0.0)
    assert got != pytest.approx(sum(values), rel=1e-12, abs=0.0)


# -- missing predictions ----------------------------------------------------------------------------

WITH_MISSING = [segment(linear(1.0), weight=1.0), segment(linear(2.0), weight=1.0),
                segment(linear(0.0, 1.0), weight=1.0)]


@pytest.mark.parametrize(("treatment", "threshold", "expected"), [
    ("returnMissing", None, None),
    ("continue", None, None),
    ("skipSegment", None, 1.5),
    ("skipSegment", "0.5", 1.5),
    ("skipSegment", "0.3", None),
])
def test_missing_prediction_treatment_decides_whether_a_missing_segment_spoils_the_average(
    treatment: str, threshold: str | None, expected: float | None,
) -> None:
    """returnMissing/continue give missing; skipSegment leaves the segment out up to missingThreshold."""
    attrs = f'missingPredictionTreatment="{treatment}"' + (f' missingThreshold="{threshold}"' if threshold else "")
    got = score(mining(WITH_MISSING, "average", seg_attrs=attrs), [None])["y"][0]
    assert got == (pytest.approx(expected) if expected is not None else None)


def test_select_first_with_skip_segment_passes_a_missing_prediction_on_to_the_next_segment() -> None:
    """skipSegment makes selectFirst try the next segment when the selected one predicts nothing."""
    segs = [segment(linear(0.0, 1.0)), segment(linear(9.0))]
    plain = score(mining(segs, "selectFirst"), [None, 2.0])["y"]
    skipping = score(mining(segs, "selectFirst", seg_attrs='missingPredictionTreatment="skipSegment"'),
                     [None, 2.0])["y"]
    assert plain == [None, pytest.approx(2.0)]
    assert skipping == [pytest.approx(9.0), pytest.approx(2.0)]


# -- selectFirst and modelChain ----------------------------------------------------------------------


def test_select_first_uses_the_first_segment_whose_predicate_holds() -> None:
    """Each row gets the prediction of the first segment selecting it."""
    doc = mining([segment(linear(1.0), G_IS_A), segment(linear(2.0), G_IS_A), segment(linear(3.0))],
                 "selectFirst")
    assert score(doc, [0.0, 0.0, 0.0], ["a", "b", "a"])["y"] == [pytest.approx(1.0), pytest.approx(3.0),
                                                               pytest.approx(1.0)]


def test_model_chain_hands_segment_outputs_to_later_segments_and_the_last_segment_predicts() -> None:
    """A modelChain segment reads an earlier segment's Output field; the last true segment gives the result."""
    first = linear(1.0, 2.0, output='<Output><OutputField name="first" feature="predictedValue"/></Output>',
                   target="")
    second = """<RegressionModel functionName="regression">
      <MiningSchema><MiningField name="first"/><MiningField name="y" usageType="target"/></MiningSchema>
      <RegressionTable intercept="0.5"><NumericPredictor name="first" coefficient="10"/></RegressionTable>
    </RegressionModel>"""
    output = """<Output>
      <OutputField name="double_first" feature="transformedValue" dataType="double" optype="continuous">
        <Apply function="*"><FieldRef field="first"/><Constant>2</Constant></Apply>
      </OutputField>
    </Output>"""
    doc = mining([segment(first), segment(second)], "modelChain", output=output)
    got = score(doc, [1.0, 3.0])
    assert got["y"] == [pytest.approx(30.5), pytest.approx(70.5)]
    assert got["double_first"] == [pytest.approx(6.0), pytest.approx(14.0)]


def test_model_chain_returns_the_output_fields_of_the_final_segment_as_results() -> None:
    """Like JPMML, the Output fields of the segments from the last True one on are results too."""
    final = linear(4.0, output='<Output><OutputField name="from_segment" feature="predictedValue"/></Output>')
    doc = mining([segment(linear(1.0)), segment(final)], "modelChain")
    model = load(doc)
    assert [f.name for f in model.output_fields] == ["y", "from_segment"]
    assert model.score({"x": [0.0], "g": ["a"]}).to_lists()["from_segment"] == [pytest.approx(4.0)]


def test_model_chain_with_return_missing_stops_at_a_missing_segment_prediction() -> None:
    """returnMissing: a missing prediction of an earlier segment is the chain's result."""
    doc = mining([segment(linear(0.0, 1.0)), segment(linear(4.0))], "modelChain",
                 seg_attrs='missingPredictionTreatment="returnMissing"')
    assert score(doc, [None, 1.0])["y"] == [None, pytest.approx(4.0)]


def test_segment_id_output_reads_one_segments_prediction() -> None:
    """OutputField/@segmentId gives that segment's predicted value; missing where it did not run."""
    output = """<Output>
      <OutputField name="first" feature="predictedValue" segmentId="s1"/>
      <OutputField name="third" feature="predictedValue" segmentId="s3"/>
    </Output>"""
    segs = [segment(linear(1.0), G_IS_A, sid="s1"), segment(linear(2.0), sid="s2"),
            segment(linear(0.0, 1.0), sid="s3")]
    got = score(mining(segs, "sum", output=output), [5.0, 6.0], ["a", "b"])
    assert got["first"] == [pytest.approx(1.0), None]
    assert got["third"] == [pytest.approx(5.0), pytest.approx(6.0)]


# -- classification ----------------------------------------------------------------------------------

PROBS = """<Output>
  <OutputField name="p_red" feature="probability" value="red"/>
  <OutputField name="p_green" feature="probability" value="green"/>
  <OutputField name="p_blue" feature="probability" value="blue"/>
</Output>"""


def classify(segs: list[str], method: str, seg_attrs: str = "", x: list[Any] | None = None) -> dict[str, list[Any]]:
    doc = mining(segs, method, function="classification", target="c", output=PROBS, seg_attrs=seg_attrs)
    return score(doc, x if x is not None else [0.0])


def test_majority_vote_probabilities_are_vote_fractions() -> None:
    """majorityVote predicts the most voted category; probabilities are the shares of the votes."""
    got = classify([segment(leaf("red")), segment(leaf("blue")), segment(leaf("blue"))], "majorityVote")
    assert got["c"] == ["blue"]
    assert [got["p_red"][0], got["p_green"][0], got["p_blue"][0]] == pytest.approx([1 / 3, 0.0, 2 / 3])


def test_majority_vote_tie_goes_to_the_category_voted_for_first() -> None:
    """On a tie, the category whose first vote came from the earliest segment wins (JPMML)."""
    got = classify([segment(leaf("green")), segment(leaf("red")), segment(leaf("red")), segment(leaf("green"))],
                   "majorityVote")
    assert got["c"] == ["green"]


def test_weighted_majority_vote_sums_segment_weights() -> None:
    """weightedMajorityVote counts each vote with its segment's weight."""
    got = classify([segment(leaf("red"), weight=3.0), segment(leaf("blue"), weight=1.0),
                    segment(leaf("blue"), weight=1.0)], "weightedMajorityVote")
    assert got["c"] == ["red"]
    assert got["p_red"] == [pytest.approx(0.6)]


def test_majority_vote_with_continue_lets_missing_votes_win_only_with_the_most_votes() -> None:
    """continue counts missing predictions as a pseudo-category that wins with strictly the most votes."""
    segs = [segment(leaf("red", x_missing_is_null=True)), segment(leaf("red", x_missing_is_null=True)),
            segment(leaf("blue"))]
    got = classify(segs, "majorityVote", 'missingPredictionTreatment="continue"', x=[None, 1.0])
    assert got["c"] == [None, "red"]
    tie = [segment(leaf("red", x_missing_is_null=True)), segment(leaf("blue"))]
    got_tie = classify(tie, "majorityVote", 'missingPredictionTreatment="continue"', x=[None])
    assert got_tie["c"] == ["blue"]
    assert got_tie["p_blue"] == [pytest.approx(1.0)]


def test_average_classification_averages_the_probabilities() -> None:
    """average takes the mean probability of each category over the segments."""
    segs = [segment(leaf("red", {"red": 0.6, "green": 0.4})), segment(leaf("blue", {"red": 0.2, "blue": 0.8}))]
    got = classify(segs, "average")
    assert [got["p_red"][0], got["p_green"][0], got["p_blue"][0]] == pytest.approx([0.4, 0.2, 0.4])
    assert got["c"] == ["red"]


def test_weighted_average_classification_weights_the_probabilities() -> None:
    """weightedAverage divides the weighted probabilities by the sum of the weights."""
    segs = [segment(leaf("red", {"red": 0.6, "green": 0.4}), weight=1.0),
            segment(leaf("blue", {"red": 0.2, "blue": 0.8}), weight=3.0)]
    got = classify(segs, "weightedAverage")
    assert [got["p_red"][0], got["p_green"][0], got["p_blue"][0]] == pytest.approx([0.3, 0.1, 0.6])
    assert got["c"] == ["blue"]


def test_max_classification_averages_the_segments_giving_the_highest_probability() -> None:
    """max picks the category with the highest probability and averages the segments that give it."""
    segs = [segment(leaf("red", {"red": 0.6, "green": 0.4})), segment(leaf("green", {"green": 0.9, "blue": 0.1})),
            segment(leaf("green", {"green": 0.9, "red": 0.1}))]
    got = classify(segs, "max")
    assert got["c"] == ["green"]
    assert [got["p_red"][0], got["p_green"][0], got["p_blue"][0]] == pytest.approx([0.05, 0.9, 0.05])


def test_median_classification_averages_the_segments_closest_to_the_median() -> None:
    """median picks the category with the highest median probability and its closest segments."""
    segs = [segment(leaf("red", {"red": 0.5, "green": 0.5})), segment(leaf("red", {"red": 0.7, "blue": 0.3})),
            segment(leaf("green", {"red": 0.1, "green": 0.9}))]
    got = classify(segs, "median")
    assert got["c"] == ["red"]
    assert [got["p_red"][0], got["p_green"][0], got["p_blue"][0]] == pytest.approx([0.5, 0.5, 0.0])


def test_rows_scored_together_equal_rows_scored_alone() -> None:
    """A batch mixing selected segments and missing values gives each row's own result."""
    doc = mining([segment(linear(0.0, 2.0), G_IS_A), segment(linear(3.0), G_IS_B), segment(linear(1.0))],
                 "selectFirst")
    model = load(doc)
    xs, gs = [1.0, None, 2.0, 4.0], ["a", "b", None, "a"]
    together = model.score({"x": xs, "g": gs}).to_lists()["y"]
    alone = [model.score({"x": [x], "g": [g]}).to_lists()["y"][0] for x, g in zip(xs, gs, strict=True)]
    assert together == alone


def test_nested_mining_models_combine_recursively() -> None:
    """A Segment may hold a MiningModel of its own."""
    inner = f"""<MiningModel functionName="regression">
      <MiningSchema><MiningField name="x"/><MiningField name="y" usageType="target"/></MiningSchema>
      <Segmentation multipleModelMethod="sum">{segment(linear(1.0))}{segment(linear(0.0, 1.0))}</Segmentation>
    </MiningModel>"""
    doc = mining([segment(inner), segment(linear(10.0))], "average")
    assert score(doc, [4.0])["y"] == [pytest.approx((5.0 + 10.0) / 2)]


# -- load-time problems ---------------------------------------------------------------------------------


def _doc_without_segmentation() -> bytes:
    return f"""<PMML xmlns="http://www.dmg.org/PMML-4_4" version="4.4">
<DataDictionary>{FIELDS}</DataDictionary>
<MiningModel functionName="regression">
  <MiningSchema><MiningField name="x"/><MiningField name="y" usageType="target"/></MiningSchema>
</MiningModel>
</PMML>""".encode()


@pytest.mark.parametrize(("doc", "message"), [
    (_doc_without_segmentation(), r"MiningModel \(line \d+\): a MiningModel needs a Segmentation"),
    (mining([segment(linear(1.0))], "mostVotes"),
     r"Segmentation .*multipleModelMethod must be one of .* got 'mostVotes'"),
    (mining([segment(linear(1.0))], "majorityVote"),
     r"multipleModelMethod majorityVote is not defined for functionName regression"),
    (mining([segment(leaf("red"))], "sum", function="classification", target="c"),
     r"multipleModelMethod sum is not defined for functionName classification"),
    (mining([segment(linear(1.0))], "average", seg_attrs='missingThreshold="1.5"'),
     r"missingThreshold must be a number from 0 to 1, got '1.5'"),
    (mining([segment(linear(1.0))], "average", seg_attrs='missingPredictionTreatment="ignore"'),
     r"missingPredictionTreatment must be one of returnMissing, skipSegment, continue, got 'ignore'"),
    (mining([segment(linear(1.0))], "modelChain", seg_attrs='missingPredictionTreatment="skipSegment"'),
     r"skipSegment is not defined for a modelChain"),
    (mining([segment(linear(1.0), predicate="")], "sum"), r"Segment \(line \d+\): a Segment needs a predicate"),
    (mining(["<Segment><True/></Segment>"], "sum"), r"a Segment needs exactly one model element, got 0"),
    (mining([segment(linear(1.0), weight=-1.0)], "weightedAverage"),
     r"Segment \(line \d+\): attribute weight must be a finite number of at least 0, got '-1.0'"),
    (mining([segment(linear(1.0), sid="a"), segment(linear(2.0), sid="a")], "sum"), r"Segment id 'a' is used twice"),
    (mining([segment(leaf("red"))], "sum"),
     r"TreeModel \(line \d+\): functionName of a segment model must be regression"),
    (mining(["<Segmentation/>"], "sum").replace(b"<Segmentation/>", b""), r"needs at least one Segment"),
])
def test_invalid_segmentations_are_refused_at_load(doc: bytes, message: str) -> None:
    """Invalid markup is reported at load, naming the element, its line and what was expected."""
    with pytest.raises(DocumentProblems, match=message):
        load(doc)


def test_problems_inside_segment_models_are_reported_with_their_own_element() -> None:
    """A broken nested model is named by its own element and line."""
    broken = linear(1.0).replace('intercept="1.0"', 'intercept="one"')
    with pytest.raises(DocumentProblems, match=r"RegressionTable \(line \d+\): attribute intercept must be a number"):
        load(mining([segment(broken)], "sum"))


def test_missing_threshold_boundary_zero_is_accepted() -> None:
    """missingThreshold 0 is valid: any missing segment makes the result missing with skipSegment."""
    doc = mining(WITH_MISSING, "sum", seg_attrs='missingPredictionTreatment="skipSegment" missingThreshold="0"')
    got = score(doc, [None, 1.0])["y"]
    assert got[0] is None
    assert got[1] == pytest.approx(4.0)
    assert not math.isnan(got[1])


def test_a_chain_segment_predicting_another_target_gives_that_targets_result() -> None:
    """A segment whose target is not the MiningModel's first target fills its own target's column."""
    doc = f"""<PMML xmlns="http://www.dmg.org/PMML-4_4" version="4.4">
<DataDictionary>{FIELDS}</DataDictionary>
<MiningModel functionName="regression">
  <MiningSchema><MiningField name="x"/><MiningField name="c" usageType="target"/>
    <MiningField name="y" usageType="target"/></MiningSchema>
  <Segmentation multipleModelMethod="modelChain">{segment(linear(2.0, 1.0))}</Segmentation>
</MiningModel>
</PMML>""".encode()
    model = load(doc)
    got = model.score({"x": [1.0, 5.0]}).to_lists()
    assert got["c"] == [None, None]
    assert got["y"] == [pytest.approx(3.0), pytest.approx(7.0)]


def test_x_report_output_is_accepted_and_always_missing() -> None:
    """JPMML's x-report feature loads; pmserve writes no MathML report, so the value is missing."""
    output = """<Output>
      <OutputField name="out" feature="predictedValue"/>
      <OutputField name="report(out)" x-reportField="out" feature="x-report"/>
    </Output>"""
    doc = mining([segment(linear(0.0, 2.0, output=output, target=""))], "modelChain", target="")
    model = load(doc)
    got = model.score({"x": [1.5, 4.0], "g": ["a", "b"]}).to_lists()
    assert got["out"] == [pytest.approx(3.0), pytest.approx(8.0)]
    assert got["report(out)"] == [None, None]
    assert next(f for f in model.output_fields if f.name == "report(out)").data_type is DataType.STRING


# -- selectAll: a list of predictions per record ---------------------------------------------------


def test_select_all_predicts_the_list_of_every_true_segments_prediction() -> None:
    """The value is each applicable segment's prediction in order; no segment gives a missing value."""
    segs = [segment(linear(1.0), G_IS_A), segment(linear(0.0, 1.0)), segment(linear(3.0), G_IS_A)]
    doc = mining(segs, "selectAll")
    model = load(doc)
    assert model.output_fields[0].collection
    got = model.score({"x": [5.0, 6.0, None], "g": ["a", "b", "a"]}).to_lists()["y"]
    assert got == [[pytest.approx(1.0), pytest.approx(5.0), pytest.approx(3.0)], [pytest.approx(6.0)],
                   [pytest.approx(1.0), None, pytest.approx(3.0)]]
    only_a = mining([segment(linear(1.0), G_IS_A)], "selectAll")
    assert load(only_a).score({"x": [1.0, 1.0], "g": ["a", "b"]}).to_lists()["y"] == [[pytest.approx(1.0)], None]


def test_select_all_of_classifiers_lists_categories_and_gives_no_probability_columns() -> None:
    """A classification selectAll lists the segments' categories; it has no probability(...) results."""
    doc = mining([segment(leaf("red")), segment(leaf("blue")), segment(leaf("red"))], "selectAll",
                 function="classification", target="c")
    model = load(doc)
    assert [f.name for f in model.output_fields] == ["c"]
    assert model.score({"x": [0.0], "g": ["a"]}).rows() == [[["red", "blue", "red"]]]


def test_select_all_with_return_missing_makes_a_list_with_a_missing_item_missing() -> None:
    """returnMissing: one segment without a prediction makes the whole record's list missing."""
    doc = mining([segment(linear(1.0)), segment(linear(0.0, 1.0))], "selectAll",
                 seg_attrs='missingPredictionTreatment="returnMissing"')
    assert score(doc, [None, 2.0])["y"] == [None, [pytest.approx(1.0), pytest.approx(2.0)]]


def test_select_all_output_field_reads_one_segment() -> None:
    """An OutputField with segmentId is that segment's prediction, not a list."""
    output = '<Output><OutputField name="second" feature="predictedValue" segmentId="s2"/></Output>'
    doc = mining([segment(linear(1.0), sid="s1"), segment(linear(0.0, 2.0), sid="s2")], "selectAll", output=output)
    assert score(doc, [4.0])["second"] == [pytest.approx(8.0)]


@pytest.mark.parametrize(("doc", "message"), [
    (mining([segment(linear(1.0))], "selectAll", output='<Output><OutputField name="o"/></Output>'),
     r"OutputField \(line \d+\): an OutputField of a selectAll MiningModel needs segmentId"),
    (mining([segment(linear(1.0))], "selectAll", seg_attrs='missingPredictionTreatment="skipSegment"'),
     r"missingPredictionTreatment skipSegment with selectAll is not supported"),
    (mining([segment(linear(1.0))], "selectAll", targets='<Targets><Target rescaleFactor="2"/></Targets>'),
     r"Targets \(line \d+\): Targets of a selectAll MiningModel are not supported"),
    (mining([segment(mining([segment(linear(1.0))], "selectAll").decode().split("<MiningModel", 1)[1]
                     .rsplit("</PMML>", 1)[0].join(["<MiningModel", ""]))], "sum"),
     r"a selectAll MiningModel inside a Segment is not supported"),
])
def test_select_all_refuses_what_a_list_prediction_cannot_serve(doc: bytes, message: str) -> None:
    """Outputs, Targets and parents that would need one value per record are refused as unsupported."""
    with pytest.raises(DocumentProblems, match=message) as info:
        load(doc)
    assert info.value.unsupported


def test_select_all_segments_must_predict_the_mining_models_target() -> None:
    """A segment predicting another field would not fit in the target's list: invalid."""
    with pytest.raises(DocumentProblems, match=r"a selectAll segment must predict the MiningModel's target 'y', "
                                               r"but segment '1' predicts 'c'"):
        load(mining([segment(linear(1.0, target="c"))], "selectAll"))


# -- x-multiModelChain: a chain whose segments predict different targets ------------------------


def multi_chain(segments: list[str], seg_attrs: str = "", output: str = "") -> bytes:
    """A mixed MiningModel with targets y and c, combined with JPMML's x-multiModelChain."""
    doc = mining(segments, "x-multiModelChain", function="mixed", target="y", output=output,
                 seg_attrs=seg_attrs).decode()
    return doc.replace('<MiningField name="y" usageType="target"/>',
                       '<MiningField name="y" usageType="target"/><MiningField name="c" usageType="target"/>',
                       1).encode()


HANDS_ON = '<Output><OutputField name="doubled" feature="predictedValue"/></Output>'


def classify_doubled() -> str:
    """A classification segment that reads the earlier segment's output 'doubled'."""
    return """<TreeModel functionName="classification" noTrueChildStrategy="returnLastPrediction">
      <MiningSchema><MiningField name="doubled"/><MiningField name="c" usageType="target"/></MiningSchema>
      <Output><OutputField name="p_red" feature="probability" value="red"/></Output>
      <Node score="blue"><True/><ScoreDistribution value="blue" recordCount="1"/>
        <Node score="red"><SimplePredicate field="doubled" operator="greaterThan" value="5"/>
          <ScoreDistribution value="red" recordCount="3"/><ScoreDistribution value="blue" recordCount="1"/></Node>
      </Node>
    </TreeModel>"""


def test_multi_model_chain_gives_every_segments_target_and_outputs_as_results() -> None:
    """Each segment predicts its own target; later segments read earlier outputs; outputs are results."""
    model = load(multi_chain([segment(linear(0.0, 2.0, output=HANDS_ON)), segment(classify_doubled())]))
    assert [f.name for f in model.output_fields] == ["y", "c", "doubled", "p_red"]
    got = model.score({"x": [1.0, 4.0], "g": ["a", "a"]}).to_lists()
    assert got["y"] == [pytest.approx(2.0), pytest.approx(8.0)]
    assert got["doubled"] == got["y"]
    assert got["c"] == ["blue", "red"]
    assert got["p_red"] == [pytest.approx(0.0), pytest.approx(0.75)]


def test_multi_model_chain_target_missing_where_its_segment_does_not_apply() -> None:
    """A target whose segment's predicate is false for a record has a missing value there."""
    doc = multi_chain([segment(linear(0.0, 2.0, output=HANDS_ON)), segment(classify_doubled(), G_IS_A)])
    got = load(doc).score({"x": [4.0, 4.0], "g": ["a", "b"]}).to_lists()
    assert got["c"] == ["red", None]
    assert got["y"] == [pytest.approx(8.0), pytest.approx(8.0)]


def test_multi_model_chain_output_with_target_field_reads_that_target() -> None:
    """The MiningModel's own OutputField with targetField describes that target's prediction."""
    output = """<Output><OutputField name="p_blue" feature="probability" value="blue" targetField="c"/>
      <OutputField name="y_again" feature="predictedValue"/></Output>"""
    doc = multi_chain([segment(linear(0.0, 2.0, output=HANDS_ON)), segment(classify_doubled())], output=output)
    got = load(doc).score({"x": [4.0], "g": ["a"]}).to_lists()
    assert got["p_blue"] == [pytest.approx(0.25)]
    assert got["y_again"] == [pytest.approx(8.0)]


def test_multi_model_chain_return_missing_makes_every_result_of_the_record_missing() -> None:
    """returnMissing: a missing segment prediction stops the chain for that record."""
    doc = multi_chain([segment(linear(0.0, 2.0, output=HANDS_ON)), segment(classify_doubled())],
                      seg_attrs='missingPredictionTreatment="returnMissing"')
    got = load(doc).score({"x": [None, 4.0], "g": ["a", "a"]}).to_lists()
    assert got["y"] == [None, pytest.approx(8.0)]
    assert got["c"] == [None, "red"]


@pytest.mark.parametrize(("segments", "message"), [
    ([segment(linear(1.0)), segment(linear(2.0))],
     r"segments '1' and '2' of an x-multiModelChain both predict 'y'"),
    ([segment(linear(1.0, target=""))], r"segment '1' of an x-multiModelChain predicts 'prediction'; expected one"),
    ([segment(linear(1.0))], None),
])
def test_multi_model_chain_segments_predict_distinct_targets_of_the_mining_model(
    segments: list[str], message: str | None,
) -> None:
    """Two segments predicting one target, or a segment predicting no target of the model, are invalid."""
    if message is None:
        assert score(multi_chain(segments), [1.0])["c"] == [None]
        return
    with pytest.raises(DocumentProblems, match=message):
        load(multi_chain(segments))
