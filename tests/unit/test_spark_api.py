"""pmserve.spark without a Spark session: its arguments, its model cache, and life without PySpark."""

from __future__ import annotations

import hashlib
import subprocess
import sys

import pytest
from tests.spark._data import MIXED_PMML

from pmserve.errors import BadRequestError
from pmserve.spark import SparkSink, SparkSource
from pmserve.spark._executor import CACHED_MODELS, compiled


def test_without_pyspark_the_package_imports_and_each_entry_point_names_the_extra() -> None:
    """With PySpark unimportable, pmserve.spark imports; run_batch raises a PlatformError naming 'spark'."""
    code = """
import sys
sys.modules["pyspark"] = None  # as if the extra were not installed
from pmserve.errors import PlatformError
from pmserve.spark import SparkSink, SparkSource, run_batch
try:
    run_batch(b"", "m.pmml", SparkSource("csv", path="in.csv"), SparkSink("csv", path="out"), master="local[1]")
except PlatformError as exc:
    print("PlatformError:", exc)
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "PlatformError: Spark scoring needs PySpark" in done.stdout
    assert "pip install 'pmserve[spark]'" in done.stdout


@pytest.mark.parametrize(("make", "message"), [
    (lambda: SparkSource("orc", path="x"), r"one of parquet, csv, jdbc; got kind 'orc'"),  # type: ignore[arg-type]
    (lambda: SparkSource("parquet"), r"a parquet source needs a path"),
    (lambda: SparkSource("jdbc", url="jdbc:postgresql://h/db"), r"a JDBC source needs a url and a table"),
    (lambda: SparkSink("csv", path="out", mode="replace"), r"mode is one of overwrite, append, error; got 'replace'"),  # type: ignore[arg-type]
])
def test_places_are_checked_when_made(make: object, message: str) -> None:
    """A source or sink missing what its kind needs is refused with what was expected."""
    with pytest.raises(BadRequestError, match=message):
        make()  # type: ignore[operator]


def test_a_place_is_frozen_and_defaults_to_refusing_an_existing_sink() -> None:
    """Sinks refuse to overwrite unless told; places are immutable."""
    sink = SparkSink("jdbc", url="jdbc:postgresql://h/db", table="scored", properties={"user": "u"})
    assert sink.mode == "error"
    with pytest.raises(AttributeError):
        sink.mode = "overwrite"  # type: ignore[misc]


def test_executor_cache_compiles_a_model_once_per_file_content() -> None:
    """The same file (by SHA-256) is compiled once per process; another is compiled anew."""
    reads: list[int] = []

    def content() -> bytes:
        reads.append(1)
        return MIXED_PMML

    sha = hashlib.sha256(MIXED_PMML).hexdigest() + "-test"
    first = compiled(sha, "mixed.pmml", content)
    assert compiled(sha, "mixed.pmml", content) is first
    assert len(reads) == 1
    for i in range(CACHED_MODELS):
        compiled(f"{sha}-{i}", "mixed.pmml", content)
    assert compiled(sha, "mixed.pmml", content) is not first  # evicted, compiled again
    assert len(reads) == CACHED_MODELS + 2
