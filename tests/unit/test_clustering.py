"""ClusteringModel (pmserve.pmml.models.clustering): measures, compare functions, missing values, outputs."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest

from pmserve.errors import DocumentProblems
from pmserve.pmml import load

OUTPUTS = """
  <Output>
    <OutputField name="id" feature="predictedValue" dataType="string"/>
    <OutputField name="name" feature="predictedDisplayValue"/>
    <OutputField name="best" feature="affinity"/>
    <OutputField name="second" feature="entityId" rank="2"/>
    <OutputField name="second_affinity" feature="affinity" rank="2"/>
    <OutputField name="to_a" feature="clusterAffinity" value="a"/>
  </Output>"""

CLUSTERS = """
  <Cluster id="a" name="origin"><Array n="2" type="real">0 0</Array></Cluster>
  <Cluster id="b" name="far"><Array n="2" type="real">3 4</Array></Cluster>"""


def document(
    measure: str = "<squaredEuclidean/>",
    fields: str = '<ClusteringField field="x"/><ClusteringField field="y"/>',
    clusters: str = CLUSTERS,
    extra: str = "",
    kind: str = "distance",
    model_attrs: str = 'modelClass="centerBased"',
    outputs: str = OUTPUTS,
    measure_attrs: str = "",
) -> bytes:
    """A two-field clustering model with the given parts."""
    return f"""<PMML xmlns="http://www.dmg.org/PMML-4_4" version="4.4">
<Header/>
<DataDictionary>
  <DataField name="x" optype="continuous" dataType="double"/>
  <DataField name="y" optype="continuous" dataType="double"/>
</DataDictionary>
<ClusteringModel functionName="clustering" {model_attrs} numberOfClusters="2">
  <MiningSchema><MiningField name="x"/><MiningField name="y"/></MiningSchema>
  {outputs}
  <ComparisonMeasure kind="{kind}" {measure_attrs}>{measure}</ComparisonMeasure>
  {fields}
  {extra}
  {clusters}
</ClusteringModel>
</PMML>""".encode()


def score(doc: bytes, **columns: Sequence[Any]) -> dict[str, list[Any]]:
    return load(doc).score(dict(columns)).to_lists()


def minkowski(p: float, a: Sequence[float], b: Sequence[float]) -> float:
    return float(sum(abs(u - v) ** p for u, v in zip(a, b, strict=True)) ** (1 / p))


@pytest.mark.parametrize(
    ("measure", "reference"),
    [
        ("<squaredEuclidean/>", lambda a, b: sum((u - v) ** 2 for u, v in zip(a, b, strict=True))),
        ("<euclidean/>", lambda a, b: math.dist(a, b)),
        ("<cityBlock/>", lambda a, b: sum(abs(u - v) for u, v in zip(a, b, strict=True))),
        ("<chebychev/>", lambda a, b: max(abs(u - v) for u, v in zip(a, b, strict=True))),
        ('<minkowski p-parameter="3"/>', lambda a, b: minkowski(3.0, a, b)),
    ],
)
def test_distance_measures_give_the_affinity_of_every_cluster(measure: str, reference: Any) -> None:
    """Each distance measure gives the textbook distance from the record to each center."""
    got = score(document(measure), x=[1.0, 2.5], y=[1.0, 3.5])
    for i, record in enumerate([(1.0, 1.0), (2.5, 3.5)]):
        to_a, to_b = reference(record, (0.0, 0.0)), reference(record, (3.0, 4.0))
        assert got["to_a"][i] == pytest.approx(to_a, rel=1e-12)
        assert got["best"][i] == pytest.approx(min(to_a, to_b), rel=1e-12)
        assert got["second_affinity"][i] == pytest.approx(max(to_a, to_b), rel=1e-12)
    assert got["id"] == ["a", "b"]
    assert got["second"] == ["b", "a"]


def test_winner_is_named_by_id_and_displayed_by_name() -> None:
    """predictedValue is the cluster id, predictedDisplayValue the cluster name."""
    got = score(document(), x=[0.1, 2.9], y=[0.2, 4.1])
    assert got["id"] == ["a", "b"]
    assert got["name"] == ["origin", "far"]


def test_clusters_without_id_are_numbered_from_one_and_without_name_display_nothing() -> None:
    """A cluster without id is its 1-based position; without a name it has no display value."""
    clusters = """<Cluster><Array n="2" type="real">0 0</Array></Cluster>
                  <Cluster name="second"><Array n="2" type="real">3 4</Array></Cluster>"""
    outputs = """<Output><OutputField name="id" feature="predictedValue" dataType="string"/>
                 <OutputField name="name" feature="predictedDisplayValue"/></Output>"""
    got = score(document(clusters=clusters, outputs=outputs), x=[0.0, 3.0], y=[0.0, 4.0])
    assert got["id"] == ["1", "2"]
    assert got["name"] == [None, "second"]


def test_equally_near_clusters_go_to_the_first_in_document_order() -> None:
    """A record halfway between two centers belongs to the first cluster."""
    clusters = """<Cluster id="late"><Array n="2" type="real">2 0</Array></Cluster>
                  <Cluster id="early"><Array n="2" type="real">0 0</Array></Cluster>"""
    outputs = """<Output><OutputField name="id" feature="predictedValue" dataType="string"/>
                 <OutputField name="second" feature="entityId" rank="2"/></Output>"""
    got = score(document(clusters=clusters, outputs=outputs), x=[1.0], y=[0.0])
    assert got["id"] == ["late"]
    assert got["second"] == ["early"]


@pytest.mark.parametrize(
    ("function", "attrs", "inner"),
    [
        ("absDiff", "", lambda d: abs(d)),
        ("gaussSim", 'similarityScale="2"', lambda d: math.exp(-math.log(2) * d * d / 4)),
        ("delta", "", lambda d: 0.0 if d == 0 else 1.0),
        ("equal", "", lambda d: 1.0 if d == 0 else 0.0),
    ],
)
def test_compare_functions_and_field_weights(function: str, attrs: str, inner: Any) -> None:
    """cityBlock sums fieldWeight * compare(x, center) over the fields."""
    fields = (f'<ClusteringField field="x" compareFunction="{function}" fieldWeight="2" {attrs}/>'
              f'<ClusteringField field="y" compareFunction="{function}" {attrs}/>')
    got = score(document("<cityBlock/>", fields), x=[1.0, 0.0], y=[4.0, 0.5])
    for i, (x, y) in enumerate([(1.0, 4.0), (0.0, 0.5)]):
        assert got["to_a"][i] == pytest.approx(2 * inner(x - 0.0) + inner(y - 0.0), rel=1e-12)


def test_the_measure_default_compare_function_applies_to_fields_without_one() -> None:
    """ComparisonMeasure/@compareFunction is the default of every ClusteringField."""
    got = score(document("<cityBlock/>", measure_attrs='compareFunction="delta"'), x=[0.0], y=[7.0])
    assert got["to_a"] == [pytest.approx(1.0)]


def test_a_missing_value_is_left_out_and_the_distance_scaled_up() -> None:
    """PMML: with a value missing, the sum is scaled by all weights / weights of present values."""
    got = score(document("<cityBlock/>"), x=[2.0], y=[None])
    assert got["to_a"] == [pytest.approx(2.0 * 2 / 1)]


def test_missing_value_weights_scale_the_adjustment() -> None:
    """MissingValueWeights replace the equal weights of the adjustment."""
    extra = '<MissingValueWeights><Array n="2" type="real">1 3</Array></MissingValueWeights>'
    got = score(document("<cityBlock/>", extra=extra), x=[2.0], y=[None])
    assert got["to_a"] == [pytest.approx(2.0 * 4 / 1)]


def test_a_record_with_every_field_missing_fails_alone() -> None:
    """No value to compare: the record gets an error, the others are scored."""
    scored = load(document()).score({"x": [None, 1.0], "y": [None, 1.0]}, errors="collect")
    assert set(scored.errors) == {0}
    assert "undefined" in str(scored.errors[0])
    assert scored.to_lists()["id"] == [None, "a"]


def test_fields_that_are_not_center_fields_are_not_compared() -> None:
    """isCenterField="false" fields take no part in the distance."""
    fields = '<ClusteringField field="x"/><ClusteringField field="y" isCenterField="false"/>'
    clusters = """<Cluster id="a"><Array n="1" type="real">0</Array></Cluster>
                  <Cluster id="b"><Array n="1" type="real">3</Array></Cluster>"""
    got = score(document(fields=fields, clusters=clusters), x=[2.0], y=[-100.0])
    assert got["id"] == ["b"]
    assert got["best"] == [pytest.approx(1.0)]


@pytest.mark.parametrize(
    ("measure", "reference"),
    [
        ("<simpleMatching/>", lambda a11, a10, a01, a00: (a11 + a00) / (a11 + a10 + a01 + a00)),
        ("<jaccard/>", lambda a11, a10, a01, a00: a11 / (a11 + a10 + a01)),
        ("<tanimoto/>", lambda a11, a10, a01, a00: (a11 + a00) / (a11 + 2 * (a10 + a01) + a00)),
        ('<binarySimilarity c00-parameter="1" c01-parameter="0" c10-parameter="0" c11-parameter="2" '
         'd00-parameter="1" d01-parameter="1" d10-parameter="1" d11-parameter="1"/>',
         lambda a11, a10, a01, a00: (2 * a11 + a00) / (a11 + a10 + a01 + a00)),
    ],
)
def test_similarity_measures_pick_the_most_similar_cluster(measure: str, reference: Any) -> None:
    """Binary similarities count matches of 0/1 values; the largest similarity wins."""
    clusters = """<Cluster id="a"><Array n="2" type="real">1 0</Array></Cluster>
                  <Cluster id="b"><Array n="2" type="real">1 1</Array></Cluster>"""
    got = score(document(measure, clusters=clusters, kind="similarity"), x=[1.0], y=[1.0])
    to_a, to_b = reference(1, 1, 0, 0), reference(2, 0, 0, 0)  # (1, 1) against (1, 0) and (1, 1)
    assert got["to_a"] == [pytest.approx(to_a)]
    assert got["best"] == [pytest.approx(to_b)]
    assert got["id"] == ["b"]


def test_similarity_of_a_value_other_than_zero_or_one_fails_the_record() -> None:
    """A binary similarity is undefined for a value that is not 0 or 1."""
    doc = document("<jaccard/>", kind="similarity")
    scored = load(doc).score({"x": [0.5, 1.0], "y": [1.0, 1.0]}, errors="collect")
    assert set(scored.errors) == {0}


def test_rows_scored_together_equal_rows_scored_one_by_one() -> None:
    """Batch scoring is row-independent."""
    model = load(document("<euclidean/>"))
    xs, ys = [0.5, 2.0, None, 3.1], [0.1, None, 4.0, 3.9]
    batch = model.score({"x": xs, "y": ys}).to_lists()
    for i in range(len(xs)):
        one = model.score({"x": [xs[i]], "y": [ys[i]]}).to_lists()
        assert {k: v[0] for k, v in one.items()} == {k: v[i] for k, v in batch.items()}


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"model_attrs": 'modelClass="distributionBased"'}, "distributionBased .*log-likelihood distance"),
        ({"measure": ""}, "exactly one measure"),
        ({"measure": "<minkowski/>"}, "p-parameter is required"),
        ({"measure": '<minkowski p-parameter="-1"/>'}, "attribute p-parameter must be a number above 0"),
        ({"kind": "nearness"}, "attribute kind must be one of distance, similarity"),
        ({"fields": '<ClusteringField field="x" compareFunction="gaussSim"/><ClusteringField field="y"/>'},
         "needs attribute similarityScale"),
        ({"fields": '<ClusteringField field="x" compareFunction="table"/><ClusteringField field="y"/>'},
         "compareFunction table"),
        ({"fields": '<ClusteringField field="x" compareFunction="near"/><ClusteringField field="y"/>'},
         "compareFunction must be one of"),
        ({"measure_attrs": 'compareFunction="gaussSim"'}, "needs per-field parameters"),
        ({"fields": '<ClusteringField field="z"/>'}, "field 'z' is not defined"),
        ({"clusters": '<Cluster id="a"><Array n="1" type="real">0</Array></Cluster>'},
         "center has 1 values for 2 clustering fields"),
        ({"clusters": '<Cluster id="a"><Array n="3" type="real">0 1</Array></Cluster>'}, "Array n=3"),
        ({"clusters": '<Cluster id="a"/>'}, "needs an Array"),
        ({"clusters": ""}, "at least one Cluster"),
        ({"extra": '<MissingValueWeights><Array n="1" type="real">1</Array></MissingValueWeights>'},
         "1 weights for 2 clustering fields"),
        ({"extra": '<Targets><Target field="x"/></Targets>'}, "may not have a Targets element"),
    ],
)
def test_bad_or_unsupported_markup_is_refused_at_load(kwargs: dict[str, str], message: str) -> None:
    """Invalid or unsupported clustering markup is reported at load, naming what was expected."""
    with pytest.raises(DocumentProblems, match=message):
        load(document(**kwargs))


def test_refusals_name_the_element_and_line() -> None:
    """A refused document names the offending element and its line."""
    with pytest.raises(DocumentProblems, match=r"minkowski.*line \d+|line \d+.*minkowski"):
        load(document("<minkowski/>"))


@pytest.mark.parametrize("depth", [1, 3, 7])
@pytest.mark.parametrize("is_distance", [True, False])
def test_ranking_the_best_few_equals_the_stable_sort(depth: int, is_distance: bool) -> None:
    """The partitioned ranking picks what a stable full sort picks: ties, NaN and infinities included."""
    from pmserve.pmml.models.clustering import ranking

    rng = np.random.default_rng(9)
    affinity = rng.integers(0, 4, size=(200, 12)).astype(np.float64)  # many ties
    affinity[5, 3] = np.nan
    affinity[6] = np.nan
    affinity[7, :4] = np.inf
    affinity[8, 2] = -0.0
    key = affinity if is_distance else -affinity
    want = np.argsort(key, axis=1, kind="stable")[:, :depth]
    np.testing.assert_array_equal(ranking(affinity, is_distance, depth), want)


def test_a_twostep_model_is_refused_naming_the_clusters_without_statistics() -> None:
    """A distributionBased (TwoStep) model names the Clusters that carry no Partition statistics."""
    clusters = ('<Cluster name="big"><Partition name="big"><PartitionFieldStats field="x"/></Partition>'
                '<Array n="2" type="real">0 1</Array></Cluster>'
                '<Cluster name="small"><Array n="2" type="real">1 0</Array></Cluster>')
    with pytest.raises(DocumentProblems, match=r"Cluster 'small' carries no Partition/PartitionFieldStats"):
        load(document(model_attrs='modelClass="distributionBased"', clusters=clusters))
