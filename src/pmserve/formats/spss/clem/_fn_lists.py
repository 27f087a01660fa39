"""CLEM's comparison and list functions (CLEM reference: "Comparison functions", list functions)."""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from pmserve.formats.spss.clem._signatures import NUM_LISTS, FunctionTable, Impl, list_typer
from pmserve.formats.spss.clem._values import BOOLEAN, INTEGER, REAL, STRING, Env, from_bool, is_null

FUNCTIONS = FunctionTable()


# -- comparisons and lists ------------------------------------------------------------------------


def _stack(items: Sequence[np.ndarray]) -> np.ndarray:
    return np.vstack([np.asarray(i, dtype=float) for i in items]) if items else np.empty((0, 0))


def _nan_reduce(fn: Callable[..., Any], min_count: int = 1) -> Impl:
    """Over a list of numbers, ignoring $null$; $null$ when fewer than ``min_count`` are present."""

    def impl(args: Sequence[Any], kinds: Sequence[str], env: Env) -> np.ndarray:
        block = _stack(args[-1])
        present = (~np.isnan(block)).sum(axis=0)
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-$null$ columns: made $null$ below
            out = fn(block, axis=0) if block.size else np.full(env.n, np.nan)
        out = np.asarray(out, dtype=float)
        out[present < min_count] = np.nan
        return out

    return impl


FUNCTIONS.register("sum_n", 1, 1, list_typer(None, NUM_LISTS))(_nan_reduce(np.nansum))
FUNCTIONS.register("mean_n", 1, 1, list_typer(REAL, NUM_LISTS))(_nan_reduce(np.nanmean))
# sdev_n: the sample standard deviation (n - 1), of at least two present values [pmserve]
FUNCTIONS.register("sdev_n", 1, 1, list_typer(REAL, NUM_LISTS))(
    _nan_reduce(lambda b, axis: np.nanstd(b, axis=axis, ddof=1), 2))
FUNCTIONS.register("max_n", 1, 1, list_typer(None, NUM_LISTS))(_nan_reduce(np.nanmax))
FUNCTIONS.register("min_n", 1, 1, list_typer(None, NUM_LISTS))(_nan_reduce(np.nanmin))


@FUNCTIONS.register("count_nulls", 1, 1, list_typer(INTEGER))
def _count_nulls(args: Sequence[Any], kinds: Sequence[str], env: Env) -> np.ndarray:
    items, item_kind = args[-1], kinds[-1].split(":")[1]
    total = np.zeros(env.n)
    for col in items:
        total += is_null(STRING if col.dtype == object else item_kind, col)
    return total


@FUNCTIONS.register("count_non_nulls", 1, 1, list_typer(INTEGER))
def _count_non_nulls(args: Sequence[Any], kinds: Sequence[str], env: Env) -> np.ndarray:
    return float(len(args[-1])) - _count_nulls(args, kinds, env)


def _compare_items(test: Callable[[Any, Any], bool]) -> Impl:
    """count_equal(ITEM, LIST) and friends: how many list values stand in ``test`` to ITEM."""

    def impl(args: Sequence[Any], kinds: Sequence[str], env: Env) -> np.ndarray:
        item, items = args[0], args[1]
        rows = list(zip(item.tolist(), *[c.tolist() for c in items], strict=True))
        return np.array([
            np.nan if _missing(r[0]) else float(sum(1 for v in r[1:] if not _missing(v) and test(v, r[0])))
            for r in rows
        ])

    return impl


def _missing(v: Any) -> bool:
    return v is None or (isinstance(v, float) and not math.isfinite(v))


_ITEM_AND_LIST = list_typer(INTEGER)
FUNCTIONS.register("count_equal", 2, 2, _ITEM_AND_LIST)(_compare_items(lambda v, x: v == x))
FUNCTIONS.register("count_not_equal", 2, 2, _ITEM_AND_LIST)(_compare_items(lambda v, x: v != x))
FUNCTIONS.register("count_greater_than", 2, 2, _ITEM_AND_LIST)(_compare_items(lambda v, x: v > x))
FUNCTIONS.register("count_less_than", 2, 2, _ITEM_AND_LIST)(_compare_items(lambda v, x: v < x))


@FUNCTIONS.register("member", 2, 2, list_typer(BOOLEAN))
def _member(args: Sequence[Any], kinds: Sequence[str], env: Env) -> np.ndarray:
    """member(ITEM, LIST): true when ITEM equals a value of LIST; $null$ ITEM gives $null$."""
    counts = _compare_items(lambda v, x: v == x)(args, kinds, env)
    null = np.isnan(counts)
    return from_bool(np.nan_to_num(counts) > 0, null)


def _index_of(last: bool) -> Impl:
    def impl(args: Sequence[Any], kinds: Sequence[str], env: Env) -> np.ndarray:
        item, items = args[0], args[1]
        out = np.zeros(env.n)
        rows = zip(item.tolist(), *[c.tolist() for c in items], strict=True)
        for i, r in enumerate(rows):
            if _missing(r[0]):
                out[i] = np.nan
                continue
            hits = [j + 1 for j, v in enumerate(r[1:]) if not _missing(v) and v == r[0]]
            out[i] = (hits[-1] if last else hits[0]) if hits else 0.0
        return out

    return impl


FUNCTIONS.register("first_index", 2, 2, _ITEM_AND_LIST)(_index_of(False))
FUNCTIONS.register("last_index", 2, 2, _ITEM_AND_LIST)(_index_of(True))


def _non_null(last: bool, want_index: bool) -> Impl:
    def impl(args: Sequence[Any], kinds: Sequence[str], env: Env) -> np.ndarray:
        items = args[-1]
        is_str = any(c.dtype == object for c in items)
        out: list[Any] = []
        for r in zip(*[c.tolist() for c in items], strict=True) if items else [() for _ in range(env.n)]:
            order = range(len(r) - 1, -1, -1) if last else range(len(r))
            j = next((k for k in order if not _missing(r[k])), None)
            if want_index:
                out.append(0.0 if j is None else float(j + 1))
            else:
                out.append(None if j is None else r[j])
        if want_index or not is_str:
            return np.array([np.nan if v is None else float(v) for v in out])
        return np.array(out, dtype=object)

    return impl


FUNCTIONS.register("first_non_null", 1, 1, list_typer(None))(_non_null(False, False))
FUNCTIONS.register("last_non_null", 1, 1, list_typer(None))(_non_null(True, False))
FUNCTIONS.register("first_non_null_index", 1, 1, list_typer(INTEGER))(_non_null(False, True))
FUNCTIONS.register("last_non_null_index", 1, 1, list_typer(INTEGER))(_non_null(True, True))


@FUNCTIONS.register("value_at", 2, 2, lambda kinds: list_typer(None)(kinds[1:]))
def _value_at(args: Sequence[Any], kinds: Sequence[str], env: Env) -> np.ndarray:
    """value_at(INT, LIST): the INTth value of LIST (from 1), $null$ outside it."""
    index, items = args[0], args[1]
    is_str = any(c.dtype == object for c in items)
    out: list[Any] = []
    for r in zip(index.tolist(), *[c.tolist() for c in items], strict=True):
        k = None if _missing(r[0]) else int(r[0])
        out.append(r[k] if k is not None and 1 <= k < len(r) else None)
    if not is_str:
        return np.array([np.nan if v is None else float(v) for v in out])
    return np.array(out, dtype=object)
