"""Distances between records and fixed references (cluster centers, training instances).

PMML 4.4 "ComparisonMeasure" for the distance measures: per record and reference, each field's
compare function (absDiff, gaussSim, delta, equal), raised to the inner power and weighted, is
added field after field in document order (chebychev keeps the maximum); a missing value is left
out and the sum scaled by all weights / present weights; then the outer power.  The loops run
field by field over a row of references, so each (record, reference) sum keeps that order while
the machine adds many references at once.  The rules (which functions, powers, weights) are
:mod:`pmserve.pmml.models.clustering`'s; it hands them here as arrays.
"""

from __future__ import annotations

import math

import numpy as np

from pmserve.pmml.fields.types import Array
from pmserve.pmml.kernels._jit import BLOCK, kernel

#: Compare function codes (the order of clustering.COMPARE_FUNCTIONS' numeric ones).
ABS_DIFF, GAUSS_SIM, DELTA, EQUAL = 0, 1, 2, 3

_LOG2 = math.log(2.0)
#: References few enough to compare block by block of records (see :func:`distances`).
_FEW = 32


def _samples() -> tuple[tuple[object, ...], ...]:
    x_t = np.array([[0.5, 1.0], [math.nan, 2.0]])
    refs_t = np.array([[0.0, 1.0, 2.0], [1.0, 0.0, 2.0]])
    functions = np.array([ABS_DIFF, GAUSS_SIM], dtype=np.int64)
    weights, scales2, missing_weights = np.ones(2), np.ones(2), np.ones(2)
    return ((x_t, 0, refs_t, functions, weights, scales2, 2.0, 2.0, False, missing_weights, 2.0, np.empty(3)),)


@kernel(_samples)
def _sums(x_t: Array, i: int, refs_t: Array, functions: Array, weights: Array, scales2: Array, inner: float,
          outer: float, chebychev: bool, missing_weights: Array, total: float, out: Array) -> float:
    """Record ``i``'s sums over the fields (maxima for chebychev) with every reference into ``out``,
    before the missing-value adjustment and the outer power; returns the present fields' weight.

    ``x_t`` is fields x records and ``refs_t`` fields x references.  A missing reference value
    gives NaN (absDiff, gaussSim) or counts as different (delta, equal), as the numpy path does.
    """
    m = refs_t.shape[1]
    for r in range(m):
        out[r] = 0.0
    present = 0.0
    for j in range(refs_t.shape[0]):
        v = x_t[j, i]
        if v != v:
            continue  # left out: the adjustment below makes up for it
        if missing_weights[j] != 0.0:
            present += missing_weights[j]
        f = functions[j]
        w = weights[j]
        ref = refs_t[j]
        if f == ABS_DIFF and not chebychev and w == 1.0 and (inner == 2.0 or inner == 1.0):
            # The common measures, in loops simple enough for the machine to run several at once.
            if inner == 2.0:
                for r in range(m):
                    d = v - ref[r]
                    out[r] += d * d
            else:
                for r in range(m):
                    out[r] += abs(v - ref[r])
            continue
        for r in range(m):
            if f == ABS_DIFF:
                d = v - refs_t[j, r]
                if inner != 2.0:  # a square needs no absolute value: the same bits
                    d = abs(d)
            elif f == GAUSS_SIM:
                e = v - refs_t[j, r]
                d = math.exp(-_LOG2 * (e * e) / scales2[j])
            elif f == DELTA:
                d = 1.0 if v != refs_t[j, r] else 0.0
            else:
                d = 1.0 if v == refs_t[j, r] else 0.0
            if inner == 2.0:
                d = d * d
            elif inner != 1.0:
                d = d ** inner
            if w != 1.0:
                d = d * w
            if chebychev:
                a = out[r]
                if a == a and (d != d or d > a):
                    out[r] = d
            else:
                out[r] += d
    return present


@kernel(lambda: ((4.0, 1.5, 2.0),))
def _finish(total: float, adjustment: float, outer: float) -> float:
    """A distance from its sum: the missing-value adjustment, then the outer power."""
    a = total * adjustment
    if outer == 2.0:
        return math.sqrt(a)
    if outer != 1.0:
        powered: float = a ** (1.0 / outer)
        return powered
    return a


def _matrix_samples() -> tuple[tuple[object, ...], ...]:
    (x_t, _, refs_t, functions, weights, scales2, inner, outer, cheb, mw, total, _) = _samples()[0]
    return ((x_t, refs_t, functions, weights, scales2, inner, outer, cheb, mw, total,
             np.empty((2, 3)), np.empty(2, dtype=np.bool_)),)


@kernel(_matrix_samples)
def distances(x_t: Array, refs_t: Array, functions: Array, weights: Array, scales2: Array, inner: float,
              outer: float, chebychev: bool, missing_weights: Array, total: float, out: Array,
              undefined: Array) -> None:
    """Every record's distance to every reference (records x references) into ``out``.

    ``undefined`` marks the records with every field missing (their row is NaN).
    """
    m = refs_t.shape[1]
    plain = not chebychev and (inner == 2.0 or inner == 1.0)
    for j in range(functions.shape[0]):
        plain = plain and functions[j] == ABS_DIFF and weights[j] == 1.0
    if not plain or m > _FEW:
        for i in range(x_t.shape[1]):
            weight = _sums(x_t, i, refs_t, functions, weights, scales2, inner, outer, chebychev, missing_weights,
                           total, out[i])
            undefined[i] = weight == 0.0
            # PMML 4.4 "Missing values in ClusteringFields": scale by all weights / present weights.
            adjustment = total / weight if weight != 0.0 else math.nan
            for r in range(m):
                out[i, r] = math.nan if weight == 0.0 else _finish(out[i, r], adjustment, outer)
        return
    # A few references (cluster centers): blocks of records, the records innermost, so that the
    # machine works on several records at once; each sum still runs field by field.  A missing
    # value adds 0.0 to the running sums, which leaves them as skipping it would.
    n = x_t.shape[1]
    acc = np.empty(BLOCK)
    present = np.empty(BLOCK)
    for lo in range(0, n, BLOCK):
        hi = min(n, lo + BLOCK)
        k = hi - lo
        present[:k] = 0.0
        for j in range(x_t.shape[0]):
            w = missing_weights[j]
            xj = x_t[j, lo:hi]
            for q in range(k):
                present[q] += w if xj[q] == xj[q] else 0.0
        for r in range(m):
            acc[:k] = 0.0
            for j in range(x_t.shape[0]):
                c = refs_t[j, r]
                xj = x_t[j, lo:hi]
                if inner == 2.0:
                    for q in range(k):
                        d = xj[q] - c
                        acc[q] += d * d if xj[q] == xj[q] else 0.0
                else:
                    for q in range(k):
                        acc[q] += abs(xj[q] - c) if xj[q] == xj[q] else 0.0
            for q in range(k):
                if present[q] == 0.0:
                    out[lo + q, r] = math.nan
                    continue
                a = acc[q] * (total / present[q])
                if outer == 2.0:
                    a = math.sqrt(a)
                out[lo + q, r] = a
        for q in range(k):
            undefined[lo + q] = present[q] == 0.0


def _nearest_samples() -> tuple[tuple[object, ...], ...]:
    (x_t, _, refs_t, functions, weights, scales2, inner, outer, cheb, mw, total, _) = _samples()[0]
    return ((x_t, refs_t, functions, weights, scales2, inner, outer, cheb, mw, total,
             np.empty((2, 2), dtype=np.intp), np.empty((2, 2)), np.empty(2, dtype=np.bool_)),)


@kernel(_nearest_samples)
def nearest(x_t: Array, refs_t: Array, functions: Array, weights: Array, scales2: Array, inner: float,
            outer: float, chebychev: bool, missing_weights: Array, total: float, ranked: Array,
            ranked_distances: Array, undefined: Array) -> None:
    """Per record, the ``ranked.shape[1]`` nearest references and their distances, nearest first.

    Equal distances keep document order and NaN ranks last, as a stable sort of the row would
    give them; only the current best are kept, so no records x references matrix is made.
    """
    m = refs_t.shape[1]
    depth = ranked.shape[1]
    row = np.empty(m)
    sums = np.empty(depth)
    for i in range(x_t.shape[1]):
        present = _sums(x_t, i, refs_t, functions, weights, scales2, inner, outer, chebychev, missing_weights,
                        total, row)
        undefined[i] = present == 0.0
        adjustment = total / present if present != 0.0 else math.nan
        # The finished distance grows with the sum when the adjustment is positive: a sum above
        # the k-th kept one cannot displace it (a later reference loses a tie), so it is skipped
        # without finishing it.
        monotone = adjustment > 0.0 and adjustment != math.inf
        kept = 0
        for r in range(m):
            s = row[r]
            if (monotone and kept == depth and ranked_distances[i, depth - 1] == ranked_distances[i, depth - 1]
                    and not s <= sums[depth - 1]):
                continue
            d = math.nan if present == 0.0 else _finish(s, adjustment, outer)
            # Insert after every kept distance that is not greater (ties: earlier reference first).
            pos = kept
            while pos > 0:
                prev = ranked_distances[i, pos - 1]
                if d == d and (prev != prev or d < prev):
                    pos -= 1
                else:
                    break
            if pos >= depth:
                continue
            last = kept if kept < depth else depth - 1
            for q in range(last, pos, -1):
                ranked[i, q] = ranked[i, q - 1]
                ranked_distances[i, q] = ranked_distances[i, q - 1]
                sums[q] = sums[q - 1]
            ranked[i, pos] = r
            ranked_distances[i, pos] = d
            sums[pos] = s
            if kept < depth:
                kept += 1
