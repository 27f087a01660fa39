"""Stage 1: read a PMML document into small immutable :class:`Element` nodes.

The XML parser is hardened: no entity expansion, no DTD, no network access, and a size limit.
Namespaces are dropped (PMML 3.0-4.4 and documents without a namespace read the same), as are
``Extension`` elements, which carry vendor data that never changes a score.

Large tree ensembles hold hundreds of thousands of Nodes, and one Python object per element costs
more than everything else in loading them.  So a TreeModel's Node hierarchy written in the plain
shape every producer uses (Node, True, False, SimplePredicate, ScoreDistribution; attributes in
double quotes, no entities, one tag a line) is read in bulk: numpy scans the bytes, checks them
against that strict subset of XML, and records every element's kind, owner, line and attribute
spans in a :class:`NodeTable`.  The rest of the document is parsed by lxml as before, with each
such hierarchy cut out, and the TreeModel gets a :class:`NodeHierarchy` element in its place whose
children are built (by lxml) only when something asks for them.  Anything outside the subset is
left to lxml, so what is accepted, refused and reported is unchanged.  (One difference: a
bulk-read element's line is exact, where libxml2 may report elements past line 65535 one line
late, depending on the whitespace around them.)
"""

from __future__ import annotations

import gzip
import io
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, NamedTuple, overload

import numpy as np
import numpy.typing as npt
from lxml import etree

from pmserve.errors import InvalidMarkupError
from pmserve.pmml.document.limits import (
    DEFAULT_LIMITS,
    Limits,
    too_deep,
    too_many_attributes,
    too_many_elements,
)

#: Largest document accepted (uncompressed), in bytes.
MAX_DOCUMENT_BYTES = 512 * 1024 * 1024
#: Documents above this size are parsed with lxml's ``huge_tree`` (large forests are legitimate).
_HUGE_TREE_BYTES = 8 * 1024 * 1024

_GZIP_MAGIC = b"\x1f\x8b"

#: The model elements of PMML 4.4, supported or not (a document holds one or more of them).
MODEL_TAGS = (
    "AnomalyDetectionModel", "AssociationModel", "BayesianNetworkModel", "BaselineModel",
    "ClusteringModel", "GaussianProcessModel", "GeneralRegressionModel", "MiningModel", "NaiveBayesModel",
    "NearestNeighborModel", "NeuralNetwork", "RegressionModel", "RuleSetModel", "SequenceModel", "Scorecard",
    "SupportVectorMachineModel", "TextModel", "TimeSeriesModel", "TreeModel",
)


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


def read_bytes(source: bytes | str | os.PathLike[str] | IO[bytes], limits: Limits = DEFAULT_LIMITS) -> bytes:
    """The document's bytes from bytes, a path or a binary file object; gzip is undone.

    The decompressed size is bounded by ``limits.max_document_bytes`` while it is inflated.
    """
    cap = min(MAX_DOCUMENT_BYTES, limits.max_document_bytes)
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
                data = gz.read(cap + 1)
        except (OSError, EOFError) as exc:
            raise InvalidMarkupError(f"the gzip-compressed document cannot be decompressed: {exc}") from None
    if len(data) > cap:
        raise InvalidMarkupError(f"the document is larger than {cap} bytes (PMSERVE_MAX_UPLOAD_MB)")
    return data


def parse(source: bytes | str | os.PathLike[str] | IO[bytes], *, bulk: bool = True,
          limits: Limits = DEFAULT_LIMITS) -> Element:
    """Parse a PMML document (plain or gzip-compressed) into its root :class:`Element`.

    ``bulk=False`` reads every element with lxml (the reference the bulk path is tested against).
    Nesting depth, attributes per element and elements per document are bounded by ``limits``
    (one rule whatever the document's size), each checked before the element is converted.
    """
    data = read_bytes(source, limits)
    if not data or data.isspace():  # (strip() would copy the whole document)
        raise InvalidMarkupError("the document is empty; expected a PMML XML document")
    huge = len(data) > _HUGE_TREE_BYTES
    tables = find_node_tables(data, huge, limits.max_depth) if bulk else []
    if tables:
        root = _parse_skeleton(data, tables, huge, limits)
        if root is not None:
            return root
    limits.check_deadline("parsing")
    return _convert(_parse_xml(data, huge, limits), limits=limits)


def _parse_xml(data: bytes, huge: bool, limits: Limits = DEFAULT_LIMITS) -> Any:
    # libxml2's "huge" option is always on: its own depth cap (256 levels without it) would make
    # the accepted depth depend on the document's size; Limits.max_depth is the one rule instead.
    del huge
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
    if _local(root.tag) != "PMML":
        raise InvalidMarkupError(
            f"expected a PMML document (root element PMML), got root element {_local(root.tag)!r}",
            line=root.sourceline if isinstance(root.sourceline, int) else None,
        )
    return root


def _local(tag: Any) -> str:
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


def _convert(root: Any, tables: list[NodeTable] | None = None, line_offset: int = 0,
             used: set[int] | None = None, limits: Limits = DEFAULT_LIMITS) -> Element:
    ns_end = root.tag.find("}") + 1
    extension = root.tag[:ns_end] + "Extension"
    # Only a document built by _parse_skeleton holds stand-ins; any other such tag is the document's.
    placeholder = root.tag[:ns_end] + _PLACEHOLDER if tables is not None else None
    budget = [limits.max_elements]

    def conv(el: Any, depth: int) -> Element:
        # Recursive: about three times faster than an explicit stack here, and PMML nests only
        # as deep as its deepest tree; a deeper document falls back to the iterative walk.
        tag = el.tag
        if tag == placeholder:
            return _hierarchy(el, tables, used if used is not None else set(), depth, limits, budget)
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
        raise too_many_attributes(len(el.attrib), _local(el.tag), limits, (el.sourceline or 0) + line_offset)
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
                if isinstance(child.tag, str) and _local(child.tag) != "Extension":
                    stack.append((child, False, depth + 1))
            continue
        children = result.pop(id(node))
        attrs = {_local(k): v for k, v in node.attrib.items()} if node.attrib else {}
        name = _cell_name(node, root.tag.find("}") + 1, root.tag) if node.prefix else _local(node.tag)
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

#: Tag of the stand-in for a bulk-read Node hierarchy in the document lxml parses.
_PLACEHOLDER = "pmserve-node-table"
#: Element kinds of a :class:`NodeTable` (the index into this tuple).
NODE_TABLE_TAGS = ("Node", "True", "False", "SimplePredicate", "ScoreDistribution")
K_NODE, K_TRUE, K_FALSE, K_SIMPLE, K_SCORE = range(5)
#: The attributes a bulk-read element may carry (the column of :attr:`NodeTable.begin`).
NODE_TABLE_ATTRS = ("id", "score", "recordCount", "defaultChild", "field", "operator", "value", "probability",
                    "confidence")

_TAG_DELIM = np.zeros(256, dtype=bool)
_TAG_DELIM[[9, 10, 13, 32, 47, 62]] = True  # whitespace, "/" and ">"
_END_WORD = np.frombuffer(b"/Node>\0\0", dtype="<u8")[0]  # an end tag's first bytes after "<"
_END_MASK = np.frombuffer(b"\xff" * 6 + b"\0\0", dtype="<u8")[0]
_ENCODING = re.compile(rb"^(?:\xef\xbb\xbf)?<\?xml[^>]*?encoding\s*=\s*[\"']([A-Za-z0-9._-]+)[\"']")

IntArray = npt.NDArray[np.intp]


@dataclass(frozen=True, eq=False)
class NodeTable:
    """A TreeModel's Node hierarchy read in bulk: one row per element, in document order.

    Row 0 is the root Node.  ``owner`` is a Node's parent row (-1 for the root) or the Node row a
    predicate or ScoreDistribution belongs to.  Attributes are listed one per entry, in document
    order: the element row, the attribute (index into :data:`NODE_TABLE_ATTRS`) and where its
    value lies in ``source`` (stored as 32-bit offsets from ``start``: a table is as large as
    its document, so its arrays are kept small).
    """

    source: bytes
    start: int  # byte offset of the root Node's start tag
    end: int  # byte offset just past the hierarchy
    line: int
    root_attrs: dict[str, str]
    root_text: str
    #: The scan's arrays; the tree compiler releases them once compiled, a later use scans again.
    arrays: dict[str, Any] = field(default_factory=dict, repr=False)
    #: How deep the Nodes nest (the root Node is level 1).
    depth: int = 1

    def _array(self, name: str) -> Any:
        got = self.arrays.get(name)
        if got is None:
            again = _scan(np.frombuffer(self.source, dtype=np.uint8), self.source, self.start, self.end, self.line,
                          huge=True)
            if again is None:  # pragma: no cover - the same bytes scanned the same way
                raise RuntimeError("a Node table could not be scanned again")
            self.arrays.update(again.arrays)
            got = self.arrays[name]
        return got

    def release(self) -> None:
        """Drop the arrays (a large forest's tables are as large as its document)."""
        self.arrays.clear()

    @property
    def kind(self) -> npt.NDArray[np.int8]:
        out: npt.NDArray[np.int8] = self._array("kind")
        return out

    @property
    def owner(self) -> npt.NDArray[np.int32]:
        out: npt.NDArray[np.int32] = self._array("owner")
        return out

    @property
    def lines(self) -> npt.NDArray[np.int32]:
        out: npt.NDArray[np.int32] = self._array("lines")
        return out

    @property
    def attr_row(self) -> npt.NDArray[np.int32]:
        out: npt.NDArray[np.int32] = self._array("attr_row")
        return out

    @property
    def attr_slot(self) -> npt.NDArray[np.int8]:
        out: npt.NDArray[np.int8] = self._array("attr_slot")
        return out

    @property
    def attr_at(self) -> npt.NDArray[np.int64]:
        """Where each attribute's value starts in ``source``."""
        out: npt.NDArray[np.int64] = self._array("attr_at") + np.int64(self.start)
        return out

    @property
    def attr_len(self) -> npt.NDArray[np.int32]:
        out: npt.NDArray[np.int32] = self._array("attr_len")
        return out

    def _entries(self, rows: IntArray, attr: str) -> IntArray:
        """The attribute's entry for each row, -1 where the row does not carry it."""
        hits = np.flatnonzero(self.attr_slot == NODE_TABLE_ATTRS.index(attr))
        column = np.full(len(self.kind), -1, dtype=np.intp)
        column[self.attr_row[hits]] = hits
        out: IntArray = column[rows]
        return out

    def present(self, rows: IntArray, attr: str) -> npt.NDArray[np.bool_]:
        """Whether each row carries the attribute."""
        out: npt.NDArray[np.bool_] = self._entries(rows, attr) >= 0
        return out

    def texts(self, rows: IntArray, attr: str) -> npt.NDArray[np.bytes_]:
        """The attribute's value on each row as bytes (b"" where absent)."""
        entries = self._entries(rows, attr)
        if not len(self.attr_at):
            return np.zeros(len(rows), dtype="S1")
        out = self.all_texts()[np.maximum(entries, 0)]
        out[entries < 0] = b""
        return out

    def all_texts(self) -> npt.NDArray[np.bytes_]:
        """Every attribute entry's value as bytes, gathered in one step."""
        if not len(self.attr_at):
            return np.zeros(0, dtype="S1")
        width = max(int(self.attr_len.max()), 1)
        codes = np.frombuffer(self.source, dtype=np.uint8)
        # Rows of a sliding view: one short copy per value; bytes past a value's end become NUL,
        # which numpy's bytes type drops (values hold no NUL: it is not XML).
        windows = np.lib.stride_tricks.sliding_window_view(codes, width)
        at = self.attr_at
        out = windows[np.minimum(at, len(windows) - 1)]
        out[np.arange(width) >= self.attr_len[:, None]] = 0
        got: npt.NDArray[np.bytes_] = out.view(f"S{width}").reshape(len(at))
        return got

    def element(self) -> Element:
        """The hierarchy as Elements, exactly as lxml reads it (with the document's line numbers)."""
        root = _parse_xml_fragment(self.source[self.start:self.end])
        return _convert(root, line_offset=self.line - 1)


class NodeHierarchy(Element):
    """A TreeModel's root Node read in bulk; its children are built on first access.

    The tree compiler reads :attr:`table` instead; everything else sees an ordinary Element.
    """

    table: NodeTable

    @property
    def children(self) -> tuple[Element, ...]:
        got: tuple[Element, ...] | None = self.__dict__.get("_children")
        if got is None:
            # Benign race: two threads may both build it; either result is the same.
            got = self.table.element().children
            self.__dict__["_children"] = got
        return got


def _parse_xml_fragment(data: bytes) -> Any:
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=True)
    return etree.fromstring(data, parser=parser)


def find_node_tables(data: bytes, huge: bool, max_depth: int = DEFAULT_LIMITS.max_depth) -> list[NodeTable]:
    """Every TreeModel's root Node hierarchy that is in the bulk subset, read into a table."""
    if data.find(b"<TreeModel") < 0 or data.find(_PLACEHOLDER.encode()) >= 0 or data.find(b"<!DOCTYPE") >= 0:
        return []
    if data[:2] in (b"\xff\xfe", b"\xfe\xff") or b"\x00" in data[:4]:
        return []  # UTF-16/32: the byte scan reads ASCII-compatible encodings only
    declared = _ENCODING.match(data[:256])
    if declared is not None and declared.group(1).lower() not in (b"utf-8", b"utf8", b"us-ascii", b"ascii"):
        return []
    codes = np.frombuffer(data, dtype=np.uint8)
    tables: list[NodeTable] = []
    line = 1
    counted = 0  # newlines are counted up to here
    pos = data.find(b"<TreeModel")
    while pos >= 0:
        after = pos + len(b"<TreeModel")
        stop = data.find(b"</TreeModel", after)
        node = data.find(b"<Node", after)
        if stop < 0:
            break
        nxt = data.find(b"<TreeModel", after)
        if 0 <= node < stop and (nxt < 0 or node < nxt) and _TAG_DELIM[codes[node + 5]]:
            line += data.count(b"\n", counted, node)
            counted = node
            table = _scan(codes, data, node, stop, line, huge, max_depth)
            if table is not None:
                tables.append(table)
        pos = nxt
    return tables


_Word = npt.NDArray[np.uint64]


def _words(names: tuple[str, ...], width: int, at_end: bool) -> list[tuple[_Word, _Word]]:
    """Each name as (value, mask) little-endian words of a ``width``-byte field, at its start or end."""
    out = []
    for name in names:
        raw = name.encode()
        pad = width - len(raw)
        value = (b"\0" * pad + raw) if at_end else (raw + b"\0" * pad)
        mask = (b"\0" * pad + b"\xff" * len(raw)) if at_end else (b"\xff" * len(raw) + b"\0" * pad)
        out.append((np.frombuffer(value, dtype="<u8"), np.frombuffer(mask, dtype="<u8")))
    return out


_HEAD = 24  # bytes after "<" that decide an element's tag (the longest name and its delimiter fit)
_BEFORE = 16  # bytes before "=" that decide an attribute's name (the longest name and a space fit)
_TAG_WORDS = _words(NODE_TABLE_TAGS, _HEAD, at_end=False)
_ATTR_WORDS = _words(NODE_TABLE_ATTRS, _BEFORE, at_end=True)
_TAG_LEN = np.array([len(x) for x in NODE_TABLE_TAGS], dtype=np.int64)
_ATTR_LEN = np.array([len(x) for x in NODE_TABLE_ATTRS], dtype=np.int64)


def _matches(words: _Word, value: _Word, mask: _Word) -> npt.NDArray[np.bool_]:
    hit: npt.NDArray[np.bool_] = (words[:, 0] & mask[0]) == value[0]
    for j in range(1, len(value)):
        if mask[j]:
            hit &= (words[:, j] & mask[j]) == value[j]
    return hit


def _scan(a: npt.NDArray[np.uint8], data: bytes, s: int, stop: int, line: int, huge: bool,
          max_depth: int = DEFAULT_LIMITS.max_depth) -> NodeTable | None:
    """Read the Node hierarchy starting at byte ``s`` (before ``stop``), or None outside the subset.

    Whitespace is any byte up to 32 once other control characters are refused.  The check that
    nothing else is there counts: every expected non-whitespace byte (tag names, attribute names,
    "=", quotes, values, "<", "/", ">") is found at its place, so the hierarchy is in the subset
    when the count of all its non-whitespace bytes equals the count of those.
    """
    w = a[s:stop]
    n = len(w)
    lt = np.flatnonzero(w == 60)
    gt = np.flatnonzero(w == 62)
    if not len(gt) or n < _HEAD + 2:
        return None
    # In the subset "<" and ">" alternate; where they do not, the checks below refuse the hierarchy.
    tend = gt[np.minimum(np.arange(len(lt)), len(gt) - 1)]
    # Rows of a sliding view over the document: a copy of a few bytes per tag, not per byte.
    windows = np.lib.stride_tricks.sliding_window_view(a, _HEAD)
    head_bytes = windows[np.minimum(s + 1 + lt, len(windows) - 1)]
    head = head_bytes.view("<u8")
    closing = head_bytes[:, 0] == 47
    kind = np.full(len(lt), -1, dtype=np.int8)
    for k, (value, mask) in enumerate(_TAG_WORDS):
        delim = head_bytes[:, _TAG_LEN[k]]
        kind[_matches(head, value, mask) & ((delim <= 32) | (delim == 47) | (delim == 62))] = k
    node_end = (head[:, 0] & _END_MASK) == _END_WORD
    self_closing = w[tend - 1] == 47
    node_open = (kind == K_NODE) & ~self_closing
    delta = node_open.astype(np.int64) - node_end
    depth = np.cumsum(delta)
    done = np.flatnonzero(depth == 0)
    if not len(done):
        return None
    t = int(done[0]) + 1
    lt, tend, kind, closing, node_end, self_closing, depth, delta = (
        lt[:t], tend[:t], kind[:t], closing[:t], node_end[:t], self_closing[:t], depth[:t], delta[:t])
    e = int(tend[-1]) + 1
    r = w[:e]
    if (tend <= lt).any() or (tend[:-1] >= lt[1:]).any() or int(depth.max()) > max_depth:
        # Deeper than allowed: lxml reads it, and the depth check there refuses it with a message.
        return None
    # Refused bytes: C0 controls (not XML), "&" (entities), "'" (single-quoted attributes).
    controls = np.count_nonzero(r < 32)
    tabs = np.flatnonzero(r == 9)
    nl = np.flatnonzero(r == 10)
    cr = np.flatnonzero(r == 13)
    if controls != len(tabs) + len(nl) + len(cr) or data.find(b"&", s, s + e) >= 0 or data.find(b"'", s, s + e) >= 0:
        return None
    if len(cr) and (cr[-1] + 1 >= e or (r[cr + 1] != 10).any()):
        return None  # a lone CR is a line break to XML: leave such documents to lxml
    if (r >= 128).any():
        try:
            text = data[s:s + e].decode("utf-8")
        except UnicodeDecodeError:
            return None
        if "\ufffe" in text or "\uffff" in text:
            return None
    # One tag a line, so each element's line is that of its "<", as lxml reports it.
    before = np.searchsorted(nl, lt)
    if (np.searchsorted(nl, tend) != before).any():
        return None
    # End tags are exactly "</Node>"; other elements are known and, but Nodes, empty.
    if (closing & ((tend - lt != 6) | ~node_end)).any():
        return None
    starts = np.flatnonzero(~closing)
    kind = kind[starts]
    if (kind < 0).any() or ((kind != K_NODE) & ~self_closing[starts]).any():
        return None
    # Attributes: name="value" pairs with known names, each at most once in a tag.
    q = np.flatnonzero(r == 34)
    if len(q) % 2:
        return None
    opens, closes = q[0::2], q[1::2]
    tag_of = np.searchsorted(lt, opens, side="right") - 1
    if (closes >= tend[tag_of]).any():  # the value must end in the tag it starts in
        return None
    if (w[opens - 1] != 61).any():
        return None
    if len(tabs) and (np.diff(np.searchsorted(tabs, q))[0::2]).any():
        return None  # XML turns a tab in an attribute value into a space
    name_bytes = np.lib.stride_tricks.sliding_window_view(a, _BEFORE)[np.maximum(s + opens - 1 - _BEFORE, 0)]
    names = name_bytes.view("<u8")
    slot = np.full(len(opens), -1, dtype=np.intp)
    for k, (value, mask) in enumerate(_ATTR_WORDS):
        slot[_matches(names, value, mask) & (name_bytes[:, _BEFORE - 1 - _ATTR_LEN[k]] <= 32)] = k
    if (slot < 0).any():
        return None
    row_of = (np.cumsum(~closing) - 1)[tag_of]  # element row of each attribute
    keys = np.sort(row_of * len(NODE_TABLE_ATTRS) + slot)
    if len(keys) > 1 and (keys[1:] == keys[:-1]).any():
        return None
    spaces = np.flatnonzero(r == 32)
    value_spaces = int(np.diff(np.searchsorted(spaces, q))[0::2].sum())
    expected = (int((2 + _TAG_LEN[kind] + self_closing[starts]).sum()) + 7 * (t - len(starts))
                + int((_ATTR_LEN[slot] + 1 + closes - opens + 1).sum()) - value_spaces)
    if np.count_nonzero(r > 32) != expected:
        return None
    # Owners: the last Node opened one level up.
    level = (depth - delta)[starts]
    node_rows = np.flatnonzero(kind == K_NODE)
    rows = len(starts)
    node_keys = level[node_rows] * rows + node_rows  # by level, then by row
    order = np.argsort(node_keys, kind="stable")
    at = np.searchsorted(node_keys[order], (level - 1) * rows + np.arange(rows)) - 1
    owner = np.full(len(starts), -1, dtype=np.intp)
    ok = (at >= 0) & (level >= 1)
    cand = node_rows[order[np.maximum(at, 0)]]
    ok &= level[cand] == level - 1
    owner[ok] = cand[ok]
    if ((level >= 1) & ~ok).any():  # pragma: no cover - a well-nested hierarchy always has owners
        return None
    root_attrs = {NODE_TABLE_ATTRS[k]: data[s + o + 1:s + c].decode("utf-8")
                  for k, o, c in zip(slot[row_of == 0].tolist(), opens[row_of == 0].tolist(),
                                     closes[row_of == 0].tolist(), strict=True)}
    root_text = "" if self_closing[0] or t < 2 else _text(data[s + int(tend[0]) + 1:s + int(lt[1])])
    arrays = {"kind": kind, "owner": owner.astype(np.int32), "lines": (line + before[starts]).astype(np.int32),
              "attr_row": row_of.astype(np.int32), "attr_slot": slot.astype(np.int8),
              "attr_at": (opens + 1).astype(np.int32), "attr_len": (closes - opens - 1).astype(np.int32)}
    return NodeTable(data, s, s + e, line, root_attrs, root_text, arrays, int(depth.max()))


def _text(raw: bytes) -> str:
    return raw.decode("utf-8").replace("\r\n", "\n")  # XML reads CR LF as LF


def _parse_skeleton(data: bytes, tables: list[NodeTable], huge: bool,
                    limits: Limits = DEFAULT_LIMITS) -> Element | None:
    """The document with each bulk-read hierarchy replaced by a stand-in; None: read it all with lxml."""
    pieces: list[bytes] = []
    prev = 0
    for k, t in enumerate(tables):
        # The stand-in keeps the hierarchy's newlines, so every later element keeps its line.
        pieces += [data[prev:t.start], b'<%s n="%d"/>' % (_PLACEHOLDER.encode(), k),
                   b"\n" * data.count(b"\n", t.start, t.end)]
        prev = t.end
    pieces.append(data[prev:])
    try:
        root = _parse_xml(b"".join(pieces), huge, limits)
    except InvalidMarkupError:
        return None  # lxml reports the document's own error, with its line
    used: set[int] = set()
    try:
        out = _convert(root, tables, used=used, limits=limits)
    except _NotBulk:
        return None
    return out if len(used) == len(tables) else None


class _NotBulk(Exception):
    """A stand-in ended up somewhere a TreeModel's root Node cannot be (in a comment, an Extension)."""


def _hierarchy(el: Any, tables: list[NodeTable] | None, used: set[int], depth: int = 1,
               limits: Limits = DEFAULT_LIMITS, budget: list[int] | None = None) -> Element:
    parent = el.getparent()
    text = el.get("n") or ""
    if tables is None or parent is None or _local(parent.tag) != "TreeModel" or not text.isdigit():
        raise _NotBulk
    k = int(text)
    if k >= len(tables) or k in used or len(el) or len(el.attrib) != 1:
        raise _NotBulk
    used.add(k)
    t = tables[k]
    if depth + t.depth - 1 > limits.max_depth:
        raise too_deep(depth + t.depth - 1, limits, line=t.line)
    if budget is not None:  # every row of the table is an element of the document
        budget[0] -= len(t.kind)
        if budget[0] < 0:
            raise too_many_elements(limits)
    out = NodeHierarchy("Node", dict(t.root_attrs), (), t.root_text, t.line)
    out.__dict__["table"] = t
    return out
