"""The compiled majority vote of k-NN against the numpy path it replaced."""

from __future__ import annotations

import numpy as np
import pytest

from pmserve.pmml.kernels import vote


def numpy_vote(nearest: np.ndarray, weights: np.ndarray | None, codes: np.ndarray,
               priority: np.ndarray) -> np.ndarray:
    """The former numpy path: votes per category, ties to the lowest priority; -1 for no winner."""
    n, k = nearest.shape
    c = len(priority)
    votes = np.zeros((n, c + 1))
    rows = np.arange(n)
    picked = codes[nearest]
    lacking = (picked < 0).any(axis=1)
    for i in range(k):
        col = np.where(picked[:, i] < 0, c, picked[:, i])
        votes[rows, col] += 1.0 if weights is None else weights[:, i]
    votes = votes[:, :c]
    best = votes.max(axis=1, initial=-np.inf)
    rank = np.where(votes == best[:, None], priority[None, :], c)
    winner = rank.argmin(axis=1)
    return np.where(~lacking & ~np.isnan(best), winner, -1)


@pytest.mark.parametrize("weighted", [False, True])
def test_majority_vote_equals_the_numpy_path(weighted: bool) -> None:
    """Ties, neighbours without a target value and NaN weights included."""
    rng = np.random.default_rng(4)
    codes = rng.integers(0, 3, size=40).astype(np.intp)
    codes[[5, 17]] = -1
    priority = np.array([2, 0, 1], dtype=np.intp)
    nearest = np.array([rng.permutation(40)[:4] for _ in range(500)], dtype=np.intp)
    weights = rng.choice([0.5, 1.0, 2.0], size=nearest.shape) if weighted else None
    if weights is not None:
        weights[9] = np.nan
    winners = np.empty(500, dtype=np.intp)
    vote.majority(nearest, weights if weights is not None else np.zeros(nearest.shape), weighted, codes, priority,
                  winners)
    want = numpy_vote(nearest, weights, codes, priority)
    assert winners.tolist() == want.tolist()
    assert (want == -1).any()  # the cases the test is for happened
    assert len(set(want.tolist())) == 4
