"""ModelVerification: replay the document's own verification rows (PMML 4.4 "ModelVerification").

A numeric result matches when ``|actual - expected| <= precision * |expected|``, or, where the
expected value is within ``zeroThreshold`` of zero, when the actual value is too.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pmserve.errors import DataError
from pmserve.pmml.document.parse import MODEL_TAGS

if TYPE_CHECKING:
    from pmserve.pmml.model import Model


@dataclass(frozen=True)
class Mismatch:
    row: int
    field: str
    expected: Any
    actual: Any

    def __str__(self) -> str:
        return f"row {self.row + 1}, field {self.field!r}: expected {self.expected!r}, got {self.actual!r}"


@dataclass(frozen=True)
class VerificationReport:
    """The outcome of replaying ModelVerification: ``ok`` unless a row did not reproduce."""

    rows: int
    fields: tuple[str, ...]
    mismatches: tuple[Mismatch, ...] = ()
    errors: tuple[str, ...] = field(default=())
    present: bool = True

    @property
    def ok(self) -> bool:
        return not self.mismatches and not self.errors

    @property
    def message(self) -> str:
        if not self.present:
            return "the document has no ModelVerification"
        if self.ok:
            return f"ModelVerification: {self.rows} rows reproduce ({', '.join(self.fields)})"
        shown = [str(m) for m in self.mismatches[:5]] + list(self.errors[:5])
        more = len(self.mismatches) + len(self.errors) - len(shown)
        tail = f" and {more} more" if more > 0 else ""
        return "ModelVerification failed: " + "; ".join(shown) + tail


def verify(model: Model) -> VerificationReport:
    doc = model.document
    model_el = doc.root.find_any(MODEL_TAGS)
    mv = None if model_el is None else model_el.find("ModelVerification")
    if mv is None:
        return VerificationReport(0, (), present=False)
    vfs = mv.find("VerificationFields")
    table = mv.find("InlineTable")
    if vfs is None or table is None:
        return VerificationReport(0, (), errors=("ModelVerification needs VerificationFields and an InlineTable",))
    specs: list[tuple[str, str, float, float]] = []
    for vf in vfs.findall("VerificationField"):
        name = vf.get("field") or ""
        specs.append((name, vf.get("column") or name, float(vf.get("precision", "1E-6")),
                      float(vf.get("zeroThreshold", "1E-16"))))
    rows: list[dict[str, Any]] = [{c.tag: c.text for c in r.children} for r in table.findall("row")]
    input_names = {f.name for f in model.input_fields}
    group = next((m.name for m in doc.model.mining_fields if m.usage == "group"), None)
    if group is not None and doc.model.collection_fields:
        rows = _grouped(rows, group, [col for _, col, _, _ in specs])
    inputs = {name: [r.get(col) for r in rows] for name, col, _, _ in specs if name in input_names}
    for f in model.input_fields:
        inputs.setdefault(f.name, [None] * len(rows))
    try:
        result = model.score(inputs, errors="collect")
    except DataError as exc:
        return VerificationReport(len(rows), (), errors=(str(exc),))
    values = result.to_lists()
    mismatches: list[Mismatch] = []
    errors = [f"row {r + 1}: {e.render(None)}" for r, e in result.errors.items()]
    checked: list[str] = []
    for name, col, precision, zero in specs:
        if name in input_names or name not in values:
            continue
        checked.append(name)
        for i, row in enumerate(rows):
            expected = row.get(col)
            if expected is None:
                continue  # JPMML checks only the cells a row gives
            actual = values[name][i]
            if not _matches(expected, actual, precision, zero):
                mismatches.append(Mismatch(i, name, expected, actual))
    return VerificationReport(len(rows), tuple(checked), tuple(mismatches), tuple(errors))


def _grouped(rows: list[dict[str, Any]], group: str, columns: list[str]) -> list[dict[str, Any]]:
    """Rows of a transactional model, one per (group, item), as one row per group.

    Each column becomes the list of its non-empty cells within the group (JPMML's verification of
    models with a group field): the input basket and the expected multi-valued results alike.
    """
    out: dict[Any, dict[str, Any]] = {}
    for row in rows:
        merged = out.setdefault(row.get(group), {c: [] for c in columns if c != group})
        for c in merged:
            if row.get(c) not in (None, ""):
                merged[c].append(row[c])
    return list(out.values())


def _matches(expected: Any, actual: Any, precision: float, zero: float) -> bool:
    if isinstance(expected, list):
        if not isinstance(actual, list | tuple):
            # A single-valued result of a grouped row: its one expected value, if any.
            return _matches(expected[0] if expected else None, actual, precision, zero)
        return len(expected) == len(actual) and all(
            _matches(e, a, precision, zero) for e, a in zip(expected, actual, strict=True))
    if expected is None or expected == "":
        return actual is None
    if actual is None:
        return False
    if isinstance(actual, bool):
        return expected.strip().lower() in (("true", "1") if actual else ("false", "0"))
    if isinstance(actual, (int, float)):
        try:
            e = float(expected)
        except ValueError:
            return False
        a = float(actual)
        if math.isnan(e) or math.isnan(a):
            return math.isnan(e) and math.isnan(a)
        if abs(e) <= zero:
            return abs(a) <= zero
        return abs(a - e) <= precision * abs(e)
    if str(actual) == expected:
        return True
    try:
        return float(expected) == float(str(actual))
    except ValueError:
        return False
