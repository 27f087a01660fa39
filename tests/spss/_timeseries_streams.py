"""Nodes of the shared time-series streams, decoded for node-level tests of the time-series compilers."""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass

from lxml import etree
from tests.spss._streams import stream_bytes

from pmserve.formats.spss._fastinfoset import FiLimits, decode
from pmserve.formats.spss._model import NODE_PACKAGE, Node, StreamContext


@dataclass(frozen=True)
class Stream:
    root: etree._Element
    context: StreamContext

    def node(self, class_name: str, index: int = -1) -> Node:
        """The ``index``-th node of a class (by default the last one, the one on the scoring branch)."""
        elements = [el for el in self.root.iter("node") if el.get("class") == NODE_PACKAGE + class_name]
        el = elements[index]
        props = el.find("properties")
        assert props is not None
        return Node(el.get("id", ""), el.get("uid", ""), class_name, (props.findtext("name") or "").strip(),
                    (props.findtext("label") or "").strip(), el)


def open_stream(name: str) -> Stream:
    archive = zipfile.ZipFile(io.BytesIO(stream_bytes(name)))
    xml_name = next(n for n in archive.namelist() if n.endswith(".xml") and "/" not in n)
    root = decode(archive.read(xml_name), FiLimits())
    properties = {el.tag: (el.text or "").strip() for el in root.iterfind("stream/properties/*")}
    blobs = {n: archive.read(n) for n in archive.namelist() if n.startswith("data/")}
    return Stream(root, StreamContext(properties, blobs))
