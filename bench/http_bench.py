"""HTTP benchmark: pmserve's ``/pm/v1/score`` against MLServer serving the same scikit-learn model.

    python bench/http_bench.py --zoo bench/out --model logreg --result http.json [--quick]

Each server runs alone on loopback with one worker process, as shipped (default logging), its
data in a temporary folder: ``pmserve serve`` with the embedded store, the model deployed through
``PUT /pm/v1/model/<id>``; ``mlserver start`` with ``mlserver_sklearn`` on the fitted estimator.
``loadgen.py``, in its own process, sends 1-record requests at fixed rates and 10,000-row requests;
with ``--wrk SECONDS``, Debian's ``wrk`` then sends 1-record requests as fast as 4 connections
allow (one thread, after 3 s of warm-up): the closed-loop throughput and its latency.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd

HERE = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent
#: The Python that runs loadgen.py (it needs aiohttp): this one unless --client-python says otherwise.
CLIENT_PYTHON = sys.executable


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _wait_ready(url: str, proc: subprocess.Popen[bytes], seconds: float = 90.0) -> None:
    import urllib.request

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the server exited with status {proc.returncode} before it was ready ({url})")
        try:
            with urllib.request.urlopen(url, timeout=2) as reply:
                if reply.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"the server was not ready at {url} within {seconds:.0f} s")


@contextmanager
def _server(cmd: list[str], env: dict[str, str], log: Path, ready_url: str) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as out:
        # Its own process group, so that stopping it ends its worker processes too.
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            _wait_ready(ready_url, proc)
            yield proc
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(20)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()


def _loadgen(mode: str, url: str, body: Path, **opts: Any) -> dict[str, Any]:
    cmd = [CLIENT_PYTHON, str(HERE / "loadgen.py"), mode, "--url", url, "--body", str(body)]
    for k, v in opts.items():
        cmd += [f"--{k.replace('_', '-')}", str(v)]
    done = subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=180)
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def _wrk(url: str, body: Path, seconds: float, pid: int, connections: int = 4) -> dict[str, Any]:
    """``wrk -t1 -c<connections>`` POSTing ``body``: requests/s, latency percentiles (ms), errors, and
    the CPU time the server process ``pid`` took per request (on a shared machine, the steadier figure)."""
    wrk = shutil.which("wrk")
    if wrk is None:
        return {"error": "wrk is not installed"}
    script = body.with_suffix(".lua")
    script.write_text(f'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
                      f'wrk.body = io.open({json.dumps(str(body))}, "rb"):read("*a")\n')
    common = [wrk, "-t1", f"-c{connections}", "-s", str(script), "--latency"]
    subprocess.run([*common, "-d3s", url], check=True, capture_output=True, timeout=60)  # warm-up
    cpu = _cpu_seconds(pid)
    done = subprocess.run([*common, f"-d{seconds:g}s", url], check=True, capture_output=True, text=True,
                          timeout=seconds + 60)
    result = _wrk_result(done.stdout)
    if result.get("requests"):
        result["server_cpu_us"] = (_cpu_seconds(pid) - cpu) / result["requests"] * 1e6
    return result


def _cpu_seconds(pid: int) -> float:
    """User and system CPU time of process ``pid`` so far (Linux' /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


_UNITS_MS = {"us": 1e-3, "ms": 1.0, "s": 1e3}


def _wrk_result(text: str) -> dict[str, Any]:
    """The figures of wrk's report (``--latency``): req/s, p50/p90/p99 in ms, non-2xx and socket errors."""
    out: dict[str, Any] = {"errors": 0}
    for line in text.splitlines():
        words = line.split()
        if "requests in" in line:
            out["requests"] = int(words[0])
        elif line.startswith("Requests/sec:"):
            out["rps"] = float(words[1])
        elif len(words) == 2 and words[0] in ("50%", "90%", "99%"):
            number = words[1].rstrip("usm")
            out[f"p{words[0][:-1]}_ms"] = float(number) * _UNITS_MS[words[1][len(number):]]
        elif line.strip().startswith("Non-2xx"):
            out["errors"] += int(words[-1])
        elif line.strip().startswith("Socket errors:"):
            out["errors"] += sum(int(w.rstrip(",")) for w in words[3::2])
    return out


def _bodies(tmp: Path, frame: pd.DataFrame, rows: int) -> dict[str, Path]:
    """Request bodies for 1 record and ``rows`` records, in each server's own protocol."""
    one, many = frame.head(1), frame.head(rows)
    paths: dict[str, Path] = {}
    for tag, df in (("one", one), ("many", many)):
        pm = {"tablename": "scoreInput", "header": list(df.columns), "data": df.to_numpy().tolist()}
        paths[f"pmserve_{tag}"] = tmp / f"pmserve_{tag}.json"
        paths[f"pmserve_{tag}"].write_text(json.dumps(pm))
        v2 = {"inputs": [{"name": "input-0", "shape": list(df.shape), "datatype": "FP64",
                          "data": df.to_numpy().ravel().tolist()}],
              "outputs": [{"name": "predict"}, {"name": "predict_proba"}]}
        paths[f"mlserver_{tag}"] = tmp / f"mlserver_{tag}.json"
        paths[f"mlserver_{tag}"].write_text(json.dumps(v2))
    return paths


def _plan(quick: bool) -> dict[str, Any]:
    if quick:
        return {"rates": [100], "seconds": 2.0, "bulk_requests": 1, "bulk_rows": 1000}
    return {"rates": [100, 500, 1000], "seconds": 10.0, "bulk_requests": 5, "bulk_rows": 10_000}


def _measure(url: str, bodies: dict[str, Path], server: str, plan: dict[str, Any], pid: int) -> dict[str, Any]:
    out: dict[str, Any] = {"rates": []}
    for rate in plan["rates"]:
        out["rates"].append(_loadgen("rate", url, bodies[f"{server}_one"], rate=rate, seconds=plan["seconds"]))
    out["bulk"] = _loadgen("bulk", url, bodies[f"{server}_many"], requests=plan["bulk_requests"],
                           rows=plan["bulk_rows"])
    if plan.get("wrk_seconds"):
        out["wrk"] = _wrk(url, bodies[f"{server}_one"], plan["wrk_seconds"], pid)
    return out


def bench_pmserve(tmp: Path, zoo: Path, model: str, bodies: dict[str, Path], plan: dict[str, Any]) -> dict[str, Any]:
    import httpx

    data = tmp / "pmserve-data"
    env = {**os.environ, "PMSERVE_DATA_DIR": str(data), "PMSERVE_WORKERS": "1"}
    env.pop("PMSERVE_STORE_URL", None)
    made = subprocess.run([str(BIN / "pmserve"), "keys", "create", "--name", "bench"], env=env, check=True,
                          capture_output=True, text=True)
    key = made.stdout.strip().splitlines()[-1].strip()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    cmd = [str(BIN / "pmserve"), "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"]
    # /ready, not /health: the server listens at once and warms its kernels up on a thread.
    with _server(cmd, env, tmp / "pmserve.log", f"{base}/ready") as proc:
        with (zoo / f"{model}.pmml").open("rb") as f:
            reply = httpx.put(f"{base}/pm/v1/model/{model}", params={"accesskey": key},
                              files={"model_file": (f"{model}.pmml", f, "application/xml")}, timeout=120)
        if reply.status_code not in (200, 201):
            raise RuntimeError(f"pmserve refused the deploy of {model}: {reply.status_code} {reply.text[:300]}")
        url = f"{base}/pm/v1/score/{model}?accesskey={key}"
        check = httpx.post(url, content=bodies["pmserve_one"].read_bytes(),
                           headers={"Content-Type": "application/json"}, timeout=30)
        if check.status_code != 200:
            raise RuntimeError(f"pmserve's score reply was {check.status_code}: {check.text[:300]}")
        return _measure(url, bodies, "pmserve", plan, proc.pid)


def bench_mlserver(tmp: Path, zoo: Path, model: str, bodies: dict[str, Path], plan: dict[str, Any]) -> dict[str, Any]:
    import httpx
    import joblib

    if shutil.which("mlserver", path=str(BIN)) is None:
        return {"error": "mlserver is not installed in this environment"}
    root = tmp / "mlserver"
    folder = root / model
    folder.mkdir(parents=True)
    pipe = joblib.load(zoo / f"{model}.joblib")
    # MLServer gets the plain fitted estimator, as a scikit-learn user would save it.
    estimator = pipe.steps[-1][1] if len(pipe.steps) == 1 else pipe
    joblib.dump(estimator, folder / "model.joblib")
    (folder / "model-settings.json").write_text(json.dumps({
        "name": model, "implementation": "mlserver_sklearn.SKLearnModel",
        "parameters": {"uri": "./model.joblib"}}))
    port, grpc, metrics = free_port(), free_port(), free_port()
    # One process, as pmserve's single worker: inference runs in the server process itself.
    (root / "settings.json").write_text(json.dumps({
        "http_port": port, "grpc_port": grpc, "metrics_port": metrics, "parallel_workers": 0,
        "host": "127.0.0.1"}))
    base = f"http://127.0.0.1:{port}"
    cmd = [str(BIN / "mlserver"), "start", str(root)]
    with _server(cmd, dict(os.environ), tmp / "mlserver.log", f"{base}/v2/models/{model}/ready") as proc:
        url = f"{base}/v2/models/{model}/infer"
        check = httpx.post(url, content=bodies["mlserver_one"].read_bytes(),
                           headers={"Content-Type": "application/json"}, timeout=30)
        if check.status_code != 200:
            raise RuntimeError(f"MLServer's infer reply was {check.status_code}: {check.text[:300]}")
        return _measure(url, bodies, "mlserver", plan, proc.pid)


def run(zoo: Path, model: str, quick: bool, servers: list[str], wrk_seconds: float = 0.0,
        rates: list[int] | None = None) -> dict[str, Any]:
    meta = json.loads((zoo / "zoo.json").read_text())[model]
    if meta["dataset"] != "numeric":
        raise SystemExit(f"the HTTP benchmark takes a model of the numeric dataset; {model!r} is not")
    plan = _plan(quick)
    plan["wrk_seconds"] = wrk_seconds
    if rates:
        plan["rates"] = rates
    sizes = sorted(int(p.stem.split("_")[1]) for p in zoo.glob("numeric_*.csv"))
    frame = pd.read_csv(zoo / f"numeric_{sizes[-1]}.csv")
    plan["bulk_rows"] = min(plan["bulk_rows"], len(frame))
    result: dict[str, Any] = {"model": model, "workers": 1, "plan": plan}
    with tempfile.TemporaryDirectory(prefix="pmserve-http-bench-") as name:
        tmp = Path(name)
        bodies = _bodies(tmp, frame, plan["bulk_rows"])
        for server, bench in (("pmserve", bench_pmserve), ("mlserver", bench_mlserver)):
            if server not in servers:
                continue
            try:
                result[server] = bench(tmp, zoo, model, bodies, plan)
            except Exception as exc:
                log = tmp / f"{server}.log"
                tail = log.read_text(errors="replace")[-1500:] if log.exists() else ""
                result[server] = {"error": f"{type(exc).__name__}: {exc}"[:400], "log_tail": tail}
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--zoo", required=True)
    ap.add_argument("--model", default="logreg")
    ap.add_argument("--result", required=True)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--servers", default="pmserve,mlserver")
    ap.add_argument("--wrk", type=float, default=0.0, metavar="SECONDS",
                    help="also run wrk -t1 -c4 for this many seconds (0: not)")
    ap.add_argument("--rates", default="", help="the fixed rates (req/s), comma-separated (default: the plan's)")
    ap.add_argument("--client-python", default=sys.executable,
                    help="the Python running loadgen.py, one with aiohttp (default: this one)")
    args = ap.parse_args()
    global CLIENT_PYTHON
    CLIENT_PYTHON = args.client_python
    rates = [int(r) for r in args.rates.split(",") if r]
    result = run(Path(args.zoo), args.model, args.quick, args.servers.split(","), args.wrk, rates)
    Path(args.result).write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
