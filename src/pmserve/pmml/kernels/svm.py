"""Support vector machines' decision values (PMML 4.4 "Support Vector Machine").

Per record: the kernel with every vector of the VectorDictionary, summed field by field in the
document's order ((x - v)^2 for the radial basis, x * v for the others), then each machine's
``coefficient * kernel`` added over its support vectors in order and ``absoluteValue`` last - the
order JPMML-Evaluator adds them in.  The fields loop outside the vectors loop, so each vector's
sum keeps its order while the machine adds many vectors at once.  :mod:`pmserve.pmml.svm` owns
the rules and hands the model here as arrays.
"""

from __future__ import annotations

import math

import numpy as np

from pmserve.pmml._types import Array
from pmserve.pmml.kernels._jit import kernel

#: Kernel codes.  The sigmoid kernel (tanh) stays with numpy, whose tanh differs from libm's in
#: the last bit.
LINEAR, POLYNOMIAL, RADIAL_BASIS = 0, 1, 2


def _samples() -> tuple[tuple[object, ...], ...]:
    x = np.array([[0.5, 1.0], [1.0, 2.0]])
    vectors_t = np.array([[0.0, 1.0, 2.0], [1.0, 0.0, 2.0]])
    starts = np.array([0, 2, 3], dtype=np.intp)
    columns = np.array([0, 1, 2], dtype=np.intp)
    coefficients, intercepts = np.array([0.5, -0.5, 1.0]), np.array([0.1, -0.1])
    return tuple((x, vectors_t, kind, 0.5, 1.0, 2.0, starts, columns, coefficients, intercepts, np.empty((2, 2)))
                 for kind in (LINEAR, RADIAL_BASIS))


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
        for k in range(intercepts.shape[0]):
            total = 0.0
            for p in range(starts[k], starts[k + 1]):
                total += values[columns[p]] * coefficients[p]
            out[i, k] = total + intercepts[k]
