"""String functions: case, trimming, substring, concat, Java regular expressions."""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Callable, Mapping, Sequence

import numpy as np

from pmserve.pmml.expressions.functions._args import _by_value, _num, _objects, _same, _smap, _str
from pmserve.pmml.expressions.java_regex import compile_java, replacement
from pmserve.pmml.fields.types import Array, DataType

# -- strings --------------------------------------------------------------------------------------

# Java's String.trim removes every character up to U+0020, control characters included.
_JAVA_BLANKS = "".join(chr(c) for c in range(0x21))


def _string_fn(fn: Callable[[str], str], args: Sequence[Array], types: Sequence[DataType]) -> Array:
    return _smap(fn, _str(args[0], types[0]))


def _java_trim(s: str) -> str:
    return s.strip(_JAVA_BLANKS)


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
    if len(col) and _same(starts) and _same(lengths):
        # The usual case, constant positions: check them once.
        pos, n = _whole(float(starts[0])), _whole(float(lengths[0]))
        if pos is None or n is None or pos < 1 or n < 0:
            return np.full(len(col), None, dtype=object)
        return _objects((None if s is None else s[pos - 1 : pos - 1 + n] for s in col), len(col))
    each = zip(col, starts.tolist(), lengths.tolist(), strict=True)
    return _objects((_substring_one(s, p, n) for s, p, n in each), len(col))


def _concat(args: Sequence[Array], types: Sequence[DataType]) -> Array:
    # JPMML skips missing arguments, so all-missing gives the empty string.
    cols = [_str(a, t) for a, t in zip(args, types, strict=True)]
    each = zip(*cols, strict=True)
    return _objects(("".join(p for p in parts if p is not None) for parts in each), len(cols[0]))


@functools.lru_cache(maxsize=256)
def _java_regex(pattern: str) -> re.Pattern[str] | None:
    """Compile a Java regular expression (None when it does not compile or has no Python form)."""
    try:
        return compile_java(pattern)
    except (ValueError, re.error, OverflowError, RecursionError):
        return None


def _java_replacement(text: str, groups: int, names: Mapping[str, int]) -> str | None:
    try:
        return replacement(text, groups, names)
    except ValueError:
        return None


@functools.lru_cache(maxsize=256)
def _replacer(pattern: str, replacement: str) -> tuple[re.Pattern[str], str] | None:
    compiled = _java_regex(pattern)
    if compiled is None:
        return None
    template = _java_replacement(replacement, compiled.groups, compiled.groupindex)
    return None if template is None else (compiled, template)


def _replacer_of(pattern: str | None, replacement: str | None) -> tuple[re.Pattern[str], str] | None:
    return None if pattern is None or replacement is None else _replacer(pattern, replacement)


def _replace_one(s: str | None, pattern: str | None, replacement: str | None) -> str | None:
    found = _replacer_of(pattern, replacement)
    if s is None or found is None:
        return None
    return found[0].sub(found[1], s)


def _replace(args: Sequence[Array], types: Sequence[DataType]) -> Array:
    col, patterns, replacements = (_str(a, t) for a, t in zip(args, types, strict=True))
    if len(col) and _same(patterns) and _same(replacements):
        found = _replacer_of(patterns[0], replacements[0])
        if found is None:
            return np.full(len(col), None, dtype=object)
        sub, template = found[0].sub, found[1]
        return _objects((None if s is None else sub(template, s) for s in col), len(col))
    each = zip(col, patterns, replacements, strict=True)
    return _objects((_replace_one(s, p, r) for s, p, r in each), len(col))


def _matches(args: Sequence[Array], types: Sequence[DataType]) -> Array:
    # PMML: the string matches when any substring matches the pattern (Java's find()).
    col, patterns = _str(args[0], types[0]), _str(args[1], types[1])
    out = np.full(len(col), np.nan)
    for pattern, rows in _by_value(patterns).items():
        compiled = None if pattern is None else _java_regex(pattern)
        if compiled is not None:
            search = compiled.search
            out[rows] = [s is not None and search(s) is not None for s in col[rows]]
    return out
