"""CLEM's conversion, date and time functions (CLEM reference: "Conversion functions",
"Date and time functions")."""

from __future__ import annotations

import calendar
import datetime as _dt
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from pmserve.formats.spss.clem._signatures import (
    ANY,
    DATEISH,
    NUM,
    STR,
    TIMEISH,
    FunctionTable,
    Impl,
    need,
    returns,
)
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
    map_rows,
    parse_date,
    parse_number,
    parse_time,
    parse_timestamp,
    to_text,
)

FUNCTIONS = FunctionTable()


# -- conversions ----------------------------------------------------------------------------------


@FUNCTIONS.register("to_string", 1, 1, returns(STRING, ANY))
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


FUNCTIONS.register("to_integer", 1, 1, returns(INTEGER, NUM | STR))(_to_number(INTEGER))
FUNCTIONS.register("to_real", 1, 1, returns(REAL, NUM | STR))(_to_number(REAL))
FUNCTIONS.register("to_number", 1, 1, returns(REAL, NUM | STR))(_to_number(REAL))


@FUNCTIONS.register("to_date", 1, 1, returns(DATE, STR | DATEISH))
def _to_date(args: Sequence[Any], kinds: Sequence[str], env: Env) -> np.ndarray:
    if kinds[0] == STRING:
        return map_rows(lambda s: parse_date(s, env.settings), args, kinds, REAL)
    return _date_part(args[0], kinds[0])


@FUNCTIONS.register("to_time", 1, 1, returns(TIME, STR | TIMEISH))
def _to_time(args: Sequence[Any], kinds: Sequence[str], env: Env) -> np.ndarray:
    if kinds[0] == STRING:
        return map_rows(lambda s: parse_time(s, env.settings), args, kinds, REAL)
    x = np.asarray(args[0], dtype=float)
    return x - np.floor(x / 86400.0) * 86400.0 if kinds[0] == TIMESTAMP else x.copy()


@FUNCTIONS.register("to_timestamp", 1, 1, returns(TIMESTAMP, STR | DATEISH))
def _to_timestamp(args: Sequence[Any], kinds: Sequence[str], env: Env) -> np.ndarray:
    if kinds[0] == STRING:
        return map_rows(lambda s: parse_timestamp(s, env.settings), args, kinds, REAL)
    x = np.asarray(args[0], dtype=float)
    return x * 86400.0 if kinds[0] == DATE else x.copy()


def _to_datetime_typer(kinds: Sequence[str]) -> str:
    """to_datetime keeps a date, time or timestamp as it is and reads a string as a timestamp."""
    need(kinds, STR | TEMPORALS, "a string, date, time or timestamp")
    return TIMESTAMP if kinds[0] in (STRING, NULL) else kinds[0]


@FUNCTIONS.register("to_datetime", 1, 1, _to_datetime_typer)
def _to_datetime(args: Sequence[Any], kinds: Sequence[str], env: Env) -> np.ndarray:
    if kinds[0] == STRING:
        return map_rows(lambda s: parse_timestamp(s, env.settings), args, kinds, REAL)
    return np.asarray(args[0], dtype=float).copy()


def _date_part(x: np.ndarray, kind: str) -> np.ndarray:
    x = np.asarray(x, dtype=float)
    return np.floor(x / 86400.0) if kind == TIMESTAMP else x.copy()


@FUNCTIONS.register("datetime_date", 1, 1, returns(DATE, NUM | STR | DATEISH))
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
FUNCTIONS.register("date_days_difference", 2, 2, returns(INTEGER, DATEISH))(_difference(1.0, True))
FUNCTIONS.register("date_weeks_difference", 2, 2, returns(REAL, DATEISH))(_difference(7.0, False))
FUNCTIONS.register("date_months_difference", 2, 2, returns(REAL, DATEISH))(_difference(30.4375, False))
FUNCTIONS.register("date_years_difference", 2, 2, returns(REAL, DATEISH))(_difference(365.25, False))


def _since_baseline(unit_days: float, whole: bool) -> Impl:
    def impl(args: Sequence[Any], kinds: Sequence[str], env: Env) -> np.ndarray:
        days = _days(args[0], kinds[0]) - env.settings.baseline_days
        return np.floor(days) if whole else days / unit_days

    return impl


FUNCTIONS.register("date_in_days", 1, 1, returns(INTEGER, DATEISH))(_since_baseline(1.0, True))
FUNCTIONS.register("date_in_weeks", 1, 1, returns(REAL, DATEISH))(_since_baseline(7.0, False))
FUNCTIONS.register("date_in_months", 1, 1, returns(REAL, DATEISH))(_since_baseline(30.4375, False))
FUNCTIONS.register("date_in_years", 1, 1, returns(REAL, DATEISH))(_since_baseline(365.25, False))


@FUNCTIONS.register("date_before", 2, 2, returns(BOOLEAN, DATEISH))
def _date_before(args: Sequence[Any], kinds: Sequence[str], env: Env) -> np.ndarray:
    d1, d2 = _days(args[0], kinds[0]), _days(args[1], kinds[1])
    with np.errstate(invalid="ignore"):
        return from_bool(d1 < d2, np.isnan(d1) | np.isnan(d2))


def _calendar(part: Callable[[_dt.date], Any], out: str) -> Impl:
    def impl(args: Sequence[Any], kinds: Sequence[str], env: Env) -> np.ndarray:
        days = _date_part(args[0], kinds[0])
        return map_rows(lambda d: part(EPOCH + _dt.timedelta(days=int(d))), [days], [REAL], out)

    return impl


FUNCTIONS.register("datetime_year", 1, 1, returns(INTEGER, DATEISH))(_calendar(lambda d: d.year, REAL))
FUNCTIONS.register("datetime_month", 1, 1, returns(INTEGER, DATEISH))(_calendar(lambda d: d.month, REAL))
FUNCTIONS.register("datetime_day", 1, 1, returns(INTEGER, DATEISH))(_calendar(lambda d: d.day, REAL))
# datetime_weekday: 1 for Sunday through 7 for Saturday
FUNCTIONS.register("datetime_weekday", 1, 1, returns(INTEGER, DATEISH))(
    _calendar(lambda d: (d.isoweekday() % 7) + 1, REAL)
)
FUNCTIONS.register("datetime_day_name", 1, 1, returns(STRING, DATEISH))(
    _calendar(lambda d: calendar.day_name[d.weekday()], STRING)
)
FUNCTIONS.register("datetime_day_short_name", 1, 1, returns(STRING, DATEISH))(
    _calendar(lambda d: calendar.day_abbr[d.weekday()], STRING)
)
# ISO 8601 calendar: weeks start on Monday; week 1 holds the year's first Thursday
FUNCTIONS.register("date_iso_day", 1, 1, returns(INTEGER, DATEISH))(_calendar(lambda d: d.isoweekday(), REAL))
FUNCTIONS.register("date_iso_week", 1, 1, returns(INTEGER, DATEISH))(_calendar(lambda d: d.isocalendar()[1], REAL))
FUNCTIONS.register("date_iso_year", 1, 1, returns(INTEGER, DATEISH))(_calendar(lambda d: d.isocalendar()[0], REAL))
FUNCTIONS.register("datetime_month_name", 1, 1, returns(STRING, DATEISH))(
    _calendar(lambda d: calendar.month_name[d.month], STRING)
)
FUNCTIONS.register("datetime_month_short_name", 1, 1, returns(STRING, DATEISH))(
    _calendar(lambda d: calendar.month_abbr[d.month], STRING)
)


def _clock(seconds_per_unit: float, modulo: float) -> Impl:
    def impl(args: Sequence[Any], kinds: Sequence[str], env: Env) -> np.ndarray:
        x = np.asarray(args[0], dtype=float)
        return np.floor(x / seconds_per_unit) % modulo

    return impl


FUNCTIONS.register("datetime_hour", 1, 1, returns(INTEGER, TIMEISH))(_clock(3600.0, 24.0))
FUNCTIONS.register("datetime_minute", 1, 1, returns(INTEGER, TIMEISH))(_clock(60.0, 60.0))
FUNCTIONS.register("datetime_second", 1, 1, returns(INTEGER, TIMEISH))(_clock(1.0, 60.0))


def _add_days(per_unit: float) -> Impl:
    def impl(args: Sequence[Any], kinds: Sequence[str], env: Env) -> np.ndarray:
        n, d = np.asarray(args[0], dtype=float), np.asarray(args[1], dtype=float)
        return d + n * per_unit * (86400.0 if kinds[1] == TIMESTAMP else 1.0)

    return impl


def _add_typer(kinds: Sequence[str]) -> str:
    if kinds[0] not in (INTEGER, REAL, NULL) or kinds[1] not in (DATE, TIMESTAMP, NULL):
        raise ClemTypeError("expects a number and a date or timestamp")
    return kinds[1] if kinds[1] != NULL else DATE


FUNCTIONS.register("date_add_days", 2, 2, _add_typer)(_add_days(1.0))
FUNCTIONS.register("date_add_weeks", 2, 2, _add_typer)(_add_days(7.0))


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


FUNCTIONS.register("date_add_months", 2, 2, _add_typer)(_add_months(1))
FUNCTIONS.register("date_add_years", 2, 2, _add_typer)(_add_months(12))


@FUNCTIONS.register("@TODAY", 0, 0, returns(STRING))
def _today(args: Sequence[Any], kinds: Sequence[str], env: Env) -> np.ndarray:
    """Today's date as a string in the stream's date format, read when the record is scored."""
    days = float((_dt.date.today() - EPOCH).days)
    return np.full(env.n, to_text(DATE, days, env.settings), dtype=object)
