"""The one compile policy of every kernel, and the warm-up that loads them before traffic."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar, cast

import numba

F = TypeVar("F", bound=Callable[..., Any])

#: Records per block of a kernel that runs the records of a block side by side: the block's running
#: sums and the values it reads stay in the first cache.
BLOCK = 256


@dataclass(frozen=True)
class _Kernel:
    name: str
    compiled: Any
    samples: Callable[[], tuple[tuple[Any, ...], ...]]


_KERNELS: dict[str, _Kernel] = {}


def kernel(samples: Callable[[], tuple[tuple[Any, ...], ...]]) -> Callable[[F], F]:
    """Compile ``fn`` with the engine's policy and register it for :func:`warm_up`.

    ``samples`` returns argument tuples with the exact types the engine calls the kernel with
    (one tuple per signature); warm-up calls the kernel on each, which loads the cached machine
    code (or compiles it, the first time on a machine).  Policy: no Python objects (``nopython``),
    the GIL released (batch jobs score on threads), no ``fastmath`` (it would reorder additions
    and break equality with JPMML), numpy's error model (a division by zero gives inf/NaN as in
    the numpy path, not an exception).
    """

    def decorate(fn: F) -> F:
        name = f"{fn.__module__}.{fn.__qualname__}"
        if name in _KERNELS:
            raise RuntimeError(f"kernel {name} is registered twice")
        compiled = numba.njit(cache=True, nogil=True, fastmath=False, error_model="numpy")(fn)
        _KERNELS[name] = _Kernel(name, compiled, samples)
        return cast(F, compiled)

    return decorate


def registered() -> tuple[str, ...]:
    """The names of every kernel registered (``pmserve.pmml.kernels`` imports every kernel module)."""
    return tuple(_KERNELS)


def warm_up() -> dict[str, float]:
    """Call every registered kernel on its samples; returns seconds per kernel.

    The first call of a numba function loads its machine code from the cache (or compiles it);
    doing that here, at start-up, keeps it off the first request after a restart.  (The first
    numba call of a process also initialises the code generator, about half a second.)
    """
    spent: dict[str, float] = {}
    for entry in _KERNELS.values():
        started = time.perf_counter()
        for args in entry.samples():
            entry.compiled(*args)
        spent[entry.name] = time.perf_counter() - started
    return spent
