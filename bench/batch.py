"""Batch jobs benchmark (issue 11): 1,000,000 rows through the job runner, rows/s and peak RSS.

    # once: the two zoo models (needs scikit-learn 1.9.0 + sklearn2pmml 0.133.1 and Java 17)
    python bench/batch.py models --out bench/out/batch
    # then, with pmserve's own venv (pyarrow, psycopg; PostgreSQL at PMSERVE_TEST_POSTGRES_DSN)
    .venv/bin/python bench/batch.py run --models bench/out/batch --rows 1000000

``run`` writes the inputs (20 standard-normal features, 3 decimals: ~128 bytes a CSV row), then
runs each (model, path) case in a fresh process of its own: the case uploads its input to a
store in a temporary data dir, submits one job and runs the real JobRunner until the job ends.
The case loads the kernels its model uses first, as a server loads every kernel at start-up
(otherwise the forest's cases pay numba's code generator start, and a cold or stale numba cache
is compiled inside whichever case uses a kernel first - the forest's CSV case in this order:
seconds of CPU).
The case runs without pandas, as pmserve's container does (it installs ``pmserve[postgres]``):
pyarrow imports pandas, when it is installed, at its first conversion of numpy or Python values,
which in a job is on its critical path (0.3 s of CPU and 44 MiB); the dev venv has pandas (for
Spark), so ``--with-pandas`` measures what a first job pays there.
Rows/s = rows / (finishedAt - startedAt) of the job (model load and export commit included);
peak RSS = the case process's high-water mark (VmHWM); CPU = the case process's CPU time (every
thread, PostgreSQL's server not included) from the runner's start to the job's end; the load
average (1 minute) is taken as the case ends: the machine is shared.  It then measures online latency of a real
``pmserve serve`` while a forest job runs in the same server.  Results go to stdout as Markdown
and to ``<models>/batch.json``.
"""

from __future__ import annotations

import argparse
import atexit
import importlib.abc
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
MODELS = {"logreg": "logistic regression (20 features)", "rf100": "random forest, 100 trees"}
PATHS = ("csv", "parquet", "postgres")
FEATURES = [f"x{i}" for i in range(20)]
DSN = os.environ.get("PMSERVE_TEST_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/test")


# -- models (run with scikit-learn + sklearn2pmml) ------------------------------------------------

def make_models(out: Path) -> None:
    sys.path.insert(0, str(HERE))
    import pandas as pd
    import zoo
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn2pmml import sklearn2pmml
    from sklearn2pmml.pipeline import PMMLPipeline

    out.mkdir(parents=True, exist_ok=True)
    # The zoo's own data and estimators for these two models (bench/zoo.py, _estimators()).
    makers = {"logreg": (lambda: LogisticRegression(max_iter=1000), 5000),
              "rf100": (lambda: RandomForestClassifier(n_estimators=100, random_state=zoo.SEED, n_jobs=1), 4000)}
    for name, (make, rows) in makers.items():
        x = zoo.numeric_frame(rows, zoo.SEED)
        y, _ = zoo.numeric_targets(x)
        pipe = PMMLPipeline([("model", make())])
        pipe.fit(x, pd.Series(y, name=zoo.TARGET))
        sklearn2pmml(pipe, str(out / f"{name}.pmml"))
        print(f"wrote {out / f'{name}.pmml'}")


# -- inputs ---------------------------------------------------------------------------------------

def make_inputs(out: Path, rows: int) -> None:
    import numpy as np
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    csv_path, parquet_path = out / f"in_{rows}.csv", out / f"in_{rows}.parquet"
    if csv_path.exists() and parquet_path.exists():
        return
    rng = np.random.default_rng(7)
    with pacsv.CSVWriter(csv_path, pa.schema([(f, pa.float64()) for f in FEATURES])) as csv_out, \
            pq.ParquetWriter(parquet_path, pa.schema([(f, pa.float64()) for f in FEATURES])) as pq_out:
        for start in range(0, rows, 200_000):
            n = min(200_000, rows - start)
            block = np.round(rng.standard_normal((n, len(FEATURES))), 3)
            table = pa.table({f: block[:, i] for i, f in enumerate(FEATURES)})
            csv_out.write_table(table)
            pq_out.write_table(table)


def load_postgres(out: Path, rows: int) -> str:
    import psycopg
    from psycopg import sql

    table = f"bench_in_{rows}"
    with psycopg.connect(DSN, autocommit=True) as conn:
        if conn.execute("SELECT to_regclass(%s)", (table,)).fetchone()[0] is not None:
            if conn.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table))).fetchone()[0] == rows:
                return table
            conn.execute(sql.SQL("DROP TABLE {}").format(sql.Identifier(table)))
        cols = sql.SQL(", ").join(sql.SQL("{} DOUBLE PRECISION").format(sql.Identifier(f)) for f in FEATURES)
        conn.execute(sql.SQL("CREATE TABLE {} ({})").format(sql.Identifier(table), cols))
        with open(out / f"in_{rows}.csv", "rb") as f, conn.cursor().copy(
                sql.SQL("COPY {} FROM STDIN (FORMAT CSV, HEADER)").format(sql.Identifier(table))) as copy:
            while chunk := f.read(1 << 20):
                copy.write(chunk)
    return table


# -- one case, in a process of its own ------------------------------------------------------------

class _WithoutPandas(importlib.abc.MetaPathFinder):
    """``import pandas`` fails as where it is not installed (pyarrow then goes without it)."""

    def find_spec(self, name: str, path: Any, target: Any = None) -> None:
        if name == "pandas" or name.startswith("pandas."):
            raise ModuleNotFoundError(f"No module named {name!r} (bench/batch.py case runs without pandas)", name=name)


def run_case(model: Path, path: str, source: str, rows: int) -> dict[str, Any]:
    from urllib.parse import urlsplit

    import orjson

    from pmserve.batch import BatchService, JobRunner
    from pmserve.formats import load_model
    from pmserve.service import Tenant
    from pmserve.settings import Settings
    from pmserve.store import SQLiteStore

    work = Path(tempfile.mkdtemp(prefix="pmserve-batch-bench-"))
    atexit.register(shutil.rmtree, work, True)  # its input's copy and export: 280 MB a case at 1,000,000 rows
    settings = Settings.from_env(data_dir=work, job_workers=1)  # PMSERVE_* as a server reads them
    store = SQLiteStore(work)
    batch = BatchService(settings, store)
    tenant = Tenant("bench", "bench")
    with open(model, "rb") as f:
        batch.put_file(tenant, model.name, f)
    out_table = f"bench_out_{os.getpid()}"
    if path == "postgres":
        dsn = urlsplit(DSN)
        defs = {"pg": {"type": "PostgreSQL", "host": dsn.hostname, "port": dsn.port or 5432,
                       "db": dsn.path.lstrip("/"), "username": dsn.username, "password": dsn.password}}
        setting = {"inputs": [{"odbc": {"dbRef": "pg", "table": source}}],
                   "exports": [{"odbc": {"dbRef": "pg", "table": out_table, "insertMode": "Create"}}]}
        body: dict[str, Any] = {"dbDefinitions": defs}
    else:
        with open(source, "rb") as f:
            batch.put_file(tenant, Path(source).name, f)
        fmt = "CSV" if path == "csv" else "PARQUET"
        setting = {"inputs": [{"file": {"id": Path(source).name}}],
                   "exports": [{"file": {"id": f"out.{path}", "format": fmt}}]}
        body = {}
    body.update({"action": "BATCH_SCORE", "model": {"id": model.name}, "setting": setting})
    batch.submit(tenant, "bench", orjson.dumps(body), replace=False)
    # A server loads (or, the first time on a machine, compiles) the engine's kernels at start-up,
    # before it runs jobs; the case loads those its model uses, scoring one record before the clock
    # starts, so that no case pays for it (all of them would add about 27 MiB to its peak RSS).
    warm = load_model(model.name, model.read_bytes())
    warm.score({f.name: [0.0] for f in warm.input_fields}, errors="collect")
    del warm  # the job loads its own
    runner = JobRunner(settings, store)
    cpu_start = time.process_time()  # the job's CPU, all its threads (and the runner's polling)
    runner.start()
    while (job := store.get_job("bench", "bench")) is not None and not job.final:
        time.sleep(0.05)
    runner.stop()
    assert job is not None
    if path == "postgres":
        import psycopg

        with psycopg.connect(DSN, autocommit=True) as conn:
            conn.execute(f'DROP TABLE IF EXISTS "{out_table}"')
    seconds = ((job.finished_at or 0) - (job.started_at or 0)) / 1000
    cpu = time.process_time() - cpu_start
    return {"status": job.status, "failure": job.failure_msg, "rows": job.rows_done, "seconds": seconds,
            "rows_per_s": job.rows_done / seconds if seconds else 0.0, "peak_rss_mib": _hwm_mib(),
            "process_cpu_s": round(cpu, 2), "load_average": os.getloadavg()[0], "pandas": "pandas" in sys.modules}


def _hwm_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


# -- online latency while a job runs --------------------------------------------------------------

def online_latency(models: Path, rows: int) -> dict[str, Any]:
    import httpx
    import orjson

    from pmserve.service import Service
    from pmserve.settings import Settings
    from pmserve.store import SQLiteStore

    work = Path(tempfile.mkdtemp(prefix="pmserve-batch-bench-online-"))
    atexit.register(shutil.rmtree, work, True)
    service = Service(Settings(data_dir=work), SQLiteStore(work))
    key = service.create_key("bench")
    service.close()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "PMSERVE_DATA_DIR": str(work), "PMSERVE_PORT": str(port), "PMSERVE_LOG_LEVEL": "warning"}
    server = subprocess.Popen([sys.executable, "-m", "pmserve", "serve"], env=env, stderr=subprocess.DEVNULL)
    url, params = f"http://127.0.0.1:{port}", {"accesskey": key}
    try:
        with httpx.Client(base_url=url, timeout=60) as client:
            for _ in range(600):  # a first start on a machine compiles the engine's kernels
                try:
                    if client.get("/ready").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                time.sleep(0.1)
            rf = (models / "rf100.pmml").read_bytes()
            client.put("/pm/v1/model/rf100", params=params, files={"model_file": ("rf100.pmml", rf)})
            client.put("/pm/v1/file/rf100.pmml", params=params, files={"file": ("rf100.pmml", rf)})
            with open(models / f"in_{rows}.csv", "rb") as f:
                client.put("/pm/v1/file/in.csv", params=params, files={"file": ("in.csv", f)})
            one = {"header": FEATURES, "data": [[0.1] * 20]}

            def sample(n: int) -> list[float]:
                took = []
                for _ in range(n):
                    t0 = time.perf_counter()
                    client.post("/pm/v1/score/rf100", params=params, json=one).raise_for_status()
                    took.append((time.perf_counter() - t0) * 1000)
                return took

            sample(50)
            idle = sample(500)
            job = {"action": "BATCH_SCORE", "model": {"id": "rf100.pmml"},
                   "setting": {"inputs": [{"file": {"id": "in.csv"}}]}}
            client.post("/pm/v1/jobs/j", params=params, content=orjson.dumps(job)).raise_for_status()
            while client.get("/pm/v1/jobs/j/status", params=params).json()["jobStatus"] == "PENDING":
                time.sleep(0.05)
            busy = sample(500)
            during = client.get("/pm/v1/jobs/j/status", params=params).json()["jobStatus"]
    finally:
        server.terminate()
        server.wait(30)

    def stats(xs: list[float]) -> dict[str, float]:
        xs = sorted(xs)
        return {"p50_ms": statistics.median(xs), "p99_ms": xs[int(len(xs) * 0.99) - 1]}
    return {"idle": stats(idle), "during_job": stats(busy), "job_still_running": during == "RUNNING"}


# -- driver ---------------------------------------------------------------------------------------

def run_all(models: Path, rows: int, names: list[str], paths: list[str], online: bool, with_pandas: bool) -> None:
    make_inputs(models, rows)
    pg_table = load_postgres(models, rows) if "postgres" in paths else None
    results: dict[str, Any] = {"rows": rows, "cpus": os.cpu_count(), "cases": {}}
    for name in names:
        for path in paths:
            source = pg_table if path == "postgres" else str(models / f"in_{rows}.{path}")
            cmd = [sys.executable, __file__, "case", "--model", str(models / f"{name}.pmml"), "--path", path,
                   "--source", str(source), "--rows", str(rows), *(["--with-pandas"] if with_pandas else [])]
            done = subprocess.run(cmd, capture_output=True, text=True, check=True)
            case = json.loads(done.stdout.strip().splitlines()[-1])
            results["cases"][f"{name}/{path}"] = case
            print(f"{name:7} {path:9} {case['status']:8} {case['rows_per_s']:>12,.0f} rows/s "
                  f"{case['seconds']:7.2f} s  CPU {case['process_cpu_s']:5.2f} s  peak RSS "
                  f"{case['peak_rss_mib']:6.0f} MiB  load {case['load_average']:.1f}", flush=True)
    if online:
        results["online"] = online_latency(models, rows)
        print(json.dumps(results["online"]), flush=True)
    (models / "batch.json").write_text(json.dumps(results, indent=2))
    print(markdown(results))


def markdown(results: dict[str, Any]) -> str:
    lines = ["| Model | Path | rows/s | seconds | CPU of the job (s) | peak RSS (MiB) | load average |",
             "|---|---|---:|---:|---:|---:|---:|"]
    for key, case in results["cases"].items():
        name, path = key.split("/")
        label = {"csv": "CSV → CSV", "parquet": "Parquet → Parquet", "postgres": "PostgreSQL → PostgreSQL"}[path]
        lines.append(f"| {MODELS[name]} | {label} | {case['rows_per_s']:,.0f} | {case['seconds']:.2f} | "
                     f"{case['process_cpu_s']:.2f} | {case['peak_rss_mib']:.0f} | {case['load_average']:.1f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    m = sub.add_parser("models")
    m.add_argument("--out", type=Path, default=HERE / "out" / "batch")
    r = sub.add_parser("run")
    r.add_argument("--models", type=Path, default=HERE / "out" / "batch")
    r.add_argument("--rows", type=int, default=1_000_000)
    r.add_argument("--skip-postgres", action="store_true", help="leave out the PostgreSQL cases")
    r.add_argument("--paths", default=",".join(PATHS), help=f"the paths to run, of {','.join(PATHS)}")
    r.add_argument("--model-names", default=",".join(MODELS), help=f"the models to run, of {','.join(MODELS)}")
    r.add_argument("--skip-online", action="store_true", help="leave out online latency during a job")
    r.add_argument("--with-pandas", action="store_true", help="let the cases import pandas (see above)")
    c = sub.add_parser("case")
    c.add_argument("--model", type=Path, required=True)
    c.add_argument("--path", choices=PATHS, required=True)
    c.add_argument("--source", required=True)
    c.add_argument("--rows", type=int, required=True)
    c.add_argument("--with-pandas", action="store_true")
    args = parser.parse_args()
    if args.command == "models":
        make_models(args.out)
    elif args.command == "run":
        paths = [p for p in args.paths.split(",") if p in PATHS and not (args.skip_postgres and p == "postgres")]
        names = [n for n in args.model_names.split(",") if n in MODELS]
        run_all(args.models, args.rows, names, paths, not args.skip_online, args.with_pandas)
    else:
        if not args.with_pandas:
            sys.meta_path.insert(0, _WithoutPandas())
        print(json.dumps(run_case(args.model, args.path, args.source, args.rows)))


if __name__ == "__main__":
    main()
