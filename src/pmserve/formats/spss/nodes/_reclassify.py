"""Reclassify node: map the values of a categorical field to new values, into the field itself or
a new one, for one field or several (IBM's ``reclassifynode``: mode, replace_field, field,
new_name, fields, name_extension, add_as, reclassify, use_default, default).

Values the table does not list keep their value, or become ``default`` when ``use_default`` is
set (``undef`` there gives ``$null$``).  No sample stream has a Reclassify node, so its property
names are unverified: pmserve reads the names the other nodes' pattern suggests
(``reclassifyMode``, ``reclassifyTable`` rows of ``oldValue``/``newValue``, …) and IBM's scripting
names, and refuses the node, naming what it looked for, when neither is there.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from lxml import etree

from pmserve.errors import DocumentError
from pmserve.formats.spss._model import CompiledNode, Node, NodeCompiler, SpssField, StreamContext, Table
from pmserve.formats.spss.nodes._common import (
    NUMERIC_STORAGES,
    ColumnsNode,
    column_of,
    merged_storage,
    require_fields,
    single_input,
)
from pmserve.formats.spss.nodes._props import cell, prop_first, text_of, to_bool

MODE = ("reclassifyMode", "mode")
REPLACE = ("reclassifyReplaceField", "replace_field")
FIELD = ("reclassifyField", "field")
NEW_NAME = ("reclassifyNewName", "new_name")
FIELDS = ("reclassifyFields", "reclassifyFieldList", "fields")
EXTENSION = ("reclassifyExtensionName", "reclassifyNameExtension", "name_extension")
ADD_AS = ("reclassifyExtensionPosition", "reclassifyAddAs", "add_as")
TABLE = ("reclassifyTable", "reclassify")
USE_DEFAULT = ("reclassifyUseDefault", "use_default")
DEFAULT = ("reclassifyDefault", "default")


@dataclass(frozen=True)
class _Map:
    source: str
    target: str
    mapping: tuple[tuple[Any, Any], ...]
    default: Any  # used when use_default; _KEEP otherwise
    keep: bool
    storage: str

    def column(self, table: Table) -> tuple[str, np.ndarray]:
        lookup = dict(self.mapping)
        new: list[Any] = []
        for v in table.columns[self.source].tolist():
            missing = v is None or (isinstance(v, float) and v != v)
            if not missing and v in lookup:
                new.append(lookup[v])
            elif self.keep:
                new.append(None if missing else v)
            else:
                new.append(self.default)
        return self.target, column_of(self.storage, new)


def _text(node: Node, names: tuple[str, ...], default: str = "") -> str:
    el = prop_first(node, names)
    return default if el is None else text_of(el).strip()


def _pairs(node: Node) -> list[tuple[str, str]]:
    table = prop_first(node, TABLE)
    if table is None:
        raise DocumentError(
            f"{node.describe()} has no reclassification table (looked for property "
            f"{' or '.join(map(repr, TABLE))})", node=node.describe(), element=TABLE[0],
        )
    rows: list[etree._Element] = list(table.iter("row"))
    pairs = []
    for r in rows:
        old = cell(r, "oldValue") or cell(r, "old") or cell(r, "from")
        new = cell(r, "newValue") or cell(r, "new") or cell(r, "to")
        if old != "" or new != "":
            pairs.append((old, new))
    if not pairs:
        raise DocumentError(f"{node.describe()}: the reclassification table is empty", node=node.describe())
    return pairs


def _typed(storage: str, text: str) -> Any:
    if storage in NUMERIC_STORAGES:
        return float(text)
    return text


def compile_reclassify(
    node: Node, inputs: Sequence[tuple[SpssField, ...]], context: StreamContext
) -> CompiledNode:
    fields = single_input(node, inputs)
    sources, targets = _sources_and_targets(node)
    require_fields(node, fields, sources, "reclassifies")
    table = _Table(_pairs(node), to_bool(node, "use_default", _text(node, USE_DEFAULT, "false")),
                   _text(node, DEFAULT, ""))
    by_name = {f.name: f for f in fields}
    out = list(fields)
    maps = []
    for source, target in zip(sources, targets, strict=True):
        m = _map(node, by_name[source], target, table)
        maps.append(m)
        new_values = tuple(dict.fromkeys(n for _, n in m.mapping))
        new_field = SpssField(target, m.storage, "set", by_name[source].role, new_values)
        names = [x.name for x in out]
        if target in names:
            out[names.index(target)] = new_field
        else:
            out.append(new_field)
    return ColumnsNode(node, tuple(out), tuple(maps))


def _sources_and_targets(node: Node) -> tuple[list[str], list[str]]:
    """The fields reclassified and the fields their new values go to (single or multiple mode)."""
    mode = _text(node, MODE, "single").lower() or "single"
    replace_field = to_bool(node, "replace_field", _text(node, REPLACE, "false"))
    if mode == "single":
        sources = [_text(node, FIELD)]
        if not sources[0]:
            raise DocumentError(f"{node.describe()} names no field to reclassify", node=node.describe())
        return sources, [sources[0] if replace_field else _text(node, NEW_NAME) or sources[0]]
    if mode == "multiple":
        el = prop_first(node, FIELDS)
        sources = [] if el is None else [text_of(c) for c in el if isinstance(c.tag, str) and text_of(c)]
        if not sources:
            raise DocumentError(f"{node.describe()} lists no fields to reclassify", node=node.describe())
        extension = _text(node, EXTENSION, "_RECLASSIFIED")
        prefix = _text(node, ADD_AS, "suffix").lower() == "prefix"
        return sources, [s if replace_field else (extension + s if prefix else s + extension) for s in sources]
    raise DocumentError(f"{node.describe()}: reclassify mode must be single or multiple, got {mode!r}",
                        node=node.describe())


@dataclass(frozen=True)
class _Table:
    """The node's reclassification table as written: (old, new) texts and the default for the rest."""

    pairs: list[tuple[str, str]]
    use_default: bool
    default_text: str


def _map(node: Node, f: SpssField, target: str, table: _Table) -> _Map:
    """The typed mapping of one reclassified field, in the storage its new values need."""
    new_texts = [n for _, n in table.pairs]
    if table.use_default and table.default_text != "undef":
        new_texts.append(table.default_text)
    new_storage = "string"
    if all(_reads_as(float, t) for t in new_texts):
        new_storage = "integer" if all(_reads_as(int, t) for t in new_texts) else "real"
    if not table.use_default and (new_storage in NUMERIC_STORAGES) != (f.storage in NUMERIC_STORAGES):
        raise DocumentError(
            f"{node.describe()}: values of {f.storage} field {f.name!r} that the table does not list keep "
            f"their value, but the new values are {new_storage}",
            node=node.describe(), field=f.name,
        )
    # Unlisted values keep theirs unless a default replaces them, so both must fit the storage.
    storage = new_storage if table.use_default else merged_storage(new_storage, f.storage) or f.storage
    try:
        mapping = tuple((_typed(f.storage, o), _typed(storage, n)) for o, n in table.pairs)
    except ValueError:
        raise DocumentError(
            f"{node.describe()}: a reclassification value does not fit field {f.name!r} ({f.storage})",
            node=node.describe(), field=f.name,
        ) from None
    default = None if (not table.use_default or table.default_text == "undef") else _typed(storage, table.default_text)
    return _Map(f.name, target, mapping, default, not table.use_default, storage)


def _reads_as(convert: Callable[[str], object], text: str) -> bool:
    """Whether ``convert`` (``int`` or ``float``) reads ``text``: the new values' storage is decided so."""
    try:
        convert(text)
    except ValueError:
        return False
    return True


COMPILERS: Mapping[str, NodeCompiler] = {"ReclassifyNode": compile_reclassify}
