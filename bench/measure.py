"""Measure one engine on one zoo model, in this process alone (the runner starts one per pair).

    python bench/measure.py --engine pmserve --model rf100 --zoo bench/out --result r.json

Writes a JSON result: start and load time, rows/s per batch size (median of the repeats),
single-record latency (median, p99), peak RSS of this process and its children (PyPMML's JVM),
the BLAS kernel in use; and the normalised outputs of the agreement batch as ``<result>.npz``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
import traceback
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))

import engines


def _status_kib(pid: int, key: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _descendants(pid: int) -> list[int]:
    found: list[int] = []
    todo = [pid]
    while todo:
        p = todo.pop()
        for task in Path(f"/proc/{p}/task").glob("*"):
            try:
                kids = [int(k) for k in (task / "children").read_text().split()]
            except OSError:
                continue
            found += kids
            todo += kids
    return found


def peak_rss_mib() -> float:
    """High-water RSS of this process plus its live children (a JVM gateway counts as the engine's)."""
    pid = os.getpid()
    return sum(_status_kib(p, "VmHWM") for p in [pid, *_descendants(pid)]) / 1024.0


def blas_info() -> list[dict[str, Any]]:
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return []
    return [{k: i.get(k) for k in ("internal_api", "version", "architecture", "num_threads")}
            for i in threadpool_info()]


def _time(fn: Any, arg: Any) -> tuple[float, Any]:
    t0 = time.perf_counter()
    out = fn(arg)
    return time.perf_counter() - t0, out


def run(args: argparse.Namespace) -> dict[str, Any]:
    zoo = Path(args.zoo)
    meta = json.loads((zoo / "zoo.json").read_text())[args.model]
    engine = engines.make(args.engine)
    try:
        return _run(args, zoo, meta, engine)
    finally:
        # Ends the JVM this process started (JPMML's JPype, PyPMML's gateway), also after an error.
        try:
            engine.stop()
        except Exception as exc:  # a failed stop must not hide the measurement or its error
            print(f"stopping {args.engine} failed: {exc}", file=sys.stderr)


def _run(args: argparse.Namespace, zoo: Path, meta: dict[str, Any], engine: engines.Engine) -> dict[str, Any]:
    res: dict[str, Any] = {"engine": args.engine, "model": args.model, "rss_before_mib": peak_rss_mib()}
    t0 = time.perf_counter()
    engine.start()
    res["start_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    engine.load(zoo, args.model)
    res["load_s"] = time.perf_counter() - t0
    configure = getattr(engine, "configure", None)
    if configure is not None:
        configure(meta)
    res["rss_after_load_mib"] = peak_rss_mib()

    sizes = [int(s) for s in args.sizes.split(",")]
    frames = {n: pd.read_csv(zoo / f"{meta['dataset']}_{n}.csv") for n in sizes}
    # A warm-up call: first-call costs (JIT, lazy imports) are not throughput.
    engine.score(frames[sizes[0]].head(100))
    rates: dict[str, Any] = {}
    agreement_out: Any = None
    last_rate: float | None = None
    for n in sizes:
        projected = n / last_rate if last_rate else 0.0
        if projected > args.max_batch_s:
            rates[str(n)] = {"skipped": f"projected {projected:.0f} s for one batch"}
            continue
        times: list[float] = []
        for i in range(args.repeat):
            seconds, out = _time(engine.score, frames[n])
            times.append(seconds)
            if n == sizes[0] and i == 0:
                agreement_out = out
            # A slow engine gets fewer repeats rather than stretching the whole run.
            if sum(times) + seconds > args.max_batch_s * 1.5 and i < args.repeat - 1:
                break
        median = statistics.median(times)
        last_rate = n / median
        rates[str(n)] = {"rows_per_s": last_rate, "runs": len(times), "seconds": times}
    res["batch"] = rates

    if agreement_out is not None:
        norm = engine.normalise(agreement_out, meta)
        np.savez(args.result + ".npz", **{k: np.asarray(v, dtype=float if k != "label" else str)
                                          for k, v in norm.items()})

    lat_frame = pd.read_csv(zoo / f"{meta['dataset']}_{sizes[0]}.csv").head(args.latency)
    records = engine.records(lat_frame)
    for r in records[:20]:
        engine.score_one(r)
    lat: list[float] = []
    deadline = time.perf_counter() + args.max_latency_s
    i = 0
    while len(lat) < args.latency and time.perf_counter() < deadline:
        r = records[i % len(records)]
        t = time.perf_counter()
        engine.score_one(r)
        lat.append(time.perf_counter() - t)
        i += 1
    res["latency"] = {"calls": len(lat), "p50_ms": float(np.percentile(lat, 50)) * 1e3,
                      "p99_ms": float(np.percentile(lat, 99)) * 1e3}
    res["peak_rss_mib"] = peak_rss_mib()
    res["blas"] = blas_info()
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--engine", required=True, choices=engines.ENGINES)
    ap.add_argument("--model", required=True)
    ap.add_argument("--zoo", required=True, help="folder written by zoo.py")
    ap.add_argument("--result", required=True, help="JSON file to write (outputs go to <result>.npz)")
    ap.add_argument("--sizes", default="10000,100000", help="batch sizes, the first is the agreement batch")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--latency", type=int, default=1000, help="single-record calls")
    ap.add_argument("--max-batch-s", type=float, default=100.0, help="skip a batch size projected to take longer")
    ap.add_argument("--max-latency-s", type=float, default=20.0, help="stop the latency loop after this long")
    args = ap.parse_args()
    # sklearn warns on array rows for a model fitted on a frame; the benchmark passes them on purpose.
    warnings.filterwarnings("ignore", message="X does not have valid feature names")
    try:
        res = run(args)
    except Exception as exc:
        res = {"engine": args.engine, "model": args.model,
               "error": f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"[:300],
               "traceback": traceback.format_exc()[-2000:]}
    Path(args.result).write_text(json.dumps(res, indent=1))
    sys.stdout.flush()
    # JPype and Py4J may leave non-daemon threads behind; the result is written, so leave now.
    os._exit(0)


if __name__ == "__main__":
    main()
