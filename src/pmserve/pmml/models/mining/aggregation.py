"""Aggregating methods: sums, averages and medians of the segments' values, majority votes, and
the averaged, maximum and median probabilities of classifiers (as JPMML-Evaluator combines them)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt

from pmserve.pmml.compiler import Predictor
from pmserve.pmml.fields.frame import Frame
from pmserve.pmml.fields.types import Array, DataType, empty, is_missing
from pmserve.pmml.models.mining.segments import (
    Combination,
    Run,
    Segment,
    as_text,
    convert,
    convert_scalar,
    missing_rows,
    run_all,
    segment_results,
)
from pmserve.pmml.results.prediction import Prediction


def _aggregate(segments: list[Segment], combination: Combination,
               combine: Callable[[Frame, list[Run], Array], Prediction]) -> Predictor:
    """The predictor running the segments that hold for each row and ``combine``-ing their
    predictions, given the weights of the segments that ran."""
    weights = np.array([s.weight for s in segments])

    def predict_aggregate(frame: Frame) -> Prediction:
        runs = run_all(segments, frame)
        w = weights[[segments.index(r.segment) for r in runs]] if runs else np.zeros(0)
        pred = combine(frame, runs, w)
        pred.segments = segment_results(runs, combination, frame.n)
        return pred

    return predict_aggregate


def _columns(runs: list[Run], n: int, fill: Any, dtype: Any, read: Callable[[Run], Array]) -> tuple[Array, Array]:
    """One column a run of what ``read`` takes from its prediction, ``fill`` in the rows it did not
    run on; and which cells it ran on."""
    values = np.full((n, len(runs)), fill, dtype=dtype)
    active = np.zeros((n, len(runs)), dtype=bool)
    for j, run in enumerate(runs):
        where = slice(None) if run.rows is None else run.rows
        values[where, j] = read(run)
        active[where, j] = True
    return values, active


def value_aggregate(segments: list[Segment], combination: Combination, start: float = 0.0) -> Predictor:
    def combine_values(frame: Frame, runs: list[Run], w: Array) -> Prediction:
        values, active = _columns(runs, frame.n, np.nan, np.float64,
                                  lambda run: convert(run.pred.value, run.pred.dtype, DataType.DOUBLE))
        no_result, use = missing_rows(active, active & np.isnan(values), w, combination)
        result = _combine_values(values, use, w, combination.method, combination.single_precision, start)
        result[no_result] = np.nan
        return Prediction(frame.n, combination.dtype, result)

    return _aggregate(segments, combination, combine_values)


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
        if method in ("average", "weightedAverage"):
            # The count of the segments used, or the sum of their weights.
            divisor = use.sum(axis=1) if method == "average" else (use * w).sum(axis=1)
            with np.errstate(invalid="ignore", divide="ignore"):
                total = (acc / divisor.astype(dtype)).astype(np.float64) if single else total / divisor
            total[divisor == 0] = np.nan
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


def _no_vote(active: Array, missing: Array, w: Array, votes: Array, combination: Combination) -> Array:
    """The rows without a winner by the missing-prediction treatment: no segment ran, or too many
    (returnMissing: any; else above the missingThreshold, or, with continue, more than the best)."""
    no_result: Array = np.asarray(~active.any(axis=1))
    if combination.treatment == "returnMissing":
        return np.asarray(no_result | missing.any(axis=1))
    total = (active * w).sum(axis=1)
    lost = (missing * w).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        no_result |= lost / total > combination.threshold
    if combination.treatment == "continue":
        # The missing pseudo-category wins only with strictly the most votes.
        best = votes.max(axis=1) if votes.shape[1] else np.zeros(len(votes))
        no_result |= (lost > best) & (best > 0)
    return no_result


def vote(segments: list[Segment], combination: Combination) -> Predictor:
    weighted = combination.method == "weightedMajorityVote"
    dtype = combination.dtype

    def combine_votes(frame: Frame, runs: list[Run], weights: Array) -> Prediction:
        n, k = frame.n, len(runs)
        # Category -> column: the compile-time categories first, then others as segments predict them.
        index = {c: j for j, c in enumerate(combination.categories)}
        voted, active = _columns(runs, n, -1, np.intp,
                                 lambda run: _codes(convert(run.pred.value, run.pred.dtype, dtype), index))
        w = weights if weighted else np.ones(k)
        missing = active & (voted < 0)
        c = len(index)
        votes = np.zeros((n, c))
        first = np.full((n, c), k)
        rows = np.arange(n)
        for j in range(k):
            ok = active[:, j] & ~missing[:, j]
            rr, kk = rows[ok], voted[ok, j]
            votes[rr, kk] += w[j]
            first[rr, kk] = np.minimum(first[rr, kk], j)
        no_result = _no_vote(active, missing, w, votes, combination)
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
        categories = tuple(index)
        # A tie goes to the category that got its first vote from the earliest segment (JPMML's order).
        top = votes == votes.max(axis=1, keepdims=True) if c else np.zeros((n, 0), dtype=bool)
        winner = np.argmin(np.where(top, first, k + 1), axis=1) if c else np.zeros(n, dtype=np.intp)
        value = _pick(categories, winner, ~no_result, dtype, n)
        if combination.function_name == "clustering":
            return Prediction(n, dtype, value, entity_id=as_text(value, dtype))
        return Prediction(n, dtype, value, categories, probs)

    return _aggregate(segments, combination, combine_votes)


def probability_aggregate(segments: list[Segment], combination: Combination) -> Predictor:
    method = combination.method
    dtype = combination.dtype

    def combine_probabilities(frame: Frame, runs: list[Run], w: Array) -> Prediction:
        n, k = frame.n, len(runs)
        # Category -> column: the compile-time categories first, then others as segments predict them.
        index = {c: j for j, c in enumerate(combination.categories)}
        blocks: list[tuple[Array, list[int]]] = []
        for run in runs:
            cols = [_column(index, convert_scalar(cat, run.pred.dtype, dtype)) for cat in run.pred.categories]
            blocks.append((run.pred.probabilities if run.pred.probabilities is not None
                           else np.full((run.pred.n, 0), np.nan), cols))
        c = len(index)
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
        no_result, use = missing_rows(active, missing, w, combination)
        categories = tuple(index)
        order = [index[x] for x in combination.winner_order if x in index]
        order += [j for j in range(c) if j not in order]
        result = _combine_probabilities(probs, use, w, method, order)
        result[no_result] = np.nan
        result[~use.any(axis=1)] = np.nan
        ok = np.asarray(~np.isnan(result).any(axis=1)) if c else np.zeros(n, dtype=bool)
        # Ties go to the first category in the target's order (JPMML; e.g. 0.5/0.5 in a forest).
        ranked = np.where(np.isnan(result[:, order]), -np.inf, result[:, order])
        winner = np.asarray(order, dtype=np.intp)[np.argmax(ranked, axis=1)] if c else np.zeros(n, dtype=np.intp)
        return Prediction(n, dtype, _pick(categories, winner, ok, dtype, n), categories, result)

    return _aggregate(segments, combination, combine_probabilities)


def _combine_probabilities(
    probs: Array, use: npt.NDArray[np.bool_], w: Array, method: str, order: list[int],
) -> Array:
    n, _, c = probs.shape
    if method in ("average", "weightedAverage"):
        return _weighted_mean(probs, use * (w[None, :] if method == "weightedAverage" else 1.0))
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
    return _weighted_mean(probs, contributors)


def _weighted_mean(probs: Array, weights: Array) -> Array:
    """Rows x categories: the segments' probabilities (rows x segments x categories) averaged with
    ``weights`` (rows x segments), added segment by segment as JPMML adds them."""
    acc = np.zeros((probs.shape[0], probs.shape[2]))
    for j in range(probs.shape[1]):
        acc += probs[:, j, :] * weights[:, j:j + 1]
    with np.errstate(invalid="ignore", divide="ignore"):
        out: Array = acc / weights.sum(axis=1, keepdims=True)
    return out


# -- values and categories -------------------------------------------------------------------------


def _column(index: dict[Any, int], category: Any) -> int:
    """The category's column, a new one at the end for a category not met before."""
    return index.setdefault(category, len(index))


def _codes(values: Array, index: dict[Any, int]) -> npt.NDArray[np.intp]:
    """Column of each value in the category index (-1 for a missing value)."""
    out = np.full(len(values), -1, dtype=np.intp)
    if values.dtype == object:
        for i, v in enumerate(values.tolist()):
            if v is not None:
                out[i] = _column(index, v)
        return out
    ok = ~np.isnan(values)
    if ok.any():
        uniq, inverse = np.unique(values[ok], return_inverse=True)
        cols = np.array([_column(index, float(u)) for u in uniq.tolist()], dtype=np.intp)
        out[ok] = cols[inverse]
    return out


def _pick(categories: tuple[Any, ...], winner: Array, ok: npt.NDArray[np.bool_], dtype: DataType, n: int) -> Array:
    value = empty(dtype, n)
    if categories and ok.any():
        value[ok] = np.array(categories, dtype=object if dtype.is_string else np.float64)[winner[ok]]
    return value
