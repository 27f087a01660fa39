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
from typing import Any

from pmserve.errors import ConfigurationError

LOG_LEVELS = ("critical", "error", "warning", "info", "debug")


@dataclass(frozen=True)
class _Check:
    """What a setting's value must satisfy, and how the start-up message says so."""

    ok: Callable[[Any], bool]
    expected: str


_POSITIVE = _Check(lambda v: v > 0, "a positive number")


def _from(low: int, high: int | None = None, what: str = "an integer", why: str = "") -> _Check:
    """A number from ``low`` to ``high`` (inclusive; no upper bound when ``high`` is None)."""
    if high is None:
        expected = "a positive integer" if low == 1 else f"{what} of at least {low}"
    else:
        expected = f"{what} from {low} to {high}"
    return _Check(lambda v: low <= v and (high is None or v <= high), f"{expected} ({why})" if why else expected)


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


def _optional_text(_var: str, text: str) -> str | None:
    return text.strip() or None


def _optional_path(_var: str, text: str) -> Path | None:
    return Path(text) if text.strip() else None


# How a variable's text becomes a field's value, by the field's annotation (a string under
# ``from __future__ import annotations``); a setting with its own reader names it in ``_setting``.
_READERS: dict[str, Callable[[str, str], Any]] = {
    "int": _int,
    "float": _float,
    "str": lambda _var, text: text,
    "Path": lambda _var, text: Path(text),
    "str | None": _optional_text,
    "Path | None": _optional_path,
}


def _setting(default: Any, check: _Check | None = None, read: Callable[[str, str], Any] | None = None) -> Any:
    """A field's default with the check its value must pass and, if not by its type, how it is read."""
    return dataclasses.field(default=default, metadata={"check": check, "read": read})


def _variable(name: str) -> str:
    return f"PMSERVE_{name.upper()}"


@dataclass(frozen=True)
class Settings:
    """Everything pmserve can be configured with (defaults suit a laptop)."""

    data_dir: Path = Path("pmserve-data")
    host: str = _setting("127.0.0.1", _Check(lambda v: bool(v.strip()), "a host name or address"))
    port: int = _setting(8080, _from(1, 65535))
    max_upload_mb: float = _setting(64.0, _POSITIVE)
    workers: int = _setting(1, _from(1, 256))
    log_level: str = _setting("info", _Check(lambda v: v in LOG_LEVELS, f"one of {', '.join(LOG_LEVELS)}"),
                              read=lambda _n, v: v.strip().lower())
    # postgresql://... ; None = the embedded SQLite store in data_dir
    store_url: str | None = _setting(None, _Check(
        lambda v: v is None or v.startswith(("postgresql://", "postgres://")),
        "a postgresql:// URL (or unset for the embedded store)"))
    keep_versions: int = _setting(5, _from(0, 1000))
    # PostgreSQL store: a change made through another replica (refresh, delete, key revoked) is
    # seen within this many seconds (usually milliseconds); score requests never query for it.
    store_stale_s: float = _setting(1.0, _Check(lambda v: 0.05 <= v <= 3600, "a number of seconds from 0.05 to 3600"))
    # SPSS Modeler streams (.str): what reading one archive may cost (see StreamLimits).
    str_max_entries: int = _setting(10_000, _from(2))
    str_max_inflated_mb: float = _setting(256.0, _POSITIVE)
    str_max_ratio: int = _setting(200, _from(1))
    str_max_xml_mb: float = _setting(64.0, _POSITIVE)
    str_max_depth: int = _setting(256, _from(8, 10_000))
    clem_max_length: int = _setting(10_000, _from(1, 1_000_000))  # characters in one CLEM expression
    clem_max_depth: int = _setting(64, _from(1, 200))  # nesting of one CLEM expression (brackets, calls, if)
    # -- batch files and jobs (reference §1.2, §2.8) --
    max_file_mb: float = _setting(10240.0, _POSITIVE)  # largest file accepted by PUT /pm/v1/file (streamed)
    # jobs run at once per server process (a bounded thread pool); 0 = run none here
    job_workers: int = _setting(2, _from(0, 64))
    # rows read, scored and written at once (memory is flat in input size); a few chunks are in
    # flight at once, so smaller chunks mean less memory, and 16,384 keep a chunk in the caches
    job_chunk_rows: int = _setting(16384, _from(16, 4_194_304))
    # a running job silent this long is taken over by another runner
    job_stale_seconds: float = _setting(10.0, _from(1, 86_400, "a number of seconds"))
    job_max_attempts: int = _setting(3, _from(1, 100))  # runs interrupted by crashes before FAILED
    job_error_samples: int = _setting(5, _from(0, 100))  # per-row errors quoted in a job's failureMsg
    job_sqlite_dir: Path | None = None  # where SQLite databases named by jobs may live; None = refused
    spark_master: str | None = None  # run every job on this Spark master (needs pmserve.spark)
    # -- limits on hostile input (README "Limits"); each is checked before the step it protects --
    max_score_body_mb: float = _setting(32.0, _POSITIVE)
    max_score_rows: int = _setting(100_000, _from(1))
    max_score_cells: int = _setting(5_000_000, _from(1))
    max_xml_depth: int = _setting(1000, _from(8, 2048, why="libxml2's own limit"))
    max_xml_attributes: int = _setting(256, _from(16))
    max_xml_elements: int = _setting(20_000_000, _from(100))
    max_expression_depth: int = _setting(100, _from(1, 500, why="deeper nesting would exhaust Python's stack"))
    max_derived_depth: int = _setting(100, _from(1, 500, why="deeper chains would exhaust Python's stack"))
    deploy_timeout_s: float = _setting(300.0, _POSITIVE)
    # parse, compile, big decodes and big scores run on these, off the event loop
    heavy_threads: int = _setting(4, _from(1, 64))
    # A score request is scored on the event loop when its rows times the time one record of the
    # model took at load fit in this budget (a thread hop costs more); larger ones go to threads.
    inline_score_us: float = _setting(250.0, _Check(
        lambda v: 0 <= v <= 100_000, "a number of microseconds from 0 to 100000 (0: every score request on a thread)"))
    # -- the HTTP server (uvicorn) --
    timeout_keep_alive_s: float = _setting(5.0, _POSITIVE)
    # a request's headers must arrive within this; its body may not stall longer
    request_timeout_s: float = _setting(30.0, _POSITIVE)
    limit_concurrency: int = _setting(1000, _from(1))
    max_header_kb: int = _setting(64, _from(1, 1024))

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            check: _Check | None = f.metadata.get("check")
            value = getattr(self, f.name)
            if check is not None and not check.ok(value):
                raise ConfigurationError(f"{_variable(f.name)} must be {check.expected}; got {value!r}")

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
        for f in dataclasses.fields(cls):
            var = _variable(f.name)
            if var in env:
                read = f.metadata.get("read") or _READERS[str(f.type)]
                values[f.name] = read(var, env[var])
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)

    def replace(self, **changes: Any) -> Settings:
        return dataclasses.replace(self, **changes)

    def to_env(self) -> dict[str, str]:
        """The ``PMSERVE_*`` variables that reproduce these settings (for worker processes)."""
        return {_variable(f.name): "" if (value := getattr(self, f.name)) is None else str(value)
                for f in dataclasses.fields(self)}

