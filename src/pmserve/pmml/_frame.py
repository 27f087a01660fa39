"""The rows under evaluation: columns by name, derived fields computed on first use.

A :class:`Frame` is one scope of fields over a set of rows.  A model's frame sits on top of its
parent's (the document's, or the enclosing MiningModel's), possibly over a subset of the parent's
rows (a segment whose predicate holds for some rows only).  Errors of single records are
collected per original row in one :class:`RowErrors` shared by all frames of one evaluation.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from pmserve.errors import DataError, EvaluationError
from pmserve.pmml._types import Array, DataType


@dataclass(frozen=True)
class Expr:
    """A compiled expression: its static type and the function computing it over a frame."""

    dtype: DataType
    optype: str
    fn: Callable[[Frame], Array]


class RowErrors:
    """The first error of each failed record, by original row index."""

    __slots__ = ("errors",)

    def __init__(self) -> None:
        self.errors: dict[int, DataError] = {}

    def add(self, rows: npt.NDArray[np.intp], make: Callable[[int], DataError]) -> None:
        for r in rows.tolist():
            if r not in self.errors:
                self.errors[r] = make(r)


class Frame:
    """Columns of one field scope over a set of rows."""

    __slots__ = ("_derived", "_parent", "_parent_rows", "_values", "errors", "n", "rows")

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
        if parent is not None:
            self.errors: RowErrors = parent.errors
            self.rows: npt.NDArray[np.intp] = (
                parent.rows if parent_rows is None else parent.rows[parent_rows]
            )
        else:
            self.errors = errors if errors is not None else RowErrors()
            self.rows = np.arange(n, dtype=np.intp)

    def get(self, name: str) -> Array:
        v = self._values.get(name)
        if v is not None:
            return v
        expr = self._derived.get(name)
        if expr is not None:
            v = expr.fn(self)
        elif self._parent is not None:
            v = self._parent.get(name)
            if self._parent_rows is not None:
                v = v[self._parent_rows]
        else:
            raise KeyError(name)
        self._values[name] = v
        return v

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
        self.fail(mask, lambda r: EvaluationError(f"{message} (row {r + 1})", row=r, **context))
