"""NearestNeighborModel: k-nearest neighbours over inline training instances (PMML 4.4 "KNN").

Every record is compared with every training instance over the KNNInputs (the ComparisonMeasure
machinery of :mod:`pmserve.pmml.models.clustering`); the k nearest (most similar) instances, ties in
document order, predict the target: average, weighted average or median of a continuous target,
majority or weighted majority vote of a categorical one.  Vote ties go to the category with more
training instances, then to the smallest value, as the spec and JPMML-Evaluator say.  Entity ids
are the instanceIdVariable's values, else the 1-based row numbers of the InlineTable.  The spec
lets one model predict several targets (functionName "mixed"): each target is predicted from the
same neighbours by its own scoring method, and is a result column of its own.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from pmserve.errors import EvaluationError
from pmserve.pmml.compiler import CompiledModel, ModelEnv, register
from pmserve.pmml.document import attributes as attribute
from pmserve.pmml.document.element import Element
from pmserve.pmml.document.problems import Problems
from pmserve.pmml.expressions.normalization import read_table
from pmserve.pmml.expressions.transformations import ExpressionCompiler
from pmserve.pmml.fields.categorical import factorize
from pmserve.pmml.fields.frame import Expr, Frame, RowErrors
from pmserve.pmml.fields.schema import FieldInfo, treatment_exprs
from pmserve.pmml.fields.types import Array, DataType, empty, is_missing, parse_scalar
from pmserve.pmml.kernels import vote
from pmserve.pmml.models.clustering import (
    BLOCK_CELLS,
    Comparator,
    Comparison,
    Measure,
    compared_fields,
    needs_all_affinities,
    output_ranks,
    parse_measure,
    ranking,
)
from pmserve.pmml.results.prediction import Prediction

_FUNCTIONS = ("classification", "regression", "mixed", "clustering")
_CONTINUOUS = ("average", "weightedAverage", "median")
_CATEGORICAL = ("majorityVote", "weightedMajorityVote")


@dataclass(frozen=True)
class _Settings:
    k: int
    continuous: str
    categorical: str
    threshold: float
    id_variable: str | None


def _settings(el: Element, env: ModelEnv) -> _Settings | None:
    problems = env.problems
    k = attribute.integer(el, "numberOfNeighbors", problems, required=True, minimum=1)
    continuous = attribute.choice(el, "continuousScoringMethod", _CONTINUOUS, problems, "average")
    categorical = attribute.choice(el, "categoricalScoringMethod", _CATEGORICAL, problems, "majorityVote")
    threshold = attribute.number(el, "threshold", problems, 0.001)
    if k is None or continuous is None or categorical is None or threshold is None:
        return None
    return _Settings(k, continuous, categorical, threshold, el.get("instanceIdVariable"))


@register("NearestNeighborModel")
def compile_nearest_neighbor(el: Element, env: ModelEnv) -> CompiledModel | None:
    problems = env.problems
    if not env.function_is(*_FUNCTIONS):
        return None
    settings = _settings(el, env)
    measure_el = el.find("ComparisonMeasure")
    measure = parse_measure(measure_el, problems, el)
    ti = el.find("TrainingInstances")
    if ti is None:
        problems.invalid("a NearestNeighborModel needs TrainingInstances", el)
        return None
    knn = el.find("KNNInputs")
    input_els = knn.findall("KNNInput") if knn is not None else []
    if not input_els:
        problems.invalid("a NearestNeighborModel needs KNNInputs with at least one KNNInput", knn or el)
        return None
    if settings is None or measure is None or not _weighing_fits(settings, measure, el, problems):
        return None
    targets = _targets(el, env, settings)
    fields = compared_fields(input_els, env, measure, measure_el) if targets is not None else None
    if targets is None or fields is None:
        return None
    exprs = [e for e, _ in fields]
    comps = [c for _, c in fields]
    training = _training(ti, el, env, settings, exprs, comps, targets)
    if training is None:
        return None
    references, codes, ids, target_values = training
    m = references.shape[0]
    if settings.k > m:
        problems.invalid(f"numberOfNeighbors is {settings.k} but there are only {m} training instances", el)
        return None
    if not measure.is_distance and not np.isin(references, (0.0, 1.0)).all():
        problems.invalid(f"measure {measure.name} compares binary values; the training instances hold values other "
                         f"than 0 and 1", ti)
        return None
    comparator = Comparator(measure, tuple(comps), references, codes)
    depth = min(m, max(settings.k, output_ranks(el)))
    scorers = [_TargetScorer.build(t, target_values[t.name], settings) for t in targets]
    predict_neighbors = _neighbors(comparator, exprs, ids, scorers, settings, depth, needs_all_affinities(el))
    return CompiledModel(predict_neighbors, predicts_every_target=True)


def _neighbors(comparator: Comparator, exprs: list[Expr], ids: Array, scorers: list[_TargetScorer],
               settings: _Settings, depth: int, all_affinities: bool) -> Callable[[Frame], Prediction]:
    """The predictor: each row's ``depth`` nearest instances, and each target predicted from its
    ``settings.k`` nearest (the first target's prediction is the model's, the others its targets)."""
    k, threshold, measure = settings.k, settings.threshold, comparator.measure

    def predict_neighbors(frame: Frame) -> Prediction:
        n = frame.n
        x = comparator.encode([e.fn(frame) for e in exprs])
        every: Array | None = None
        if measure.is_distance and not all_affinities:
            # Only the nearest are kept, as they are found: no rows x instances matrix.
            ranked, ranked_aff, bad = comparator.nearest(x, depth)
        else:
            ranked, ranked_aff, bad, every = _ranked_in_blocks(comparator, x, depth, all_affinities)
        if bad.any():
            comparator.fail(frame, bad)
            ranked_aff[bad] = np.nan
            if every is not None:
                every[bad] = np.nan
        nearest = ranked[:, :k]
        weights = 1.0 / (ranked_aff[:, :k] + threshold)
        ranked_ids = ids[ranked]
        ranked_ids[bad] = None
        predicted = [(s.dtype, s.predict(frame, nearest, weights, bad)) for s in scorers] or [
            (DataType.STRING, empty(DataType.STRING, n))]
        preds = [Prediction(n, dtype, value, entity_id=ranked_ids[:, 0], affinity=ranked_aff[:, 0],
                            entity_ids=tuple(ids.tolist()) if every is not None else (), entity_affinities=every,
                            extras={"ranked_entity_ids": ranked_ids, "ranked_affinities": ranked_aff})
                 for dtype, value in predicted]
        first = preds[0]
        if len(preds) > 1:
            # Every target is predicted from the same neighbours; the first is the model's value.
            first.targets = {s.info.name: p for s, p in zip(scorers[1:], preds[1:], strict=True)}
        return first

    return predict_neighbors


def _weighing_fits(settings: _Settings, measure: Measure, el: Element, problems: Problems) -> bool:
    """Whether the neighbours' weights are defined: 1 / (distance + threshold) needs a distance."""
    weighted = [s for s in (settings.continuous, settings.categorical) if s.startswith("weighted")]
    if weighted and not measure.is_distance:
        problems.invalid(f"{' and '.join(weighted)} weighs neighbours by 1 / (distance + threshold); measure "
                         f"{measure.name} is a similarity", el)
        return False
    return True


def _targets(el: Element, env: ModelEnv, settings: _Settings) -> list[FieldInfo] | None:
    """The target fields the model predicts (none when it clusters), each of an optype it can."""
    problems, fn = env.problems, env.function_name
    if fn == "clustering":
        if settings.id_variable is None:
            problems.invalid("a clustering NearestNeighborModel needs attribute instanceIdVariable", el)
            return None
        return []
    if not env.targets:
        problems.invalid(f"a {fn} NearestNeighborModel needs a target field in its MiningSchema", el)
        return None
    for t in env.targets:
        if t.optype not in ("continuous", "categorical"):
            problems.unsupported(f"target field {t.name!r} is {t.optype}; only continuous and categorical "
                                 f"targets can be predicted (JPMML-Evaluator refuses ordinal too)", el)
            return None
        if t.optype == "continuous" and t.dtype.is_string:
            problems.invalid(f"continuous target field {t.name!r} is of dataType string", el)
            return None
    return list(env.targets)


def _ranked_in_blocks(
    comparator: Comparator, x: Array, depth: int, all_affinities: bool,
) -> tuple[npt.NDArray[np.intp], Array, npt.NDArray[np.bool_], Array | None]:
    """Ranks from the affinity matrix, cache-sized block by block: similarity measures, and
    distances when the Output asks for the affinity of named instances (kept whole)."""
    n, m = x.shape[0], comparator.references.shape[0]
    ranked = np.zeros((n, depth), dtype=np.intp)
    ranked_aff = np.full((n, depth), np.nan)
    bad = np.zeros(n, dtype=bool)
    every = np.full((n, m), np.nan) if all_affinities else None
    step = max(1, BLOCK_CELLS // max(1, m))
    for lo in range(0, n, step):
        hi = min(n, lo + step)
        aff, undefined = comparator.compare(x[lo:hi])
        order = ranking(aff, comparator.measure.is_distance, depth)
        ranked[lo:hi] = order
        ranked_aff[lo:hi] = np.take_along_axis(aff, order, axis=1)
        bad[lo:hi] = undefined
        if every is not None:
            every[lo:hi] = aff
    return ranked, ranked_aff, bad, every


@dataclass(frozen=True)
class _TargetScorer:
    """How one target field is predicted from the neighbours' training values."""

    info: FieldInfo
    dtype: DataType
    vote: _Vote | None  # categorical targets
    values: Array  # continuous targets: the training instances' values
    continuous: str
    weighted_vote: bool

    @staticmethod
    def build(target: FieldInfo, values: Array, settings: _Settings) -> _TargetScorer:
        vote = _Vote.build(target, values) if target.optype == "categorical" else None
        return _TargetScorer(target, target.dtype, vote, values, settings.continuous,
                             settings.categorical == "weightedMajorityVote")

    def predict(self, frame: Frame, nearest: npt.NDArray[np.intp], weights: Array,
                bad: npt.NDArray[np.bool_]) -> Array:
        if self.vote is not None:
            value = self.vote.predict(nearest, weights if self.weighted_vote else None, bad)
        else:
            value = _continuous(self.values[nearest], weights, self.continuous)
        missing_target = is_missing(value) & ~bad
        if missing_target.any():
            name = self.info.name
            frame.fail(missing_target, lambda r: EvaluationError(
                f"a nearest neighbour has no value of target field {name!r}", field=name, row=r))
        value[bad] = None if self.dtype.is_string else np.nan
        return value


def _continuous(values: Array, weights: Array, method: str) -> Array:
    """Average, weighted average or median of the neighbours' target values (rows x k)."""
    k = values.shape[1]
    with np.errstate(invalid="ignore", divide="ignore"):
        if method == "median":
            out: Array = np.median(values, axis=1)
            return out
        # JPMML adds the neighbours up one by one in rank order; so do we, for the same last bits.
        total = np.zeros(values.shape[0])
        if method == "average":
            for i in range(k):
                total = total + values[:, i]
            mean: Array = total / k
            return mean
        weight_sum = np.zeros(values.shape[0])
        for i in range(k):
            total = total + values[:, i] * weights[:, i]
            weight_sum = weight_sum + weights[:, i]
        return total / weight_sum


@dataclass(frozen=True)
class _Vote:
    """Majority vote of a categorical target over coded training values."""

    categories: tuple[Any, ...]
    codes: npt.NDArray[np.intp]  # per training instance; -1 where its target value is missing
    priority: npt.NDArray[np.intp]  # per category: lower wins a tie (more instances, then smaller value)
    dtype: DataType

    @staticmethod
    def build(target: FieldInfo, values: Array) -> _Vote:
        seen: dict[Any, int] = {}
        codes = np.full(len(values), -1, dtype=np.intp)
        for i, v in enumerate(values.tolist()):
            if v is None or v != v:
                continue
            codes[i] = seen.setdefault(v, len(seen))
        cats = tuple(seen)
        counts = np.bincount(codes[codes >= 0], minlength=len(cats))
        # PMML 4.4 KNN: "In case of a tie, the category with the largest number of cases in the
        # training data is the winner"; then the smallest value (JPMML: natural order).
        order = sorted(range(len(cats)), key=lambda j: (-int(counts[j]), cats[j]))
        priority = np.empty(len(cats), dtype=np.intp)
        priority[order] = np.arange(len(cats))
        return _Vote(cats, codes, priority, target.dtype)

    def predict(self, nearest: npt.NDArray[np.intp], weights: Array | None,
                bad: npt.NDArray[np.bool_]) -> Array:
        n = nearest.shape[0]
        winners = np.empty(n, dtype=np.intp)
        vote.majority(np.ascontiguousarray(nearest), np.ascontiguousarray(weights if weights is not None else
                                                                         np.zeros(nearest.shape)),
                      weights is not None, self.codes, self.priority, winners)
        out = empty(self.dtype, n)
        ok = (winners >= 0) & ~bad
        out[ok] = np.array(self.categories, dtype=object if self.dtype.is_string else np.float64)[winners[ok]]
        return out


def _training(
    ti: Element, el: Element, env: ModelEnv, settings: _Settings, exprs: list[Expr], comps: list[Comparison],
    targets: list[FieldInfo],
) -> tuple[Array, tuple[dict[Any, float] | None, ...], Array, dict[str, Array]] | None:
    """The training instances: reference matrix (instances x KNNInputs), string codes, entity ids and
    each target's values, with MiningSchema treatments and LocalTransformations applied as for records."""
    problems = env.problems
    fields_el = ti.find("InstanceFields")
    instance_fields = fields_el.findall("InstanceField") if fields_el is not None else []
    if not instance_fields:
        problems.invalid("TrainingInstances need InstanceFields with at least one InstanceField", fields_el or ti)
        return None
    table = read_table(ti, problems)
    if table is None:
        return None
    # Cells are matched by local name: sklearn2pmml writes <data:y> cells for column="data:y".
    table = [{tag.rpartition(":")[2]: text for tag, text in row.items()} for row in table]
    m = len(table)
    columns = _instance_columns(instance_fields, table, env, settings, {c.name for c in comps})
    if columns is None:
        return None
    raw, ids = columns
    if settings.id_variable is not None and ids is None:
        problems.invalid(f"instanceIdVariable {settings.id_variable!r} is not one of the InstanceFields", el)
        return None
    if ids is None:
        ids = np.array([str(i) for i in range(1, m + 1)], dtype=object)
    for target in targets:
        if target.name not in raw:
            problems.invalid(f"the InstanceFields have no column for target field {target.name!r}", fields_el)
            return None
    errors = RowErrors()
    root = Frame(m, dict(raw), {}, errors=errors)
    derived: dict[str, Expr] = dict(treatment_exprs([mf for mf in env.mining_fields if mf.name in raw]))
    derived.update(_local_derived(el, env))
    mining_names = {mf.name for mf in env.mining_fields}
    for name in raw:
        if name not in mining_names:
            derived.pop(name, None)  # a transformed value given in the table is used as it is
    read = _references(root.child(derived), exprs, comps, ti, problems)
    if read is None:
        return None
    if errors.errors:
        row, err = next(iter(errors.errors.items()))
        problems.invalid(f"training instance {row + 1} cannot be read: {err.text}", ti)
        return None
    return *read, ids, {t.name: raw[t.name] for t in targets}


def _instance_columns(instance_fields: list[Element], table: list[dict[str, str]], env: ModelEnv,
                      settings: _Settings, compared: set[str]) -> tuple[dict[str, Array], Array | None] | None:
    """The training table's columns the model reads, typed, and the instance ids if a column holds them."""
    problems, m = env.problems, len(table)
    wanted = {mf.name for mf in env.mining_fields} | compared
    raw: dict[str, Array] = {}
    ids: Array | None = None
    for f in instance_fields:
        name = attribute.text(f, "field", problems, required=True)
        if name is None:
            return None
        # The table's cells are keyed by local tag name: sklearn2pmml writes column="data:y".
        column = (f.get("column") or name).rpartition(":")[2]
        cells = [row.get(column) for row in table]
        if name == settings.id_variable:
            ids = np.array(cells, dtype=object)
            continue
        info = env.compiler.field_info(name)
        if info is None or name not in wanted:
            continue  # JPMML reads only the fields the model uses
        col = empty(info.dtype, m)
        for i, cell in enumerate(cells):
            if cell is None or (cell.strip() == "" and not info.dtype.is_string):
                continue
            try:
                col[i] = parse_scalar(info.dtype, cell if info.dtype.is_string else cell.strip())
            except ValueError as exc:
                problems.invalid(f"training instance {i + 1}, field {name!r}: {exc}", f)
                return None
        raw[name] = col
    return raw, ids


def _references(frame: Frame, exprs: list[Expr], comps: list[Comparison], ti: Element,
                problems: Problems) -> tuple[Array, tuple[dict[Any, float] | None, ...]] | None:
    """The training instances' values of the compared fields (instances x KNNInputs), a string
    field's categories coded as numbers (in order of first appearance)."""
    references = np.empty((frame.n, len(comps)))
    codes: list[dict[Any, float] | None] = []
    for j, (expr, comp) in enumerate(zip(exprs, comps, strict=True)):
        try:
            col = expr.fn(frame)
        except KeyError as exc:
            problems.invalid(f"KNNInput field {comp.name!r} cannot be computed for the training instances: they "
                             f"have no value of field {exc.args[0]!r}", ti)
            return None
        if comp.is_string:
            coded, labels = factorize(col)
            references[:, j] = np.where(coded >= 0, coded, np.nan)
            codes.append({v: float(i) for i, v in enumerate(labels)})
        else:
            references[:, j] = col
            codes.append(None)
    return references, tuple(codes)


def _local_derived(el: Element, env: ModelEnv) -> dict[str, Expr]:
    """The model's LocalTransformations compiled again, to run them over the training instances.

    Their problems were reported when the model's own scope was compiled; they are not repeated.
    """
    lt = el.find("LocalTransformations")
    if lt is None:
        return {}
    quiet = ExpressionCompiler(env.compiler.scope, Problems(), env.compiler.functions, env.compiler.bindings)
    out: dict[str, Expr] = {}
    for df in lt.findall("DerivedField"):
        got = quiet.derived_field(df)
        if got is not None:
            out[got[0].name] = got[1]
    return out
