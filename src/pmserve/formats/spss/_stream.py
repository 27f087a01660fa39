"""The decoded stream XML as a diagram: stream properties, nodes, links and blobs (format §3).

Nothing here interprets a node: it checks the skeleton (``clementineStream/stream/diagram``),
that node ids are unique, that links join known nodes, and that every blob the XML names
(an attribute whose value starts with ``data/``, §3.4) is a plain path present in the archive.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from lxml import etree

from pmserve.errors import InvalidMarkupError, UnsupportedFormatError
from pmserve.formats.spss._archive import BLOB_FOLDER, Archive, check_blob_path
from pmserve.formats.spss._model import NODE_PACKAGE, Node


@dataclass(frozen=True)
class Stream:
    """One stream: its properties by name, its nodes, its links (upstream id, downstream id)."""

    filename: str
    name: str
    version: str
    properties: Mapping[str, str]
    nodes: tuple[Node, ...]
    links: tuple[tuple[str, str], ...]
    blobs: Mapping[str, bytes]
    _by_id: Mapping[str, Node] = field(repr=False)
    _by_uid: Mapping[str, Node] = field(repr=False)

    def node(self, node_id: str) -> Node:
        return self._by_id[node_id]

    def node_by_uid(self, uid: str) -> Node | None:
        return self._by_uid.get(uid)

    def upstream(self, node_id: str) -> tuple[str, ...]:
        """The ids linked into a node, in link order."""
        return tuple(src for src, dst in self.links if dst == node_id)

    def downstream(self, node_id: str) -> tuple[str, ...]:
        return tuple(dst for src, dst in self.links if src == node_id)


def read_stream(archive: Archive, root: etree._Element) -> Stream:
    """Check the skeleton of a decoded stream and index its nodes and links."""
    where = f"stream {archive.filename!r}"
    if root.tag != "clementineStream":
        raise UnsupportedFormatError(f"{where}: the XML entry {archive.xml_name!r} holds <{root.tag}>, "
                                     f"not a Modeler <clementineStream>", entry=archive.xml_name)
    stream = root.find("stream")
    diagram = None if stream is None else stream.find("diagram")
    if stream is None or diagram is None:
        raise InvalidMarkupError(f"{where}: <clementineStream> has no stream/diagram", element="stream")
    _check_blob_references(where, root, archive.blobs)
    properties = _properties(stream.find("properties"))
    nodes: list[Node] = []
    by_id: dict[str, Node] = {}
    by_uid: dict[str, Node] = {}
    for element in diagram.iterfind("nodes/node"):
        node = _node(where, element)
        if node.id in by_id:
            raise InvalidMarkupError(f"{where}: two nodes have diagram id {node.id!r} "
                                     f"({by_id[node.id].describe()} and {node.describe()})", element="node")
        by_id[node.id] = node
        if node.uid:
            by_uid.setdefault(node.uid, node)
        nodes.append(node)
    links: list[tuple[str, str]] = []
    for link in diagram.iterfind("links/link"):
        src, dst = link.get("srcId"), link.get("dstId")
        if src is None or dst is None or src not in by_id or dst not in by_id:
            unknown = src if src is None or src not in by_id else dst
            raise InvalidMarkupError(f"{where}: a link joins node id {unknown!r}, which is not a node of the "
                                     f"diagram (link {src!r} -> {dst!r})", element="link")
        links.append((src, dst))
    return Stream(
        filename=archive.filename,
        name=properties.get("name", ""),
        version=root.get("version", ""),
        properties=MappingProxyType(properties),
        nodes=tuple(nodes),
        links=tuple(links),
        blobs=archive.blobs,
        _by_id=MappingProxyType(by_id),
        _by_uid=MappingProxyType(by_uid),
    )


def _properties(element: etree._Element | None) -> dict[str, str]:
    """Scalar stream properties (``<name>Drug1n</name>``) by name; nested ones are left out."""
    if element is None:
        return {}
    return {c.tag: (c.text or "") for c in element if isinstance(c.tag, str) and len(c) == 0}


def _node(where: str, element: etree._Element) -> Node:
    node_id = element.get("id")
    class_attr = element.get("class") or ""
    if node_id is None or not class_attr:
        raise InvalidMarkupError(f"{where}: a <node> lacks its id or class attribute "
                                 f"(id={node_id!r}, class={class_attr!r})", element="node")
    class_name = class_attr.removeprefix(NODE_PACKAGE).rsplit(".", 1)[-1]
    props = element.find("properties")
    name = "" if props is None else (props.findtext("name") or "")
    label = "" if props is None else (props.findtext("label") or "")
    return Node(id=node_id, uid=element.get("uid", ""), class_name=class_name, name=name or class_name,
                label=label, element=element)


def _check_blob_references(where: str, root: etree._Element, blobs: Mapping[str, bytes]) -> None:
    for element in root.iter():
        for raw_name, raw in element.attrib.items():
            attribute = raw_name if isinstance(raw_name, str) else raw_name.decode("utf-8", "replace")
            value = raw if isinstance(raw, str) else raw.decode("utf-8", "replace")
            if not value.startswith(BLOB_FOLDER) and not _looks_like_escape(value):
                continue
            check_blob_path(value, where=f"{where}: <{element.tag} {attribute}=…>")
            if value not in blobs:
                raise InvalidMarkupError(f"{where}: <{element.tag} {attribute}={value!r}> names a blob the "
                                         f"archive does not hold", element=element.tag, entry=value)


def _looks_like_escape(value: str) -> bool:
    """A blob reference trying to leave ``data/`` (``../x``, ``/etc/x``, ``data\\..``)."""
    return value.startswith(("../", "..\\", "./data/")) or (value.startswith("/") and "/data/" in value)
