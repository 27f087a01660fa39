"""The Modeler 18 extension-content container (``u32be length`` + a ZIP written by Java), read with
the stream reader's container module; here only the entries by name."""

from __future__ import annotations

from pmserve.errors import InvalidMarkupError
from pmserve.formats.spss._containers import ZIP_LOCAL, InflateBudget, open_container


def read_extension_container(blob: bytes, where: str, max_inflated_bytes: int) -> dict[str, bytes]:
    """The entries of a length-prefixed nested ZIP by name (inflating at most ``max_inflated_bytes``)."""
    if len(blob) < 8 or int.from_bytes(blob[:4], "big") != len(blob) - 4 or not blob[4:].startswith(ZIP_LOCAL):
        raise InvalidMarkupError(f"{where}: expected a u32 length (the blob's size - 4) and a ZIP, got "
                                 f"{blob[:8].hex(' ') or 'no bytes'}", offset=0)
    entries: dict[str, bytes] = {}
    for entry in open_container(blob, InflateBudget(max_inflated_bytes), where=where):
        if entry.name in entries:
            raise InvalidMarkupError(f"{where}: two entries named {entry.name!r}")
        entries[entry.name] = entry.content
    return entries
