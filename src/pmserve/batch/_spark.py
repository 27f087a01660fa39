"""Jobs with ``"engine": "spark"`` (or every job, when PMSERVE_SPARK_MASTER is set) run on Spark.

``pmserve.spark`` is an optional part of pmserve (it needs PySpark, the ``spark`` extra).  It is
loaded by the first Spark job, not when the server starts: PySpark and the pandas it imports add
about 90 MiB to every process that never runs one.  Without it a Spark job fails with a status
saying so and the rest of the batch runner works as before.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import importlib.util
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from pmserve.arrow import open_parquet
from pmserve.batch._sinks import open_sink
from pmserve.batch._sources import Context, local_copy
from pmserve.batch._spec import FileRef, JobSpec, TableRef
from pmserve.errors import ConfigurationError, DataError, PlatformError


@functools.cache
def load_spark() -> tuple[ModuleType | None, str]:
    """The optional Spark engine, or None and why (absent, or present without PySpark)."""
    if importlib.util.find_spec("pmserve.spark") is None:
        return None, "pmserve.spark and PySpark are not installed"
    try:
        return importlib.import_module("pmserve.spark"), ""
    except ImportError as exc:
        return None, f"pmserve.spark cannot be imported ({exc})"


DEFAULT_MASTER = "local[2]"
_MODES = {"Create": "error", "Append": "append", "Drop": "overwrite", "Refresh": "overwrite"}


@dataclass(frozen=True)
class SparkOutcome:
    rows: int
    failed: int
    result_file: str | None


def run_on_spark(spec: JobSpec, model_content: bytes, ctx: Context, master: str | None) -> SparkOutcome:
    # The Spark engine: run_batch(model_content, filename, source, sink, *, master) -> SparkResult.
    engine, missing = load_spark()
    if engine is None:
        raise ConfigurationError(f"Spark engine not installed: this job asks for Spark (\"engine\": \"spark\" or "
                                 f"PMSERVE_SPARK_MASTER) but {missing}; install pmserve[spark] or run the "
                                 f"job with \"engine\": \"local\"")
    spark: Any = engine  # the optional module's names are only known once it is installed
    with _spark_source(spark, spec.source, ctx) as source, tempfile.TemporaryDirectory(dir=ctx.work_dir) as out:
        if isinstance(spec.sink, TableRef):
            sink = spark.SparkSink(kind="jdbc", url=_jdbc_url(spec.sink), table=spec.sink.name,
                                   properties=_jdbc_properties(spec.sink), mode=_MODES[spec.sink.insert_mode])
        else:
            sink = spark.SparkSink(kind="parquet", path=str(Path(out) / "result"), mode="overwrite")
        result = spark.run_batch(model_content, spec.model_name, source, sink, master=master or DEFAULT_MASTER)
        result_file = None
        if isinstance(spec.sink, FileRef):
            result_file = _store_parts(Path(out) / "result", spec.sink, ctx)
    return SparkOutcome(int(result.rows), int(result.failed), result_file)


@contextlib.contextmanager
def _spark_source(spark: Any, ref: FileRef | TableRef, ctx: Context) -> Iterator[Any]:
    if isinstance(ref, TableRef):
        yield spark.SparkSource(kind="jdbc", url=_jdbc_url(ref), table=ref.name, properties=_jdbc_properties(ref))
        return
    if ref.format not in ("CSV", "PARQUET"):
        raise DataError(f"Spark jobs read CSV and Parquet files; input {ref.file_id!r} is {ref.format}",
                        field=ref.file_id)
    with local_copy(ref.file_id, ctx) as path:
        yield spark.SparkSource(kind=ref.format.lower(), path=str(path))


def _jdbc_url(ref: TableRef) -> str:
    db = ref.database
    if db.kind == "sqlite":
        raise DataError(f"Spark jobs cannot reach SQLite database {db.ref!r}; use the local engine", field=db.ref)
    scheme, port = ("postgresql", 5432) if db.kind == "postgresql" else ("mysql", 3306)
    return f"jdbc:{scheme}://{db.host}:{db.port or port}/{db.db}"


def _jdbc_properties(ref: TableRef) -> dict[str, str]:
    db = ref.database
    driver = "org.postgresql.Driver" if db.kind == "postgresql" else "com.mysql.cj.jdbc.Driver"
    props = {"driver": driver}
    if db.username is not None:
        props["user"] = db.username
    if db.password is not None:
        props["password"] = db.password
    return props


def _store_parts(directory: Path, ref: FileRef, ctx: Context) -> str:
    """Spark writes a directory of Parquet parts: turn it into the one file the job's dataUrl names."""
    parts = [open_parquet(p) for p in sorted(directory.glob("*.parquet"))]
    if not parts:  # Spark writes one part with the schema even for no rows
        raise PlatformError(f"Spark wrote no Parquet part for file '{ref.file_id}'")
    sink = open_sink(ref, ctx)
    sink.open(parts[0].schema_arrow)
    try:
        for part in parts:
            for batch in part.iter_batches(batch_size=ctx.settings.job_chunk_rows):
                sink.write(batch)
        stored = sink.commit()
    except BaseException:
        sink.abort()
        raise
    return stored or ref.file_id
