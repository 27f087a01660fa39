"""Arrow record batches in, the engine's columns through the model, Arrow record batches out.

Every source yields Arrow batches and every sink takes them, so this is the only place that
knows both Arrow and the engine's columns.  Numeric inputs are converted by Arrow in one
vectorised cast (text from CSV files and COPY too); a column Arrow cannot cast (a bad value
somewhere) goes to the engine as it came, which reads it cell by cell and reports the bad rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from pmserve.errors import DataError, MissingFieldError
from pmserve.formats import Scorable
from pmserve.pmml import DataType, Field, Scored
from pmserve.service import passthrough_columns

_NUMBERS = (DataType.INTEGER, DataType.FLOAT, DataType.DOUBLE)


def result_type(f: Field) -> pa.DataType:
    """The Arrow (and so the created table's) type of a model result column."""
    if f.collection or f.data_type is DataType.STRING:
        return pa.string()
    if f.data_type is DataType.INTEGER:
        return pa.int64()
    if f.data_type in (DataType.FLOAT, DataType.DOUBLE):
        return pa.float64()
    if f.data_type is DataType.BOOLEAN:
        return pa.bool_()
    return pa.string()  # dates and times: the text the online reply shows


@dataclass(frozen=True)
class Layout:
    """Which input columns pass through, and the schema of every output batch."""

    keep: tuple[int, ...]
    schema: pa.Schema


def layout(model: Scorable, input_schema: pa.Schema) -> Layout:
    results = [f.name for f in model.output_fields]
    keep = tuple(passthrough_columns(input_schema.names, results))
    fields = [input_schema.field(i) for i in keep]
    fields += [pa.field(f.name, result_type(f)) for f in model.output_fields]
    return Layout(keep, pa.schema(fields))


def model_inputs(model: Scorable, batch: pa.RecordBatch) -> dict[str, Any]:
    """The batch's columns the model reads, converted for the engine (missing ones are left out)."""
    names = batch.schema.names
    columns: dict[str, Any] = {}
    for f in model.input_fields:
        if f.name not in names:
            continue
        columns[f.name] = _engine_column(f, batch.column(names.index(f.name)))
    missing = [f.name for f in model.input_fields if f.name not in names]
    if missing and len(missing) == len(model.input_fields):
        raise MissingFieldError(f"the input has none of the model's fields {', '.join(map(repr, missing))}; "
                                f"its columns are {', '.join(map(repr, names))}", field=missing[0])
    return columns


def _engine_column(f: Field, col: pa.Array) -> Any:
    kind = col.type
    if f.data_type in _NUMBERS:
        if pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_decimal(kind) \
                or pa.types.is_boolean(kind):
            return pc.cast(col, pa.float64()).to_numpy(zero_copy_only=False)
        if pa.types.is_string(kind) or pa.types.is_large_string(kind):
            try:
                return pc.cast(col, pa.float64()).to_numpy(zero_copy_only=False)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                pass  # a value that is no number: the engine reads the column cell by cell
    if f.data_type is DataType.STRING and (pa.types.is_string(kind) or pa.types.is_large_string(kind)):
        return col.to_numpy(zero_copy_only=False)
    return col.to_pylist()


def output_batch(model: Scorable, batch: pa.RecordBatch, scored: Scored, plan: Layout) -> pa.RecordBatch:
    arrays = [batch.column(i) for i in plan.keep] + result_arrays(model, scored)
    return pa.RecordBatch.from_arrays(arrays, schema=plan.schema)


def result_arrays(model: Scorable, scored: Scored) -> list[pa.Array]:
    """The model's result columns, in its order, typed by :func:`result_type`."""
    return [_arrow_column(f, scored, result_type(f)) for f in model.output_fields]


def input_types(model: Scorable) -> dict[str, pa.DataType]:
    """The Arrow type each input field of the model is best read as from text: numbers as float64
    (as :func:`model_inputs` casts them), anything else as the text it is."""
    return {f.name: pa.float64() if f.data_type in _NUMBERS else pa.string() for f in model.input_fields}


def _arrow_column(f: Field, scored: Scored, kind: pa.DataType) -> pa.Array:
    values = scored[f.name]
    if not f.collection and isinstance(values, np.ndarray):
        if kind == pa.float64() and values.dtype == np.float64:
            return pa.array(values, type=kind, from_pandas=True)  # NaN -> null
        if kind in (pa.int64(), pa.bool_()) and values.dtype == np.float64:
            missing = np.isnan(values)
            filled = np.where(missing, 0.0, values)
            if kind == pa.bool_():
                return pa.array(filled != 0.0, mask=missing, type=kind)
            if np.all(np.abs(filled) < 2.0**62):
                return pa.array(filled.astype(np.int64), mask=missing, type=kind)
        if kind == pa.string() and values.dtype == object:
            try:
                return pa.array(values, type=kind, from_pandas=True)
            except (pa.ArrowInvalid, pa.ArrowTypeError):
                pass
    # Everything else as the online reply shows it: plain values, lists as JSON text.
    plain = Scored(fields=(f,), columns={f.name: values}, n_rows=scored.n_rows).to_lists()[f.name]
    if f.collection:
        return pa.array([None if v is None else orjson.dumps(v).decode() for v in plain], type=kind)
    if kind == pa.string():
        return pa.array([None if v is None else str(v) for v in plain], type=kind)
    return pa.array(plain, type=kind)


def row_errors(scored: Scored, offset: int) -> Sequence[tuple[int, DataError]]:
    """The records of a batch that could not be scored, numbered from the start of the input."""
    return [(offset + row, err) for row, err in sorted(scored.errors.items())]
