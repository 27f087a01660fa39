"""Where a case's PMML comes from: its own ``model.pmml``, or a nugget inside a shared ``.str``.

A case whose document is real SPSS Modeler output cannot ship it (the streams stay in
``../shared``); its ``model.source`` names the stream and the entry instead, and the PMML is
read out of the entry's SCF container here.  Standard library only: the JPMML reference tool
(``tools/jpmml_reference/cases.py``) imports this module too.
"""

from __future__ import annotations

import struct
import zipfile
import zlib
from pathlib import Path

CORPUS_ROOT = Path(__file__).resolve().parents[2].parent / "shared" / "conformance"

_SCF_MAGIC = b"SCF\x01"
_MAX_PMML = 64 << 20


class SourceUnavailable(Exception):
    """The shared stream a case names is not on this machine."""


def scf_payload(blob: bytes) -> bytes:
    """The inflated body of an SCF container: u32be TOC offset at 8, then (u32be compressed
    length, u32be plain length, zlib bytes) chunks up to the TOC, one zlib stream ending in a
    sync flush."""
    if blob[:4] != _SCF_MAGIC or len(blob) < 12:
        raise ValueError("not an SCF container")
    (toc,) = struct.unpack(">I", blob[8:12])
    inflater = zlib.decompressobj()
    out = bytearray()
    pos = 12
    while pos < min(toc, len(blob)):
        size, _plain = struct.unpack(">II", blob[pos:pos + 8])
        pos += 8
        out += inflater.decompress(blob[pos:pos + size], _MAX_PMML - len(out))
        pos += size
    return bytes(out)


def pmml_of_entry(blob: bytes) -> bytes:
    """The PMML document inside a Modeler nugget entry (SCF container, after its property header)."""
    body = scf_payload(blob)
    start = body.find(b"<?xml")
    if start < 0:
        raise ValueError("the SCF container holds no XML document")
    return body[start:]


def model_bytes(case_dir: Path, corpus: Path = CORPUS_ROOT) -> bytes:
    """The PMML document of a case; SourceUnavailable when it lives in a stream not present here."""
    own = case_dir / "model.pmml"
    if own.is_file():
        return own.read_bytes()
    stream, entry = (case_dir / "model.source").read_text(encoding="utf-8").split()
    path = corpus / stream
    if not path.is_file():
        raise SourceUnavailable(f"{path} is not present")
    with zipfile.ZipFile(path) as archive:
        return pmml_of_entry(archive.read(entry))
