"""The producer zoo's stored cases: documents from today's exporters with JPMML's outputs.

``tools/producer_zoo/build.py`` writes ``tests/producer_zoo/<producer>/<case>/``: ``model.pmml``,
``input.csv`` (hostile records), and either ``expected.csv`` + ``meta.json`` (JPMML scored it) or
``status.json`` (the producer or JPMML failed: why).  The comparison is the corpus harness's.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from conformance._compare import Tolerance
from conformance._corpus import Case
from conformance._tables import Convention

ZOO_ROOT = Path(__file__).resolve().parent
#: Issue #15: every zoo case JPMML scores must match it to a relative 1e-9.
ZOO_TOLERANCE = Tolerance(1e-9, 1e-9)
_REFERENCE = Convention(frozenset({""}), why="producer zoo: empty cell = missing")


def zoo_cases() -> list[Case]:
    """Every stored case that JPMML scored."""
    out = []
    for expected in sorted(ZOO_ROOT.glob("*/*/expected.csv")):
        case_dir = expected.parent
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
        ))
    return out


def refused_cases() -> dict[str, dict[str, Any]]:
    """Cases whose producer or JPMML failed, with the status.json that says why."""
    return {
        f"{status.parent.parent.name}/{status.parent.name}": json.loads(status.read_text(encoding="utf-8"))
        for status in sorted(ZOO_ROOT.glob("*/*/status.json"))
    }
