"""The Fast Infoset decoder: real Modeler streams, every encoding it reads, and hostile inputs."""

from __future__ import annotations

import io
import zipfile

import pytest
from lxml import etree

from pmserve.errors import InvalidMarkupError, UnsupportedFormatError
from pmserve.formats.spss._fastinfoset import FiLimits, _Decoder, decode

from ._streams import STREAM_NAMES, stream_bytes

HEADER = b"\xe0\x00\x00\x01\x00"
LIMITS = FiLimits()


def _stream_xml(name: str) -> bytes:
    with zipfile.ZipFile(io.BytesIO(stream_bytes(name))) as archive:
        entry = next(n for n in archive.namelist() if n.endswith(".xml") and "/" not in n)
        return archive.read(entry)


def _literal_name(text: str) -> bytes:
    raw = text.encode()
    return bytes([len(raw) - 1]) + raw


# <a b="abcd">x</a>: element with attributes and a literal name, a literal attribute added to the
# table, a literal chunk added to the table, then the element and document terminators.
SMALL = HEADER + b"\x7c" + _literal_name("a") + b"\x78" + _literal_name("b") + b"\x43abcd\xf0" \
    + b"\x90x" + b"\xf0\xf0"


@pytest.mark.parametrize("name", STREAM_NAMES)
def test_every_real_stream_decodes_to_a_clementine_stream(name: str) -> None:
    """Each shared stream's XML decodes completely into the documented skeleton."""
    root = decode(_stream_xml(name), LIMITS)
    assert root.tag == "clementineStream"
    assert root.find("stream/diagram/nodes/node") is not None
    assert root.find("stream/properties/name") is not None


def test_drug1n_decodes_nodes_links_and_indexed_values() -> None:
    """Indexed attribute values resolve to the right table entries (0-based, §2.7)."""
    root = decode(_stream_xml("Drug1n.str"), LIMITS)
    stream = root.find("stream")
    assert stream is not None
    assert stream.get("saveVersion") == "16.0"
    first = root.find("stream/diagram/nodes/node")
    assert first is not None
    assert first.get("class") == "com.spss.clementine.component.node.DelimitedFileImportNode"
    assert first.get("saveVersion") == "16.0"
    links = [(e.get("srcId"), e.get("dstId")) for e in root.iterfind("stream/diagram/links/link")]
    assert ("0", "2") in links
    assert ("2", "3") in links
    assert root.findtext("stream/properties/scnScoringTerminalNode") == "id86PQD2I2A8L"


def test_small_document_with_literal_names_values_and_text() -> None:
    root = decode(SMALL, LIMITS)
    assert etree.tostring(root) == b'<a b="abcd">x</a>'


def test_indexed_names_values_and_chunks_repeat_table_entries() -> None:
    """Second use of a name, value and chunk by table index, with a double terminator."""
    doc = (HEADER + b"\x3c" + _literal_name("r")  # <r>
           + b"\x7c" + _literal_name("a") + b"\x78" + _literal_name("b") + b"\x40v" + b"\xf0"  # <a b="v">
           + b"\x91hi" + b"\xf0"  # text "hi" (added), </a>
           + b"\x41\x00\x80\xf0"  # <a b="v"> by element index 1, attribute index 0, value index 0
           + b"\xa0" + b"\xff"  # chunk #0 "hi", then </a></r>
           + b"\xf0")  # end of document
    root = decode(doc, LIMITS)
    assert etree.tostring(root) == b'<r><a b="v">hi</a><a b="v">hi</a></r>'


def test_empty_attribute_value_and_empty_element_by_double_terminator() -> None:
    doc = (HEADER + b"\x3c" + _literal_name("r") + b"\x7c" + _literal_name("e")
           + b"\x78" + _literal_name("k") + b"\xff" + b"\xff" + b"\xf0\xf0")
    assert etree.tostring(decode(doc, LIMITS)) == b'<r><e k=""/></r>'


def test_restricted_alphabet_numbers_decode_two_characters_a_byte() -> None:
    """Built-in alphabet 1 ("0123456789-+.e "): "3.5" is nibbles 3 . 5 and the 0xF end mark."""
    doc = HEADER + b"\x7c" + _literal_name("a") + b"\x78" + _literal_name("v") + b"\x20\x01\x3c\x5f" + b"\xff\xf0"
    assert decode(doc, LIMITS).get("v") == "3.5"


def test_restricted_alphabet_date_time_decodes() -> None:
    """Built-in alphabet 2 ("0123456789-:TZ "): "12:30" packs into three bytes."""
    doc = (HEADER + b"\x7c" + _literal_name("a") + b"\x78" + _literal_name("t")
           + b"\x20\x12\x12\xb3\x0f" + b"\xff\xf0")
    assert decode(doc, LIMITS).get("t") == "12:30"


def test_cdata_encoding_algorithm_in_values_and_chunks() -> None:
    """Algorithm 10 (cdata) carries UTF-8 text, in attribute values and character chunks (§8.1)."""
    value = b"\x30\x92" + b"<x>"  # algorithm index 10 (9 in the bits), length 2+1 = 3
    chunk = b"\x8c\x26\x04" + b"<PMML/>"  # length 4+3 = 7
    doc = (HEADER + b"\x7c" + _literal_name("a") + b"\x78" + _literal_name("v") + value + b"\xf0"
           + chunk + b"\xf0\xf0")
    root = decode(doc, LIMITS)
    assert root.get("v") == "<x>"
    assert root.text == "<PMML/>"


def test_hexadecimal_and_base64_algorithms_render_text() -> None:
    hex_value = b"\x30\x01" + b"\xab\xcd"  # algorithm 1, length 2
    b64_value = b"\x30\x12" + b"abc"  # algorithm 2, length 3
    doc = (HEADER + b"\x7c" + _literal_name("a") + b"\x78" + _literal_name("h") + hex_value
           + b"\x78" + _literal_name("b") + b64_value + b"\xff\xf0")
    root = decode(doc, LIMITS)
    assert (root.get("h"), root.get("b")) == ("ABCD", "YWJj")


def test_plain_xml_of_modeler_14_is_accepted() -> None:
    assert decode(b'<?xml version="1.0"?><clementineStream version="14.2"/>', LIMITS).get("version") == "14.2"


@pytest.mark.parametrize(("doc", "message"), [
    (b"\xe0\x00\x00\x01", r"ends early \(truncated\) at byte offset 4"),
    (b"\xe0\x00\x00\x01\x20", r"initial vocabulary at byte offset 4"),
    (HEADER + b"\x00", r"element-name table index 0 is out of range \(the table holds 0\) at byte offset 5"),
    (HEADER + b"\x7c\x60\xff\xff\xff\xff", r"string of 4294967616 bytes runs past the end .* at byte offset 11"),
    (HEADER + b"\x3c" + _literal_name("a") + b"\xa5", r"character-chunk table index 5 is out of range"),
    (HEADER + b"\x3c" + _literal_name("a") + b"\xe1", r"processing instruction at byte offset 8"),
    (HEADER + b"\x3c" + _literal_name("a") + b"\xe2", r"comment at byte offset 8"),
    (HEADER + b"\x3c" + _literal_name("a") + b"\xc4", r"document type declaration at byte offset 8"),
    (HEADER + b"\x38", r"namespace attributes at byte offset 5"),
    (HEADER + b"\x7c" + _literal_name("a") + b"\x78" + _literal_name("v") + b"\x30\x31" + b"\x00\x01",
     r"encoding algorithm 4 \(int\)"),
    (SMALL + b"\x00", r"1 bytes follow the end of the document"),
    (HEADER + b"\x3c\x00\x31\xf0\xf0", r"'1' is not a valid XML name"),
    (b"PK\x03\x04", r"neither Fast Infoset .* nor XML; got 50 4b 03 04 at byte offset 0"),
])
def test_malformed_or_unsupported_documents_fail_with_the_byte_offset(doc: bytes, message: str) -> None:
    with pytest.raises((InvalidMarkupError, UnsupportedFormatError), match=message):
        decode(doc, LIMITS)


@pytest.mark.parametrize("cut", range(5, len(SMALL)))
def test_every_truncation_of_a_document_is_refused(cut: int) -> None:
    with pytest.raises(InvalidMarkupError, match="byte offset"):
        decode(SMALL[:cut], LIMITS)


def test_table_references_cannot_blow_up_the_output() -> None:
    """A 1000-character value repeated by a one-byte index is counted each time it is emitted."""
    long_value = b"\x4c" + (1000 - 265).to_bytes(4, "big") + b"x" * 1000
    doc = HEADER + b"\x3c" + _literal_name("r") + b"\x7c" + _literal_name("a") + b"\x78" + _literal_name("v") \
        + long_value + b"\xff" + b"\x41\x00\x80\xff" * 200 + b"\xf0\xf0"
    with pytest.raises(InvalidMarkupError, match="exceeds 50000 characters"):
        decode(doc, FiLimits(max_chars=50_000))


def test_nesting_deeper_than_the_limit_is_refused() -> None:
    doc = HEADER + b"\x3c" + _literal_name("a") + b"\x00" * 40 + b"\xff" * 21
    with pytest.raises(InvalidMarkupError, match="nest deeper than 10"):
        decode(doc, FiLimits(max_depth=10))


def test_plain_xml_with_a_dtd_is_refused() -> None:
    doc = b'<!DOCTYPE a [<!ENTITY x "boom">]><a>&x;</a>'
    with pytest.raises(InvalidMarkupError, match="declares a DTD"):
        decode(doc, LIMITS)


@pytest.mark.parametrize("seed", range(4))
def test_corrupted_streams_fail_only_with_document_errors(seed: int) -> None:
    """Random byte flips and cuts of a real stream's XML decode or are refused; nothing else escapes."""
    import random

    data = bytearray(_stream_xml("Drug1n.str"))
    rng = random.Random(seed)
    outcomes = {"decoded": 0, "refused": 0}
    for _ in range(150):
        mutated = bytearray(data)
        for _ in range(rng.randint(1, 4)):
            mutated[rng.randrange(5, len(mutated))] = rng.randrange(256)
        if rng.random() < 0.3:
            del mutated[rng.randrange(5, len(mutated)):]
        try:
            decode(bytes(mutated), LIMITS)
        except (InvalidMarkupError, UnsupportedFormatError):
            outcomes["refused"] += 1
        else:
            outcomes["decoded"] += 1
    assert outcomes["refused"] > 0


def test_fast_infoset_element_count_is_limited() -> None:
    """Empty elements by a one-byte table index cost two bytes each; their number is bounded."""
    doc = (HEADER + b"\x3c" + _literal_name("r") + b"\x3c" + _literal_name("e") + b"\xf0"
           + b"\x01\xf0" * 300 + b"\xf0\xf0")
    with pytest.raises(InvalidMarkupError, match="holds more than 100 elements"):
        decode(doc, FiLimits(max_elements=100))


def test_plain_xml_element_count_and_depth_are_limited_while_parsing() -> None:
    with pytest.raises(InvalidMarkupError, match="holds more than 100 elements"):
        decode(b"<r>" + b"<e/>" * 300 + b"</r>", FiLimits(max_elements=100))
    with pytest.raises(InvalidMarkupError, match="nests elements deeper than 10"):
        decode(b"<a>" * 20 + b"</a>" * 20, FiLimits(max_depth=10))


def _reference_index(low: int, width: int, follow: bytes) -> int:
    """X.891 C.26 (width 6) and C.27 (width 5) written out case by case, as the standard tabulates them."""
    if width == 6:
        if low & 0x20 == 0:
            return low & 0x1F
        if low & 0x38 == 0x20:
            return ((low & 0x07) << 8 | follow[0]) + 32
        if low & 0x38 == 0x28:
            return ((low & 0x07) << 16 | int.from_bytes(follow[:2], "big")) + 2080
        return ((follow[0] & 0x0F) << 16 | int.from_bytes(follow[1:3], "big")) + 526368
    if low & 0x10 == 0:
        return low
    if low & 0x1C == 0x10:
        return ((low & 0x03) << 8 | follow[0]) + 16
    if low & 0x1C == 0x14:
        return ((low & 0x03) << 16 | int.from_bytes(follow[:2], "big")) + 1040
    return ((follow[0] & 0x0F) << 16 | int.from_bytes(follow[1:3], "big")) + 263184


@pytest.mark.parametrize("width", [5, 6])
def test_name_and_chunk_indices_decode_every_range_as_x891_tabulates(width: int) -> None:
    """Indices in the low 6 (element names) or 5 (character chunks) bits decode in all four ranges."""
    follow = bytes([0x0A, 0xBC, 0xDE])
    valid = [low for low in range(1 << width)
             if low >> (width - 3) in (0b000, 0b001, 0b010, 0b011, 0b100, 0b101) or low == 0b110 << (width - 3)]
    for low in valid:
        decoder = _Decoder(follow, LIMITS, "test")
        assert decoder.index_in(low, width, "test", 0) == _reference_index(low, width, follow), low


@pytest.mark.parametrize(("low", "width", "message"), [
    (0x31, 6, r"malformed element-name index \(low bits 0x31\)"),
    (0x1C, 5, r"malformed character-chunk index \(low bits 0x1c\)"),
])
def test_malformed_index_bits_are_refused(low: int, width: int, message: str) -> None:
    what = "element-name" if width == 6 else "character-chunk"
    with pytest.raises(InvalidMarkupError, match=message):
        _Decoder(b"\x00\x00\x00", LIMITS, "test").index_in(low, width, what, 0)


def test_padding_bits_in_a_large_index_are_refused() -> None:
    with pytest.raises(InvalidMarkupError, match=r"padding bits set in the element-name index \(0x10\)"):
        _Decoder(b"\x10\x00\x00", LIMITS, "test").index_in(0x30, 6, "element-name", 0)
