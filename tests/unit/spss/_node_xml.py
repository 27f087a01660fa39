"""Hand-built node XML for the node tests, in the shape the decoded sample streams show:
``<node id class uid><properties><name/>…</properties></node>``, one element per property."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from lxml import etree

from pmserve.formats.spss._model import NODE_PACKAGE, Node, SpssField, StreamContext, Table

CONTEXT = StreamContext(properties={}, blobs={})


def make_node(class_name: str, properties: str, *, label: str = "", node_id: str = "7") -> Node:
    """A node whose ``<properties>`` holds the given XML fragment."""
    xml = (
        f'<node id="{node_id}" class="{NODE_PACKAGE}{class_name}" uid="id{class_name}{node_id}">'
        f"<properties><name>{class_name.removesuffix('Node')}</name><label>{label}</label>{properties}</properties>"
        f"</node>"
    )
    element = etree.fromstring(xml)
    return Node(node_id, f"id{class_name}{node_id}", class_name, class_name.removesuffix("Node"), label, element)


def fields(**storages: str) -> tuple[SpssField, ...]:
    return tuple(SpssField(name, storage) for name, storage in storages.items())


def table(fields_: Sequence[SpssField], columns: Mapping[str, Sequence[Any]]) -> Table:
    """A table in the branch convention: float64 with NaN for numbers, object with None for strings."""
    cols: dict[str, np.ndarray] = {}
    for f in fields_:
        raw = columns[f.name]
        if f.storage == "string":
            cols[f.name] = np.array(list(raw), dtype=object)
        else:
            cols[f.name] = np.array([np.nan if v is None else float(v) for v in raw], dtype=float)
    n = len(next(iter(cols.values()))) if cols else 0
    return Table(tuple(fields_), cols, n)


def values(t: Table, name: str) -> list[Any]:
    """A column as plain Python values, None for a missing value."""
    out: list[Any] = []
    for v in t.columns[name]:
        if v is None or (isinstance(v, float) and v != v):
            out.append(None)
        else:
            out.append(v.item() if isinstance(v, np.generic) else v)
    return out
