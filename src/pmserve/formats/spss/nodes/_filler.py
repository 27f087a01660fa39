"""Filler node: replace the values of some fields by a CLEM expression, always, under a CLEM
condition, or where they are blank or ``$null$`` (IBM's ``replace_mode``: Always, Conditional,
Blank, Null, BlankAndNull); ``@FIELD`` in the condition and the replacement stands for the field
being filled.

No sample stream has a Filler node, so its property names are unverified: pmserve reads the
names the other nodes' pattern suggests (``fillerFields``, ``fillerReplaceMode``,
``fillerCondition``, ``fillerReplaceWith``) and IBM's scripting names (``fields``,
``replace_mode``, ``condition``, ``replace_with``), and refuses the node, naming what it looked
for, when neither is there.  Blank is read as ``$null$`` (see ``@BLANK``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np

from pmserve.errors import DocumentError
from pmserve.formats.spss._model import CompiledNode, Node, NodeCompiler, SpssField, StreamContext, Table
from pmserve.formats.spss.clem import CompiledExpression
from pmserve.formats.spss.nodes._clem import node_expression
from pmserve.formats.spss.nodes._common import ColumnsNode, choose, null_column, require_fields, single_input
from pmserve.formats.spss.nodes._props import prop_first, require_text, text_of

FIELDS = ("fillerFields", "fillerFieldList", "fields")
MODE = ("fillerReplaceMode", "replaceMode", "replace_mode")
CONDITION = ("fillerCondition", "condition")
REPLACE_WITH = ("fillerReplaceWith", "fillerReplaceExpression", "replace_with")
_MODES = {"always": "Always", "conditional": "Conditional", "blank": "Blank", "null": "Null",
          "blankandnull": "BlankAndNull"}


@dataclass(frozen=True)
class _Fill:
    field: str
    condition: CompiledExpression | None  # None: always
    replacement: CompiledExpression
    storage: str

    def column(self, table: Table) -> tuple[str, np.ndarray]:
        new = (null_column(self.storage, table.n_rows) if self.replacement.kind == "null"
               else self.replacement.values(table))
        if self.condition is None:
            return self.field, new
        return self.field, choose(self.condition.truth(table)[0], new, table.columns[self.field], self.storage)


def compile_filler(node: Node, inputs: Sequence[tuple[SpssField, ...]], context: StreamContext) -> CompiledNode:
    fields = single_input(node, inputs)
    names_el = prop_first(node, FIELDS)
    names = [] if names_el is None else [text_of(c) for c in names_el if isinstance(c.tag, str) and text_of(c)]
    if not names:
        raise DocumentError(
            f"{node.describe()} names no fields to fill (looked for property {' or '.join(map(repr, FIELDS))})",
            node=node.describe(), element=FIELDS[0],
        )
    require_fields(node, fields, names, "fills")
    mode_text = require_text(node, MODE, "replace mode").strip()
    mode = _MODES.get(mode_text.replace("_", "").lower())
    if mode is None:
        raise DocumentError(
            f"{node.describe()}: replace mode must be one of {', '.join(_MODES.values())}, got {mode_text!r}",
            node=node.describe(),
        )
    replace_text = require_text(node, REPLACE_WITH, "replacement expression")
    condition_text = {
        "Blank": "@BLANK(@FIELD)", "Null": "@NULL(@FIELD)", "BlankAndNull": "@BLANK(@FIELD) or @NULL(@FIELD)",
    }.get(mode)
    if mode == "Conditional":
        condition_text = require_text(node, CONDITION, "condition")
    by_name = {f.name: f for f in fields}
    fills = []
    out = list(fields)
    for name in names:
        f = by_name[name]
        replacement = node_expression(node, replace_text, fields, context, current_field=name)
        condition = (None if condition_text is None
                     else node_expression(node, condition_text, fields, context, condition=True, current_field=name))
        storage = _filled_storage(node, f, replacement, always=condition is None)
        fills.append(_Fill(name, condition, replacement, storage))
        if storage != f.storage:
            out[out.index(f)] = replace(f, storage=storage)
    return ColumnsNode(node, tuple(out), tuple(fills))


def _filled_storage(node: Node, f: SpssField, replacement: CompiledExpression, *, always: bool) -> str:
    """Always replaces the storage too (IBM: ``to_string(income)``); otherwise the kinds must mix."""
    new = replacement.storage
    if replacement.kind == "null":  # undef: a $null$ of the field's own storage
        return f.storage
    if always or new == f.storage:
        return new
    if {new, f.storage} <= {"integer", "real"}:
        return "real"
    raise DocumentError(
        f"{node.describe()} fills {f.storage} field {f.name!r} with {new} values "
        f"({replacement.text!r}); replace a {f.storage} field with a {f.storage} value",
        node=node.describe(), field=f.name,
    )


COMPILERS: Mapping[str, NodeCompiler] = {"FillerNode": compile_filler}
