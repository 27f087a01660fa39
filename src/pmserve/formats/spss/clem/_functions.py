"""The CLEM functions pmserve runs, by name: a type rule checked at deploy time and a whole-column
implementation.  Definitions follow IBM's CLEM reference (SPSS Modeler 18, "CLEM language
reference": numeric, trigonometric, string, conversion, date and time, comparison, blank and null
functions); where a definition is ours rather than IBM's, the docstring says so.

A name missing from ``FUNCTIONS`` is refused at deploy time, naming the node and the function.
"""

from __future__ import annotations

import calendar
import datetime as _dt
import math
import re
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from pmserve.formats.spss.clem._values import (
    BOOLEAN,
    DATE,
    EPOCH,
    INTEGER,
    NULL,
    NUMBERS,
    REAL,
    STRING,
    TEMPORALS,
    TIME,
    TIMESTAMP,
    ClemTypeError,
    Env,
    from_bool,
    is_null,
    map_rows,
    parse_date,
    parse_number,
    parse_time,
    parse_timestamp,
    to_text,
)

Impl = Callable[[Sequence[Any], Sequence[str], Env], np.ndarray]
Typer = Callable[[Sequence[str]], str]


@dataclass(frozen=True)
class Function:
    name: str
    min_args: int
    max_args: int
    typer: Typer
    impl: Impl


FUNCTIONS: dict[str, Function] = {}


def _register(name: str, min_args: int, max_args: int, typer: Typer) -> Callable[[Impl], Impl]:
    def add(impl: Impl) -> Impl:
        if name in FUNCTIONS:
            raise ValueError(f"CLEM function {name} is registered twice")
        FUNCTIONS[name] = Function(name, min_args, max_args, typer, impl)
        return impl

    return add


# -- type rules -----------------------------------------------------------------------------------


def _need(kinds: Sequence[str], allowed: frozenset[str] | set[str], what: str) -> None:
    for i, k in enumerate(kinds):
        if k != NULL and k not in allowed:
            raise ClemTypeError(f"argument {i + 1} must be {what}, got {_kind_name(k)}")


def _kind_name(kind: str) -> str:
    return "a list" if kind.startswith("list") else f"a {kind}" if kind != INTEGER else "an integer"


def numeric_same(kinds: Sequence[str]) -> str:
    """Numbers in; integer out when every argument is an integer, else real."""
    _need(kinds, NUMBERS, "a number")
    return INTEGER if all(k in (INTEGER, NULL) for k in kinds) else REAL


def returns(kind: str, *params: frozenset[str] | set[str]) -> Typer:
    """Fixed parameter kinds (the last one repeats for optional arguments) and a fixed result."""

    def typer(kinds: Sequence[str]) -> str:
        for i, k in enumerate(kinds):
            allowed = params[min(i, len(params) - 1)] if params else frozenset()
            if k != NULL and k not in allowed:
                raise ClemTypeError(f"argument {i + 1} must be {_describe(allowed)}, got {_kind_name(k)}")
        return kind

    return typer


def _describe(allowed: frozenset[str] | set[str]) -> str:
    if allowed == NUMBERS:
        return "a number"
    if allowed == {STRING}:
        return "a string"
    if allowed == DATEISH:
        return "a date or timestamp"
    if allowed == ANY:
        return "a value"
    return " or ".join(sorted(allowed))


NUM = NUMBERS
STR = frozenset({STRING})
DATEISH = frozenset({DATE, TIMESTAMP})
TIMEISH = frozenset({TIME, TIMESTAMP})
ANY = frozenset({INTEGER, REAL, STRING, DATE, TIME, TIMESTAMP, BOOLEAN})
LISTS = frozenset({"list:integer", "list:real", "list:string", "list:mixed", "list:date", "list:time",
                   "list:timestamp", "list:boolean", "list:null"})
NUM_LISTS = frozenset({"list:integer", "list:real", "list:null"})


# -- numeric --------------------------------------------------------------------------------------


def _float_fn(fn: Callable[[np.ndarray], np.ndarray]) -> Impl:
    def impl(args: Sequence[Any], kinds: Sequence[str], env: Env) -> np.ndarray:
        with np.errstate(all="ignore"):
            out = fn(np.asarray(args[0], dtype=float))
        out = np.where(np.isfinite(out), out, np.nan)  # log(0), sqrt(-1): $null$, never inf
        return out

    return impl


_register("abs", 1, 1, numeric_same)(_float_fn(np.abs))
_register("negate", 1, 1, numeric_same)(_float_fn(np.negative))
_register("exp", 1, 1, returns(REAL, NUM))(_float_fn(np.exp))
_register("log", 1, 1, returns(REAL, NUM))(_float_fn(lambda x: np.log(np.where(x > 0, x, np.nan))))
_register("log10", 1, 1, returns(REAL, NUM))(_float_fn(lambda x: np.log10(np.where(x > 0, x, np.nan))))
_register("sqrt", 1, 1, returns(REAL, NUM))(_float_fn(lambda x: np.sqrt(np.where(x >= 0, x, np.nan))))
_register("intof", 1, 1, returns(INTEGER, NUM))(_float_fn(np.trunc))
_register("fracof", 1, 1, returns(REAL, NUM))(_float_fn(lambda x: x - np.trunc(x)))
# round(NUM): intof(NUM + 0.5) for positive NUM, intof(NUM - 0.5) for negative (half away from zero)
_register("round", 1, 1, returns(INTEGER, NUM))(_float_fn(lambda x: np.trunc(x + np.copysign(0.5, x))))
_register("sign", 1, 1, numeric_same)(_float_fn(np.sign))


def _min_max_typer(kinds: Sequence[str]) -> str:
    known = {k for k in kinds if k != NULL}
    if known <= NUMBERS:
        return INTEGER if known <= {INTEGER} else REAL
    if len(known) == 1:
        return next(iter(known))
    raise ClemTypeError(f"arguments must be comparable, got {', '.join(sorted(known))}")


def _extreme(pick_first: Callable[[Any, Any], bool]) -> Impl:
    def impl(args: Sequence[Any], kinds: Sequence[str], env: Env) -> np.ndarray:
        a, b = args
        if STRING in kinds:
            return map_rows(lambda x, y: x if pick_first(x, y) else y, [a, b], kinds, STRING)
        with np.errstate(invalid="ignore"):
            out: np.ndarray = np.where(pick_first(a, b), a, b)
        out[np.isnan(a) | np.isnan(b)] = np.nan
        return out

    return impl


_register("max", 2, 2, _min_max_typer)(_extreme(lambda x, y: x >= y))
_register("min", 2, 2, _min_max_typer)(_extreme(lambda x, y: x <= y))


# -- trigonometric (radians unless the stream's anglesInRadians is false) -------------------------


def _trig_in(fn: Callable[[np.ndarray], np.ndarray]) -> Impl:
    def impl(args: Sequence[Any], kinds: Sequence[str], env: Env) -> np.ndarray:
        x = np.asarray(args[0], dtype=float)
        if not env.settings.angles_in_radians:
            x = np.radians(x)
        with np.errstate(all="ignore"):
            out = fn(x)
        return np.where(np.isfinite(out), out, np.nan)

    return impl


def _trig_out(fn: Callable[..., np.ndarray]) -> Impl:
    def impl(args: Sequence[Any], kinds: Sequence[str], env: Env) -> np.ndarray:
        with np.errstate(all="ignore"):
            out = fn(*[np.asarray(a, dtype=float) for a in args])
        if not env.settings.angles_in_radians:
            out = np.degrees(out)
        return np.where(np.isfinite(out), out, np.nan)

    return impl


_UFUNCS: tuple[tuple[str, Callable[[np.ndarray], np.ndarray]], ...] = (
    ("sin", np.sin), ("cos", np.cos), ("tan", np.tan),
    ("sinh", np.sinh), ("cosh", np.cosh), ("tanh", np.tanh),
    ("arcsin", np.arcsin), ("arccos", np.arccos), ("arctan", np.arctan),
)
for _name, _fn in _UFUNCS:
    wrap = _trig_in if _name in ("sin", "cos", "tan") else _trig_out if _name.startswith("arc") else _float_fn
    _register(_name, 1, 1, returns(REAL, NUM))(wrap(_fn))
# arctan2(Y, X): the angle of the point (X, Y)
_register("arctan2", 2, 2, returns(REAL, NUM))(_trig_out(np.arctan2))


@_register("cdf_normal", 3, 3, returns(REAL, NUM))
def _cdf_normal(args: Sequence[Any], kinds: Sequence[str], env: Env) -> np.ndarray:
    """cdf_normal(NUM, MEAN, STDDEV): the normal distribution function; $null$ unless STDDEV > 0."""
    return map_rows(lambda x, m, sd: 0.5 * math.erfc(-(x - m) / (sd * math.sqrt(2.0))) if sd > 0 else None,
                    args, kinds, REAL)


@_register("pi", 0, 0, returns(REAL))
def _pi(args: Sequence[Any], kinds: Sequence[str], env: Env) -> np.ndarray:
    return np.full(env.n, math.pi)


# -- blanks, nulls and information ----------------------------------------------------------------


@_register("@NULL", 1, 1, returns(BOOLEAN, ANY))
def _at_null(args: Sequence[Any], kinds: Sequence[str], env: Env) -> np.ndarray:
    return from_bool(is_null(kinds[0], args[0]))


@_register("@BLANK", 1, 1, returns(BOOLEAN, ANY))
def _at_blank(args: Sequence[Any], kinds: Sequence[str], env: Env) -> np.ndarray:
    """Blank by the field's blank definition.  pmserve reads no user-defined blanks (the samples
    define none, and where Modeler stores them is unverified), so only ``$null$`` is blank."""
    return from_bool(is_null(kinds[0], args[0]))


def _is_kind(*wanted: str) -> Impl:
    def impl(args: Sequence[Any], kinds: Sequence[str], env: Env) -> np.ndarray:
        present = ~is_null(kinds[0], args[0])
        return from_bool(present & (kinds[0] in wanted))

    return impl


_register("is_integer", 1, 1, returns(BOOLEAN, ANY))(_is_kind(INTEGER))
_register("is_real", 1, 1, returns(BOOLEAN, ANY))(_is_kind(REAL))
_register("is_number", 1, 1, returns(BOOLEAN, ANY))(_is_kind(INTEGER, REAL))
_register("is_string", 1, 1, returns(BOOLEAN, ANY))(_is_kind(STRING))
_register("is_date", 1, 1, returns(BOOLEAN, ANY))(_is_kind(DATE))
_register("is_time", 1, 1, returns(BOOLEAN, ANY))(_is_kind(TIME))
_register("is_timestamp", 1, 1, returns(BOOLEAN, ANY))(_is_kind(TIMESTAMP))


# -- strings (subscripts count from 1, as in CLEM) ------------------------------------------------


def _str_fn(kind: str, fn: Callable[..., Any]) -> Impl:
    def impl(args: Sequence[Any], kinds: Sequence[str], env: Env) -> np.ndarray:
        return map_rows(fn, args, kinds, STRING if kind == STRING else REAL)

    return impl


def _n(x: float) -> int:
    return int(x)


def _string_fn(name: str, kind: str, params: tuple[frozenset[str], ...], fn: Callable[..., Any]) -> None:
    _register(name, len(params), len(params), returns(kind, *params) if params else returns(kind))(
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


@_register("issubstring", 2, 3, _optional_start)
def _issubstring(args: Sequence[Any], kinds: Sequence[str], env: Env) -> np.ndarray:
    if len(args) == 2:
        return map_rows(lambda sub, s: _substring_at(sub, 1, s), args, kinds, REAL)
    return map_rows(_substring_at, args, kinds, REAL)


@_register("hassubstring", 2, 3, _optional_start)
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


@_register("matches", 2, 2, returns(BOOLEAN, STR))
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


# -- conversions ----------------------------------------------------------------------------------


@_register("to_string", 1, 1, returns(STRING, ANY))
def _to_string(args: Sequence[Any], kinds: Sequence[str], env: Env) -> np.ndarray:
    kind = kinds[0]
    return map_rows(lambda v: to_text(kind, v, env.settings), args, kinds, STRING)


def _to_number(kind_out: str) -> Impl:
    def impl(args: Sequence[Any], kinds: Sequence[str], env: Env) -> np.ndarray:
        if kinds[0] == STRING:
            parsed = map_rows(parse_number, args, kinds, REAL)
            return np.trunc(parsed) if kind_out == INTEGER else parsed
        x = np.asarray(args[0], dtype=float)
        # to_integer of a real keeps its integer part [pmserve: IBM does not say how it rounds]
        return np.trunc(x) if kind_out == INTEGER else x.copy()

    return impl


_register("to_integer", 1, 1, returns(INTEGER, NUM | STR))(_to_number(INTEGER))
_register("to_real", 1, 1, returns(REAL, NUM | STR))(_to_number(REAL))
_register("to_number", 1, 1, returns(REAL, NUM | STR))(_to_number(REAL))


@_register("to_date", 1, 1, returns(DATE, STR | DATEISH))
def _to_date(args: Sequence[Any], kinds: Sequence[str], env: Env) -> np.ndarray:
    if kinds[0] == STRING:
        return map_rows(lambda s: parse_date(s, env.settings), args, kinds, REAL)
    return _date_part(args[0], kinds[0])


@_register("to_time", 1, 1, returns(TIME, STR | TIMEISH))
def _to_time(args: Sequence[Any], kinds: Sequence[str], env: Env) -> np.ndarray:
    if kinds[0] == STRING:
        return map_rows(lambda s: parse_time(s, env.settings), args, kinds, REAL)
    x = np.asarray(args[0], dtype=float)
    return x - np.floor(x / 86400.0) * 86400.0 if kinds[0] == TIMESTAMP else x.copy()


@_register("to_timestamp", 1, 1, returns(TIMESTAMP, STR | DATEISH))
def _to_timestamp(args: Sequence[Any], kinds: Sequence[str], env: Env) -> np.ndarray:
    if kinds[0] == STRING:
        return map_rows(lambda s: parse_timestamp(s, env.settings), args, kinds, REAL)
    x = np.asarray(args[0], dtype=float)
    return x * 86400.0 if kinds[0] == DATE else x.copy()


def _to_datetime_typer(kinds: Sequence[str]) -> str:
    """to_datetime keeps a date, time or timestamp as it is and reads a string as a timestamp."""
    _need(kinds, STR | TEMPORALS, "a string, date, time or timestamp")
    return TIMESTAMP if kinds[0] in (STRING, NULL) else kinds[0]


@_register("to_datetime", 1, 1, _to_datetime_typer)
def _to_datetime(args: Sequence[Any], kinds: Sequence[str], env: Env) -> np.ndarray:
    if kinds[0] == STRING:
        return map_rows(lambda s: parse_timestamp(s, env.settings), args, kinds, REAL)
    return np.asarray(args[0], dtype=float).copy()


def _date_part(x: np.ndarray, kind: str) -> np.ndarray:
    x = np.asarray(x, dtype=float)
    return np.floor(x / 86400.0) if kind == TIMESTAMP else x.copy()


@_register("datetime_date", 1, 1, returns(DATE, NUM | STR | DATEISH))
def _datetime_date(args: Sequence[Any], kinds: Sequence[str], env: Env) -> np.ndarray:
    """A number is seconds since the stream's base date; the part of a day is dropped (IBM)."""
    if kinds[0] == STRING:
        return map_rows(lambda s: parse_date(s, env.settings), args, kinds, REAL)
    if kinds[0] in NUMBERS:
        return env.settings.baseline_days + np.floor(np.asarray(args[0], dtype=float) / 86400.0)
    return _date_part(args[0], kinds[0])


# -- dates and times ------------------------------------------------------------------------------


def _days(x: Any, kind: str) -> np.ndarray:
    """Days since 1970-01-01 of a date or timestamp (a timestamp keeps its part of a day)."""
    days: np.ndarray = np.asarray(x, dtype=float)
    return days / 86400.0 if kind == TIMESTAMP else days


def _difference(unit_days: float, whole: bool) -> Impl:
    def impl(args: Sequence[Any], kinds: Sequence[str], env: Env) -> np.ndarray:
        d1, d2 = _days(args[0], kinds[0]), _days(args[1], kinds[1])
        out: np.ndarray = np.floor(d2) - np.floor(d1) if whole else (d2 - d1) / unit_days
        return out  # whole: date_days_difference counts calendar days

    return impl


# IBM: years of 365.25 days, months of 30.4375 days, weeks of 7 days
_register("date_days_difference", 2, 2, returns(INTEGER, DATEISH))(_difference(1.0, True))
_register("date_weeks_difference", 2, 2, returns(REAL, DATEISH))(_difference(7.0, False))
_register("date_months_difference", 2, 2, returns(REAL, DATEISH))(_difference(30.4375, False))
_register("date_years_difference", 2, 2, returns(REAL, DATEISH))(_difference(365.25, False))


def _since_baseline(unit_days: float, whole: bool) -> Impl:
    def impl(args: Sequence[Any], kinds: Sequence[str], env: Env) -> np.ndarray:
        days = _days(args[0], kinds[0]) - env.settings.baseline_days
        return np.floor(days) if whole else days / unit_days

    return impl


_register("date_in_days", 1, 1, returns(INTEGER, DATEISH))(_since_baseline(1.0, True))
_register("date_in_weeks", 1, 1, returns(REAL, DATEISH))(_since_baseline(7.0, False))
_register("date_in_months", 1, 1, returns(REAL, DATEISH))(_since_baseline(30.4375, False))
_register("date_in_years", 1, 1, returns(REAL, DATEISH))(_since_baseline(365.25, False))


@_register("date_before", 2, 2, returns(BOOLEAN, DATEISH))
def _date_before(args: Sequence[Any], kinds: Sequence[str], env: Env) -> np.ndarray:
    d1, d2 = _days(args[0], kinds[0]), _days(args[1], kinds[1])
    with np.errstate(invalid="ignore"):
        return from_bool(d1 < d2, np.isnan(d1) | np.isnan(d2))


def _calendar(part: Callable[[_dt.date], Any], out: str) -> Impl:
    def impl(args: Sequence[Any], kinds: Sequence[str], env: Env) -> np.ndarray:
        days = _date_part(args[0], kinds[0])
        return map_rows(lambda d: part(EPOCH + _dt.timedelta(days=int(d))), [days], [REAL], out)

    return impl


_register("datetime_year", 1, 1, returns(INTEGER, DATEISH))(_calendar(lambda d: d.year, REAL))
_register("datetime_month", 1, 1, returns(INTEGER, DATEISH))(_calendar(lambda d: d.month, REAL))
_register("datetime_day", 1, 1, returns(INTEGER, DATEISH))(_calendar(lambda d: d.day, REAL))
# datetime_weekday: 1 for Sunday through 7 for Saturday
_register("datetime_weekday", 1, 1, returns(INTEGER, DATEISH))(
    _calendar(lambda d: (d.isoweekday() % 7) + 1, REAL)
)
_register("datetime_day_name", 1, 1, returns(STRING, DATEISH))(
    _calendar(lambda d: calendar.day_name[d.weekday()], STRING)
)
_register("datetime_day_short_name", 1, 1, returns(STRING, DATEISH))(
    _calendar(lambda d: calendar.day_abbr[d.weekday()], STRING)
)
# ISO 8601 calendar: weeks start on Monday; week 1 holds the year's first Thursday
_register("date_iso_day", 1, 1, returns(INTEGER, DATEISH))(_calendar(lambda d: d.isoweekday(), REAL))
_register("date_iso_week", 1, 1, returns(INTEGER, DATEISH))(_calendar(lambda d: d.isocalendar()[1], REAL))
_register("date_iso_year", 1, 1, returns(INTEGER, DATEISH))(_calendar(lambda d: d.isocalendar()[0], REAL))
_register("datetime_month_name", 1, 1, returns(STRING, DATEISH))(
    _calendar(lambda d: calendar.month_name[d.month], STRING)
)
_register("datetime_month_short_name", 1, 1, returns(STRING, DATEISH))(
    _calendar(lambda d: calendar.month_abbr[d.month], STRING)
)


def _clock(seconds_per_unit: float, modulo: float) -> Impl:
    def impl(args: Sequence[Any], kinds: Sequence[str], env: Env) -> np.ndarray:
        x = np.asarray(args[0], dtype=float)
        return np.floor(x / seconds_per_unit) % modulo

    return impl


_register("datetime_hour", 1, 1, returns(INTEGER, TIMEISH))(_clock(3600.0, 24.0))
_register("datetime_minute", 1, 1, returns(INTEGER, TIMEISH))(_clock(60.0, 60.0))
_register("datetime_second", 1, 1, returns(INTEGER, TIMEISH))(_clock(1.0, 60.0))


def _add_days(per_unit: float) -> Impl:
    def impl(args: Sequence[Any], kinds: Sequence[str], env: Env) -> np.ndarray:
        n, d = np.asarray(args[0], dtype=float), np.asarray(args[1], dtype=float)
        return d + n * per_unit * (86400.0 if kinds[1] == TIMESTAMP else 1.0)

    return impl


def _add_typer(kinds: Sequence[str]) -> str:
    if kinds[0] not in (INTEGER, REAL, NULL) or kinds[1] not in (DATE, TIMESTAMP, NULL):
        raise ClemTypeError("expects a number and a date or timestamp")
    return kinds[1] if kinds[1] != NULL else DATE


_register("date_add_days", 2, 2, _add_typer)(_add_days(1.0))
_register("date_add_weeks", 2, 2, _add_typer)(_add_days(7.0))


def _add_months(months_per_unit: int) -> Impl:
    """Calendar months; a day past the end of the new month becomes its last day [pmserve]."""

    def shift(n: float, d: float, stamp: bool) -> float:
        seconds = d if stamp else d * 86400.0
        moment = _dt.datetime(1970, 1, 1) + _dt.timedelta(seconds=seconds)
        total = moment.year * 12 + (moment.month - 1) + int(n) * months_per_unit
        year, month = divmod(total, 12)
        day = min(moment.day, calendar.monthrange(year, month + 1)[1])
        moved = moment.replace(year=year, month=month + 1, day=day)
        out = (moved - _dt.datetime(1970, 1, 1)).total_seconds()
        return out if stamp else out / 86400.0

    def impl(args: Sequence[Any], kinds: Sequence[str], env: Env) -> np.ndarray:
        stamp = kinds[1] == TIMESTAMP
        return map_rows(lambda n, d: shift(n, d, stamp), args, kinds, REAL)

    return impl


_register("date_add_months", 2, 2, _add_typer)(_add_months(1))
_register("date_add_years", 2, 2, _add_typer)(_add_months(12))


@_register("@TODAY", 0, 0, returns(STRING))
def _today(args: Sequence[Any], kinds: Sequence[str], env: Env) -> np.ndarray:
    """Today's date as a string in the stream's date format, read when the record is scored."""
    days = float((_dt.date.today() - EPOCH).days)
    return np.full(env.n, to_text(DATE, days, env.settings), dtype=object)


# -- comparisons and lists ------------------------------------------------------------------------


def _list_typer(result: str | None, item_kinds: frozenset[str] | None = None) -> Typer:
    """``f(LIST)`` or ``f(ITEM, LIST)``; ``result`` None means "the list's item kind"."""

    def typer(kinds: Sequence[str]) -> str:
        list_kind = kinds[-1]
        if list_kind not in LISTS:
            raise ClemTypeError(f"the last argument must be a list such as [a, b, c], got {_kind_name(list_kind)}")
        if item_kinds is not None and list_kind not in item_kinds:
            raise ClemTypeError(f"the list must hold numbers, got {list_kind.split(':')[1]} values")
        if result is not None:
            return result
        item = list_kind.split(":")[1]
        return REAL if item == NULL else item

    return typer


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


_register("sum_n", 1, 1, _list_typer(None, NUM_LISTS))(_nan_reduce(np.nansum))
_register("mean_n", 1, 1, _list_typer(REAL, NUM_LISTS))(_nan_reduce(np.nanmean))
# sdev_n: the sample standard deviation (n - 1), of at least two present values [pmserve]
_register("sdev_n", 1, 1, _list_typer(REAL, NUM_LISTS))(_nan_reduce(lambda b, axis: np.nanstd(b, axis=axis, ddof=1), 2))
_register("max_n", 1, 1, _list_typer(None, NUM_LISTS))(_nan_reduce(np.nanmax))
_register("min_n", 1, 1, _list_typer(None, NUM_LISTS))(_nan_reduce(np.nanmin))


@_register("count_nulls", 1, 1, _list_typer(INTEGER))
def _count_nulls(args: Sequence[Any], kinds: Sequence[str], env: Env) -> np.ndarray:
    items, item_kind = args[-1], kinds[-1].split(":")[1]
    total = np.zeros(env.n)
    for col in items:
        total += is_null(STRING if col.dtype == object else item_kind, col)
    return total


@_register("count_non_nulls", 1, 1, _list_typer(INTEGER))
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


_ITEM_AND_LIST = _list_typer(INTEGER)
_register("count_equal", 2, 2, _ITEM_AND_LIST)(_compare_items(lambda v, x: v == x))
_register("count_not_equal", 2, 2, _ITEM_AND_LIST)(_compare_items(lambda v, x: v != x))
_register("count_greater_than", 2, 2, _ITEM_AND_LIST)(_compare_items(lambda v, x: v > x))
_register("count_less_than", 2, 2, _ITEM_AND_LIST)(_compare_items(lambda v, x: v < x))


@_register("member", 2, 2, _list_typer(BOOLEAN))
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


_register("first_index", 2, 2, _ITEM_AND_LIST)(_index_of(False))
_register("last_index", 2, 2, _ITEM_AND_LIST)(_index_of(True))


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


_register("first_non_null", 1, 1, _list_typer(None))(_non_null(False, False))
_register("last_non_null", 1, 1, _list_typer(None))(_non_null(True, False))
_register("first_non_null_index", 1, 1, _list_typer(INTEGER))(_non_null(False, True))
_register("last_non_null_index", 1, 1, _list_typer(INTEGER))(_non_null(True, True))


@_register("value_at", 2, 2, lambda kinds: _list_typer(None)(kinds[1:]))
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
