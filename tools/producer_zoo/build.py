"""Build the producer zoo: models from today's PMML exporters, with JPMML-Evaluator's outputs.

    python3 tools/producer_zoo/build.py                    # every producer
    python3 tools/producer_zoo/build.py --producer sklearn2pmml --producer spark

It creates (once) ``tools/producer_zoo/.venv`` with the pinned ``requirements.txt``, re-runs itself
there, writes each producer's documents with fixed seeds, scores their hostile inputs with
JPMML-Evaluator in one JVM, and rewrites ``tests/producer_zoo/<producer>/<case>/``.  See README.md.
"""

from __future__ import annotations

import argparse
import csv
import importlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import traceback
from pathlib import Path
from types import ModuleType
from typing import Any

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parents[1]
VENV = HERE / ".venv"
REQUIREMENTS = HERE / "requirements.txt"
STAMP = VENV / ".producer-zoo-requirements"
OUT = REPO_ROOT / "tests" / "producer_zoo"
PRODUCERS = ("sklearn2pmml", "spark", "nyoka")
CASE_FILES = ("model.pmml", "input.csv", "expected.csv", "meta.json", "status.json", "native.csv")


def _ensure_venv() -> None:
    python = VENV / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    wanted = REQUIREMENTS.read_text()
    if not STAMP.exists() or STAMP.read_text() != wanted:
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", "-r", str(REQUIREMENTS)], check=True)
        STAMP.write_text(wanted)
    os.execv(str(python), [str(python), str(Path(__file__).resolve()), *sys.argv[1:]])


def _module(producer: str) -> ModuleType:
    # Imported on demand: each producer module pulls in its own heavy stack (PySpark, sklearn2pmml).
    modules = {"sklearn2pmml": "zoo_sklearn", "spark": "zoo_spark", "nyoka": "zoo_nyoka"}
    return importlib.import_module(modules[producer])


def _write_json(path: Path, payload: dict[str, object]) -> None:
    path.write_text(json.dumps(payload, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def _versions() -> dict[str, str]:
    from importlib.metadata import version

    names = ("scikit-learn", "sklearn2pmml", "pyspark", "pyspark2pmml", "nyoka", "statsmodels", "lightgbm",
             "xgboost-cpu", "jpmml-evaluator")
    return {name: version(name) for name in names}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--producer", action="append", choices=PRODUCERS)
    parser.add_argument("--case", action="append", help="only cases whose id contains this text")
    args = parser.parse_args()
    sys.path.insert(0, str(HERE))
    sys.path.insert(0, str(REPO_ROOT / "tools" / "jpmml_reference"))

    from _common import ZooCase

    built: list[tuple[ZooCase, Path | None, str | None]] = []  # (case, PMML path or None, error)
    work = Path(tempfile.mkdtemp(prefix="producer-zoo-"))
    try:
        for producer in args.producer or PRODUCERS:
            module = _module(producer)
            for case in module.cases():
                if args.case and not any(part in case.case_id for part in args.case):
                    continue
                path = work / (case.case_id.replace("/", "__") + ".pmml")
                try:
                    case.build(path)
                    built.append((case, path, None))
                    print(f"built {case.case_id}", flush=True)
                except Exception as error:  # a producer that fails on a model is recorded, not fatal
                    traceback.print_exc()
                    built.append((case, None, f"{type(error).__name__}: {error}"))
            if hasattr(module, "close"):
                module.close()
        _score_and_write(built)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


def _score_and_write(built: list[tuple[Any, Path | None, str | None]]) -> None:
    import java_regex
    import scoring
    from inputs import Records

    engine = scoring.Engine()
    try:
        java_regex.write(java_regex.java_cases())
        versions = {**_versions(), **engine.versions()}
        for case, path, build_error in built:
            case_dir = OUT / case.case_id
            case_dir.mkdir(parents=True, exist_ok=True)
            for name in CASE_FILES:
                (case_dir / name).unlink(missing_ok=True)
            base = {"case": case.case_id, "describes": case.describes, "versions": versions,
                    **case.notes}
            if path is None:
                _write_json(case_dir / "status.json", {**base, "status": "build_failed", "message": build_error})
                continue
            shutil.copyfile(path, case_dir / "model.pmml")
            columns = tuple(case.inputs)
            records = Records(columns, tuple(tuple(case.inputs[c]) for c in columns), {"source": "zoo"})
            with (case_dir / "input.csv").open("w", encoding="utf-8", newline="") as handle:
                writer = csv.writer(handle, lineterminator="\n")
                writer.writerow(columns)
                for row in range(records.row_count):
                    writer.writerow(["" if col[row] is None else col[row] for col in records.data])
            try:
                evaluator = engine.load(case_dir / "model.pmml")
            except scoring.LoadFailure as failure:
                _write_json(case_dir / "status.json", {**base, "status": "load_failed", "message": str(failure)})
                print(f"JPMML refused {case.case_id}: {failure}", flush=True)
                continue
            native = case.native
            if native:
                with (case_dir / "native.csv").open("w", encoding="utf-8", newline="") as handle:
                    writer = csv.writer(handle, lineterminator="\n")
                    writer.writerow(list(native))
                    writer.writerows(zip(*(map(repr, v) for v in native.values()), strict=True))
            fields = set(engine.input_fields(evaluator))
            keep = [i for i, c in enumerate(columns) if c in fields]
            records = Records(tuple(columns[i] for i in keep), tuple(records.data[i] for i in keep), records.source)
            scored = engine.score(evaluator, records)
            with (case_dir / "expected.csv").open("w", encoding="utf-8", newline="") as handle:
                writer = csv.writer(handle, lineterminator="\n")
                writer.writerow(scored.columns)
                writer.writerows(scored.rows)
            _write_json(case_dir / "meta.json", {**base, "columns": list(scored.columns), "rows": len(scored.rows),
                                                 "row_errors": scored.row_errors,
                                                 "scored_with": "evaluateAll" if scored.batch else "evaluate"})
            print(f"scored {case.case_id}: {len(scored.rows)} rows, {scored.row_errors} JPMML errors", flush=True)
    finally:
        engine.close()


if __name__ == "__main__":
    if Path(sys.prefix).resolve() != VENV.resolve():
        _ensure_venv()
    sys.exit(main())
