"""Comparing engine results with expected cells, with JPMML's equivalence rules.

* ``PMMLEquivalence(precision, zeroThreshold)`` (jpmml-evaluator ``VerificationUtil.acceptable``):
  two numbers are equal when both lie within ``zeroThreshold`` of zero, or when ``actual`` lies in
  ``[expected * (1 - precision), expected * (1 + precision)]``; the band is relative to the
  *expected* value only.
* ``FloatEquivalence(n)`` (jpmml-evaluator ``RealNumberEquivalence``): both values are cast to
  float32 and must be at most ``n`` units in the last place apart, counting across zero.
* Anything else compares by equality, except that a numeric-looking expected cell against a
  numeric result compares as numbers ("1" equals 1.0) and booleans compare by truth value.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

_TRUE = frozenset({"true"})
_FALSE = frozenset({"false"})


@dataclass(frozen=True)
class Tolerance:
    """How closely numbers must agree: relative (``PMMLEquivalence``) or float32 ULPs."""

    precision: float = 1e-13
    zero_threshold: float = 1e-13
    ulps: int | None = None  # when set: FloatEquivalence(ulps), and precision is unused

    def __post_init__(self) -> None:
        if self.precision < 0 or self.zero_threshold < 0 or (self.ulps is not None and self.ulps < 0):
            raise ValueError(f"a tolerance must not be negative, got {self}")

    def describe(self) -> str:
        if self.ulps is not None:
            return f"FloatEquivalence({self.ulps} ULP)"
        return f"PMMLEquivalence({self.precision:g}, {self.zero_threshold:g})"


def numbers_equivalent(expected: float, actual: float, tol: Tolerance) -> bool:
    """JPMML's numeric equivalence; NaN only equals NaN."""
    if math.isnan(expected) or math.isnan(actual):
        return math.isnan(expected) and math.isnan(actual)
    if tol.ulps is not None:
        return float32_ulp_distance(expected, actual) <= tol.ulps
    if abs(expected) <= tol.zero_threshold and abs(actual) <= tol.zero_threshold:
        return True
    if math.isinf(expected) or math.isinf(actual):
        return expected == actual
    return abs(actual - expected) <= tol.precision * abs(expected)


def float32_ulp_distance(a: float, b: float) -> int:
    """Units in the last place between ``a`` and ``b`` once both are rounded to float32."""
    with np.errstate(over="ignore"):
        bits = np.array([a, b], dtype=np.float32).view(np.int32).astype(np.int64)
    # Map the sign-magnitude bit patterns onto one monotonic integer line (-0.0 == +0.0), so the
    # distance across zero is the sum of both distances from zero, as in RealNumberEquivalence.
    line = np.where(bits < 0, -(bits & 0x7FFFFFFF), bits)
    return int(abs(line[0] - line[1]))


def parse_number(text: str) -> float | None:
    """The number a cell spells (Java and Python spellings of NaN/Infinity), or None."""
    s = text.strip()
    if not s:
        return None
    try:
        return float(s)
    except ValueError:
        return None


def is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def values_equivalent(expected: str | None, actual: Any, tol: Tolerance) -> bool:
    """Does one expected cell (``None`` = missing) match one plain-Python result value?

    A missing result matches a missing cell, and also an expected "NaN" (pmml4s reports an
    undefined double as NaN where PMML says missing).
    """
    if expected is None:
        return is_missing(actual)
    if is_missing(actual):
        number = parse_number(expected)
        return number is not None and math.isnan(number)
    if isinstance(actual, list | tuple):
        return _collections_equivalent(expected, actual, tol)
    low = expected.strip().lower()
    if isinstance(actual, bool | np.bool_):
        if low in _TRUE or low in _FALSE:
            return bool(actual) == (low in _TRUE)
        number = parse_number(expected)
        return number is not None and number == float(actual)
    if isinstance(actual, int | float | np.integer | np.floating):
        if low in _TRUE or low in _FALSE:
            return float(actual) == (1.0 if low in _TRUE else 0.0)
        number = parse_number(expected)
        return number is not None and numbers_equivalent(number, float(actual), tol)
    text = str(actual)
    if text == expected:
        return True
    if text.lower() in _TRUE | _FALSE and low in _TRUE | _FALSE:
        return text.lower() == low
    # A categorical result such as "1" or "1.0" against an expected "1": compare as numbers.
    a, e = parse_number(text), parse_number(expected)
    return a is not None and e is not None and numbers_equivalent(e, a, tol)


def _collections_equivalent(expected: str, actual: list[Any] | tuple[Any, ...], tol: Tolerance) -> bool:
    """A collection result (association rule values) against a JSON array cell, item by item.

    A cell that is no JSON array (a Python rendering, as row-by-row checks write) compares as text.
    The reference generator writes a missing item (a selectAll segment without a prediction) as
    an empty string, as it writes a missing cell; so an empty item matches a missing one.
    """
    try:
        items = json.loads(expected)
    except ValueError:
        return expected == str(actual)
    if not isinstance(items, list) or len(items) != len(actual):
        return False
    return all(
        (e == "" and (is_missing(a) or a == ""))
        or values_equivalent(None if e is None else e if isinstance(e, str) else json.dumps(e), a, tol)
        for e, a in zip(items, actual, strict=True)
    )


@dataclass(frozen=True)
class Mismatch:
    row: int
    expected: str | None
    actual: Any


@dataclass
class ColumnComparison:
    """The outcome of comparing one expected column with one result column."""

    column: str
    result: str
    n_rows: int
    mismatches: list[Mismatch] = field(default_factory=list)
    n_mismatches: int = 0

    @property
    def ok(self) -> bool:
        return self.n_mismatches == 0

    def describe(self, tol: Tolerance) -> str:
        target = self.column if self.result == self.column else f"{self.column} -> {self.result}"
        shown = "; ".join(
            f"row {m.row}: expected {m.expected!r}, got {m.actual!r}" for m in self.mismatches
        )
        return (f"column {target!r}: {self.n_mismatches} of {self.n_rows} rows differ beyond "
                f"{tol.describe()}; first {shown}")


def compare_column(
    column: str,
    result: str,
    expected: Sequence[str | None],
    actual: Sequence[Any],
    tol: Tolerance,
    *,
    rows: Sequence[int] | None = None,
    keep: int = 5,
) -> ColumnComparison:
    """Compare cell by cell, keeping the first ``keep`` mismatches.

    ``rows`` numbers the cells for the report (0-based data rows); by default 0, 1, 2, ...
    """
    if len(expected) != len(actual):
        raise ValueError(f"column {column!r}: expected {len(expected)} values, got {len(actual)} results")
    numbers = range(len(expected)) if rows is None else rows
    out = ColumnComparison(column, result, len(expected))
    for row, e, a in zip(numbers, expected, actual, strict=True):
        if not values_equivalent(e, a, tol):
            out.n_mismatches += 1
            if len(out.mismatches) < keep:
                out.mismatches.append(Mismatch(row, e, a))
    return out
