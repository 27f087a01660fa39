"""Value conversions every expression shares: a declared dataType cast, numbers printed as Java
prints them, equality with a category, validity per the DataDictionary, and the tags of PMML's
expression elements."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt

from pmserve.errors import EvaluationError, excerpt
from pmserve.pmml.fields.categorical import equals
from pmserve.pmml.fields.frame import Expr, Frame
from pmserve.pmml.fields.schema import FieldInfo, classify
from pmserve.pmml.fields.types import Array, DataType, is_missing, parse_scalar, to_float32

#: The PMML expression elements (PMML 4.4 "Transformations"; Aggregate and Lag are refused).
EXPRESSION_TAGS = frozenset(
    {"Constant", "FieldRef", "NormContinuous", "NormDiscrete", "Discretize", "MapValues", "TextIndex",
     "Apply", "Aggregate", "Lag"}
)


def equal_to(x: Array, value: Any) -> npt.NDArray[np.bool_]:
    if x.dtype == object:
        return equals(x, value)
    with np.errstate(invalid="ignore"):
        return np.asarray(x == value)


def map_missing(fn: Callable[[Frame], Array], repl: Any) -> Callable[[Frame], Array]:
    def mapped(frame: Frame) -> Array:
        x = fn(frame)
        m = is_missing(x)
        if m.any():
            x = x.copy()
            x[m] = repl
        return x

    return mapped


def cast_fn(expr: Expr, dtype: DataType) -> Callable[[Frame], Array]:
    """Convert an expression's values to a declared dataType (DerivedField/@dataType)."""
    src = expr.dtype
    fn = expr.fn
    if src == dtype or (src.is_numeric and dtype.is_numeric and dtype is not DataType.FLOAT
                        and dtype is not DataType.INTEGER):
        return fn
    if dtype is DataType.FLOAT and src.is_numeric:
        return lambda frame: to_float32(fn(frame))
    if dtype is DataType.INTEGER and src.is_numeric:
        def to_int(frame: Frame) -> Array:
            x = fn(frame)
            bad = np.isfinite(x) & (x != np.trunc(x))
            if bad.any():
                frame.fail(bad, lambda r: EvaluationError(
                    f"a value of dataType {src.value} is not an integer", row=r))
                x = x.copy()
                x[bad] = np.nan
            return x
        return to_int
    if dtype.is_string:
        return lambda frame: number_texts(fn(frame), src)

    def from_str(frame: Frame) -> Array:
        x = fn(frame)
        out = np.full(frame.n, np.nan)
        for i, v in enumerate(x.tolist()):
            if v is None:
                continue
            try:
                out[i] = parse_scalar(dtype, v)
            except ValueError:
                frame.fail(np.arange(frame.n) == i, _unreadable(v, dtype))
        return out

    return from_str


def _unreadable(v: Any, dtype: DataType) -> Callable[[int], EvaluationError]:
    return lambda r: EvaluationError(f"value {excerpt(v)} cannot be read as {dtype.value}",
                                     value=v, row=r)


def format_number(v: float, dtype: DataType) -> str:
    """A number as PMML/Java would print it in a string context: integers without a fraction."""
    if dtype is DataType.BOOLEAN:
        return "true" if v else "false"
    if not math.isfinite(v):
        return "NaN" if v != v else ("Infinity" if v > 0 else "-Infinity")  # Java's Double.toString
    if dtype is DataType.INTEGER:
        return str(int(v))
    return repr(float(v))


def number_texts(x: Array, dtype: DataType) -> Array:
    """A numeric column as a string column, each number printed by :func:`format_number`."""
    return np.array([None if v != v else format_number(v, dtype) for v in x.tolist()], dtype=object)


def validity(info: FieldInfo | None, x: Array) -> npt.NDArray[np.bool_]:
    """isValid: not missing and valid per the field's DataDictionary facts."""
    if info is None or not info.is_data_field:
        return ~is_missing(x)
    _, miss, inval = classify(info, x)
    return ~miss & ~inval
