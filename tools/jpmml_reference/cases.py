"""JPMML-Evaluator's outputs for the hand-written test documents under ``tests/jpmml_cases/``.

Each case is a directory ``tests/jpmml_cases/<group>/<case>/`` holding ``model.pmml`` (or a
``model.source`` naming a Modeler stream in ``../shared`` and the nugget entry in it) and
``input.csv`` (a header row, then one record per row; an empty cell is a missing value, every
other cell is handed to JPMML as the string it is). This script scores every case in one JVM and
writes, beside them:

* ``expected.csv``: JPMML's results (targets, then output fields, as ``evaluateAll`` lists them),
  with an ``error`` column holding JPMML's message on the rows it refused;
* ``meta.json``: the engine versions, the SHA-256 of both inputs, and ``status``: ``scored``, or
  ``load_failed`` with JPMML's message (then no expected.csv is written).

    python3 tools/jpmml_reference/cases.py                     # every case
    python3 tools/jpmml_reference/cases.py --case spss/drug_neural_network

Like generate.py it re-runs itself in ``.venv-peers`` unless jpmml_evaluator is importable
already (``/work/peers-venv/bin/python tools/jpmml_reference/cases.py`` works too).
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parents[1]
DEFAULT_CASES = REPO_ROOT / "tests" / "jpmml_cases"
WRITTEN = ("expected.csv", "meta.json")


def _read_input(path: Path) -> tuple[list[str], list[list[str | None]]]:
    with path.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.reader(handle))
    if not rows:
        raise ValueError(f"{path}: no header row")
    header = rows[0]
    columns: list[list[str | None]] = [[] for _ in header]
    for number, row in enumerate(rows[1:], start=2):
        if len(row) != len(header):
            raise ValueError(f"{path}:{number}: {len(row)} cells, the header has {len(header)}")
        for column, cell in zip(columns, row, strict=True):
            column.append(cell if cell != "" else None)
    return header, columns


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _reexec_in_peer_venv() -> None:
    """Create or update .venv-peers as generate.py does, then run this script inside it."""
    import generate

    python = generate.PEER_VENV / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(generate.PEER_VENV)], check=True)
    wanted = "\n".join(generate.REQUIREMENTS)
    if not generate.STAMP.exists() or generate.STAMP.read_text() != wanted:
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", *generate.REQUIREMENTS], check=True)
        generate.STAMP.write_text(wanted)
    os.execv(str(python), [str(python), str(Path(__file__).resolve()), *sys.argv[1:]])


def run(root: Path, only: set[str], corpus: Path | None) -> int:
    import scoring
    from inputs import Records

    sys.path.insert(0, str(REPO_ROOT / "tests"))
    from jpmml_cases.sources import SourceUnavailable, model_bytes

    cases = sorted(p.parent for p in root.glob("*/*/input.csv"))
    cases = [c for c in cases if not only or f"{c.parent.name}/{c.name}" in only]
    engine = scoring.Engine()
    try:
        versions = engine.versions()
        for case in cases:
            case_id = f"{case.parent.name}/{case.name}"
            try:
                document = model_bytes(case) if corpus is None else model_bytes(case, corpus)
            except SourceUnavailable as error:
                print(f"{case_id}: skipped (its stored outputs are kept), {error}", flush=True)
                continue
            for name in WRITTEN:
                (case / name).unlink(missing_ok=True)
            meta: dict[str, object] = {
                "case_id": case_id,
                "model_sha256": hashlib.sha256(document).hexdigest(),
                "input_sha256": _sha256(case / "input.csv"),
                "engine": versions,
            }
            with tempfile.NamedTemporaryFile(suffix=".pmml") as handle:
                handle.write(document)
                handle.flush()
                try:
                    evaluator = engine.load(Path(handle.name))
                except scoring.LoadFailure as error:
                    evaluator = None
                    meta.update(status="load_failed", message=str(error))
            if evaluator is not None:
                header, columns = _read_input(case / "input.csv")
                records = Records(tuple(header), tuple(tuple(c) for c in columns), {"source": "input.csv"})
                scored = engine.score(evaluator, records)
                with (case / "expected.csv").open("w", encoding="utf-8", newline="") as handle:
                    writer = csv.writer(handle, lineterminator="\n")
                    writer.writerow(scored.columns)
                    writer.writerows(scored.rows)
                meta.update(status="scored", rows=len(scored.rows), row_errors=scored.row_errors,
                            scored_with="evaluateAll" if scored.batch else "evaluate, record by record")
            (case / "meta.json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
            print(f"{case_id}: {meta['status']}", flush=True)
    finally:
        engine.close()
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=Path, default=DEFAULT_CASES, help="the case tree")
    parser.add_argument("--case", action="append", default=[], help="only this <group>/<case> (repeatable)")
    parser.add_argument("--corpus", type=Path, default=None,
                        help="the shared conformance corpus (default: ../shared/conformance)")
    args = parser.parse_args()
    sys.path.insert(0, str(HERE))
    if importlib.util.find_spec("jpmml_evaluator") is None:
        _reexec_in_peer_venv()
    return run(args.cases.resolve(), set(args.case), args.corpus)


if __name__ == "__main__":
    raise SystemExit(main())
