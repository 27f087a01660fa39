"""The document model: :class:`Element`, and the hardened lxml reading that builds it.

The XML parser is hardened: no entity expansion, no DTD, no network access.  Namespaces are
dropped (PMML 3.0-4.4 and documents without a namespace read the same), as are ``Extension``
elements, which carry vendor data that never changes a score.  Every element is checked against
the :class:`~pmserve.pmml.document.limits.Limits` before it is converted."""

from __future__ import annotations

from collections.abc import Callable, Container, Iterator, Mapping
from typing import Any, NamedTuple, overload

from lxml import etree

from pmserve.errors import InvalidMarkupError
from pmserve.pmml.document.limits import DEFAULT_LIMITS, Limits, too_deep, too_many_attributes, too_many_elements

#: The tag of the empty element that stands in for a hierarchy read in bulk.
STAND_IN_TAG = "pmserve-node-table"


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

    def find_any(self, tags: Container[str]) -> Element | None:
        """The first child whose tag is one of ``tags`` (a predicate, an expression, a model)."""
        return next((c for c in self.children if c.tag in tags), None)

    def findall(self, tag: str) -> list[Element]:
        return [c for c in self.children if c.tag == tag]

    def iter(self) -> Iterator[Element]:
        """This element and all its descendants, depth first."""
        stack = [self]
        while stack:
            e = stack.pop()
            yield e
            stack.extend(reversed(e.children))


def parse_xml(data: bytes, limits: Limits = DEFAULT_LIMITS) -> Any:
    # libxml2's "huge" option is always on: its own depth cap (256 levels without it) would make
    # the accepted depth depend on the document's size; Limits.max_depth is the one rule instead.
    parser = etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        dtd_validation=False,
        load_dtd=False,
        remove_comments=True,
        remove_pis=True,
        huge_tree=True,
    )
    try:
        root = etree.fromstring(data, parser=parser)
    except etree.XMLSyntaxError as exc:
        line = exc.lineno if isinstance(exc.lineno, int) else None
        if "Excessive depth" in str(exc.msg):
            raise too_deep(limits.max_depth + 1, limits, line=line, what="elements more than") from None
        raise InvalidMarkupError(f"the document is not well-formed XML: {exc.msg}", line=line) from None
    tree = root.getroottree()
    if tree.docinfo.internalDTD is not None or tree.docinfo.doctype:
        raise InvalidMarkupError("the document declares a DTD; PMML documents must not (entities are refused)")
    if local_name(root.tag) != "PMML":
        raise InvalidMarkupError(
            f"expected a PMML document (root element PMML), got root element {local_name(root.tag)!r}",
            line=root.sourceline if isinstance(root.sourceline, int) else None,
        )
    return root


def local_name(tag: Any) -> str:
    if not isinstance(tag, str):
        return ""
    return tag.rsplit("}", 1)[-1] if tag.startswith("{") else tag


def _cell_name(el: Any, ns_end: int, root_tag: str) -> str:
    """An element of another namespace than the document's keeps its prefix: ``data:input``.

    JPMML names an InlineTable column ``prefix:localPart`` (InlineTableUtil.parseColumn), and
    JPMML-SparkML and sklearn2pmml write their MapValues tables with ``data:input`` /
    ``data:output`` cells in the ``http://jpmml.org/jpmml-model/InlineTable`` namespace.
    """
    tag: str = el.tag
    local = tag[tag.find("}") + 1:]
    same = tag[:tag.find("}") + 1] == root_tag[:ns_end]
    return local if same else f"{el.prefix}:{local}"


#: Builds the element that a stand-in (an empty ``STAND_IN_TAG`` element) replaces, given the
#: stand-in, its depth and the element budget left (a one-item list it draws from).
StandIn = Callable[[Any, int, list[int]], "Element"]


def convert(root: Any, line_offset: int = 0, limits: Limits = DEFAULT_LIMITS,
            stand_in: StandIn | None = None) -> Element:
    """An lxml tree as :class:`Element` nodes; ``stand_in`` builds the elements of stand-ins."""
    ns_end = root.tag.find("}") + 1
    extension = root.tag[:ns_end] + "Extension"
    # Only a document with stand-ins (parse's skeleton) passes stand_in; otherwise such a tag is the document's.
    placeholder = root.tag[:ns_end] + STAND_IN_TAG if stand_in is not None else None
    budget = [limits.max_elements]

    def conv(el: Any, depth: int) -> Element:
        # Recursive: about three times faster than an explicit stack here, and PMML nests only
        # as deep as its deepest tree; a deeper document falls back to the iterative walk.
        tag = el.tag
        if tag == placeholder and stand_in is not None:
            return stand_in(el, depth, budget)
        _check_element(el, depth, budget, limits, line_offset)
        return Element(
            _cell_name(el, ns_end, root.tag) if el.prefix else tag[tag.find("}") + 1:],
            dict(el.attrib),
            tuple([conv(c, depth + 1) for c in el if c.tag != extension and isinstance(c.tag, str)]),
            el.text or "",
            (el.sourceline or 0) + line_offset,
        )

    try:
        return conv(root, 1)
    except RecursionError:
        return _convert_iteratively(root, line_offset, limits)


def _check_element(el: Any, depth: int, budget: list[int], limits: Limits, line_offset: int) -> None:
    """Refuse an element past the limits before its attributes are converted.

    Reading an element's attributes costs time quadratic in their number (lxml looks each name up
    again), and holds the GIL: the count, which is cheap, comes first.
    """
    if depth > limits.max_depth:
        raise too_deep(depth, limits, line=(el.sourceline or 0) + line_offset)
    if len(el.attrib) > limits.max_attributes:
        raise too_many_attributes(len(el.attrib), local_name(el.tag), limits, (el.sourceline or 0) + line_offset)
    budget[0] -= 1
    if budget[0] < 0:
        raise too_many_elements(limits)
    if not budget[0] & 0xFFFF:  # now and then: the clock costs more than an element
        limits.check_deadline("reading the document")


def _convert_iteratively(root: Any, line_offset: int = 0, limits: Limits = DEFAULT_LIMITS) -> Element:
    # Iterative post-order conversion: deep trees (TreeModel nodes) must not hit recursion limits.
    result: dict[int, list[Element]] = {}
    stack: list[tuple[Any, bool, int]] = [(root, False, 1)]
    out: Element | None = None
    budget = [limits.max_elements]
    while stack:
        node, done, depth = stack.pop()
        if not done:
            _check_element(node, depth, budget, limits, line_offset)
            stack.append((node, True, depth))
            result[id(node)] = []
            for child in reversed(node):
                if isinstance(child.tag, str) and local_name(child.tag) != "Extension":
                    stack.append((child, False, depth + 1))
            continue
        children = result.pop(id(node))
        attrs = {local_name(k): v for k, v in node.attrib.items()} if node.attrib else {}
        name = _cell_name(node, root.tag.find("}") + 1, root.tag) if node.prefix else local_name(node.tag)
        el = Element(name, attrs, tuple(children), node.text or "", (node.sourceline or 0) + line_offset)
        parent = node.getparent()
        if parent is None or node is root:
            out = el
        else:
            result[id(parent)].append(el)
    if out is None:  # pragma: no cover - root always converts
        raise InvalidMarkupError("empty document")
    return out


# -- Node hierarchies read in bulk -------------------------------------------------------------------


def parse_xml_fragment(data: bytes) -> Any:
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=True)
    return etree.fromstring(data, parser=parser)
