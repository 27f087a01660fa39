"""What every node module needs: the checks that a node's inputs are what it reads, empty
columns of a storage, and the compiled-node shape shared by the one-input nodes."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from pmserve.errors import DataError, DocumentError
from pmserve.formats.spss._model import Node, SpssField, Table

NUMERIC_STORAGES = frozenset({"integer", "real", "date", "time", "timestamp"})


def merged_storage(a: str, b: str) -> str | None:
    """The storage holding values of storages ``a`` and ``b`` together (integers widen to reals);
    None when they do not mix."""
    if a == b:
        return a
    if {a, b} <= {"integer", "real"}:
        return "real"
    return None


def single_input(node: Node, inputs: Sequence[tuple[SpssField, ...]]) -> tuple[SpssField, ...]:
    """The fields of the one upstream node a one-input node has."""
    if len(inputs) != 1:
        raise DocumentError(
            f"{node.describe()} takes exactly one input, the stream links {len(inputs)} to it",
            node=node.describe(),
        )
    return inputs[0]


def require_fields(node: Node, fields: Sequence[SpssField], names: Iterable[str], what: str = "reads") -> None:
    """Raise naming the node and the field when a field the node reads does not reach it."""
    present = {f.name for f in fields}
    for name in names:
        if name not in present:
            known = ", ".join(repr(f.name) for f in fields[:20]) + (", …" if len(fields) > 20 else "")
            raise DocumentError(
                f"{node.describe()} {what} field {name!r}, which does not reach it; the fields there are: "
                f"{known or '(none)'}",
                node=node.describe(),
                field=name,
            )


def null_column(storage: str, n: int) -> np.ndarray:
    """A column of ``n`` missing values of a storage (NaN for numbers and times, None for strings)."""
    if storage in NUMERIC_STORAGES:
        return np.full(n, np.nan)
    return np.full(n, None, dtype=object)


def column_of(storage: str, values: Sequence[Any]) -> np.ndarray:
    """Python values (None for missing) as a column of a storage: objects for strings, else floats."""
    if storage == "string":
        return np.array(values, dtype=object)
    return np.array([np.nan if v is None else float(v) for v in values], dtype=np.float64)


def choose(true: np.ndarray, a: Any, b: Any, storage: str) -> np.ndarray:
    """``a`` where ``true``, else ``b`` (values or whole columns), in the column type of ``storage``."""
    if storage == "string":
        text: np.ndarray = np.where(true, a, b).astype(object)
        return text
    return np.where(true, np.asarray(a, dtype=float), np.asarray(b, dtype=float))


def only_table(node: Node, inputs: Sequence[Table]) -> Table:
    if len(inputs) != 1:
        raise DataError(f"{node.describe()} takes exactly one table, got {len(inputs)}", node=node.describe())
    return inputs[0]


@dataclass(eq=False)
class OneInputNode:
    """A compiled node with one input; subclasses say what it does to the incoming table.

    Subclasses are dataclasses holding plain data (no closures), so a compiled branch pickles
    and can be shipped to worker processes.  They are not frozen only because the
    ``CompiledNode`` protocol declares ``node`` as a plain attribute; nothing sets them after
    compiling.
    """

    node: Node
    fields: tuple[SpssField, ...]

    @property
    def output_fields(self) -> tuple[SpssField, ...]:
        return self.fields

    def run(self, inputs: Sequence[Table]) -> Table:
        return self.apply(only_table(self.node, inputs))

    def apply(self, table: Table) -> Table:
        raise NotImplementedError


class ColumnRule(Protocol):
    def column(self, table: Table) -> tuple[str, np.ndarray]:
        """The name of the column the rule computes, and its values for the incoming ``table``."""
        ...


@dataclass(eq=False)
class ColumnsNode(OneInputNode):
    """A node computing columns anew from its incoming table, one rule a column (a Filler, a
    Reclassify); the other columns pass through, and the result is in ``fields`` order."""

    rules: tuple[ColumnRule, ...]

    def apply(self, table: Table) -> Table:
        columns = dict(table.columns)
        for rule in self.rules:
            name, values = rule.column(table)
            columns[name] = values
        return Table(self.fields, {f.name: columns[f.name] for f in self.fields}, table.n_rows)


@dataclass(eq=False)
class PassThrough(OneInputNode):
    """A node that changes neither records nor values at scoring time."""

    def apply(self, table: Table) -> Table:
        return Table(self.fields, table.columns, table.n_rows)
