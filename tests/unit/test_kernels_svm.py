"""The compiled SVM decision values against the PMML definitions, record by record in Python."""

from __future__ import annotations

import math

import numpy as np
import pytest

from pmserve.pmml.kernels import svm as svm_kernel
from pmserve.pmml.models import svm


def machines(rng: np.random.Generator, n_vectors: int) -> list[svm._Machine]:
    every = svm._Machine(np.arange(n_vectors, dtype=np.intp), rng.normal(size=n_vectors), 0.25, "a", "b", 0.0)
    some_cols = np.array([3, 0, 5, 1], dtype=np.intp)  # a subset, out of dictionary order
    some = svm._Machine(some_cols, rng.normal(size=4), -1.5, "a", "c", 0.0)
    return [every, some]


def kernel_value(kernel: svm._Kernel, x: list[float], v: list[float]) -> float:
    """PMML 4.4 "Support Vector Machine": the kernel of one record and one vector, fields in order."""
    if kernel.kind == "RadialBasisKernelType":
        acc = 0.0
        for a, b in zip(x, v, strict=True):
            acc += (b - a) * (b - a)
        return math.exp(-kernel.gamma * acc)
    dot = 0.0
    for a, b in zip(x, v, strict=True):
        dot += b * a
    if kernel.kind == "LinearKernelType":
        return dot
    if kernel.kind == "PolynomialKernelType":
        return float((dot * kernel.gamma + kernel.coef0) ** kernel.degree)
    return math.tanh(dot * kernel.gamma + kernel.coef0)


def reference(kernel: svm._Kernel, ms: list[svm._Machine], x: np.ndarray, vectors: np.ndarray) -> np.ndarray:
    """Each machine's coefficient x kernel added over its vectors in order, the intercept last (JPMML)."""
    out = np.empty((len(x), len(ms)))
    for i, row in enumerate(x.tolist()):
        for k, m in enumerate(ms):
            total = 0.0
            for col, coef in zip(m.columns.tolist(), m.coefficients.tolist(), strict=True):
                total += kernel_value(kernel, row, vectors[col].tolist()) * coef
            out[i, k] = total + m.intercept
    return out


@pytest.mark.parametrize("kind", ["LinearKernelType", "PolynomialKernelType", "RadialBasisKernelType",
                                  "SigmoidKernelType"])
def test_decision_values_follow_the_pmml_definition(kind: str) -> None:
    """Vectors summed field by field, machines over their vectors in order, the intercept last."""
    rng = np.random.default_rng(5)
    vectors = rng.normal(size=(9, 6))
    x = rng.normal(size=(50, 6))
    kernel = svm._Kernel(kind, 0.37, 1.25, 3.0)
    ms = machines(rng, len(vectors))
    compiled = svm._compiled_kernel(kernel, ms)
    got = np.empty((len(x), len(ms)))
    svm_kernel.decision_values(x, np.ascontiguousarray(vectors.T), *compiled, got)
    # libm's exp, pow and tanh (the kernel's) and Python's agree; the tolerance is the corpus's
    # JPMML one, for the ulp a kernel's power or a decision value's cancellation may magnify.
    np.testing.assert_allclose(got, reference(kernel, ms, x, vectors), rtol=1e-13, atol=1e-15)
    one = np.empty((1, len(ms)))
    svm_kernel.decision_values(x[17:18], np.ascontiguousarray(vectors.T), *compiled, one)
    np.testing.assert_allclose(one[0], got[17], rtol=0.0, atol=0.0)
