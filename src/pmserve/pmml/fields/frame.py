"""The rows under evaluation: columns by name, derived fields computed on first use.

A :class:`Frame` is one scope of fields over a set of rows.  A model's frame sits on top of its
parent's (the document's, or the enclosing MiningModel's), possibly over a subset of the parent's
rows (a segment whose predicate holds for some rows only).  Errors of single records are
collected per original row in one :class:`RowErrors` shared by all frames of one evaluation.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from pmserve.errors import DataError, EvaluationError
from pmserve.pmml.fields.types import Array, DataType


@dataclass(frozen=True)
class Expr:
    """A compiled expression: its static type and the function computing it over a frame."""

    dtype: DataType
    optype: str
    fn: Callable[[Frame], Array]


class RowErrors:
    """The first error of each failed record, by original row index.

    ``pending`` counts the invalid values deferred in any frame of the evaluation (see
    :meth:`Frame.defer`); while it is zero, reading a field costs no bookkeeping.
    """

    __slots__ = ("errors", "pending")

    def __init__(self) -> None:
        self.errors: dict[int, DataError] = {}
        self.pending = 0

    def add(self, rows: npt.NDArray[np.intp], make: Callable[[int], DataError]) -> None:
        for r in rows.tolist():
            if r not in self.errors:
                self.errors[r] = make(r)


Deferred = tuple[npt.NDArray[np.bool_], Callable[[int], DataError]]
_NO_COLUMNS: Mapping[str, Array] = {}


class Frame:
    """Columns of one field scope over a set of rows.

    Invalid values fail a record only where the model reads them (JPMML-Evaluator resolves a
    field when a record's evaluation first needs it): a field's check :meth:`defer` puts off its
    invalid rows, and a read :meth:`claim` fails those it reaches.  :meth:`get` reads a field
    for every row; a tree reads its test columns with :meth:`peek` and claims only the rows that
    reach a test of each field.  A value taken from the parent frame is claimed there, through
    the rows; a derived field's claim passes on to the fields its expression read.
    """

    __slots__ = ("_deps", "_derived", "_inherited", "_parent", "_parent_rows", "_pending", "_reading", "_same_rows",
                 "_values", "errors", "n", "rows")

    def __init__(
        self,
        n: int,
        values: dict[str, Array],
        derived: Mapping[str, Expr],
        *,
        parent: Frame | None = None,
        parent_rows: npt.NDArray[np.intp] | None = None,
        errors: RowErrors | None = None,
    ) -> None:
        self.n = n
        self._values = values
        self._derived = derived
        self._parent = parent
        self._parent_rows = parent_rows
        self._pending: dict[str, list[Deferred]] = {}
        self._inherited: set[str] = set()
        self._deps: dict[str, set[str]] = {}
        self._reading: list[set[str]] = []
        # The parent's stored columns, when this scope is over all of its rows (else none).
        self._same_rows: Mapping[str, Array] = _NO_COLUMNS
        if parent is not None and parent_rows is None:
            self._same_rows = parent._values
        if parent is not None:
            self.errors: RowErrors = parent.errors
            self.rows: npt.NDArray[np.intp] = (
                parent.rows if parent_rows is None else parent.rows[parent_rows]
            )
        else:
            self.errors = errors if errors is not None else RowErrors()
            self.rows = np.arange(n, dtype=np.intp)

    def get(self, name: str) -> Array:
        """The field's values over every row; its deferred invalid values fail their records
        (unless read inside :meth:`unclaimed`, or while computing a derived field)."""
        v = self._values.get(name)
        if v is None:
            # A column the parent holds over the same rows (a record's input, mostly) is taken
            # without a call per scope: a one-record evaluation reads each field once, here.
            v = self._same_rows.get(name) if name not in self._derived else None
            if v is None:
                v = self.peek(name)
            else:
                self._inherited.add(name)
                self._values[name] = v
        if self._reading:
            self._reading[-1].add(name)
        elif self.errors.pending:
            self.claim(name)
        return v

    def peek(self, name: str) -> Array:
        """The field's values, its deferred invalid values left unclaimed."""
        v = self._values.get(name)
        if v is not None:
            return v
        expr = self._derived.get(name)
        if expr is not None:
            # What the expression reads is claimed when its result is (claim follows _deps).
            self._reading.append(set())
            try:
                v = expr.fn(self)
            finally:
                read = self._reading.pop()
            if read:
                self._deps[name] = read
        elif self._parent is not None:
            v = self._parent.peek(name)
            if self._parent_rows is not None:
                v = v[self._parent_rows]
            self._inherited.add(name)
        else:
            raise KeyError(name)
        self._values[name] = v
        return v

    def unclaimed(self) -> _Unclaimed:
        """A block whose reads claim nothing; ``with`` yields the set of the names read.

        For a model that reads a record's fields in an order and stops early (see
        :class:`ReadOrder`): it reads whole columns here, then claims what JPMML would read."""
        return _Unclaimed(self._reading)

    def defer(self, name: str, mask: npt.NDArray[np.bool_], make: Callable[[int], DataError]) -> None:
        """Invalid values of field ``name`` (where ``mask`` holds): records fail when they read them."""
        if mask.any():
            self._pending.setdefault(name, []).append((mask, make))
            self.errors.pending += 1

    def claim(self, name: str, rows: npt.NDArray[np.intp] | None = None) -> None:
        """Fail the records among ``rows`` (local indices; None: all) whose value of ``name`` is a
        deferred invalid one, or was computed from one."""
        for mask, make in self._pending.get(name, ()):
            self.fail(mask if rows is None else _at(mask, rows), make)
        for dep in self._deps.get(name, ()):
            self.claim(dep, rows)
        if name in self._inherited and self._parent is not None:
            up = self._parent_rows
            self._parent.claim(name, rows if up is None else (up if rows is None else up[rows]))

    def deferred(self, name: str) -> Deferred | None:
        """The deferred invalid values of ``name`` as this frame sees them (mask over its rows,
        and the errors they raise), or None.  Lets a MiningField's treatment take over values
        its parent could not read, and a fast path hand such records to a careful one."""
        if not self.errors.pending:
            return None
        entries = list(self._pending.get(name, ()))
        for dep in self._deps.get(name, ()):
            got = self.deferred(dep)
            if got is not None:
                entries.append(got)
        if name in self._inherited and self._parent is not None:
            up = self._parent.deferred(name)
            if up is not None:
                entries.append(up if self._parent_rows is None else (up[0][self._parent_rows], up[1]))
        if not entries:
            return None
        mask = np.zeros(self.n, dtype=bool)
        for m, _ in entries:
            mask |= m
        return mask, _first_of(entries, self.rows)

    def deferred_rows(self, names: tuple[str, ...]) -> npt.NDArray[np.bool_] | None:
        """The records with a deferred invalid value in any of ``names`` (already read), or None:
        a fast path leaves them to a careful one, which claims what it reads."""
        if not self.errors.pending:
            return None
        held: npt.NDArray[np.bool_] | None = None
        for name in names:
            got = self.deferred(name)
            if got is not None:
                held = got[0] if held is None else held | got[0]
        return held

    def has(self, name: str) -> bool:
        if name in self._values or name in self._derived:
            return True
        return self._parent is not None and self._parent.has(name)

    def set(self, name: str, values: Array) -> None:
        self._values[name] = values

    def child(self, derived: Mapping[str, Expr], values: dict[str, Array] | None = None) -> Frame:
        """A new scope over the same rows."""
        return Frame(self.n, values if values is not None else {}, derived, parent=self)

    def subset(self, local_rows: npt.NDArray[np.intp], derived: Mapping[str, Expr]) -> Frame:
        """A new scope over some of this frame's rows (indices local to this frame)."""
        return Frame(len(local_rows), {}, derived, parent=self, parent_rows=local_rows)

    def fail(self, mask: npt.NDArray[np.bool_], make: Callable[[int], DataError]) -> None:
        """Record an error for every row of this frame where ``mask`` holds."""
        if mask.any():
            self.errors.add(self.rows[mask], make)

    def fail_message(self, mask: npt.NDArray[np.bool_], message: str, **context: Any) -> None:
        self.fail(mask, lambda r: EvaluationError(message, row=r, **context))


def _at(mask: npt.NDArray[np.bool_], rows: npt.NDArray[np.intp]) -> npt.NDArray[np.bool_]:
    """``mask`` restricted to ``rows`` (a mask over the same rows)."""
    out = np.zeros(len(mask), dtype=bool)
    out[rows] = mask[rows]
    return out


def _first_of(entries: list[Deferred], rows: npt.NDArray[np.intp]) -> Callable[[int], DataError]:
    """The error of original row ``r`` from the first entry whose mask holds it."""
    if len(entries) == 1:
        return entries[0][1]

    def make(r: int) -> DataError:
        local = int(np.flatnonzero(rows == r)[0])
        for mask, entry_make in entries:
            if mask[local]:
                return entry_make(r)
        return entries[0][1](r)

    return make


class _Unclaimed:
    """The context manager of :meth:`Frame.unclaimed` (a plain class: it runs per model call)."""

    __slots__ = ("read", "stack")

    def __init__(self, stack: list[set[str]]) -> None:
        self.stack = stack
        self.read: set[str] = set()

    def __enter__(self) -> set[str]:
        self.stack.append(self.read)
        return self.read

    def __exit__(self, *exc: object) -> None:
        self.stack.pop()


class ReadOrder:
    """Claims a record's fields in the order a JPMML evaluator reads them, up to where it stops.

    JPMML-Evaluator reads a record's fields one at a time and gives up at the first missing
    value that leaves the result undefined (a NumericPredictor, a NeuralInput, a GLM factor):
    later fields are never read, so their invalid values do not fail the record.  A model that
    computes whole columns inside :meth:`Frame.unclaimed` replays its reading order here.
    """

    __slots__ = ("alive", "frame")

    def __init__(self, frame: Frame, alive: npt.NDArray[np.bool_] | None = None) -> None:
        self.frame = frame
        self.alive = alive  # the records still reading; None: every one

    def read(self, names: Iterable[str], where: npt.NDArray[np.bool_] | None = None) -> None:
        """The records still reading (and where ``where`` holds) read ``names``."""
        mask = self.alive if where is None else (where if self.alive is None else self.alive & where)
        rows = None if mask is None else np.flatnonzero(mask)
        if rows is not None and not len(rows):
            return
        for name in names:
            self.frame.claim(name, rows)

    def stop(self, missing: npt.NDArray[np.bool_]) -> None:
        """Records where ``missing`` holds read nothing more."""
        if missing.any():
            self.alive = ~missing if self.alive is None else self.alive & ~missing
