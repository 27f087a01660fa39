"""Hostile payloads against a real ``pmserve serve``: peak RSS and ``/health`` latency (issue #10).

For each payload a fresh server is started (``python -m pmserve serve``, one worker), a thread
polls ``/health`` every 50 ms while the hostile request runs, and afterwards the server's peak RSS
(VmHWM from /proc) is read.  ``--src DIR`` runs the server from another source tree (e.g. an
export of the main branch) to measure "before".

    python bench/hostile.py [--src /tmp/main/src] [--payload attrs|gzip|body] [--scale MB]
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

HEADER = """<?xml version="1.0"?>
<PMML xmlns="http://www.dmg.org/PMML-4_4" version="4.4"><Header{attrs}>{comment}</Header>
<DataDictionary><DataField name="x" optype="continuous" dataType="double"/>
<DataField name="y" optype="continuous" dataType="double"/></DataDictionary>
<RegressionModel functionName="regression"><MiningSchema><MiningField name="x"/>
<MiningField name="y" usageType="target"/></MiningSchema>
<RegressionTable intercept="1"><NumericPredictor name="x" coefficient="1"/></RegressionTable>
</RegressionModel></PMML>"""


def model(attrs: int = 0, comment_bytes: int = 0) -> bytes:
    text = " " + " ".join(f'a{i}="1"' for i in range(attrs)) if attrs else ""
    comment = ""
    if comment_bytes:
        block = random.Random(1).randbytes(6 * 1024).hex()  # repeats inside gzip's window: ~150x
        comment = "<!--" + block * (comment_bytes // len(block)) + "-->"
    return HEADER.format(attrs=text, comment=comment).encode()


def slowloris(url: str, port: int, connections: int, seconds: float) -> dict[str, object]:
    """Hold ``connections`` connections sending a header line every 5 s; poll /health meanwhile."""
    socks = []
    for _ in range(connections):
        s = socket.create_connection(("127.0.0.1", port))
        s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n")
        socks.append(s)
    statuses: dict[str, int] = {}
    first_ok: float | None = None
    t0 = time.perf_counter()
    last_trickle = t0
    while time.perf_counter() - t0 < seconds:
        if time.perf_counter() - last_trickle > 5:
            last_trickle = time.perf_counter()
            alive = 0
            for s in socks:
                try:
                    s.sendall(b"X-a: b\r\n")
                    alive += 1
                except OSError:
                    pass
            statuses[f"open@{round(last_trickle - t0)}s"] = alive
        try:
            code = str(httpx.get(f"{url}/health", timeout=2).status_code)
        except httpx.TransportError:
            code = "no reply"
        statuses[code] = statuses.get(code, 0) + 1
        if code == "200" and first_ok is None:
            first_ok = time.perf_counter() - t0
        time.sleep(0.5)
    for s in socks:
        s.close()
    return {"payload": f"slowloris x{connections}", "health_replies": statuses,
            "first_200_after_s": None if first_ok is None else round(first_ok, 1)}


def payload(kind: str, scale_mb: float) -> tuple[str, dict[str, object]]:
    if kind == "attrs":
        return "deploy", {"files": {"model_file": ("m.pmml", model(attrs=100_000))}}
    if kind == "gzip":
        packed = gzip.compress(model(comment_bytes=int(scale_mb * 2**20))) + b"\0trailing"
        return "deploy", {"files": {"model_file": ("m.pmml.gz", packed)}}
    rows = [[1.0, "p" * 100]] * int(scale_mb * 2**20 / 110)
    return "score", {"content": json.dumps({"header": ["x", "pad"], "data": rows}).encode(),
                     "headers": {"content-type": "application/json"}}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def run(kind: str, scale_mb: float, src: str | None) -> dict[str, object]:
    data = Path(tempfile.mkdtemp(prefix="pmserve-hostile-"))
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PMSERVE_")}
    env.update({"PMSERVE_DATA_DIR": str(data), "PMSERVE_PORT": str(port), "PMSERVE_LOG_LEVEL": "warning"})
    if src:
        env["PYTHONPATH"] = src
    out = subprocess.run([sys.executable, "-m", "pmserve", "keys", "create", "--name", "bench"], env=env,
                         check=True, capture_output=True, text=True).stdout
    key = out.strip().splitlines()[-1]
    server = subprocess.Popen([sys.executable, "-m", "pmserve", "serve"], env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        httpx.put(f"{url}/pm/v1/model/m", params={"accesskey": key},
                  files={"model_file": ("m.pmml", model())}, timeout=30)
        if kind == "slowloris":
            return slowloris(url, port, 1100, 45.0)
        endpoint, body = payload(kind, scale_mb)
        latencies: list[float] = []
        stop = threading.Event()

        def poll() -> None:
            with httpx.Client(timeout=900) as c:
                while not stop.is_set():
                    t = time.perf_counter()
                    c.get(f"{url}/health")
                    latencies.append(time.perf_counter() - t)
                    time.sleep(0.05)

        poller = threading.Thread(target=poll, daemon=True)
        poller.start()
        t0 = time.perf_counter()
        if endpoint == "deploy":
            reply = httpx.put(f"{url}/pm/v1/model/h", params={"accesskey": key}, timeout=900, **body)  # type: ignore[arg-type]
        else:
            reply = httpx.post(f"{url}/pm/v1/score/m", params={"accesskey": key}, timeout=900, **body)  # type: ignore[arg-type]
        took = time.perf_counter() - t0
        time.sleep(0.3)
        stop.set()
        poller.join(900)
        status = Path(f"/proc/{server.pid}/status").read_text()
        hwm = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM"))
        return {"payload": kind, "request_s": round(took, 2), "reply": reply.text[:160],
                "peak_rss_mib": round(hwm / 1024), "health_max_ms": round(max(latencies) * 1000, 1),
                "health_p50_ms": round(sorted(latencies)[len(latencies) // 2] * 1000, 1)}
    finally:
        server.kill()
        server.wait()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--src", help="source tree to run the server from (PYTHONPATH)")
    parser.add_argument("--payload", choices=["attrs", "gzip", "body", "slowloris"], action="append")
    parser.add_argument("--scale", type=float, default=50.0, help="MB of inflated XML / score body")
    args = parser.parse_args()
    for kind in args.payload or ["attrs", "gzip", "body"]:
        print(json.dumps(run(kind, args.scale, args.src)), flush=True)


if __name__ == "__main__":
    main()
