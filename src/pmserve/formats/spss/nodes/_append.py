"""Append node: the records of several inputs one after another (db2-customer-satisfaction-
prediction.str joins two database sources with one).

Properties, as the sample writes them: ``appendMode`` (``name``: fields are matched by name,
``position``: by position), ``appendMatchCase`` (match names with case), ``appendIncludeAllFields``
(false: only the main, i.e. first, input's fields; true: every input's fields, new ones appended
in input order), ``appendIncludeTag`` with ``appendTagField`` (a string field naming the input of
each record) and ``tagTable/tagNames/tag[@id]/name`` (the tag of input ``id``, counted from 1).
A field an input does not have is ``$null$`` on its records.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np

from pmserve.errors import DataError, DocumentError
from pmserve.formats.spss._model import CompiledNode, Node, NodeCompiler, SpssField, StreamContext, Table
from pmserve.formats.spss.nodes._common import merged_storage, null_column
from pmserve.formats.spss.nodes._props import prop, prop_bool, prop_text


@dataclass(eq=False)
class AppendNode:
    node: Node
    fields: tuple[SpssField, ...]
    # per input: for every output field, the input's field that fills it, or None for $null$
    sources: tuple[tuple[str | None, ...], ...]
    tags: tuple[str, ...] | None  # the tag of each input's records, when the node adds a tag field

    @property
    def output_fields(self) -> tuple[SpssField, ...]:
        return self.fields

    def run(self, inputs: Sequence[Table]) -> Table:
        if len(inputs) != len(self.sources):
            raise DataError(
                f"{self.node.describe()} appends {len(self.sources)} inputs, got {len(inputs)} tables",
                node=self.node.describe(),
            )
        columns: dict[str, np.ndarray] = {}
        value_fields = self.fields[:-1] if self.tags is not None else self.fields
        for j, f in enumerate(value_fields):
            parts = []
            for table, source in zip(inputs, self.sources, strict=True):
                name = source[j]
                if name is None:
                    parts.append(null_column(f.storage, table.n_rows))
                else:
                    col = table.columns[name]
                    parts.append(col.astype(object) if f.storage == "string" else col.astype(float))
            columns[f.name] = np.concatenate(parts) if parts else null_column(f.storage, 0)
        if self.tags is not None:
            columns[self.fields[-1].name] = np.concatenate(
                [np.full(t.n_rows, tag, dtype=object) for t, tag in zip(inputs, self.tags, strict=True)]
            )
        return Table(self.fields, columns, sum(t.n_rows for t in inputs))


def _merged_storage(node: Node, name: str, a: str, b: str) -> str:
    merged = merged_storage(a, b)
    if merged is not None:
        return merged
    raise DocumentError(
        f"{node.describe()} appends field {name!r} of storage {a} to one of storage {b}",
        node=node.describe(), field=name,
    )


def compile_append(node: Node, inputs: Sequence[tuple[SpssField, ...]], context: StreamContext) -> CompiledNode:
    if not inputs:
        raise DocumentError(f"{node.describe()} has no input", node=node.describe())
    mode = prop_text(node, "appendMode", "name").strip().lower() or "name"
    if mode not in ("name", "position"):
        raise DocumentError(f"{node.describe()}: appendMode must be name or position, got {mode!r}",
                            node=node.describe())
    match_case = prop_bool(node, "appendMatchCase", False)
    all_fields = prop_bool(node, "appendIncludeAllFields", False)
    main = inputs[0]
    out: list[SpssField] = list(main)
    sources: list[list[str | None]] = [[f.name for f in main]]
    for fields in inputs[1:]:
        if mode == "position":
            picked, extra = _by_position(node, out, fields)
        else:
            picked, extra = _by_name(node, out, fields, match_case)
        if not all_fields:
            extra = []
        for s in sources:
            s.extend([None] * len(extra))
        out.extend(extra)
        picked.extend(f.name for f in extra)
        sources.append(picked)
    tags: tuple[str, ...] | None = None
    if prop_bool(node, "appendIncludeTag", False):
        tag_field = prop_text(node, "appendTagField", "Input").strip() or "Input"
        if any(f.name == tag_field for f in out):
            raise DocumentError(f"{node.describe()}: tag field {tag_field!r} is already a field",
                                node=node.describe(), field=tag_field)
        names = _tag_names(node)
        tags = tuple(names.get(str(k + 1), str(k + 1)) for k in range(len(inputs)))
        out.append(SpssField(tag_field, "string", "set", "in", tags))
    return AppendNode(node, tuple(out), tuple(tuple(s) for s in sources), tags)


def _by_position(node: Node, out: list[SpssField],
                 fields: Sequence[SpssField]) -> tuple[list[str | None], list[SpssField]]:
    """Match another input's fields to the output's by position (widening ``out`` in place):
    the field feeding each output field (None: none), and the input's fields left over."""
    picked: list[str | None] = []
    for j, f in enumerate(out):
        if j < len(fields):
            out[j] = replace(f, storage=_merged_storage(node, f.name, f.storage, fields[j].storage))
            picked.append(fields[j].name)
        else:
            picked.append(None)
    return picked, list(fields[len(out):])


def _by_name(node: Node, out: list[SpssField], fields: Sequence[SpssField],
             match_case: bool) -> tuple[list[str | None], list[SpssField]]:
    """As :func:`_by_position`, matching by field name (case-insensitively unless ``match_case``)."""

    def key(name: str) -> str:
        return name if match_case else name.casefold()

    by_key = {key(f.name): f for f in fields}
    used: set[str] = set()
    picked: list[str | None] = []
    for j, f in enumerate(out):
        match = by_key.get(key(f.name))
        if match is None:
            picked.append(None)
            continue
        out[j] = replace(f, storage=_merged_storage(node, f.name, f.storage, match.storage))
        picked.append(match.name)
        used.add(key(f.name))
    return picked, [f for f in fields if key(f.name) not in used]


def _tag_names(node: Node) -> dict[str, str]:
    table = prop(node, "tagTable")
    names: dict[str, str] = {}
    if table is None:
        return names
    for tag in table.iter("tag"):
        ident = tag.get("id")
        name_el = tag.find("name")
        if ident is not None and name_el is not None and name_el.text:
            names[ident] = name_el.text
    return names


COMPILERS: Mapping[str, NodeCompiler] = {"AppendNode": compile_append}
