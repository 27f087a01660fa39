"""How node modules compile the CLEM expressions of a node: with the stream's settings and limits
and the node named in every message."""

from __future__ import annotations

from collections.abc import Sequence

from pmserve.formats.spss._model import Node, SpssField, StreamContext
from pmserve.formats.spss.clem import ClemLimits, CompiledExpression, compile_expression


def node_expression(
    node: Node,
    text: str,
    fields: Sequence[SpssField],
    context: StreamContext,
    *,
    condition: bool = False,
    current_field: str | None = None,
) -> CompiledExpression:
    return compile_expression(
        text.strip(),
        fields,
        where=node.describe(),
        properties=context.properties,
        limits=ClemLimits.of(context),
        current_field=current_field,
        condition=condition,
    )
