"""Naive Bayes: the Gaussian densities of a continuous BayesInput (PMML 4.4 "Naive Bayes").

:mod:`pmserve.pmml.models.naive_bayes` owns the rules; here each record adds, per TargetValueStat in
document order, the log of the density (raised to the threshold) to its category's sum, as the
numpy path did one stat at a time over all records.
"""

from __future__ import annotations

import math

import numpy as np

from pmserve.pmml.fields.types import Array
from pmserve.pmml.kernels._jit import kernel


def _samples() -> tuple[tuple[object, ...], ...]:
    return ((np.array([0.5, math.nan]), np.array([0, 1], dtype=np.intp), np.array([0.0, 1.0]), np.array([1.0, 2.0]),
             np.array([0.9, 1.6]), 1e-3, np.zeros((2, 2))),)


@kernel(_samples)
def add_gaussian_logs(x: Array, columns: Array, means: Array, sds: Array, log_norms: Array, threshold: float,
                      acc: Array) -> None:
    """``acc[r, columns[j]] += log(max(density_j(x[r]), threshold))`` for each stat ``j`` in order.

    The density is commons-math's NormalDistribution.density, as JPMML computes it:
    ``exp(-0.5 * z * z - log_norm)`` with ``z = (x - mean) / sd`` and ``log_norm = log(sd) +
    log(2 pi) / 2``.  A missing value adds nothing.
    """
    for r in range(x.shape[0]):
        v = x[r]
        if v != v:
            continue
        for j in range(columns.shape[0]):
            z = (v - means[j]) / sds[j]
            p = math.exp(-0.5 * z * z - log_norms[j])
            if p < threshold:
                p = threshold
            acc[r, columns[j]] += math.log(p)
