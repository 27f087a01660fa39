"""The compiled plan for the common online case: one complete record of plain values.

A record is plain when every input field is given, numeric fields hold a JSON number (not a
boolean) or None and string fields a string or None.  Its engine columns are then built directly -
no column detection, no per-column type survey - and its results are read back as scalars.  The
conversions are exactly those of the batch path (:func:`~pmserve.pmml.fields.types.coerce_column`,
:class:`~pmserve.pmml.fields.types.NumericInputs`, :func:`~pmserve.pmml.fields.types.to_python_list`) for a
batch of one; any other record returns None and takes the batch path, which applies every rule.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from pmserve.pmml.fields.types import Array, DataType, coerce_column, format_scalar, to_float32

if TYPE_CHECKING:
    from pmserve.pmml.fields.field import Field

_READ = frozenset({DataType.STRING, DataType.INTEGER, DataType.DOUBLE, DataType.FLOAT})
_INT_EXACT = 2.0**62  # to_python_list converts integer results below this through int64
_ABSENT = object()  # a field the record does not give
_PLAIN_NUMBERS = frozenset({float, int, type(None)})  # not bool: JSON true is no number


class OneRecordPlan:
    """What reading one plain record and its results needs, worked out when the model compiles."""

    def __init__(self, inputs: Sequence[tuple[str, DataType]], extra_inputs: Sequence[tuple[str, DataType]],
                 results: Sequence[Field]) -> None:
        for name, dtype in inputs:
            if dtype not in _READ:
                raise ValueError(f"field {name!r} ({dtype.value}) is not read by the one-record plan")
        numeric = [(name, dtype) for name, dtype in inputs if dtype is not DataType.STRING]
        self.numeric = tuple(name for name, _ in numeric)
        self.strings = tuple(name for name, dtype in inputs if dtype is DataType.STRING)
        # PMML float fields are rounded to float32 precision, as NumericInputs does.
        self.floats = [i for i, (_, dtype) in enumerate(numeric) if dtype is DataType.FLOAT]
        self.all_float = bool(self.floats) and len(self.floats) == len(numeric)  # rounded whole, not indexed
        self.integers = tuple(i for i, (_, dtype) in enumerate(numeric) if dtype is DataType.INTEGER)
        # The record's numbers are taken and checked at once.
        self._take: Callable[[Mapping[str, Any]], Any] | None = \
            operator.itemgetter(*self.numeric) if self.numeric else None
        names = {name for name, _ in inputs}
        self.extra = tuple((name, dtype) for name, dtype in extra_inputs if name not in names)
        self.results = tuple(results)

    @staticmethod
    def for_model(inputs: Sequence[tuple[str, DataType, bool]], extra_inputs: Sequence[tuple[str, DataType]],
                  results: Sequence[Field]) -> OneRecordPlan | None:
        """The plan of a model, or None when a field's type or shape needs the batch path."""
        if not inputs or any(collection for _, _, collection in inputs):
            return None
        try:
            return OneRecordPlan([(name, dtype) for name, dtype, _ in inputs], extra_inputs, results)
        except ValueError:
            return None

    def batch(self, record: Mapping[str, Any]) -> dict[str, Array] | None:
        """The engine columns of ``record`` (one row each), or None unless it is plain."""
        batch = self._numbers(self._take, record) if self._take is not None else {}
        if batch is None:
            return None
        for name in self.strings:
            value = record.get(name, _ABSENT)
            if value is not None and type(value) is not str:
                return None  # not given (the batch path names the missing field), or no string
            cell = np.empty(1, dtype=object)
            cell[0] = value or None  # "" is missing
            batch[name] = cell
        return self._with_extra(batch, record)

    def _numbers(self, take: Callable[[Mapping[str, Any]], Any],
                 record: Mapping[str, Any]) -> dict[str, Array] | None:
        """The columns of the record's numeric fields, or None unless each is a plain number."""
        try:
            values = take(record)
        except KeyError:
            return None  # the batch path names the missing field
        if len(self.numeric) == 1:
            values = (values,)
        seen = set(map(type, values))
        if not seen <= _PLAIN_NUMBERS:
            return None
        if self.integers and float in seen:
            for i in self.integers:
                value = values[i]
                if type(value) is float and not value.is_integer() and value == value:
                    return None  # a fractional integer: the batch path reports it as invalid
        return self._number_columns(values)

    def _number_columns(self, numbers: Sequence[Any]) -> dict[str, Array]:
        # None becomes NaN (missing), as coerce_column reads it.
        block = np.array(numbers, dtype=np.float64).reshape(len(numbers), 1)
        if self.all_float:
            block = to_float32(block)
        elif self.floats:
            block[self.floats] = to_float32(block[self.floats])
        return dict(zip(self.numeric, block, strict=True))

    def _with_extra(self, batch: dict[str, Array], record: Mapping[str, Any]) -> dict[str, Array]:
        for name, dtype in self.extra:
            # Actual target values (for residuals) and supplementary fields, read as the batch does.
            if name in record:
                batch[name] = coerce_column(dtype, [record[name]], name)[0]
        return batch

    def values(self, results: Mapping[str, Array]) -> tuple[Any, ...]:
        """The record's results as plain Python values, as ``Scored.iter_rows`` gives them."""
        return tuple(_python_value(f, results[f.name]) for f in self.results)


def _python_value(f: Field, column: Array) -> Any:
    """``to_python_list(f.data_type, column)[0]`` (and a collection's list) without the list."""
    if f.collection:
        cell = column[0]
        return None if cell is None else list(cell)
    dtype = f.data_type
    if dtype.is_string:
        return column[0]
    value = column.tolist()[0]
    if dtype in (DataType.FLOAT, DataType.DOUBLE):
        return None if value != value else value
    if dtype is DataType.BOOLEAN:
        return None if value != value else value != 0.0
    if dtype is DataType.INTEGER:
        if value != value:
            return None
        if abs(value) < _INT_EXACT:  # finite too
            return int(value)
    return format_scalar(dtype, value)
