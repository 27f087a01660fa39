"""Model formats pmserve can deploy: one loader per format, chosen by sniffing the content.

Every loader returns a :class:`Scorable` - the small interface the service scores through - or
raises :class:`~pmserve.errors.DocumentError` (an :class:`~pmserve.errors.UnsupportedFormatError`
for a format pmserve does not accept).  Today: PMML, plain or gzip-compressed, and IBM SPSS
Modeler streams (``.str``, a ZIP archive), which also implement :class:`TableScorable`.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping, Sequence
from typing import Any, Literal, Protocol

from pmserve.errors import PayloadTooLargeError, UnsupportedFormatError
from pmserve.formats._pmml import load_pmml
from pmserve.formats._tables import RowTable, TableScorable
from pmserve.formats.spss._limits import StreamLimits
from pmserve.formats.spss._loader import StreamModel, load_stream
from pmserve.pmml import Field, Limits, Scored

ACCEPTED = "PMML documents (.pmml or .xml), optionally gzip-compressed (.gz), and SPSS Modeler streams (.str)"

__all__ = ["ACCEPTED", "RowTable", "Scorable", "StreamLimits", "StreamModel", "TableScorable", "load_model"]


class Scorable(Protocol):
    """What the service needs from a deployed model, whatever its format."""

    format: str

    @property
    def input_fields(self) -> tuple[Field, ...]: ...

    @property
    def output_fields(self) -> tuple[Field, ...]: ...

    def score(self, columns: Mapping[str, Sequence[Any]], *,
              errors: Literal["raise", "collect"] = "raise") -> Scored: ...

    def score_one(self, record: Mapping[str, Any]) -> tuple[Any, ...] | None:
        """The results of one complete record of plain values (field name -> value), as the row
        ``score`` would give; None when the record is not such a one (then call ``score``)."""

    def verify(self) -> None:
        """Replay the model's own verification records; raise VerificationError if they fail."""


def load_model(filename: str, content: bytes, limits: Limits | None = None, *,
               stream_limits: StreamLimits | None = None) -> Scorable:
    """Compile an uploaded model file, whose format is sniffed from its content.

    A ZIP archive, or any file named ``*.str``, is read as a Modeler stream within ``stream_limits``;
    ``limits`` bounds the work on a PMML document (the size after decompression included; see
    :class:`pmserve.pmml.Limits`).
    """
    limits = limits or Limits()
    if filename.lower().endswith(".str") or content[:4] == b"PK\x03\x04":
        return load_stream(filename, content, stream_limits or StreamLimits())
    data = _gunzip(filename, content, limits.max_document_bytes) if content[:2] == b"\x1f\x8b" else content
    if _looks_like_xml(data):
        return load_pmml(data, limits)
    if not data.strip():
        raise UnsupportedFormatError(f"file {filename!r} is empty; pmserve accepts {ACCEPTED}")
    raise UnsupportedFormatError(f"file {filename!r} is not XML; pmserve accepts {ACCEPTED}")


def _looks_like_xml(data: bytes) -> bool:
    head = data[:512].lstrip(b"\xef\xbb\xbf \t\r\n")
    return head.startswith(b"<")


def _gunzip(filename: str, content: bytes, limit: int) -> bytes:
    """Inflate every gzip member of ``content``, stopping as soon as the output passes ``limit``."""
    out = bytearray()
    rest = content
    while rest[:2] == b"\x1f\x8b":
        inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
        try:
            out += inflater.decompress(rest, limit + 1 - len(out))
        except zlib.error as exc:
            raise UnsupportedFormatError(
                f"file {filename!r} looks gzip-compressed but cannot be decompressed ({exc}); "
                f"pmserve accepts {ACCEPTED}") from None
        if len(out) > limit or inflater.unconsumed_tail:
            raise PayloadTooLargeError(
                f"file {filename!r} inflates to more than {limit} bytes; the limit is {limit} bytes after "
                f"decompression (PMSERVE_MAX_UPLOAD_MB)")
        if not inflater.eof:
            raise UnsupportedFormatError(f"file {filename!r} is a truncated gzip file; pmserve accepts {ACCEPTED}")
        rest = inflater.unused_data
    if rest.strip(b"\0"):
        raise UnsupportedFormatError(f"file {filename!r} has {len(rest)} bytes after its gzip data; "
                                     f"pmserve accepts {ACCEPTED}")
    return bytes(out)
