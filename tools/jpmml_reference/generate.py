"""Reference outputs from JPMML-Evaluator for the corpus cases that ship no expected outputs.

Run from anywhere with any Python 3.11:

    python3 tools/jpmml_reference/generate.py

It creates (once) the peer virtualenv ``.venv-peers`` with jpmml-evaluator and JPype, re-runs
itself there, scores every MANIFEST.csv case whose ``expected_csv`` is empty in one JVM, and
rewrites ``tests/conformance/reference/<folder>/<case>/``. See README.md beside this file.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
PEER_VENV = REPO_ROOT / ".venv-peers"
# Pinned exactly: the stored outputs are only reproducible with the same evaluator build.
REQUIREMENTS = ("jpmml-evaluator==0.16.0", "jpype1>=1.5,<2", "pandas>=2,<4")
STAMP = PEER_VENV / ".jpmml-reference-requirements"

DEFAULT_CORPUS = REPO_ROOT.parent / "shared" / "conformance"
DEFAULT_OUT = REPO_ROOT / "tests" / "conformance" / "reference"
GENERATED_ROWS = 50
MAX_CORPUS_ROWS = 200
SEED_PREFIX = "pmserve-jpmml-reference-v1"
# Folders whose input.csv has no header row: columns are positional (see inputs.from_positional_csv).
POSITIONAL_FOLDERS = frozenset({"spark-mllib"})
CASE_FILES = ("expected.csv", "input.csv", "meta.json", "status.json")


def _pmml4s_divergences() -> dict[str, str]:
    """The harness's table of corpus cases whose pmml4s expected outputs JPMML's replace.

    Read from tests/conformance/_corpus.py, so that the cases scored here and the cases the harness
    compares with these outputs can never drift apart.
    """
    sys.path.insert(0, str(REPO_ROOT / "tests"))
    try:
        from conformance._corpus import PMML4S_DIVERGES
    finally:
        sys.path.remove(str(REPO_ROOT / "tests"))
    return dict(PMML4S_DIVERGES)


def _in_peer_venv() -> bool:
    return Path(sys.prefix).resolve() == PEER_VENV.resolve()


def _ensure_peer_venv() -> None:
    """Create or update .venv-peers, then replace this process with the same script run inside it."""
    python = PEER_VENV / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(PEER_VENV)], check=True)
    wanted = "\n".join(REQUIREMENTS)
    if not STAMP.exists() or STAMP.read_text() != wanted:
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", *REQUIREMENTS], check=True)
        STAMP.write_text(wanted)
    os.execv(str(python), [str(python), str(Path(__file__).resolve()), *sys.argv[1:]])


def _write_json(path: Path, payload: dict[str, object]) -> None:
    path.write_text(json.dumps(payload, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def _clean_case_dir(case_dir: Path) -> None:
    """Remove only the files this generator writes, so a rerun leaves no stale status or input."""
    case_dir.mkdir(parents=True, exist_ok=True)
    for name in CASE_FILES:
        (case_dir / name).unlink(missing_ok=True)


def _remove_stale_cases(out: Path, current: set[str]) -> None:
    for meta in [*out.glob("*/*/meta.json"), *out.glob("*/*/status.json")]:
        case_dir = meta.parent
        if f"{case_dir.parent.name}/{case_dir.name}" not in current and case_dir.exists():
            shutil.rmtree(case_dir)


def run(corpus: Path, out: Path, only: set[str]) -> int:
    import inputs
    import scoring

    divergences = _pmml4s_divergences()
    manifest = list(csv.DictReader((corpus / "MANIFEST.csv").open(encoding="utf-8")))
    cases = [row for row in manifest if not row["expected_csv"] or row["case_id"] in divergences]
    if not only:
        _remove_stale_cases(out, {row["case_id"] for row in cases})
    cases = [row for row in cases if not only or row["case_id"] in only]
    engine = scoring.Engine()
    summary: dict[str, int] = {}
    try:
        versions = engine.versions()
        for row in cases:
            replaces = divergences.get(row["case_id"])
            outcome = _run_case(engine, versions, corpus, out, row, replaces, inputs, scoring)
            summary[outcome] = summary.get(outcome, 0) + 1
            print(f"{row['case_id']}: {outcome}", flush=True)
    finally:
        engine.close()
    print(", ".join(f"{count} {outcome}" for outcome, count in sorted(summary.items())))
    return 0


def _run_case(engine, versions, corpus, out, row, replaces, inputs, scoring) -> str:  # type: ignore[no-untyped-def]
    """Score one case; ``replaces`` is why its corpus expected outputs are replaced, if they are."""
    case_id = row["case_id"]
    folder, case = case_id.split("/", 1)
    case_dir = out / folder / case
    _clean_case_dir(case_dir)
    pmml_path = corpus / row["pmml_file"]
    document_info = {
        "case_id": case_id,
        "pmml": row["pmml_file"],
        "pmml_sha256": hashlib.sha256(pmml_path.read_bytes()).hexdigest(),
        "engine": versions,
    }

    def failed(stage: str, message: str) -> str:
        _write_json(case_dir / "status.json", {**document_info, "status": stage, "message": message})
        return stage

    try:
        evaluator = engine.load(pmml_path)
    except scoring.LoadFailure as error:
        return failed("load_failed", str(error))
    input_fields = engine.input_fields(evaluator)
    document = inputs.Document(pmml_path)
    try:
        if row["input_csv"] and folder in POSITIONAL_FOLDERS:
            records = inputs.from_positional_csv(
                corpus / row["input_csv"], row["input_csv"], document, input_fields, MAX_CORPUS_ROWS
            )
        elif row["input_csv"]:
            records = inputs.from_corpus_csv(
                corpus / row["input_csv"], row["input_csv"], input_fields, MAX_CORPUS_ROWS
            )
        elif input_fields:
            records = inputs.generate(document, input_fields, f"{SEED_PREFIX}:{case_id}", GENERATED_ROWS)
            inputs.write_input_csv(case_dir / "input.csv", records)
        else:
            records = inputs.Records(
                (), (), {"source": "none", "rows": 1, "reason": "model has no input fields"}
            )
    except inputs.InputProblem as error:
        return failed("input_unmappable", str(error))
    verification = engine.verify(evaluator)
    scored = engine.score(evaluator, records)
    if scored.rows and scored.row_errors == len(scored.rows):
        # Every record failed: JPMML found the document unusable only when scoring it.
        (case_dir / "input.csv").unlink(missing_ok=True)
        messages = sorted({row[-1] for row in scored.rows})
        return failed("score_failed", "; ".join(messages))
    with (case_dir / "expected.csv").open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(scored.columns)
        writer.writerows(scored.rows)
    has_verification = b"ModelVerification" in pmml_path.read_bytes()
    meta = {
        **document_info,
        **({"replaces_corpus_expected": f"pmml4s diverges from JPMML: {replaces}"} if replaces else {}),
        "input": {**records.source, "fields": list(records.columns)},
        "columns": list(scored.columns),
        "rows": len(scored.rows),
        "row_errors": scored.row_errors,
        "scored_with": "evaluateAll" if scored.batch else "evaluate, record by record",
        "default_target_column": scoring.DEFAULT_TARGET_COLUMN
        if scoring.DEFAULT_TARGET_COLUMN in scored.columns
        else None,
        "model_verification": (
            "absent"
            if not has_verification
            else "passed"
            if verification is None
            else f"failed: {verification}"
        ),
    }
    _write_json(case_dir / "meta.json", meta)
    return "scored" if scored.row_errors == 0 else "scored_with_row_errors"


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS, help="shared conformance corpus")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="where the reference cases are written")
    parser.add_argument("--case", action="append", default=[], help="only this case_id (repeatable)")
    args = parser.parse_args()
    if not (args.corpus / "MANIFEST.csv").exists():
        parser.error(f"--corpus {args.corpus} has no MANIFEST.csv")
    if not _in_peer_venv():
        _ensure_peer_venv()
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    return run(args.corpus.resolve(), args.out.resolve(), set(args.case))


if __name__ == "__main__":
    raise SystemExit(main())
