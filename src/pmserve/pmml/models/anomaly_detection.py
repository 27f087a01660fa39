"""AnomalyDetectionModel: an anomaly score from a nested model (PMML 4.4 "Anomaly Detection Models").

The nested model is compiled like any other; its prediction becomes the score by
``algorithmType``:

* ``iforest`` - the nested MiningModel averages the path lengths of its isolation trees (the
  leaves' scores already hold the depth plus the size correction); the score is
  ``2 ** (-E[h(x)] / c(n))`` with ``n = sampleDataSize`` and
  ``c(n) = 2 * (ln(n - 1) + 0.57721566) - 2 * (n - 1) / n``, values near 1 are anomalous.
* ``ocsvm`` - the one-class SupportVectorMachineModel's decision value, as it is.
* ``clusterMeanDist`` - the distance to the nearest cluster of the ClusteringModel divided by that
  cluster's mean distance (``MeanClusterDistances``, one value per cluster in document order).
* ``other`` - the nested model's predicted value, as it is.

A missing nested prediction gives a missing score.  JPMML-Evaluator 1.7 does not support this
element; the results follow the specification and pmml4s, which implements it.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from pmserve.pmml.compiler import MODEL_TAGS, CompiledModel, ModelEnv, ModelPlan, Predictor, register
from pmserve.pmml.document import attributes as attribute
from pmserve.pmml.document.element import Element
from pmserve.pmml.fields.frame import Frame
from pmserve.pmml.fields.types import Array, DataType
from pmserve.pmml.results.prediction import Prediction

_ALGORITHMS = ("iforest", "ocsvm", "clusterMeanDist", "other")

#: The nested model element each algorithm expects (None: any model).
_NESTED = {
    "iforest": ("MiningModel", "TreeModel"),
    "ocsvm": ("SupportVectorMachineModel",),
    "clusterMeanDist": ("ClusteringModel",),
    "other": None,
}

_EULER_GAMMA = 0.57721566


def average_path_length(n: int) -> float:
    """c(n): the average path length of an unsuccessful search in a binary tree of ``n`` items."""
    return 2.0 * (math.log(n - 1.0) + _EULER_GAMMA) - 2.0 * (n - 1.0) / n


@register("AnomalyDetectionModel")
def compile_anomaly_detection(el: Element, env: ModelEnv) -> CompiledModel | None:
    problems = env.problems
    algorithm = attribute.choice(el, "algorithmType", _ALGORITHMS, problems, required=True)
    if algorithm is None:
        return None
    if not env.function_is("regression", unsupported=True):
        return None
    nested_els = [c for c in el.children if c.tag in MODEL_TAGS]
    if len(nested_els) != 1:
        problems.invalid(f"an AnomalyDetectionModel holds exactly one model element, got {len(nested_els)}", el)
        return None
    nested_el = nested_els[0]
    allowed = _NESTED[algorithm]
    if allowed is not None and nested_el.tag not in allowed:
        problems.invalid(f"algorithmType {algorithm} expects a nested {' or '.join(allowed)}, "
                         f"got {nested_el.tag}", nested_el)
        return None
    nested = env.compile_nested(nested_el)
    if algorithm == "clusterMeanDist":
        means = _mean_distances(el, nested_el, env)
        return None if nested is None or means is None else CompiledModel(_cluster_mean_distance(nested, means))
    # c(n) needs ln(n - 1): one training record leaves nothing to normalise by.
    size = attribute.integer(el, "sampleDataSize", problems, required=True, minimum=2) if algorithm == "iforest" \
        else None
    if nested is None or (algorithm == "iforest" and size is None):
        return None
    if nested.function_name != "regression":
        problems.invalid(f"algorithmType {algorithm} needs a nested regression model (a numeric prediction), "
                         f"got functionName {nested.function_name!r}", nested_el)
        return None
    if size is None:
        return CompiledModel(_scored(nested, lambda value: value))
    scale = average_path_length(size)
    return CompiledModel(_scored(nested, lambda depth: np.power(2.0, -depth / scale)))


def _mean_distances(el: Element, nested_el: Element, env: ModelEnv) -> Array | None:
    mcd = el.find("MeanClusterDistances")
    if mcd is None:
        env.problems.invalid("MeanClusterDistances is required when algorithmType is clusterMeanDist", el)
        return None
    values = attribute.numbers(mcd, env.problems,
                               "MeanClusterDistances needs an Array of one mean distance per cluster")
    if values is None:
        return None
    clusters = len(nested_el.findall("Cluster"))
    if len(values) != clusters:
        env.problems.invalid(f"MeanClusterDistances holds {len(values)} values for {clusters} clusters", mcd)
        return None
    means = np.asarray(values, dtype=np.float64)
    if not (means > 0).all():
        env.problems.invalid(f"MeanClusterDistances must be positive, got {values}", mcd)
        return None
    return means


def _cluster_mean_distance(nested: ModelPlan, means: Array) -> Predictor:
    def predict(frame: Frame) -> Prediction:
        pred, _ = nested.evaluate(frame)
        score = np.full(frame.n, np.nan)
        if pred.entity_id is None or pred.affinity is None:
            return Prediction(frame.n, DataType.DOUBLE, score)
        index = {cid: j for j, cid in enumerate(pred.entity_ids)}
        winner = np.fromiter((index.get(cid, -1) for cid in pred.entity_id.tolist()), dtype=np.intp,
                             count=frame.n)
        ok = winner >= 0
        score[ok] = pred.affinity[ok] / means[winner[ok]]
        return Prediction(frame.n, DataType.DOUBLE, score, entity_id=pred.entity_id, affinity=pred.affinity,
                          entity_ids=pred.entity_ids, entity_affinities=pred.entity_affinities)

    return predict


def _scored(nested: ModelPlan, score: Callable[[Array], Array]) -> Predictor:
    """The anomaly score ``score`` computes from the nested model's predicted value."""
    def predict(frame: Frame) -> Prediction:
        pred, _ = nested.evaluate(frame)
        return Prediction(frame.n, DataType.DOUBLE, score(np.asarray(pred.value, dtype=np.float64)))

    return predict
