"""The bounds on what reading one ``.str`` file may cost (from ``PMSERVE_STR_*`` settings)."""

from __future__ import annotations

from dataclasses import dataclass

from pmserve.formats.spss._fastinfoset import FiLimits


@dataclass(frozen=True)
class StreamLimits:
    """Checked before the expensive step: entries and sizes before inflating, characters while decoding."""

    max_entries: int = 10_000  # archive entries (the XML, blobs, folders)
    max_inflated_bytes: int = 256 * 1024 * 1024  # all entries inflated, nested archives included
    max_ratio: int = 200  # inflated size over compressed size, per entry
    max_xml_chars: int = 64 * 1024 * 1024  # characters the stream XML decodes to
    max_depth: int = 256  # element nesting of the stream XML
    clem_max_length: int = 10_000  # characters in one CLEM expression of a node
    clem_max_depth: int = 64  # nesting of one CLEM expression

    def fast_infoset(self) -> FiLimits:
        # Real streams hold a few hundred table entries and a few thousand elements; these bounds
        # keep a hostile document's tables and tree to a small multiple of its character budget.
        return FiLimits(max_chars=self.max_xml_chars, max_depth=self.max_depth,
                        max_table_entries=max(1024, min(1_000_000, self.max_xml_chars // 64)),
                        max_elements=max(1024, self.max_xml_chars // 32))
