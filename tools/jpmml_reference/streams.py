"""JPMML-Evaluator's outputs for the model nuggets of the shared Modeler streams.

Each case is a directory ``tests/spss/reference/<case>/`` holding ``case.json``
(``{"stream": "Drug1n.str", "node": "2"}``: a stream of ``../shared/conformance/spss-streams``
and the diagram id of its nugget) and ``input.csv`` (the records, as the nugget receives them).
pmserve reads the stream and hands over the nugget's document exactly as it scores it - the
nugget's PMML with the nugget's outputs (``$N-Drug``, ``$NC-Drug``, …) as OutputFields - and
JPMML scores that document on ``input.csv``.  Written beside: ``expected.csv`` (JPMML's results,
an ``error`` column on refused rows) and ``meta.json`` (versions, SHA-256 of the document and
input).  The documents themselves are never stored: they stay in ``../shared``.

    .venv/bin/python tools/jpmml_reference/streams.py              # every case
    .venv/bin/python tools/jpmml_reference/streams.py --case drug1n_neural_net

Step one runs in pmserve's environment; it then runs itself again under the JPMML environment
(``/work/peers-venv`` or ``.venv-peers``, see README.md) with ``--jpmml DIR`` to score.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import importlib.util
import json
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parents[1]
CASES = REPO_ROOT / "tests" / "spss" / "reference"
STREAMS = (REPO_ROOT.parent / "shared" / "conformance" / "spss-streams",
           REPO_ROOT.parent.parent / "shared" / "conformance" / "spss-streams")
PEER_PYTHONS = (Path("/work/peers-venv/bin/python"), REPO_ROOT / ".venv-peers" / "bin" / "python")


def extract(cases: list[Path], out: Path) -> list[str]:
    """Write each case's scored nugget document to ``out/<case>.pmml`` (pmserve's environment)."""
    from pmserve.formats.spss._limits import StreamLimits
    from pmserve.formats.spss._loader import load_stream
    from pmserve.formats.spss.nodes._nugget import PmmlNugget

    streams = next((p for p in STREAMS if p.is_dir()), None)
    if streams is None:
        raise SystemExit("the shared streams (../shared/conformance/spss-streams) are not here")
    done = []
    for case in cases:
        spec = json.loads((case / "case.json").read_text(encoding="utf-8"))
        path = streams / spec["stream"]
        model = load_stream(path.name, path.read_bytes(), StreamLimits())
        nugget = next(c for n, c in model.steps if n.id == spec["node"])
        if not isinstance(nugget, PmmlNugget):
            raise SystemExit(f"{case.name}: node {spec['node']} of {spec['stream']} is not a PMML nugget")
        (out / f"{case.name}.pmml").write_bytes(nugget.document)
        done.append(case.name)
    return done


def score(cases: list[Path], documents: Path) -> None:
    """Score each extracted document with JPMML and write the case's reference files (JPMML's environment)."""
    sys.path.insert(0, str(HERE))
    import scoring
    from inputs import Records

    engine = scoring.Engine()
    try:
        versions = engine.versions()
        for case in cases:
            document = documents / f"{case.name}.pmml"
            with (case / "input.csv").open(encoding="utf-8", newline="") as handle:
                rows = list(csv.reader(handle))
            header, body = rows[0], rows[1:]
            columns = tuple(tuple(r[i] if r[i] != "" else None for r in body) for i in range(len(header)))
            evaluator = engine.load(document)
            scored = engine.score(evaluator, Records(tuple(header), columns, {"source": "input.csv"}))
            with (case / "expected.csv").open("w", encoding="utf-8", newline="") as handle:
                writer = csv.writer(handle, lineterminator="\n")
                writer.writerow(scored.columns)
                writer.writerows(scored.rows)
            meta = {"case_id": case.name, "document_sha256": hashlib.sha256(document.read_bytes()).hexdigest(),
                    "input_sha256": hashlib.sha256((case / "input.csv").read_bytes()).hexdigest(),
                    "engine": versions, "rows": len(scored.rows), "row_errors": scored.row_errors}
            (case / "meta.json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
            print(f"{case.name}: {len(scored.rows)} rows, {scored.row_errors} refused", flush=True)
    finally:
        engine.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--case", action="append", default=[], help="only this case (repeatable)")
    parser.add_argument("--jpmml", type=Path, help=argparse.SUPPRESS)  # step two: documents extracted here
    args = parser.parse_args()
    cases = sorted(p.parent for p in CASES.glob("*/case.json") if not args.case or p.parent.name in args.case)
    if args.jpmml is not None:
        score(cases, args.jpmml)
        return 0
    if importlib.util.find_spec("pmserve") is None:
        raise SystemExit("run this with pmserve's environment (.venv/bin/python)")
    python = next((p for p in PEER_PYTHONS if p.exists()), None)
    if python is None:
        raise SystemExit("no JPMML environment: run tools/jpmml_reference/generate.py once to create .venv-peers")
    with tempfile.TemporaryDirectory() as tmp:
        names = extract(cases, Path(tmp))
        subprocess.run([str(python), str(Path(__file__).resolve()), "--jpmml", tmp,
                        *(f"--case={n}" for n in names)], check=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
