"""CLEM's string functions (CLEM reference, "String functions"); subscripts count from 1."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from pmserve.formats.spss.clem._signatures import NUM, STR, FunctionTable, Impl, returns
from pmserve.formats.spss.clem._values import BOOLEAN, INTEGER, REAL, STRING, Env, map_rows

FUNCTIONS = FunctionTable()


# -- strings (subscripts count from 1, as in CLEM) ------------------------------------------------


def _str_fn(kind: str, fn: Callable[..., Any]) -> Impl:
    def impl(args: Sequence[Any], kinds: Sequence[str], env: Env) -> np.ndarray:
        return map_rows(fn, args, kinds, STRING if kind == STRING else REAL)

    return impl


def _n(x: float) -> int:
    return int(x)


def _string_fn(name: str, kind: str, params: tuple[frozenset[str], ...], fn: Callable[..., Any]) -> None:
    FUNCTIONS.register(name, len(params), len(params), returns(kind, *params) if params else returns(kind))(
        _str_fn(kind, fn)
    )


_string_fn("length", INTEGER, (STR,), len)
_string_fn("lowertoupper", STRING, (STR,), str.upper)
_string_fn("uppertolower", STRING, (STR,), str.lower)
_string_fn("trim", STRING, (STR,), lambda s: s.strip(" \t\r\n"))
_string_fn("trim_start", STRING, (STR,), lambda s: s.lstrip(" \t\r\n"))
_string_fn("trimend", STRING, (STR,), lambda s: s.rstrip(" \t\r\n"))
# substring(N, LEN, STRING): LEN characters starting at subscript N
_string_fn("substring", STRING, (NUM, NUM, STR), lambda n, k, s: s[max(_n(n) - 1, 0):max(_n(n) - 1, 0) + max(_n(k), 0)])
# substring_between(N1, N2, STRING): the characters from subscript N1 to N2 inclusive
_string_fn("substring_between", STRING, (NUM, NUM, STR), lambda a, b, s: s[max(_n(a) - 1, 0):max(_n(b), 0)])
_string_fn("startstring", STRING, (NUM, STR), lambda k, s: s[:max(_n(k), 0)])
_string_fn("endstring", STRING, (NUM, STR), lambda k, s: s[len(s) - _n(k):] if _n(k) < len(s) else s)
_string_fn("allbutfirst", STRING, (NUM, STR), lambda k, s: s[max(_n(k), 0):])
_string_fn("allbutlast", STRING, (NUM, STR), lambda k, s: s[:max(len(s) - _n(k), 0)])
_string_fn("replace", STRING, (STR, STR, STR), lambda old, new, s: s.replace(old, new) if old else s)
_string_fn("stripchar", STRING, (STR, STR), lambda c, s: s.replace(c, "") if c else s)
_string_fn("alphabefore", BOOLEAN, (STR, STR), lambda a, b: a < b)
_string_fn("unicode_value", INTEGER, (STR,), lambda c: ord(c[0]) if c else None)
_string_fn("unicode_char", STRING, (NUM,), lambda n: chr(_n(n)) if 0 <= _n(n) <= 0x10FFFF else None)


def _count_overlapping(s: str, sub: str) -> int:
    """count_substring("foooo.txt", "oo") is 3 (IBM's example): occurrences may overlap."""
    if not sub:
        return 0
    count, i = 0, s.find(sub)
    while i >= 0:
        count += 1
        i = s.find(sub, i + 1)
    return count


_string_fn("count_substring", INTEGER, (STR, STR), _count_overlapping)


# isstartstring(SUBSTRING, STRING): 1 when STRING starts with SUBSTRING, else 0
def _startstring(sub: str, s: str) -> int:
    return 1 if s.startswith(sub) else 0


# isendstring(SUBSTRING, STRING): the subscript of SUBSTRING when STRING ends with it, else 0
def _endstring(sub: str, s: str) -> int:
    return len(s) - len(sub) + 1 if s.endswith(sub) else 0


# ismidstring(SUBSTRING, STRING): the subscript of SUBSTRING when it lies inside STRING, touching
# neither the first nor the last character, else 0
def _midstring(sub: str, s: str) -> int:
    i = s.find(sub, 1)
    while i >= 0:
        if i + len(sub) < len(s):
            return i + 1
        i = s.find(sub, i + 1)
    return 0


def _substring_at(sub: str, start: float, s: str) -> int:
    """issubstring(SUBSTRING, N, STRING): subscript of the first SUBSTRING at or after N, else 0."""
    i = s.find(sub, max(_n(start) - 1, 0))
    return i + 1 if i >= 0 else 0


_string_fn("isstartstring", INTEGER, (STR, STR), _startstring)
_string_fn("hasstartstring", INTEGER, (STR, STR), lambda s, sub: _startstring(sub, s))
_string_fn("isendstring", INTEGER, (STR, STR), _endstring)
_string_fn("hasendstring", INTEGER, (STR, STR), lambda s, sub: _endstring(sub, s))
_string_fn("ismidstring", INTEGER, (STR, STR), _midstring)
_string_fn("hasmidstring", INTEGER, (STR, STR), lambda s, sub: _midstring(sub, s))


def _optional_start(kinds: Sequence[str]) -> str:
    """(STRING, STRING) or (STRING, N, STRING) / (STRING, N, STRING)."""
    if len(kinds) == 2:
        return returns(INTEGER, STR)(kinds)
    return returns(INTEGER, STR, NUM, STR)([kinds[0], kinds[1], kinds[2]])


@FUNCTIONS.register("issubstring", 2, 3, _optional_start)
def _issubstring(args: Sequence[Any], kinds: Sequence[str], env: Env) -> np.ndarray:
    if len(args) == 2:
        return map_rows(lambda sub, s: _substring_at(sub, 1, s), args, kinds, REAL)
    return map_rows(_substring_at, args, kinds, REAL)


@FUNCTIONS.register("hassubstring", 2, 3, _optional_start)
def _hassubstring(args: Sequence[Any], kinds: Sequence[str], env: Env) -> np.ndarray:
    if len(args) == 2:
        return map_rows(lambda s, sub: _substring_at(sub, 1, s), args, kinds, REAL)
    return map_rows(lambda s, start, sub: _substring_at(sub, start, s), args, kinds, REAL)


def _locchar(c: str, start: float, s: str) -> int | None:
    """locchar(CHAR, N, STRING): the subscript of CHAR searching from the Nth character, 0 when
    it is absent, $null$ for an offset outside the string (IBM).  The subscript counts from the
    start of STRING [pmserve's reading of "a value indicating the location"]."""
    k = _n(start)
    if k < 1 or k > len(s):
        return None
    i = s.find(c[:1], k - 1)
    return i + 1 if i >= 0 else 0


def _locchar_back(c: str, start: float, s: str) -> int | None:
    """locchar_back(CHAR, N, STRING): as locchar, searching backwards from the Nth character."""
    k = _n(start)
    if k < 1 or k > len(s):
        return None
    i = s.rfind(c[:1], 0, k)
    return i + 1 if i >= 0 else 0


def _skipchar(c: str, s: str) -> int:
    """skipchar(CHAR, STRING): subscript of the first character that is not CHAR, else 0."""
    for i, ch in enumerate(s):
        if ch != c[:1]:
            return i + 1
    return 0


def _skipchar_back(c: str, s: str) -> int:
    for i in range(len(s) - 1, -1, -1):
        if s[i] != c[:1]:
            return i + 1
    return 0


_string_fn("locchar", INTEGER, (STR, NUM, STR), _locchar)
_string_fn("locchar_back", INTEGER, (STR, NUM, STR), _locchar_back)
_string_fn("skipchar", INTEGER, (STR, STR), _skipchar)
_string_fn("skipchar_back", INTEGER, (STR, STR), _skipchar_back)


def _textsplit(s: str, n: float, c: str) -> str | None:
    """textsplit(STRING, N, CHAR): the Nth piece of STRING split at CHAR, $null$ past the last."""
    parts = s.split(c[:1]) if c else [s]
    k = _n(n)
    return parts[k - 1] if 1 <= k <= len(parts) else None


_string_fn("textsplit", STRING, (STR, NUM, STR), _textsplit)


def _wildcards(pattern: str) -> re.Pattern[str]:
    """matches(STRING, PATTERN): ``?`` is one character, ``*`` any run; everything else is literal."""
    parts = ["." if c == "?" else ".*" if c == "*" else re.escape(c) for c in pattern]
    return re.compile("".join(parts), re.DOTALL)


@FUNCTIONS.register("matches", 2, 2, returns(BOOLEAN, STR))
def _matches(args: Sequence[Any], kinds: Sequence[str], env: Env) -> np.ndarray:
    patterns: dict[str, re.Pattern[str]] = {}

    def test(s: str, pattern: str) -> bool:
        compiled = patterns.get(pattern)
        if compiled is None:
            compiled = patterns.setdefault(pattern, _wildcards(pattern))
        return compiled.fullmatch(s) is not None

    return map_rows(test, args, kinds, REAL)


def _char_test(test: Callable[[str], bool]) -> Callable[[str], bool]:
    """isalphacode(CHAR) and friends test one character: a longer string is tested on its first."""
    return lambda c: bool(c) and test(c[0])


_string_fn("isalphacode", BOOLEAN, (STR,), _char_test(str.isalpha))
_string_fn("isnumbercode", BOOLEAN, (STR,), _char_test(str.isdigit))
_string_fn("islowercode", BOOLEAN, (STR,), _char_test(str.islower))
_string_fn("isuppercode", BOOLEAN, (STR,), _char_test(str.isupper))
