"""pmserve's settings: one frozen, typed object read once from ``PMSERVE_*`` environment variables.

Every part of pmserve receives the :class:`Settings` object explicitly; nothing else reads the
environment.  A bad value stops start-up with a message naming the variable, the value and what
was expected.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from pmserve.errors import ConfigurationError

_T = TypeVar("_T")

LOG_LEVELS = ("critical", "error", "warning", "info", "debug")


@dataclass(frozen=True)
class Settings:
    """Everything pmserve can be configured with (defaults suit a laptop)."""

    data_dir: Path = Path("pmserve-data")
    host: str = "127.0.0.1"
    port: int = 8080
    max_upload_mb: float = 64.0
    workers: int = 1
    log_level: str = "info"
    store_url: str | None = None  # postgresql://... ; None = the embedded SQLite store in data_dir
    keep_versions: int = 5
    # PostgreSQL store: a change made through another replica (refresh, delete, key revoked) is
    # seen within this many seconds (usually milliseconds); score requests never query for it.
    store_stale_s: float = 1.0
    # SPSS Modeler streams (.str): what reading one archive may cost (see StreamLimits).
    str_max_entries: int = 10_000
    str_max_inflated_mb: float = 256.0
    str_max_ratio: int = 200
    str_max_xml_mb: float = 64.0
    str_max_depth: int = 256
    clem_max_length: int = 10_000  # characters in one CLEM expression of an SPSS stream node
    clem_max_depth: int = 64  # nesting of one CLEM expression (brackets, function calls, if ... endif)
    # -- batch files and jobs (reference §1.2, §2.8) --
    max_file_mb: float = 10240.0  # largest file accepted by PUT /pm/v1/file (streamed to disk)
    job_workers: int = 2  # jobs run at once per server process (a bounded thread pool); 0 = run none here
    job_chunk_rows: int = 65536  # rows read, scored and written at once (memory is flat in input size)
    job_stale_seconds: float = 10.0  # a running job silent this long is taken over by another runner
    job_max_attempts: int = 3  # runs of a job interrupted by crashes before it is marked FAILED
    job_error_samples: int = 5  # per-row errors quoted in a job's failureMsg
    job_sqlite_dir: Path | None = None  # where SQLite databases named by jobs may live; None = refused
    spark_master: str | None = None  # run every job on this Spark master (needs pmserve.spark)
    # -- limits on hostile input (README "Limits"); each is checked before the step it protects --
    max_score_body_mb: float = 32.0
    max_score_rows: int = 100_000
    max_score_cells: int = 5_000_000
    max_xml_depth: int = 1000
    max_xml_attributes: int = 256
    max_xml_elements: int = 20_000_000
    max_expression_depth: int = 100
    max_derived_depth: int = 100
    deploy_timeout_s: float = 300.0
    heavy_threads: int = 4  # parse, compile, big decodes and big scores run on these, off the event loop
    # A score request is scored on the event loop when its rows times the time one record of the
    # model took at load fit in this budget (a thread hop costs more); larger ones go to threads.
    inline_score_us: float = 250.0
    # -- the HTTP server (uvicorn) --
    timeout_keep_alive_s: float = 5.0
    request_timeout_s: float = 30.0  # a request's headers must arrive within this; its body may not stall longer
    limit_concurrency: int = 1000
    max_header_kb: int = 64

    def __post_init__(self) -> None:
        _check("PMSERVE_PORT", self.port, lambda v: 1 <= v <= 65535, "an integer from 1 to 65535")
        _check("PMSERVE_MAX_UPLOAD_MB", self.max_upload_mb, lambda v: v > 0, "a positive number")
        _check("PMSERVE_WORKERS", self.workers, lambda v: 1 <= v <= 256, "an integer from 1 to 256")
        _check("PMSERVE_LOG_LEVEL", self.log_level, lambda v: v in LOG_LEVELS,
               f"one of {', '.join(LOG_LEVELS)}")
        _check("PMSERVE_STORE_STALE_S", self.store_stale_s, lambda v: 0.05 <= v <= 3600,
               "a number of seconds from 0.05 to 3600")
        _check("PMSERVE_KEEP_VERSIONS", self.keep_versions, lambda v: 0 <= v <= 1000,
               "an integer from 0 to 1000")
        _check("PMSERVE_MAX_FILE_MB", self.max_file_mb, lambda v: v > 0, "a positive number")
        _check("PMSERVE_JOB_WORKERS", self.job_workers, lambda v: 0 <= v <= 64, "an integer from 0 to 64")
        _check("PMSERVE_JOB_CHUNK_ROWS", self.job_chunk_rows, lambda v: 16 <= v <= 4_194_304,
               "an integer from 16 to 4194304")
        _check("PMSERVE_JOB_STALE_SECONDS", self.job_stale_seconds, lambda v: 1 <= v <= 86_400,
               "a number of seconds from 1 to 86400")
        _check("PMSERVE_JOB_MAX_ATTEMPTS", self.job_max_attempts, lambda v: 1 <= v <= 100,
               "an integer from 1 to 100")
        _check("PMSERVE_JOB_ERROR_SAMPLES", self.job_error_samples, lambda v: 0 <= v <= 100,
               "an integer from 0 to 100")
        _check("PMSERVE_HOST", self.host, lambda v: bool(v.strip()), "a host name or address")
        _check("PMSERVE_STR_MAX_ENTRIES", self.str_max_entries, lambda v: v >= 2, "an integer of at least 2")
        _check("PMSERVE_STR_MAX_INFLATED_MB", self.str_max_inflated_mb, lambda v: v > 0, "a positive number")
        _check("PMSERVE_STR_MAX_RATIO", self.str_max_ratio, lambda v: v >= 1, "a positive integer")
        _check("PMSERVE_STR_MAX_XML_MB", self.str_max_xml_mb, lambda v: v > 0, "a positive number")
        _check("PMSERVE_STR_MAX_DEPTH", self.str_max_depth, lambda v: 8 <= v <= 10_000,
               "an integer from 8 to 10000")
        _check("PMSERVE_CLEM_MAX_LENGTH", self.clem_max_length, lambda v: 1 <= v <= 1_000_000,
               "an integer from 1 to 1000000")
        _check("PMSERVE_CLEM_MAX_DEPTH", self.clem_max_depth, lambda v: 1 <= v <= 200,
               "an integer from 1 to 200")
        positive = "a positive number"
        _check("PMSERVE_MAX_SCORE_BODY_MB", self.max_score_body_mb, lambda v: v > 0, positive)
        _check("PMSERVE_MAX_SCORE_ROWS", self.max_score_rows, lambda v: v >= 1, "a positive integer")
        _check("PMSERVE_MAX_SCORE_CELLS", self.max_score_cells, lambda v: v >= 1, "a positive integer")
        _check("PMSERVE_MAX_XML_DEPTH", self.max_xml_depth, lambda v: 8 <= v <= 2048,
               "an integer from 8 to 2048 (libxml2's own limit)")
        _check("PMSERVE_MAX_XML_ATTRIBUTES", self.max_xml_attributes, lambda v: v >= 16, "an integer >= 16")
        _check("PMSERVE_MAX_XML_ELEMENTS", self.max_xml_elements, lambda v: v >= 100, "an integer >= 100")
        _check("PMSERVE_MAX_EXPRESSION_DEPTH", self.max_expression_depth, lambda v: 1 <= v <= 500,
               "an integer from 1 to 500 (deeper nesting would exhaust Python's stack)")
        _check("PMSERVE_MAX_DERIVED_DEPTH", self.max_derived_depth, lambda v: 1 <= v <= 500,
               "an integer from 1 to 500 (deeper chains would exhaust Python's stack)")
        _check("PMSERVE_DEPLOY_TIMEOUT_S", self.deploy_timeout_s, lambda v: v > 0, positive)
        _check("PMSERVE_INLINE_SCORE_US", self.inline_score_us, lambda v: 0 <= v <= 100_000,
               "a number of microseconds from 0 to 100000 (0: every score request on a thread)")
        _check("PMSERVE_HEAVY_THREADS", self.heavy_threads, lambda v: 1 <= v <= 64, "an integer from 1 to 64")
        _check("PMSERVE_TIMEOUT_KEEP_ALIVE_S", self.timeout_keep_alive_s, lambda v: v > 0, positive)
        _check("PMSERVE_REQUEST_TIMEOUT_S", self.request_timeout_s, lambda v: v > 0, positive)
        _check("PMSERVE_LIMIT_CONCURRENCY", self.limit_concurrency, lambda v: v >= 1, "a positive integer")
        _check("PMSERVE_MAX_HEADER_KB", self.max_header_kb, lambda v: 1 <= v <= 1024, "an integer from 1 to 1024")
        if self.store_url is not None and not self.store_url.startswith(("postgresql://", "postgres://")):
            raise ConfigurationError(
                f"PMSERVE_STORE_URL must be a postgresql:// URL (or unset for the embedded store); "
                f"got {self.store_url!r}"
            )

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 1024 * 1024)

    @property
    def max_file_bytes(self) -> int:
        return int(self.max_file_mb * 1024 * 1024)

    @property
    def max_score_body_bytes(self) -> int:
        return int(self.max_score_body_mb * 1024 * 1024)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Read ``PMSERVE_*`` variables (``overrides`` win, e.g. from command-line flags)."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        readers: dict[str, Callable[[str, str], Any]] = {
            "data_dir": lambda _n, v: Path(v),
            "host": lambda _n, v: v,
            "port": _int,
            "max_upload_mb": _float,
            "workers": _int,
            "log_level": lambda _n, v: v.strip().lower(),
            "store_url": lambda _n, v: v.strip() or None,
            "keep_versions": _int,
            "store_stale_s": _float,
            "str_max_entries": _int,
            "str_max_inflated_mb": _float,
            "str_max_ratio": _int,
            "str_max_xml_mb": _float,
            "str_max_depth": _int,
            "clem_max_length": _int,
            "clem_max_depth": _int,
            "max_file_mb": _float,
            "job_workers": _int,
            "job_chunk_rows": _int,
            "job_stale_seconds": _float,
            "job_max_attempts": _int,
            "job_error_samples": _int,
            "job_sqlite_dir": lambda _n, v: Path(v) if v.strip() else None,
            "spark_master": lambda _n, v: v.strip() or None,
            "max_score_body_mb": _float,
            "max_score_rows": _int,
            "max_score_cells": _int,
            "max_xml_depth": _int,
            "max_xml_attributes": _int,
            "max_xml_elements": _int,
            "max_expression_depth": _int,
            "max_derived_depth": _int,
            "deploy_timeout_s": _float,
            "heavy_threads": _int,
            "inline_score_us": _float,
            "timeout_keep_alive_s": _float,
            "request_timeout_s": _float,
            "limit_concurrency": _int,
            "max_header_kb": _int,
        }
        for name, read in readers.items():
            var = f"PMSERVE_{name.upper()}"
            if var in env:
                values[name] = read(var, env[var])
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)

    def replace(self, **changes: Any) -> Settings:
        return dataclasses.replace(self, **changes)

    def to_env(self) -> dict[str, str]:
        """The ``PMSERVE_*`` variables that reproduce these settings (for worker processes)."""
        env = {f"PMSERVE_{f.name.upper()}": str(getattr(self, f.name)) for f in dataclasses.fields(self)}
        env["PMSERVE_STORE_URL"] = self.store_url or ""
        env["PMSERVE_JOB_SQLITE_DIR"] = str(self.job_sqlite_dir or "")
        env["PMSERVE_SPARK_MASTER"] = self.spark_master or ""
        return env


def _int(var: str, text: str) -> int:
    try:
        return int(text.strip())
    except ValueError:
        raise ConfigurationError(f"{var} must be an integer; got {text!r}") from None


def _float(var: str, text: str) -> float:
    try:
        return float(text.strip())
    except ValueError:
        raise ConfigurationError(f"{var} must be a number; got {text!r}") from None


def _check(var: str, value: _T, ok: Callable[[_T], bool], expected: str) -> None:
    if not ok(value):
        raise ConfigurationError(f"{var} must be {expected}; got {value!r}")
