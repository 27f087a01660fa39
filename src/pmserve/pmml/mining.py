"""MiningModel: ensembles, model selection and model chains (PMML 4.4 "MiningModel").

A Segmentation holds Segments, each a predicate, a weight and a nested model compiled with
:meth:`ModelEnv.compile_nested`.  Every segment runs only on the rows its predicate holds for
(unknown counts as false), over whole columns.  The results combine by ``multipleModelMethod``
as JPMML-Evaluator combines them:

* regression: ``sum``, ``weightedSum``, ``average``, ``weightedAverage``, ``median``,
  ``weightedMedian`` (the value whose cumulated weight first reaches half of the total);
* classification: ``majorityVote`` / ``weightedMajorityVote`` (probabilities are the vote
  fractions; a tie goes to the category voted for first), ``average`` / ``weightedAverage`` of
  the probabilities, ``max`` and ``median`` (the winning category's contributors averaged);
* clustering: ``majorityVote`` / ``weightedMajorityVote`` of the cluster ids;
* any function: ``selectFirst`` (the first segment whose predicate holds) and ``modelChain``
  (every segment's Output fields are fields of the later segments and of this model; the last
  segment whose predicate holds gives the prediction);
* ``selectAll`` (the prediction is the list of every true segment's prediction) and JPMML's
  ``x-multiModelChain`` (a chain whose segments predict different targets of this model, each
  a result): see :mod:`pmserve.pmml._mining_lists`.

``missingPredictionTreatment`` (default ``continue``) and ``missingThreshold`` follow JPMML:
``returnMissing`` makes a missing segment prediction the result; ``skipSegment`` leaves such
segments out unless their share of the weight exceeds the threshold; ``continue`` makes an
aggregate missing, but counts a missing vote as a pseudo-category that wins only with strictly
the most votes.  ``x-mathContext="float"`` sums in single precision, as JPMML does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from pmserve.pmml._expressions import format_number
from pmserve.pmml._fields import FieldInfo
from pmserve.pmml._frame import Frame
from pmserve.pmml._output import WITHOUT_PREDICTION, OutputField
from pmserve.pmml._parse import Element
from pmserve.pmml._predicates import PredicateFn, compile_predicate, find_predicate
from pmserve.pmml._prediction import CHAIN_VALUE, Prediction
from pmserve.pmml._types import Array, DataType, empty, is_missing, parse_scalar
from pmserve.pmml.compiler import (
    MODEL_TAGS,
    NESTED_RESULTS,
    SYNTHETIC_CLUSTER,
    SYNTHETIC_TARGET,
    ModelEnv,
    ModelPlan,
    Predictor,
    register,
)
from pmserve.pmml.trees.ensemble import fuse

_AGGREGATES = {
    "regression": ("sum", "weightedSum", "average", "weightedAverage", "median", "weightedMedian"),
    "classification": ("majorityVote", "weightedMajorityVote", "average", "weightedAverage", "median", "max"),
    "clustering": ("majorityVote", "weightedMajorityVote"),
}
_SELECTIONS = ("selectFirst", "modelChain")
#: Methods whose results are lists per record or several targets (pmserve.pmml._mining_lists).
SELECT_ALL, MULTI_MODEL_CHAIN = "selectAll", "x-multiModelChain"
_CHAINS = ("modelChain", MULTI_MODEL_CHAIN)
_ANY_FUNCTION = (*_SELECTIONS, SELECT_ALL, MULTI_MODEL_CHAIN)
_ALL_METHODS = tuple(dict.fromkeys(
    [m for ms in _AGGREGATES.values() for m in ms] + ["max", "weightedMedian", "sum", "weightedSum"]
    + list(_ANY_FUNCTION)))
_TREATMENTS = ("returnMissing", "skipSegment", "continue")
_SYNTHETIC = (SYNTHETIC_TARGET, SYNTHETIC_CLUSTER)

Rows = npt.NDArray[np.intp]


@dataclass(frozen=True)
class Segment:
    """One Segment compiled: ``predicate`` None means the True predicate."""

    id: str
    weight: float
    predicate: PredicateFn | None
    plan: ModelPlan
    #: Output fields a model chain hands on to later segments: (name, dtype).
    hands_on: tuple[tuple[str, DataType], ...] = ()
    #: The segment predicts a target of its own (not this model's): its value is a result of that name.
    other_target: str | None = None


@dataclass(frozen=True)
class Combination:
    """How the segments' results combine, fixed at load."""

    method: str
    treatment: str
    threshold: float
    function_name: str
    dtype: DataType
    categories: tuple[Any, ...]
    #: Order in which max/median look for the winning category (target categories first).
    winner_order: tuple[Any, ...]
    single_precision: bool
    #: Segment ids whose results this model's Output reads (segmentId); only those are kept.
    wanted_ids: frozenset[str]


# -- compile -----------------------------------------------------------------------------------------


@register("MiningModel")
def compile_mining(el: Element, env: ModelEnv) -> Predictor | None:
    problems = env.problems
    for embedded in el.findall("EmbeddedModel"):
        problems.unsupported("EmbeddedModel is not supported (PMML 4.4 deprecates it); use Segmentation", embedded)
        return None
    seg_el = el.find("Segmentation")
    if seg_el is None:
        problems.invalid("a MiningModel needs a Segmentation", el)
        return None
    combination = _combination(el, seg_el, env)
    if seg_el.find("LocalTransformations") is not None:
        # JPMML refuses it as well; the MiningModel's own LocalTransformations serve the purpose.
        problems.unsupported("Segmentation/LocalTransformations is not supported", seg_el.find("LocalTransformations"))
        return None
    seg_els = seg_el.findall("Segment")
    if not seg_els:
        problems.invalid("a Segmentation needs at least one Segment", seg_el)
        return None
    if combination is None:
        return None
    segments = _segments(seg_els, combination, env)
    if segments is None:
        return None
    categories = _categories(segments, combination, env)
    combination = Combination(
        combination.method, combination.treatment, combination.threshold, combination.function_name,
        combination.dtype, categories, _winner_order(categories, env), combination.single_precision,
        _wanted_segment_ids(el),
    )
    method = combination.method
    if method in (SELECT_ALL, MULTI_MODEL_CHAIN):
        # Deferred: that module builds on this one's segment machinery.
        from pmserve.pmml import _mining_lists

        return _mining_lists.compile_lists(el, segments, combination, env)
    if combination.function_name == "classification":
        env.categories = categories
    if method in _SELECTIONS:
        env.nested_results.extend(_nested_results(segments, method))
    if method == "selectFirst":
        return _select_first(segments, combination)
    if method == "modelChain":
        return _model_chain(segments, combination)
    start = 0.0
    if method in ("majorityVote", "weightedMajorityVote"):
        general = _vote(segments, combination)
    elif combination.function_name == "classification":
        general = _probability_aggregate(segments, combination)
    else:
        if combination.single_precision and method == "sum":
            start = _fold_rescale_constant(el, env)
        general = _value_aggregate(segments, combination, start)
    # Segments that are all plain trees are walked together, the general path as the fallback.
    return fuse(segments, combination, general, start, _convert_scalar) or general


def _fold_rescale_constant(el: Element, env: ModelEnv) -> float:
    """In single precision, a boosted sum starts from the Target's rescaleConstant.

    XGBoost (and JPMML for its exports) starts its float32 accumulator at the base score and adds
    the trees to it; adding the constant after a float32 sum of the trees rounds differently, by
    a few ULPs.  The constant is then taken out of the Targets step (``env.folded_rescale_constant``).
    """
    targets = el.find("Targets")
    chosen = targets.findall("Target") if targets is not None else []
    if len(chosen) != 1:
        return 0.0
    t = chosen[0]
    if t.get("rescaleFactor", "1") not in ("1", "1.0") or t.get("castInteger") is not None:
        return 0.0
    try:
        constant = float(t.get("rescaleConstant", "0"))
    except ValueError:
        return 0.0  # reported where Targets is compiled
    if constant == 0.0:
        return 0.0
    env.folded_rescale_constant = True
    return constant


def _combination(el: Element, seg_el: Element, env: ModelEnv) -> Combination | None:
    problems = env.problems
    method = seg_el.get("multipleModelMethod")
    fn = env.function_name
    ok = True
    if method is None:
        problems.invalid("attribute multipleModelMethod is required", seg_el)
        return None
    if method not in _ALL_METHODS:
        problems.invalid(f"multipleModelMethod must be one of {', '.join(_ALL_METHODS)}, got {method!r}", seg_el)
        return None
    if method not in _ANY_FUNCTION:
        allowed = _AGGREGATES.get(fn)
        if allowed is None:
            problems.unsupported(f"a {fn} MiningModel can only select or chain models (selectFirst, "
                                 f"modelChain), got multipleModelMethod {method!r}", seg_el)
            return None
        if method not in allowed:
            problems.invalid(f"multipleModelMethod {method} is not defined for functionName {fn}; expected one "
                             f"of {', '.join(allowed + _ANY_FUNCTION)}", seg_el)
            return None
    treatment = seg_el.get("missingPredictionTreatment", "continue")
    if treatment not in _TREATMENTS:
        problems.invalid(f"missingPredictionTreatment must be one of {', '.join(_TREATMENTS)}, got {treatment!r}",
                         seg_el)
        ok = False
    if treatment == "skipSegment" and method in _CHAINS:
        problems.invalid(f"missingPredictionTreatment skipSegment is not defined for a {method}", seg_el)
        ok = False
    if treatment == "skipSegment" and method == SELECT_ALL:
        problems.unsupported("missingPredictionTreatment skipSegment with selectAll is not supported (nor by "
                             "JPMML); use continue or returnMissing", seg_el)
        ok = False
    threshold_text = seg_el.get("missingThreshold", "1")
    try:
        threshold = float(threshold_text)
    except ValueError:
        threshold = float("nan")
    if not 0.0 <= threshold <= 1.0:
        problems.invalid(f"missingThreshold must be a number from 0 to 1, got {threshold_text!r}", seg_el)
        ok = False
    target = env.target
    if method not in _ANY_FUNCTION and fn in ("regression", "classification") and target is None:
        problems.invalid(f"a {fn} MiningModel that combines segments with {method} needs a target field", el)
        ok = False
    if not ok:
        return None
    dtype = target.dtype if target is not None else DataType.STRING
    if fn == "regression" and dtype.is_string and method not in _ANY_FUNCTION:
        problems.invalid(f"a regression MiningModel needs a numeric target, got {target.name if target else ''!r} "
                         f"of dataType string", el)
        return None
    single = el.get("x-mathContext") == "float"
    return Combination(method, treatment, threshold, fn, dtype, (), (), single, frozenset())


def _segments(seg_els: list[Element], combination: Combination, env: ModelEnv) -> list[Segment] | None:
    problems = env.problems
    chain = combination.method in _CHAINS
    # JPMML: a mixed multi-model chain's segments may perform any function; a modelChain's too.
    any_function = combination.method == "modelChain" or (
        combination.method == MULTI_MODEL_CHAIN and combination.function_name == "mixed")
    chain_or_select = combination.method in _SELECTIONS
    out: list[Segment] = []
    ok = True
    seen: set[str] = set()
    for i, s in enumerate(seg_els, start=1):
        # JPMML's implicit entity id: the 1-based position of the Segment.
        sid = s.get("id") or str(i)
        if sid in seen:
            problems.invalid(f"Segment id {sid!r} is used twice", s)
            ok = False
        seen.add(sid)
        weight_text = s.get("weight", "1")
        try:
            weight = float(weight_text)
        except ValueError:
            weight = float("nan")
        if not weight >= 0.0 or weight == float("inf"):
            problems.invalid(f"Segment weight must be a non-negative number, got {weight_text!r}", s)
            ok = False
        if s.find("VariableWeight") is not None:
            problems.unsupported("VariableWeight is not supported; use Segment/@weight", s.find("VariableWeight"))
            ok = False
        pred_el = find_predicate(s)
        predicate: PredicateFn | None = None
        if pred_el is None:
            problems.invalid("a Segment needs a predicate (True, SimplePredicate, ...)", s)
            ok = False
        elif pred_el.tag != "True":
            predicate = compile_predicate(pred_el, env.compiler)
            if predicate is None:
                ok = False
        models = [c for c in s.children if c.tag in MODEL_TAGS]
        if len(models) != 1:
            problems.invalid(f"a Segment needs exactly one model element, got {len(models)}", s)
            ok = False
            continue
        model_el = models[0]
        nested_seg = model_el.find("Segmentation") if model_el.tag == "MiningModel" else None
        if nested_seg is not None and nested_seg.get("multipleModelMethod") == SELECT_ALL:
            problems.unsupported("a selectAll MiningModel inside a Segment is not supported: its prediction is "
                                 "a list per record, which no multipleModelMethod combines", model_el)
            ok = False
            continue
        seg_fn = model_el.get("functionName")
        if not any_function and seg_fn is not None and seg_fn != combination.function_name:
            problems.invalid(f"functionName of a segment model must be {combination.function_name} (the "
                             f"MiningModel's) with multipleModelMethod {combination.method}, got {seg_fn!r}",
                             model_el)
            ok = False
            continue
        plan = env.compile_nested(model_el, env.scope)
        if plan is None:
            ok = False
            continue
        hands_on: tuple[tuple[str, DataType], ...] = ()
        if chain and plan.output is not None:
            hands_on = tuple((f.name, f.dtype) for f in plan.output.fields)
            for f in plan.output.fields:
                # Later segments and this model's Output read the field as any other.
                env.scope.add(FieldInfo(f.name, f.dtype, f.optype))
        other = None
        mine = env.target
        if (plan.target is not None and mine is not None and plan.target.name != mine.name
                and plan.target.name not in _SYNTHETIC and mine.name not in _SYNTHETIC and chain_or_select):
            other = plan.target.name
        out.append(Segment(sid, weight, predicate, plan, hands_on, other))
    return out if ok else None


def _categories(segments: list[Segment], combination: Combination, env: ModelEnv) -> tuple[Any, ...]:
    """Categories in the order JPMML meets them: the segments' own, then the target's."""
    if combination.function_name != "classification":
        return ()
    cats: dict[Any, None] = {}
    for seg in segments:
        for c in seg.plan.categories:
            cats.setdefault(_convert_scalar(c, _plan_dtype(seg.plan), combination.dtype), None)
    if env.target is not None:
        for c in env.target.valid:
            cats.setdefault(c, None)
    return tuple(cats)


def _winner_order(categories: tuple[Any, ...], env: ModelEnv) -> tuple[Any, ...]:
    target = env.target.valid if env.target is not None else ()
    return tuple(dict.fromkeys([*target, *categories]))


def _wanted_segment_ids(el: Element) -> frozenset[str]:
    out = el.find("Output")
    if out is None:
        return frozenset()
    return frozenset(sid for f in out.findall("OutputField") if (sid := f.get("segmentId")) is not None)


def _nested_results(segments: list[Segment], method: str) -> list[OutputField]:
    """Output fields of the segments that may give the result: JPMML returns them as results too.

    For selectFirst these are the segments up to the first whose predicate is True; for a
    modelChain the segments from the last whose predicate is True on.
    """
    always = [i for i, s in enumerate(segments) if s.predicate is None]
    if method == "selectFirst":
        chosen = segments[: always[0] + 1] if always else segments
    else:
        chosen = segments[always[-1]:] if always else segments
    out: list[OutputField] = []
    for seg in chosen:
        if seg.other_target is not None and seg.plan.target is not None:
            t = seg.plan.target
            out.append(OutputField(t.name, t.dtype, t.optype, "predictedValue", True, _predicted_value))
        out.extend(seg.plan.nested_results)
        if seg.plan.output is not None:
            out.extend(seg.plan.output.fields)
    return out


def _predicted_value(pred: Prediction, frame: Frame, values: dict[str, Array]) -> Array:
    return pred.value


def _plan_dtype(plan: ModelPlan) -> DataType:
    return plan.target.dtype if plan.target is not None else DataType.STRING


# -- evaluating segments --------------------------------------------------------------------------


@dataclass
class _Run:
    """One segment's results over the rows it ran on (``rows`` None = every row of the frame)."""

    segment: Segment
    rows: Rows | None
    pred: Prediction
    outputs: dict[str, Array]


def _holds(segment: Segment, frame: Frame) -> Rows | None:
    """Rows (local to ``frame``) where the segment's predicate is true; None for every row."""
    if segment.predicate is None:
        return None
    truth = segment.predicate(frame)
    rows: Rows = np.flatnonzero(truth == 1.0)
    return None if len(rows) == frame.n else rows


def _evaluate(segment: Segment, frame: Frame, rows: Rows | None) -> _Run:
    pred, outputs, _ = segment.plan.evaluate(frame, rows)
    return _Run(segment, rows, pred, outputs)


def _run_all(segments: list[Segment], frame: Frame) -> list[_Run]:
    runs = []
    for seg in segments:
        rows = _holds(seg, frame)
        if rows is not None and not len(rows):
            continue
        runs.append(_evaluate(seg, frame, rows))
    return runs


def _full(values: Array, rows: Rows | None, n: int, dtype: DataType) -> Array:
    if rows is None:
        return values
    out = empty(dtype, n)
    out[rows] = values
    return out


def _active(run: _Run, n: int) -> npt.NDArray[np.bool_]:
    if run.rows is None:
        return np.ones(n, dtype=bool)
    m = np.zeros(n, dtype=bool)
    m[run.rows] = True
    return m


def _nested_values(runs: list[_Run], keep: list[npt.NDArray[np.bool_]], n: int) -> dict[str, Array]:
    """The Output values (and nested results) of the segment that gives each row's result.

    ``keep[i]`` marks the rows (of the whole frame) whose result comes from ``runs[i]``; as in
    JPMML, a field of another segment is missing on those rows.
    """
    out: dict[str, Array] = {}
    for run, mine in zip(runs, keep, strict=True):
        if not mine.any():
            continue
        local = mine if run.rows is None else mine[run.rows]
        rows = np.flatnonzero(mine)
        produced = {**run.pred.extras.get(NESTED_RESULTS, {}), **run.outputs}
        if run.segment.other_target is not None:
            produced[run.segment.other_target] = run.pred.value
        for name, col in produced.items():
            whole = out.get(name)
            if whole is None or (whole.dtype == object) != (col.dtype == object):
                whole = np.full(n, None, dtype=object) if col.dtype == object else np.full(n, np.nan)
                out[name] = whole
            whole[rows] = col[local]
    return out


def _segment_results(
    runs: list[_Run], combination: Combination, n: int,
) -> dict[str, tuple[Prediction, dict[str, Array]]]:
    """The results of the segments this model's Output asks for, over all rows."""
    out = {}
    for run in runs:
        if run.segment.id in combination.wanted_ids:
            pred = _scatter([(run.rows, run.pred)], n, run.pred.dtype)
            outputs = {k: _full(v, run.rows, n, DataType.STRING if v.dtype == object else DataType.DOUBLE)
                       for k, v in run.outputs.items()}
            out[run.segment.id] = (pred, outputs)
    return out


# -- selectFirst and modelChain: the selected segment's results are this model's ------------------


def _select_first(segments: list[Segment], combination: Combination) -> Predictor:
    skip = combination.treatment == "skipSegment"

    def predict_select_first(frame: Frame) -> Prediction:
        remaining: Rows = np.arange(frame.n, dtype=np.intp)
        pieces: list[tuple[Rows | None, Prediction]] = []
        runs: list[_Run] = []
        keep: list[npt.NDArray[np.bool_]] = []
        chosen_ids = np.full(frame.n, None, dtype=object)
        for seg in segments:
            if not len(remaining):
                break
            if seg.predicate is None:
                chosen = remaining
            else:
                truth = seg.predicate(frame.subset(remaining, {}) if len(remaining) < frame.n else frame)
                chosen = remaining[truth == 1.0]
            if not len(chosen):
                continue
            run = _evaluate(seg, frame, None if len(chosen) == frame.n else chosen)
            runs.append(run)
            taken = chosen
            pred = run.pred
            if skip:
                # skipSegment: a record this segment cannot predict goes on to the next segment.
                ok = ~is_missing(pred.value)
                if not ok.all():
                    taken = chosen[ok]
                    pred = pred.subset_rows(ok)
            if len(taken) and seg.other_target is None:
                pieces.append((None if len(taken) == frame.n else taken, pred))
                chosen_ids[taken] = seg.id
            mine = np.zeros(frame.n, dtype=bool)
            mine[taken] = True
            keep.append(mine)
            remaining = np.setdiff1d(remaining, taken, assume_unique=True)
        result = _scatter(pieces, frame.n, combination.dtype)
        if result.entity_id is None:
            # JPMML: the entity of a selectFirst result is the segment that gave it.
            result.entity_id = chosen_ids
        result.segments = _segment_results(runs, combination, frame.n)
        result.extras[NESTED_RESULTS] = _nested_values(runs, keep, frame.n)
        return result

    return predict_select_first


def _undefined_outputs(seg: Segment, run: _Run, frame: Frame, holds: npt.NDArray[np.bool_]) -> None:
    """A chain segment without a prediction leaves its OutputFields that need one undefined, and
    JPMML-Evaluator fails the record when it hands them on (MissingFieldValueException)."""
    needing = [f.name for f in seg.plan.output.fields if f.feature not in WITHOUT_PREDICTION] \
        if seg.plan.output is not None else []
    if not needing:
        return
    miss = np.asarray(is_missing(run.pred.value), dtype=bool)
    if not miss.any():
        return
    failed = np.zeros(frame.n, dtype=bool)
    failed[np.flatnonzero(holds)[miss]] = True
    frame.fail_message(failed, f"segment {seg.id!r} of the modelChain predicts nothing for the record, so its "
                       f"OutputField {needing[0]!r} is not defined for the segments after it", field=needing[0])


def _model_chain(segments: list[Segment], combination: Combination) -> Predictor:
    return_missing = combination.treatment == "returnMissing"

    def predict_model_chain(frame: Frame) -> Prediction:
        n = frame.n
        for seg in segments:
            for name, dtype in seg.hands_on:
                frame.set(name, empty(dtype, n))
        final = np.full(n, -1, dtype=np.intp)
        dead = np.zeros(n, dtype=bool)
        runs: list[_Run] = []
        for seg in segments:
            if seg.predicate is None:
                holds = ~dead
            else:
                holds = (seg.predicate(frame) == 1.0) & ~dead
            if not holds.any():
                continue
            rows = None if holds.all() else np.flatnonzero(holds)
            run = _evaluate(seg, frame, rows)
            runs.append(run)
            _hand_on(seg, run, frame, rows)
            final[holds] = len(runs) - 1
            if not return_missing and seg.plan.output is not None:
                _undefined_outputs(seg, run, frame, holds)
            if return_missing:
                # returnMissing: a missing segment prediction is the record's result; the chain stops.
                miss = is_missing(run.pred.value)
                if miss.any():
                    dead[np.flatnonzero(holds)[miss]] = True
        pieces: list[tuple[Rows | None, Prediction]] = []
        keep = [(final == i) & ~dead for i in range(len(runs))]
        for i, run in enumerate(runs):
            mine = keep[i]
            # A segment predicting another target gives that result, not this model's value.
            if not mine.any() or run.segment.other_target is not None:
                continue
            if mine.all():
                pieces.append((None, run.pred))
                continue
            local = mine[run.rows] if run.rows is not None else mine
            pieces.append((np.flatnonzero(mine), run.pred.subset_rows(local)))
        result = _scatter(pieces, n, combination.dtype)
        if any(run.segment.other_target is not None for run in runs):
            # The chain's own result is its last segment's, whatever target that one predicts:
            # an Output predictedValue without targetField reads it (JPMML).
            final_value = np.full(n, None, dtype=object)
            for i, run in enumerate(runs):
                mine = keep[i]
                if mine.any():
                    local = mine[run.rows] if run.rows is not None else mine
                    final_value[mine] = np.asarray(run.pred.value, dtype=object)[local]
            result.extras[CHAIN_VALUE] = final_value
        result.segments = _segment_results(runs, combination, n)
        result.extras[NESTED_RESULTS] = _nested_values(runs, keep, n)
        return result

    return predict_model_chain


def _hand_on(seg: Segment, run: _Run, frame: Frame, rows: Rows | None) -> None:
    """The segment's Output fields become fields of the later segments (where it ran)."""
    for name, _dtype in seg.hands_on:
        col = run.outputs[name]
        if rows is None:
            frame.set(name, col)
        else:
            whole = frame.get(name).copy()
            whole[rows] = col
            frame.set(name, whole)


def _scatter(pieces: list[tuple[Rows | None, Prediction]], n: int, dtype: DataType) -> Prediction:
    """One prediction over ``n`` rows from predictions over disjoint sets of rows."""
    if len(pieces) == 1 and pieces[0][0] is None:
        pred = pieces[0][1]
        if pred.dtype is dtype or pred.dtype.is_string == dtype.is_string:
            if pred.dtype is not dtype:
                pred.dtype = dtype
            return pred
    value = empty(dtype, n)
    cats: dict[Any, int] = {}
    for _, p in pieces:
        for c in p.categories:
            cats.setdefault(_convert_scalar(c, p.dtype, dtype), len(cats))
    categories = tuple(cats)
    probabilities = np.full((n, len(categories)), np.nan) if any(
        p.probabilities is not None for _, p in pieces) else None
    confidences = np.full((n, len(categories)), np.nan) if any(
        p.confidences is not None for _, p in pieces) else None
    singles: dict[str, Array] = {}
    display: dict[Any, str] = {}
    for rows, p in pieces:
        where = slice(None) if rows is None else rows
        value[where] = _convert(p.value, p.dtype, dtype)
        display.update(p.display)
        # A category that does not convert to this model's type (NaN) has no column.
        idx = [cats.get(_convert_scalar(c, p.dtype, dtype), -1) for c in p.categories]
        keep = [j for j, i in enumerate(idx) if i >= 0]
        idx = [idx[j] for j in keep]
        if probabilities is not None and p.probabilities is not None and idx:
            block = np.zeros((p.n, len(categories)))
            block[:, idx] = p.probabilities[:, keep]
            block[np.isnan(p.probabilities).any(axis=1)] = np.nan
            probabilities[where] = block
        if confidences is not None and p.confidences is not None and idx:
            block = np.zeros((p.n, len(categories)))
            block[:, idx] = p.confidences[:, keep]
            confidences[where] = block
        for member in ("confidence", "entity_id", "affinity", "standard_error"):
            got = getattr(p, member)
            if got is None:
                continue
            whole = singles.get(member)
            if whole is None:
                whole = empty(DataType.STRING if got.dtype == object else DataType.DOUBLE, n)
                singles[member] = whole
            whole[where] = got
    return Prediction(
        n, dtype, value, categories, probabilities, confidences=confidences,
        confidence=singles.get("confidence"), entity_id=singles.get("entity_id"),
        affinity=singles.get("affinity"), standard_error=singles.get("standard_error"), display=display,
    )


# -- aggregates ---------------------------------------------------------------------------------------


def _missing_rows(
    active: npt.NDArray[np.bool_], missing: npt.NDArray[np.bool_], weights: Array, combination: Combination,
) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.bool_]]:
    """Rows whose result is missing, and the segment results that take part (rows x segments)."""
    nothing = ~active.any(axis=1)
    if combination.treatment == "skipSegment":
        total = (active * weights).sum(axis=1)
        lost = (missing * weights).sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            too_many: npt.NDArray[np.bool_] = np.asarray(lost / total > combination.threshold)
        return np.asarray(nothing | too_many), active & ~missing
    return np.asarray(nothing | missing.any(axis=1)), active & ~missing


def _value_aggregate(segments: list[Segment], combination: Combination, start: float = 0.0) -> Predictor:
    weights = np.array([s.weight for s in segments])
    method = combination.method
    single = combination.single_precision

    def predict_values(frame: Frame) -> Prediction:
        n = frame.n
        runs = _run_all(segments, frame)
        k = len(runs)
        values = np.full((n, k), np.nan)
        active = np.zeros((n, k), dtype=bool)
        for j, run in enumerate(runs):
            v = _convert(run.pred.value, run.pred.dtype, DataType.DOUBLE)
            where = slice(None) if run.rows is None else run.rows
            values[where, j] = v
            active[where, j] = True
        w = weights[[segments.index(r.segment) for r in runs]] if runs else np.zeros(0)
        missing = active & np.isnan(values)
        no_result, use = _missing_rows(active, missing, w, combination)
        result = _combine_values(values, use, w, method, single, start)
        result[no_result] = np.nan
        pred = Prediction(n, combination.dtype, result)
        pred.segments = _segment_results(runs, combination, n)
        return pred

    return predict_values


def _combine_values(values: Array, use: npt.NDArray[np.bool_], w: Array, method: str, single: bool,
                    start: float = 0.0) -> Array:
    n, k = values.shape
    if method in ("sum", "weightedSum", "average", "weightedAverage"):
        weighted = method.startswith("weighted")
        dtype = np.float32 if single else np.float64
        acc = np.full(n, start, dtype=dtype)
        # Left to right, one segment at a time: the summation order of JPMML.
        for j in range(k):
            term = values[:, j] * w[j] if weighted and w[j] != 1.0 else values[:, j]
            acc = acc + np.where(use[:, j], term, 0.0).astype(dtype)
        total = acc.astype(np.float64)
        if method == "average":
            count = use.sum(axis=1)
            with np.errstate(invalid="ignore", divide="ignore"):
                total = (acc / count.astype(dtype)).astype(np.float64) if single else total / count
            total[count == 0] = np.nan
        elif method == "weightedAverage":
            wsum = (use * w).sum(axis=1)
            with np.errstate(invalid="ignore", divide="ignore"):
                total = (acc / wsum.astype(dtype)).astype(np.float64) if single else total / wsum
            total[wsum == 0] = np.nan
        return total
    masked = np.where(use, values, np.nan)
    if method == "median":
        out = np.full(n, np.nan)
        some = use.any(axis=1)
        if some.any():
            out[some] = np.nanmedian(masked[some], axis=1)
        return out
    # weightedMedian: the smallest value whose cumulated weight reaches half of the total weight.
    order = np.argsort(np.where(use, values, np.inf), axis=1, kind="stable")
    sorted_values = np.take_along_axis(masked, order, axis=1)
    sorted_weights = np.take_along_axis(np.where(use, w[None, :], 0.0), order, axis=1)
    cum = np.cumsum(sorted_weights, axis=1)
    half = 0.5 * cum[:, -1:] if k else np.zeros((n, 1))
    reached = (cum >= half) & np.take_along_axis(use, order, axis=1)
    first = np.argmax(reached, axis=1)
    out = sorted_values[np.arange(n), first] if k else np.full(n, np.nan)
    out[~reached.any(axis=1)] = np.nan
    return np.asarray(out, dtype=np.float64)


class _CategoryIndex:
    """Category -> column, growing as new categories come (the compile-time ones first)."""

    def __init__(self, categories: tuple[Any, ...]) -> None:
        self.index: dict[Any, int] = {c: j for j, c in enumerate(categories)}

    def of(self, c: Any) -> int:
        j = self.index.get(c)
        if j is None:
            j = len(self.index)
            self.index[c] = j
        return j

    @property
    def categories(self) -> tuple[Any, ...]:
        return tuple(self.index)


def _vote(segments: list[Segment], combination: Combination) -> Predictor:
    weights = np.array([s.weight for s in segments])
    weighted = combination.method == "weightedMajorityVote"
    dtype = combination.dtype

    def predict_vote(frame: Frame) -> Prediction:
        n = frame.n
        runs = _run_all(segments, frame)
        k = len(runs)
        index = _CategoryIndex(combination.categories)
        voted = np.full((n, k), -1, dtype=np.intp)
        active = np.zeros((n, k), dtype=bool)
        for j, run in enumerate(runs):
            where = slice(None) if run.rows is None else run.rows
            voted[where, j] = _codes(_convert(run.pred.value, run.pred.dtype, dtype), index)
            active[where, j] = True
        w = weights[[segments.index(r.segment) for r in runs]] if weighted and runs else np.ones(k)
        missing = active & (voted < 0)
        c = len(index.index)
        votes = np.zeros((n, c))
        first = np.full((n, c), k)
        rows = np.arange(n)
        for j in range(k):
            ok = active[:, j] & ~missing[:, j]
            rr, kk = rows[ok], voted[ok, j]
            votes[rr, kk] += w[j]
            first[rr, kk] = np.minimum(first[rr, kk], j)
        no_result = ~active.any(axis=1)
        if combination.treatment == "returnMissing":
            no_result |= missing.any(axis=1)
        else:
            total = (active * w).sum(axis=1)
            lost = (missing * w).sum(axis=1)
            with np.errstate(invalid="ignore", divide="ignore"):
                no_result |= lost / total > combination.threshold
            if combination.treatment == "continue":
                # The missing pseudo-category wins only with strictly the most votes.
                best = votes.max(axis=1) if c else np.zeros(n)
                no_result |= (lost > best) & (best > 0)
        total_votes = votes.sum(axis=1)
        if combination.function_name == "classification" and combination.treatment != "returnMissing":
            # Every vote missing (and under the missingThreshold): JPMML-Evaluator is left with an
            # empty vote map, which it refuses ("Empty classification") rather than predict nothing.
            empty_vote = ~no_result & (total_votes <= 0) & missing.any(axis=1)
            frame.fail_message(empty_vote, "no segment of the vote predicted a category (every segment's "
                               "prediction is missing), so the vote has no winner")
        no_result |= total_votes <= 0
        with np.errstate(invalid="ignore", divide="ignore"):
            probs = votes / total_votes[:, None]
        probs[no_result] = np.nan
        categories = index.categories
        # A tie goes to the category that got its first vote from the earliest segment (JPMML's order).
        top = votes == votes.max(axis=1, keepdims=True) if c else np.zeros((n, 0), dtype=bool)
        winner = np.argmin(np.where(top, first, k + 1), axis=1) if c else np.zeros(n, dtype=np.intp)
        value = _pick(categories, winner, ~no_result, dtype, n)
        if combination.function_name == "clustering":
            pred = Prediction(n, dtype, value, entity_id=_as_text(value, dtype))
        else:
            pred = Prediction(n, dtype, value, categories, probs)
        pred.segments = _segment_results(runs, combination, n)
        return pred

    return predict_vote


def _probability_aggregate(segments: list[Segment], combination: Combination) -> Predictor:
    weights = np.array([s.weight for s in segments])
    method = combination.method
    dtype = combination.dtype

    def predict_probabilities(frame: Frame) -> Prediction:
        n = frame.n
        runs = _run_all(segments, frame)
        k = len(runs)
        index = _CategoryIndex(combination.categories)
        blocks: list[tuple[Array, list[int]]] = []
        for run in runs:
            cols = [index.of(_convert_scalar(cat, run.pred.dtype, dtype)) for cat in run.pred.categories]
            blocks.append((run.pred.probabilities if run.pred.probabilities is not None
                           else np.full((run.pred.n, 0), np.nan), cols))
        c = len(index.index)
        probs = np.zeros((n, k, c))
        active = np.zeros((n, k), dtype=bool)
        missing = np.zeros((n, k), dtype=bool)
        for j, (run, (block, cols)) in enumerate(zip(runs, blocks, strict=True)):
            where = slice(None) if run.rows is None else run.rows
            full = np.zeros((run.pred.n, c))
            if cols:
                full[:, cols] = block
            miss = is_missing(run.pred.value) | (np.isnan(block).any(axis=1) if cols else True)
            probs[where, j, :] = np.where(miss[:, None], 0.0, full)
            active[where, j] = True
            missing[where, j] = miss
        w = weights[[segments.index(r.segment) for r in runs]] if runs else np.zeros(0)
        no_result, use = _missing_rows(active, missing, w, combination)
        categories = index.categories
        order = [index.index[x] for x in combination.winner_order if x in index.index]
        order += [j for j in range(c) if j not in order]
        result = _combine_probabilities(probs, use, w, method, order)
        result[no_result] = np.nan
        result[~use.any(axis=1)] = np.nan
        ok = np.asarray(~np.isnan(result).any(axis=1)) if c else np.zeros(n, dtype=bool)
        # Ties go to the first category in the target's order (JPMML; e.g. 0.5/0.5 in a forest).
        ranked = np.where(np.isnan(result[:, order]), -np.inf, result[:, order])
        winner = np.asarray(order, dtype=np.intp)[np.argmax(ranked, axis=1)] if c else np.zeros(n, dtype=np.intp)
        pred = Prediction(n, dtype, _pick(categories, winner, ok, dtype, n), categories, result)
        pred.segments = _segment_results(runs, combination, n)
        return pred

    return predict_probabilities


def _combine_probabilities(
    probs: Array, use: npt.NDArray[np.bool_], w: Array, method: str, order: list[int],
) -> Array:
    n, k, c = probs.shape
    if method in ("average", "weightedAverage"):
        ww = use * (w[None, :] if method == "weightedAverage" else 1.0)
        acc = np.zeros((n, c))
        for j in range(k):
            acc += probs[:, j, :] * ww[:, j:j + 1]
        with np.errstate(invalid="ignore", divide="ignore"):
            out: Array = acc / ww.sum(axis=1, keepdims=True)
        return out
    masked = np.where(use[:, :, None], probs, np.nan)
    some = use.any(axis=1)
    stat = np.full((n, c), np.nan)
    if some.any():
        stat[some] = np.nanmax(masked[some], axis=1) if method == "max" else np.nanmedian(masked[some], axis=1)
    # The winning category: the largest statistic, first in the target's category order on ties.
    ordered = np.where(np.isnan(stat[:, order]), -np.inf, stat[:, order])
    winner = np.asarray(order)[np.argmax(ordered, axis=1)] if order else np.zeros(n, dtype=np.intp)
    rows = np.arange(n)
    p_win = probs[rows, :, winner]  # rows x segments
    s_win = stat[rows, winner][:, None]
    if method == "max":
        contributors = use & (p_win == s_win)
    else:
        # Median: the segments closest to the median probability of the winning category.
        diff = np.where(use, np.abs(s_win - p_win), np.inf)
        contributors = use & (diff <= diff.min(axis=1, keepdims=True))
    acc = np.zeros((n, c))
    for j in range(k):
        acc += probs[:, j, :] * contributors[:, j:j + 1]
    with np.errstate(invalid="ignore", divide="ignore"):
        out = acc / contributors.sum(axis=1, keepdims=True)
    return out


# -- values and categories -------------------------------------------------------------------------


def _codes(values: Array, index: _CategoryIndex) -> npt.NDArray[np.intp]:
    """Column of each value in the category index (-1 for a missing value)."""
    out = np.full(len(values), -1, dtype=np.intp)
    if values.dtype == object:
        for i, v in enumerate(values.tolist()):
            if v is not None:
                out[i] = index.of(v)
        return out
    ok = ~np.isnan(values)
    if ok.any():
        uniq, inverse = np.unique(values[ok], return_inverse=True)
        cols = np.array([index.of(float(u)) for u in uniq.tolist()], dtype=np.intp)
        out[ok] = cols[inverse]
    return out


def _pick(categories: tuple[Any, ...], winner: Array, ok: npt.NDArray[np.bool_], dtype: DataType, n: int) -> Array:
    value = empty(dtype, n)
    if categories and ok.any():
        cats = np.empty(len(categories), dtype=object if dtype.is_string else np.float64)
        for j, cval in enumerate(categories):
            cats[j] = cval
        value[ok] = cats[winner[ok]]
    return value


def _convert_scalar(value: Any, source: DataType, target: DataType) -> Any:
    if value is None or source.is_string == target.is_string:
        return value
    if target.is_string:
        return format_number(float(value), source)
    try:
        return parse_scalar(target, str(value))
    except ValueError:
        return float("nan")


def _convert(values: Array, source: DataType, target: DataType) -> Array:
    """A segment's predicted values as values of this model's target type."""
    if source.is_string == target.is_string:
        return values
    if target.is_string:
        return _as_text(values, source)
    out = np.full(len(values), np.nan)
    for i, v in enumerate(values.tolist()):
        if v is not None:
            out[i] = _convert_scalar(v, source, target)
    return out


def _as_text(values: Array, dtype: DataType) -> Array:
    if values.dtype == object:
        return values
    out = np.empty(len(values), dtype=object)
    for i, v in enumerate(values.tolist()):
        out[i] = None if v != v else format_number(v, dtype)
    return out

