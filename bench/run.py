"""The benchmark runner: build the zoo, measure every engine on every model, the HTTP servers, report.

    bash bench/run.sh                 # the full run (30-45 minutes on 2 cores); writes docs/performance.md
    bash bench/run.sh --quick         # smallest sizes, three models, a short HTTP run (about a minute)

Runs in bench/.venv (``run.sh`` makes it).  Every engine measures each model in a fresh process of
its own (``measure.py``), so that load time and peak RSS are that engine's alone.  Results go to
``<out>/results.json``; the report replaces the generated part of the markdown file.
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import engines  # noqa: E402
import report  # noqa: E402
import zoo  # noqa: E402


def _measure(out: Path, model: str, engine: str, quick: bool, timeout: float, caps: list[str]) -> dict[str, Any]:
    res_dir = out / "results"
    res_dir.mkdir(exist_ok=True)
    result = res_dir / f"{engine}-{model}.json"
    result.unlink(missing_ok=True)
    sizes = ",".join(str(n) for n in (zoo.QUICK_ROW_COUNTS if quick else zoo.ROW_COUNTS)[1:])
    cmd = [sys.executable, str(HERE / "measure.py"), "--engine", engine, "--model", model, "--zoo", str(out),
           "--result", str(result), "--sizes", sizes, *caps]
    if quick:
        cmd += ["--repeat", "1", "--latency", "100"]
    t0 = time.perf_counter()
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"engine": engine, "model": model, "error": f"no result within {timeout:.0f} s"}
    if not result.exists():
        return {"engine": engine, "model": model,
                "error": f"exited with status {done.returncode}: {done.stderr.strip()[-300:]}"}
    res: dict[str, Any] = json.loads(result.read_text())
    res["wall_s"] = time.perf_counter() - t0
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=str(HERE / "out"), help="zoo, inputs and results (default bench/out)")
    ap.add_argument("--quick", action="store_true", help="smallest sizes and a short HTTP run")
    ap.add_argument("--models", help="comma-separated zoo models (default: all; quick: " +
                    ",".join(zoo.QUICK_MODELS) + ")")
    ap.add_argument("--engines", default=",".join(engines.ENGINES))
    ap.add_argument("--skip-build", action="store_true", help="reuse the zoo already in --out")
    ap.add_argument("--http-model", default="logreg", help="zoo model of the HTTP benchmark ('' skips it)")
    ap.add_argument("--http-servers", default="pmserve,mlserver")
    ap.add_argument("--doc", help="markdown file to write (default docs/performance.md; quick: <out>/performance.md)")
    ap.add_argument("--jobs", type=int, default=1,
                    help="engine processes at once (more than 1 spoils the timings; for smoke tests)")
    # The slow peers (JVM engines on forests and k-NN) set the run's length: these caps keep the
    # full run near half an hour on 2 cores; the report lists what they cut.
    ap.add_argument("--max-batch-s", type=float, default=60.0,
                    help="skip a batch size projected to take longer; fewer repeats past 1.5 times this")
    ap.add_argument("--max-latency-s", type=float, default=10.0, help="cap of the single-record loop")
    ap.add_argument("--timeout", type=float, default=900.0, help="seconds allowed to one engine on one model")
    ap.add_argument("--note", default="", help="a line for the report (e.g. what else ran on the machine)")
    args = ap.parse_args()

    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    models = args.models.split(",") if args.models else None
    started = datetime.now(UTC)
    t0 = time.perf_counter()
    if args.skip_build and (out / "zoo.json").exists():
        print(f"reusing the zoo in {out}", flush=True)
    else:
        print(f"building the zoo in {out}", flush=True)
        zoo.build(out, quick=args.quick, only=models)
    meta = json.loads((out / "zoo.json").read_text())
    names = [m for m in (models or list(meta)) if m in meta]

    caps = ["--max-batch-s", str(args.max_batch_s), "--max-latency-s", str(args.max_latency_s)]
    pairs = [(model, engine) for model in names for engine in args.engines.split(",")]

    def one(pair: tuple[str, str]) -> dict[str, Any]:
        model, engine = pair
        res = _measure(out, model, engine, args.quick, args.timeout, caps)
        summary = res.get("error") or ", ".join(
            f"{n}: {b['rows_per_s']:,.0f} rows/s" if "rows_per_s" in b else f"{n}: {b.get('skipped')}"
            for n, b in res["batch"].items())
        print(f"  {model:9} {engine:8} {summary}", flush=True)
        return res

    # Engines side by side disturb each other's timings: only for checking the pipeline (smoke test).
    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        results = list(pool.map(one, pairs))
    report.add_agreement(out, results)

    http: dict[str, Any] | None = None
    if args.http_model and args.http_model in meta:
        print(f"HTTP benchmark on {args.http_model}", flush=True)
        http_file = out / "http.json"
        cmd = [sys.executable, str(HERE / "http_bench.py"), "--zoo", str(out), "--model", args.http_model,
               "--result", str(http_file), "--servers", args.http_servers] + (["--quick"] if args.quick else [])
        if shutil.which("wrk") and not args.quick:
            cmd += ["--wrk", "10"]  # Debian's wrk, closed loop at 4 connections (issue 12's req/s target)
        subprocess.run(cmd, check=True, timeout=1200)
        http = json.loads(http_file.read_text())

    run_info = {
        "started": started.isoformat(timespec="seconds"),
        "minutes": (time.perf_counter() - t0) / 60,
        "quick": args.quick,
        "command": "bash bench/run.sh" + (" --quick" if args.quick else ""),
        "caps": {"max_batch_s": args.max_batch_s, "max_latency_s": args.max_latency_s},
        "machine": report.machine(),
        "python": platform.python_version(),
        "versions": report.versions(),
        "note": args.note,
    }
    (out / "results.json").write_text(json.dumps({"run": run_info, "zoo": meta, "engines": results,
                                                  "http": http}, indent=1))
    doc = Path(args.doc) if args.doc else (out / "performance.md" if args.quick
                                           else HERE.parent / "docs" / "performance.md")
    report.write(doc, run_info, meta, names, results, http)
    print(f"wrote {doc} ({run_info['minutes']:.1f} min)", flush=True)


if __name__ == "__main__":
    main()
