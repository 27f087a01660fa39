"""Scoring a request's tables with a deployed model: the shape of a score request
(:func:`parse_score_request`), a loaded model and what the request path knows of it
(:class:`Deployed`), and one table scored into its reply (:func:`score_table`).

No transport and no store: :class:`pmserve.service.Service` finds the model, this scores with it.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from pmserve.errors import (
    BadRequestError,
    DataError,
    DocumentError,
    EvaluationError,
    PayloadTooLargeError,
    PmserveError,
    RecordError,
    excerpt,
)
from pmserve.formats import RowTable, Scorable, TableScorable
from pmserve.pmml import DataType, Field, Scored
from pmserve.store import ModelVersion
from pmserve.tables import passthrough_columns


@dataclass(frozen=True)
class Deployed:
    """A compiled model and the stored version it came from."""

    record: ModelVersion
    model: Scorable
    #: CPU seconds one plain record took when the model was loaded (best of a few; inf when unknown).
    one_record_s: float = math.inf
    #: Whether a one-row request may take the model's one-record plan (``Scorable.score_one``):
    #: not for boolean results, whose infinity the JSON edge must refuse from the engine column.
    one_record_plan: bool = False
    #: A TableScorable (an SPSS stream), decided once: a runtime Protocol check costs microseconds.
    stream: bool = False


@dataclass(frozen=True)
class ScoreTable:
    """One table of a score request or reply: column names and rows."""

    header: list[str]
    data: list[list[Any]]
    tablename: str | None = None
    #: The same rows as one float64 array, when every cell is known to be a JSON number (see
    #: :func:`parse_score_request`): models reading only number fields take their columns from it.
    block: Any = None
    #: The rows were decoded for this request alone: the reply may extend them in place.
    owned: bool = False


def score_table(model_id: str, deployed: Deployed, table: ScoreTable) -> ScoreTable:
    """The input columns of ``table`` (those not named like a result), then the model's results."""
    expected = deployed.record.tablename
    if expected is not None and table.tablename is not None and table.tablename != expected:
        raise DataError(f"tablename {excerpt(table.tablename)} does not match the input table of model "
                        f"{model_id!r}; expected {expected!r}", field="tablename", value=table.tablename)
    width = len(table.header)
    for i, row in enumerate(() if table.block is not None else table.data):  # a block is rectangular
        if len(row) != width:
            raise RecordError(f"has {len(row)} values but the header names {width} fields", row=i,
                              value=len(row))
    names = [f.name for f in deployed.model.output_fields]
    keep = passthrough_columns(table.header, names)
    if len(table.data) == 1 and deployed.one_record_plan:
        row = table.data[0]
        one = deployed.model.score_one(dict(zip(table.header, row, strict=True)))
        if one is not None:
            for name, value in zip(names, one, strict=True):
                if type(value) is float and math.isinf(value):
                    raise _infinite(name, value, 0)
            kept = row if len(keep) == width else [row[i] for i in keep]
            return ScoreTable([*(table.header[i] for i in keep), *names], [[*kept, *one]])
    columns: Mapping[str, Sequence[Any]]
    if table.block is not None:
        # Every cell is a number: a number field's column is read without a look at each cell
        # (any other column keeps its cells, so the engine reads it exactly as before).
        numbers = {f.name for f in deployed.model.input_fields if f.data_type.is_number}
        columns = {name: table.block[:, j] if name in numbers else [row[j] for row in table.data]
                   for j, name in enumerate(table.header)}
    elif table.data:
        columns = dict(zip(table.header, zip(*table.data, strict=True), strict=True))
    else:
        columns = {name: [] for name in table.header}
    scored = deployed.model.score(columns, errors="raise")
    _refuse_infinite(scored)
    results = scored.iter_rows()
    if len(keep) == width and table.owned:
        for row, res in zip(table.data, results, strict=True):
            row.extend(res)
        return ScoreTable([*table.header, *names], table.data)
    if len(keep) == width:
        return ScoreTable([*table.header, *names],
                          [[*row, *res] for row, res in zip(table.data, results, strict=True)])
    return ScoreTable([*(table.header[i] for i in keep), *names],
                      [[*(row[i] for i in keep), *res] for row, res in zip(table.data, results, strict=True)])


def deployed_model(record: ModelVersion, model: Scorable) -> Deployed:
    """A loaded model with what the request path needs to know of it, measured now: the best of a
    few one-record scores (which also warms the model's own code paths before its first request)."""
    plan = not any(f.data_type is DataType.BOOLEAN for f in model.output_fields)
    if isinstance(model, TableScorable):
        return Deployed(record, model, stream=True)
    if not model.input_fields:
        return Deployed(record, model, one_record_plan=plan)
    sample = {f.name: _plain_value(f) for f in model.input_fields}
    best = math.inf
    for _ in range(_TIMED_RECORDS):
        # CPU time of this thread: what the record costs, not how busy the machine is right now.
        started = time.thread_time()
        try:
            if model.score_one(sample) is None:
                model.score({name: [value] for name, value in sample.items()}, errors="collect")
        except PmserveError:
            return Deployed(record, model, one_record_plan=plan)  # its cost is unknown: threads
        best = min(best, time.thread_time() - started)
    return Deployed(record, model, best, plan)


#: One-record scores timed when a model is loaded.
_TIMED_RECORDS = 5


def score_stream(model: TableScorable, tables: Sequence[ScoreTable]) -> ScoreTable:
    reply = model.score_tables([RowTable(t.header, t.data, t.tablename) for t in tables])
    for r, row in enumerate(reply.data):
        for name, value in zip(reply.header, row, strict=True):
            if isinstance(value, float) and math.isinf(value):
                raise _infinite(name, value, r)
    return ScoreTable(reply.header, reply.data)


def _refuse_infinite(scored: Scored) -> None:
    """A reply is JSON, which has no infinity: an infinite result is an error of its record (the
    engine keeps it, as JPMML does, for the edges that can carry it: CSV, Parquet, Python)."""
    for f in scored.fields:
        col = scored[f.name]
        if col.dtype.kind == "f":
            bad = np.flatnonzero(np.isinf(col))
            if bad.size:
                r = int(bad[0])
                raise _infinite(f.name, float(col[r]), r)


def _infinite(name: str, value: float, row: int) -> EvaluationError:
    return EvaluationError(f"result {name!r} is {value}: the model's computation overflowed, "
                           f"and a JSON reply cannot carry an infinity", field=name, row=row)


def parse_score_request(body: Any, *, max_rows: int | None = None, max_cells: int | None = None,
                        no_booleans: bool = False, owned: bool = False) -> list[ScoreTable]:
    """Check the shape of a decoded score request: one ``{tablename?, header, data}`` object.

    A JSON array of such objects is accepted too (an extension; the reference documents one table).
    Every cell must be a string, a number, a boolean or null; ``max_rows`` and ``max_cells`` bound
    the whole request (PMSERVE_MAX_SCORE_ROWS, PMSERVE_MAX_SCORE_CELLS).  ``no_booleans``: the
    caller knows no cell is a boolean (the JSON text holds no ``true`` or ``false``), so a table
    of numbers only is recognised in one numpy call and kept as :attr:`ScoreTable.block`.
    ``owned``: the caller decoded ``body`` for this request alone (see :attr:`ScoreTable.owned`).
    """
    tables = body if isinstance(body, list) else [body]
    if not tables:
        raise BadRequestError("the score request is an empty array; "
                              "expected {\"header\": [...], \"data\": [[...]]}")
    parsed = [_parse_table(t, i, owned) for i, t in enumerate(tables)]
    rows = sum(len(t.data) for t in parsed)
    if max_rows is not None and rows > max_rows:
        raise PayloadTooLargeError(f"the score request has {rows} rows; the limit is {max_rows} rows per "
                                   f"request (PMSERVE_MAX_SCORE_ROWS)")
    cells = sum(len(t.data) * len(t.header) for t in parsed)
    if max_cells is not None and cells > max_cells:
        raise PayloadTooLargeError(f"the score request has {cells} cells; the limit is {max_cells} cells per "
                                   f"request (PMSERVE_MAX_SCORE_CELLS)")
    if no_booleans and rows >= _BLOCK_ROWS:
        parsed = [_with_block(t) for t in parsed]
    for t in parsed:
        if t.block is None:
            _check_cells(t)
    return parsed


#: Tables of fewer rows are read cell by cell: one numpy call costs more than it saves.
_BLOCK_ROWS = 64


def _with_block(table: ScoreTable) -> ScoreTable:
    """The table with its rows as one float64 array when every cell is an int or a float.

    numpy makes a float or an integer array of nested lists only when every cell is a number (or
    a boolean, which the caller ruled out): a string, null, array or object, or a ragged row,
    gives another dtype or shape, and the table is then read cell by cell.
    """
    if not table.data or not table.header:
        return table
    try:
        block = np.array(table.data)
    except (ValueError, TypeError, OverflowError):
        return table
    if block.dtype.kind not in "fi" or block.shape != (len(table.data), len(table.header)):
        return table
    return dataclasses.replace(table, block=block.astype(np.float64, copy=False))


_SCALARS = frozenset({str, int, float, bool, type(None)})


def _check_cells(table: ScoreTable) -> None:
    """Cells are scalars: a nested array or object is no value of a field (and may nest deep)."""
    for i, row in enumerate(table.data):
        if not set(map(type, row)) <= _SCALARS:
            j = next(j for j, v in enumerate(row) if type(v) not in _SCALARS)
            name = table.header[j] if j < len(table.header) else f"#{j + 1}"
            raise BadRequestError(f"cell {excerpt(name)} of row {i + 1} is a JSON {_json_kind(row[j])}; "
                                  f"expected a string, a number, a boolean or null", row=i, field=name)


def _json_kind(value: Any) -> str:
    return "array" if isinstance(value, list) else "object" if isinstance(value, dict) else type(value).__name__


def probe(model: Scorable) -> None:
    """Score two records at deploy - every input missing, then a plain value in each - so that a
    model failing on its own markup is refused now rather than at its first request.

    Data errors are fine (the probe's values may be invalid for the model); anything else means
    the compiled model cannot score and is reported as a document error.
    """
    columns = {f.name: [None, _plain_value(f)] for f in model.input_fields}
    try:
        for _ in model.score(columns, errors="collect").iter_rows():  # as a reply converts them
            pass
    except (DataError, DocumentError):
        pass
    except PmserveError:
        raise
    except Exception as exc:  # the backstop: whatever it is, this model would fail its requests
        raise DocumentError(f"the model compiles but cannot score a record ({type(exc).__name__}: "
                            f"{excerpt(str(exc))}); refusing it") from None


def _plain_value(f: Field) -> Any:
    """A value a field commonly holds: its first category, a point of its first interval, 1 or "a"."""
    if f.values:
        return f.values[0]
    if f.intervals:
        ends = [x for x in (f.intervals[0].left, f.intervals[0].right) if x is not None and math.isfinite(x)]
        return sum(ends) / len(ends) if ends else 0.0
    if f.data_type.is_string:
        return "a"
    return 1.0 if f.data_type.is_numeric else None


def _parse_table(body: Any, index: int, owned: bool = False) -> ScoreTable:
    where = f" (table {index + 1})" if index else ""
    if not isinstance(body, Mapping):
        raise BadRequestError(f"the score request must be a JSON object with 'header' and 'data'{where}; "
                              f"got {type(body).__name__}")
    header, data, tablename = body.get("header"), body.get("data"), body.get("tablename")
    if not isinstance(header, list) or not all(isinstance(h, str) for h in header):
        raise BadRequestError(f"'header' must be an array of field names{where}; got {excerpt(header)}")
    if len(set(header)) != len(header):
        twice = next(h for h in header if header.count(h) > 1)
        raise BadRequestError(f"'header' names field {excerpt(twice)} more than once{where}")
    if not isinstance(data, list) or not set(map(type, data)) <= {list}:
        raise BadRequestError(f"'data' must be an array of rows, each an array of values{where}; "
                              f"got {excerpt(data)}")
    if data and not header:
        raise BadRequestError(f"'header' names no field but 'data' has {len(data)} rows{where}; "
                              f"name at least one column")
    if tablename is not None and not isinstance(tablename, str):
        raise BadRequestError(f"'tablename' must be a string{where}; got {excerpt(tablename)}")
    return ScoreTable(header, data, tablename, owned=owned)
