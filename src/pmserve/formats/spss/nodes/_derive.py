"""Derive node: new fields from CLEM (``deriveType`` formula, flag, set, conditional), one field
(``deriveMode`` single, ``deriveSingleFieldName``) or one per listed field (``multiple``:
``deriveMultipleFieldList``, named with ``deriveMultipleExtensionName`` as a prefix or suffix
per ``deriveMultipleExtensionPosition``, ``@FIELD`` standing for the listed field).

State and count derives carry a value from record to record, and how Modeler resolves a record
on which both of their conditions hold is not documented; pmserve refuses them by name rather
than guess.  A derived field whose name exists already replaces it in place; new fields are
appended in order.  A condition that is ``$null$`` counts as false (flag: the false value;
conditional: the else expression; set: the next condition).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from pmserve.errors import DocumentError, UnsupportedMarkupError
from pmserve.formats.spss._model import CompiledNode, Node, NodeCompiler, SpssField, StreamContext, Table
from pmserve.formats.spss.clem import CompiledExpression
from pmserve.formats.spss.nodes._clem import node_expression
from pmserve.formats.spss.nodes._common import (
    OneInputNode,
    choose,
    merged_storage,
    null_column,
    require_fields,
    single_input,
)
from pmserve.formats.spss.nodes._props import cell, prop_list, prop_rows, prop_text, require_text

_TYPES = ("formula", "flag", "set", "conditional", "state", "count")


@dataclass(frozen=True)
class _Formula:
    expression: CompiledExpression

    def values(self, table: Table) -> np.ndarray:
        return self.expression.values(table)


@dataclass(frozen=True)
class _Flag:
    condition: CompiledExpression
    true_value: Any
    false_value: Any
    storage: str

    def values(self, table: Table) -> np.ndarray:
        return choose(self.condition.truth(table)[0], self.true_value, self.false_value, self.storage)


@dataclass(frozen=True)
class _Set:
    """A set derive: each record takes the value of the first condition it meets, else the default."""

    cases: tuple[tuple[CompiledExpression, Any], ...]  # (condition, value) in the table's order
    default: Any
    storage: str

    def values(self, table: Table) -> np.ndarray:
        string = self.storage == "string"
        out = (np.full(table.n_rows, self.default, dtype=object) if string
               else np.full(table.n_rows, np.nan if self.default is None else float(self.default)))
        decided = np.zeros(table.n_rows, dtype=bool)
        for condition, value in self.cases:
            true, _ = condition.truth(table)
            take = true & ~decided
            out[take] = value if string else float(value)
            decided |= take
        return out


@dataclass(frozen=True)
class _Conditional:
    condition: CompiledExpression
    then: CompiledExpression
    otherwise: CompiledExpression
    storage: str

    def values(self, table: Table) -> np.ndarray:
        a, b = (null_column(self.storage, table.n_rows) if e.kind == "null" else e.values(table)
                for e in (self.then, self.otherwise))
        return choose(self.condition.truth(table)[0], a, b, self.storage)


_Rule = _Formula | _Flag | _Set | _Conditional


@dataclass(eq=False)
class DeriveNode(OneInputNode):
    rules: tuple[tuple[str, _Rule], ...]  # (new field, how its values are made), in order

    def apply(self, table: Table) -> Table:
        columns = dict(table.columns)
        for name, rule in self.rules:
            # every rule reads the incoming table: multiple mode derives each field independently
            columns[name] = rule.values(table)
        ordered = {f.name: columns[f.name] for f in self.fields}
        return Table(self.fields, ordered, table.n_rows)


def _literal_storage(values: Sequence[str]) -> tuple[str, tuple[Any, ...]]:
    """The storage Modeler gives typed-in flag or set values: integers, reals, else strings."""
    texts = [v.strip() for v in values]
    try:
        ints = [int(t) for t in texts]
        return "integer", tuple(float(i) for i in ints)
    except ValueError:
        pass
    try:
        return "real", tuple(float(t) for t in texts)
    except ValueError:
        return "string", tuple(values)


def _rule(
    node: Node, kind: str, fields: Sequence[SpssField], context: StreamContext, current: str | None
) -> tuple[_Rule, SpssField]:
    """The rule for one derived field and its metadata (the name is set by the caller)."""
    if kind == "formula":
        text = require_text(node, ("deriveFormulaExpression",), "formula (deriveFormulaExpression)")
        expr = node_expression(node, text, fields, context, current_field=current)
        measure = prop_text(node, "deriveFormulaFieldMeasure", "auto").strip() or "auto"
        if expr.kind == "boolean":
            return _Formula(expr), SpssField("", "string", "flag", values=("F", "T"))
        return _Formula(expr), SpssField("", expr.storage, measure)
    if kind == "flag":
        text = require_text(node, ("deriveFlagFieldCondition",), "flag condition (deriveFlagFieldCondition)")
        cond = node_expression(node, text, fields, context, condition=True, current_field=current)
        true_text = prop_text(node, "deriveFlagTrueValue", "T")
        false_text = prop_text(node, "deriveFlagFalseValue", "F")
        storage, (false_v, true_v) = _literal_storage([false_text, true_text])
        return _Flag(cond, true_v, false_v, storage), SpssField("", storage, "flag", values=(false_v, true_v))
    if kind == "conditional":
        cond_text = require_text(node, ("deriveConditionalIfCondition",), "if condition")
        then_text = require_text(node, ("deriveConditionalThenExpression",), "then expression")
        else_text = require_text(node, ("deriveConditionalElseExpression",), "else expression")
        cond = node_expression(node, cond_text, fields, context, condition=True, current_field=current)
        then = node_expression(node, then_text, fields, context, current_field=current)
        otherwise = node_expression(node, else_text, fields, context, current_field=current)
        storage = _common_storage(node, then, otherwise)
        measure = prop_text(node, "deriveConditionalFieldMeasure", "auto").strip() or "auto"
        return _Conditional(cond, then, otherwise, storage), SpssField("", storage, measure)
    if kind == "set":
        rows = prop_rows(node, "deriveSetTable")
        values = [cell(r, "value") for r in rows]
        texts = [cell(r, "condition") or cell(r, "expression") for r in rows]
        if not rows or any(not t.strip() for t in texts):
            raise DocumentError(
                f"{node.describe()}: a nominal (set) derive needs rows of value and condition in "
                f"deriveSetTable", node=node.describe(),
            )
        default_text = prop_text(node, "deriveSetDefaultValue", "")
        storage, typed = _literal_storage([*values, default_text] if default_text.strip() else values)
        default = typed[-1] if default_text.strip() else None
        cases = tuple(
            (node_expression(node, t, fields, context, condition=True, current_field=current), value)
            for t, value in zip(texts, typed[: len(values)], strict=True)
        )
        categories = tuple(dict.fromkeys(typed))
        return _Set(cases, default, storage), SpssField("", storage, "set", values=categories)
    raise UnsupportedMarkupError(
        f"{node.describe()}: pmserve does not run {kind} derives (their value carries from record to "
        f"record and Modeler does not document which condition wins on a record where both hold)",
        node=node.describe(), element="deriveType",
    )


def _common_storage(node: Node, a: CompiledExpression, b: CompiledExpression) -> str:
    sa, sb = a.storage, b.storage
    if a.kind == "null" or b.kind == "null":  # undef takes the other branch's storage
        return sb if a.kind == "null" else sa
    merged = merged_storage(sa, sb)
    if merged is not None:
        return merged
    raise DocumentError(
        f"{node.describe()}: the then expression gives {sa} values and the else expression {sb} values",
        node=node.describe(),
    )


def compile_derive(node: Node, inputs: Sequence[tuple[SpssField, ...]], context: StreamContext) -> CompiledNode:
    fields = single_input(node, inputs)
    mode = prop_text(node, "deriveMode", "single").strip().lower() or "single"
    kind = prop_text(node, "deriveType", "formula").strip().lower() or "formula"
    if kind not in _TYPES:
        raise DocumentError(
            f"{node.describe()}: deriveType must be one of {', '.join(_TYPES)}, got {kind!r}", node=node.describe()
        )
    targets: list[tuple[str, str | None]] = []  # (new name, the field @FIELD stands for)
    if mode == "single":
        name = prop_text(node, "deriveSingleFieldName").strip()
        if not name:
            raise DocumentError(f"{node.describe()} names no field to derive (deriveSingleFieldName)",
                                node=node.describe())
        targets.append((name, None))
    elif mode == "multiple":
        sources = [s for s in prop_list(node, "deriveMultipleFieldList") if s.strip()]
        if not sources:
            raise DocumentError(f"{node.describe()} lists no fields to derive from (deriveMultipleFieldList)",
                                node=node.describe())
        require_fields(node, fields, sources, "derives from")
        extension = prop_text(node, "deriveMultipleExtensionName")
        position = prop_text(node, "deriveMultipleExtensionPosition", "suffix").strip().lower() or "suffix"
        if position not in ("prefix", "suffix"):
            raise DocumentError(f"{node.describe()}: deriveMultipleExtensionPosition must be prefix or suffix, "
                                f"got {position!r}", node=node.describe())
        for source in sources:
            targets.append((extension + source if position == "prefix" else source + extension, source))
    else:
        raise DocumentError(f"{node.describe()}: deriveMode must be single or multiple, got {mode!r}",
                            node=node.describe())
    rules: list[tuple[str, _Rule]] = []
    out = list(fields)
    positions = {f.name: i for i, f in enumerate(out)}
    for name, current in targets:
        rule, meta = _rule(node, kind, fields, context, current)
        new_field = SpssField(name, meta.storage, meta.measure, "in", meta.values)
        if name in positions:
            out[positions[name]] = new_field
        else:
            positions[name] = len(out)
            out.append(new_field)
        rules.append((name, rule))
    return DeriveNode(node, tuple(out), tuple(rules))


COMPILERS: Mapping[str, NodeCompiler] = {"DeriveNode": compile_derive}
