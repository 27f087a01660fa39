"""TreeModel Node hierarchies read in bulk: numpy scans the document's bytes for the plain shape
every producer writes and records each element's kind, owner, line and attribute spans in a
:class:`NodeTable` (see :mod:`pmserve.pmml.document.parse` for when it is used)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import numpy as np
import numpy.typing as npt

from pmserve.pmml.document.element import STAND_IN_TAG, Element, convert, parse_xml_fragment
from pmserve.pmml.document.limits import DEFAULT_LIMITS

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
S = TypeVar("S", bound=np.generic)


class _Column(Generic[S]):
    """One of the scan's arrays, by the name it is read as (scanned again if released)."""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, table: NodeTable, owner: type) -> npt.NDArray[S]:
        out: npt.NDArray[S] = table._array(self.name)
        return out


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
            again = _scan(np.frombuffer(self.source, dtype=np.uint8), self.source, self.start, self.end, self.line)
            if again is None:  # pragma: no cover - the same bytes scanned the same way
                raise RuntimeError("a Node table could not be scanned again")
            self.arrays.update(again.arrays)
            got = self.arrays[name]
        return got

    def release(self) -> None:
        """Drop the arrays (a large forest's tables are as large as its document)."""
        self.arrays.clear()

    kind = _Column[np.int8]()
    owner = _Column[np.int32]()
    lines = _Column[np.int32]()
    attr_row = _Column[np.int32]()
    attr_slot = _Column[np.int8]()
    attr_len = _Column[np.int32]()

    @property
    def attr_at(self) -> npt.NDArray[np.int64]:
        """Where each attribute's value starts in ``source``."""
        out: npt.NDArray[np.int64] = self._array("attr_at") + np.int64(self.start)
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
        root = parse_xml_fragment(self.source[self.start:self.end])
        return convert(root, line_offset=self.line - 1)


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


def find_node_tables(data: bytes, max_depth: int = DEFAULT_LIMITS.max_depth) -> list[NodeTable]:
    """Every TreeModel's root Node hierarchy that is in the bulk subset, read into a table."""
    if data.find(b"<TreeModel") < 0 or data.find(STAND_IN_TAG.encode()) >= 0 or data.find(b"<!DOCTYPE") >= 0:
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
            table = _scan(codes, data, node, stop, line, max_depth)
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


def _scan(a: npt.NDArray[np.uint8], data: bytes, s: int, stop: int, line: int,
          max_depth: int = DEFAULT_LIMITS.max_depth) -> NodeTable | None:
    """Read the Node hierarchy starting at byte ``s`` (before ``stop``), or None outside the subset.

    Whitespace is any byte up to 32 once other control characters are refused.  The check that
    nothing else is there counts: every expected non-whitespace byte (tag names, attribute names,
    "=", quotes, values, "<", "/", ">") is found at its place, so the hierarchy is in the subset
    when the count of all its non-whitespace bytes equals the count of those.
    """
    w = a[s:stop]
    tags = _tags(a, w, s, max_depth)
    if tags is None:
        return None
    lt, tend, kind, closing, self_closing, depth, delta = tags
    e = int(tend[-1]) + 1
    r = w[:e]
    nl = _line_breaks(r, data, s, e)
    if nl is None:
        return None
    # One tag a line, so each element's line is that of its "<", as lxml reports it.
    before = np.searchsorted(nl, lt)
    if (np.searchsorted(nl, tend) != before).any():
        return None
    starts = np.flatnonzero(~closing)
    attrs = _attributes(a, w, r, s, lt, tend, closing)
    if attrs is None:
        return None
    opens, closes, slot, row_of = attrs
    spaces = np.flatnonzero(r == 32)
    value_spaces = int((np.searchsorted(spaces, closes) - np.searchsorted(spaces, opens)).sum())
    expected = (int((2 + _TAG_LEN[kind[starts]] + self_closing[starts]).sum()) + 7 * (len(lt) - len(starts))
                + int((_ATTR_LEN[slot] + 1 + closes - opens + 1).sum()) - value_spaces)
    if np.count_nonzero(r > 32) != expected:
        return None
    owner = _owners((depth - delta)[starts], kind[starts])
    if owner is None:  # pragma: no cover - a well-nested hierarchy always has owners
        return None
    root_attrs = {NODE_TABLE_ATTRS[k]: data[s + o + 1:s + c].decode("utf-8")
                  for k, o, c in zip(slot[row_of == 0].tolist(), opens[row_of == 0].tolist(),
                                     closes[row_of == 0].tolist(), strict=True)}
    root_text = "" if self_closing[0] or len(lt) < 2 else _text(data[s + int(tend[0]) + 1:s + int(lt[1])])
    arrays = {"kind": kind[starts], "owner": owner.astype(np.int32),
              "lines": (line + before[starts]).astype(np.int32),
              "attr_row": row_of.astype(np.int32), "attr_slot": slot.astype(np.int8),
              "attr_at": (opens + 1).astype(np.int32), "attr_len": (closes - opens - 1).astype(np.int32)}
    return NodeTable(data, s, s + e, line, root_attrs, root_text, arrays, int(depth.max()))
_Tags = tuple[IntArray, IntArray, npt.NDArray[np.int8], npt.NDArray[np.bool_], npt.NDArray[np.bool_],
              npt.NDArray[np.int64], npt.NDArray[np.int64]]


def _tags(a: npt.NDArray[np.uint8], w: npt.NDArray[np.uint8], s: int, max_depth: int) -> _Tags | None:
    """The hierarchy's tags up to the root Node's end: where each starts ("<") and ends (">"), its
    kind, whether it closes or is self-closing, the Node depth after it and its change there; None
    unless tags alternate, end tags are exactly "</Node>" and other elements are known and, but
    Nodes, empty."""
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
    delta = ((kind == K_NODE) & ~self_closing).astype(np.int64) - node_end
    depth = np.cumsum(delta)
    done = np.flatnonzero(depth == 0)
    if not len(done):
        return None
    t = int(done[0]) + 1
    lt, tend, kind, closing, node_end, self_closing, depth, delta = (
        lt[:t], tend[:t], kind[:t], closing[:t], node_end[:t], self_closing[:t], depth[:t], delta[:t])
    if (tend <= lt).any() or (tend[:-1] >= lt[1:]).any() or int(depth.max()) > max_depth:
        # Deeper than allowed: lxml reads it, and the depth check there refuses it with a message.
        return None
    if (closing & ((tend - lt != 6) | ~node_end)).any():
        return None
    opening = ~closing
    if (kind[opening] < 0).any() or ((kind[opening] != K_NODE) & ~self_closing[opening]).any():
        return None
    return lt, tend, kind, closing, self_closing, depth, delta


def _line_breaks(r: npt.NDArray[np.uint8], data: bytes, s: int, e: int) -> IntArray | None:
    """Where the hierarchy's LFs are; None where it holds a byte the scan leaves to lxml: C0
    controls (not XML), "&" (entities), "'" (single-quoted attributes), a lone CR, bad UTF-8."""
    controls = np.count_nonzero(r < 32)
    nl = np.flatnonzero(r == 10)
    cr = np.flatnonzero(r == 13)
    if (controls != np.count_nonzero(r == 9) + len(nl) + len(cr) or data.find(b"&", s, s + e) >= 0
            or data.find(b"'", s, s + e) >= 0):
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
    return nl


def _attributes(a: npt.NDArray[np.uint8], w: npt.NDArray[np.uint8], r: npt.NDArray[np.uint8], s: int,
                lt: IntArray, tend: IntArray, closing: npt.NDArray[np.bool_],
                ) -> tuple[IntArray, IntArray, IntArray, IntArray] | None:
    """Each attribute's opening and closing quote, name (its slot) and element row; None unless
    they are name="value" pairs with known names, each at most once in a tag."""
    q = np.flatnonzero(r == 34)
    if len(q) % 2:
        return None
    opens, closes = q[0::2], q[1::2]
    tag_of = np.searchsorted(lt, opens, side="right") - 1
    if (closes >= tend[tag_of]).any():  # the value must end in the tag it starts in
        return None
    if (w[opens - 1] != 61).any():
        return None
    tabs = np.flatnonzero(r == 9)
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
    return opens, closes, slot, row_of


def _owners(level: npt.NDArray[np.int64], kind: npt.NDArray[np.int8]) -> IntArray | None:
    """Each element's owner: the last Node opened one level up (-1 for the root)."""
    node_rows = np.flatnonzero(kind == K_NODE)
    rows = len(level)
    node_keys = level[node_rows] * rows + node_rows  # by level, then by row
    order = np.argsort(node_keys, kind="stable")
    at = np.searchsorted(node_keys[order], (level - 1) * rows + np.arange(rows)) - 1
    owner = np.full(rows, -1, dtype=np.intp)
    ok = (at >= 0) & (level >= 1)
    cand = node_rows[order[np.maximum(at, 0)]]
    ok &= level[cand] == level - 1
    owner[ok] = cand[ok]
    if ((level >= 1) & ~ok).any():  # pragma: no cover - a well-nested hierarchy always has owners
        return None
    return owner


def _text(raw: bytes) -> str:
    return raw.decode("utf-8").replace("\r\n", "\n")  # XML reads CR LF as LF
