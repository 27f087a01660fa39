"""Stage 1: read a PMML document into small immutable :class:`Element` nodes.

The XML parser is hardened: no entity expansion, no DTD, no network access, and a size limit.
Namespaces are dropped (PMML 3.0-4.4 and documents without a namespace read the same), as are
``Extension`` elements, which carry vendor data that never changes a score.
"""

from __future__ import annotations

import gzip
import io
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import IO, Any, NamedTuple, overload

from lxml import etree

from pmserve.errors import InvalidMarkupError

#: Largest document accepted (uncompressed), in bytes.
MAX_DOCUMENT_BYTES = 512 * 1024 * 1024
#: Documents above this size are parsed with lxml's ``huge_tree`` (large forests are legitimate).
_HUGE_TREE_BYTES = 8 * 1024 * 1024

_GZIP_MAGIC = b"\x1f\x8b"


class Element(NamedTuple):
    """One PMML element: local tag name, attributes, children, text and source line (immutable)."""

    tag: str
    attrs: Mapping[str, str]
    children: tuple[Element, ...]
    text: str
    line: int

    @overload
    def get(self, name: str) -> str | None: ...
    @overload
    def get(self, name: str, default: str) -> str: ...
    def get(self, name: str, default: str | None = None) -> str | None:
        return self.attrs.get(name, default)

    def find(self, tag: str) -> Element | None:
        for c in self.children:
            if c.tag == tag:
                return c
        return None

    def findall(self, tag: str) -> list[Element]:
        return [c for c in self.children if c.tag == tag]

    def iter(self) -> Iterator[Element]:
        """This element and all its descendants, depth first."""
        stack = [self]
        while stack:
            e = stack.pop()
            yield e
            stack.extend(reversed(e.children))

    @property
    def where(self) -> str:
        return f"{self.tag} at line {self.line}"


def read_bytes(source: bytes | str | os.PathLike[str] | IO[bytes]) -> bytes:
    """The document's bytes from bytes, a path or a binary file object; gzip is undone."""
    if isinstance(source, bytes):
        data = source
    elif isinstance(source, (str, os.PathLike)):
        data = Path(source).read_bytes()
    elif hasattr(source, "read"):
        data = source.read()
        if not isinstance(data, bytes):
            raise InvalidMarkupError("expected a binary file object, got one that reads text")
    else:
        raise InvalidMarkupError(f"expected bytes, a path or a binary file object, got {type(source).__name__}")
    if data[:2] == _GZIP_MAGIC:
        try:
            with gzip.GzipFile(fileobj=io.BytesIO(data)) as gz:
                data = gz.read(MAX_DOCUMENT_BYTES + 1)
        except (OSError, EOFError) as exc:
            raise InvalidMarkupError(f"the gzip-compressed document cannot be decompressed: {exc}") from None
    if len(data) > MAX_DOCUMENT_BYTES:
        raise InvalidMarkupError(f"the document is larger than {MAX_DOCUMENT_BYTES // 2**20} MiB")
    return data


def parse(source: bytes | str | os.PathLike[str] | IO[bytes]) -> Element:
    """Parse a PMML document (plain or gzip-compressed) into its root :class:`Element`."""
    data = read_bytes(source)
    if not data.strip():
        raise InvalidMarkupError("the document is empty; expected a PMML XML document")
    parser = etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        dtd_validation=False,
        load_dtd=False,
        remove_comments=True,
        remove_pis=True,
        huge_tree=len(data) > _HUGE_TREE_BYTES,
    )
    try:
        root = etree.fromstring(data, parser=parser)
    except etree.XMLSyntaxError as exc:
        line = exc.lineno if isinstance(exc.lineno, int) else None
        raise InvalidMarkupError(f"the document is not well-formed XML: {exc.msg}", line=line) from None
    tree = root.getroottree()
    if tree.docinfo.internalDTD is not None or tree.docinfo.doctype:
        raise InvalidMarkupError("the document declares a DTD; PMML documents must not (entities are refused)")
    if _local(root.tag) != "PMML":
        raise InvalidMarkupError(
            f"expected a PMML document (root element PMML), got root element {_local(root.tag)!r}",
            line=root.sourceline if isinstance(root.sourceline, int) else None,
        )
    return _convert(root)


def _local(tag: Any) -> str:
    if not isinstance(tag, str):
        return ""
    return tag.rsplit("}", 1)[-1] if tag.startswith("{") else tag


def _convert(root: Any) -> Element:
    ns_end = root.tag.find("}") + 1
    extension = root.tag[:ns_end] + "Extension"

    def conv(el: Any) -> Element:
        # Recursive: about three times faster than an explicit stack here, and PMML nests only
        # as deep as its deepest tree; a deeper document falls back to the iterative walk.
        tag = el.tag
        return Element(
            tag[tag.find("}") + 1:],
            dict(el.attrib),
            tuple([conv(c) for c in el if c.tag != extension and isinstance(c.tag, str)]),
            el.text or "",
            el.sourceline or 0,
        )

    try:
        return conv(root)
    except RecursionError:
        return _convert_iteratively(root)


def _convert_iteratively(root: Any) -> Element:
    # Iterative post-order conversion: deep trees (TreeModel nodes) must not hit recursion limits.
    result: dict[int, list[Element]] = {}
    stack: list[tuple[Any, bool]] = [(root, False)]
    out: Element | None = None
    while stack:
        node, done = stack.pop()
        if not done:
            stack.append((node, True))
            result[id(node)] = []
            for child in reversed(node):
                if isinstance(child.tag, str) and _local(child.tag) != "Extension":
                    stack.append((child, False))
            continue
        children = result.pop(id(node))
        attrs = {_local(k): v for k, v in node.attrib.items()} if node.attrib else {}
        el = Element(_local(node.tag), attrs, tuple(children), node.text or "", node.sourceline or 0)
        parent = node.getparent()
        if parent is None or node is root:
            out = el
        else:
            result[id(parent)].append(el)
    if out is None:  # pragma: no cover - root always converts
        raise InvalidMarkupError("empty document")
    return out
