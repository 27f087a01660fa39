"""The Modeler 18 extension-content container: ``u32be length`` + a ZIP written by Java.

Java writes the entries with data descriptors (sizes after the data) and property-list "extra"
fields that Python's :mod:`zipfile` rejects, so the local headers are walked here: stored or
deflated entries, each inflated with a bound on its size.  Used until the stream reader's
container module offers the same.
"""

from __future__ import annotations

import struct
import zlib

from pmserve.errors import InvalidMarkupError, UnsupportedFormatError

#: Bound on one inflated entry (the PMML, JSON and StatXML entries of real nuggets are a few KB).
MAX_ENTRY_BYTES = 64 * 1024 * 1024
MAX_ENTRIES = 256
_LOCAL = b"PK\x03\x04"
_DESCRIPTOR = b"PK\x07\x08"


def read_extension_container(blob: bytes, where: str) -> dict[str, bytes]:
    """The entries of a length-prefixed nested ZIP by name."""
    if len(blob) < 8 or struct.unpack(">I", blob[:4])[0] != len(blob) - 4:
        raise InvalidMarkupError(f"{where}: expected a u32 length (the blob's size - 4) and a ZIP, got "
                                 f"{blob[:8].hex(' ') or 'no bytes'}", offset=0)
    data = memoryview(blob)[4:]
    if bytes(data[:4]) != _LOCAL:
        raise UnsupportedFormatError(f"{where}: the container does not hold a ZIP (got {bytes(data[:4]).hex(' ')})")
    entries: dict[str, bytes] = {}
    pos = 0
    while bytes(data[pos:pos + 4]) == _LOCAL:
        if len(entries) >= MAX_ENTRIES:
            raise InvalidMarkupError(f"{where}: more than {MAX_ENTRIES} entries", offset=pos + 4)
        if pos + 30 > len(data):
            raise InvalidMarkupError(f"{where}: a truncated ZIP entry header", offset=pos + 4)
        flags, method = struct.unpack("<HH", data[pos + 6:pos + 10])
        compressed, _size, name_len, extra_len = struct.unpack("<IIHH", data[pos + 18:pos + 30])
        start = pos + 30 + name_len + extra_len
        if start > len(data):
            raise InvalidMarkupError(f"{where}: a truncated ZIP entry header", offset=pos + 4)
        name = bytes(data[pos + 30:pos + 30 + name_len]).decode("utf-8", "replace")
        if method == 0:
            if flags & 8:
                raise UnsupportedFormatError(f"{where}: stored entry {name!r} with a data descriptor")
            content, end = bytes(data[start:start + compressed]), start + compressed
        elif method == 8:
            inflater = zlib.decompressobj(-15)
            try:
                content = inflater.decompress(data[start:], MAX_ENTRY_BYTES + 1)
            except zlib.error as exc:
                raise InvalidMarkupError(f"{where}: entry {name!r} does not inflate: {exc}", offset=start + 4) from exc
            if len(content) > MAX_ENTRY_BYTES:
                raise InvalidMarkupError(f"{where}: entry {name!r} inflates to more than {MAX_ENTRY_BYTES} bytes")
            if not inflater.eof:
                raise InvalidMarkupError(f"{where}: entry {name!r} is truncated", offset=start + 4)
            end = len(data) - len(inflater.unused_data)
        else:
            raise UnsupportedFormatError(f"{where}: entry {name!r} uses compression method {method}; expected "
                                         f"0 (stored) or 8 (deflated)")
        if flags & 8:
            end += 16 if bytes(data[end:end + 4]) == _DESCRIPTOR else 12
        if end > len(data):
            raise InvalidMarkupError(f"{where}: entry {name!r} is truncated", offset=end + 4)
        if name in entries:
            raise InvalidMarkupError(f"{where}: two entries named {name!r}")
        entries[name] = content
        pos = end
    return entries
