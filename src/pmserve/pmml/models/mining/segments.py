"""Segments at score time: running each one on the rows its predicate holds for, scattering the
pieces back into whole columns, and the conversions between a segment's and the model's types."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from pmserve.pmml.compiler import NESTED_RESULTS, ModelPlan
from pmserve.pmml.expressions.casting import format_number
from pmserve.pmml.expressions.predicates import PredicateFn
from pmserve.pmml.fields.frame import Frame
from pmserve.pmml.fields.types import Array, DataType, empty, is_missing, parse_scalar
from pmserve.pmml.results.output import WITHOUT_PREDICTION
from pmserve.pmml.results.prediction import Prediction

#: Methods whose results are lists per record or several targets (pmserve.pmml.models.mining.lists).
SELECT_ALL, MULTI_MODEL_CHAIN = "selectAll", "x-multiModelChain"


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


def predicted_value(pred: Prediction, frame: Frame, values: dict[str, Array]) -> Array:
    return pred.value


def plan_dtype(plan: ModelPlan) -> DataType:
    return plan.target.dtype if plan.target is not None else DataType.STRING


# -- evaluating segments --------------------------------------------------------------------------


@dataclass
class Run:
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


def evaluate(segment: Segment, frame: Frame, rows: Rows | None) -> Run:
    pred, outputs = segment.plan.evaluate(frame, rows)
    return Run(segment, rows, pred, outputs)


def run_all(segments: list[Segment], frame: Frame) -> list[Run]:
    runs = []
    for seg in segments:
        rows = _holds(seg, frame)
        if rows is not None and not len(rows):
            continue
        runs.append(evaluate(seg, frame, rows))
    return runs


def _full(values: Array, rows: Rows | None, n: int, dtype: DataType) -> Array:
    if rows is None:
        return values
    out = empty(dtype, n)
    out[rows] = values
    return out


def nested_values(runs: list[Run], keep: list[npt.NDArray[np.bool_]], n: int) -> dict[str, Array]:
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


def segment_results(
    runs: list[Run], combination: Combination, n: int,
) -> dict[str, tuple[Prediction, dict[str, Array]]]:
    """The results of the segments this model's Output asks for, over all rows."""
    out = {}
    for run in runs:
        if run.segment.id in combination.wanted_ids:
            pred = scatter([(run.rows, run.pred)], n, run.pred.dtype)
            outputs = {k: _full(v, run.rows, n, DataType.STRING if v.dtype == object else DataType.DOUBLE)
                       for k, v in run.outputs.items()}
            out[run.segment.id] = (pred, outputs)
    return out


def clear_handed_on(segments: list[Segment], frame: Frame) -> None:
    """Every field a segment hands on starts missing: a row where the segment does not run keeps it so."""
    for seg in segments:
        for name, dtype in seg.hands_on:
            frame.set(name, empty(dtype, frame.n))


def hand_on(seg: Segment, run: Run, frame: Frame, rows: Rows | None) -> None:
    """The segment's Output fields become fields of the later segments (where it ran)."""
    for name, _dtype in seg.hands_on:
        col = run.outputs[name]
        if rows is None:
            frame.set(name, col)
        else:
            whole = frame.get(name).copy()
            whole[rows] = col
            frame.set(name, whole)


def scatter(pieces: list[tuple[Rows | None, Prediction]], n: int, dtype: DataType) -> Prediction:
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
            cats.setdefault(convert_scalar(c, p.dtype, dtype), len(cats))
    singles: dict[str, Array] = {}
    display: dict[Any, str] = {}
    for rows, p in pieces:
        where = slice(None) if rows is None else rows
        value[where] = convert(p.value, p.dtype, dtype)
        display.update(p.display)
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
        n, dtype, value, tuple(cats), _by_category(pieces, n, dtype, cats, "probabilities"),
        confidences=_by_category(pieces, n, dtype, cats, "confidences"),
        confidence=singles.get("confidence"), entity_id=singles.get("entity_id"),
        affinity=singles.get("affinity"), standard_error=singles.get("standard_error"), display=display,
    )


def _by_category(pieces: list[tuple[Rows | None, Prediction]], n: int, dtype: DataType, cats: dict[Any, int],
                 member: str) -> Array | None:
    """The pieces' ``probabilities`` or ``confidences`` in the columns of this model's categories
    (None when no piece has them); a row with a missing probability is missing whole."""
    if all(getattr(p, member) is None for _, p in pieces):
        return None
    out = np.full((n, len(cats)), np.nan)
    for rows, p in pieces:
        got = getattr(p, member)
        # A category that does not convert to this model's type (NaN) has no column.
        idx = [cats.get(convert_scalar(c, p.dtype, dtype), -1) for c in p.categories]
        keep = [j for j, i in enumerate(idx) if i >= 0]
        if got is None or not keep:
            continue
        block = np.zeros((p.n, len(cats)))
        block[:, [idx[j] for j in keep]] = got[:, keep]
        if member == "probabilities":
            block[np.isnan(got).any(axis=1)] = np.nan
        out[slice(None) if rows is None else rows] = block
    return out


# -- aggregates ---------------------------------------------------------------------------------------


def missing_rows(
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


def convert_scalar(value: Any, source: DataType, target: DataType) -> Any:
    if value is None or source.is_string == target.is_string:
        return value
    if target.is_string:
        return format_number(float(value), source)
    try:
        return parse_scalar(target, str(value))
    except ValueError:
        return float("nan")


def convert(values: Array, source: DataType, target: DataType) -> Array:
    """A segment's predicted values as values of this model's target type."""
    if source.is_string == target.is_string:
        return values
    if target.is_string:
        return as_text(values, source)
    out = np.full(len(values), np.nan)
    for i, v in enumerate(values.tolist()):
        if v is not None:
            out[i] = convert_scalar(v, source, target)
    return out


def as_text(values: Array, dtype: DataType) -> Array:
    if values.dtype == object:
        return values
    out = np.empty(len(values), dtype=object)
    for i, v in enumerate(values.tolist()):
        out[i] = None if v != v else format_number(v, dtype)
    return out


def run_chain(segments: list[Segment], frame: Frame, return_missing: bool, check_outputs: bool = False,
              ) -> tuple[list[Run], list[npt.NDArray[np.bool_]], npt.NDArray[np.bool_]]:
    """Run a chain's segments in order, each on the rows its predicate holds for, handing its
    Output fields on: the runs, the rows of each, and the rows a missing prediction stopped
    (returnMissing).  ``check_outputs``: fail a record whose handed-on field is undefined."""
    clear_handed_on(segments, frame)
    dead = np.zeros(frame.n, dtype=bool)
    runs: list[Run] = []
    ran: list[npt.NDArray[np.bool_]] = []
    for seg in segments:
        holds = ~dead if seg.predicate is None else (seg.predicate(frame) == 1.0) & ~dead
        if not holds.any():
            continue
        rows = None if holds.all() else np.flatnonzero(holds)
        run = evaluate(seg, frame, rows)
        runs.append(run)
        ran.append(holds)
        hand_on(seg, run, frame, rows)
        if check_outputs and seg.plan.output is not None:
            _undefined_outputs(seg, run, frame, holds)
        if return_missing:
            # returnMissing: a missing segment prediction makes the record's results missing.
            miss = is_missing(run.pred.value)
            if miss.any():
                dead[np.flatnonzero(holds)[miss]] = True
    return runs, ran, dead


def piece(run: Run, mine: npt.NDArray[np.bool_]) -> tuple[Rows | None, Prediction]:
    """The run's prediction for the rows ``mine`` (of the whole frame) and where they are."""
    if mine.all():
        return None, run.pred
    local = mine if run.rows is None else mine[run.rows]
    return np.flatnonzero(mine), run.pred.subset_rows(local)


def _undefined_outputs(seg: Segment, run: Run, frame: Frame, holds: npt.NDArray[np.bool_]) -> None:
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
