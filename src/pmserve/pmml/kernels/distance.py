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
    out[:] = 0.0
    present = 0.0
    fields = np.empty(refs_t.shape[0], dtype=np.int64)
    n_fields = 0
    for j in range(refs_t.shape[0]):
        if x_t[j, i] == x_t[j, i]:  # a missing value is left out: the adjustment makes up for it
            fields[n_fields] = j
            n_fields += 1
            if missing_weights[j] != 0.0:
                present += missing_weights[j]
    squares = inner == 2.0 and not chebychev
    for j in range(functions.shape[0]):
        squares = squares and functions[j] == ABS_DIFF and weights[j] == 1.0
    if squares:
        _add_squares(x_t, i, refs_t, fields[:n_fields], out)
        return present
    for j in fields[:n_fields]:
        _add_field(x_t[j, i], refs_t[j], functions[j], weights[j], scales2[j], inner, chebychev, out)
    return present


@kernel(lambda: ())
def _add_squares(x_t: Array, i: int, refs_t: Array, fields: Array, out: Array) -> None:
    """The squared differences of record ``i`` and the references in ``fields`` added to the sums
    ``out`` four fields a pass, in field order: ``(((s + t1) + t2) + t3) + t4`` is the same sum as
    adding them one by one, with a quarter of the passes over the sums."""
    g = 0
    while g + 4 <= len(fields):
        j0, j1, j2, j3 = fields[g], fields[g + 1], fields[g + 2], fields[g + 3]
        v0, v1, v2, v3 = x_t[j0, i], x_t[j1, i], x_t[j2, i], x_t[j3, i]
        r0, r1, r2, r3 = refs_t[j0], refs_t[j1], refs_t[j2], refs_t[j3]
        for r in range(out.shape[0]):
            d0, d1, d2, d3 = v0 - r0[r], v1 - r1[r], v2 - r2[r], v3 - r3[r]
            out[r] = (((out[r] + d0 * d0) + d1 * d1) + d2 * d2) + d3 * d3
        g += 4
    for j in fields[g:]:
        v = x_t[j, i]
        for r in range(out.shape[0]):
            d = v - refs_t[j, r]
            out[r] += d * d


@kernel(lambda: ())
def _add_field(v: float, ref: Array, f: int, w: float, scale2: float, inner: float, chebychev: bool,
               out: Array) -> None:
    """One field's terms (compare function ``f`` of value ``v`` and each reference's ``ref[r]``,
    raised to the inner power, weighted) added to the sums ``out``, or their maxima (chebychev)."""
    if f == ABS_DIFF and inner == 1.0 and w == 1.0 and not chebychev:  # cityBlock, in a simple loop
        for r in range(ref.shape[0]):
            out[r] += abs(v - ref[r])
        return
    for r in range(ref.shape[0]):
        if f == ABS_DIFF:
            d = v - ref[r]
            if inner != 2.0:  # a square needs no absolute value: the same bits
                d = abs(d)
        elif f == GAUSS_SIM:
            e = v - ref[r]
            d = math.exp(-_LOG2 * (e * e) / scale2)
        elif f == DELTA:
            d = 1.0 if v != ref[r] else 0.0
        else:
            d = 1.0 if v == ref[r] else 0.0
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
    n, m = x_t.shape[1], refs_t.shape[1]
    common = not chebychev and (inner == 2.0 or inner == 1.0)
    for j in range(functions.shape[0]):
        common = common and functions[j] == ABS_DIFF and weights[j] == 1.0
    if common and m <= _FEW:
        for lo in range(0, n, BLOCK):
            _few_distances(x_t, lo, min(n, lo + BLOCK), refs_t, inner, outer, missing_weights, total, out, undefined)
        return
    for i in range(n):
        weight = _sums(x_t, i, refs_t, functions, weights, scales2, inner, outer, chebychev, missing_weights,
                       total, out[i])
        undefined[i] = weight == 0.0
        # PMML 4.4 "Missing values in ClusteringFields": scale by all weights / present weights.
        adjustment = total / weight if weight != 0.0 else math.nan
        for r in range(m):
            out[i, r] = math.nan if weight == 0.0 else _finish(out[i, r], adjustment, outer)


@kernel(lambda: ())
def _few_distances(x_t: Array, lo: int, hi: int, refs_t: Array, inner: float, outer: float, missing_weights: Array,
                   total: float, out: Array, undefined: Array) -> None:
    """:func:`distances` of records ``lo:hi`` to a few references (cluster centers) by a common
    measure (euclidean, cityBlock, unweighted): the records innermost, so that the machine works
    on several records at once; each sum still runs field by field.  A missing value adds 0.0 to
    the running sums, which leaves them as skipping it would."""
    k = hi - lo
    present = np.zeros(k)
    acc = np.empty(k)
    for j in range(x_t.shape[0]):
        xj = x_t[j, lo:hi]
        for q in range(k):
            present[q] += missing_weights[j] if xj[q] == xj[q] else 0.0
    for r in range(refs_t.shape[1]):
        acc[:] = 0.0
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
            a = acc[q] * (total / present[q])
            out[lo + q, r] = math.nan if present[q] == 0.0 else (math.sqrt(a) if outer == 2.0 else a)
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
    row = np.empty(refs_t.shape[1])
    kept_sums = np.empty(ranked.shape[1])
    for i in range(x_t.shape[1]):
        present = _sums(x_t, i, refs_t, functions, weights, scales2, inner, outer, chebychev, missing_weights,
                        total, row)
        undefined[i] = present == 0.0
        _rank(row, present, total, outer, ranked[i], ranked_distances[i], kept_sums)


@kernel(lambda: ())
def _rank(row: Array, present: float, total: float, outer: float, ranked: Array, ranked_distances: Array,
          kept_sums: Array) -> None:
    """A record's nearest references (``ranked``, ``ranked_distances``) from its sums with every
    reference (``row``), taken in order; ``kept_sums`` holds the sums of the ones kept."""
    depth = ranked.shape[0]
    adjustment = total / present if present != 0.0 else math.nan
    # The finished distance grows with the sum when the adjustment is positive: once ``depth``
    # distances (none NaN) are kept, a sum above the last kept one cannot displace it (a later
    # reference loses a tie), so it is passed over without finishing it.
    monotone = adjustment > 0.0 and adjustment != math.inf
    bound = math.inf
    kept = 0
    for r in range(row.shape[0]):
        s = row[r]
        if not s <= bound and bound != math.inf:
            continue
        d = math.nan if present == 0.0 else _finish(s, adjustment, outer)
        # Insert after every kept distance that is not greater (ties: earlier reference first).
        pos = kept
        while pos > 0 and d == d and (ranked_distances[pos - 1] != ranked_distances[pos - 1]
                                      or d < ranked_distances[pos - 1]):
            pos -= 1
        if pos >= depth:
            continue
        for q in range(min(kept, depth - 1), pos, -1):
            ranked[q] = ranked[q - 1]
            ranked_distances[q] = ranked_distances[q - 1]
            kept_sums[q] = kept_sums[q - 1]
        ranked[pos] = r
        ranked_distances[pos] = d
        kept_sums[pos] = s
        kept = min(kept + 1, depth)
        if monotone and kept == depth and ranked_distances[depth - 1] == ranked_distances[depth - 1]:
            bound = kept_sums[depth - 1]
