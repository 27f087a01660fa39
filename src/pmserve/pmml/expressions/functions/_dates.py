"""Date and time functions, and formatDatetime with Java's date conversions."""

from __future__ import annotations

import datetime as _dt
import functools
import math
from collections.abc import Callable, Sequence

import numpy as np

from pmserve.pmml.expressions.functions._args import _DAY, _num, _objects, _str
from pmserve.pmml.fields.types import Array, DataType, epoch_offset_days

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
    each = zip(seconds.tolist(), patterns, strict=True)
    return _objects((_format_datetime_one(s, p) for s, p in each), len(seconds))
