"""The ``.str`` ZIP: one top-level ``*.xml`` stream entry and ``data/NNNN.dat`` blobs (format §1).

Everything is checked before anything is inflated: the entry count, every name (no absolute
path, no ``..``, blobs only under ``data/``), the declared sizes against the total budget and
each entry's compression ratio.  Reading then never returns more than an entry's declared size,
so a lying header cannot make it inflate more.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass

from pmserve.errors import InvalidMarkupError, UnsupportedFormatError
from pmserve.formats.spss._limits import StreamLimits

BLOB_FOLDER = "data/"
_CHUNK = 1 << 20


@dataclass(frozen=True)
class Archive:
    """The entries of a stream file, read and checked."""

    filename: str
    xml_name: str
    xml: bytes
    blobs: Mapping[str, bytes]  # by the path the stream XML names them with ("data/0002.dat")


def read_archive(filename: str, content: bytes, limits: StreamLimits) -> Archive:
    """Open a ``.str`` file's ZIP and read its stream XML and blobs within ``limits``."""
    if content[:4] != b"PK\x03\x04":
        raise UnsupportedFormatError(
            f"file {filename!r} is not an SPSS Modeler stream: a .str file is a ZIP archive, and this one "
            f"does not start with the ZIP signature (got {content[:8]!r:.40})", entry=filename)
    declared = _declared_entries(content)
    if declared is not None and declared > limits.max_entries:
        raise InvalidMarkupError(
            f"stream {filename!r} holds {declared} archive entries; the limit is {limits.max_entries} "
            f"(PMSERVE_STR_MAX_ENTRIES)", entry=filename)
    try:
        archive = zipfile.ZipFile(io.BytesIO(content))
    except (zipfile.BadZipFile, ValueError, OSError) as exc:
        raise InvalidMarkupError(f"stream {filename!r} is not a readable ZIP archive: {exc}",
                                 entry=filename) from None
    with archive:
        infos = archive.infolist()
        if len(infos) > limits.max_entries:
            raise InvalidMarkupError(
                f"stream {filename!r} holds {len(infos)} archive entries; the limit is {limits.max_entries} "
                f"(PMSERVE_STR_MAX_ENTRIES)", entry=filename)
        files = [i for i in infos if not i.is_dir()]
        for info in files:
            _check_entry(filename, info, limits)
        total = sum(i.file_size for i in files)
        if total > limits.max_inflated_bytes:
            raise InvalidMarkupError(
                f"stream {filename!r} inflates to {total} bytes; the limit is {limits.max_inflated_bytes} "
                f"(PMSERVE_STR_MAX_INFLATED_MB)", entry=filename)
        xmls = [i for i in files if "/" not in i.filename and i.filename.lower().endswith(".xml")]
        if len(xmls) != 1:
            found = ", ".join(repr(i.filename) for i in xmls) or "none"
            raise UnsupportedFormatError(
                f"stream {filename!r} must hold exactly one top-level *.xml entry (the stream); found {found}",
                entry=filename)
        blobs: dict[str, bytes] = {}
        for info in files:
            if info is xmls[0]:
                continue
            if info.filename.startswith(BLOB_FOLDER):  # other entries (meta/index.xml) are never read
                blobs[info.filename] = _read(archive, filename, info)
        return Archive(filename, xmls[0].filename, _read(archive, filename, xmls[0]), blobs)


def _declared_entries(content: bytes) -> int | None:
    """The entry count the end-of-central-directory record declares, read before zipfile builds
    one object per entry (None when there is no plain record, e.g. ZIP64: zipfile then decides)."""
    tail = content[-(22 + 0xFFFF):]
    at = tail.rfind(b"PK\x05\x06")
    if at < 0 or at + 22 > len(tail):
        return None
    count = int.from_bytes(tail[at + 10:at + 12], "little")
    return None if count == 0xFFFF else count


def check_blob_path(path: str, *, where: str) -> None:
    """A blob path the stream XML names must be a plain relative path under ``data/``."""
    if not path.startswith(BLOB_FOLDER) or not _safe_name(path):
        raise InvalidMarkupError(f"{where} names blob {path!r:.200}, which is not a plain path under "
                                 f"{BLOB_FOLDER!r}", entry=path)


def _safe_name(name: str) -> bool:
    if name.startswith(("/", "\\")) or "\\" in name or ":" in name or "\x00" in name:
        return False
    return all(part not in ("", ".", "..") for part in name.rstrip("/").split("/"))


def _check_entry(filename: str, info: zipfile.ZipInfo, limits: StreamLimits) -> None:
    if not _safe_name(info.filename):
        raise InvalidMarkupError(f"stream {filename!r} holds entry {info.filename!r:.200}: absolute paths, "
                                 f"'..' and drive letters are refused", entry=info.filename)
    if info.flag_bits & 0x1:
        raise UnsupportedFormatError(f"stream {filename!r}: entry {info.filename!r} is encrypted",
                                     entry=info.filename)
    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        raise UnsupportedFormatError(
            f"stream {filename!r}: entry {info.filename!r} uses compression method {info.compress_type}; "
            f"only stored and deflated entries are read", entry=info.filename)
    if info.file_size > max(info.compress_size, 1024) * limits.max_ratio:
        raise InvalidMarkupError(
            f"stream {filename!r}: entry {info.filename!r} inflates {info.compress_size} bytes to "
            f"{info.file_size} (more than {limits.max_ratio} times; PMSERVE_STR_MAX_RATIO): refused as a "
            f"decompression bomb", entry=info.filename)


def _read(archive: zipfile.ZipFile, filename: str, info: zipfile.ZipInfo) -> bytes:
    out = bytearray()
    try:
        with archive.open(info) as entry:
            while len(out) <= info.file_size:
                chunk = entry.read(_CHUNK)
                if not chunk:
                    break
                out += chunk
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError, ValueError,
            NotImplementedError, RuntimeError) as exc:
        raise InvalidMarkupError(f"stream {filename!r}: entry {info.filename!r} cannot be read: {exc}",
                                 entry=info.filename) from None
    if len(out) != info.file_size:
        raise InvalidMarkupError(
            f"stream {filename!r}: entry {info.filename!r} inflates to {len(out)} bytes, not the "
            f"{info.file_size} its header declares", entry=info.filename)
    return bytes(out)
