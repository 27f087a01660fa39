"""An open-loop HTTP load generator for loopback benchmarks (its own process; aiohttp on uvloop).

    python bench/loadgen.py rate --url URL --body FILE --rate 500 --seconds 10
    python bench/loadgen.py bulk --url URL --body FILE --requests 5 --rows 10000

``rate`` sends POSTs at fixed intervals whatever the server's pace; a request's latency counts
from the moment it was due, so a server that falls behind shows its queueing in p50/p99 instead
of quietly lowering the rate (coordinated omission).  At most ``--max-inflight`` requests are open;
one due while that many are open is counted as an error (``"client_overflow"``).  ``bulk`` sends
the requests one after another and reports rows/s.  Only loopback URLs are accepted; each run is
bounded in count and time.  The result is one JSON object on stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import aiohttp
import numpy as np

_LOOPBACK = ("127.0.0.1", "localhost", "::1")


def _check_loopback(url: str) -> None:
    host = urlparse(url).hostname or ""
    if host not in _LOOPBACK and not host.startswith("127."):
        raise SystemExit(f"--url must point at this machine (127.0.0.1); got host {host!r}")


async def _fixed_rate(url: str, body: bytes, rate: float, seconds: float, max_inflight: int) -> dict[str, Any]:
    total = int(rate * seconds)
    latencies: list[float] = []
    # From the moment the client started the request: without the client's own lateness (its
    # event loop wakes timers at a millisecond's granularity), for reading beside the above.
    service: list[float] = []
    errors: dict[str, int] = {}
    inflight = 0
    headers = {"Content-Type": "application/json"}
    timeout = aiohttp.ClientTimeout(total=30)
    connector = aiohttp.TCPConnector(limit=max_inflight, force_close=False)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:

        async def one(due: float) -> None:
            nonlocal inflight
            sent = time.perf_counter()
            try:
                async with session.post(url, data=body, headers=headers) as reply:
                    await reply.read()
                    if reply.status != 200:
                        errors[f"http_{reply.status}"] = errors.get(f"http_{reply.status}", 0) + 1
                        return
                done = time.perf_counter()
                latencies.append(done - due)
                service.append(done - sent)
            except (TimeoutError, aiohttp.ClientError) as exc:
                errors[type(exc).__name__] = errors.get(type(exc).__name__, 0) + 1
            finally:
                inflight -= 1

        # A few requests first: connections opened, server code paths warm.
        for _ in range(5):
            inflight += 1
            await one(time.perf_counter())
        latencies.clear()
        service.clear()
        errors.clear()
        tasks: list[asyncio.Task[None]] = []
        start = time.perf_counter()
        for i in range(total):
            due = start + i / rate
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            if inflight >= max_inflight:
                errors["client_overflow"] = errors.get("client_overflow", 0) + 1
                continue
            inflight += 1
            tasks.append(asyncio.create_task(one(due)))
        await asyncio.gather(*tasks)
        elapsed = time.perf_counter() - start
    lat = np.asarray(latencies) * 1e3
    sent_lat = np.asarray(service) * 1e3
    return {
        "target_rate": rate,
        "sent": total,
        "ok": len(latencies),
        "errors": sum(errors.values()),
        "error_kinds": errors,
        "achieved_rate": len(latencies) / elapsed if elapsed > 0 else 0.0,
        "p50_ms": float(np.percentile(lat, 50)) if len(lat) else None,
        "p99_ms": float(np.percentile(lat, 99)) if len(lat) else None,
        "p50_sent_ms": float(np.percentile(sent_lat, 50)) if len(sent_lat) else None,
        "p99_sent_ms": float(np.percentile(sent_lat, 99)) if len(sent_lat) else None,
        "seconds": elapsed,
    }


async def _bulk(url: str, body: bytes, requests: int, rows: int) -> dict[str, Any]:
    headers = {"Content-Type": "application/json"}
    timeout = aiohttp.ClientTimeout(total=120)
    times: list[float] = []
    errors = 0
    async with aiohttp.ClientSession(timeout=timeout) as session:
        for i in range(requests + 1):
            t0 = time.perf_counter()
            async with session.post(url, data=body, headers=headers) as reply:
                await reply.read()
                status = reply.status
            if i == 0:
                continue  # warm-up
            if status != 200:
                errors += 1
                continue
            times.append(time.perf_counter() - t0)
    median = float(np.median(times)) if times else None
    return {"requests": requests, "rows": rows, "errors": errors, "median_s": median,
            "rows_per_s": rows / median if median else None}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("mode", choices=["rate", "bulk"])
    ap.add_argument("--url", required=True)
    ap.add_argument("--body", required=True, help="file holding the JSON request body")
    ap.add_argument("--rate", type=float, default=100.0)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--max-inflight", type=int, default=256)
    ap.add_argument("--requests", type=int, default=5)
    ap.add_argument("--rows", type=int, default=10_000)
    args = ap.parse_args()
    _check_loopback(args.url)
    if not (0 < args.rate <= 5000 and 0 < args.seconds <= 60 and 0 < args.requests <= 50):
        raise SystemExit("--rate must be at most 5000 req/s, --seconds at most 60, --requests at most 50")
    body = Path(args.body).read_bytes()
    try:
        from uvloop import run
    except ImportError:
        run = asyncio.run
    if args.mode == "rate":
        result = run(_fixed_rate(args.url, body, args.rate, args.seconds, args.max_inflight))
    else:
        result = run(_bulk(args.url, body, args.requests, args.rows))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
