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
#: Producer documents JPMML cannot score at all: what JPMML does, and what pmserve does instead
#: ("scores" or "refuses" the document; "not built" when the producer itself failed).
JPMML_CANNOT_SCORE: dict[str, tuple[str, str]] = {
    "nyoka/lightgbm": ("scores", "nyoka repeats the segments' OutputField names at the top level, so JPMML "
                       "raises DuplicateFieldValueException on every record; pmserve scores the top-level "
                       "outputs, each segment's fields staying in its own scope, and matches LightGBM's "
                       "predict_proba (native.csv)"),
    "nyoka/xgboost": ("scores", "as nyoka/lightgbm: duplicated OutputField names (y_probability_0 ...); and "
                      "the document drops XGBoost 3's fitted base_score (intercept 0.0)"),
    "nyoka/sarimax": ("refuses", "nyoka writes the SARIMAX state intercept (14 values) as the observation "
                      "InterceptVector: JPMML raises DimensionMismatchException (1 != 14) on every record; "
                      "pmserve refuses the document at load, naming the InterceptVector"),
    "nyoka/exponential_smoothing": ("refuses", "nyoka writes DataField and MiningField elements without a name: "
                                    "JPMML refuses the document (MissingAttributeException), pmserve too, "
                                    "naming each element"),
    "nyoka/sklearn_column_transformer_tree": ("not built", "nyoka 5.5 converts no ColumnTransformer ('This "
                                              "PreProcessing Task is not Supported')"),
}

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
