"""The containers nugget models are stored in (format §4 and §8.2), opened within limits.

* plain blobs (``<?xml …`` / ``<PMML …``, TSCXML, text tables);
* SCF containers (``SCF\\x01``): zlib chunks ending in a sync flush, no final block; each
  entry chunk starts with a u32 and ``03 u16 text`` headers (an entry name, then
  ``mimeType=…\\ntypeId=…`` properties) before its payload;
* a u32 big-endian length followed by a payload: PMML, JSON, or a nested ZIP written by Java
  with property-list "extra" fields that :mod:`zipfile` rejects, so its local headers are
  walked by hand (raw deflate, data descriptors).

Every inflation is bounded by the bytes left in :class:`InflateBudget`.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

from pmserve.errors import InvalidMarkupError

SCF_MAGIC = b"SCF\x01"
ZIP_LOCAL = b"PK\x03\x04"


@dataclass(frozen=True)
class Entry:
    """One document found in a container: its name, its media type (when stated) and bytes."""

    name: str
    mime_type: str
    content: bytes


class InflateBudget:
    """Bytes that inflating may still produce, shared by every container of one stream."""

    def __init__(self, limit: int) -> None:
        self.left = limit

    def inflate(self, data: bytes, *, wbits: int, where: str) -> tuple[bytes, bytes]:
        """Inflate one zlib/deflate stream; returns (output, bytes after the stream's end)."""
        inflater = zlib.decompressobj(wbits=wbits)
        try:
            out = inflater.decompress(data, self.left + 1)
        except zlib.error as exc:
            raise InvalidMarkupError(f"{where}: compressed data is corrupt ({exc})", entry=where) from None
        if len(out) > self.left or inflater.unconsumed_tail:
            raise InvalidMarkupError(f"{where}: inflates past the stream's size limit "
                                     f"(PMSERVE_STR_MAX_INFLATED_MB)", entry=where)
        self.left -= len(out)
        return out, inflater.unused_data


def looks_like_pmml(content: bytes) -> bool:
    head = content[:4096].lstrip(b"\xef\xbb\xbf \t\r\n")
    return head.startswith((b"<?xml", b"<PMML")) and b"<PMML" in content[:4096]


def open_container(blob: bytes, budget: InflateBudget, *, where: str) -> list[Entry]:
    """The documents a blob holds, whatever its container shape."""
    if blob.startswith(SCF_MAGIC):
        return read_scf(blob, budget, where=where)
    if len(blob) >= 4 and int.from_bytes(blob[:4], "big") == len(blob) - 4:
        payload = blob[4:]
        if payload.startswith(ZIP_LOCAL):
            return read_java_zip(payload, budget, where=where)
        return [Entry(where, "", payload)]
    return [Entry(where, "", blob)]


def read_scf(blob: bytes, budget: InflateBudget, *, where: str) -> list[Entry]:
    """The entries of an SCF container (format §4.2): every chunk inflated, headers read."""
    entries: list[Entry] = []
    pos = 12
    while pos < len(blob):
        if pos + 8 > len(blob):
            raise InvalidMarkupError(f"{where}: SCF chunk header at byte offset {pos} is truncated", entry=where)
        compressed, plain = struct.unpack_from(">II", blob, pos)
        start, pos = pos + 8, pos + 8 + compressed
        if pos > len(blob):
            raise InvalidMarkupError(f"{where}: SCF chunk at byte offset {start - 8} declares {compressed} bytes, "
                                     f"past the end of the blob", entry=where)
        if plain > budget.left:
            raise InvalidMarkupError(f"{where}: SCF chunk at byte offset {start - 8} declares {plain} bytes, "
                                     f"past the stream's size limit (PMSERVE_STR_MAX_INFLATED_MB)", entry=where)
        data, _ = budget.inflate(blob[start:pos], wbits=zlib.MAX_WBITS, where=where)
        entry = _scf_entry(data, where)
        if entry is not None:
            entries.append(entry)
    return entries


def _scf_entry(data: bytes, where: str) -> Entry | None:
    """An entry chunk: u32, then ``03 u16 text`` headers (name, properties), then the payload."""
    pos = 4
    texts: list[str] = []
    while pos + 3 <= len(data) and data[pos] == 3 and len(texts) < 2:
        length = int.from_bytes(data[pos + 1:pos + 3], "big")
        if pos + 3 + length > len(data):
            return None
        texts.append(data[pos + 3:pos + 3 + length].decode("utf-8", "replace"))
        pos += 3 + length
    if not texts:
        return None  # a table of contents
    properties = texts[-1]
    name = texts[0] if len(texts) == 2 else where
    mime = next((line.split("=", 1)[1] for line in properties.splitlines() if line.startswith("mimeType=")), "")
    return Entry(name, mime, data[pos:])


def read_java_zip(data: bytes, budget: InflateBudget, *, where: str) -> list[Entry]:
    """The entries of a ZIP written by Java's ZipOutputStream, walked from its local headers."""
    entries: list[Entry] = []
    pos = 0
    while data.startswith(ZIP_LOCAL, pos):
        if pos + 30 > len(data):
            raise InvalidMarkupError(f"{where}: nested ZIP header at byte offset {pos} is truncated", entry=where)
        (_, flags, method, _, _, _, compressed, size, name_len, extra_len) = struct.unpack_from(
            "<HHHHHIIIHH", data, pos + 4)
        name_at = pos + 30
        body = name_at + name_len + extra_len
        if body > len(data):
            raise InvalidMarkupError(f"{where}: nested ZIP entry at byte offset {pos} is truncated", entry=where)
        name = data[name_at:name_at + name_len].decode("utf-8", "replace")
        extra = data[name_at + name_len:body]
        mime = _extra_properties(extra).get("mime-type", "")
        described = bool(flags & 0x08)
        if method == 8:
            if not described and body + compressed > len(data):
                raise InvalidMarkupError(f"{where}: nested ZIP entry {name!r} runs past the end", entry=where)
            chunk = data[body:] if described else data[body:body + compressed]
            content, rest = budget.inflate(chunk, wbits=-zlib.MAX_WBITS, where=f"{where}:{name}")
            pos = len(data) - len(rest) if described else body + compressed
        elif method == 0 and not described:
            if body + size > len(data) or size > budget.left:
                raise InvalidMarkupError(f"{where}: nested ZIP entry {name!r} runs past the end", entry=where)
            content = data[body:body + size]
            budget.left -= size
            pos = body + size
        else:
            raise InvalidMarkupError(f"{where}: nested ZIP entry {name!r} uses method {method} "
                                     f"(flags {flags:#06x}); only deflated or stored entries are read", entry=where)
        if described:
            pos += 16 if data.startswith(b"PK\x07\x08", pos) else 12
        entries.append(Entry(name, mime, content))
    return entries


def _extra_properties(extra: bytes) -> dict[str, str]:
    """Modeler's extra field: u32 count, then count times (u32 key length, u32 value length, key, value)."""
    out: dict[str, str] = {}
    if len(extra) < 4:
        return out
    count = int.from_bytes(extra[:4], "big")
    pos = 4
    for _ in range(min(count, 64)):
        if pos + 8 > len(extra):
            break
        key_len, value_len = struct.unpack_from(">II", extra, pos)
        pos += 8
        if pos + key_len + value_len > len(extra):
            break
        key = extra[pos:pos + key_len].decode("utf-8", "replace")
        out[key] = extra[pos + key_len:pos + key_len + value_len].decode("utf-8", "replace")
        pos += key_len + value_len
    return out
