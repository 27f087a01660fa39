"""AnomalyDetectionModel (pmserve.pmml.models.anomaly_detection): iforest, ocsvm, clusterMeanDist, other, refusals."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from pmserve.errors import DocumentProblems
from pmserve.pmml import load
from pmserve.pmml.models.anomaly_detection import average_path_length

OUTPUT = """
  <Output>
    <OutputField name="score" optype="continuous" dataType="double" feature="predictedValue"/>
    <OutputField name="outlier" optype="categorical" dataType="boolean" feature="decision">
      <Apply function="greaterThan"><FieldRef field="score"/><Constant dataType="double">0.5</Constant></Apply>
    </OutputField>
  </Output>"""

# Two isolation trees over x and y; a leaf's score is its path length (depth plus correction).
FOREST = """
  <MiningModel functionName="regression">
    <MiningSchema><MiningField name="x"/><MiningField name="y"/></MiningSchema>
    <Segmentation multipleModelMethod="average">
      <Segment id="1"><True/>
        <TreeModel functionName="regression" missingValueStrategy="nullPrediction">
          <MiningSchema><MiningField name="x"/></MiningSchema>
          <Node score="0"><True/>
            <Node score="1"><SimplePredicate field="x" operator="lessOrEqual" value="10"/></Node>
            <Node score="3.5"><SimplePredicate field="x" operator="greaterThan" value="10"/></Node>
          </Node>
        </TreeModel>
      </Segment>
      <Segment id="2"><True/>
        <TreeModel functionName="regression" missingValueStrategy="nullPrediction">
          <MiningSchema><MiningField name="y"/></MiningSchema>
          <Node score="0"><True/>
            <Node score="2"><SimplePredicate field="y" operator="lessOrEqual" value="0"/></Node>
            <Node score="4.25"><SimplePredicate field="y" operator="greaterThan" value="0"/></Node>
          </Node>
        </TreeModel>
      </Segment>
    </Segmentation>
  </MiningModel>"""

SVM = """
  <SupportVectorMachineModel functionName="regression">
    <MiningSchema><MiningField name="x"/><MiningField name="y"/></MiningSchema>
    <LinearKernelType/>
    <VectorDictionary>
      <VectorFields><FieldRef field="x"/><FieldRef field="y"/></VectorFields>
      <VectorInstance id="a"><Array type="real">1 2</Array></VectorInstance>
      <VectorInstance id="b"><Array type="real">-1 0.5</Array></VectorInstance>
    </VectorDictionary>
    <SupportVectorMachine>
      <SupportVectors><SupportVector vectorId="a"/><SupportVector vectorId="b"/></SupportVectors>
      <Coefficients absoluteValue="-1.5"><Coefficient value="0.25"/><Coefficient value="0.75"/></Coefficients>
    </SupportVectorMachine>
  </SupportVectorMachineModel>"""

CLUSTERS = """
  <ClusteringModel functionName="clustering" modelClass="centerBased" numberOfClusters="2">
    <MiningSchema><MiningField name="x"/><MiningField name="y"/></MiningSchema>
    <ComparisonMeasure kind="distance"><euclidean/></ComparisonMeasure>
    <ClusteringField field="x"/><ClusteringField field="y"/>
    <Cluster id="near"><Array n="2" type="real">0 0</Array></Cluster>
    <Cluster id="far"><Array n="2" type="real">10 10</Array></Cluster>
  </ClusteringModel>"""

REGRESSION = """
  <RegressionModel functionName="regression">
    <MiningSchema><MiningField name="x"/><MiningField name="y"/></MiningSchema>
    <RegressionTable intercept="1"><NumericPredictor name="x" coefficient="2"/></RegressionTable>
  </RegressionModel>"""


def document(attrs: str, nested: str, extra: str = "", output: str = OUTPUT) -> bytes:
    """An AnomalyDetectionModel over fields x and y with the given attributes and parts."""
    return f"""<PMML xmlns="http://www.dmg.org/PMML-4_4" version="4.4">
<Header/>
<DataDictionary>
  <DataField name="x" optype="continuous" dataType="double"/>
  <DataField name="y" optype="continuous" dataType="double"/>
</DataDictionary>
<AnomalyDetectionModel functionName="regression" {attrs}>
  <MiningSchema><MiningField name="x"/><MiningField name="y"/></MiningSchema>
  {output}
  {nested}
  {extra}
</AnomalyDetectionModel>
</PMML>""".encode()


def scores(doc: bytes, x: list[Any], y: list[Any]) -> dict[str, list[Any]]:
    return load(doc).score({"x": x, "y": y}, errors="collect").to_lists()


def test_average_path_length_approximates_the_harmonic_number_formula() -> None:
    """c(n) = 2 H(n - 1) - 2 (n - 1) / n with H(i) ~ ln(i) + Euler's constant (spec's approximation)."""
    assert average_path_length(5) == pytest.approx(2 * 1.9635100211 - 1.6, rel=1e-9)
    exact = 2 * sum(1 / i for i in range(1, 1000)) - 2 * 999 / 1000
    assert average_path_length(1000) == pytest.approx(exact, rel=1e-3)


def test_isolation_forest_scores_two_to_the_minus_mean_path_length_over_c_n() -> None:
    """iforest: the score is 2 ** (-average path length / c(sampleDataSize))."""
    got = scores(document('algorithmType="iforest" sampleDataSize="100"', FOREST), [5.0, 20.0], [-1.0, 1.0])
    c = 2 * (math.log(99) + 0.57721566) - 2 * 99 / 100
    want = [2 ** (-(1 + 2) / 2 / c), 2 ** (-(3.5 + 4.25) / 2 / c)]
    np.testing.assert_allclose(got["score"], want, rtol=1e-12)
    assert got["outlier"] == [w > 0.5 for w in want]


def test_isolation_forest_matches_the_pmml4s_value_of_the_dmg_example_shape() -> None:
    """Path lengths 4 and 3 with sampleDataSize 5 give pmml4s's 0.3525574921994582."""
    forest = FOREST.replace('score="1"', 'score="4"').replace('score="2"', 'score="3"')
    got = scores(document('algorithmType="iforest" sampleDataSize="5"', forest), [1.0], [-1.0])
    assert got["score"][0] == pytest.approx(0.3525574921994582, rel=1e-12)


def test_isolation_forest_with_a_missing_path_length_gives_a_missing_score() -> None:
    """A tree with nullPrediction for a missing input makes the average and the score missing."""
    got = scores(document('algorithmType="iforest" sampleDataSize="100"', FOREST), [None, 5.0], [1.0, 1.0])
    assert got["score"][0] is None
    assert got["score"][1] is not None


def test_one_class_svm_score_is_the_decision_value() -> None:
    """ocsvm: the SVM's value (sum of coefficient * kernel plus the constant) is the score."""
    got = scores(document('algorithmType="ocsvm"', SVM), [2.0, 0.0], [1.0, -3.0])
    want = [0.25 * (2 * 1 + 1 * 2) + 0.75 * (2 * -1 + 1 * 0.5) - 1.5,
            0.25 * (0 * 1 + -3 * 2) + 0.75 * (0 * -1 + -3 * 0.5) - 1.5]
    np.testing.assert_allclose(got["score"], want, rtol=1e-12)


def test_cluster_mean_distance_divides_the_distance_by_the_clusters_mean() -> None:
    """clusterMeanDist: distance to the nearest center over that cluster's mean distance."""
    extra = '<MeanClusterDistances><Array n="2" type="real">2 4</Array></MeanClusterDistances>'
    got = scores(document('algorithmType="clusterMeanDist"', CLUSTERS, extra), [3.0, 9.0], [4.0, 10.0])
    np.testing.assert_allclose(got["score"], [5.0 / 2, 1.0 / 4], rtol=1e-12)
    assert got["outlier"] == [True, False]


def test_other_algorithm_takes_the_nested_prediction_as_it_is() -> None:
    """other: a nested regression model's predicted value is the score."""
    got = scores(document('algorithmType="other"', REGRESSION), [0.25, -1.0], [0.0, 0.0])
    np.testing.assert_allclose(got["score"], [1.5, -1.0], rtol=1e-12)


def test_rows_scored_together_equal_rows_scored_alone() -> None:
    """Batch scoring is row-independent."""
    doc = document('algorithmType="iforest" sampleDataSize="100"', FOREST)
    xs, ys = [5.0, 20.0, None, 11.0], [-1.0, 1.0, 2.0, 0.0]
    together = scores(doc, xs, ys)["score"]
    alone = [scores(doc, [x], [y])["score"][0] for x, y in zip(xs, ys, strict=True)]
    assert together == alone


@pytest.mark.parametrize(("attrs", "nested", "extra", "message"), [
    ('algorithmType="lof"', REGRESSION, "", "algorithmType must be one of iforest, ocsvm"),
    ('algorithmType="iforest"', FOREST, "", "sampleDataSize is required"),
    ('algorithmType="iforest" sampleDataSize="1"', FOREST, "", "sampleDataSize must be an integer of at least 2"),
    ('algorithmType="iforest" sampleDataSize="many"', FOREST, "", "got 'many'"),
    ('algorithmType="iforest" sampleDataSize="5"', SVM, "", "expects a nested MiningModel or TreeModel, got Support"),
    ('algorithmType="ocsvm"', CLUSTERS, "", "expects a nested SupportVectorMachineModel, got ClusteringModel"),
    ('algorithmType="clusterMeanDist"', CLUSTERS, "", "MeanClusterDistances is required"),
    ('algorithmType="clusterMeanDist"', CLUSTERS,
     '<MeanClusterDistances><Array type="real">1 2 3</Array></MeanClusterDistances>', "3 values for 2 clusters"),
    ('algorithmType="clusterMeanDist"', CLUSTERS,
     '<MeanClusterDistances><Array type="real">1 0</Array></MeanClusterDistances>', "must be positive"),
    ('algorithmType="clusterMeanDist"', CLUSTERS, "<MeanClusterDistances/>", "needs an Array"),
    ('algorithmType="other"', "", "", "exactly one model element, got 0"),
])
def test_invalid_documents_are_refused_naming_the_problem(attrs: str, nested: str, extra: str,
                                                          message: str) -> None:
    """Each invalid piece is reported at load with what was expected and what came, and where."""
    with pytest.raises(DocumentProblems, match=message) as info:
        load(document(attrs, nested, extra))
    problem = info.value.problems[0]
    assert problem.line is not None
    assert f"{problem.element} (line {problem.line})" in problem.message


def test_other_algorithm_refuses_a_nested_classifier() -> None:
    """A classification model gives no numeric score."""
    classifier = """
  <RegressionModel functionName="classification">
    <MiningSchema><MiningField name="x"/><MiningField name="y" usageType="target"/></MiningSchema>
    <RegressionTable intercept="1" targetCategory="1"/><RegressionTable intercept="0" targetCategory="0"/>
  </RegressionModel>"""
    doc = document('algorithmType="other"', classifier).replace(
        b'<DataField name="y" optype="continuous" dataType="double"/>',
        b'<DataField name="y" optype="categorical" dataType="integer"/>')
    with pytest.raises(DocumentProblems, match=r"needs a nested regression model.*got functionName 'classification'"):
        load(doc)


def test_a_classification_anomaly_model_is_refused_as_unsupported() -> None:
    """Only functionName regression (the anomaly score) is supported."""
    doc = document('algorithmType="other"', REGRESSION).replace(
        b'AnomalyDetectionModel functionName="regression"', b'AnomalyDetectionModel functionName="clustering"')
    with pytest.raises(DocumentProblems, match="functionName 'clustering' is not supported") as info:
        load(doc)
    assert info.value.unsupported
