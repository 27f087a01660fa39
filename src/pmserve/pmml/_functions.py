"""The PMML built-in function library, vectorised over engine columns.

``BUILTINS`` maps a PMML function name (``Apply/@function``) to a :class:`Builtin`: its arity,
the static type of its result and a numpy implementation that maps whole argument columns to
a result column (see ``_types`` for the column representation).

Rules every implementation keeps (PMML 4.4 "Built-in Functions", and JPMML-Evaluator where
the specification is silent):

* Functions never raise on data.  An undefined result (``ln(-1)``, ``substring`` with a start
  before 1, a regular expression that does not compile, ...) is a missing value.
* With ``propagate_missing`` the caller sets the result to missing wherever an argument is
  missing, so such implementations may compute anything on those rows, but never warn.
* Arguments of an unexpected kind are converted as JPMML converts them (a string where a number
  is expected is parsed, a number where a string is expected is printed as Java prints it).
* A ``float`` result is rounded to float32 precision like every ``float`` column.

``isValid`` / ``isNotValid`` are not here: they need the validity facts of a field, which only
the expression compiler knows.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import functools
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from types import MappingProxyType
from typing import Any

import numpy as np
import numpy.typing as npt

from pmserve.pmml._types import Array, DataType, epoch_offset_days, format_scalar, is_missing, to_float32

Impl = Callable[[Sequence[Array], Sequence[DataType]], Array]
ResultType = Callable[[Sequence[DataType]], DataType]
Bools = npt.NDArray[np.bool_]

_DAY = 86400.0


@dataclass(frozen=True)
class Builtin:
    """One built-in function: arity, result type and a vectorised implementation."""

    name: str
    min_args: int
    max_args: int | None
    result_type: ResultType
    impl: Impl
    propagate_missing: bool = True


# -- result types ---------------------------------------------------------------------------------


def _number_kind(t: DataType) -> DataType:
    """The number type a value of ``t`` takes part in arithmetic as (JPMML's ``asNumber``)."""
    if t.is_number:
        return t
    if t in (DataType.STRING, DataType.TIME):
        return DataType.DOUBLE
    # Booleans are 0/1; day and second counts are whole numbers.
    return DataType.INTEGER


def _common(types: Sequence[DataType]) -> DataType:
    """JPMML's common number type: double beats float beats integer."""
    kinds = {_number_kind(t) for t in types}
    if DataType.DOUBLE in kinds:
        return DataType.DOUBLE
    if DataType.FLOAT in kinds:
        return DataType.FLOAT
    return DataType.INTEGER


def _rt_common(types: Sequence[DataType]) -> DataType:
    return _common(types)


def _rt_real(types: Sequence[DataType]) -> DataType:
    """Common type, but integers give double (``/``, ``avg``, ``median``, ``pow``)."""
    common = _common(types)
    return DataType.DOUBLE if common is DataType.INTEGER else common


def _rt_double(types: Sequence[DataType]) -> DataType:
    return DataType.DOUBLE


def _rt_integer(types: Sequence[DataType]) -> DataType:
    return DataType.INTEGER


def _rt_boolean(types: Sequence[DataType]) -> DataType:
    return DataType.BOOLEAN


def _rt_string(types: Sequence[DataType]) -> DataType:
    return DataType.STRING


def _rt_if(types: Sequence[DataType]) -> DataType:
    """The type of the branches of ``if``: shared, or a common number, or else the THEN type."""
    branches = list(types[1:])
    if all(t is branches[0] for t in branches):
        return branches[0]
    if all(t.is_number for t in branches):
        return _common(branches)
    return branches[0]


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
    out = np.empty(len(col), dtype=object)
    out[:] = _objects((None if v != v else _java_str(v, t) for v in col.tolist()), len(out))
    return out


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
    out = np.empty(len(col), dtype=object)
    out[:] = _objects((None if s is None else fn(s) for s in col), len(out))
    return out


def _bool_array(x: Bools) -> Array:
    return x.astype(np.float64)


def _missing_mask(col: Array) -> Bools:
    return is_missing(col)


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
    return _bool_array(_missing_mask(args[0]))


def _is_not_missing(args: Sequence[Array], types: Sequence[DataType]) -> Array:
    return _bool_array(~_missing_mask(args[0]))


def _filled(col: Array) -> Array:
    """A string column with missing entries as "" (their rows are overwritten by the caller)."""
    out = col.copy()
    out[_missing_mask(col)] = ""
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
    x_missing = _missing_mask(args[0])
    hit = np.zeros(len(x), dtype=bool)
    any_missing = np.zeros(len(x), dtype=bool)
    for a, t in zip(args[1:], types[1:], strict=True):
        value_missing = _missing_mask(a)
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


def _if(args: Sequence[Array], types: Sequence[DataType]) -> Array:
    # PMML: a missing condition gives a missing result; without an ELSE part, false gives missing.
    result_type = _rt_if(types)
    condition = _num(args[0], types[0])
    take_then = ~np.isnan(condition) & (condition != 0.0)
    take_else = condition == 0.0
    if result_type.is_string:
        out = np.full(len(condition), None, dtype=object)
        branches = [_str(a, t) for a, t in zip(args[1:], types[1:], strict=True)]
    else:
        out = np.full(len(condition), np.nan)
        branches = [_num(a, t) for a, t in zip(args[1:], types[1:], strict=True)]
    out[take_then] = branches[0][take_then]
    if len(branches) > 1:
        out[take_else] = branches[1][take_else]
    return out


# -- strings --------------------------------------------------------------------------------------

# Java's String.trim removes every character up to U+0020, control characters included.
_JAVA_BLANKS = "".join(chr(c) for c in range(0x21))


def _string_fn(kind: str, args: Sequence[Array], types: Sequence[DataType]) -> Array:
    col = _str(args[0], types[0])
    if kind == "upper":
        return _smap(str.upper, col)
    if kind == "lower":
        return _smap(str.lower, col)
    return _smap(lambda s: s.strip(_JAVA_BLANKS), col)


def _string_length(args: Sequence[Array], types: Sequence[DataType]) -> Array:
    col = _str(args[0], types[0])
    return np.fromiter((math.nan if s is None else len(s) for s in col), dtype=np.float64, count=len(col))


def _whole(x: float) -> int | None:
    return int(x) if math.isfinite(x) and x == math.floor(x) else None


def _substring_one(s: str | None, start: float, length: float) -> str | None:
    # PMML: positions count from 1; JPMML rejects a start below 1 or a negative length.
    pos, n = _whole(start), _whole(length)
    if s is None or pos is None or n is None or pos < 1 or n < 0:
        return None
    return s[pos - 1 : pos - 1 + n]


def _substring(args: Sequence[Array], types: Sequence[DataType]) -> Array:
    col = _str(args[0], types[0])
    starts, lengths = _num(args[1], types[1]), _num(args[2], types[2])
    out = np.empty(len(col), dtype=object)
    if len(col) and _same(starts) and _same(lengths):
        # The usual case, constant positions: check them once.
        pos, n = _whole(float(starts[0])), _whole(float(lengths[0]))
        if pos is None or n is None or pos < 1 or n < 0:
            out[:] = None
        else:
            out[:] = _objects((None if s is None else s[pos - 1 : pos - 1 + n] for s in col), len(out))
        return out
    each = zip(col, starts.tolist(), lengths.tolist(), strict=True)
    out[:] = _objects((_substring_one(s, p, n) for s, p, n in each), len(out))
    return out


def _concat(args: Sequence[Array], types: Sequence[DataType]) -> Array:
    # JPMML skips missing arguments, so all-missing gives the empty string.
    cols = [_str(a, t) for a, t in zip(args, types, strict=True)]
    out = np.empty(len(cols[0]), dtype=object)
    each = zip(*cols, strict=True)
    out[:] = _objects(("".join(p for p in parts if p is not None) for parts in each), len(out))
    return out


def _java_regex(pattern: str) -> re.Pattern[str] | None:
    """Compile a Java regular expression with Python's ``re`` (None when it does not compile)."""
    out: list[str] = []
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if c == "\\" and i + 1 < len(pattern):
            nxt = pattern[i + 1]
            out.append("\\Z" if nxt == "z" else c + nxt)
            i += 2
            continue
        if pattern.startswith("(?<", i) and i + 3 < len(pattern) and pattern[i + 3].isalpha():
            out.append("(?P<")  # Java's named group syntax
            i += 3
            continue
        out.append(c)
        i += 1
    try:
        return re.compile("".join(out))
    except (re.error, OverflowError, RecursionError):
        return None


def _java_replacement(text: str, groups: int, names: Mapping[str, int]) -> str | None:
    """Java's Matcher replacement syntax ($n, ${name}, backslash escapes) as a ``re`` template."""
    parts: list[str | int] = []
    literal: list[str] = []
    i = 0
    while i < len(text):
        c = text[i]
        if c == "\\":
            if i + 1 >= len(text):
                return None
            literal.append(text[i + 1])
            i += 2
            continue
        if c != "$":
            literal.append(c)
            i += 1
            continue
        if text.startswith("${", i):
            end = text.find("}", i)
            if end < 0 or text[i + 2 : end] not in names:
                return None
            group = names[text[i + 2 : end]]
            i = end + 1
        elif i + 1 < len(text) and text[i + 1].isdigit():
            # Java reads further digits only while they still name an existing group.
            group = int(text[i + 1])
            i += 2
            while i < len(text) and text[i].isdigit() and group * 10 + int(text[i]) <= groups:
                group = group * 10 + int(text[i])
                i += 1
            if group > groups:
                return None
        else:
            return None
        if literal:
            parts.append("".join(literal))
            literal = []
        parts.append(group)
    if literal:
        parts.append("".join(literal))
    # re's template: backslashes escaped, groups as \g<n> (an unmatched group gives "", as in Java).
    return "".join(p.replace("\\", "\\\\") if isinstance(p, str) else f"\\g<{p}>" for p in parts)


@functools.lru_cache(maxsize=256)
def _replacer(pattern: str, replacement: str) -> tuple[re.Pattern[str], str] | None:
    compiled = _java_regex(pattern)
    if compiled is None:
        return None
    template = _java_replacement(replacement, compiled.groups, compiled.groupindex)
    return None if template is None else (compiled, template)


def _replace_one(s: str | None, pattern: str | None, replacement: str | None) -> str | None:
    found = None if pattern is None or replacement is None else _replacer(pattern, replacement)
    if s is None or found is None:
        return None
    return found[0].sub(found[1], s)


def _replace(args: Sequence[Array], types: Sequence[DataType]) -> Array:
    col, patterns, replacements = (_str(a, t) for a, t in zip(args, types, strict=True))
    out = np.empty(len(col), dtype=object)
    if len(col) and _same(patterns) and _same(replacements):
        pattern, replacement = patterns[0], replacements[0]
        found = None if pattern is None or replacement is None else _replacer(pattern, replacement)
        if found is None:
            out[:] = None
        else:
            sub, template = found[0].sub, found[1]
            out[:] = _objects((None if s is None else sub(template, s) for s in col), len(out))
        return out
    each = zip(col, patterns, replacements, strict=True)
    out[:] = _objects((_replace_one(s, p, r) for s, p, r in each), len(out))
    return out


@functools.lru_cache(maxsize=256)
def _cached_regex(pattern: str) -> re.Pattern[str] | None:
    return _java_regex(pattern)


def _matches(args: Sequence[Array], types: Sequence[DataType]) -> Array:
    # PMML: the string matches when any substring matches the pattern (Java's find()).
    col, patterns = _str(args[0], types[0]), _str(args[1], types[1])
    out = np.full(len(col), np.nan)
    for pattern, rows in _by_value(patterns).items():
        compiled = None if pattern is None else _cached_regex(pattern)
        if compiled is not None:
            search = compiled.search
            out[rows] = [s is not None and search(s) is not None for s in col[rows]]
    return out


# -- formatNumber: C printf-style patterns --------------------------------------------------------

_PRINTF = re.compile(r"%(?:(\d+)\$)?([-#+ 0,(]*)(\d+)?(?:\.(\d+))?([a-zA-Z%])")

# A conversion formats a whole group of values at once (None where a value cannot be formatted).
_Formatter = Callable[[list[float], DataType], list[str | None]]


def _printf_conversion(m: re.Match[str]) -> str | _Formatter | None:
    index, flags, width, precision, conv = m.groups()
    if conv == "%":
        return "%"
    if conv == "n":
        return "\n"
    if (index is not None and index != "1") or "(" in flags or ("-" in flags and "0" in flags):
        return None  # arguments other than the first, or flags Python cannot render
    if conv not in "dxXoeEfgGsSb":
        return None
    align = "<" if "-" in flags else ">" if conv in "sSb" else ""
    sign = "+" if "+" in flags else " " if " " in flags else ""
    spec = align + sign + ("#" if "#" in flags else "") + ("0" if "0" in flags else "") + (width or "")
    spec += "," if "," in flags else ""
    if conv in "dxXo":
        return None if precision is not None else functools.partial(_format_integers, spec + conv)
    if conv in "eEfgG":
        return functools.partial(_format_floats, spec + (f".{precision}" if precision else "") + conv)
    return functools.partial(_format_texts, align + (width or ""), precision, conv)


def _integer_text(x: float, spec: str) -> str | None:
    n = _whole(x)
    if n is None:
        return None  # an integer conversion of a fraction is undefined (Java refuses it)
    if n < 0 and spec[-1] != "d":
        n &= 0xFFFFFFFF if n >= -(2**31) else 0xFFFFFFFFFFFFFFFF  # two's complement, as C and Java
    return format(n, spec)


def _format_integers(spec: str, values: list[float], t: DataType) -> list[str | None]:
    return [_integer_text(x, spec) for x in values]


def _format_floats(spec: str, values: list[float], t: DataType) -> list[str | None]:
    return [format(x, spec) for x in values]


def _format_texts(spec: str, precision: str | None, conv: str, values: list[float],
                  t: DataType) -> list[str | None]:
    texts = ["true"] * len(values) if conv == "b" else [_java_str(x, t) for x in values]
    if precision is not None:
        texts = [text[: int(precision)] for text in texts]
    texts = [format(text, spec) for text in texts]
    return [text.upper() for text in texts] if conv == "S" else list(texts)


@functools.lru_cache(maxsize=256)
def _printf(pattern: str) -> list[str | _Formatter] | None:
    """A printf pattern as literal text and conversions (None when a conversion is unknown)."""
    parts: list[str | _Formatter] = []
    last = 0
    for m in _PRINTF.finditer(pattern):
        conversion = _printf_conversion(m)
        if conversion is None:
            return None
        parts += [pattern[last : m.start()], conversion]
        last = m.end()
    rest = pattern[last:]
    if "%" in rest:
        return None  # a dangling or unknown conversion
    parts.append(rest)
    return parts


def _printf_rows(parts: list[str | _Formatter], values: list[float], t: DataType) -> list[str | None]:
    pieces = [[p] * len(values) if isinstance(p, str) else p(values, t) for p in parts]
    return [None if None in row else "".join(row) for row in zip(*pieces, strict=True)]


def _format_number(args: Sequence[Array], types: Sequence[DataType]) -> Array:
    # A pattern without conversions is returned as it is, as Java's String.format does.
    t = _number_kind(types[0])
    values, patterns = _num(args[0], types[0]), _str(args[1], types[1])
    out = np.full(len(values), None, dtype=object)
    for pattern, rows in _by_value(patterns).items():
        parts = None if pattern is None else _printf(pattern)
        if parts is not None:
            out[rows] = _objects(_printf_rows(parts, values[rows].tolist(), t), len(rows))
    return out


# -- dates and times ------------------------------------------------------------------------------


def _since_1970_days(t: DataType) -> float:
    year = t.since_year
    return 0.0 if year is None else epoch_offset_days(year)


def _parse_iso(text: str, kind: str) -> float:
    """An ISO 8601 text as days (``kind='days'``) or seconds since 1970-01-01, NaN if unreadable."""
    try:
        if kind == "days":
            return float((_dt.date.fromisoformat(text.strip()[:10]) - _dt.date(1970, 1, 1)).days)
        moment = _dt.datetime.fromisoformat(text.strip()).replace(tzinfo=None)
        return (moment - _dt.datetime(1970, 1, 1)).total_seconds()
    except ValueError:
        return math.nan


def _epoch_seconds(col: Array, t: DataType) -> Array:
    """Seconds since 1970-01-01T00:00 of a date or dateTime column (NaN for other types)."""
    if t.is_string:
        return np.fromiter(
            (math.nan if s is None else _parse_iso(s, "seconds") for s in col), np.float64, len(col)
        )
    x = np.asarray(col, dtype=np.float64)
    if t is DataType.DATE or t.value.startswith("dateDaysSince"):
        return (x - _since_1970_days(t)) * _DAY
    if t is DataType.DATE_TIME or t.value.startswith("dateTimeSecondsSince"):
        return x - _since_1970_days(t) * _DAY
    return np.full(len(x), np.nan)


def _epoch_days(col: Array, t: DataType) -> Array:
    if t.is_string:
        days = (math.nan if s is None else _parse_iso(s, "days") for s in col)
        return np.fromiter(days, np.float64, len(col))
    return np.floor(_epoch_seconds(col, t) / _DAY)


def _year_offsets(years: Array) -> Array:
    """Days from 1 January of each year to 1970-01-01 (NaN where the year is not a whole 0..9999)."""
    out = np.full(len(years), np.nan)
    for year in np.unique(years[np.isfinite(years)]):
        if year == math.floor(year) and 0 <= year <= 9999:
            out[years == year] = epoch_offset_days(int(year))
    return out


def _date_days_since_year(args: Sequence[Array], types: Sequence[DataType]) -> Array:
    return _epoch_days(args[0], types[0]) + _year_offsets(_num(args[1], types[1]))


def _date_seconds_since_year(args: Sequence[Array], types: Sequence[DataType]) -> Array:
    seconds = np.floor(_epoch_seconds(args[0], types[0]))
    return seconds + _year_offsets(_num(args[1], types[1])) * _DAY


def _date_seconds_since_midnight(args: Sequence[Array], types: Sequence[DataType]) -> Array:
    col, t = args[0], types[0]
    if t in (DataType.TIME, DataType.TIME_SECONDS):
        return np.floor(np.asarray(col, dtype=np.float64))  # Java's toSecondOfDay drops fractions
    if t.is_string:
        col = np.fromiter((_time_or_datetime(s) for s in col), np.float64, len(col))
        return np.mod(np.floor(col), _DAY)
    return np.mod(np.floor(_epoch_seconds(col, t)), _DAY)


def _time_or_datetime(s: str | None) -> float:
    if s is None:
        return math.nan
    try:
        t = _dt.time.fromisoformat(s.strip())
        return t.hour * 3600.0 + t.minute * 60.0 + t.second
    except ValueError:
        return _parse_iso(s, "seconds")


_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September",
           "October", "November", "December")
_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def _hour12(d: _dt.datetime) -> int:
    return (d.hour - 1) % 12 + 1


# Java's date/time conversions (%tX), which JPMML's formatDatetime maps every %X to.
_DATE_CONVERSIONS: dict[str, Callable[[_dt.datetime], str]] = {
    "Y": lambda d: f"{d.year:04d}",
    "y": lambda d: f"{d.year % 100:02d}",
    "C": lambda d: f"{d.year // 100:02d}",
    "m": lambda d: f"{d.month:02d}",
    "d": lambda d: f"{d.day:02d}",
    "e": lambda d: str(d.day),
    "B": lambda d: _MONTHS[d.month - 1],
    "b": lambda d: _MONTHS[d.month - 1][:3],
    "h": lambda d: _MONTHS[d.month - 1][:3],
    "A": lambda d: _WEEKDAYS[d.weekday()],
    "a": lambda d: _WEEKDAYS[d.weekday()][:3],
    "j": lambda d: f"{d.timetuple().tm_yday:03d}",
    "H": lambda d: f"{d.hour:02d}",
    "I": lambda d: f"{_hour12(d):02d}",
    "k": lambda d: str(d.hour),
    "l": lambda d: str(_hour12(d)),
    "M": lambda d: f"{d.minute:02d}",
    "S": lambda d: f"{d.second:02d}",
    "L": lambda d: f"{d.microsecond // 1000:03d}",
    "N": lambda d: f"{d.microsecond * 1000:09d}",
    "p": lambda d: "am" if d.hour < 12 else "pm",
    # pmserve's dateTime values carry no zone; they are read as UTC.
    "z": lambda d: "+0000",
    "Z": lambda d: "UTC",
    "s": lambda d: str(int((d - _dt.datetime(1970, 1, 1)).total_seconds() // 1)),
    "Q": lambda d: str(int((d - _dt.datetime(1970, 1, 1)) // _dt.timedelta(milliseconds=1))),
    "R": lambda d: f"{d.hour:02d}:{d.minute:02d}",
    "T": lambda d: f"{d.hour:02d}:{d.minute:02d}:{d.second:02d}",
    "r": lambda d: f"{_hour12(d):02d}:{d.minute:02d}:{d.second:02d} {'AM' if d.hour < 12 else 'PM'}",
    "D": lambda d: f"{d.month:02d}/{d.day:02d}/{d.year % 100:02d}",
    "F": lambda d: f"{d.year:04d}-{d.month:02d}-{d.day:02d}",
    "c": lambda d: (f"{_WEEKDAYS[d.weekday()][:3]} {_MONTHS[d.month - 1][:3]} {d.day:02d} "
                    f"{d.hour:02d}:{d.minute:02d}:{d.second:02d} UTC {d.year:04d}"),
}


@functools.lru_cache(maxsize=256)
def _date_pattern(pattern: str) -> list[str | Callable[[_dt.datetime], str]] | None:
    parts: list[str | Callable[[_dt.datetime], str]] = []
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if c != "%":
            parts.append(c)
            i += 1
            continue
        conv = pattern[i + 1] if i + 1 < len(pattern) else ""
        if conv == "%":
            parts.append("%")
        elif conv in _DATE_CONVERSIONS:
            parts.append(_DATE_CONVERSIONS[conv])
        else:
            return None
        i += 2
    return parts


def _to_datetime(seconds: float) -> _dt.datetime | None:
    try:
        return _dt.datetime(1970, 1, 1) + _dt.timedelta(seconds=seconds)
    except (OverflowError, ValueError):
        return None


def _format_datetime_one(seconds: float, pattern: str | None) -> str | None:
    parts = None if pattern is None else _date_pattern(pattern)
    moment = None if parts is None or seconds != seconds else _to_datetime(seconds)
    if parts is None or moment is None:
        return None
    return "".join(p if isinstance(p, str) else p(moment) for p in parts)


def _format_datetime(args: Sequence[Array], types: Sequence[DataType]) -> Array:
    t = types[0]
    if t in (DataType.TIME, DataType.TIME_SECONDS):
        seconds = np.asarray(args[0], dtype=np.float64)  # a time of day, on 1970-01-01
    else:
        seconds = _epoch_seconds(args[0], t)
    patterns = _str(args[1], types[1])
    out = np.empty(len(seconds), dtype=object)
    each = zip(seconds.tolist(), patterns, strict=True)
    out[:] = _objects((_format_datetime_one(s, p) for s, p in each), len(out))
    return out


# -- error function and the normal distribution ---------------------------------------------------
# erf/erfc follow Sun's fdlibm s_erf.c (|error| < 1 ulp); the quantile is Wichura's AS 241.

_ERX = 8.45062911510467529297e-01
_PP = (1.28379167095512558561e-01, -3.25042107247001499370e-01, -2.84817495755985104766e-02,
       -5.77027029648944159157e-03, -2.37630166566501626084e-05)
_QQ = (1.0, 3.97917223959155352819e-01, 6.50222499887672944485e-02, 5.08130628187576562776e-03,
       1.32494738004321644526e-04, -3.96022827877536812320e-06)
_PA = (-2.36211856075265944077e-03, 4.14856118683748331666e-01, -3.72207876035701323847e-01,
       3.18346619901161753674e-01, -1.10894694282396677476e-01, 3.54783043256182359371e-02,
       -2.16637559486879084300e-03)
_QA = (1.0, 1.06420880400844228286e-01, 5.40397917702171048937e-01, 7.18286544141962662868e-02,
       1.26171219808761642112e-01, 1.36370839120290507362e-02, 1.19844998467991074170e-02)
_RA = (-9.86494403484714822705e-03, -6.93858572707181764372e-01, -1.05586262253232909814e01,
       -6.23753324503260060396e01, -1.62396669462573470355e02, -1.84605092906711035994e02,
       -8.12874355063065934246e01, -9.81432934416914548592e00)
_SA = (1.0, 1.96512716674392571292e01, 1.37657754143519042600e02, 4.34565877475229228821e02,
       6.45387271733267880336e02, 4.29008140027567833386e02, 1.08635005541779435134e02,
       6.57024977031928170135e00, -6.04244152148580987438e-02)
_RB = (-9.86494292470009928597e-03, -7.99283237680523006574e-01, -1.77579549177547519889e01,
       -1.60636384855821916062e02, -6.37566443368389627722e02, -1.02509513161107724954e03,
       -4.83519191608651397019e02)
_SB = (1.0, 3.03380607434824582924e01, 3.25792512996573918826e02, 1.53672958608443695994e03,
       3.19985821950859553908e03, 2.55305040643316442583e03, 4.74528541206955367215e02,
       -2.24409524465858183362e01)


def _poly(coefficients: Sequence[float], x: Array) -> Array:
    """Horner's rule; coefficients from the constant term up."""
    out = np.full_like(x, coefficients[-1])
    for c in reversed(coefficients[:-1]):
        out = out * x + c
    return out


def _erfc_tail(ax: Array) -> Array:
    """erfc(|x|) for 1.25 <= |x| < 28 (fdlibm, with the low word of |x| cleared for exp)."""
    s = 1.0 / (ax * ax)
    inner = ax < 1.0 / 0.35
    r = np.where(inner, _poly(_RA, s), _poly(_RB, s))
    q = np.where(inner, _poly(_SA, s), _poly(_SB, s))
    hi = (ax.view(np.uint64) & np.uint64(0xFFFFFFFF00000000)).view(np.float64)
    out: Array = np.exp(-hi * hi - 0.5625) * np.exp((hi - ax) * (hi + ax) + r / q) / ax
    return out


def _erf_regions(x: Array) -> tuple[Array, Bools, Bools, Bools]:
    """|x| and fdlibm's regions: |x| < 0.84375, < 1.25, < 28 (each region evaluated on its own rows)."""
    ax = np.abs(x)
    return ax, ax < 0.84375, (ax >= 0.84375) & (ax < 1.25), (ax >= 1.25) & (ax < 28.0)


def _erf_small(x: Array) -> Array:
    z = x * x
    out: Array = x * (_poly(_PP, z) / _poly(_QQ, z))
    return out


def _erf_near_one(ax: Array) -> Array:
    s = ax - 1.0
    out: Array = _poly(_PA, s) / _poly(_QA, s)
    return out


def erf(x: Array) -> Array:
    """The error function, vectorised (fdlibm's algorithm, error below 1 ulp)."""
    x = np.asarray(x, dtype=np.float64)
    ax, small, near_one, tail = _erf_regions(x)
    out = np.sign(x)  # |x| >= 6 (and every tail row past 6) rounds to +-1; NaN stays NaN
    with np.errstate(all="ignore"):
        out[small] = x[small] + _erf_small(x[small])
        out[near_one] = np.sign(x[near_one]) * (_ERX + _erf_near_one(ax[near_one]))
        tail &= ax < 6.0
        out[tail] = np.sign(x[tail]) * (1.0 - _erfc_tail(ax[tail]))
    return out


def erfc(x: Array) -> Array:
    """The complementary error function, vectorised (fdlibm's algorithm)."""
    x = np.asarray(x, dtype=np.float64)
    ax, small, near_one, tail = _erf_regions(x)
    out = np.where(x > 0, 0.0, 2.0)  # |x| >= 28
    out[np.isnan(x)] = np.nan
    with np.errstate(all="ignore"):
        xs = x[small]
        y = _erf_small(xs)
        out[small] = np.where(xs < 0.25, 1.0 - (xs + y), 0.5 - (xs - 0.5 + y))
        pq = _erf_near_one(ax[near_one])
        out[near_one] = np.where(x[near_one] > 0, 1.0 - _ERX - pq, 1.0 + _ERX + pq)
        t = _erfc_tail(ax[tail])
        out[tail] = np.where(x[tail] > 0, t, 2.0 - t)
    return out


_AS241_A = (3.3871328727963666080e0, 1.3314166789178437745e2, 1.9715909503065514427e3,
            1.3731693765509461125e4, 4.5921953931549871457e4, 6.7265770927008700853e4,
            3.3430575583588128105e4, 2.5090809287301226727e3)
_AS241_B = (1.0, 4.2313330701600911252e1, 6.8718700749205790830e2, 5.3941960214247511077e3,
            2.1213794301586595867e4, 3.9307895800092710610e4, 2.8729085735721942674e4,
            5.2264952788528545610e3)
_AS241_C = (1.42343711074968357734e0, 4.63033784615654529590e0, 5.76949722146069140550e0,
            3.64784832476320460504e0, 1.27045825245236838258e0, 2.41780725177450611770e-1,
            2.27238449892691845833e-2, 7.74545014278341407640e-4)
_AS241_D = (1.0, 2.05319162663775882187e0, 1.67638483018380384940e0, 6.89767334985100004550e-1,
            1.48103976427480074590e-1, 1.51986665636164571966e-2, 5.47593808499534494600e-4,
            1.05075007164441684324e-9)
_AS241_E = (6.65790464350110377720e0, 5.46378491116411436990e0, 1.78482653991729133580e0,
            2.96560571828504891230e-1, 2.65321895265761230930e-2, 1.24266094738807843860e-3,
            2.71155556874348757815e-5, 2.01033439929228813265e-7)
_AS241_F = (1.0, 5.99832206555887937690e-1, 1.36929880922735805310e-1, 1.48753612908506148525e-2,
            7.86869131145613259100e-4, 1.84631831751005468180e-5, 1.42151175831644588870e-7,
            2.04426310338993978564e-15)


def std_normal_idf(p: Array) -> Array:
    """The standard normal quantile (AS 241, ~1e-16 relative); 0 -> -inf, 1 -> inf, else NaN."""
    p = np.asarray(p, dtype=np.float64)
    with np.errstate(all="ignore"):
        q = p - 0.5
        r = 0.180625 - q * q
        central = q * _poly(_AS241_A, r) / _poly(_AS241_B, r)
        r = np.sqrt(-np.log(np.where(q < 0, p, 1.0 - p)))
        near = _poly(_AS241_C, r - 1.6) / _poly(_AS241_D, r - 1.6)
        far = _poly(_AS241_E, r - 5.0) / _poly(_AS241_F, r - 5.0)
        tail = np.where(r <= 5.0, near, far)
        out = np.where(np.abs(q) <= 0.425, central, np.where(q < 0, -tail, tail))
    out = np.where(p == 0.0, -np.inf, np.where(p == 1.0, np.inf, out))
    return np.where((p >= 0.0) & (p <= 1.0), out, np.nan)


_SQRT2 = math.sqrt(2.0)
_SQRT2PI = math.sqrt(2.0 * math.pi)


def _std_cdf(z: Array) -> Array:
    return 0.5 * erfc(-z / _SQRT2)


def _std_pdf(z: Array) -> Array:
    with np.errstate(all="ignore"):
        return np.exp(-0.5 * z * z) / _SQRT2PI


def _normal(kind: str, args: Sequence[Array], types: Sequence[DataType]) -> Array:
    x = _num(args[0], types[0])
    if len(args) == 1:
        mu, sigma = np.zeros_like(x), np.ones_like(x)
    else:
        mu, sigma = _num(args[1], types[1]), _num(args[2], types[2])
    with np.errstate(all="ignore"):
        if kind == "cdf":
            out = _std_cdf((x - mu) / sigma)
        elif kind == "pdf":
            out = _std_pdf((x - mu) / sigma) / sigma
        else:
            out = mu + sigma * std_normal_idf(x)
    # JPMML rejects a sigma that is not positive.
    return np.where(sigma > 0.0, out, np.nan)


def _erf(args: Sequence[Array], types: Sequence[DataType]) -> Array:
    return erf(_num(args[0], types[0]))


# -- the registry ---------------------------------------------------------------------------------


def _run(impl: Impl, result_type: ResultType, args: Sequence[Array], types: Sequence[DataType]) -> Array:
    out = impl(args, types)
    if result_type(types) is DataType.FLOAT:
        out = to_float32(out)  # PMML float is single precision
    return out


_REGISTRY: dict[str, Builtin] = {}


def _register(
    name: str,
    min_args: int,
    max_args: int | None,
    result_type: ResultType,
    impl: Impl,
    *,
    propagate_missing: bool = True,
    aliases: Sequence[str] = (),
) -> None:
    builtin = Builtin(name, min_args, max_args, result_type,
                      functools.partial(_run, impl, result_type), propagate_missing)
    for key in (name, *aliases):
        if key in _REGISTRY:
            raise ValueError(f"built-in function {key!r} is registered twice")
        _REGISTRY[key] = dataclasses.replace(builtin, name=key)


def _p(fn: Callable[..., Array], *head: Any) -> Impl:
    """An implementation with its leading parameters bound (picklable, unlike a lambda)."""
    return functools.partial(fn, *head)


# Arithmetic (PMML 4.4 "Arithmetic Functions"); "/" of integers is real division as in XQuery.
_register("+", 2, 2, _rt_common, _p(_binary, np.add))
_register("-", 2, 2, _rt_common, _p(_binary, np.subtract))
_register("*", 2, 2, _rt_common, _p(_binary, np.multiply))
_register("/", 2, 2, _rt_real, _p(_binary, np.divide))
for _kind in ("min", "max", "sum", "product"):
    _register(_kind, 1, None, _rt_common, _p(_aggregate, _kind), propagate_missing=False)
for _kind in ("avg", "median"):
    _register(_kind, 1, None, _rt_real, _p(_aggregate, _kind), propagate_missing=False)

# Mathematical functions.
_math: tuple[tuple[str, np.ufunc], ...] = (
    ("log10", np.log10), ("ln", np.log), ("sqrt", np.sqrt), ("exp", np.exp),
    ("sin", np.sin), ("cos", np.cos), ("tan", np.tan), ("asin", np.arcsin), ("acos", np.arccos),
    ("atan", np.arctan), ("sinh", np.sinh), ("cosh", np.cosh), ("tanh", np.tanh),
    ("expm1", np.expm1), ("ln1p", np.log1p),
)
for _name, _ufunc in _math:
    _register(_name, 1, 1, _rt_double, _p(_unary, _ufunc),
              aliases=() if _name in ("log10", "ln", "sqrt", "exp") else (f"x-{_name}",))
_register("abs", 1, 1, _rt_common, _p(_unary, np.abs))
_register("rint", 1, 1, _rt_common, _p(_unary, np.rint), aliases=("x-rint",))
_register("floor", 1, 1, _rt_integer, _p(_unary, np.floor))
_register("ceil", 1, 1, _rt_integer, _p(_unary, np.ceil))
_register("round", 1, 1, _rt_integer, _round)
_register("pow", 2, 2, _rt_real, _p(_binary, np.power))
_register("threshold", 2, 2, _rt_integer, _threshold)
_register("modulo", 2, 2, _rt_common, _modulo, aliases=("x-modulo",))
_register("hypot", 2, 2, _rt_double, _p(_binary, np.hypot), aliases=("x-hypot",))
# atan2 is no PMML 4.4 function; JPMML offers it as x-atan2.
_register("atan2", 2, 2, _rt_double, _p(_binary, np.arctan2), aliases=("x-atan2",))
_register("erf", 1, 1, _rt_double, _erf)
_register("normalCDF", 3, 3, _rt_double, _p(_normal, "cdf"))
_register("normalPDF", 3, 3, _rt_double, _p(_normal, "pdf"))
_register("normalIDF", 3, 3, _rt_double, _p(_normal, "idf"))
_register("stdNormalCDF", 1, 1, _rt_double, _p(_normal, "cdf"))
_register("stdNormalPDF", 1, 1, _rt_double, _p(_normal, "pdf"))
_register("stdNormalIDF", 1, 1, _rt_double, _p(_normal, "idf"))

# Missing values, comparisons and boolean logic.
_register("isMissing", 1, 1, _rt_boolean, _is_missing, propagate_missing=False)
_register("isNotMissing", 1, 1, _rt_boolean, _is_not_missing, propagate_missing=False)
_comparisons: tuple[tuple[str, np.ufunc], ...] = (
    ("equal", np.equal), ("notEqual", np.not_equal), ("lessThan", np.less),
    ("lessOrEqual", np.less_equal), ("greaterThan", np.greater), ("greaterOrEqual", np.greater_equal),
)
for _name, _ufunc in _comparisons:
    _register(_name, 2, 2, _rt_boolean, _p(_compare, _ufunc))
# JPMML: a missing argument of and/or makes the result missing (no three-valued logic here).
_register("and", 2, None, _rt_boolean, _and)
_register("or", 2, None, _rt_boolean, _or)
_register("not", 1, 1, _rt_boolean, _not)
_register("isIn", 2, None, _rt_boolean, _is_in, propagate_missing=False)
_register("isNotIn", 2, None, _rt_boolean, _is_not_in, propagate_missing=False)
_register("if", 2, 3, _rt_if, _if, propagate_missing=False)

# Strings.
_register("uppercase", 1, 1, _rt_string, _p(_string_fn, "upper"))
_register("lowercase", 1, 1, _rt_string, _p(_string_fn, "lower"))
_register("trimBlanks", 1, 1, _rt_string, _p(_string_fn, "trim"))
_register("stringLength", 1, 1, _rt_integer, _string_length)
_register("substring", 3, 3, _rt_string, _substring)
_register("concat", 2, None, _rt_string, _concat, propagate_missing=False)
_register("replace", 3, 3, _rt_string, _replace)
_register("matches", 2, 2, _rt_boolean, _matches)
_register("formatNumber", 2, 2, _rt_string, _format_number)
_register("formatDatetime", 2, 2, _rt_string, _format_datetime)

# Dates and times.
_register("dateDaysSinceYear", 2, 2, _rt_integer, _date_days_since_year)
_register("dateSecondsSinceYear", 2, 2, _rt_integer, _date_seconds_since_year)
_register("dateSecondsSinceMidnight", 1, 1, _rt_integer, _date_seconds_since_midnight)

BUILTINS: Mapping[str, Builtin] = MappingProxyType(_REGISTRY)
