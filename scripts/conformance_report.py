#!/usr/bin/env python3
"""Run every case of the shared PMML conformance corpus and write docs/conformance.md.

    .venv/bin/python scripts/conformance_report.py [--max-rows N] [--case ID ...] [--out PATH]

Cases with expected outputs (from the corpus, or JPMML reference outputs under
tests/conformance/reference/) are scored and compared with the rules of tests/conformance
(see docs/conformance.md); cases without are loaded, and their ModelVerification replayed.
The corpus is read from ../shared/conformance beside the repository and never copied.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT / "tests"))

from conformance._corpus import (  # noqa: E402  (the harness lives with the tests)
    CORPUS_ROOT,
    PMML4S_DIVERGES,
    REFERENCE_ERROR_COLUMN,
    Case,
    CaseRun,
    HarnessError,
    LoadOutcome,
    document_facts,
    expected_table,
    input_table,
    load_case_model,
    load_cases,
    run_case,
)

if TYPE_CHECKING:
    from pmserve.pmml import Model

PASSED, FAILED, UNSUPPORTED, JPMML_CANNOT, ERROR = "pass", "fail", "not supported", "JPMML cannot score", "error"
STATUSES = (PASSED, FAILED, UNSUPPORTED, JPMML_CANNOT, ERROR)


@dataclass
class Row:
    case: Case
    status: str
    reason: str
    rows: int | None
    seconds: float


def _one_line(text: str, limit: int = 240) -> str:
    flat = " ".join(text.split()).replace("|", "\\|")
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _refused_by_jpmml_too(case: Case) -> bool:
    if case.jpmml_refusal:
        return True
    table = expected_table(case) if case.expected_source == "reference" else None
    errors = table.columns.get(REFERENCE_ERROR_COLUMN) if table else None
    return bool(errors) and all(errors or [])


def evaluate(case: Case, max_rows: int | None) -> Row:
    from pmserve.errors import DocumentProblems

    start = time.perf_counter()
    table = input_table(case)
    rows = table.n_rows if table is not None else None

    def done(status: str, reason: str) -> Row:
        return Row(case, status, reason, rows, time.perf_counter() - start)

    if case.harness_unsupported:
        return done(UNSUPPORTED, f"harness: {case.harness_unsupported}")
    outcome = load_case_model(case)
    if isinstance(outcome.error, ImportError):
        return done(UNSUPPORTED, f"engine not importable: {outcome.error}")
    if not case.has_expected:
        return done(*_without_expected(case, outcome))
    if outcome.unsupported:
        return done(UNSUPPORTED, outcome.summary())
    if isinstance(outcome.error, DocumentProblems):
        if _refused_by_jpmml_too(case):
            return done(PASSED, f"refused, as JPMML does: {outcome.summary()}")
        return done(FAILED, f"refused as invalid: {outcome.summary()}")
    if outcome.error is not None:
        return done(ERROR, f"load raised {outcome.summary()}")
    model = outcome.model
    if model is None:  # load_case_model gives a model or an error, never neither
        return done(ERROR, "load returned no model")
    verification = _verification(case, model)
    try:
        run: CaseRun = run_case(case, model, max_rows)
    except HarnessError as err:
        return done(ERROR, f"harness: {err}")
    except Exception as err:
        return done(ERROR, f"scoring raised {type(err).__name__}: {err}")
    rows = run.n_rows
    verified = not verification.startswith(("ModelVerification failed", "verify()"))
    status = PASSED if run.ok and verified else FAILED
    detail = "all expected columns match" if run.ok else run.describe()
    if case.pmml4s_divergence:
        detail = f"JPMML reference; pmml4s diverges: {case.pmml4s_divergence}; {detail}"
    if case.document_fixup:
        detail = f"document corrected first ({case.document_fixup}, as JPMML's test did); {detail}"
    notes = [f"{len(run.comparisons)} column(s) compared"] if run.ok else []
    if run.jpmml_failed_rows:
        notes.append(f"{len(run.jpmml_failed_rows)} row(s) JPMML raised on, not compared")
    return done(status, "; ".join([detail, *notes, *filter(None, [verification])]))


def _verification(case: Case, model: Model) -> str:
    """What replaying the document's ModelVerification gave ("" when it has none)."""
    if not document_facts(case.model_path).has_verification:
        return ""
    try:
        report = model.verify()
    except Exception as err:
        return f"verify() raised {type(err).__name__}: {err}"
    return "ModelVerification passed" if report.ok else f"ModelVerification failed: {report.message}"


def _without_expected(case: Case, outcome: LoadOutcome) -> tuple[str, str]:
    """Status and reason of a case with no expected outputs: JPMML refused it (status.json)."""
    jpmml = (
        f"JPMML {case.jpmml_refusal}"
        if case.jpmml_refusal
        else "no expected outputs and no JPMML status: run tools/jpmml_reference/generate.py"
    )
    if outcome.unsupported:
        pmserve = f"pmserve: not supported: {outcome.summary()}"
    elif outcome.error is not None or outcome.model is None:
        pmserve = f"pmserve refuses it: {outcome.summary()}"
    else:
        verification = _verification(case, outcome.model)
        pmserve = "; ".join(filter(None, ["pmserve loads it", verification]))
        if verification and not verification.endswith("passed"):
            return FAILED, f"{pmserve}; {jpmml}"
    return (JPMML_CANNOT if case.jpmml_refusal else ERROR), f"{jpmml}; {pmserve}"


def render(rows: list[Row], max_rows: int | None, seconds: float) -> str:
    by_folder: dict[str, Counter[str]] = {}
    by_type: dict[str, Counter[str]] = {}
    for r in rows:
        by_folder.setdefault(r.case.folder, Counter())[r.status] += 1
        by_type.setdefault(r.case.model_type, Counter())[r.status] += 1
    total: Counter[str] = Counter(r.status for r in rows)
    out = [
        "# PMML engine conformance",
        "",
        "Generated by `scripts/conformance_report.py` from the shared corpus (`../shared/conformance`,",
        "not part of the repository) and the JPMML reference outputs in `tests/conformance/reference/`.",
        "The same cases run in the test suite (`tests/conformance/test_corpus.py`, marker `conformance`).",
        "",
        f"{len(rows)} cases; " + ", ".join(f"{total[s]} {s}" for s in STATUSES if total[s])
        + (f"; rows compared per case capped at {max_rows}" if max_rows else "; every row compared")
        + f"; {seconds:.0f} s.",
        "",
        "Statuses: **pass** = every expected column reproduced within the case tolerance (or the",
        "document refused where JPMML raises on every record too); **fail** = a value differs, an",
        "expected column is absent, the document was refused as invalid, or ModelVerification failed;",
        "**not supported** = the engine (or the harness) refuses the document for markup it does not",
        "support yet, with the engine's reason; **JPMML cannot score** = the case has no expected",
        "outputs and JPMML-Evaluator refused the document or raised on every record, so there is",
        "nothing to compare with (the reason quotes JPMML, then says what pmserve does with the",
        "document); **error** = loading or scoring raised something other than a document or data",
        "error, or the harness could not line the data up.",
        "",
        "## How cases are compared",
        "",
        "- Expected outputs: the corpus's `expected.csv`; for a case without one, the JPMML-Evaluator",
        "  output in `tests/conformance/reference/` (`tools/jpmml_reference/generate.py`), compared on",
        "  the first 200 input rows (or its generated 50-row `input.csv`); a model without input fields",
        "  is scored on as many empty records as the reference has rows, as JPMML scored one.",
        "- Tolerance per case from the MANIFEST notes: `PMMLEquivalence(p, z)` (both within `z` of",
        "  zero, or `|actual - expected| <= p * |expected|`), `FloatEquivalence(n ULP)` (float32 ULP",
        "  distance), cPMML's relative 1e-3; defaults: JPMML folders 1e-13, dmg-pmml4s 1e-6 (pmml4s's",
        "  own test tolerance), JPMML reference outputs 1e-9.",
        "- Missing values: JPMML folders read `N/A`, `NA` and empty cells as missing, cPMML `NA` and",
        "  empty, dmg-pmml4s/statistica/nyoka/spark-mllib only empty cells; an expected `NaN` matches a",
        "  missing result.",
        "- Strings compare by equality; a numeric-looking cell against a number compares as numbers",
        "  (\"1\" equals 1.0); `true`/`false` compare by truth value.",
        "- Columns: each expected column is compared with the result of the same name; cPMML's",
        "  `prediction` is the target field's predicted value (every cPMML `Probability_<c>` column is an",
        "  OutputField of its document; `probability(<c>)` is the fallback); SAS cases compare only the",
        "  columns mapped in the notes; columns excluded by the original harness are skipped;",
        "  dmg-pmml4s's `confidence`, `clusterName` and `distance` are pmml4s outputs the documents do",
        "  not ask for and are compared only when an OutputField provides them; `cluster` and the",
        "  reference `_target` are the synthetic target's predicted value; rows on which JPMML raised",
        "  (reference `error` column) are not compared. Any other expected column absent from the",
        "  results is a failure. A reference column name appears once, as in JPMML's result map (an",
        "  OutputField named like the target holds the OutputField's value).",
        "- Target fields present in the input are passed to the engine (residual outputs need them),",
        "  except cPMML's ground-truth label column.",
        "",
        "## Documented departures from the corpus files",
        "",
        "- **JPMML reference instead of pmml4s's expected values.** pmserve follows JPMML; where",
        "  pmml4s, whose test assertions the dmg-pmml4s expected files transcribe, is known to compute",
        "  something else, the case is compared with JPMML's output for the same corpus input",
        "  (`PMML4S_DIVERGES` in `tests/conformance/_corpus.py`):",
        *[f"  - `{case_id}`: {reason}." for case_id, reason in sorted(PMML4S_DIVERGES.items())],
        "- **SAS documents are corrected before loading, as JPMML's own test did.** SAS Enterprise",
        "  Miner writes the width argument of its format functions (`SAS-EM-String-Normalize`,",
        "  `SAS-FORMAT-BESTw`, `SAS-FORMAT-$CHARw`) as the string `<Constant>FMTWIDTH</Constant>`",
        "  where it means the function's `ParameterField` `FMTWIDTH`. JPMML's pmml-sas",
        "  `ExpressionCorrector` visitor replaces every Constant whose value is `FMTWIDTH` with",
        "  `<FieldRef field=\"FMTWIDTH\"/>`, and its `ClassificationTest` applies it to these documents",
        "  before evaluating them (the MANIFEST notes say \"jpmml applied ExpressionCorrector",
        "  visitor\"). The harness makes the same replacement (`sas_expression_corrector`) for the cases",
        "  whose notes say so; the engine itself never special-cases SAS. Uncorrected, the",
        "  categorical inputs of the Audit models normalise to missing values (a substring whose",
        "  length is the text \"FMTWIDTH\"), and every record gets the same probability.",
        "- **Beyond the corpus: producer-style documents against JPMML.** `tests/jpmml_cases/` holds",
        "  hand-written documents in the shapes SPSS Modeler (neural networks, C5.0 trees and rule",
        "  sets, CHAID, C&R Tree with surrogates, linear and logistic regression, SVM, K-Means, TwoStep)",
        "  and sklearn2pmml (voting, stacking) write, with hostile inputs (missing, out of range, unseen",
        "  categories, cells that are not numbers), plus the neural network inside",
        "  `spss-streams/Drug1n.str`; `tools/jpmml_reference/cases.py` stores JPMML's outputs beside",
        "  them and `tests/conformance/test_jpmml_cases.py` compares at 1e-13, rows JPMML refuses included.",
        "  Known differences, each listed in its case's `differences.json`: a multinomialLogistic",
        "  GeneralRegressionModel whose linear predictor overflows `exp` (JPMML: the winner's probability",
        "  is NaN; pmserve: 1.0). Not changed, as the corpus's expected files follow pmml4s: a binary",
        "  SupportVectorMachineModel without classificationMethod (JPMML 1.7 reads it one-against-all",
        "  and always predicts the targetCategory).",
        "",
        "## Summary by folder",
        "",
        _summary_table("folder", by_folder),
        "",
        "## Summary by model type",
        "",
        _summary_table("model type", by_type),
        "",
        "## Cases",
        "",
        "| case | model type | producer | rows | expected | status | reason |",
        "|---|---|---|---:|---|---|---|",
    ]
    for r in rows:
        expected = r.case.expected_source if r.case.has_expected else "none"
        out.append(
            f"| {r.case.case_id} | {r.case.model_type} | {_one_line(r.case.producer, 60)} | "
            f"{'' if r.rows is None else r.rows} | {expected} | {r.status} | {_one_line(r.reason)} |"
        )
    return "\n".join(out) + "\n"


def _summary_table(title: str, groups: dict[str, Counter[str]]) -> str:
    lines = [f"| {title} | " + " | ".join(STATUSES) + " | total |", "|---|" + "---:|" * (len(STATUSES) + 1)]
    for name in sorted(groups):
        counts = groups[name]
        cells = " | ".join(str(counts[s]) for s in STATUSES)
        lines.append(f"| {name} | {cells} | {sum(counts.values())} |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "docs" / "conformance.md")
    parser.add_argument("--case", action="append", default=[], help="only this case_id (repeatable)")
    parser.add_argument("--max-rows", type=int, default=None, help="compare at most this many rows per case")
    args = parser.parse_args()
    cases = load_cases()
    if not cases:
        print(f"no corpus at {CORPUS_ROOT}; nothing to report", file=sys.stderr)
        return 1
    if args.case:
        cases = [c for c in cases if c.case_id in set(args.case)]
    start = time.perf_counter()
    rows = []
    for case in cases:
        row = evaluate(case, args.max_rows)
        print(f"{row.seconds:7.2f}s {row.status:13} {case.case_id}", file=sys.stderr, flush=True)
        rows.append(row)
    args.out.write_text(render(rows, args.max_rows, time.perf_counter() - start), encoding="utf-8")
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
