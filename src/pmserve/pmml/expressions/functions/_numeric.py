"""Arithmetic, aggregates, missing-value tests, comparisons and boolean logic."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from pmserve.pmml.expressions.functions._args import Bools, _bool_array, _num, _str
from pmserve.pmml.fields.types import Array, DataType, is_missing

# -- arithmetic -----------------------------------------------------------------------------------


def _binary(ufunc: np.ufunc, args: Sequence[Array], types: Sequence[DataType]) -> Array:
    with np.errstate(all="ignore"):
        out: Array = np.asarray(ufunc(_num(args[0], types[0]), _num(args[1], types[1])), dtype=np.float64)
    return out


def _unary(ufunc: np.ufunc, args: Sequence[Array], types: Sequence[DataType]) -> Array:
    with np.errstate(all="ignore"):
        out: Array = np.asarray(ufunc(_num(args[0], types[0])), dtype=np.float64)
    return out


def _modulo(args: Sequence[Array], types: Sequence[DataType]) -> Array:
    # PMML 4.4 modulo: x - floor(x / y) * y (JPMML's formula; y = 0 gives NaN, i.e. missing).
    x, y = _num(args[0], types[0]), _num(args[1], types[1])
    with np.errstate(all="ignore"):
        out: Array = x - np.floor(x / y) * y
    out[y == 0.0] = np.nan
    return out


def _threshold(args: Sequence[Array], types: Sequence[DataType]) -> Array:
    # PMML: threshold(x, y) is 1 if x > y, else 0.
    with np.errstate(invalid="ignore"):
        return _bool_array(_num(args[0], types[0]) > _num(args[1], types[1]))


def _round(args: Sequence[Array], types: Sequence[DataType]) -> Array:
    # Java's Math.round: halves go up (round(-2.5) = -2); x - floor(x) is exact, so no x + 0.5 error.
    x = _num(args[0], types[0])
    with np.errstate(invalid="ignore"):
        low = np.floor(x)
        return low + (x - low >= 0.5)


# -- aggregates (PMML: missing inputs are ignored; all missing gives missing) ----------------------


def _stack(args: Sequence[Array], types: Sequence[DataType]) -> tuple[Array, Bools, Array]:
    values = np.vstack([_num(a, t) for a, t in zip(args, types, strict=True)])
    missing = np.isnan(values)
    return values, missing, (~missing).sum(axis=0)


def _aggregate(kind: str, args: Sequence[Array], types: Sequence[DataType]) -> Array:
    values, missing, count = _stack(args, types)
    with np.errstate(all="ignore"):
        if kind == "min":
            out = np.where(missing, np.inf, values).min(axis=0)
        elif kind == "max":
            out = np.where(missing, -np.inf, values).max(axis=0)
        elif kind == "sum":
            out = np.where(missing, 0.0, values).sum(axis=0)
        elif kind == "product":
            out = np.where(missing, 1.0, values).prod(axis=0)
        elif kind == "avg":
            out = np.where(missing, 0.0, values).sum(axis=0) / count
        else:  # median: NaN sorts last, so the present values lead each column.
            ordered = np.sort(values, axis=0)
            lo = np.maximum((count - 1) // 2, 0)[np.newaxis, :]
            hi = np.maximum(count // 2, 0)[np.newaxis, :]
            out = (np.take_along_axis(ordered, lo, 0)[0] + np.take_along_axis(ordered, hi, 0)[0]) / 2.0
    out = np.asarray(out, dtype=np.float64)
    out[count == 0] = np.nan
    return out


# -- missing values, comparisons, boolean logic ---------------------------------------------------


def _is_missing(args: Sequence[Array], types: Sequence[DataType]) -> Array:
    return _bool_array(is_missing(args[0]))


def _is_not_missing(args: Sequence[Array], types: Sequence[DataType]) -> Array:
    return _bool_array(~is_missing(args[0]))


def _filled(col: Array) -> Array:
    """A string column with missing entries as "" (their rows are overwritten by the caller)."""
    out = col.copy()
    out[is_missing(col)] = ""
    return out


def _compare(ufunc: np.ufunc, args: Sequence[Array], types: Sequence[DataType]) -> Array:
    # Two strings compare as text (Java compareTo); otherwise both sides are read as numbers.
    if types[0].is_string and types[1].is_string:
        result = ufunc(_filled(args[0]), _filled(args[1]))
        return np.asarray(result, dtype=bool).astype(np.float64)
    with np.errstate(invalid="ignore"):
        return _bool_array(ufunc(_num(args[0], types[0]), _num(args[1], types[1])))


def _and(args: Sequence[Array], types: Sequence[DataType]) -> Array:
    result = np.ones(len(args[0]), dtype=bool)
    for a, t in zip(args, types, strict=True):
        result &= _num(a, t) != 0.0
    return _bool_array(result)


def _or(args: Sequence[Array], types: Sequence[DataType]) -> Array:
    result = np.zeros(len(args[0]), dtype=bool)
    for a, t in zip(args, types, strict=True):
        with np.errstate(invalid="ignore"):
            result |= _num(a, t) != 0.0
    return _bool_array(result)


def _not(args: Sequence[Array], types: Sequence[DataType]) -> Array:
    return _bool_array(_num(args[0], types[0]) == 0.0)


def _is_in_mask(args: Sequence[Array], types: Sequence[DataType]) -> Bools:
    # JPMML: a missing value is "in" the list exactly when the list holds a missing value.
    as_text = types[0].is_string
    x = args[0] if as_text else _num(args[0], types[0])
    x_missing = is_missing(args[0])
    hit = np.zeros(len(x), dtype=bool)
    any_missing = np.zeros(len(x), dtype=bool)
    for a, t in zip(args[1:], types[1:], strict=True):
        value_missing = is_missing(a)
        any_missing |= value_missing
        values = _str(a, t) if as_text else _num(a, t)
        with np.errstate(invalid="ignore"):
            equal = np.asarray(x == values, dtype=bool)
        hit |= equal & ~value_missing
    return np.where(x_missing, any_missing, hit)


def _is_in(args: Sequence[Array], types: Sequence[DataType]) -> Array:
    return _bool_array(_is_in_mask(args, types))


def _is_not_in(args: Sequence[Array], types: Sequence[DataType]) -> Array:
    return _bool_array(~_is_in_mask(args, types))
