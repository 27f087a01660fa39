"""Write JPMML-Evaluator's answer for the Time Series nugget PMML of financial-performance-prediction.str.

Run with the project's Python (it reads the stream with pmserve's own container reader); it runs
JPMML in the peers' Python (``--peers-python``, default ``.venv-peers/bin/python``, which
``tools/jpmml_reference/generate.py`` creates) and writes
``tests/spss/reference/financial-performance-prediction.jpmml.json``: JPMML's forecast when it
scores the document, or its refusal.  Tests read that file, so they run without Java.

    .venv/bin/python tools/spss_timeseries_reference/generate.py [--peers-python PATH] [--streams DIR]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from lxml import etree

from pmserve.formats.spss.timeseries import read_extension_container

REPO = Path(__file__).resolve().parents[2]
OUT = REPO / "tests" / "spss" / "reference" / "financial-performance-prediction.jpmml.json"
STREAM = "financial-performance-prediction.str"
NUGGET_BLOB = "data/0005.dat"  # the nugget's PMML content container (data/0001.dat is the builder's copy)
RUNNER = Path(__file__).with_name("jpmml_runner.py")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--peers-python", type=Path, default=REPO / ".venv-peers" / "bin" / "python")
    default = next((p / "conformance" / "spss-streams" for p in (REPO.parent / "shared", REPO.parent.parent / "shared")
                    if (p / "conformance" / "spss-streams").is_dir()), None)
    parser.add_argument("--streams", type=Path, default=default, required=default is None)
    args = parser.parse_args()
    with zipfile.ZipFile(args.streams / STREAM) as archive:
        entries = read_extension_container(archive.read(NUGGET_BLOB), f"{STREAM} {NUGGET_BLOB}", 64 << 20)
    document = entries["0.xml"]
    root = etree.fromstring(document)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "0.xml"
        path.write_bytes(document)
        done = subprocess.run([str(args.peers_python), str(RUNNER), str(path)], capture_output=True, text=True,
                              check=False, timeout=300)
    if done.returncode != 0:
        print(done.stderr, file=sys.stderr)
        return 1
    result = json.loads(done.stdout)
    result["stream"] = STREAM
    result["blob"] = NUGGET_BLOB
    result["pmml_version"] = root.get("version")
    OUT.write_text(json.dumps(result, indent=2, sort_keys=True) + "\n")
    print(f"wrote {OUT.relative_to(REPO)}: {result['outcome']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
