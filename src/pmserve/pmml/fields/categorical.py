"""Fast operations on string columns: factorise once in C, then work on integer codes.

Comparing an object array with a value element by element costs a Python call per row; turning
the column into codes once (one dict walk) makes every later comparison, membership test or
lookup a vectorised integer operation.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import numpy.typing as npt

from pmserve.pmml.fields.types import Array

_CACHE_SIZE = 64
_local = threading.local()


def factorize(values: Array) -> tuple[npt.NDArray[np.intp], list[Any]]:
    """Codes of an object column into its distinct values; -1 marks a missing value.

    A column is usually read by several predicates or predictors of one batch, so the last few
    factorisations are kept per thread (holding the column itself, so an id is never reused).
    """
    cache: OrderedDict[int, tuple[Array, npt.NDArray[np.intp], list[Any]]] | None = getattr(_local, "cache", None)
    if cache is None:
        cache = _local.cache = OrderedDict()
    hit = cache.get(id(values))
    if hit is not None and hit[0] is values:
        return hit[1], hit[2]
    index: dict[Any, int] = {None: -1}
    setdefault = index.setdefault
    # A dict walk beats numpy's sort-based unique on strings by a wide margin.
    codes = np.fromiter([setdefault(v, len(index) - 1) for v in values.tolist()], dtype=np.intp,
                        count=len(values))
    labels = [k for k in index if k is not None]
    cache[id(values)] = (values, codes, labels)
    if len(cache) > _CACHE_SIZE:
        cache.popitem(last=False)
    return codes, labels


def lookup(values: Array, table: Mapping[Any, float], default: float = 0.0) -> Array:
    """``table.get(v, default)`` for every value of a column; missing values get ``default``."""
    if values.dtype != object:
        out = np.full(len(values), default)
        for k, v in table.items():
            if isinstance(k, float):
                out[values == k] = v
        return out
    codes, labels = factorize(values)
    per_code = np.array([table.get(lab, default) for lab in labels] + [default], dtype=np.float64)
    picked: Array = per_code[codes]  # code -1 picks the trailing default
    return picked


def isin(values: Array, members: Iterable[Any]) -> npt.NDArray[np.bool_]:
    """Vectorised membership for a string column (missing is never a member)."""
    wanted = set(members)
    codes, labels = factorize(values)
    hit = np.array([lab in wanted for lab in labels] + [False], dtype=bool)
    out: npt.NDArray[np.bool_] = hit[codes]
    return out


def equals(values: Array, value: Any) -> npt.NDArray[np.bool_]:
    out: npt.NDArray[np.bool_] = np.asarray(values == value, dtype=bool)
    return out
