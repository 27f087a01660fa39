"""Support vector machines' decision values (PMML 4.4 "Support Vector Machine").

Per record: the kernel with every vector of the VectorDictionary, summed field by field in the
document's order ((x - v)^2 for the radial basis, x * v for the others), then each machine's
``coefficient * kernel`` added over its support vectors in order and ``absoluteValue`` last - the
order JPMML-Evaluator adds them in.  The fields loop outside the vectors loop, so each vector's
sum keeps its order while the machine adds many vectors at once.  :mod:`pmserve.pmml.models.svm` owns
the rules and hands the model here as arrays.
"""

from __future__ import annotations

import math

import numpy as np

from pmserve.pmml.fields.types import Array
from pmserve.pmml.kernels._jit import kernel

#: Kernel codes.
LINEAR, POLYNOMIAL, RADIAL_BASIS, SIGMOID = 0, 1, 2, 3


def _samples() -> tuple[tuple[object, ...], ...]:
    x = np.array([[0.5, 1.0], [1.0, 2.0]])
    vectors_t = np.array([[0.0, 1.0, 2.0], [1.0, 0.0, 2.0]])
    starts = np.array([0, 2, 3], dtype=np.intp)
    columns = np.array([0, 1, 2], dtype=np.intp)
    coefficients, intercepts = np.array([0.5, -0.5, 1.0]), np.array([0.1, -0.1])
    return tuple((x, vectors_t, kind, 0.5, 1.0, 2.0, starts, columns, coefficients, intercepts, np.empty((2, 2)))
                 for kind in (LINEAR, RADIAL_BASIS, SIGMOID))


@kernel(_samples)
def decision_values(x: Array, vectors_t: Array, kind: int, gamma: float, coef0: float, degree: float,
                    starts: Array, columns: Array, coefficients: Array, intercepts: Array, out: Array) -> None:
    """Every record's value of every machine (records x machines) into ``out``.

    ``vectors_t`` is fields x vectors; machine ``k`` reads vectors ``columns[starts[k]:starts[k+1]]``
    with ``coefficients`` of the same positions.
    """
    n_fields, n_vectors = vectors_t.shape
    values = np.empty(n_vectors)
    for i in range(x.shape[0]):
        for s in range(n_vectors):
            values[s] = 0.0
        for j in range(n_fields):
            v = x[i, j]
            if kind == RADIAL_BASIS:
                for s in range(n_vectors):
                    d = vectors_t[j, s] - v
                    values[s] += d * d
            else:
                for s in range(n_vectors):
                    values[s] += vectors_t[j, s] * v
        if kind == RADIAL_BASIS:
            g = -gamma
            for s in range(n_vectors):
                values[s] = math.exp(values[s] * g)
        elif kind == POLYNOMIAL:
            for s in range(n_vectors):
                values[s] = (values[s] * gamma + coef0) ** degree
        elif kind == SIGMOID:
            for s in range(n_vectors):
                values[s] = math.tanh(values[s] * gamma + coef0)
        for k in range(intercepts.shape[0]):
            total = 0.0
            for p in range(starts[k], starts[k + 1]):
                total += values[columns[p]] * coefficients[p]
            out[i, k] = total + intercepts[k]


def _vote_samples() -> tuple[tuple[object, ...], ...]:
    values = np.array([[0.3, -0.2], [1.0, math.nan]])
    missing = np.array([False, True])
    return tuple((values, missing, np.zeros(2), np.array([0, 1], dtype=np.intp), np.array([1, 2], dtype=np.intp),
                  binary, np.empty((2, 3)), np.empty((2, 3)), np.empty(2, dtype=np.bool_))
                 for binary in (False, True))


@kernel(_vote_samples)
def one_against_one(values: Array, missing: Array, thresholds: Array, targets: Array, alternates: Array,
                    binary: bool, probabilities: Array, scores: Array, bad: Array) -> None:
    """OneAgainstOne votes (PMML 4.4 "Support Vector Machine"), record by record.

    A machine votes its target category when its value is below its threshold, else the
    alternate; with ``binary`` (alternateBinaryTargetCategory) its rounded value picks (1: target,
    0: alternate, anything else fails the record, in ``bad``).  A category's probability is its
    share of the votes; ``scores`` order the categories by votes, then by the machine that first
    voted for them (JPMML's tie-break).  Rows of failed or missing records are NaN.
    """
    n_machines = values.shape[1]
    n_cats = probabilities.shape[1]
    votes = np.empty(n_cats)
    first = np.empty(n_cats)
    for i in range(values.shape[0]):
        for c in range(n_cats):
            votes[c] = 0.0
            first[c] = math.inf
        failed = False
        for step in range(n_machines):
            v = values[i, step]
            if binary:
                r = math.floor(v + 0.5)  # Java's Math.round
                to_target = r == 1.0
                to_alternate = r == 0.0
                if not (to_target or to_alternate):
                    failed = True
            else:
                to_target = v < thresholds[step]
                to_alternate = not to_target
            if to_target:
                votes[targets[step]] += 1.0
                first[targets[step]] = min(first[targets[step]], step)
            if to_alternate:
                votes[alternates[step]] += 1.0
                first[alternates[step]] = min(first[alternates[step]], step)
        bad[i] = failed and not missing[i]
        total = 0.0
        for c in range(n_cats):
            total += votes[c]
        for c in range(n_cats):
            if missing[i] or failed:
                probabilities[i, c] = math.nan
                scores[i, c] = math.nan
            else:
                probabilities[i, c] = votes[c] / total
                scores[i, c] = votes[c] * (n_machines + 1) - (n_machines if first[c] == math.inf else first[c])
