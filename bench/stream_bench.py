"""SPSS Modeler streams (issue 9): deploy time of the shared streams, Fast Infoset decoding, and
scoring a stream's whole branch (source cells → columns → nugget → reply rows)::

    .venv/bin/python bench/stream_bench.py
    .venv/bin/python bench/stream_bench.py --streams /path/to/spss-streams

Needs ``../shared/conformance/spss-streams``; streams pmserve refuses are reported as such.
"""

from __future__ import annotations

import argparse
import io
import random
import time
import zipfile
from collections.abc import Callable
from pathlib import Path

from pmserve.errors import DocumentError
from pmserve.formats import RowTable, StreamLimits, StreamModel, load_model
from pmserve.formats.spss._fastinfoset import FiLimits, decode

REPO = Path(__file__).resolve().parents[1]
DEFAULT = next((p / "conformance" / "spss-streams" for p in (REPO.parent / "shared", REPO.parent.parent / "shared")
                if (p / "conformance" / "spss-streams").is_dir()), REPO.parent / "shared")


def _best(run: Callable[[], object], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - start)
    return best * 1000


def _drug_rows(n: int) -> list[list[object]]:
    rng = random.Random(9)
    return [[rng.randint(15, 74), rng.choice("FM"), rng.choice(["HIGH", "LOW", "NORMAL"]),
             rng.choice(["HIGH", "NORMAL"]), rng.uniform(0.5, 0.9), rng.uniform(0.02, 0.08)] for _ in range(n)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--streams", type=Path, default=DEFAULT)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    limits = StreamLimits()
    print(f"{'stream':45} {'decode FI ms':>12} {'deploy ms':>10}  outcome")
    for path in sorted(args.streams.glob("*.str")):
        content = path.read_bytes()
        with zipfile.ZipFile(io.BytesIO(content)) as archive:
            xml = archive.read(next(n for n in archive.namelist() if n.endswith(".xml") and "/" not in n))
        decoding = _best(lambda xml=xml: decode(xml, FiLimits()), args.repeat)
        try:
            deploying = _best(lambda name=path.name, content=content: load_model(name, content, stream_limits=limits),
                              args.repeat)
            outcome = "deploys"
        except DocumentError as exc:
            deploying, outcome = float("nan"), f"refused: {exc.message[:60]}"
        print(f"{path.name:45} {decoding:12.1f} {deploying:10.1f}  {outcome}")
    drug = args.streams / "Drug1n.str"
    if drug.is_file():
        model = load_model(drug.name, drug.read_bytes(), stream_limits=limits)
        assert isinstance(model, StreamModel)
        header = ["Age", "Sex", "BP", "Cholesterol", "Na", "K"]
        print("\nDrug1n.str, one request (source → neural net nugget → reply rows):")
        for n in (1, 100, 10_000, 100_000):
            rows = _drug_rows(n)
            ms = _best(lambda rows=rows: model.score_tables([RowTable(header, rows, "scoreInput")]), args.repeat)
            print(f"  {n:>7} records: {ms:9.2f} ms  ({n / ms * 1000:,.0f} records/s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
