"""Types shared by the parts of the ``.str`` loader: the decoded stream's nodes, field metadata
as Modeler describes it, and the table of whole columns that flows along a scoring branch.

Columns follow the engine's convention (``pmserve.pmml``): every column is a 1-D numpy array,
``float64`` with NaN for a missing value for numeric storages (``integer``, ``real``) and for the
temporal ones (``date``: days since 1970-01-01, ``time``: seconds since midnight, ``timestamp``:
seconds since 1970-01-01T00:00:00), or ``object`` with ``None`` for a missing value for
``string``.  A branch never changes a column in place: a node returns a new :class:`Table`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
from lxml import etree

NODE_PACKAGE = "com.spss.clementine.component.node."

STORAGES = frozenset({"string", "integer", "real", "date", "time", "timestamp", "unknown"})


@dataclass(frozen=True)
class SpssField:
    """One field as a stream describes it (source ``importedFields``, Type tables, nugget outputs)."""

    name: str
    storage: str = "unknown"  # one of STORAGES
    measure: str = "auto"  # range, set, orderedSet, flag, discrete, typeless, auto
    role: str = "in"  # in, out, both, none, partition, split, frequency, recordid
    values: tuple[Any, ...] = ()  # range: (min, max); set/orderedSet: categories; flag: (false, true)


@dataclass(frozen=True, eq=False)
class Node:
    """One ``<node>`` of the stream diagram, as decoded; ``element`` is read-only by convention."""

    id: str  # diagram id: links use it
    uid: str  # persistent id: the stream's scn* properties use it
    class_name: str  # Java class without NODE_PACKAGE, e.g. "DeriveNode"
    name: str  # Modeler's default display name ("Var. File", "Table", a nugget's target)
    label: str  # the user's label, "" when none
    element: etree._Element = field(repr=False)

    @property
    def display_name(self) -> str:
        return self.label or self.name

    def describe(self) -> str:
        """How messages name a node: its display name, class and diagram id."""
        return f"node {self.display_name!r} ({self.class_name}, id {self.id})"

    def __reduce__(self) -> tuple[Any, ...]:
        # lxml elements do not pickle: carry the node's XML as bytes, so compiled branches pickle
        xml = etree.tostring(self.element)
        return (_node_from_xml, (self.id, self.uid, self.class_name, self.name, self.label, xml))


def _node_from_xml(id: str, uid: str, class_name: str, name: str, label: str, xml: bytes) -> Node:
    parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=True)
    return Node(id, uid, class_name, name, label, etree.fromstring(xml, parser))


@dataclass(frozen=True)
class Table:
    """Whole columns flowing along a branch: one array per field, all of length ``n_rows``."""

    fields: tuple[SpssField, ...]
    columns: Mapping[str, np.ndarray]
    n_rows: int

    def field(self, name: str) -> SpssField | None:
        return next((f for f in self.fields if f.name == name), None)


class CompiledNode(Protocol):
    """A node compiled at deploy time against the fields that reach it.

    Compiling checks everything the node will need (fields it reads, CLEM functions, settings)
    and raises a :class:`~pmserve.errors.DocumentError` naming the node (``Node.describe``) when it
    cannot run; ``run`` then never fails on the stream's markup, only on the data.
    """

    node: Node

    @property
    def output_fields(self) -> tuple[SpssField, ...]:
        """The fields after this node, in order."""
        ...

    def run(self, inputs: Sequence[Table]) -> Table:
        """Run on one table per upstream input (most nodes take exactly one)."""
        ...


@dataclass(frozen=True)
class StreamContext:
    """What a node compiler may read besides its own node."""

    properties: Mapping[str, str]  # the stream's own properties by name (dateFormat, dateBaseline, ...)
    blobs: Mapping[str, bytes]  # archive entries by the path the XML names them with ("data/0002.dat")
    max_inflated_bytes: int = 256 * 1024 * 1024  # what opening the nuggets' containers may inflate in all
    clem_max_length: int = 10_000  # Settings.clem_max_length: longest CLEM expression a node may hold
    clem_max_depth: int = 64  # Settings.clem_max_depth: deepest nesting of a CLEM expression


# A node compiler gets the node, the fields reaching it (one tuple per upstream input, in link
# order) and the stream context; it returns the compiled node or raises a DocumentError naming it.
NodeCompiler = Callable[[Node, Sequence[tuple[SpssField, ...]], StreamContext], CompiledNode]
