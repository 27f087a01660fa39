"""The stored JPMML reference outputs are complete and consistent with the corpus they were made from."""

from __future__ import annotations

import csv
import hashlib
import json
from pathlib import Path

import pytest

from .._corpus import PMML4S_DIVERGES

REFERENCE_ROOT = Path(__file__).resolve().parent


def _manifest_cases_needing_a_reference(corpus: Path) -> dict[str, dict[str, str]]:
    """Cases without expected outputs, and those whose pmml4s outputs JPMML's replace."""
    with (corpus / "MANIFEST.csv").open(encoding="utf-8", newline="") as handle:
        return {
            row["case_id"]: row
            for row in csv.DictReader(handle)
            if not row["expected_csv"] or row["case_id"] in PMML4S_DIVERGES
        }


def _case_dirs() -> list[Path]:
    return sorted(
        path.parent for name in ("meta.json", "status.json") for path in REFERENCE_ROOT.glob(f"*/*/{name}")
    )


def _read_csv(path: Path) -> tuple[list[str], list[list[str]]]:
    with path.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.reader(handle))
    return rows[0], rows[1:]


def test_every_case_without_expected_outputs_has_a_reference_or_a_status(conformance_dir: Path) -> None:
    """Each case lacking expected.csv, or listed in PMML4S_DIVERGES, has a reference; no other exists."""
    wanted = set(_manifest_cases_needing_a_reference(conformance_dir))
    present = {f"{path.parent.name}/{path.name}" for path in _case_dirs()}
    assert present == wanted


@pytest.mark.parametrize("case_dir", _case_dirs(), ids=lambda path: f"{path.parent.name}/{path.name}")
def test_reference_case_files_agree_with_each_other(case_dir: Path) -> None:
    """expected.csv matches meta.json (unique columns, rows, error count), or status.json stands alone."""
    if (case_dir / "status.json").is_file():
        status = json.loads((case_dir / "status.json").read_text(encoding="utf-8"))
        assert status["status"] in {"load_failed", "score_failed", "input_unmappable"}
        assert status["message"]
        assert not (case_dir / "expected.csv").exists()
        assert not (case_dir / "meta.json").exists()
        return
    meta = json.loads((case_dir / "meta.json").read_text(encoding="utf-8"))
    header, rows = _read_csv(case_dir / "expected.csv")
    assert header == meta["columns"]
    assert len(set(header)) == len(header), "one column per result name, as in JPMML's result map"
    assert len(rows) == meta["rows"]
    assert all(len(row) == len(header) for row in rows)
    errors = sum(1 for row in rows if "error" in header and row[header.index("error")])
    assert errors == meta["row_errors"]
    generated = meta["input"]["source"] == "generated"
    assert (case_dir / "input.csv").is_file() == generated
    if generated:
        input_header, input_rows = _read_csv(case_dir / "input.csv")
        assert input_header == meta["input"]["fields"]
        assert len(input_rows) == meta["rows"]


@pytest.mark.parametrize("case_dir", _case_dirs(), ids=lambda path: f"{path.parent.name}/{path.name}")
def test_reference_was_made_from_the_current_corpus_document(case_dir: Path, conformance_dir: Path) -> None:
    """The stored document hash equals the corpus file's: a changed corpus means regenerating."""
    info_file = case_dir / ("meta.json" if (case_dir / "meta.json").is_file() else "status.json")
    info = json.loads(info_file.read_text(encoding="utf-8"))
    document = conformance_dir / info["pmml"]
    assert hashlib.sha256(document.read_bytes()).hexdigest() == info["pmml_sha256"], (
        f"{document} changed since its reference was generated: run python3 tools/jpmml_reference/generate.py"
    )


@pytest.mark.parametrize("case_id", sorted(PMML4S_DIVERGES))
def test_reference_replacing_pmml4s_outputs_says_why_and_scores_the_corpus_input(case_id: str) -> None:
    """A JPMML reference that replaces pmml4s's expected outputs records the reason and stores no input."""
    case_dir = REFERENCE_ROOT / case_id
    meta = json.loads((case_dir / "meta.json").read_text(encoding="utf-8"))
    assert meta["replaces_corpus_expected"] == f"pmml4s diverges from JPMML: {PMML4S_DIVERGES[case_id]}"
    assert meta["input"]["source"] == "corpus"
    assert not (case_dir / "input.csv").exists()
