"""The compile policy every kernel shares: registered once, warmed before traffic."""

import numpy as np
import pytest

from pmserve.pmml import kernels
from pmserve.pmml.kernels import _jit


def test_a_kernel_is_compiled_registered_and_warmed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_jit, "_KERNELS", {})

    @kernel_for_test
    def total(values: np.ndarray) -> float:
        acc = 0.0
        for v in values:
            acc += v
        return acc

    assert total(np.array([0.1, 0.2, 0.3])) == 0.1 + 0.2 + 0.3  # left-to-right, as Python adds
    assert kernels.registered() == (f"{__name__}.test_a_kernel_is_compiled_registered_and_warmed.<locals>.total",)
    spent = kernels.warm_up()
    assert list(spent) == list(kernels.registered())
    assert all(s >= 0 for s in spent.values())


def test_warm_up_loads_the_kernels_of_every_kernel_module() -> None:
    """Model modules load lazily; warm-up does not wait for them to register their kernels."""
    spent = kernels.warm_up()
    assert {"pmserve.pmml.kernels.distance.nearest", "pmserve.pmml.kernels.distance.distances",
            "pmserve.pmml.kernels.neural.forward", "pmserve.pmml.kernels.svm.decision_values"} <= set(spent)


def test_registering_the_same_kernel_twice_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_jit, "_KERNELS", {})

    def twice(x: float) -> float:
        return x

    kernels.kernel(lambda: ((1.0,),))(twice)
    with pytest.raises(RuntimeError, match="registered twice"):
        kernels.kernel(lambda: ((1.0,),))(twice)


def kernel_for_test(fn):  # type: ignore[no-untyped-def]
    return kernels.kernel(lambda: ((np.zeros(3),),))(fn)
