"""Source nodes: the tables a score request replaces, read into columns by storage.

A source's fields are its ``importedFields`` (file order, storage as Modeler detected it; format
§3.5) minus its Filter tab (dropped fields do not leave the source; ``newName`` renames), with
measure, role and values from its Types tab.  A source without ``importedFields`` (database and
extension imports) is described by its ``cachedDataModel``, the fields after the node.

At scoring time the request's cells - JSON numbers or strings, CSV text - become columns of the
field's storage: float64 with NaN for numbers and times, object with None for strings; ``null``
and ``""`` are missing values.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, TypeVar

import numpy as np
from lxml import etree

from pmserve.errors import DataError, DocumentError, InvalidValueError, MissingFieldError
from pmserve.formats.spss._model import Node, NodeCompiler, SpssField, StreamContext, Table
from pmserve.formats.spss.nodes._type import apply_type_rows, read_type_table

SOURCE_CLASSES = ("DelimitedFileImportNode", "FixedFileImportNode", "ExcelImportNode", "StatisticsImportNode",
                  "DatabaseImportNode", "CFImportNode", "UserInputNode", "XMLImportNode", "JSONImportNode",
                  "SASImportNode")
NUMERIC = frozenset({"integer", "real"})
_EPOCH = dt.date(1970, 1, 1)
_T = TypeVar("_T")


def spss_field(element: etree._Element) -> SpssField:
    """A ``<field>``/``<input>``/``<output>`` element: ``name`` and ``type/{storage,measure,values}``."""
    name = element.findtext("name") or element.get("name") or ""
    type_el = element.find("type")
    if type_el is None:
        return SpssField(name)
    storage = (type_el.findtext("storage") or "unknown").strip()
    measure = (type_el.findtext("measure") or "auto").strip()
    values = tuple(_typed(v) for v in type_el.iterfind("values/value"))
    direction = (element.findtext("direction") or "in").strip() or "in"
    return SpssField(name, storage, measure, direction, values)


def _typed(value: etree._Element) -> Any:
    """A typed literal (``type`` = Java descriptor letter, format §3.5)."""
    text = value.text or ""
    code = value.get("type", "A")
    try:
        if code in ("D", "F"):
            return float(text)
        if code in ("J", "I", "S", "B"):
            return int(text)
        if code == "Z":
            return text.strip().lower() == "true"
    except ValueError:
        return text
    return text


@dataclass(eq=False)
class SourceNode:
    """A compiled source: its table name and fields; ``read`` turns request cells into columns."""

    node: Node
    fields: tuple[SpssField, ...]

    @property
    def output_fields(self) -> tuple[SpssField, ...]:
        return self.fields

    @property
    def tablename(self) -> str:
        return self.node.display_name

    def run(self, inputs: Sequence[Table]) -> Table:
        if len(inputs) != 1:
            raise DataError(f"{self.node.describe()} reads exactly one table, got {len(inputs)}",
                            node=self.node.describe())
        return inputs[0]

    def read(self, header: Sequence[str], rows: Sequence[Sequence[Any]]) -> Table:
        """The request's rows as this source's columns (extra request columns are ignored)."""
        position = {name: i for i, name in enumerate(header)}
        columns: dict[str, np.ndarray] = {}
        for f in self.fields:
            index = position.get(f.name)
            if index is None:
                raise MissingFieldError(
                    f"the input table {self.tablename!r} has no column {f.name!r}; the source node expects "
                    f"{', '.join(repr(x.name) for x in self.fields)}", field=f.name, table=self.tablename)
            columns[f.name] = convert_column(f, [row[index] for row in rows])
        return Table(self.fields, columns, len(rows))


def convert_column(f: SpssField, cells: Sequence[Any]) -> np.ndarray:
    """Cells of one field as a column of its storage (engine convention, see ``_model``)."""
    if f.storage in NUMERIC:
        if all((isinstance(c, (int, float)) and not isinstance(c, bool)) or c is None for c in cells):
            return np.asarray(cells, dtype=np.float64)  # None becomes NaN
        return np.array([_number(f, c, i) for i, c in enumerate(cells)], dtype=np.float64)
    if f.storage == "date":
        return np.array([_date(f, c, i) for i, c in enumerate(cells)], dtype=np.float64)
    if f.storage == "timestamp":
        return np.array([_timestamp(f, c, i) for i, c in enumerate(cells)], dtype=np.float64)
    if f.storage == "time":
        return np.array([_time(f, c, i) for i, c in enumerate(cells)], dtype=np.float64)
    out = np.empty(len(cells), dtype=object)
    if all(type(c) is str and c.strip() for c in cells):
        out[:] = cells
        return out
    for i, c in enumerate(cells):
        out[i] = _string(f, c, i)
    return out


def _bad(f: SpssField, value: Any, row: int, expected: str) -> InvalidValueError:
    return InvalidValueError(f"field {f.name!r} ({f.storage}) expects {expected}, got {value!r:.80}",
                             field=f.name, value=value, row=row)


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _number(f: SpssField, value: Any, row: int) -> float:
    if _missing(value):
        return np.nan
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise _bad(f, value, row, "a number")
    try:
        number = float(value)
    except ValueError:
        raise _bad(f, value, row, "a number") from None
    if f.storage == "integer" and number == number and not number.is_integer():
        raise _bad(f, value, row, "an integer")
    return number


def _string(f: SpssField, value: Any, row: int) -> str | None:
    if _missing(value):
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _bad(f, value, row, "a string")
    return str(value)


def _date(f: SpssField, value: Any, row: int) -> float:
    day = _parsed(f, value, row, lambda text: dt.date.fromisoformat(text[:10]), "a date (YYYY-MM-DD)")
    return np.nan if day is None else float((day - _EPOCH).days)


def _timestamp(f: SpssField, value: Any, row: int) -> float:
    stamp = _parsed(f, value, row, dt.datetime.fromisoformat, "a timestamp (YYYY-MM-DD HH:MM:SS)")
    if stamp is None:
        return np.nan
    if stamp.tzinfo is not None:
        stamp = stamp.astimezone(dt.UTC).replace(tzinfo=None)
    return (stamp - dt.datetime(1970, 1, 1)).total_seconds()


def _time(f: SpssField, value: Any, row: int) -> float:
    t = _parsed(f, value, row, dt.time.fromisoformat, "a time (HH:MM:SS)")
    return np.nan if t is None else t.hour * 3600 + t.minute * 60 + t.second + t.microsecond / 1e6


def _parsed(f: SpssField, value: Any, row: int, parse: Callable[[str], _T], expected: str) -> _T | None:
    """A cell's text read by ``parse``; None for a missing value, a data error naming ``expected`` otherwise."""
    if _missing(value):
        return None
    try:
        return parse(str(value).strip())
    except ValueError:
        raise _bad(f, value, row, expected) from None


def python_values(f: SpssField, column: np.ndarray) -> list[Any]:
    """A whole column as the plain JSON values a reply carries (None for missing)."""
    if column.dtype == np.float64 and f.storage in NUMERIC:
        nan = np.isnan(column)
        if f.storage == "integer":
            exact = ~nan & (np.abs(column) < 2.0**53) & (column == np.floor(column))
            if not (exact | nan).all():
                return [python_value(f, v) for v in column.tolist()]
            out: list[Any] = np.where(nan, 0, column).astype(np.int64).tolist()
        else:
            out = column.tolist()
        if nan.any():
            for i in np.flatnonzero(nan).tolist():
                out[i] = None
        return out
    if f.storage == "string" and column.dtype == object:
        return [v if v is None or type(v) is str else python_value(f, v) for v in column.tolist()]
    return [python_value(f, v) for v in column.tolist()]


def python_value(f: SpssField, value: Any) -> Any:
    """One cell of a column as the plain JSON value a reply carries (None for missing)."""
    if value is None or (isinstance(value, float) and value != value):
        return None
    if f.storage == "string":
        return value if isinstance(value, str) else str(value)
    if f.storage == "date":
        return (_EPOCH + dt.timedelta(days=int(value))).isoformat()
    if f.storage == "timestamp":
        return (dt.datetime(1970, 1, 1) + dt.timedelta(seconds=float(value))).isoformat(sep=" ")
    if f.storage == "time":
        seconds = int(value)
        return f"{seconds // 3600:02d}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"
    if isinstance(value, (np.floating, float)):
        number = float(value)
        return int(number) if f.storage == "integer" and number.is_integer() else number
    if isinstance(value, np.integer):
        return int(value)
    return value.item() if isinstance(value, np.generic) else value


def compile_source(node: Node, inputs: Sequence[tuple[SpssField, ...]], context: StreamContext) -> SourceNode:
    if inputs:
        raise DocumentError(f"{node.describe()} is a source node but the stream links {len(inputs)} node(s) into it",
                            node=node.describe())
    imported = node.element.find("importedFields")
    if imported is not None:
        fields = tuple(spss_field(f) for f in imported.iterfind("field"))
        fields = apply_type_rows(_filter_tab(node, fields), read_type_table(node))  # the Types tab (§3.5)
    else:
        cached = node.element.find("cachedDataModel")
        if cached is None:
            raise DocumentError(f"{node.describe()} describes no fields (neither importedFields nor a "
                                f"cachedDataModel), so pmserve cannot know its input columns",
                                node=node.describe())
        fields = tuple(spss_field(f) for f in cached.iterfind("field"))
    if not fields:
        raise DocumentError(f"{node.describe()} passes no field on", node=node.describe())
    return SourceNode(node, fields)


def _filter_tab(node: Node, fields: tuple[SpssField, ...]) -> tuple[SpssField, ...]:
    table = node.element.find("properties/filterTable")
    if table is None:
        return fields
    default_drop = (table.findtext("defaultDrop") or "false").strip().lower() == "true"
    rows: dict[str, tuple[bool, str]] = {}
    for row in table.iterfind("rows/row"):
        name = row.findtext("name") or ""
        drop_text = (row.findtext("drop") or "").strip().lower()
        drop = default_drop if not drop_text else drop_text == "true"
        rows[name] = (drop, row.findtext("newName") or name)
    out: list[SpssField] = []
    for f in fields:
        drop, new_name = rows.get(f.name, (default_drop, f.name))
        if drop:
            continue
        if any(o.name == new_name for o in out):
            raise DocumentError(f"{node.describe()}: its Filter tab gives two fields the name {new_name!r}",
                                node=node.describe(), field=new_name)
        out.append(replace(f, name=new_name))
    return tuple(out)


_COMPILER: NodeCompiler = compile_source
COMPILERS: Mapping[str, NodeCompiler] = dict.fromkeys(SOURCE_CLASSES, _COMPILER)
