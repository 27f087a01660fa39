"""Filter node: drop and rename fields (``filterTable``: ``defaultDrop`` and ``rows/row`` with
``name``, ``drop`` and an optional ``newName``).

Rows that name a field which does not reach the node are ignored, as Modeler does (the samples'
Filter nodes list many such names, spss-str-format.md §6.2).  Source nodes have the same table
on their Filter tab; ``filter_plan`` serves both.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from pmserve.errors import DocumentError
from pmserve.formats.spss._model import Node, NodeCompiler, SpssField, StreamContext, Table
from pmserve.formats.spss.nodes._common import OneInputNode, single_input
from pmserve.formats.spss.nodes._props import cell, prop, prop_rows, text_of, to_bool


def filter_plan(node: Node, fields: Sequence[SpssField], table: str = "filterTable") -> tuple[tuple[str, str], ...]:
    """``(incoming name, outgoing name)`` for every field the filter keeps, in incoming order."""
    table_el = prop(node, table)
    default_drop = False
    if table_el is not None:
        default_el = table_el.find("defaultDrop")
        if default_el is not None:
            default_drop = to_bool(node, "defaultDrop", text_of(default_el))
    decisions: dict[str, tuple[bool, str]] = {}
    for row in prop_rows(node, table):
        name = cell(row, "name")
        drop_text = cell(row, "drop").strip()
        drop = default_drop if not drop_text else to_bool(node, f"{table}/drop of {name!r}", drop_text)
        new_name = cell(row, "newName") or name
        decisions[name] = (drop, new_name)
    plan = []
    seen: dict[str, str] = {}
    for f in fields:
        drop, new_name = decisions.get(f.name, (default_drop, f.name))
        if drop:
            continue
        if new_name in seen:
            raise DocumentError(
                f"{node.describe()} gives two fields the name {new_name!r} ({seen[new_name]!r} and {f.name!r})",
                node=node.describe(), field=new_name,
            )
        seen[new_name] = f.name
        plan.append((f.name, new_name))
    return tuple(plan)


def filtered_fields(fields: Sequence[SpssField], plan: Sequence[tuple[str, str]]) -> tuple[SpssField, ...]:
    by_name = {f.name: f for f in fields}
    return tuple(replace(by_name[old], name=new) for old, new in plan)


def filtered_table(table: Table, fields: tuple[SpssField, ...], plan: Sequence[tuple[str, str]]) -> Table:
    return Table(fields, {new: table.columns[old] for old, new in plan}, table.n_rows)


@dataclass(eq=False)
class FilterNode(OneInputNode):
    plan: tuple[tuple[str, str], ...]

    def apply(self, table: Table) -> Table:
        return filtered_table(table, self.fields, self.plan)


def compile_filter(node: Node, inputs: Sequence[tuple[SpssField, ...]], context: StreamContext) -> FilterNode:
    fields = single_input(node, inputs)
    plan = filter_plan(node, fields)
    return FilterNode(node, filtered_fields(fields, plan), plan)


COMPILERS: Mapping[str, NodeCompiler] = {"FilterNode": compile_filter}
