"""pmserve's Prometheus metrics: one place that names them, for the HTTP layer and the core.

With several worker processes, ``pmserve serve`` points ``PROMETHEUS_MULTIPROC_DIR`` at a fresh
directory before the workers start; prometheus-client then keeps every value in per-process files
there, and :func:`exposition` sums them, so a scrape through any worker sees the whole server.
Nothing here knows about HTTP; the web layer only serves :func:`exposition`.
"""

from __future__ import annotations

import os
import platform
import time
from collections.abc import Iterator
from contextlib import contextmanager
from importlib.metadata import PackageNotFoundError, version
from typing import Any, TypeVar, cast

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
CONTENT_TYPE = CONTENT_TYPE_LATEST

_LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

REQUESTS = Counter(
    "pmserve_requests_total", "HTTP requests by endpoint, method, status and the /pm/v1 reply's flag",
    ["endpoint", "method", "status", "flag"])
REQUEST_SECONDS = Histogram(
    "pmserve_request_duration_seconds", "Time from request to reply, by endpoint", ["endpoint"],
    buckets=_LATENCY_BUCKETS)
SCORE_SECONDS = Histogram(
    "pmserve_score_duration_seconds", "Time to score one input table, by tenant and context id",
    ["tenant", "model"], buckets=_LATENCY_BUCKETS)
ROWS_SCORED = Counter("pmserve_rows_scored_total", "Records scored, by tenant and context id", ["tenant", "model"])
SCORE_FAILURES = Counter(
    "pmserve_score_failures_total", "Score requests refused (flag:false), by tenant and context id",
    ["tenant", "model"])
DEPLOYS = Counter("pmserve_deploys_total", "Deploy and refresh attempts by outcome (success, failed)", ["outcome"])
MODELS_LOADED = Gauge("pmserve_models_loaded", "Compiled models held in memory (the most of any worker)",
                      multiprocess_mode="livemax")
STORE_SECONDS = Histogram(
    "pmserve_store_duration_seconds", "Time of store operations on the request path, by operation",
    ["operation"], buckets=_LATENCY_BUCKETS)
BUILD_INFO = Gauge("pmserve_build_info", "pmserve's version and Python's, always 1", ["version", "python"],
                   multiprocess_mode="livemax")


def package_version() -> str:
    """pmserve's installed version."""
    try:
        return version("pmserve")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree without metadata
        return "unknown"


BUILD_INFO.labels(package_version(), platform.python_version()).set(1)


_T = TypeVar("_T", Counter, Histogram)
_CHILDREN: dict[tuple[int, tuple[str, ...]], Any] = {}


def child(metric: _T, *labels: str) -> _T:
    """``metric.labels(*labels)``, kept: the request path asks for the same few on every request
    and prometheus_client checks and locks on each ``labels`` call (children live as long anyway)."""
    key = (id(metric), labels)
    found = _CHILDREN.get(key)
    if found is None:
        found = _CHILDREN[key] = metric.labels(*labels)
    return cast(_T, found)


@contextmanager
def timed(histogram: Histogram, *labels: str) -> Iterator[None]:
    """Observe the time the ``with`` body takes (also when it raises)."""
    start = time.perf_counter()
    try:
        yield
    finally:
        histogram.labels(*labels).observe(time.perf_counter() - start)


def exposition() -> bytes:
    """The text format of every metric, summed over worker processes when there are several."""
    if os.environ.get(MULTIPROC_ENV):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry)
    return generate_latest(REGISTRY)

