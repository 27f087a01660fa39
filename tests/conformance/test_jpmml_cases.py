"""Hand-written producer-style documents (tests/jpmml_cases) scored as JPMML-Evaluator scores them.

Each case's ``expected.csv`` is JPMML's output, written by ``tools/jpmml_reference/cases.py``;
a row JPMML refused (its ``error`` cell) must be refused here too, and every other cell must
match at JPMML's own default tolerance.  Cases read from a Modeler stream in ``../shared`` skip
without it.  A case's ``differences.json`` lists the cells where pmserve deliberately gives
another value, with the reason; both values are checked there.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest
from tests.jpmml_cases.sources import SourceUnavailable, model_bytes

from pmserve import pmml
from pmserve.errors import DocumentError

from ._compare import Tolerance, values_equivalent

CASES_ROOT = Path(__file__).resolve().parents[1] / "jpmml_cases"
CASES = sorted(p.parent for p in CASES_ROOT.glob("*/*/input.csv"))
JPMML_DEFAULT = Tolerance(1e-13, 1e-13)
ERROR_COLUMN = "error"
DEFAULT_TARGET_COLUMN = "_target"


def _table(path: Path) -> tuple[list[str], list[list[str | None]]]:
    with path.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.reader(handle))
    return rows[0], [[cell if cell != "" else None for cell in row] for row in rows[1:]]


def _document(case: Path) -> bytes:
    try:
        return model_bytes(case)
    except SourceUnavailable as exc:
        pytest.skip(str(exc))


@pytest.mark.parametrize("case", CASES, ids=[f"{c.parent.name}/{c.name}" for c in CASES])
def test_case_scores_as_jpmml(case: Path) -> None:
    """Every record JPMML scores gives its results; every record JPMML refuses is refused."""
    meta = json.loads((case / "meta.json").read_text(encoding="utf-8"))
    document = _document(case)
    if meta["status"] == "load_failed":
        with pytest.raises(DocumentError):
            pmml.load(document)
        return
    model = pmml.load(document)
    header, rows = _table(case / "input.csv")
    columns = {name: [row[i] for row in rows] for i, name in enumerate(header)}
    scored = model.score(columns, errors="collect")
    results = scored.to_lists()
    expected_header, expected_rows = _table(case / "expected.csv")
    known = _differences(case)
    problems: list[str] = []
    for r, expected in enumerate(expected_rows):
        cells = dict(zip(expected_header, expected, strict=True))
        jpmml_error = cells.pop(ERROR_COLUMN, None)
        if jpmml_error is not None or r in scored.errors:
            if (jpmml_error is None) != (r not in scored.errors):
                problems.append(f"row {r}: JPMML error {jpmml_error!r}, pmserve error {scored.errors.get(r)!r}")
            continue
        for column, want in cells.items():
            name = next(iter(results)) if column == DEFAULT_TARGET_COLUMN else column
            got: Any = results[name][r] if name in results else "<absent>"
            if (r, column) in known:
                jpmml_value, ours = known.pop((r, column))
                if want != jpmml_value or not values_equivalent(ours, got, JPMML_DEFAULT):
                    problems.append(f"row {r} column {column!r}: known difference JPMML {jpmml_value!r} / "
                                    f"pmserve {ours!r}, now JPMML {want!r}, pmserve {got!r}")
            elif not values_equivalent(want, got, JPMML_DEFAULT):
                problems.append(f"row {r} column {column!r}: JPMML {want!r}, pmserve {got!r}")
    problems.extend(f"known difference at row {r} column {c!r} was not met" for r, c in known)
    assert not problems, "\n".join(problems[:20])


def _differences(case: Path) -> dict[tuple[int, str], tuple[str, str]]:
    """(row, column) -> (JPMML's cell, pmserve's value) for the cells differences.json lists."""
    path = case / "differences.json"
    if not path.is_file():
        return {}
    listed = json.loads(path.read_text(encoding="utf-8"))
    return {(cell["row"], cell["column"]): (cell["jpmml"], cell["pmserve"]) for cell in listed["cells"]}
