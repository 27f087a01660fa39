"""The majority vote of a record's nearest neighbours (PMML 4.4 "KNN", categorical targets).

:mod:`pmserve.pmml.models.nearest_neighbor` owns the rules and hands the neighbours' category codes and
the categories' tie-break priorities here.
"""

from __future__ import annotations

import math

import numpy as np

from pmserve.pmml.fields.types import Array
from pmserve.pmml.kernels._jit import kernel


def _samples() -> tuple[tuple[object, ...], ...]:
    nearest = np.array([[0, 1, 2], [2, 1, 0]], dtype=np.intp)
    weights = np.array([[1.0, 0.5, 0.25], [2.0, 1.0, 0.5]])
    codes = np.array([0, 1, -1], dtype=np.intp)
    return tuple((nearest, weights, weighted, codes, np.array([1, 0], dtype=np.intp), np.empty(2, dtype=np.intp))
                 for weighted in (False, True))


@kernel(_samples)
def majority(nearest: Array, weights: Array, weighted: bool, codes: Array, priority: Array, winners: Array) -> None:
    """Per record, the category with the most votes of its neighbours, or -1.

    A neighbour votes 1 (or its weight) for its category (``codes``, -1: it has no target value,
    and the record gets no prediction); votes are added in rank order.  Among equal votes the
    category of lowest ``priority`` wins.  A NaN vote (an undefined distance) leaves -1.
    """
    n_cats = priority.shape[0]
    votes = np.empty(n_cats)
    for i in range(nearest.shape[0]):
        for c in range(n_cats):
            votes[c] = 0.0
        lacking = False
        for q in range(nearest.shape[1]):
            code = codes[nearest[i, q]]
            if code < 0:
                lacking = True
            else:
                votes[code] += weights[i, q] if weighted else 1.0
        best = -math.inf
        for c in range(n_cats):
            if votes[c] != votes[c] or best != best:
                best = math.nan
            elif votes[c] > best:
                best = votes[c]
        winner = -1
        if not lacking and best == best:
            for c in range(n_cats):
                if votes[c] == best and (winner < 0 or priority[c] < priority[winner]):
                    winner = c
        winners[i] = winner
