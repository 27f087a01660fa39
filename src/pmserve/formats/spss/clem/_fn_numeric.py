"""CLEM's numeric, trigonometric, blank/null and information functions (CLEM reference:
"Numeric functions", "Trigonometric functions", "Blank and null functions", "Information functions")."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from pmserve.formats.spss.clem._signatures import ANY, NUM, FunctionTable, Impl, numeric_same, returns
from pmserve.formats.spss.clem._values import (
    BOOLEAN,
    INTEGER,
    NULL,
    NUMBERS,
    REAL,
    STRING,
    ClemTypeError,
    Env,
    from_bool,
    is_null,
    map_rows,
)

FUNCTIONS = FunctionTable()


# -- numeric --------------------------------------------------------------------------------------


def _float_fn(fn: Callable[[np.ndarray], np.ndarray]) -> Impl:
    def impl(args: Sequence[Any], kinds: Sequence[str], env: Env) -> np.ndarray:
        with np.errstate(all="ignore"):
            out = fn(np.asarray(args[0], dtype=float))
        out = np.where(np.isfinite(out), out, np.nan)  # log(0), sqrt(-1): $null$, never inf
        return out

    return impl


FUNCTIONS.register("abs", 1, 1, numeric_same)(_float_fn(np.abs))
FUNCTIONS.register("negate", 1, 1, numeric_same)(_float_fn(np.negative))
FUNCTIONS.register("exp", 1, 1, returns(REAL, NUM))(_float_fn(np.exp))
FUNCTIONS.register("log", 1, 1, returns(REAL, NUM))(_float_fn(lambda x: np.log(np.where(x > 0, x, np.nan))))
FUNCTIONS.register("log10", 1, 1, returns(REAL, NUM))(_float_fn(lambda x: np.log10(np.where(x > 0, x, np.nan))))
FUNCTIONS.register("sqrt", 1, 1, returns(REAL, NUM))(_float_fn(lambda x: np.sqrt(np.where(x >= 0, x, np.nan))))
FUNCTIONS.register("intof", 1, 1, returns(INTEGER, NUM))(_float_fn(np.trunc))
FUNCTIONS.register("fracof", 1, 1, returns(REAL, NUM))(_float_fn(lambda x: x - np.trunc(x)))
# round(NUM): intof(NUM + 0.5) for positive NUM, intof(NUM - 0.5) for negative (half away from zero)
FUNCTIONS.register("round", 1, 1, returns(INTEGER, NUM))(_float_fn(lambda x: np.trunc(x + np.copysign(0.5, x))))
FUNCTIONS.register("sign", 1, 1, numeric_same)(_float_fn(np.sign))


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


FUNCTIONS.register("max", 2, 2, _min_max_typer)(_extreme(lambda x, y: x >= y))
FUNCTIONS.register("min", 2, 2, _min_max_typer)(_extreme(lambda x, y: x <= y))


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
    FUNCTIONS.register(_name, 1, 1, returns(REAL, NUM))(wrap(_fn))
# arctan2(Y, X): the angle of the point (X, Y)
FUNCTIONS.register("arctan2", 2, 2, returns(REAL, NUM))(_trig_out(np.arctan2))


@FUNCTIONS.register("cdf_normal", 3, 3, returns(REAL, NUM))
def _cdf_normal(args: Sequence[Any], kinds: Sequence[str], env: Env) -> np.ndarray:
    """cdf_normal(NUM, MEAN, STDDEV): the normal distribution function; $null$ unless STDDEV > 0."""
    return map_rows(lambda x, m, sd: 0.5 * math.erfc(-(x - m) / (sd * math.sqrt(2.0))) if sd > 0 else None,
                    args, kinds, REAL)


@FUNCTIONS.register("pi", 0, 0, returns(REAL))
def _pi(args: Sequence[Any], kinds: Sequence[str], env: Env) -> np.ndarray:
    return np.full(env.n, math.pi)


# -- blanks, nulls and information ----------------------------------------------------------------


@FUNCTIONS.register("@NULL", 1, 1, returns(BOOLEAN, ANY))
def _at_null(args: Sequence[Any], kinds: Sequence[str], env: Env) -> np.ndarray:
    return from_bool(is_null(kinds[0], args[0]))


@FUNCTIONS.register("@BLANK", 1, 1, returns(BOOLEAN, ANY))
def _at_blank(args: Sequence[Any], kinds: Sequence[str], env: Env) -> np.ndarray:
    """Blank by the field's blank definition.  pmserve reads no user-defined blanks (the samples
    define none, and where Modeler stores them is unverified), so only ``$null$`` is blank."""
    return from_bool(is_null(kinds[0], args[0]))


def _is_kind(*wanted: str) -> Impl:
    def impl(args: Sequence[Any], kinds: Sequence[str], env: Env) -> np.ndarray:
        present = ~is_null(kinds[0], args[0])
        return from_bool(present & (kinds[0] in wanted))

    return impl


# is_integer, is_real, is_string, is_date, is_time, is_timestamp: one a kind of value; is_number: either number.
for _kind in sorted(ANY - {BOOLEAN}):
    FUNCTIONS.register(f"is_{_kind}", 1, 1, returns(BOOLEAN, ANY))(_is_kind(_kind))
FUNCTIONS.register("is_number", 1, 1, returns(BOOLEAN, ANY))(_is_kind(*NUMBERS))
