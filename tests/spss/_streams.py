"""Where the real Modeler streams of the shared conformance corpus are (never copied into the repo)."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
# ../shared next to the checkout; a git worktree kept one folder deeper finds it one level up.
_CANDIDATES = (REPO_ROOT.parent / "shared", REPO_ROOT.parent.parent / "shared")
STREAMS_DIR = next((p / "conformance" / "spss-streams" for p in _CANDIDATES
                    if (p / "conformance" / "spss-streams").is_dir()), None)

STREAM_NAMES = (
    "Drug1n.str",
    "catalog_streaming_timeseries.str",
    "catalog_timeseries.str",
    "db2-customer-satisfaction-prediction.str",
    "example-regression-gbt.str",
    "financial-performance-prediction.str",
    "zementis-sample_v17.str",
)


def stream_path(name: str) -> Path:
    """The path of one shared stream (or its sample data, ``data/...``); skip the test when absent."""
    if STREAMS_DIR is None:
        pytest.skip("the shared SPSS streams (../shared/conformance/spss-streams) are absent")
    return STREAMS_DIR / name


def stream_bytes(name: str) -> bytes:
    return stream_path(name).read_bytes()
