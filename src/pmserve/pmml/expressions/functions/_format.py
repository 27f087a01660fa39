"""formatNumber: C printf-style patterns applied to whole columns."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Sequence

import numpy as np

from pmserve.pmml.expressions.functions._args import _by_value, _java_str, _num, _number_kind, _objects, _str
from pmserve.pmml.expressions.functions._strings import _whole
from pmserve.pmml.fields.types import Array, DataType

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
