"""The compiled SVM decision values against the kernels computed with numpy."""

from __future__ import annotations

import numpy as np
import pytest

from pmserve.pmml.kernels import svm as svm_kernel
from pmserve.pmml.models import svm


def machines(rng: np.random.Generator, n_vectors: int) -> list[svm._Machine]:
    every = svm._Machine(np.arange(n_vectors, dtype=np.intp), rng.normal(size=n_vectors), 0.25, "a", "b", 0.0)
    some_cols = np.array([3, 0, 5, 1], dtype=np.intp)  # a subset, out of dictionary order
    some = svm._Machine(some_cols, rng.normal(size=4), -1.5, "a", "c", 0.0)
    return [every, some]


def numpy_values(kernel: svm._Kernel, ms: list[svm._Machine], x: np.ndarray, vectors: np.ndarray) -> np.ndarray:
    """The PMML kernel computed with numpy (vectors x rows), then each machine's numpy sum."""
    if kernel.kind == "RadialBasisKernelType":
        d = vectors[:, None, :] - x[None, :, :]
        k = np.exp(-kernel.gamma * (d * d).sum(axis=2))
    else:
        dot = vectors @ x.T
        k = dot if kernel.kind == "LinearKernelType" else np.power(dot * kernel.gamma + kernel.coef0, kernel.degree)
    return np.column_stack([m.value(k) for m in ms])


@pytest.mark.parametrize("kind", ["LinearKernelType", "PolynomialKernelType", "RadialBasisKernelType"])
def test_decision_values_equal_the_numpy_path(kind: str) -> None:
    """Vectors summed field by field, machines over their vectors in order, the intercept last."""
    rng = np.random.default_rng(5)
    vectors = rng.normal(size=(9, 6))
    x = rng.normal(size=(50, 6))
    kernel = svm._Kernel(kind, 0.37, 1.25, 3.0)
    ms = machines(rng, len(vectors))
    compiled = svm._compiled_kernel(kernel, ms)
    assert compiled is not None
    got = np.empty((len(x), len(ms)))
    svm_kernel.decision_values(x, np.ascontiguousarray(vectors.T), *compiled, got)
    # libm's exp and pow (the kernel's) and numpy's SIMD ones (AVX-512 CPUs) may differ by an ulp, which
    # a kernel's power or a decision value's cancellation magnifies: equal at the corpus's JPMML tolerance.
    np.testing.assert_allclose(got, numpy_values(kernel, ms, x, vectors), rtol=1e-13, atol=1e-15)
    one = np.empty((1, len(ms)))
    svm_kernel.decision_values(x[17:18], np.ascontiguousarray(vectors.T), *compiled, one)
    np.testing.assert_allclose(one[0], got[17], rtol=0.0, atol=0.0)


def test_the_sigmoid_kernel_stays_with_numpy() -> None:
    """numpy's tanh and libm's differ in the last bit: the sigmoid kernel is not compiled."""
    assert svm._compiled_kernel(svm._Kernel("SigmoidKernelType", 0.5, 1.0, 1.0), []) is None
