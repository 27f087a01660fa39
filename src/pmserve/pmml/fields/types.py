"""PMML data types and the one columnar representation used inside the engine.

Every column inside the engine is a 1-D numpy array of one of two kinds:

* **numeric** - ``float64``, ``NaN`` means missing.  Used for ``integer``, ``float``, ``double``,
  ``boolean`` (1.0 / 0.0) and every temporal type: ``date`` is days since 1970-01-01,
  ``time`` seconds since midnight, ``dateTime`` seconds since 1970-01-01T00:00:00, and the
  ``dateDaysSince[Y]`` / ``dateTimeSecondsSince[Y]`` types count from 1 January of year Y.
  ``float`` values are rounded to float32 precision (stored in float64) because PMML's float is
  IEEE single precision and producers such as scikit-learn compare in float32.
* **string** - ``object`` array of ``str``, ``None`` means missing.

Which of the two a column is follows from its static :class:`DataType`, known at compile time.
"""

from __future__ import annotations

import datetime as _dt
import enum
import itertools
import json
import math
import re
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from pmserve.errors import excerpt

Array = npt.NDArray[Any]

_EPOCH_DATE = _dt.date(1970, 1, 1)
_EPOCH_DATETIME = _dt.datetime(1970, 1, 1)


class DataType(enum.Enum):
    STRING = "string"
    INTEGER = "integer"
    FLOAT = "float"
    DOUBLE = "double"
    BOOLEAN = "boolean"
    DATE = "date"
    TIME = "time"
    DATE_TIME = "dateTime"
    DATE_DAYS_SINCE_0 = "dateDaysSince[0]"
    DATE_DAYS_SINCE_1960 = "dateDaysSince[1960]"
    DATE_DAYS_SINCE_1970 = "dateDaysSince[1970]"
    DATE_DAYS_SINCE_1980 = "dateDaysSince[1980]"
    TIME_SECONDS = "timeSeconds"
    DATE_TIME_SECONDS_SINCE_0 = "dateTimeSecondsSince[0]"
    DATE_TIME_SECONDS_SINCE_1960 = "dateTimeSecondsSince[1960]"
    DATE_TIME_SECONDS_SINCE_1970 = "dateTimeSecondsSince[1970]"
    DATE_TIME_SECONDS_SINCE_1980 = "dateTimeSecondsSince[1980]"

    @property
    def is_string(self) -> bool:
        return self is DataType.STRING

    @property
    def is_numeric(self) -> bool:
        """Stored as float64 (every type but string)."""
        return self is not DataType.STRING

    @property
    def is_number(self) -> bool:
        """A plain number: integer, float or double."""
        return self in (DataType.INTEGER, DataType.FLOAT, DataType.DOUBLE)

    @property
    def is_temporal(self) -> bool:
        return not (self.is_string or self.is_number or self is DataType.BOOLEAN)

    @property
    def since_year(self) -> int | None:
        m = re.search(r"\[(\d+)\]", self.value)
        return int(m.group(1)) if m else None

    @classmethod
    def parse(cls, text: str) -> DataType:
        try:
            return cls(text)
        except ValueError:
            raise ValueError(
                f"dataType must be one of {', '.join(t.value for t in cls)}; got {text!r}"
            ) from None


def optype_of(dtype: DataType) -> str:
    """The optype of a value of ``dtype`` where none is written: strings are categorical."""
    return "categorical" if dtype.is_string else "continuous"


def empty(dtype: DataType, n: int) -> Array:
    """A column of ``n`` missing values of ``dtype``."""
    if dtype.is_string:
        return np.full(n, None, dtype=object)
    return np.full(n, np.nan)


def is_missing(values: Array) -> npt.NDArray[np.bool_]:
    """Missing-value mask of an engine column of either kind."""
    if values.dtype == object:
        out: npt.NDArray[np.bool_] = np.asarray(values == None, dtype=bool)  # noqa: E711 - elementwise
        return out
    return np.isnan(values)


def any_missing(columns: Iterable[Array], n: int) -> npt.NDArray[np.bool_]:
    """The rows where any of the columns (of ``n`` rows each) is missing."""
    out = np.zeros(n, dtype=bool)
    for column in columns:
        out |= is_missing(column)
    return out


def to_float32(values: Array) -> Array:
    """Round float64 values to float32 precision, kept in float64 (PMML ``float``)."""
    with np.errstate(over="ignore"):
        return values.astype(np.float32).astype(np.float64)


# -- parsing PMML text (attribute values, Value/@value, InlineTable cells) -------------------------

_BOOL_TRUE = frozenset({"true", "1", "yes", "t", "y"})
_BOOL_FALSE = frozenset({"false", "0", "no", "f", "n"})


#: What a number is, as text: JSON's and CSV's decimal numbers (ASCII digits only, no '_'
#: separators), with the spellings of special values that XML Schema and Java (the reference)
#: read in quoted numbers.
_NUMBER = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|[+-]?(?i:inf|infinity)|(?i:nan)")


def parse_number(text: str) -> float:
    """The one reading of a number written as text (PMML attributes, quoted JSON and CSV cells).

    Stricter than ``float()``: no digit group separators and no non-ASCII digits.  Raises
    ``ValueError`` quoting a short prefix of the text.
    """
    s = text.strip()
    if not _NUMBER.fullmatch(s):
        raise ValueError(f"expected a number, got {excerpt(text)}")
    return float(s)


def parse_scalar(dtype: DataType, text: str) -> float | str:
    """Turn one PMML text value into the engine's scalar for ``dtype``.

    Raises ``ValueError`` with a message saying what was expected.
    """
    if dtype.is_string:
        return text
    s = text.strip()
    if dtype.is_number:
        x = parse_number(s)
        if dtype is DataType.INTEGER and math.isfinite(x) and x != math.floor(x):
            raise ValueError(f"expected an integer, got {excerpt(text)}")
        if dtype is DataType.FLOAT:
            x = float(np.float32(x))
        return x
    if dtype is DataType.BOOLEAN:
        low = s.lower()
        if low in _BOOL_TRUE:
            return 1.0
        if low in _BOOL_FALSE:
            return 0.0
        raise ValueError(f"expected a boolean (true/false), got {excerpt(text)}")
    return parse_temporal(dtype, s)


def parse_temporal(dtype: DataType, text: str) -> float:
    """Parse an ISO 8601 date/time/dateTime text, or a count, into the engine's float."""
    try:
        if dtype is DataType.DATE:
            return float((_dt.date.fromisoformat(text[:10]) - _EPOCH_DATE).days)
        if dtype is DataType.DATE_TIME:
            d = _dt.datetime.fromisoformat(text)
            return (d.replace(tzinfo=None) - _EPOCH_DATETIME).total_seconds()
        if re.fullmatch(r"-?[0-9]+(\.[0-9]+)?", text):
            return float(text)  # every other temporal type counts seconds or days
        if dtype in (DataType.TIME, DataType.TIME_SECONDS):
            t = _dt.time.fromisoformat(text)
            return t.hour * 3600.0 + t.minute * 60.0 + t.second + t.microsecond / 1e6
        year = dtype.since_year
        if year is not None:
            if dtype.value.startswith("dateDaysSince"):
                return float((_dt.date.fromisoformat(text[:10]) - _year_start(year).date()).days)
            d = _dt.datetime.fromisoformat(text)
            return (d.replace(tzinfo=None) - _year_start(year)).total_seconds()
    except ValueError:
        pass
    raise ValueError(f"expected a {dtype.value} value, got {excerpt(text)}")


def _year_start(year: int) -> _dt.datetime:
    if year == 0:
        # Year 0 does not exist in the proleptic Gregorian calendar; ISO 8601 year 0 is 1 BC.
        # 0000-01-01 is 366 days (a leap year) before 0001-01-01.
        return _dt.datetime(1, 1, 1) - _dt.timedelta(days=366)
    return _dt.datetime(year, 1, 1)


def epoch_offset_days(year: int) -> float:
    """Days from 1 January ``year`` to 1970-01-01."""
    return float((_EPOCH_DATETIME - _year_start(year)).days)


#: Integers are returned as Python ints inside the 64-bit range (what JSON encoders and the
#: reference's Long hold); beyond it a result stays a float.
_INT64 = 2.0**63


def format_scalar(dtype: DataType, value: Any) -> Any:
    """Engine scalar to the plain Python value returned to users (None for missing)."""
    if value is None:
        return None
    if dtype.is_string:
        return value
    x = float(value)
    if math.isnan(x):
        return None
    if dtype is DataType.INTEGER:
        return int(x) if math.isfinite(x) and abs(x) < _INT64 else x
    if dtype is DataType.BOOLEAN:
        return x != 0.0
    if dtype is DataType.DATE:
        return (_EPOCH_DATE + _dt.timedelta(days=x)).isoformat()
    if dtype is DataType.DATE_TIME:
        return (_EPOCH_DATETIME + _dt.timedelta(seconds=x)).isoformat()
    if dtype is DataType.TIME:
        return (_dt.datetime(2000, 1, 1) + _dt.timedelta(seconds=x)).time().isoformat()
    if dtype.since_year is not None:
        return int(x) if math.isfinite(x) and abs(x) < _INT64 and x == math.floor(x) else x
    return x


def to_python_list(dtype: DataType, values: Array) -> list[Any]:
    """A whole engine column as plain Python values (None for missing)."""
    if dtype.is_string:
        return list(values)
    if dtype in (DataType.FLOAT, DataType.DOUBLE):
        out: list[Any] = values.tolist()
        return [None if v != v else v for v in out] if np.isnan(values).any() else out
    if dtype in (DataType.INTEGER, DataType.BOOLEAN):
        # Whole-column conversions of what format_scalar does value by value.
        nan = np.isnan(values)
        if dtype is DataType.BOOLEAN:
            out = (values != 0.0).tolist()
        else:
            exact = np.isfinite(values) & (np.abs(values) < 2.0**62)
            if not exact.all():
                return [format_scalar(dtype, v) for v in values.tolist()]
            out = values.astype(np.int64).tolist()
        if nan.any():
            for i in np.flatnonzero(nan).tolist():
                out[i] = None
        return out
    return [format_scalar(dtype, v) for v in values.tolist()]


#: Cell types a numeric column converts in one numpy call (None becomes NaN), exactly as the
#: cell-by-cell rules below would; np.float64 is a float subclass.  A bool is a number only to a
#: boolean field (JSON's true is no number).
_PLAIN_NUMBERS = frozenset({float, int, type(None), np.float64})
_PLAIN_BOOLEANS = _PLAIN_NUMBERS | {bool}
_STRINGS_OR_NAN = frozenset({str, type(None), float})


def coerce_column(dtype: DataType, raw: Sequence[Any] | Array, field: str) -> tuple[Array, dict[int, str]]:
    """Convert user-supplied values (numbers, strings, None, numpy arrays) to an engine column.

    Returns the column and ``{row: message}`` for values that cannot be read as ``dtype``; those
    rows hold a missing value in the column.  Empty strings and None are missing values.
    """
    is_string = dtype is DataType.STRING
    if not is_string and isinstance(raw, np.ndarray) and raw.dtype.kind in "fiub":
        return _from_numbers(dtype, raw.astype(np.float64, copy=True), raw, field)
    # JSON rows and pandas object columns: one look at the cell types picks a whole-column
    # conversion; only columns mixing in other kinds of cells are read cell by cell.
    kinds = set(map(type, raw))
    if is_string:
        if kinds <= _STRINGS_OR_NAN:
            out = np.empty(len(raw), dtype=object)
            out[:] = raw
            if float in kinds:
                # pandas marks missing strings NaN; any other float is read cell by cell.
                out[out != out] = None
                if float in set(map(type, out)):
                    return _strings_by_cell(raw), {}
            out[out == ""] = None
            return out, {}
        return _strings_by_cell(raw), {}
    if kinds <= (_PLAIN_BOOLEANS if dtype is DataType.BOOLEAN else _PLAIN_NUMBERS):
        return _from_numbers(dtype, np.asarray(raw, dtype=np.float64), raw, field)
    return _numbers_by_cell(dtype, raw, field)


#: Containers of a column's cells as JSON gives them.
CELL_LISTS = frozenset({list, tuple})


class NumericInputs:
    """Numeric fields converted together, in one numpy call, when each is given as a list of
    plain numbers (the JSON shape of /pm/v1): a few records cost a few numpy calls in all rather
    than a few per field.  What the conversion needs of the fields is worked out once."""

    def __init__(self, fields: Sequence[tuple[str, DataType]]) -> None:
        self.fields = tuple(fields)
        self.names = tuple(name for name, _ in fields)
        self.floats = [i for i, (_, dtype) in enumerate(fields) if dtype is DataType.FLOAT]
        self.has_integer = any(dtype is DataType.INTEGER for _, dtype in fields)
        # Integer fields report fractional cells row by row: a whole request takes the general path.
        self.usable = bool(fields) and all(dtype.is_number for _, dtype in fields) and not self.has_integer

    def convert(self, columns: Any) -> dict[str, Array] | None:
        """Every field's column, or None for any other shape (the caller then converts field by
        field with :func:`coerce_column`)."""
        if not self.usable:
            return None
        try:
            raws = [columns[name] for name in self.names]
        except KeyError:
            return None
        if not set(map(type, raws)) <= CELL_LISTS:
            return None
        got = self.columns(raws)
        if got is None:
            return None
        return {name: column for name, (column, _) in zip(self.names, got, strict=True)}

    def columns(self, raws: Sequence[Sequence[Any]]) -> list[tuple[Array, dict[int, str]]] | None:
        """:func:`coerce_column` of every field, or None unless every cell is a plain number or
        None and the columns are equally long; the columns are then rows of one block."""
        cells = list(itertools.chain.from_iterable(raws))
        if not set(map(type, cells)) <= _PLAIN_NUMBERS:
            return None
        lengths = set(map(len, raws))
        if len(lengths) > 1:
            return None
        # None becomes NaN (missing), as coerce_column reads it.
        block = np.array(cells, dtype=np.float64).reshape(len(raws), lengths.pop() if lengths else 0)
        if len(self.floats) == len(self.fields):
            block = to_float32(block)
        elif self.floats:
            block[self.floats] = to_float32(block[self.floats])
        if not self.has_integer:
            return [(column, {}) for column in block]
        return [_from_numbers(dtype, column, raw, name) if dtype is DataType.INTEGER else (column, {})
                for column, (name, dtype), raw in zip(block, self.fields, raws, strict=True)]


def _from_numbers(dtype: DataType, col: Array, raw: Sequence[Any] | Array, field: str) -> tuple[Array, dict[int, str]]:
    """Finish a float64 column read from numbers: integers checked, floats rounded (``col`` is owned)."""
    bad: dict[int, str] = {}
    if dtype is DataType.FLOAT:
        col = to_float32(col)
    elif dtype is DataType.INTEGER:
        frac = np.isfinite(col) & (col != np.floor(col))
        if frac.any():
            for i in np.flatnonzero(frac).tolist():
                bad[i] = _bad_message(field, dtype, raw[i])
            col[frac] = np.nan
    return col, bad


def _strings_by_cell(raw: Sequence[Any] | Array) -> Array:
    out = np.empty(len(raw), dtype=object)
    for i, v in enumerate(raw):
        if v is None or (isinstance(v, float) and v != v):
            out[i] = None
        elif isinstance(v, str):
            out[i] = v if v != "" else None
        elif isinstance(v, bool):
            out[i] = "true" if v else "false"
        elif isinstance(v, float) and v.is_integer():
            # A JSON/CSV number for a string field: 1.0 and 1 name the same category.
            out[i] = str(int(v))
        else:
            out[i] = str(v)
    return out


def _numbers_by_cell(dtype: DataType, raw: Sequence[Any] | Array, field: str) -> tuple[Array, dict[int, str]]:
    bad: dict[int, str] = {}
    col = np.empty(len(raw), dtype=np.float64)
    for i, v in enumerate(raw):
        if v is None:
            col[i] = np.nan
        elif isinstance(v, bool):
            if dtype is DataType.BOOLEAN:
                col[i] = 1.0 if v else 0.0
            else:
                bad[i] = _bad_message(field, dtype, v)
                col[i] = np.nan
        elif isinstance(v, (int, float)) and dtype.is_number:
            x = float(v)
            if dtype is DataType.INTEGER and math.isfinite(x) and x != math.floor(x):
                bad[i] = _bad_message(field, dtype, v)
                x = math.nan
            col[i] = x
        elif isinstance(v, (int, float)):
            col[i] = float(v)
        else:
            s = str(v)
            if s.strip() == "":
                col[i] = np.nan
                continue
            try:
                col[i] = parse_scalar(dtype, s)
            except ValueError:
                bad[i] = _bad_message(field, dtype, v)
                col[i] = np.nan
    if dtype is DataType.FLOAT:
        col = to_float32(col)
    return col, bad


def coerce_collection(raw: Sequence[Any] | Array, field: str) -> tuple[Array, dict[int, str]]:
    """User-supplied collections of items (one basket per record) to an object column of tuples.

    A cell may be a list, tuple, set or numpy array of items, or a JSON array as text (as CSV
    files hold them); None, NaN and "" are missing.  Items become strings as in a string column.
    Returns the column and ``{row: message}`` for cells that are no collection.
    """
    bad: dict[int, str] = {}
    out = np.empty(len(raw), dtype=object)
    for i, v in enumerate(raw):
        if isinstance(v, str):
            if v.strip() == "":
                out[i] = None
                continue
            try:
                v = json.loads(v)
            except ValueError:
                v = None
            if not isinstance(v, list):
                bad[i] = _not_a_collection(field, raw[i])
                out[i] = None
                continue
        if v is None or (isinstance(v, float) and v != v):
            out[i] = None
        elif isinstance(v, (list, tuple, set, frozenset, np.ndarray)):
            items, _ = coerce_column(DataType.STRING, list(v), field)
            out[i] = tuple(x for x in items.tolist() if x is not None)
        else:
            bad[i] = _not_a_collection(field, v)
            out[i] = None
    return out, bad


def _not_a_collection(field: str, value: Any) -> str:
    return f"field {field!r} expects a collection of items (a list, or a JSON array), got {excerpt(value)}"


def _bad_message(field: str, dtype: DataType, value: Any) -> str:
    if isinstance(value, np.generic):
        value = value.item()  # a cell of a numpy column: 5.5, not np.float64(5.5)
    kind = {
        DataType.INTEGER: "an integer",
        DataType.FLOAT: "a number",
        DataType.DOUBLE: "a number",
        DataType.BOOLEAN: "a boolean (true/false)",
    }.get(dtype, f"a {dtype.value} value")
    return f"field {field!r} expects {kind}, got {excerpt(value)}"
