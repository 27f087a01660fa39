"""Argument conversion and result types shared by the built-in functions."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from decimal import Decimal
from functools import partial
from typing import Any

import numpy as np
import numpy.typing as npt

from pmserve.pmml.fields.types import Array, DataType, format_scalar

Impl = Callable[[Sequence[Array], Sequence[DataType]], Array]
ResultType = Callable[[Sequence[DataType]], DataType]
Bools = npt.NDArray[np.bool_]

_DAY = 86400.0


# -- result types ---------------------------------------------------------------------------------


def _number_kind(t: DataType) -> DataType:
    """The number type a value of ``t`` takes part in arithmetic as (JPMML's ``asNumber``)."""
    if t.is_number:
        return t
    if t in (DataType.STRING, DataType.TIME):
        return DataType.DOUBLE
    # Booleans are 0/1; day and second counts are whole numbers.
    return DataType.INTEGER


def _rt_common(types: Sequence[DataType]) -> DataType:
    """JPMML's common number type: double beats float beats integer."""
    kinds = {_number_kind(t) for t in types}
    if DataType.DOUBLE in kinds:
        return DataType.DOUBLE
    if DataType.FLOAT in kinds:
        return DataType.FLOAT
    return DataType.INTEGER


def _rt_real(types: Sequence[DataType]) -> DataType:
    """Common type, but integers give double (``/``, ``avg``, ``median``, ``pow``)."""
    common = _rt_common(types)
    return DataType.DOUBLE if common is DataType.INTEGER else common


def _fixed(dtype: DataType, types: Sequence[DataType]) -> DataType:
    return dtype


_rt_double: ResultType = partial(_fixed, DataType.DOUBLE)
_rt_integer: ResultType = partial(_fixed, DataType.INTEGER)
_rt_boolean: ResultType = partial(_fixed, DataType.BOOLEAN)
_rt_string: ResultType = partial(_fixed, DataType.STRING)


# -- argument conversion --------------------------------------------------------------------------


def _parse_number(s: str) -> float:
    try:
        return float(s.strip())
    except ValueError:
        return math.nan


def _num(col: Array, t: DataType) -> Array:
    """The column as float64 numbers; strings are parsed, unparseable ones are NaN."""
    if t.is_string:
        return np.fromiter(
            (math.nan if s is None else _parse_number(s) for s in col), dtype=np.float64, count=len(col)
        )
    return np.asarray(col, dtype=np.float64)


def _java_number_text(x: float, digits: str) -> str:
    """Java's Double/Float.toString layout for the shortest round-trip ``digits`` of ``x``."""
    a = abs(x)
    if 1e-3 <= a < 1e7:
        text = digits if ("e" not in digits and "E" not in digits) else repr(float(digits))
        return text if "." in text else text + ".0"
    sign, ds, exp = Decimal(digits).as_tuple()
    mantissa = "".join(map(str, ds)).rstrip("0") or "0"
    exponent = len(ds) - 1 + int(exp)
    body = mantissa[0] + "." + (mantissa[1:] or "0")
    return ("-" if sign else "") + body + "E" + str(exponent)


def _java_str(x: float, t: DataType) -> str:
    """A number as JPMML prints it when a string is expected (Java ``toString``)."""
    if t is DataType.INTEGER and math.isfinite(x):
        return str(int(x))
    if t is DataType.BOOLEAN:
        return "true" if x != 0.0 else "false"
    if t.is_temporal:
        return str(format_scalar(t, x))
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "Infinity" if x > 0 else "-Infinity"
    if x == 0.0:
        return "-0.0" if math.copysign(1.0, x) < 0 else "0.0"
    digits = str(np.float32(x)) if t is DataType.FLOAT else repr(x)
    return _java_number_text(x, digits)


def _str(col: Array, t: DataType) -> Array:
    """The column as an object array of ``str`` (None = missing)."""
    if t.is_string:
        return col
    return _objects((None if v != v else _java_str(v, t) for v in col.tolist()), len(col))


def _objects(values: Iterable[Any], n: int) -> Array:
    """An object column from an iterable (no detour through a fixed-width string array)."""
    return np.fromiter(values, dtype=object, count=n)


def _same(col: Array) -> bool:
    """Every entry equals the first (true for a broadcast constant)."""
    return len(col) == 0 or bool(np.all(col == col[0]))


def _by_value(col: Array) -> dict[Any, Array]:
    """Row indices grouped by the value of a string column (one group for a constant)."""
    if _same(col):
        return {col[0]: np.arange(len(col))} if len(col) else {}
    groups: dict[Any, list[int]] = {}
    for i, v in enumerate(col.tolist()):
        groups.setdefault(v, []).append(i)
    return {k: np.asarray(v, dtype=np.intp) for k, v in groups.items()}


def _smap(fn: Callable[[str], str | None], col: Array) -> Array:
    return _objects((None if s is None else fn(s) for s in col), len(col))


def _bool_array(x: Bools) -> Array:
    return x.astype(np.float64)
