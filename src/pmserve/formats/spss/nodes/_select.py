"""Select node: keep (``include``) or drop (``discard``) the records a CLEM condition selects.

A record whose condition is ``$null$`` is not included in include mode, and is discarded in
discard mode: IBM's note on discarding records says the Select node "uses three-valued logic and
automatically includes null values" in what it selects to discard.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from pmserve.errors import DocumentError
from pmserve.formats.spss._model import CompiledNode, Node, NodeCompiler, SpssField, StreamContext, Table
from pmserve.formats.spss.clem import CompiledExpression
from pmserve.formats.spss.nodes._clem import node_expression
from pmserve.formats.spss.nodes._common import OneInputNode, single_input
from pmserve.formats.spss.nodes._props import prop_text, require_text


@dataclass(eq=False)
class SelectNode(OneInputNode):
    condition: CompiledExpression
    include: bool

    def apply(self, table: Table) -> Table:
        true, null = self.condition.truth(table)
        keep = true if self.include else ~(true | null)
        if keep.all():
            return Table(self.fields, table.columns, table.n_rows)
        return Table(self.fields, {k: v[keep] for k, v in table.columns.items()}, int(keep.sum()))


def compile_select(node: Node, inputs: Sequence[tuple[SpssField, ...]], context: StreamContext) -> CompiledNode:
    fields = single_input(node, inputs)
    mode = prop_text(node, "selectMode", "include").strip().lower() or "include"
    if mode not in ("include", "discard"):
        raise DocumentError(
            f"{node.describe()}: selectMode must be include or discard, got {mode!r}", node=node.describe()
        )
    text = require_text(node, ("selectCondition",), "selection condition")
    condition = node_expression(node, text, fields, context, condition=True)
    return SelectNode(node, fields, condition, mode == "include")


COMPILERS: Mapping[str, NodeCompiler] = {"SelectNode": compile_select}
