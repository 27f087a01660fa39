"""Scored tables as Arrow record batches: the edge between pmserve's engine and Parquet, Spark and
any other columnar reader or writer.

:func:`score_batch` scores one record batch and returns it laid out as every scored table is (see
:mod:`pmserve.tables`): the input columns not named like a result, untouched (no copy), the
model's results typed after their PMML data types (:func:`result_type`), then ``error``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from pmserve.errors import DataError
from pmserve.formats import Scorable
from pmserve.pmml import DataType, Field
from pmserve.tables import ERROR_COLUMN, echoed_columns


def open_parquet(source: Path | str | Any) -> pq.ParquetFile:
    """A Parquet file to be read a batch at a time (``iter_batches``) in memory flat in its size.

    Not pre-buffered: with pyarrow's default (``pre_buffer=True``) ``iter_batches`` keeps every row
    group it has read, so memory grew with the file (a 5,000,000-row input: 281 MiB against 128 MiB
    read without it, and read faster).
    """
    return pq.ParquetFile(source, pre_buffer=False)


# Missing numeric results are NaN inside the engine and null in Arrow.
_SCALAR_TYPES: dict[DataType, Any] = {
    DataType.STRING: pa.string(),
    DataType.INTEGER: pa.int64(),
    DataType.FLOAT: pa.float64(),  # the engine computes in float64 (float32-rounded where PMML says)
    DataType.DOUBLE: pa.float64(),
    DataType.BOOLEAN: pa.bool_(),
    DataType.DATE: pa.date32(),
    DataType.DATE_TIME: pa.timestamp("us"),
    DataType.TIME: pa.time64("us"),
}
# An integer result beyond this is not exact in the engine's float64: it is written missing.
_INT_LIMIT = 2.0**62


def result_type(field: Field) -> Any:
    """The Arrow type of a result column: ``dateDaysSince[Y]`` and ``dateTimeSecondsSince[Y]``
    results are float64 counts; a collection result is a list of its data type."""
    scalar = _SCALAR_TYPES.get(field.data_type, pa.float64())
    return pa.list_(scalar) if field.collection else scalar


def scored_schema(model: Scorable, input_schema: Any) -> Any:
    """The schema of the batches :func:`score_batch` makes of batches of ``input_schema``."""
    names = [f.name for f in model.output_fields]
    kept = [input_schema.field(i) for i in echoed_columns(input_schema.names, names)]
    return pa.schema([*kept, *(pa.field(f.name, result_type(f)) for f in model.output_fields),
                      pa.field(ERROR_COLUMN, pa.string())])


@dataclass(frozen=True)
class ScoredBatch:
    """A scored record batch and the errors of its failed records, by row within the batch."""

    batch: Any  # pa.RecordBatch
    errors: Mapping[int, DataError]


def score_batch(model: Scorable, batch: Any, *, offset: int | None = 0) -> ScoredBatch:
    """Score every record of a :class:`pyarrow.RecordBatch`; records that cannot be scored get
    missing results and their reason in ``error``.

    ``offset`` is the batch's first row in the whole input, to number rows in error messages;
    None drops the row reference (see :meth:`pmserve.errors.PmserveError.render`).
    """
    names: list[str] = batch.schema.names
    columns = {name: engine_column(batch.column(i)) for i, name in enumerate(names)}
    scored = model.score(columns, errors="collect")
    results = [f.name for f in model.output_fields]
    kept = echoed_columns(names, results)
    texts: list[str | None] = [None] * batch.num_rows
    for row, err in scored.errors.items():
        texts[row] = err.render(offset)
    arrays = [*(batch.column(i) for i in kept),
              *(result_array(f, scored[f.name]) for f in model.output_fields),
              pa.array(texts, type=pa.string())]
    return ScoredBatch(pa.RecordBatch.from_arrays(arrays, schema=scored_schema(model, batch.schema)),
                       scored.errors)


def engine_column(column: Any) -> Any:
    """An Arrow column as the engine reads it: numbers as float64 (null is NaN, i.e. missing),
    strings and booleans as numpy arrays (null is None), anything else as Python values."""
    kind = column.type
    if pa.types.is_dictionary(kind):
        column = column.dictionary_decode()
        kind = column.type
    if pa.types.is_decimal(kind):
        column = column.cast(pa.float64())
        kind = column.type
    if pa.types.is_integer(kind) or pa.types.is_floating(kind):
        return column.to_numpy(zero_copy_only=False).astype(np.float64, copy=False)
    if pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_boolean(kind):
        return column.to_numpy(zero_copy_only=False)
    return column.to_pylist()


def result_array(field: Field, column: Any) -> Any:
    """An engine result column as an Arrow array of :func:`result_type`."""
    kind = result_type(field)
    if field.collection:
        # The engine keeps each cell as a tuple of plain values, or None.
        return pa.array([None if cell is None else list(cell) for cell in column.tolist()], type=kind)
    dtype = field.data_type
    if dtype.is_string:
        try:
            return pa.array(column, type=kind, from_pandas=True)
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            # A string result holding numbers (e.g. a category of a numeric target): their text.
            return pa.array([None if v is None or v != v else str(v) for v in column.tolist()], type=kind)
    values = np.asarray(column, dtype=np.float64)
    missing = np.isnan(values)
    if dtype is DataType.BOOLEAN:
        return pa.array(values != 0.0, type=kind, mask=missing)
    if kind == pa.float64():
        return pa.array(values, type=kind, mask=missing)
    exact = ~missing & np.isfinite(values)
    if dtype is DataType.INTEGER:
        exact &= np.abs(values) < _INT_LIMIT
        return pa.array(np.where(exact, values, 0.0).astype(np.int64), type=kind, mask=~exact)
    if dtype is DataType.DATE:  # days since 1970-01-01
        return pa.array(np.floor(np.where(exact, values, 0.0)).astype(np.int32), type=kind, mask=~exact)
    # dateTime and time: seconds (since 1970-01-01T00:00, since midnight) to microseconds.
    micros = np.round(np.where(exact, values, 0.0) * 1e6).astype(np.int64)
    return pa.array(micros, type=kind, mask=~exact)
