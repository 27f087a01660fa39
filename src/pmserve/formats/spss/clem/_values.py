"""CLEM values on whole columns: the kinds an expression can have, how each is held in a numpy
array, and the stream settings that conversions read.

Every kind is a 1-D array of the table's length, in the branch's column convention
(``_model.py``): ``integer``, ``real``, ``date`` (days since 1970-01-01), ``time`` (seconds since
midnight), ``timestamp`` (seconds since 1970-01-01T00:00:00) and ``boolean`` (1.0 true, 0.0
false) are ``float64`` with NaN for ``$null$``; ``string`` is ``object`` with ``None`` for
``$null$``.  Booleans are three-valued: a comparison with ``$null$`` is ``$null$``, ``and``/``or``
follow Kleene's tables.  Integer arithmetic is exact up to 2**53.
"""

from __future__ import annotations

import datetime as _dt
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from pmserve.errors import DocumentError

INTEGER, REAL, STRING, DATE, TIME, TIMESTAMP, BOOLEAN, NULL, LIST = (
    "integer", "real", "string", "date", "time", "timestamp", "boolean", "null", "list",
)
NUMBERS = frozenset({INTEGER, REAL})
TEMPORALS = frozenset({DATE, TIME, TIMESTAMP})
FLOAT_KINDS = frozenset({INTEGER, REAL, DATE, TIME, TIMESTAMP, BOOLEAN, NULL})

#: The stream date and time formats pmserve reads and writes.  ``format23`` is the code every
#: sample stream carries with ISO dates in its data (2005-01-31); ``format4`` the time format
#: they carry.  Other codes are refused where a conversion would need them.
DATE_FORMATS: Mapping[str, str] = {"format23": "%Y-%m-%d"}
TIME_FORMATS: Mapping[str, str] = {"format4": "%H:%M:%S"}
EPOCH = _dt.date(1970, 1, 1)
EPOCH_STAMP = _dt.datetime(1970, 1, 1)


@dataclass(frozen=True)
class ClemSettings:
    """The stream properties CLEM reads (spss-str-format.md §3.1), with Modeler's defaults."""

    date_format: str = "format23"
    time_format: str = "format4"
    date_baseline: int = 1900
    angles_in_radians: bool = True

    @classmethod
    def from_properties(cls, properties: Mapping[str, str]) -> ClemSettings:
        baseline = properties.get("dateBaseline", "1900").strip() or "1900"
        return cls(
            date_format=properties.get("dateFormat", "format23").strip() or "format23",
            time_format=properties.get("timeFormat", "format4").strip() or "format4",
            date_baseline=int(baseline) if baseline.lstrip("-").isdigit() else 1900,
            angles_in_radians=properties.get("anglesInRadians", "true").strip().lower() != "false",
        )

    @property
    def baseline_days(self) -> float:
        """The stream's base date (1 January of ``dateBaseline``) in days since 1970-01-01."""
        return float((_dt.date(self.date_baseline, 1, 1) - EPOCH).days)


def storage_of(kind: str) -> str:
    """The storage a derived field of this kind has (booleans become the strings T and F)."""
    if kind in (INTEGER, REAL, STRING, DATE, TIME, TIMESTAMP):
        return kind
    if kind == BOOLEAN:
        return STRING
    return REAL  # a value that is always $null$


def kind_of_storage(storage: str) -> str | None:
    return storage if storage in (INTEGER, REAL, STRING, DATE, TIME, TIMESTAMP) else None


def full(kind: str, value: Any, n: int) -> np.ndarray:
    """A constant column."""
    if kind == STRING:
        return np.full(n, value, dtype=object)
    if value is None:
        return np.full(n, np.nan)
    return np.full(n, float(value))


def nulls(kind: str, n: int) -> np.ndarray:
    return np.full(n, None, dtype=object) if kind == STRING else np.full(n, np.nan)


def is_null(kind: str, values: np.ndarray) -> np.ndarray:
    if kind == STRING:
        return np.fromiter((v is None for v in values), dtype=bool, count=len(values))
    out: np.ndarray = np.isnan(values)
    return out


def map_rows(fn: Callable[..., Any], args: Sequence[np.ndarray], kinds: Sequence[str], out_kind: str) -> np.ndarray:
    """Apply a per-value function over columns; any ``$null$`` argument gives ``$null$``.

    Numbers reach ``fn`` as Python floats, strings as ``str``; ``fn`` returns None for ``$null$``.
    A value outside what the function can represent (a date past year 9999, an infinite count)
    gives ``$null$`` rather than failing the request.  The ``$null$`` rows are found on whole
    columns first, so the Python loop runs only over the rows that need it.
    """
    n = len(args[0]) if args else 0
    valid = np.ones(n, dtype=bool)
    for a in args:
        valid &= (a != None) if a.dtype == object else np.isfinite(a)  # noqa: E711 - element-wise on an object array
    rows = np.flatnonzero(valid)
    columns = [a[rows].tolist() for a in args]
    try:
        values = [fn(*row) for row in zip(*columns, strict=True)]
    except (OverflowError, ValueError):  # rare: find the rows at fault one by one
        values = [_guarded(fn, row) for row in zip(*columns, strict=True)]
    if out_kind == STRING:
        text = np.full(n, None, dtype=object)
        text[rows] = values
        return text
    out = np.full(n, np.nan)
    out[rows] = [np.nan if v is None else v for v in values]
    return out


def _guarded(fn: Callable[..., Any], row: Sequence[Any]) -> Any:
    try:
        return fn(*row)
    except (OverflowError, ValueError):
        return None


def as_bool(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(true, null)`` masks of a boolean column."""
    null = np.isnan(values)
    return (values == 1.0) & ~null, null


def from_bool(true: np.ndarray, null: np.ndarray | None = None) -> np.ndarray:
    out = np.where(true, 1.0, 0.0)
    if null is not None:
        out[null] = np.nan
    return out


# -- text forms of values -------------------------------------------------------------------------


def format_real(value: float) -> str:
    """A real as ``to_string`` writes it: six digits after the point (IBM's conversion table)."""
    return f"{value:.6f}"


def format_integer(value: float) -> str:
    return str(int(value))


def format_date(days: float, settings: ClemSettings) -> str:
    return (EPOCH + _dt.timedelta(days=math.floor(days))).strftime(DATE_FORMATS[settings.date_format])


def format_time(seconds: float, settings: ClemSettings) -> str:
    s = math.floor(seconds) % 86400
    return (_dt.datetime(2000, 1, 1) + _dt.timedelta(seconds=s)).strftime(TIME_FORMATS[settings.time_format])


def format_timestamp(seconds: float, settings: ClemSettings) -> str:
    stamp = EPOCH_STAMP + _dt.timedelta(seconds=math.floor(seconds))
    return stamp.strftime(DATE_FORMATS[settings.date_format] + " " + TIME_FORMATS[settings.time_format])


def to_text(kind: str, value: Any, settings: ClemSettings) -> str:
    if kind == STRING:
        return str(value)
    if kind == INTEGER:
        return format_integer(value)
    if kind == REAL:
        return format_real(value)
    if kind == DATE:
        return format_date(value, settings)
    if kind == TIME:
        return format_time(value, settings)
    if kind == TIMESTAMP:
        return format_timestamp(value, settings)
    if kind == BOOLEAN:
        return "T" if value == 1.0 else "F"
    return str(value)


def parse_date(text: str, settings: ClemSettings) -> float | None:
    try:
        day = _dt.datetime.strptime(text.strip(), DATE_FORMATS[settings.date_format]).date()
    except ValueError:
        return None
    return float((day - EPOCH).days)


def parse_time(text: str, settings: ClemSettings) -> float | None:
    try:
        t = _dt.datetime.strptime(text.strip(), TIME_FORMATS[settings.time_format])
    except ValueError:
        return None
    return float(t.hour * 3600 + t.minute * 60 + t.second)


def parse_timestamp(text: str, settings: ClemSettings) -> float | None:
    """A timestamp in the stream's date and time formats; a date alone is its midnight."""
    text = text.strip()
    fmt = DATE_FORMATS[settings.date_format] + " " + TIME_FORMATS[settings.time_format]
    for pattern in (fmt, DATE_FORMATS[settings.date_format]):
        try:
            stamp = _dt.datetime.strptime(text, pattern)
        except ValueError:
            continue
        return (stamp - EPOCH_STAMP).total_seconds()
    return None


def parse_number(text: str) -> float | None:
    try:
        value = float(text.strip())
    except ValueError:
        return None
    return value if math.isfinite(value) else None


class ClemTypeError(DocumentError):
    """Raised by a function's type rule at compile time; the compiler re-raises it as a
    DocumentError naming the node, the expression and the offset."""


@dataclass(frozen=True)
class Env:
    """What evaluation reads: the table, the stream's settings, and the field ``@FIELD`` stands for."""

    columns: Mapping[str, np.ndarray]
    n: int
    settings: ClemSettings
