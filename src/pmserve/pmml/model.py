"""The public face of the engine: :func:`load` a PMML document into a :class:`Model`, score it
into :class:`Scored` results."""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import IO, Any, Final, Literal

import numpy as np

import pmserve.pmml.models  # noqa: F401  (every model module registers its compiler on import)
from pmserve.errors import DataError, InvalidMarkupError, InvalidValueError, MissingFieldError, excerpt
from pmserve.pmml.compiler import CompiledDocument, compile_document
from pmserve.pmml.document.limits import DEFAULT_LIMITS, Limits
from pmserve.pmml.document.parse import parse, read_bytes
from pmserve.pmml.fields.field import Field
from pmserve.pmml.fields.frame import Deferred
from pmserve.pmml.fields.one_record import OneRecordPlan
from pmserve.pmml.fields.types import (
    CELL_LISTS,
    Array,
    DataType,
    NumericInputs,
    coerce_collection,
    coerce_column,
    to_python_list,
)
from pmserve.pmml.results.verify import VerificationReport, verify


def load(source: bytes | str | os.PathLike[str] | IO[bytes], limits: Limits = DEFAULT_LIMITS) -> Model:
    """Parse and compile a PMML document (bytes, a path or a binary file object; gzip accepted).

    ``limits`` bounds the work the document may ask for (see :class:`Limits`); a document past
    one of them is refused with an :class:`~pmserve.errors.InvalidMarkupError` naming it.
    """
    data = read_bytes(source, limits)
    root = parse(data, limits=limits)
    limits.check_deadline("parsing")
    try:
        document = compile_document(root, data, limits)
    except RecursionError:
        # The limits keep real documents well inside Python's stack; this is the backstop.
        raise InvalidMarkupError("the document nests too deeply to compile; lower nesting below "
                                 "PMSERVE_MAX_EXPRESSION_DEPTH / PMSERVE_MAX_DERIVED_DEPTH") from None
    except (ArithmeticError, LookupError, TypeError, ValueError) as exc:
        # A value the compiler did not check (each one found is fixed where it is read): still the
        # document's fault, and a refusal rather than a crash.
        raise InvalidMarkupError(f"the document cannot be compiled: {type(exc).__name__}: "
                                 f"{excerpt(str(exc))}") from None
    limits.check_deadline("compiling")
    return Model(document)


@dataclass
class Scored(Mapping[str, Array]):
    """The results of scoring a batch: result columns by name, in the model's result order.

    ``errors`` maps a row index to the error that stopped that record (only with
    ``errors="collect"``); its result cells are missing.
    """

    fields: tuple[Field, ...]
    columns: dict[str, Array]
    n_rows: int
    errors: dict[int, DataError] = field(default_factory=dict)

    def __getitem__(self, key: str) -> Array:
        return self.columns[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.columns)

    def __len__(self) -> int:
        return len(self.columns)

    def to_lists(self) -> dict[str, list[Any]]:
        """Every result column as a list of plain Python values (None for missing)."""
        return {f.name: _python_values(f, self.columns[f.name]) for f in self.fields}

    def rows(self) -> list[list[Any]]:
        """Results row by row, plain Python values, in ``fields`` order."""
        return [list(r) for r in self.iter_rows()]

    def iter_rows(self) -> Iterator[tuple[Any, ...]]:
        """Results row by row as tuples (no list per row), plain Python values, in ``fields`` order."""
        lists = [_python_values(f, self.columns[f.name]) for f in self.fields]
        return zip(*lists, strict=True) if lists else iter([()] * self.n_rows)


def _python_values(f: Field, column: Array) -> list[Any]:
    if f.collection:
        # The engine keeps each cell as a tuple of plain values already; JSON wants lists.
        return [None if cell is None else list(cell) for cell in column.tolist()]
    return to_python_list(f.data_type, column)


class Model:
    """A compiled PMML model: immutable, thread-safe and picklable.

    Build one with :func:`pmserve.pmml.load`.  ``score`` takes a mapping of column name to a
    sequence of values (numbers, strings, None) or a numpy array - or a pandas DataFrame, or a
    list of row dicts - and returns every result column at once.
    """

    def __init__(self, document: CompiledDocument) -> None:
        self._doc = document
        # -- description (read-only: a Model is rebuilt from its source, never changed)
        self.model_type: Final = document.model.tag
        self.function_name: Final = document.model.function_name
        self.model_name: Final = document.model.name
        self.pmml_version: Final = document.pmml_version
        #: The active fields of the top-level MiningSchema, with their DataDictionary facts.
        self.input_fields: Final = document.input_fields
        self.target_fields: Final = document.target_fields
        #: Result columns in order: each target's prediction, then the Output fields.
        self.output_fields: Final = document.result_fields
        self.warnings: Final = document.warnings
        # What score() reads of each column, worked out once: a one-record call is mostly this loop.
        collections = document.model.collection_fields
        self._inputs = tuple((f.name, f.data_type, f.name in collections) for f in document.input_fields)
        self._extra_inputs = tuple((f.name, f.data_type)
                                   for f in (*document.target_fields, *document.optional_fields))
        self._numeric = NumericInputs([(name, dtype) for name, dtype, collection in self._inputs
                                       if not collection]) if not collections else NumericInputs(())
        self._one = OneRecordPlan.for_model(self._inputs, self._extra_inputs, document.result_fields)

    # -- scoring ----------------------------------------------------------------------------
    def score(
        self,
        data: Mapping[str, Sequence[Any] | Array] | Sequence[Mapping[str, Any]] | Any,
        *,
        errors: Literal["raise", "collect"] = "raise",
    ) -> Scored:
        """Score every record of ``data`` at once.

        With ``errors="raise"`` the first record that cannot be scored raises a
        :class:`~pmserve.errors.DataError` naming field, value and row; with ``"collect"`` such
        records get missing results and their errors are returned in ``Scored.errors``.
        """
        columns, n = _columns_of(data)
        batch, unreadable = self._batch(columns, n)
        # Overflow and invalid operations give inf/NaN, which are results (as in JPMML), not
        # floating-point warnings; edges that cannot carry an infinity (JSON) refuse it there.
        with np.errstate(all="ignore"):
            results, eval_errors = self._doc.evaluate(batch, n, unreadable)
        row_errors: dict[int, DataError] = {}
        for row, err in eval_errors.items():
            if errors == "raise":
                raise err
            row_errors.setdefault(row, err)
        if row_errors:
            bad_rows = np.fromiter(row_errors, dtype=np.intp)
            for f in self._doc.result_fields:
                col = results[f.name].copy()
                col[bad_rows] = None if col.dtype == object else np.nan
                results[f.name] = col
        return Scored(self._doc.result_fields, results, n, dict(sorted(row_errors.items())))

    def _batch(self, columns: Mapping[str, Any], n: int) -> tuple[dict[str, Array], dict[str, Deferred]]:
        """The engine's columns of the input, and the values that are not of their field's type."""
        unreadable: dict[str, Deferred] = {}
        batch = self._numeric.convert(columns)
        if batch is None:
            batch = {}
            for name, raw, (col, bad) in _coerce_inputs(self._inputs, columns):
                if bad:
                    # Not the field's type: an invalid value, which fails its record only if the
                    # model reads it there (JPMML-Evaluator), so the engine decides.
                    unreadable[name] = _unreadable(name, raw, bad, n)
                batch[name] = col
        found = len(batch)
        for name, dtype in self._extra_inputs:
            # Actual target values (for residuals) and supplementary fields are read where given.
            raw = columns.get(name)
            if raw is not None and name not in batch:
                batch[name] = coerce_column(dtype, raw, name)[0]
        if found < len(self._inputs):
            missing = [f.name for f in self._doc.input_fields if f.name not in batch]
            if missing:
                raise MissingFieldError(
                    f"the input has no column for field(s) {', '.join(map(repr, missing))} "
                    f"that the model needs",
                    field=missing[0],
                )
        return batch, unreadable

    def score_one(self, record: Mapping[str, Any]) -> tuple[Any, ...] | None:
        """The results of one complete record of plain values, or None for any other record.

        Equal to ``score`` of that record alone (its row of ``iter_rows()``), including the data
        error it raises; None means "not plain": the caller scores it with :meth:`score`.
        """
        plan = self._one
        if plan is None:
            return None
        batch = plan.batch(record)
        if batch is None:
            return None
        with np.errstate(all="ignore"):
            results, eval_errors = self._doc.evaluate(batch, 1)
        for err in eval_errors.values():
            raise err
        return plan.values(results)

    def verify(self) -> VerificationReport:
        """Replay the document's ModelVerification rows (a report with ``ok`` and details)."""
        return verify(self)

    @property
    def document(self) -> CompiledDocument:
        """The compiled document (engine internals)."""
        return self._doc

    def __reduce__(self) -> tuple[Any, tuple[bytes]]:
        # Compiled plans are closures; a model travels as its document and compiles again on arrival.
        return (load, (self._doc.source,))

    def __repr__(self) -> str:
        return f"<pmml.Model {self.model_type} {self.function_name} inputs={len(self.input_fields)}>"


def _unreadable(name: str, raw: Any, bad: dict[int, str], n: int) -> Deferred:
    """The cells of one field that could not be read as its type, as deferred invalid values."""
    mask = np.zeros(n, dtype=bool)
    mask[list(bad)] = True

    def make(row: int) -> DataError:
        return InvalidValueError(bad[row], field=name, value=raw[row], row=row)

    return mask, make


def _coerce_inputs(
    inputs: tuple[tuple[str, DataType, bool], ...], columns: Mapping[str, Any],
) -> list[tuple[str, Any, tuple[Array, dict[int, str]]]]:
    """(name, raw cells, (engine column, bad cells)) of every input field given in ``columns``.

    Numeric fields given as lists of cells are converted together, then put back in field order.
    """
    out: list[tuple[str, Any, tuple[Array, dict[int, str]]] | None] = []
    plain: list[tuple[str, DataType]] = []
    plain_raws: list[Any] = []
    plain_at: list[int] = []
    for name, dtype, is_collection in inputs:
        raw = columns.get(name)
        if raw is None:
            continue
        if not is_collection and dtype is not DataType.STRING and type(raw) in CELL_LISTS:
            plain.append((name, dtype))
            plain_raws.append(raw)
            plain_at.append(len(out))
            out.append(None)
        elif is_collection:
            out.append((name, raw, coerce_collection(raw, name)))
        else:
            out.append((name, raw, coerce_column(dtype, raw, name)))
    if plain:
        block = NumericInputs(plain).columns(plain_raws) if len(plain) > 1 else None
        if block is None:
            block = [coerce_column(dtype, raw, name) for (name, dtype), raw in zip(plain, plain_raws, strict=True)]
        for at, (name, _), raw, got in zip(plain_at, plain, plain_raws, block, strict=True):
            out[at] = (name, raw, got)
    return [c for c in out if c is not None]


def _columns_of(data: Any) -> tuple[dict[str, Any], int]:
    """Normalise the accepted input shapes to name -> sequence, and the row count."""
    if hasattr(data, "to_dict") and hasattr(data, "columns") and hasattr(data, "dtypes"):
        # A pandas DataFrame: columns as numpy arrays (object columns keep None/NaN).
        cols = {str(c): data[c].to_numpy() for c in data.columns}
        return cols, len(data)
    if isinstance(data, Mapping):
        cols = dict(data)
        lengths = {len(v) for v in cols.values()}
        if len(lengths) > 1:
            raise DataError(f"input columns differ in length: {sorted(lengths)}")
        return cols, lengths.pop() if lengths else 0
    if isinstance(data, Sequence):
        rows = list(data)
        names: dict[str, None] = {}
        for r in rows:
            if not isinstance(r, Mapping):
                raise DataError(f"expected a mapping of column name to values, or a list of row dicts; "
                                f"got a list of {type(r).__name__}")
            names.update(dict.fromkeys(r))
        return {k: [r.get(k) for r in rows] for k in names}, len(rows)
    raise DataError(f"expected a mapping of column name to values; got {type(data).__name__}")
