"""Load-time benchmark of a large random forest (issue 5).

Generates a seeded synthetic forest shaped as sklearn2pmml writes a RandomForestClassifier (a
MiningModel averaging TreeModel segments, binary SimplePredicate lessOrEqual/greaterThan splits on
double fields, ScoreDistributions at the leaves), then times ``pmml.load`` by stage::

    .venv/bin/python bench/forest_load.py                     # 500 trees of about 750 nodes (50 MB)
    .venv/bin/python bench/forest_load.py --trees 50 --gzip   # smaller, gzip-compressed
    .venv/bin/python bench/forest_load.py --file model.pmml   # an existing document

Every measurement runs in a fresh process so that its peak RSS is its own.
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

N_FIELDS = 20


def generate(trees: int, nodes: int, seed: int, indent: bool = False) -> bytes:
    """A forest document: ``trees`` segments, each a random binary tree of about ``nodes`` nodes."""
    rnd = random.Random(seed)
    out: list[str] = []
    w = out.append
    w('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
      '<PMML xmlns="http://www.dmg.org/PMML-4_4" version="4.4">\n'
      '\t<Header>\n\t\t<Application name="pmserve forest benchmark" version="1"/>\n\t</Header>\n'
      '\t<DataDictionary>\n')
    w('\t\t<DataField name="y" optype="categorical" dataType="integer">\n'
      '\t\t\t<Value value="0"/>\n\t\t\t<Value value="1"/>\n\t\t</DataField>\n')
    for f in range(N_FIELDS):
        w(f'\t\t<DataField name="x{f}" optype="continuous" dataType="double"/>\n')
    w('\t</DataDictionary>\n'
      '\t<MiningModel functionName="classification" algorithmName="sklearn.ensemble._forest.RandomForestClassifier">\n'
      '\t\t<MiningSchema>\n\t\t\t<MiningField name="y" usageType="target"/>\n')
    for f in range(N_FIELDS):
        w(f'\t\t\t<MiningField name="x{f}"/>\n')
    w('\t\t</MiningSchema>\n\t\t<Output>\n'
      '\t\t\t<OutputField name="probability(0)" optype="continuous" dataType="double" feature="probability" '
      'value="0"/>\n'
      '\t\t\t<OutputField name="probability(1)" optype="continuous" dataType="double" feature="probability" '
      'value="1"/>\n'
      '\t\t</Output>\n'
      '\t\t<Segmentation multipleModelMethod="average" missingPredictionTreatment="returnMissing">\n')
    for t in range(trees):
        w(f'\t\t\t<Segment id="{t + 1}">\n\t\t\t\t<True/>\n'
          '\t\t\t\t<TreeModel functionName="classification" splitCharacteristic="binarySplit">\n'
          '\t\t\t\t\t<MiningSchema>\n')
        for f in range(N_FIELDS):
            w(f'\t\t\t\t\t\t<MiningField name="x{f}"/>\n')
        w('\t\t\t\t\t</MiningSchema>\n')
        _tree(rnd, nodes, w, indent)
        w('\t\t\t\t</TreeModel>\n\t\t\t</Segment>\n')
    w('\t\t</Segmentation>\n\t</MiningModel>\n</PMML>\n')
    return "".join(out).encode()


def _tree(rnd: random.Random, nodes: int, write: Callable[[str], None], indent: bool) -> None:
    """A random binary tree written in preorder; inner nodes split a random field at a random point."""
    leaves = (nodes + 1) // 2
    # Grow by splitting random leaves until the tree has the wanted number of leaves.
    children: dict[int, tuple[int, int]] = {}
    frontier = [0]
    count = 1
    while len(frontier) < leaves:
        leaf = frontier.pop(rnd.randrange(len(frontier)))
        children[leaf] = (count, count + 1)
        frontier += [count, count + 1]
        count += 2
    # One element a line, not indented: about 50 MB for 500 trees of 750 nodes (sklearn2pmml's
    # indentation would double that without changing the work per node).

    def emit(node: int, predicate: str, depth: int) -> None:
        ind = "\t" * (depth + 5) if indent else ""
        if node in children:
            write(f"{ind}<Node>\n{ind}{predicate}\n")
            left, right = children[node]
            field = f"x{rnd.randrange(N_FIELDS)}"
            split = repr(round(rnd.gauss(0.0, 1.0), 6))
            emit(left, f'<SimplePredicate field="{field}" operator="lessOrEqual" value="{split}"/>', depth + 1)
            emit(right, f'<SimplePredicate field="{field}" operator="greaterThan" value="{split}"/>', depth + 1)
            write(f"{ind}</Node>\n")
            return
        ones = rnd.randrange(0, 40)
        zeros = rnd.randrange(0 if ones else 1, 40)
        score = "1" if ones > zeros else "0"
        write(f'{ind}<Node score="{score}" recordCount="{ones + zeros}">\n{ind}{predicate}\n'
              f'{ind}<ScoreDistribution value="0" recordCount="{zeros}"/>\n'
              f'{ind}<ScoreDistribution value="1" recordCount="{ones}"/>\n{ind}</Node>\n')

    emit(0, "<True/>", 0)


def _peak_rss_mb() -> float:
    """This process's peak resident memory.  Linux's VmHWM, as ru_maxrss carries the parent's
    peak over fork and exec (a parent that generated a large document would count)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _measure(path: str) -> dict[str, float]:
    """Stage timings of one load, in this process (run by the parent in a fresh interpreter)."""
    from pmserve.pmml import compiler
    from pmserve.pmml.document import parse as _parse

    t0 = time.perf_counter()
    data = _parse.read_bytes(path)
    t1 = time.perf_counter()
    root = _parse.parse(data)
    t2 = time.perf_counter()
    doc = compiler.compile_document(root, data)
    t3 = time.perf_counter()
    del doc, root
    rss = _peak_rss_mb()
    out = {"read": t1 - t0, "parse": t2 - t1, "compile": t3 - t2, "total": t3 - t0, "peak_rss_mb": rss}
    # The parse stage again, split: the byte scan of the Node hierarchies, then lxml over the rest
    # of the document and its conversion to Elements.
    huge = len(data) > _parse._HUGE_TREE_BYTES
    t4 = time.perf_counter()
    tables = _parse.find_node_tables(data, huge)
    t5 = time.perf_counter()
    if tables:
        _parse._parse_skeleton(data, tables, huge)
    t6 = time.perf_counter()
    out.update({"(scan": t5 - t4, "lxml+convert)": t6 - t5})
    return out


def _measure_load(path: str) -> dict[str, float]:
    from pmserve import pmml

    t0 = time.perf_counter()
    model = pmml.load(path)
    t1 = time.perf_counter()
    rss = _peak_rss_mb()
    del model
    return {"load": t1 - t0, "peak_rss_mb": rss}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--trees", type=int, default=500)
    ap.add_argument("--nodes", type=int, default=750, help="nodes per tree (about)")
    ap.add_argument("--seed", type=int, default=5)
    ap.add_argument("--gzip", action="store_true", help="write the document gzip-compressed")
    ap.add_argument("--indent", action="store_true", help="indent Nodes with tabs as sklearn2pmml does")
    ap.add_argument("--file", help="benchmark this document instead of generating one")
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--_stage", help=argparse.SUPPRESS)
    ap.add_argument("--_load", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args._stage:
        print(json.dumps(_measure(args._stage)))
        return
    if args._load:
        print(json.dumps(_measure_load(args._load)))
        return
    with tempfile.TemporaryDirectory() as tmp:
        if args.file:
            path = args.file
        else:
            data = generate(args.trees, args.nodes, args.seed, args.indent)
            path = str(Path(tmp) / ("forest.pmml.gz" if args.gzip else "forest.pmml"))
            Path(path).write_bytes(gzip.compress(data, 6) if args.gzip else data)
        size = Path(path).stat().st_size
        print(f"document: {path} ({size / 2**20:.1f} MiB on disk)")
        for _ in range(args.repeat):
            stages = json.loads(subprocess.run([sys.executable, __file__, "--_stage", path], check=True,
                                               capture_output=True, text=True).stdout)
            load = json.loads(subprocess.run([sys.executable, __file__, "--_load", path], check=True,
                                             capture_output=True, text=True).stdout)
            print("  ".join(f"{k} {v:.3f} s" for k, v in stages.items() if k != "peak_rss_mb")
                  + f"  | pmml.load {load['load']:.3f} s, peak RSS {load['peak_rss_mb']:.0f} MiB")


if __name__ == "__main__":
    main()
