"""Type node: metadata (measure, role, values) for the fields that reach it, and the value checks
a row may ask for (``check``: None, Warn, Nullify, Coerce, Discard, Abort).

The ``typeTable`` rows are sorted by name and may describe fields that no longer exist
(spss-str-format.md §3.5): they are intersected with the real fields, never taken as the schema.
A Type node never changes storage.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from lxml import etree

from pmserve.errors import DocumentError, InvalidValueError
from pmserve.formats.spss._model import CompiledNode, Node, NodeCompiler, SpssField, StreamContext, Table
from pmserve.formats.spss.nodes._common import NUMERIC_STORAGES, OneInputNode, single_input
from pmserve.formats.spss.nodes._props import cell, prop_rows

CHECKS = ("none", "warn", "nullify", "coerce", "discard", "abort")
_ROLES = frozenset({"in", "out", "both", "none", "partition", "split", "frequency", "recordid"})
_EPOCH = _dt.date(1970, 1, 1)


@dataclass(frozen=True)
class TypeRow:
    """One row of a ``typeTable``; empty strings and ``()`` mean "not said"."""

    name: str
    measure: str
    role: str
    values: tuple[Any, ...]
    check: str


def read_type_table(node: Node, table: str = "typeTable") -> dict[str, TypeRow]:
    """The node's type rows by field name."""
    rows: dict[str, TypeRow] = {}
    for row in prop_rows(node, table):
        name = cell(row, "name")
        type_el = row.find("type")
        # a row-level <measure> is the user's declared level; type/measure the instantiated one
        measure = cell(row, "measure").strip() or ("" if type_el is None else cell(type_el, "measure").strip())
        values: tuple[Any, ...] = ()
        if type_el is not None:
            values_el = type_el.find("values")
            if values_el is not None:
                values = tuple(_typed_value(node, name, v) for v in values_el if v.tag == "value")
        role = cell(row, "direction").strip()
        if role and role not in _ROLES:
            raise DocumentError(
                f"{node.describe()}: field {name!r} has the unknown role (direction) {role!r}",
                node=node.describe(), field=name,
            )
        check = cell(row, "check").strip().lower()
        if check and check not in CHECKS:
            raise DocumentError(
                f"{node.describe()}: field {name!r} asks for the value check {check!r}; "
                f"expected one of {', '.join(CHECKS)}",
                node=node.describe(), field=name,
            )
        rows[name] = TypeRow(name, measure, role, values, check or "none")
    return rows


def apply_type_rows(fields: Sequence[SpssField], rows: Mapping[str, TypeRow]) -> tuple[SpssField, ...]:
    """The fields with measure, role and values taken from the rows that name them."""
    out = []
    for f in fields:
        row = rows.get(f.name)
        if row is None:
            out.append(f)
            continue
        out.append(
            replace(
                f,
                measure=row.measure or f.measure,
                role=row.role or f.role,
                values=row.values if row.values else f.values,
            )
        )
    return tuple(out)


@dataclass(frozen=True)
class _Check:
    """What to do (``action``) with a value outside its field's declared measure and values."""

    field: SpssField  # its values in the field's storage
    action: str


@dataclass(eq=False)
class TypeNode(OneInputNode):
    checks: tuple[_Check, ...]

    def apply(self, table: Table) -> Table:
        columns = dict(table.columns)
        keep = np.ones(table.n_rows, dtype=bool)
        for check in self.checks:
            col = columns[check.field.name]
            bad = _illegal(check, col)
            if not bad.any():
                continue
            if check.action == "abort":
                row = int(np.flatnonzero(bad)[0])
                value = col[row].item() if isinstance(col[row], np.generic) else col[row]
                raise InvalidValueError(
                    f"{self.node.describe()}: value {value!r} of field {check.field.name!r} is outside its "
                    f"{check.field.measure} values {list(check.field.values)!r} and the Type node aborts on it",
                    field=check.field.name, value=value, row=row, node=self.node.describe(),
                )
            if check.action == "discard":
                keep &= ~bad
            elif check.action == "nullify":
                col = col.copy()
                col[bad] = np.nan if check.field.storage in NUMERIC_STORAGES else None
            else:  # coerce
                col = _coerce(check, col, bad)
            columns[check.field.name] = col
        if not keep.all():
            columns = {k: v[keep] for k, v in columns.items()}
            return Table(self.fields, columns, int(keep.sum()))
        return Table(self.fields, columns, table.n_rows)


def _illegal(check: _Check, col: np.ndarray) -> np.ndarray:
    """Rows whose value is present and outside the field's values (nulls are left alone)."""
    if check.field.measure == "range":
        lo, hi = float(check.field.values[0]), float(check.field.values[1])
        with np.errstate(invalid="ignore"):
            out: np.ndarray = ~np.isnan(col) & ((col < lo) | (col > hi))
        return out
    allowed = set(check.field.values)
    present = np.array([v is not None and not (isinstance(v, float) and v != v) for v in col], dtype=bool)
    member = np.array([v in allowed for v in col], dtype=bool)
    bad: np.ndarray = present & ~member
    return bad


def _coerce(check: _Check, col: np.ndarray, bad: np.ndarray) -> np.ndarray:
    """Modeler's Coerce: a range is clipped to its bounds; a flag takes its false value, a set its first."""
    out = col.copy()
    if check.field.measure == "range":
        lo, hi = float(check.field.values[0]), float(check.field.values[1])
        out[bad] = np.clip(col[bad], lo, hi)
    else:
        out[bad] = check.field.values[0]
    return out


def compile_type(node: Node, inputs: Sequence[tuple[SpssField, ...]], context: StreamContext) -> CompiledNode:
    fields = single_input(node, inputs)
    rows = read_type_table(node)
    out = apply_type_rows(fields, rows)
    checks = []
    for f in out:
        row = rows.get(f.name)
        if row is None or row.check in ("none", "warn"):
            continue
        if f.measure not in ("range", "set", "orderedSet", "flag") or not f.values:
            continue  # nothing to check against: Modeler checks only instantiated types
        if f.measure == "range" and (len(f.values) != 2 or f.storage not in NUMERIC_STORAGES):
            raise DocumentError(
                f"{node.describe()}: field {f.name!r} checks a range but its values are {list(f.values)!r} "
                f"and its storage is {f.storage}",
                node=node.describe(), field=f.name,
            )
        checks.append(_Check(replace(f, values=_as_storage(f.storage, f.values)), row.check))
    return TypeNode(node, out, tuple(checks))


def _as_storage(storage: str, values: tuple[Any, ...]) -> tuple[Any, ...]:
    """Values in the column convention of the storage (strings stay strings, numbers are floats)."""
    if storage in NUMERIC_STORAGES:
        return tuple(float(v) if not isinstance(v, str) else v for v in values)
    return tuple(v if isinstance(v, str) else _text(v) for v in values)


def _text(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _typed_value(node: Node, field: str, el: etree._Element) -> Any:
    """A ``<value type="…">`` of a typeTable: Java descriptor letters, plus U (date) and W (timestamp)."""
    code = el.get("type", "A")
    text = el.text or ""
    try:
        if code in ("D", "F"):
            return float(text)
        if code in ("I", "J", "S", "B"):
            return float(int(text))
        if code == "Z":
            return text.strip().lower() == "true"
        if code == "U":
            return float((_dt.date.fromisoformat(text.strip()) - _EPOCH).days)
        if code == "W":
            stamp = _dt.datetime.fromisoformat(text.strip())
            return (stamp - _dt.datetime(1970, 1, 1)).total_seconds()
    except ValueError:
        raise DocumentError(
            f"{node.describe()}: value {text!r} of field {field!r} is not of its declared type {code!r}",
            node=node.describe(), field=field,
        ) from None
    return text


COMPILERS: Mapping[str, NodeCompiler] = {"TypeNode": compile_type}
