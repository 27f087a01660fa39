"""Reading a node's ``<properties>``: one child element per property, looked up by name (the
order inside ``<properties>`` changes between saves, spss-str-format.md §3).

A scalar property is the element's text (``<deriveMode>single</deriveMode>``); a list property
holds one child element per item (``<deriveMultipleFieldList><field>Date</field>…``); a table
property holds ``rows/row`` children whose cells are child elements by name
(``<filterTable><rows><row><name>Drug</name><drop>true</drop></row>…``).
"""

from __future__ import annotations

from lxml import etree

from pmserve.errors import DocumentError
from pmserve.formats.spss._model import Node

_TRUE = frozenset({"true", "t", "yes", "y", "1", "on"})
_FALSE = frozenset({"false", "f", "no", "n", "0", "off", ""})


def properties(node: Node) -> etree._Element | None:
    return _child(node.element, "properties")


def prop(node: Node, name: str) -> etree._Element | None:
    """The property element ``name`` of the node, or None when the node does not have it."""
    props = properties(node)
    return None if props is None else _child(props, name)


def prop_text(node: Node, name: str, default: str = "") -> str:
    el = prop(node, name)
    return default if el is None else text_of(el)


def prop_bool(node: Node, name: str, default: bool) -> bool:
    el = prop(node, name)
    return default if el is None else to_bool(node, name, text_of(el))


def prop_list(node: Node, name: str) -> list[str]:
    """The items of a list property: the text of each child element, in order."""
    el = prop(node, name)
    return [] if el is None else [text_of(c) for c in el if isinstance(c.tag, str)]


def prop_rows(node: Node, name: str) -> list[etree._Element]:
    """The ``rows/row`` elements of a table property (``filterTable``, ``typeTable``, …)."""
    el = prop(node, name)
    if el is None:
        return []
    rows = _child(el, "rows")
    return [] if rows is None else [r for r in rows if r.tag == "row"]


def cell(row: etree._Element, name: str, default: str = "") -> str:
    """The text of the child element ``name`` of a table row."""
    el = _child(row, name)
    return default if el is None else text_of(el)


def to_bool(node: Node, name: str, text: str) -> bool:
    low = text.strip().lower()
    if low in _TRUE:
        return True
    if low in _FALSE:
        return False
    raise DocumentError(
        f"{node.describe()}: property {name!r} must be true or false, got {text!r}", node=node.describe()
    )


def text_of(el: etree._Element) -> str:
    """The element's own text (a property value is never split by child elements)."""
    return el.text or ""


def _child(el: etree._Element, name: str) -> etree._Element | None:
    for c in el:
        if c.tag == name:
            return c
    return None


def prop_first(node: Node, names: tuple[str, ...]) -> etree._Element | None:
    """The first of several candidate property elements the node has (for properties whose XML
    name no sample stream shows: the guessed internal name, then IBM's scripting name)."""
    for name in names:
        el = prop(node, name)
        if el is not None:
            return el
    return None


def require_text(node: Node, names: tuple[str, ...], what: str) -> str:
    """The text of a property the node cannot run without; refuses the node when it is absent."""
    el = prop_first(node, names)
    if el is None or not text_of(el).strip():
        raise DocumentError(
            f"{node.describe()} has no {what} (looked for property {' or '.join(repr(n) for n in names)})",
            node=node.describe(), element=names[0],
        )
    return text_of(el)
