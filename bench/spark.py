"""Spark benchmark (issue 11): the zoo's logistic regression and 100-tree forest scoring 1,000,000
rows Parquet -> Parquet on Spark ``local[2]``, against pmserve's local runner on the same files.

    python bench/spark.py --zoo bench/out                        # logreg and rf100, 1,000,000 rows
    python bench/spark.py --zoo bench/out --rows 100000 --models logreg --engines spark

Needs a Python with pmserve's ``spark`` extra and the zoo's packages (bench/.venv, plus
``pip install -e '.[spark]'``), Java 17, and the zoo's PMML exports ``logreg.pmml`` and
``rf100.pmml`` in ``--zoo`` (``bash bench/run.sh`` writes them into bench/out).  The input is the
zoo's numeric scoring data (``zoo.numeric_frame``, its own seed) written once as Parquet.

Every (model, engine) pair runs in a fresh process; a sampler sums the RSS of that process and all
its descendants (for Spark: the driver JVM and the Python workers) every 0.1 s: the peak of that
sum is the peak RSS reported.  Spark's time is split into starting the session and the job itself
(read, score, write); rows/s is over the job.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from click.testing import CliRunner

from pmserve.cli import main as pmserve_main
from pmserve.spark import SparkSink, SparkSource, run_batch, session

sys.path.insert(0, str(Path(__file__).resolve().parent))

HERE = Path(__file__).resolve().parent
MODELS = ("logreg", "rf100")
# spark-copy: the same job without scoring (Spark reads and writes the Parquet), for reference.
ENGINES = ("spark", "spark-copy", "local")
SPARK_CONFIG = {"spark.ui.enabled": "false", "spark.sql.shuffle.partitions": "2"}


def _kib(pid: int, file: str, key: str) -> int:
    """A size in KiB from ``/proc/<pid>/<file>``: ``status``'s VmRSS, or ``smaps_rollup``'s Pss (the
    process's own pages and its share of those it shares: PySpark's workers are forked from its
    daemon and map the same libraries, which summed RSS counts once per worker); 0 once it is gone."""
    try:
        for line in Path(f"/proc/{pid}/{file}").read_text().splitlines():
            if line.startswith(key):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _tree(pid: int) -> list[int]:
    """``pid`` and every live descendant."""
    found = [pid]
    todo = [pid]
    while todo:
        for task in Path(f"/proc/{todo.pop()}/task").glob("*"):
            try:
                kids = [int(k) for k in (task / "children").read_text().split()]
            except OSError:
                continue
            found += kids
            todo += kids
    return found


def _kind(pid: int) -> str:
    """'java' (Spark's JVM) or 'python' (the driver's interpreter, PySpark's daemon and workers)."""
    try:
        return "java" if "java" in Path(f"/proc/{pid}/comm").read_text() else "python"
    except OSError:
        return "python"


def _measured(cmd: list[str]) -> dict[str, Any]:
    """Run ``cmd`` (which prints one JSON line last) while sampling its process tree's RSS."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peak = 0
    at_peak: dict[str, Any] = {}
    # Each part's own peak: the driver's Python process, Spark's JVM, and PySpark's daemon and
    # workers (the Python processes under the JVM: pmserve's scoring code runs there).
    peaks = {"driver": 0.0, "java": 0.0, "python workers": 0.0}
    pss_peaks = dict(peaks)  # the same with each process's PSS instead of its RSS
    done = threading.Event()

    def by_part(sizes: dict[int, int]) -> dict[str, float]:
        parts = {"driver": sizes.get(proc.pid, 0) / 1024, "java": 0.0, "python workers": 0.0}
        for p, kib in sizes.items():
            if p != proc.pid:
                parts["java" if _kind(p) == "java" else "python workers"] += kib / 1024
        return parts

    def sample() -> None:
        nonlocal peak, at_peak
        while not done.is_set():
            tree = _tree(proc.pid)
            sizes = {p: _kib(p, "status", "VmRSS:") for p in tree}
            total = sum(sizes.values())
            shares = {p: _kib(p, "smaps_rollup", "Pss:") for p in tree}
            for found, into in ((by_part(sizes), peaks), (by_part(shares), pss_peaks)):
                for k, v in found.items():
                    into[k] = max(into[k], v)
            if total > peak:
                peak = total
                by_kind: dict[str, float] = {}
                for p, kib in sizes.items():
                    by_kind[_kind(p)] = by_kind.get(_kind(p), 0.0) + kib / 1024
                at_peak = {"processes": len(sizes), **{k: round(v, 1) for k, v in by_kind.items()}}
            done.wait(0.1)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, err = proc.communicate()
    done.set()
    sampler.join()
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{err[-3000:]}")
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    result["peak_rss_mib"] = round(peak / 1024, 1)
    result["at_peak_mib"] = at_peak
    result["peak_mib_by_part"] = {k: round(v, 1) for k, v in peaks.items()}
    result["peak_pss_mib_by_part"] = {k: round(v, 1) for k, v in pss_peaks.items()}
    return result


def _child(args: argparse.Namespace) -> None:
    """One measurement, in this fresh process; prints its JSON result."""
    model = Path(args.zoo) / f"{args.models[0]}.pmml"
    content = model.read_bytes()
    out = Path(args.work) / f"out-{args.models[0]}-{args.engines[0]}"
    if args.engines[0].startswith("spark"):
        t0 = time.perf_counter()
        spark = session(args.master, {**SPARK_CONFIG, "spark.driver.memory": args.driver_memory,
                                      "spark.sql.execution.arrow.maxRecordsPerBatch": str(args.arrow_batch)})
        start = time.perf_counter() - t0
        jobs = []
        for _ in range(args.repeat):
            t1 = time.perf_counter()
            if args.engines[0] == "spark-copy":
                spark.read.parquet(args.input).write.mode("overwrite").parquet(str(out))
                rows, failed = args.rows, 0
            else:
                result = run_batch(content, model.name, SparkSource("parquet", path=args.input),
                                   SparkSink("parquet", path=str(out), mode="overwrite"), master=args.master)
                rows, failed = result.rows, result.failed
            jobs.append(time.perf_counter() - t1)
    else:
        start = 0.0
        jobs = []
        for _ in range(args.repeat):
            t1 = time.perf_counter()
            ran = CliRunner().invoke(pmserve_main, ["score", str(model), args.input, "-o", f"{out}.parquet",
                                                    "--chunk-size", str(args.chunk_size)], catch_exceptions=False)
            jobs.append(time.perf_counter() - t1)
            if ran.exit_code != 0:
                raise SystemExit(ran.output)
        rows, failed = pq.ParquetFile(f"{out}.parquet").metadata.num_rows, 0
    # The first job warms up (Spark: the JVM's JIT, Python workers starting and compiling the
    # model); later ones show the steady state.
    print(json.dumps({"model": args.models[0], "engine": args.engines[0], "rows": rows, "failed": failed,
                      "start_s": round(start, 2), "jobs_s": [round(j, 2) for j in jobs],
                      "rows_per_s_first": round(rows / jobs[0]), "rows_per_s_best": round(rows / min(jobs))}))


def _input(path: Path, rows: int) -> None:
    if path.exists() and pq.ParquetFile(path).metadata.num_rows == rows:
        return
    # Here only: the measured processes do not import the zoo's packages (pandas, scikit-learn),
    # which would count in the driver's memory.
    import zoo

    frame = zoo.numeric_frame(rows, zoo.SEED + 100)
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), path, row_group_size=100_000)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--zoo", default=str(HERE / "out"), help="folder with logreg.pmml and rf100.pmml")
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS)
    ap.add_argument("--engines", nargs="+", default=list(ENGINES), choices=ENGINES)
    ap.add_argument("--master", default="local[2]")
    ap.add_argument("--driver-memory", default="512m", help="Spark's driver JVM heap (local mode: the executors' too)")
    ap.add_argument("--chunk-size", type=int, default=10_000, help="records per batch of the local runner")
    ap.add_argument("--arrow-batch", type=int, default=10_000,
                    help="spark.sql.execution.arrow.maxRecordsPerBatch: records per Arrow batch to a Python worker")
    ap.add_argument("--repeat", type=int, default=2, help="jobs per process (the first one warms up)")
    ap.add_argument("--work", help="folder for the input and outputs (default: a temporary one)")
    ap.add_argument("--result", help="write the results as JSON here")
    ap.add_argument("--input", help=argparse.SUPPRESS)
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        _child(args)
        return
    with tempfile.TemporaryDirectory(prefix="pmserve-spark-bench-") as tmp:
        work = Path(args.work or tmp)
        work.mkdir(parents=True, exist_ok=True)
        source = work / f"numeric_{args.rows}.parquet"
        _input(source, args.rows)
        results = []
        for name in args.models:
            for engine in args.engines:
                if engine == "spark-copy" and name != args.models[0]:
                    continue  # no model in it: once is enough
                cmd = [sys.executable, __file__, "--child", "--zoo", args.zoo, "--models", name, "--engines", engine,
                       "--master", args.master, "--repeat", str(args.repeat), "--work", str(work),
                       "--driver-memory", args.driver_memory, "--chunk-size", str(args.chunk_size),
                       "--arrow-batch", str(args.arrow_batch),
                       "--rows", str(args.rows),
                       "--input", str(source)]
                res = _measured(cmd)
                results.append(res)
                jobs = " ".join(f"{j:.2f}" for j in res["jobs_s"])
                print(f"{name:7} {engine:6} {res['rows']:>9,} rows  jobs {jobs} s  first {res['rows_per_s_first']:>9,} "
                      f"rows/s  best {res['rows_per_s_best']:>9,} rows/s  session start {res['start_s']:5.2f} s  "
                      f"peak RSS {res['peak_rss_mib']:7.1f} MiB {res['at_peak_mib']}, peaks by part "
                      f"{res['peak_mib_by_part']}, PSS {res['peak_pss_mib_by_part']}", flush=True)
    run = {"rows": args.rows, "master": args.master, "cpus": os.cpu_count(), "python": sys.version.split()[0],
           "load_average": os.getloadavg(), "spark_config": SPARK_CONFIG, "driver_memory": args.driver_memory,
           "chunk_size": args.chunk_size, "arrow_batch": args.arrow_batch}
    if args.result:
        Path(args.result).write_text(json.dumps({"run": run, "results": results}, indent=1))


if __name__ == "__main__":
    main()
