"""CLEM, the expression language of IBM SPSS Modeler, compiled at deploy time to whole-column
numpy operations over a branch's :class:`~pmserve.formats.spss._model.Table`.

``compile_expression`` parses (bounded by ``ClemLimits``), resolves fields, types every operator
and function, and refuses what pmserve cannot run, naming the node and the function; the result
evaluates a whole table at once.  See ``docs/spss-nodes.md`` for the functions supported.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from pmserve.formats.spss._model import SpssField, StreamContext, Table
from pmserve.formats.spss.clem._compile import KNOWN_UNSUPPORTED, compile_tree
from pmserve.formats.spss.clem._functions import FUNCTIONS
from pmserve.formats.spss.clem._parser import ClemSyntaxError, parse
from pmserve.formats.spss.clem._plan import Op
from pmserve.formats.spss.clem._values import BOOLEAN, STRING, ClemSettings, Env, as_bool, storage_of


@dataclass(frozen=True)
class ClemLimits:
    """How long and how deeply nested an expression may be (``PMSERVE_CLEM_MAX_LENGTH`` / ``_DEPTH``)."""

    max_length: int = 10_000
    max_depth: int = 64

    @classmethod
    def of(cls, context: StreamContext) -> ClemLimits:
        return cls(context.clem_max_length, context.clem_max_depth)


@dataclass(frozen=True)
class CompiledExpression:
    """One compiled CLEM expression: its kind, the storage of a field it derives, the fields it reads.

    ``kind`` is ``null`` for an expression that is always ``$null$`` (``undef``): its values are
    NaN, and a caller filling a field of another storage uses that storage's missing value."""

    text: str
    kind: str
    reads: tuple[str, ...]
    op: Op
    settings: ClemSettings

    @property
    def storage(self) -> str:
        return storage_of(self.kind)

    def values(self, table: Table) -> np.ndarray:
        """The value on every record, in the column convention of :attr:`storage` (a boolean is T/F)."""
        out = self.op.evaluate(Env(table.columns, table.n_rows, self.settings))
        if self.kind == BOOLEAN:
            true, null = as_bool(out)
            text = np.where(true, "T", "F").astype(object)
            text[null] = None
            return text
        if self.storage == STRING:
            return np.asarray(out, dtype=object)
        return np.asarray(out, dtype=float)

    def truth(self, table: Table) -> tuple[np.ndarray, np.ndarray]:
        """``(true, null)`` masks of a condition on every record."""
        if self.kind != BOOLEAN:
            raise TypeError(f"CLEM expression {self.text!r} is not a condition")
        out = self.op.evaluate(Env(table.columns, table.n_rows, self.settings))
        return as_bool(np.asarray(out, dtype=float))


def compile_expression(
    text: str,
    fields: Sequence[SpssField],
    *,
    where: str,
    properties: Mapping[str, str],
    limits: ClemLimits,
    current_field: str | None = None,
    condition: bool = False,
) -> CompiledExpression:
    """Compile ``text`` against the fields reaching a node; ``where`` names the node in messages.

    ``condition`` compiles a condition (flag fields and numbers read as true/false);
    ``current_field`` is what ``@FIELD`` stands for (Filler, multiple-mode Derive).
    """
    tree = parse(text, max_length=limits.max_length, max_depth=limits.max_depth)
    settings = ClemSettings.from_properties(properties)
    op, reads = compile_tree(tree, text, fields, where, settings, current_field, condition)
    return CompiledExpression(text, op.kind, reads, op, settings)


def supported_functions() -> tuple[str, ...]:
    """Every CLEM function name pmserve runs (besides @FIELD, @FIELDS_MATCHING, @FIELDS_BETWEEN,
    @OFFSET, @DIFF1, @DIFF2, @LAST_NON_BLANK and @INDEX, which the compiler handles itself)."""
    return tuple(sorted(FUNCTIONS))


__all__ = [
    "KNOWN_UNSUPPORTED",
    "ClemLimits",
    "ClemSyntaxError",
    "CompiledExpression",
    "compile_expression",
    "supported_functions",
]
