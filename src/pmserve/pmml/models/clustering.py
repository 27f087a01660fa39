"""ClusteringModel: center-based clusters scored by a ComparisonMeasure (PMML 4.4 "Clustering Models").

Each record is compared with every Cluster's center over the ClusteringFields; the winning cluster
is the nearest one (distance measures) or the most similar one (similarity measures), the first
in document order on ties.  The predicted value is the winner's id (``Cluster/@id``, else its
1-based position), its display value the cluster's name, as JPMML-Evaluator gives them.

The ComparisonMeasure machinery (measures, compare functions, missing-value adjustment) lives
here because the spec defines it in this chapter; NearestNeighborModel reuses it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
import numpy.typing as npt

from pmserve.errors import EvaluationError
from pmserve.pmml.compiler import CompiledModel, ModelEnv, register
from pmserve.pmml.document import attributes as attribute
from pmserve.pmml.document.element import Element
from pmserve.pmml.document.problems import Problems, every
from pmserve.pmml.fields.frame import Expr, Frame
from pmserve.pmml.fields.types import Array, DataType, empty
from pmserve.pmml.kernels import distance
from pmserve.pmml.results.output import Feature
from pmserve.pmml.results.prediction import Prediction

DISTANCES = ("euclidean", "squaredEuclidean", "chebychev", "cityBlock", "minkowski")
SIMILARITIES = ("simpleMatching", "jaccard", "tanimoto", "binarySimilarity")
COMPARE_FUNCTIONS = ("absDiff", "gaussSim", "delta", "equal", "table")
_BINARY_PARAMS = ("c00", "c01", "c10", "c11", "d00", "d01", "d10", "d11")

#: Cells of one (rows x references) block of a distance matrix: 512 KiB, cache-sized (measured best).
BLOCK_CELLS = 1 << 16


# -- ComparisonMeasure --------------------------------------------------------------------------


@dataclass(frozen=True)
class Measure:
    """A ComparisonMeasure's measure: a distance (inner/outer powers) or a binary similarity."""

    name: str
    is_distance: bool
    inner: float = 1.0
    outer: float = 1.0
    #: binarySimilarity's c00, c01, c10, c11, d00, d01, d10, d11 (other similarities map onto them).
    params: tuple[float, ...] = ()
    default_compare: str = "absDiff"


@dataclass(frozen=True)
class Comparison:
    """How one field is compared (ClusteringField / KNNInput): compare function, weight, scale."""

    name: str
    function: str
    weight: float
    scale: float | None
    is_string: bool


def parse_measure(el: Element | None, problems: Problems, owner: Element) -> Measure | None:
    """The ComparisonMeasure child of a model, or None (problems reported)."""
    if el is None:
        problems.invalid("a ComparisonMeasure element is required", owner)
        return None
    kind = attribute.choice(el, "kind", ("distance", "similarity"), problems, required=True)
    compare = attribute.choice(el, "compareFunction", COMPARE_FUNCTIONS, problems, "absDiff")
    if kind is None or compare is None:
        return None
    found = [c for c in el.children if c.tag in DISTANCES + SIMILARITIES]
    if len(found) != 1:
        problems.invalid(f"ComparisonMeasure needs exactly one measure ({', '.join(DISTANCES + SIMILARITIES)}), "
                         f"got {len(found)}", el)
        return None
    m = found[0]
    if m.tag == "minkowski":
        p = attribute.number(m, "p-parameter", problems, required=True, above=0.0)
        if p is None:
            return None
        return Measure(m.tag, True, p, p, default_compare=compare)
    if m.tag in DISTANCES:
        inner, outer = {"euclidean": (2.0, 2.0), "squaredEuclidean": (2.0, 1.0)}.get(m.tag, (1.0, 1.0))
        return Measure(m.tag, True, inner, outer, default_compare=compare)
    # PMML 4.4 "ComparisonMeasure": every binary similarity is (c11*a11 + c10*a10 + c01*a01 +
    # c00*a00) / (d11*a11 + d10*a10 + d01*a01 + d00*a00) with fixed parameters.
    fixed = {
        "simpleMatching": (1.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0, 1.0),
        "jaccard": (0.0, 0.0, 0.0, 1.0, 0.0, 1.0, 1.0, 1.0),
        "tanimoto": (1.0, 0.0, 0.0, 1.0, 1.0, 2.0, 2.0, 1.0),
    }
    if m.tag in fixed:
        return Measure(m.tag, False, params=fixed[m.tag], default_compare=compare)
    values = every(attribute.number(m, f"{param}-parameter", problems, required=True) for param in _BINARY_PARAMS)
    return None if values is None else Measure(m.tag, False, params=tuple(values), default_compare=compare)


def parse_comparison(
    el: Element, field: Expr, measure: Measure, measure_el: Element | None, problems: Problems,
) -> Comparison | None:
    """One ClusteringField / KNNInput: its compare function, checked against the field's type."""
    name = el.get("field") or ""
    own = el.get("compareFunction")
    function = attribute.choice(el, "compareFunction", COMPARE_FUNCTIONS, problems, measure.default_compare)
    if function is None:
        return None
    if own is None and function in ("gaussSim", "table"):
        # JPMML: the ComparisonMeasure may only name compare functions that need no attributes.
        problems.invalid(f"ComparisonMeasure compareFunction {function} needs per-field parameters; set it on "
                         f"each {el.tag} instead", measure_el or el)
        return None
    if function == "table":
        problems.unsupported(f"compareFunction table of field {name!r} is not supported (JPMML-Evaluator "
                             f"refuses it too)", el)
        return None
    weight = attribute.number(el, "fieldWeight", problems, 1.0)
    scale = attribute.number(el, "similarityScale", problems, math.nan)
    if weight is None or scale is None:
        return None
    if function == "gaussSim" and math.isnan(scale):
        problems.invalid(f"compareFunction gaussSim of field {name!r} needs attribute similarityScale", el)
        return None
    if function in ("absDiff", "gaussSim") and field.dtype.is_string and measure.is_distance:
        problems.invalid(f"compareFunction {function} needs a numeric field; field {name!r} is of dataType "
                         f"string (use delta or equal)", el)
        return None
    return Comparison(name, function, weight, None if math.isnan(scale) else scale, field.dtype.is_string)


@dataclass(frozen=True)
class Comparator:
    """Compares records with fixed references (cluster centers, training instances), vectorised.

    ``references`` is (references x fields): float64, NaN = missing; string fields hold codes
    from ``codes`` (one dict per field, None for numeric fields).
    """

    measure: Measure
    fields: tuple[Comparison, ...]
    references: Array
    codes: tuple[dict[Any, float] | None, ...]
    #: MissingValueWeights (one per field), or None for equal weights.
    missing_weights: Array | None = None

    def encode(self, columns: Sequence[Array]) -> Array:
        """Record values as a (rows x fields) float matrix: NaN missing, unknown strings -1.

        Laid out field by field (the transpose of a fields x rows array), as the kernels read it.
        """
        n = len(columns[0]) if columns else 0
        out = np.empty((len(columns), n))
        for j, (col, codes) in enumerate(zip(columns, self.codes, strict=True)):
            if codes is None:
                out[j] = col
            else:
                out[j] = [math.nan if v is None else codes.get(v, -1.0) for v in col.tolist()]
        return out.T

    def affinities(self, x: Array, frame: Frame) -> Array:
        """(rows x references) distances or similarities; rows with no defined result are NaN
        and recorded as failed."""
        out, bad = self.compare(x)
        if bad.any():
            out[bad] = np.nan
            self.fail(frame, bad)
        return out

    def compare(self, x: Array) -> tuple[Array, npt.NDArray[np.bool_]]:
        """(rows x references) distances or similarities, and the rows where they are undefined."""
        n, m = x.shape[0], self.references.shape[0]
        if self.measure.is_distance:
            out = np.empty((n, m))
            undefined = np.empty(n, dtype=bool)
            distance.distances(np.ascontiguousarray(x.T, dtype=np.float64), *self.kernel_args, out, undefined)
            return out, undefined
        out = np.empty((n, m))
        bad = np.zeros(n, dtype=bool)
        step = max(1, BLOCK_CELLS // max(1, m))
        for lo in range(0, n, step):
            hi = min(n, lo + step)
            block, undefined = self._similarities(x[lo:hi])
            out[lo:hi] = block
            bad[lo:hi] = undefined
        return out, bad

    def nearest(self, x: Array, depth: int) -> tuple[npt.NDArray[np.intp], Array, npt.NDArray[np.bool_]]:
        """Per row, the ``depth`` nearest references (ties in document order) and their distances,
        and the rows where the distance is undefined; a distance measure only."""
        n = x.shape[0]
        ranked = np.zeros((n, depth), dtype=np.intp)
        ranked_distances = np.empty((n, depth))
        undefined = np.empty(n, dtype=bool)
        distance.nearest(np.ascontiguousarray(x.T, dtype=np.float64), *self.kernel_args, ranked, ranked_distances,
                         undefined)
        return ranked, ranked_distances, undefined

    @cached_property
    def kernel_args(self) -> tuple[Array, Array, Array, Array, float, float, bool, Array, float]:
        """The distance measure as the arrays :mod:`pmserve.pmml.kernels.distance` reads."""
        codes = {"absDiff": distance.ABS_DIFF, "gaussSim": distance.GAUSS_SIM, "delta": distance.DELTA,
                 "equal": distance.EQUAL}
        weights = self.missing_weights if self.missing_weights is not None else np.ones(len(self.fields))
        total = 0.0
        for w in weights.tolist():  # in order, as the kernel adds the present ones
            if w != 0.0:
                total += w
        return (
            np.ascontiguousarray(self.references.T, dtype=np.float64),
            np.array([codes[c.function] for c in self.fields], dtype=np.int64),
            np.array([c.weight for c in self.fields], dtype=np.float64),
            np.array([(c.scale if c.scale is not None else 1.0) ** 2 for c in self.fields], dtype=np.float64),
            float(self.measure.inner), float(self.measure.outer), self.measure.name == "chebychev",
            np.ascontiguousarray(weights, dtype=np.float64), total,
        )

    def fail(self, frame: Frame, bad: npt.NDArray[np.bool_]) -> None:
        what = ("every compared field is missing" if self.measure.is_distance
                else "a similarity measure needs every compared field to be 0 or 1")
        frame.fail(bad, lambda r: EvaluationError(
            f"{self.measure.name} is undefined: {what}", row=r))

    def _similarities(self, x: Array) -> tuple[Array, npt.NDArray[np.bool_]]:
        undefined = ~((x == 0.0) | (x == 1.0)).all(axis=1)
        xs = np.where(undefined[:, None], 0.0, x)
        refs = self.references
        a11 = xs @ refs.T
        a10 = xs @ (1.0 - refs).T
        a01 = (1.0 - xs) @ refs.T
        a00 = (1.0 - xs) @ (1.0 - refs).T
        c00, c01, c10, c11, d00, d01, d10, d11 = self.measure.params
        with np.errstate(divide="ignore", invalid="ignore"):
            out = (c11 * a11 + c10 * a10 + c01 * a01 + c00 * a00) / (d11 * a11 + d10 * a10 + d01 * a01 + d00 * a00)
        return out, undefined


def ranking(affinity: Array, is_distance: bool, depth: int | None = None) -> npt.NDArray[np.intp]:
    """Per row, the ``depth`` best reference indices (all without it), best first.

    Ties keep document order, as a stable sort gives them; only the candidates up to the
    depth-th best value are sorted (a partition finds them), so a row of 1,000 references
    costs a partition rather than a full sort.  Rows with a NaN take the stable sort.
    """
    key = affinity if is_distance else -affinity
    n, m = key.shape
    if depth is None or depth >= m or n == 0:
        order: npt.NDArray[np.intp] = np.argsort(key, axis=1, kind="stable")
        return order[:, :depth]
    nan_rows = np.isnan(key).any(axis=1)
    if nan_rows.any():
        out = np.empty((n, depth), dtype=np.intp)
        out[nan_rows] = np.argsort(key[nan_rows], axis=1, kind="stable")[:, :depth]
        out[~nan_rows] = ranking(key[~nan_rows], True, depth)
        return out
    if depth == 1:
        first: npt.NDArray[np.intp] = np.argmin(key, axis=1)[:, None]  # the first of equal minima
        return first
    kth = np.partition(key, depth - 1, axis=1)[:, depth - 1]
    rows, cols = np.nonzero(key <= kth[:, None])  # row by row, columns ascending
    by = np.lexsort((key[rows, cols], rows))  # stable: equal values keep column order
    cols = cols[by]
    counts = np.bincount(rows, minlength=n)
    starts = np.cumsum(counts) - counts
    picked: npt.NDArray[np.intp] = cols[starts[:, None] + np.arange(depth)[None, :]]
    return picked


def _center_based(el: Element, problems: Problems) -> bool:
    """Whether the model is of the one class pmserve scores (a problem if not)."""
    model_class = el.get("modelClass", "centerBased")
    if model_class == "distributionBased":
        problems.unsupported(_distribution_based_refusal(el), el)
    elif model_class != "centerBased":
        problems.invalid(f"modelClass must be centerBased or distributionBased, got {model_class!r}", el)
    elif el.find("CenterFields") is not None:
        problems.unsupported("CenterFields (PMML 3.x) are not supported; use ClusteringFields", el.find("CenterFields"))
    elif el.find("Targets") is not None:
        problems.invalid("a ClusteringModel has no target, so it may not have a Targets element", el.find("Targets"))
    else:
        return True
    return False


def _clustering_fields(el: Element, env: ModelEnv, measure: Measure,
                       measure_el: Element | None) -> list[tuple[Expr, Comparison]] | None:
    """The ClusteringFields with isCenterField true: what each reads and how it is compared."""
    all_fields = el.findall("ClusteringField")
    is_center = [attribute.boolean(f, "isCenterField", env.problems, True) for f in all_fields]
    if None in is_center:
        return None
    field_els = [f for f, center in zip(all_fields, is_center, strict=True) if center]
    if not field_els:
        env.problems.invalid("a ClusteringModel needs at least one ClusteringField with isCenterField=\"true\"", el)
        return None
    for f in field_els:
        if f.find("Comparisons") is not None and f.get("compareFunction") != "table":
            env.problems.invalid("a Comparisons matrix is only used with compareFunction table", f)
            return None
    fields = compared_fields(field_els, env, measure, measure_el)
    for f, (expr, comp) in zip(field_els, fields or [], strict=False):
        if expr.dtype.is_string:
            env.problems.unsupported(f"ClusteringField {comp.name!r} is of dataType string; cluster centers are "
                                     f"numeric Arrays", f)
            return None
    return fields


def compared_fields(els: list[Element], env: ModelEnv, measure: Measure,
                    measure_el: Element | None) -> list[tuple[Expr, Comparison]] | None:
    """The fields a ClusteringModel or NearestNeighborModel compares: the expression reading each
    and its Comparison."""
    out: list[tuple[Expr, Comparison]] = []
    for f in els:
        expr = env.compiler.field_of(f)
        comp = None if expr is None else parse_comparison(f, expr, measure, measure_el, env.problems)
        if expr is None or comp is None:
            return None
        out.append((expr, comp))
    return out


def _missing_value_weights(mvw: Element, n_fields: int, problems: Problems) -> list[float] | None:
    """The MissingValueWeights, one per field."""
    weights = attribute.numbers(mvw, problems, "MissingValueWeights needs an Array")
    if weights is not None and len(weights) != n_fields:
        problems.invalid(f"MissingValueWeights holds {len(weights)} weights for {n_fields} clustering fields", mvw)
        return None
    return weights


def _clusters(el: Element, n_fields: int, problems: Problems) -> tuple[list[_Cluster], list[Array]] | None:
    """The Clusters (unique ids, the 1-based position where none is given) and their centers."""
    clusters: list[_Cluster] = []
    centers: list[Array] = []
    for i, c in enumerate(el.findall("Cluster"), 1):
        center = attribute.numbers(c, problems, "a Cluster of a centerBased model needs an Array (its center)")
        if center is None:
            return None
        if len(center) != n_fields:
            problems.invalid(f"the Cluster's center has {len(center)} values for {n_fields} clustering fields", c)
            return None
        clusters.append(_Cluster(c.get("id") or str(i), c.get("name")))
        centers.append(np.array(center, dtype=np.float64))
    if not clusters:
        problems.invalid("a ClusteringModel needs at least one Cluster", el)
        return None
    ids = [c.id for c in clusters]
    if len(set(ids)) != len(ids):
        problems.invalid(f"Cluster ids must be unique, got {ids}", el)
        return None
    return clusters, centers


def output_ranks(el: Element) -> int:
    """The deepest rank the Output asks of entityId / affinity features (at least 1)."""
    deepest = 1
    out = el.find("Output")
    if out is not None:
        for of in out.findall("OutputField"):
            if of.get("feature") in ("entityId", "clusterId", "affinity", "entityAffinity", "clusterAffinity"):
                try:
                    deepest = max(deepest, int(of.get("rank", "1")))
                except ValueError:
                    continue
    return deepest


def needs_all_affinities(el: Element) -> bool:
    """True when the Output asks for the affinity of a named entity (OutputField/@value)."""
    out = el.find("Output")
    return out is not None and any(
        of.get("feature") in ("affinity", "entityAffinity", "clusterAffinity") and of.get("value") is not None
        for of in out.findall("OutputField"))


# -- ClusteringModel -----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Cluster:
    id: str
    name: str | None


def _distribution_based_refusal(el: Element) -> str:
    """Why a distributionBased ClusteringModel (IBM SPSS TwoStep's) is refused, naming what is missing."""
    measure = el.find("ComparisonMeasure")
    metric = next((c.tag for c in measure.children if c.tag != "Extension"), None) if measure is not None else None
    clusters = el.findall("Cluster")
    bare = [c.get("name") or c.get("id") or str(i + 1) for i, c in enumerate(clusters)
            if not any(p.findall("PartitionFieldStats") for p in c.findall("Partition"))]
    message = (
        "modelClass distributionBased (IBM SPSS TwoStep's log-likelihood clusters) cannot be scored, and "
        "JPMML-Evaluator refuses it too: a record joins the cluster of least log-likelihood distance, which "
        "needs each cluster's size, the mean and variance of every continuous field and the count of every "
        "category of every categorical field, and each continuous field's variance over all the training "
        f"data; the ComparisonMeasure ({metric or 'none'}) cannot state that distance"
    )
    if bare:
        shown = ", ".join(repr(b) for b in bare[:5]) + (", ..." if len(bare) > 5 else "")
        message += f", and Cluster {shown} carr{'y' if len(bare) > 1 else 'ies'} no Partition/PartitionFieldStats"
    return message


def output_feature(of: Element, feature: str) -> Feature | None:
    """predictedDisplayValue of a cluster is its name, or missing when the cluster has none (JPMML)."""
    if feature != "predictedDisplayValue" or of.get("segmentId") is not None:
        return None

    def cluster_name(p: Prediction, f: Frame, v: dict[str, Array]) -> Array:
        names = p.extras.get("cluster_names")
        if names is None:
            return np.full(p.n, None, dtype=object)
        out = np.empty(p.n, dtype=object)
        out[:] = [None if x is None else names.get(x) for x in p.value.tolist()]
        return out

    return cluster_name


@register("ClusteringModel", output_features=output_feature)
def compile_clustering(el: Element, env: ModelEnv) -> CompiledModel | None:
    if not env.function_is("clustering") or not _center_based(el, env.problems):
        return None
    measure_el = el.find("ComparisonMeasure")
    measure = parse_measure(measure_el, env.problems, el)
    fields = _clustering_fields(el, env, measure, measure_el) if measure is not None else None
    if measure is None or fields is None:
        return None
    exprs = [e for e, _ in fields]
    comps = [c for _, c in fields]
    mvw = el.find("MissingValueWeights")
    weights = None if mvw is None else _missing_value_weights(mvw, len(comps), env.problems)
    found = _clusters(el, len(comps), env.problems)
    if (mvw is not None and weights is None) or found is None:
        return None
    clusters, centers = found
    ids = [c.id for c in clusters]
    comparator = Comparator(measure, tuple(comps), np.vstack(centers), (None,) * len(comps),
                            None if weights is None else np.array(weights, dtype=np.float64))
    id_array = np.array(ids, dtype=object)
    depth = min(output_ranks(el), len(clusters))
    display = {c.id: c.name for c in clusters if c.name is not None}

    def predict_cluster(frame: Frame) -> Prediction:
        x = comparator.encode([e.fn(frame) for e in exprs])
        aff = comparator.affinities(x, frame)
        order = ranking(aff, measure.is_distance, depth)
        ok = np.asarray(~np.isnan(aff).any(axis=1), dtype=bool)
        ranked_ids = id_array[order]
        ranked_ids[~ok] = None
        ranked_aff = np.where(ok[:, None], np.take_along_axis(aff, order, axis=1), np.nan)
        value = ranked_ids[:, 0] if depth else empty(DataType.STRING, frame.n)
        return Prediction(
            frame.n, DataType.STRING, value, entity_id=value, affinity=ranked_aff[:, 0],
            entity_ids=tuple(ids), entity_affinities=aff, display=dict(display),
            extras={"ranked_entity_ids": ranked_ids, "ranked_affinities": ranked_aff, "cluster_names": display},
        )

    return CompiledModel(predict_cluster)
