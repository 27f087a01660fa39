"""A Fast Infoset (ITU-T X.891) decoder for the subset IBM SPSS Modeler writes, producing lxml.

Modeler (through Java's ``com.sun.xml.fastinfoset``) stores a stream's XML as Fast Infoset:
literal and indexed names and values, the dynamic vocabulary tables, single and double
terminators, UTF-8 and UTF-16 strings, the built-in restricted alphabets (numbers, date-times)
and the built-in encoding algorithms ``hexadecimal``, ``base64`` and ``cdata``
(``docs/spss-str-format.md`` §2 and §8.1).  Anything else - namespaces, an initial vocabulary,
processing instructions, comments, DTDs, other encoding algorithms - is refused with its byte
offset rather than guessed.

The decoder is a loop over an explicit stack (no recursion a file could deepen), and it counts
every character it emits - a table reference repeats a long string for two bytes, the Fast
Infoset form of the "billion laughs" - against :class:`FiLimits`.  Plain XML (Modeler 14) goes
through a hardened lxml parser instead: no DTD, no entities, no network.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable
from dataclasses import dataclass

from lxml import etree

from pmserve.errors import InvalidMarkupError, UnsupportedFormatError

MAGIC = b"\xe0\x00\x00\x01"
# Characters XML 1.0 does not allow in text (lxml refuses them too).
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")

# Built-in restricted alphabets (X.891 §9.2): four bits a character, nibble 0xF ends the string.
_NUMERIC = "0123456789-+.e "
_DATE_TIME = "0123456789-:TZ "
_ALPHABETS = {1: _NUMERIC, 2: _DATE_TIME}
# Built-in encoding algorithms (X.891 §10): the ones Modeler's files use or the standard defines
# as plain text; the binary number lists (3-9) would need Java's number formatting to reproduce.
_ALGORITHM_NAMES = {1: "hexadecimal", 2: "base64", 3: "short", 4: "int", 5: "long", 6: "boolean",
                    7: "float", 8: "double", 9: "uuid", 10: "cdata"}


@dataclass(frozen=True)
class FiLimits:
    """Bounds on what one decoded document may cost."""

    max_chars: int = 64 * 1024 * 1024  # characters emitted (names, values, text), repeats included
    max_depth: int = 256  # element nesting
    max_table_entries: int = 1_000_000  # entries of each vocabulary table
    max_elements: int = 2_000_000  # elements of the document (real streams hold a few thousand)


def decode(data: bytes, limits: FiLimits, *, source: str = "the stream XML") -> etree._Element:
    """The root element of a Fast Infoset document (or of a plain XML document, sniffed)."""
    if data[:4] == MAGIC:
        return _Decoder(data, limits, source).document()
    head = data[:512].lstrip(b"\xef\xbb\xbf \t\r\n")
    if head.startswith(b"<"):
        return parse_plain_xml(data, limits, source=source)
    raise UnsupportedFormatError(
        f"{source} is neither Fast Infoset (it does not start with E0 00 00 01) nor XML; "
        f"got {data[:4].hex(' ') or 'no bytes'} at byte offset 0", offset=0, entry=source)


def parse_plain_xml(data: bytes, limits: FiLimits, *, source: str = "the stream XML") -> etree._Element:
    """A plain XML document, parsed with DTDs, entities and network access refused."""
    if len(data) > limits.max_chars:
        raise InvalidMarkupError(f"{source} is {len(data)} bytes; the limit is {limits.max_chars}",
                                 entry=source)
    if b"<!DOCTYPE" in data:  # refused before parsing: no DTD, hence no entity, is ever read
        raise InvalidMarkupError(f"{source} declares a DTD; stream XML must not (entities are refused)",
                                 entry=source)
    parser = etree.XMLPullParser(events=("start", "end"), resolve_entities=False, no_network=True,
                                 load_dtd=False, dtd_validation=False, remove_pis=True, remove_comments=True,
                                 huge_tree=False)
    elements = depth = 0
    try:
        for at in range(0, len(data), 1 << 16):
            parser.feed(data[at:at + (1 << 16)])
            for event, _ in parser.read_events():
                if event == "end":
                    depth -= 1
                    continue
                elements += 1
                depth += 1
                if depth > limits.max_depth:
                    raise InvalidMarkupError(f"{source} nests elements deeper than {limits.max_depth}", entry=source)
                if elements > limits.max_elements:
                    raise InvalidMarkupError(f"{source} holds more than {limits.max_elements} elements", entry=source)
        closed: object = parser.close()
    except etree.XMLSyntaxError as exc:
        raise InvalidMarkupError(f"{source} is not well-formed XML: {exc.msg}", entry=source,
                                 line=exc.lineno if isinstance(exc.lineno, int) else None) from None
    if not isinstance(closed, etree._Element):
        raise InvalidMarkupError(f"{source} holds no element", entry=source)
    return closed


#: Document children pmserve refuses, by the octet that starts them (mask, value, what).
_UNSUPPORTED_ITEMS = ((0xFF, 0xE1, "processing instruction"), (0xFF, 0xE2, "comment"),
                      (0xFC, 0xC4, "document type declaration"), (0xFC, 0xC8, "unexpanded entity reference"))


class _Tree:
    """The element tree being built: open elements, and character data not yet attached."""

    def __init__(self, decoder: _Decoder) -> None:
        self.decoder = decoder
        self.root: etree._Element | None = None
        self.stack: list[etree._Element] = []
        self.text: list[str] = []

    def open(self, element: etree._Element) -> None:
        if self.root is None:
            self.root = element
        self.stack.append(element)

    def close(self) -> bool:
        """End the innermost element; False when none is open (the document's end)."""
        self.flush()
        if not self.stack:
            return False
        self.stack.pop()
        return True

    def flush(self) -> None:
        """Attach the pending character data: the open element's text, or its last child's tail."""
        if not self.text:
            return
        joined = "".join(self.text)
        self.text.clear()
        if not self.stack:
            if joined.strip():
                raise self.decoder.invalid("character data outside the root element")
            return
        parent = self.stack[-1]
        if len(parent):
            last = parent[-1]
            last.tail = (last.tail or "") + joined
        else:
            parent.text = (parent.text or "") + joined


class _Decoder:
    """One pass over one document; every read checks the bytes left first."""

    def __init__(self, data: bytes, limits: FiLimits, source: str) -> None:
        self.data = data
        self.pos = 0
        self.limits = limits
        self.source = source
        self.chars = 0
        self.elements = 0
        self.local_names: list[str] = []
        self.element_names: list[str] = []
        self.attribute_names: list[str] = []
        self.attribute_values: list[str] = []
        self.chunks: list[str] = []

    # -- errors -----------------------------------------------------------------------------------
    def invalid(self, what: str, offset: int | None = None) -> InvalidMarkupError:
        at = self.pos if offset is None else offset
        return InvalidMarkupError(f"{self.source}: {what} at byte offset {at}", offset=at, entry=self.source)

    def unsupported(self, what: str, offset: int) -> UnsupportedFormatError:
        return UnsupportedFormatError(
            f"{self.source} uses the Fast Infoset feature {what} at byte offset {offset}, "
            f"which pmserve does not read (Modeler streams do not use it)", offset=offset, entry=self.source)

    # -- bytes ------------------------------------------------------------------------------------
    def byte(self) -> int:
        if self.pos >= len(self.data):
            raise self.invalid("the document ends early (truncated)")
        b = self.data[self.pos]
        self.pos += 1
        return b

    def take(self, n: int) -> bytes:
        if n > len(self.data) - self.pos:
            raise self.invalid(f"a string of {n} bytes runs past the end of the document "
                               f"({len(self.data) - self.pos} bytes left; truncated or corrupt)")
        out = self.data[self.pos:self.pos + n]
        self.pos += n
        return out

    def uint(self, n: int) -> int:
        return int.from_bytes(self.take(n), "big")

    def emit(self, text: str) -> str:
        self.chars += len(text)
        if self.chars > self.limits.max_chars:
            raise self.invalid(f"the decoded document exceeds {self.limits.max_chars} characters "
                               f"(PMSERVE_STR_MAX_XML_MB)")
        return text

    def add(self, table: list[str], name: str, value: str) -> None:
        if len(table) >= self.limits.max_table_entries:
            raise self.invalid(f"the {name} table exceeds {self.limits.max_table_entries} entries")
        table.append(value)

    def lookup(self, table: list[str], name: str, index: int, offset: int) -> str:
        if index >= len(table):
            raise self.invalid(f"{name} table index {index} is out of range (the table holds {len(table)})",
                               offset)
        return self.emit(table[index])

    # -- document ---------------------------------------------------------------------------------
    def document(self) -> etree._Element:
        self.header()
        tree = _Tree(self)
        pending_ends = 0
        while True:
            if pending_ends:
                pending_ends -= 1
                if not tree.close():
                    break
                continue
            start = self.pos
            o = self.byte()
            if o == 0xF0 or o == 0xFF:
                pending_ends = 1 if o == 0xF0 else 2
            elif o < 0x80:
                tree.flush()
                self.check_room_for_element(tree, start)
                element, pending_ends = self.element(o, start, tree.stack[-1] if tree.stack else None)
                tree.open(element)
            elif o & 0xC0 == 0x80:
                tree.text.append(self.character_data(o, start, tree))
            else:
                raise self.refusal(o, start)
        if tree.root is None:
            raise self.invalid("the document holds no element")
        if self.pos != len(self.data):
            raise self.invalid(f"{len(self.data) - self.pos} bytes follow the end of the document")
        return tree.root

    def header(self) -> None:
        """The options octet after the magic: pmserve reads documents without optional components."""
        self.pos = 4
        options = self.byte()
        if options & 0x80:
            raise self.invalid(f"the padding bit of the header options is set ({options:#04x})", 4)
        if options:
            names = ["additional data", "an initial vocabulary", "notations", "unparsed entities",
                     "a character encoding scheme", "standalone", "version"]
            present = [n for i, n in enumerate(names) if options & (0x40 >> i)]
            raise self.unsupported("header component(s) " + ", ".join(present), 4)

    def check_room_for_element(self, tree: _Tree, start: int) -> None:
        """One root, and the limits on depth and element count, before another element opens."""
        if not tree.stack and tree.root is not None:
            raise self.invalid("a second root element", start)
        if len(tree.stack) >= self.limits.max_depth:
            raise self.invalid(f"elements nest deeper than {self.limits.max_depth}", start)
        self.elements += 1
        if self.elements > self.limits.max_elements:
            raise self.invalid(f"the document holds more than {self.limits.max_elements} elements", start)

    def character_data(self, o: int, start: int, tree: _Tree) -> str:
        if not tree.stack:
            raise self.invalid("character data outside the root element", start)
        chunk = self.chunk(o, start)
        if _NOT_XML.search(chunk):
            raise self.invalid("character data holds a character XML does not allow", start)
        return chunk

    def refusal(self, o: int, start: int) -> InvalidMarkupError | UnsupportedFormatError:
        """The error for an octet that starts no element, character data or end."""
        for mask, value, what in _UNSUPPORTED_ITEMS:
            if o & mask == value:
                return self.unsupported(what, start)
        return self.invalid(f"unexpected octet {o:#04x}", start)

    def element(self, o: int, start: int,
                parent: etree._Element | None) -> tuple[etree._Element, int]:
        """Read an element's name and attributes; returns it and how many ends already follow."""
        has_attributes = bool(o & 0x40)
        low = o & 0x3F
        if low == 0x38:
            raise self.unsupported("namespace attributes", start)
        if low & 0x3C == 0x3C:
            if low & 0x03:
                raise self.unsupported("a prefixed or namespaced element name", start)
            name = self.identifying_string(self.local_names, "local-name")
            self.add(self.element_names, "element-name", name)
        else:
            index = self.index_on_third_bit(low, start)
            name = self.element_names[self._checked_index(self.element_names, "element-name", index, start)]
        try:
            element = etree.Element(name) if parent is None else etree.SubElement(parent, name)
        except ValueError:
            raise self.invalid(f"element name {name!r:.80} is not a valid XML name", start) from None
        self.emit(name)
        if not has_attributes:
            return element, 0
        while True:
            at = self.pos
            a = self.byte()
            if a == 0xF0:
                return element, 0
            if a == 0xFF:
                return element, 1
            if a & 0x80:
                raise self.invalid(f"expected an attribute or a terminator, got octet {a:#04x}", at)
            attribute = self.attribute_name(a, at)
            value = self.attribute_value()
            try:
                twice = element.get(attribute) is not None
                element.set(attribute, value)
            except ValueError:
                raise self.invalid(f"attribute {attribute!r:.80} (or its value) is not valid in XML", at) from None
            if twice:
                raise self.invalid(f"attribute {attribute!r} appears twice on element {name!r}", at)

    def index_on_third_bit(self, low: int, start: int) -> int:
        """An element name's index in the low 6 bits of its octet and the octets after (X.891 C.26)."""
        return self.index_in(low, 6, "element-name", start)

    def attribute_name(self, a: int, start: int) -> str:
        if a & 0x78 == 0x78:
            if a & 0x03:
                raise self.unsupported("a prefixed or namespaced attribute name", start)
            name = self.identifying_string(self.local_names, "local-name")
            self.add(self.attribute_names, "attribute-name", name)
            return self.emit(name)
        return self.lookup(self.attribute_names, "attribute-name", self.index_on_second_bit(a, start), start)

    def index_on_second_bit(self, o: int, start: int) -> int:
        """An index in the low 7 bits of ``o`` (and following bytes), X.891 C.25."""
        if o & 0x40 == 0:
            return o & 0x3F
        if o & 0x60 == 0x40:
            return ((o & 0x1F) << 8 | self.byte()) + 64
        if o & 0x70 == 0x60:
            return ((o & 0x0F) << 16 | self.uint(2)) + 8256
        raise self.invalid(f"malformed index octet {o:#04x}", start)

    def identifying_string(self, table: list[str], name: str) -> str:
        """A literal (added to ``table``) or indexed local name, on the first bit (X.891 C.13)."""
        start = self.pos
        o = self.byte()
        if o & 0x80:
            return table[self._checked_index(table, name, self.index_on_second_bit(o & 0x7F, start), start)]
        if o & 0x40 == 0:
            length = (o & 0x3F) + 1
        elif o == 0x40:
            length = self.byte() + 65
        elif o == 0x60:
            length = self.uint(4) + 321
        else:
            raise self.invalid(f"malformed string length octet {o:#04x}", start)
        text = self.utf8(self.take(length), start)
        self.add(table, name, text)
        return text

    def _checked_index(self, table: list[str], name: str, index: int, offset: int) -> int:
        if index >= len(table):
            raise self.invalid(f"{name} table index {index} is out of range (the table holds {len(table)})",
                               offset)
        return index

    def attribute_value(self) -> str:
        """A non-identifying string on the first bit (X.891 C.14)."""
        start = self.pos
        o = self.byte()
        if o == 0xFF:
            return ""
        if o & 0x80:
            return self.lookup(self.attribute_values, "attribute-value",
                               self.index_on_second_bit(o & 0x7F, start), start)
        add = bool(o & 0x40)
        text = self.literal((o >> 4) & 0x03, o & 0x0F, 4, self.length_on_fifth_bit, start)
        if add:
            self.add(self.attribute_values, "attribute-value", text)
        return self.emit(text)

    def literal(self, kind: int, low: int, bits: int, length_of: Callable[[int, int], int], start: int) -> str:
        """The literal of a non-identifying string (X.891 C.14, C.15): UTF-8 or UTF-16 octets
        (``kind`` 0, 1), or a restricted alphabet or encoding algorithm (2, 3) whose table index
        continues from the ``bits`` low bits of the current octet (``low``) into the next octet."""
        if kind in (0, 1):
            raw = self.take(length_of(low, start))
            return self.utf8(raw, start) if kind == 0 else self.utf16(raw, start)
        second = self.byte()
        table_index = (low << (8 - bits) | second >> bits) + 1
        length = length_of(second & ((1 << bits) - 1), start)
        return self.special(kind, table_index, self.take(length), start)

    def length_on_fifth_bit(self, nibble: int, start: int) -> int:
        if nibble & 0x08 == 0:
            return nibble + 1
        if nibble == 0x08:
            return self.byte() + 9
        if nibble == 0x0C:
            return self.uint(4) + 265
        raise self.invalid(f"malformed string length bits {nibble:#03x}", start)

    def chunk(self, o: int, start: int) -> str:
        """Character data: a non-identifying string on the third bit (X.891 C.15)."""
        if o & 0x20:
            return self.lookup(self.chunks, "character-chunk", self.index_on_fourth_bit(o, start), start)
        add = bool(o & 0x10)
        text = self.literal((o >> 2) & 0x03, o & 0x03, 2, self.length_on_seventh_bit, start)
        if add:
            self.add(self.chunks, "character-chunk", text)
        return self.emit(text)

    def index_on_fourth_bit(self, o: int, start: int) -> int:
        """A character chunk's index in the low 5 bits of its octet and the octets after (X.891 C.27)."""
        return self.index_in(o & 0x1F, 5, "character-chunk", start)

    def index_in(self, low: int, width: int, what: str, start: int) -> int:
        """An index starting in the ``width`` low bits of an octet (``low``), X.891 C.26 and C.27: up
        to ``2**(width-1)`` in those bits alone, then in 8, 16 or 20 more bits, each range after
        the last (the three leading bits 100, 101 and 110 say which)."""
        rest = width - 3  # bits of the index left after the three that say its range
        small = 1 << (width - 1)
        medium = small + (1 << (rest + 8))
        large = medium + (1 << (rest + 16))
        if low & small == 0:
            return low
        tag, high = low >> rest, low & ((1 << rest) - 1)
        if tag == 0b100:
            return (high << 8 | self.byte()) + small
        if tag == 0b101:
            return (high << 16 | self.uint(2)) + medium
        if tag == 0b110 and high == 0:
            b = self.byte()
            if b & 0xF0:
                raise self.invalid(f"padding bits set in the {what} index ({b:#04x})", start)
            return ((b & 0x0F) << 16 | self.uint(2)) + large
        raise self.invalid(f"malformed {what} index (low bits {low:#04x})", start)

    def length_on_seventh_bit(self, bits: int, start: int) -> int:
        if bits & 0x02 == 0:
            return bits + 1
        if bits == 0x02:
            return self.byte() + 3
        return self.uint(4) + 259

    def special(self, kind: int, index: int, raw: bytes, start: int) -> str:
        """A string in a restricted alphabet (kind 2) or an encoding algorithm (kind 3)."""
        if kind == 2:
            alphabet = _ALPHABETS.get(index)
            if alphabet is None:
                raise self.unsupported(f"restricted alphabet {index} (only the built-in 1 and 2 exist "
                                       f"without an initial vocabulary)", start)
            out: list[str] = []
            last = len(raw) - 1
            for i, b in enumerate(raw):
                high, low = b >> 4, b & 0x0F
                if high == 0x0F or (low == 0x0F and i != last):
                    raise self.invalid("a restricted-alphabet string ends before its last byte", start)
                out.append(_alphabet_char(alphabet, high, self, start))
                if low == 0x0F:
                    break
                out.append(_alphabet_char(alphabet, low, self, start))
            return "".join(out)
        name = _ALGORITHM_NAMES.get(index)
        if index == 1:
            return raw.hex().upper()
        if index == 2:
            return base64.b64encode(raw).decode("ascii")
        if index == 10:
            return self.utf8(raw, start)
        what = f"encoding algorithm {index}" + (f" ({name})" if name else " (application-defined)")
        raise self.unsupported(what, start)

    def utf8(self, raw: bytes, start: int) -> str:
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise self.invalid(f"a string is not valid UTF-8 ({exc.reason})", start) from None

    def utf16(self, raw: bytes, start: int) -> str:
        try:
            return raw.decode("utf-16-be")
        except UnicodeDecodeError as exc:
            raise self.invalid(f"a string is not valid UTF-16 ({exc.reason})", start) from None


def _alphabet_char(alphabet: str, nibble: int, decoder: _Decoder, start: int) -> str:
    if nibble >= len(alphabet):
        raise decoder.invalid(f"restricted-alphabet character {nibble} is out of range", start)
    return alphabet[nibble]
