"""Fixtures shared by every test package."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def repo_root() -> Path:
    """The checkout's root directory."""
    return REPO_ROOT


@pytest.fixture(scope="session")
def conformance_dir() -> Path:
    """The shared conformance corpus next to the checkout (never copied into it); skip when absent."""
    path = REPO_ROOT.parent / "shared" / "conformance"
    if not path.is_dir():
        pytest.skip(f"the shared conformance corpus is not at {path}")
    return path
