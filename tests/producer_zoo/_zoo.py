"""The producer zoo's stored cases: documents from today's exporters with JPMML's outputs.

``tools/producer_zoo/build.py`` writes ``tests/producer_zoo/<producer>/<case>/``: ``model.pmml``,
``input.csv`` (hostile records), and either ``expected.csv`` + ``meta.json`` (JPMML scored it) or
``status.json`` (the producer or JPMML failed: why).  The comparison is the corpus harness's.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from lxml import etree

from conformance._compare import Tolerance
from conformance._corpus import REFERENCE_ERROR_COLUMN as ERROR_COLUMN
from conformance._corpus import Case
from conformance._tables import Convention

ZOO_ROOT = Path(__file__).resolve().parent
#: Issue #15: every zoo case JPMML scores must match it to a relative 1e-9.
ZOO_TOLERANCE = Tolerance(1e-9, 1e-9)
_REFERENCE = Convention(frozenset({""}), why="producer zoo: empty cell = missing")


def _every_row_failed(expected: Path) -> bool:
    with expected.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    return bool(rows) and all(row.get(ERROR_COLUMN) for row in rows)


def zoo_cases() -> list[Case]:
    """Every stored case on which JPMML scored at least one record."""
    out = []
    for expected in sorted(ZOO_ROOT.glob("*/*/expected.csv")):
        case_dir = expected.parent
        if _every_row_failed(expected):
            continue
        out.append(Case(
            case_id=f"{case_dir.parent.name}/{case_dir.name}",
            folder=f"zoo-{case_dir.parent.name}",
            model_path=case_dir / "model.pmml",
            input_path=case_dir / "input.csv",
            expected_path=expected,
            model_type="",
            producer=case_dir.parent.name,
            notes="",
            tolerance=ZOO_TOLERANCE,
            expected_source="reference",
            input_convention=_REFERENCE,
            expected_convention=_REFERENCE,
            extra_inputs=_supplementary_fields(case_dir / "model.pmml"),
        ))
    return out


def _supplementary_fields(path: Path) -> frozenset[str]:
    """Supplementary MiningFields (a time series' horizon ``h``): passed where the input has them."""
    tree = etree.parse(str(path))
    return frozenset(el.get("name", "") for el in tree.iter("{*}MiningField")
                     if el.get("usageType") == "supplementary")


def unscored_cases() -> dict[str, str]:
    """Cases the producer could not build or JPMML could not score at all, with JPMML's reason."""
    out = {}
    for status in sorted(ZOO_ROOT.glob("*/*/status.json")):
        data: dict[str, Any] = json.loads(status.read_text(encoding="utf-8"))
        out[f"{status.parent.parent.name}/{status.parent.name}"] = f"{data['status']}: {data['message']}"
    for expected in sorted(ZOO_ROOT.glob("*/*/expected.csv")):
        if _every_row_failed(expected):
            with expected.open(encoding="utf-8", newline="") as handle:
                reasons = sorted({row[ERROR_COLUMN] for row in csv.DictReader(handle)})
            out[f"{expected.parent.parent.name}/{expected.parent.name}"] = "score_failed: " + "; ".join(reasons)
    return out
