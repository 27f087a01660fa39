"""Settings come from PMSERVE_* variables, typed and validated with a clear message."""

from __future__ import annotations

from pathlib import Path

import pytest

from pmserve.errors import ConfigurationError
from pmserve.settings import Settings


def test_defaults_without_environment() -> None:
    """With no variables set, the defaults suit a laptop."""
    s = Settings.from_env({})
    assert (s.data_dir, s.host, s.port, s.workers, s.log_level, s.store_url, s.keep_versions) == \
        (Path("pmserve-data"), "127.0.0.1", 8080, 1, "info", None, 5)


def test_values_are_read_and_typed() -> None:
    """Every PMSERVE_* variable is read into its typed field."""
    s = Settings.from_env({"PMSERVE_DATA_DIR": "/srv/pm", "PMSERVE_HOST": "0.0.0.0",
                           "PMSERVE_PORT": "9000", "PMSERVE_MAX_UPLOAD_MB": "2.5", "PMSERVE_WORKERS": "3",
                           "PMSERVE_LOG_LEVEL": "DEBUG",
                           "PMSERVE_STORE_URL": "postgresql://u@h/db", "PMSERVE_KEEP_VERSIONS": "9"})
    assert s == Settings(Path("/srv/pm"), "0.0.0.0", 9000, 2.5, 3, "debug", "postgresql://u@h/db", 9)
    assert s.max_upload_bytes == int(2.5 * 1024 * 1024)


def test_overrides_win_over_environment() -> None:
    """Command-line values (overrides) replace the environment's."""
    assert Settings.from_env({"PMSERVE_PORT": "9000"}, port=7000, host=None).port == 7000


def test_round_trip_through_environment() -> None:
    """to_env gives worker processes exactly the same settings."""
    s = Settings(Path("/x"), "::", 1234, 3.0, 2, "warning", None, 1)
    assert Settings.from_env(s.to_env()) == s


@pytest.mark.parametrize(("var", "value", "match"), [
    ("PMSERVE_PORT", "abc", "PMSERVE_PORT must be an integer; got 'abc'"),
    ("PMSERVE_PORT", "70000", "PMSERVE_PORT must be an integer from 1 to 65535; got 70000"),
    ("PMSERVE_MAX_UPLOAD_MB", "-1", "PMSERVE_MAX_UPLOAD_MB must be a positive number; got -1.0"),
    ("PMSERVE_MAX_UPLOAD_MB", "lots", "PMSERVE_MAX_UPLOAD_MB must be a number; got 'lots'"),
    ("PMSERVE_WORKERS", "0", "PMSERVE_WORKERS must be an integer from 1 to 256; got 0"),
    ("PMSERVE_LOG_LEVEL", "loud", "PMSERVE_LOG_LEVEL must be one of critical, error, warning, info, debug"),
    ("PMSERVE_STORE_URL", "mysql://x", "PMSERVE_STORE_URL must be a postgresql:// URL"),
    ("PMSERVE_KEEP_VERSIONS", "-2", "PMSERVE_KEEP_VERSIONS must be an integer from 0 to 1000; got -2"),
])
def test_bad_value_names_variable_value_and_expectation(var: str, value: str, match: str) -> None:
    """A bad value stops start-up with a message naming the variable, the value and what is expected."""
    with pytest.raises(ConfigurationError, match=match):
        Settings.from_env({var: value})
