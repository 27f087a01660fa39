"""NearestNeighborModel (pmserve.pmml.models.nearest_neighbor): neighbours, scoring methods, ties, refusals."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from typing import Any

import pytest

from pmserve.errors import DocumentProblems
from pmserve.pmml import load

#: Training instances (x, label, amount, id) of the documents below.
TRAINING = [(1.0, "low", 10.0, "p"), (2.0, "mid", 20.0, "q"), (3.0, "mid", 30.0, "r"),
            (4.0, "high", 40.0, "s"), (5.0, "high", 60.0, "t")]


def table(rows: Sequence[tuple[float, str, float, str]] = TRAINING) -> str:
    return "".join(f"<row><in>{x}</in><lab>{lab}</lab><amt>{amt}</amt><key>{key}</key></row>"
                   for x, lab, amt, key in rows)


def document(
    target: str = "label",
    k: int = 2,
    attrs: str = "",
    measure: str = "<squaredEuclidean/>",
    inputs: str = '<KNNInput field="x" compareFunction="absDiff"/>',
    output: str = "",
    instances: str | None = None,
    rows: Sequence[tuple[float, str, float, str]] = TRAINING,
    function: str | None = None,
    kind: str = "distance",
    extra_fields: str = "",
    local: str = "",
) -> bytes:
    """A one-input KNN model over TRAINING predicting ``label`` (categorical) or ``amount``."""
    fn = function or ("classification" if target == "label" else "regression")
    mining_target = f'<MiningField name="{target}" usageType="target"/>' if fn != "clustering" else ""
    fields = instances if instances is not None else """
        <InstanceField field="x" column="in"/><InstanceField field="label" column="lab"/>
        <InstanceField field="amount" column="amt"/><InstanceField field="key" column="key"/>"""
    return f"""<PMML xmlns="http://www.dmg.org/PMML-4_4" version="4.4">
<Header/>
<DataDictionary>
  <DataField name="x" optype="continuous" dataType="double"/>
  <DataField name="label" optype="categorical" dataType="string"/>
  <DataField name="amount" optype="continuous" dataType="double"/>
  {extra_fields}
</DataDictionary>
<NearestNeighborModel functionName="{fn}" numberOfNeighbors="{k}" {attrs}>
  <MiningSchema><MiningField name="x"/>{mining_target}</MiningSchema>
  {output}
  {local}
  <TrainingInstances><InstanceFields>{fields}</InstanceFields>
    <InlineTable>{table(rows)}</InlineTable></TrainingInstances>
  <ComparisonMeasure kind="{kind}">{measure}</ComparisonMeasure>
  <KNNInputs>{inputs}</KNNInputs>
</NearestNeighborModel>
</PMML>""".encode()


def predict(doc: bytes, xs: Sequence[Any], column: str) -> list[Any]:
    return load(doc).score({"x": list(xs)}).to_lists()[column]


def nearest(x: float, k: int) -> list[int]:
    """Indices of the k training instances nearest to x, ties in training order."""
    return sorted(range(len(TRAINING)), key=lambda i: abs(TRAINING[i][0] - x))[:k]


def test_majority_vote_predicts_the_commonest_label_of_the_k_nearest() -> None:
    """k=3: the most frequent label among the three nearest instances."""
    got = predict(document(k=3), [1.2, 4.9, 3.1], "label")
    want = [statistics.mode(TRAINING[i][1] for i in nearest(x, 3)) for x in (1.2, 4.9, 3.1)]
    assert got == want


def test_training_cells_in_a_namespace_are_read_by_their_local_name() -> None:
    """sklearn2pmml writes <data:in> cells for column="data:in" (xmlns:data on the root)."""
    prefixed = document(k=3, instances="""
        <InstanceField field="x" column="data:in"/><InstanceField field="label" column="data:lab"/>""")
    prefixed = prefixed.replace(b"<row><in>", b"<row><data:in>").replace(b"</in>", b"</data:in>")
    prefixed = prefixed.replace(b"<lab>", b"<data:lab>").replace(b"</lab>", b"</data:lab>")
    prefixed = prefixed.replace(b'version="4.4">', b'version="4.4" xmlns:data="http://jpmml.org/jpmml-model/InlineTable">',
                                1)
    assert predict(prefixed, [1.2, 4.9, 3.1], "label") == predict(document(k=3), [1.2, 4.9, 3.1], "label")


def test_vote_ties_go_to_the_label_with_more_training_instances_then_the_smallest() -> None:
    """A 1-1 tie between 'low' (1 case) and 'mid' (2 cases) goes to 'mid'; 'high' v 'mid' to 'high'."""
    assert predict(document(k=2), [1.5], "label") == ["mid"]
    assert predict(document(k=2), [3.5], "label") == ["high"]


def test_weighted_majority_vote_weighs_neighbours_by_inverse_distance() -> None:
    """weightedMajorityVote: the nearer of two single votes wins."""
    doc = document(k=2, attrs='categoricalScoringMethod="weightedMajorityVote"')
    assert predict(doc, [1.4, 1.6], "label") == ["low", "mid"]


@pytest.mark.parametrize(
    ("method", "k", "reference"),
    [
        ("average", 3, lambda vals, dists: sum(vals) / len(vals)),
        ("median", 2, lambda vals, dists: statistics.median(vals)),
        ("median", 3, lambda vals, dists: statistics.median(vals)),
        ("weightedAverage", 3, lambda vals, dists: sum(v / (d + 0.001) for v, d in zip(vals, dists, strict=True))
         / sum(1 / (d + 0.001) for d in dists)),
    ],
)
def test_continuous_scoring_methods(method: str, k: int, reference: Any) -> None:
    """average, median (mean of the middle two for even k) and weightedAverage of the neighbours."""
    doc = document("amount", k=k, attrs=f'continuousScoringMethod="{method}"')
    xs = [1.3, 4.6, 2.2]
    got = predict(doc, xs, "amount")
    for x, value in zip(xs, got, strict=True):
        idx = nearest(x, k)
        want = reference([TRAINING[i][2] for i in idx], [(TRAINING[i][0] - x) ** 2 for i in idx])
        assert value == pytest.approx(want, rel=1e-12)


def test_threshold_sets_the_weight_of_an_exact_match() -> None:
    """weight = 1 / (distance + threshold): a larger threshold damps an exact match."""
    doc = document("amount", k=2, attrs='continuousScoringMethod="weightedAverage" threshold="1"')
    w1, w2 = 1 / (0 + 1), 1 / (1 + 1)
    assert predict(doc, [2.0], "amount") == [pytest.approx((20 * w1 + 10 * w2) / (w1 + w2))]


def test_entity_ids_and_affinities_by_rank_use_the_instance_id_variable() -> None:
    """entityId/affinity rank r: the r-th nearest instance's id and distance."""
    output = """<Output><OutputField name="n1" feature="entityId" rank="1"/>
        <OutputField name="n2" feature="entityId" rank="2"/><OutputField name="n3" feature="entityId" rank="3"/>
        <OutputField name="d1" feature="affinity" rank="1"/><OutputField name="d3" feature="affinity" rank="3"/>
        <OutputField name="to_t" feature="entityAffinity" value="t"/></Output>"""
    got = load(document(k=1, attrs='instanceIdVariable="key"', output=output)).score({"x": [3.8]}).to_lists()
    order = nearest(3.8, 3)
    assert [got["n1"][0], got["n2"][0], got["n3"][0]] == [TRAINING[i][3] for i in order]
    assert got["d1"] == [pytest.approx((TRAINING[order[0]][0] - 3.8) ** 2)]
    assert got["d3"] == [pytest.approx((TRAINING[order[2]][0] - 3.8) ** 2)]
    assert got["to_t"] == [pytest.approx((5.0 - 3.8) ** 2)]


def test_without_an_id_variable_entity_ids_are_row_numbers_from_one() -> None:
    """Entity ids default to the 1-based InlineTable row."""
    output = '<Output><OutputField name="n1" feature="entityId"/><OutputField name="n2" feature="entityId" ' \
             'rank="2"/></Output>'
    got = load(document(output=output)).score({"x": [4.1]}).to_lists()
    assert (got["n1"], got["n2"]) == (["4"], ["5"])


def test_equally_distant_instances_rank_in_training_order() -> None:
    """Two instances at the same distance: the earlier one ranks first."""
    output = '<Output><OutputField name="n1" feature="entityId"/></Output>'
    got = load(document(k=1, output=output)).score({"x": [2.5]}).to_lists()
    assert got["n1"] == ["2"]


def test_string_inputs_compare_with_delta() -> None:
    """A categorical KNN input counts mismatches (delta); unknown values match nothing."""
    inputs = '<KNNInput field="x" compareFunction="absDiff"/><KNNInput field="label" compareFunction="delta"/>'
    doc = document("amount", k=1, inputs=inputs, attrs='continuousScoringMethod="average"').replace(
        b'<MiningField name="x"/>', b'<MiningField name="x"/><MiningField name="label"/>')
    model = load(doc)
    got = model.score({"x": [3.4, 3.4, 3.4], "label": ["high", "mid", "unseen"]}).to_lists()["amount"]
    # Squared distances to 3 (mid, 30) and 4 (high, 40): 0.16 + mismatch and 0.36 + mismatch.
    assert got == [pytest.approx(40.0), pytest.approx(30.0), pytest.approx(30.0)]


def test_a_derived_input_is_computed_for_the_training_instances_too() -> None:
    """LocalTransformations apply to the training instances as to the records."""
    local = """<LocalTransformations><DerivedField name="neg" optype="continuous" dataType="double">
        <Apply function="*"><FieldRef field="x"/><Constant>-10</Constant></Apply></DerivedField>
        </LocalTransformations>"""
    doc = document(k=1, local=local, inputs='<KNNInput field="neg" compareFunction="absDiff"/>')
    assert predict(doc, [1.1, 4.2], "label") == ["low", "high"]


def test_a_missing_input_scales_the_distance_and_all_missing_fails_the_record() -> None:
    """One of two inputs missing: adjusted distance; every input missing: a row error."""
    inputs = '<KNNInput field="x" compareFunction="absDiff"/><KNNInput field="amount" compareFunction="absDiff"/>'
    output = '<Output><OutputField name="d1" feature="affinity"/></Output>'
    doc = document(k=1, inputs=inputs, output=output).replace(
        b'<MiningField name="x"/>', b'<MiningField name="x"/><MiningField name="amount"/>')
    scored = load(doc).score({"x": [2.2, None], "amount": [None, None]}, errors="collect")
    assert scored.to_lists()["d1"][0] == pytest.approx((2.2 - 2.0) ** 2 * 2 / 1)
    assert set(scored.errors) == {1}
    assert "undefined" in str(scored.errors[1])


def test_similarity_measure_picks_the_most_similar_instances() -> None:
    """jaccard over a binary input: instances sharing the 1 are the most similar."""
    rows = [(0.0, "low", 1.0, "a"), (1.0, "high", 2.0, "b"), (1.0, "high", 3.0, "c")]
    doc = document(k=1, measure="<jaccard/>", kind="similarity", rows=rows)
    assert predict(doc, [1.0], "label") == ["high"]


def test_clustering_function_gives_neighbour_ids_without_a_prediction() -> None:
    """functionName clustering: entity ids of the nearest instances, no target."""
    output = '<Output><OutputField name="n1" feature="entityId"/></Output>'
    doc = document(function="clustering", attrs='instanceIdVariable="key"', output=output)
    assert load(doc).score({"x": [4.9]}).to_lists()["n1"] == ["t"]


def test_rows_scored_in_blocks_equal_rows_scored_one_by_one() -> None:
    """A batch larger than one distance block gives the same results as single rows."""
    rows = [(float(i), "low" if i % 3 else "high", float(i * i), f"id{i}") for i in range(600)]
    model = load(document("amount", k=3, rows=rows))
    xs = [((i * 37) % 6000) / 10.0 for i in range(2000)]
    batch = model.score({"x": xs}).to_lists()["amount"]
    for i in (0, 1, 999, 1999):
        assert model.score({"x": [xs[i]]}).to_lists()["amount"] == [batch[i]]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"k": 6}, "numberOfNeighbors is 6 but there are only 5 training instances"),
        ({"k": 0}, "attribute numberOfNeighbors must be an integer of at least 1"),
        ({"attrs": 'continuousScoringMethod="mode"'}, "continuousScoringMethod must be one of"),
        ({"attrs": 'categoricalScoringMethod="weightedMajorityVote"', "measure": "<jaccard/>",
          "kind": "similarity"}, "is a similarity"),
        ({"inputs": '<KNNInput field="label" compareFunction="absDiff"/>'}, "needs a numeric field"),
        ({"inputs": '<KNNInput field="x" compareFunction="gaussSim"/>'}, "needs attribute similarityScale"),
        ({"inputs": ""}, "at least one KNNInput"),
        ({"instances": '<InstanceField field="x" column="in"/>'}, "no column for target field 'label'"),
        ({"function": "clustering"}, "needs attribute instanceIdVariable"),
        ({"attrs": 'instanceIdVariable="nope"'}, "instanceIdVariable 'nope' is not one of the InstanceFields"),
        ({"measure": "<jaccard/>", "kind": "similarity"}, "values other than 0 and 1"),
    ],
)
def test_bad_or_unsupported_markup_is_refused_at_load(kwargs: dict[str, Any], message: str) -> None:
    """Invalid or unsupported KNN markup is reported at load, naming what was expected."""
    with pytest.raises(DocumentProblems, match=message):
        load(document(**kwargs))


def test_an_unreadable_training_value_is_refused_naming_the_instance() -> None:
    """A training cell that is not of the field's type is an invalid document."""
    doc = document().replace(b"<in>3.0</in>", b"<in>three</in>")
    with pytest.raises(DocumentProblems, match="training instance 3, field 'x': expected a number"):
        load(doc)


def test_a_table_locator_is_refused_as_unsupported() -> None:
    """Training instances must be inline; an external table is unsupported."""
    doc = document().replace(f"<InlineTable>{table()}</InlineTable>".encode(), b"<TableLocator/>")
    with pytest.raises(DocumentProblems, match="TableLocator") as info:
        load(doc)
    assert info.value.unsupported


# -- several targets -----------------------------------------------------------------------------

def mixed_document(output: str = "", targets: str = "") -> bytes:
    """A mixed KNN predicting label (majority vote) and amount (average) from the same neighbours."""
    both = '<MiningField name="x"/><MiningField name="label" usageType="target"/>' \
           '<MiningField name="amount" usageType="predicted"/>'
    doc = document(k=3, function="mixed", output=output + targets).decode()
    start, end = doc.index("<MiningSchema>"), doc.index("</MiningSchema>")
    return (doc[:start] + f"<MiningSchema>{both}" + doc[end:]).encode()


PER_TARGET_OUTPUT = """<Output>
  <OutputField name="amount_out" feature="predictedValue" targetField="amount"/>
  <OutputField name="label_out" feature="predictedValue" targetField="label"/>
  <OutputField name="first_out" feature="predictedValue"/>
  <OutputField name="amount_neighbour" feature="entityId" targetField="amount"/>
</Output>"""


def test_a_mixed_model_predicts_every_target_from_the_same_neighbours() -> None:
    """Each target is a result column: the vote of the labels, the average of the amounts."""
    xs = [1.2, 4.9, 3.1]
    model = load(mixed_document())
    assert [f.name for f in model.output_fields] == ["label", "amount"]
    assert [f.name for f in model.target_fields] == ["label", "amount"]
    got = model.score({"x": xs}).to_lists()
    assert got["label"] == [statistics.mode(TRAINING[i][1] for i in nearest(x, 3)) for x in xs]
    assert got["amount"] == [pytest.approx(statistics.fmean(TRAINING[i][2] for i in nearest(x, 3))) for x in xs]


def test_output_fields_with_target_field_read_their_own_targets_prediction() -> None:
    """targetField picks the target an OutputField describes; without it, the first target."""
    got = load(mixed_document(PER_TARGET_OUTPUT)).score({"x": [1.2, 4.9]}).to_lists()
    assert got["amount_out"] == got["amount"]
    assert got["label_out"] == got["label"] == got["first_out"]
    assert got["amount_neighbour"] == [str(nearest(x, 1)[0] + 1) for x in (1.2, 4.9)]


def test_targets_element_rescales_each_target_by_its_own_target() -> None:
    """A Target names its field: the amount is rescaled, its output field too, the label is not."""
    targets = '<Targets><Target field="amount" rescaleFactor="2" rescaleConstant="1"/></Targets>'
    plain = load(mixed_document(PER_TARGET_OUTPUT)).score({"x": [1.2, 4.9]}).to_lists()
    got = load(mixed_document(PER_TARGET_OUTPUT, targets)).score({"x": [1.2, 4.9]}).to_lists()
    assert got["amount"] == [pytest.approx(2 * a + 1) for a in plain["amount"]]
    assert got["amount_out"] == got["amount"]
    assert got["label"] == plain["label"]


def test_other_model_types_with_several_targets_are_refused_as_unsupported() -> None:
    """Only compilers that predict every target accept several; the others say so at load."""
    doc = b"""<PMML xmlns="http://www.dmg.org/PMML-4_4" version="4.4"><DataDictionary>
      <DataField name="x" optype="continuous" dataType="double"/>
      <DataField name="y" optype="continuous" dataType="double"/>
      <DataField name="z" optype="continuous" dataType="double"/></DataDictionary>
      <RegressionModel functionName="regression"><MiningSchema><MiningField name="x"/>
        <MiningField name="y" usageType="target"/><MiningField name="z" usageType="target"/></MiningSchema>
        <RegressionTable intercept="1"/></RegressionModel></PMML>"""
    with pytest.raises(DocumentProblems, match=r"RegressionModel \(line \d+\): 2 target fields; a RegressionModel "
                                               r"with more than one target is not supported") as info:
        load(doc)
    assert info.value.unsupported
