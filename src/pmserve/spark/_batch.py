"""A batch job on Spark: read a table, score it, write the scored table."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal

from pmserve import errors as errors_module
from pmserve.errors import BadRequestError, DataError, PlatformError
from pmserve.spark._dataframe import scored_frame
from pmserve.spark._executor import Counters
from pmserve.spark._session import (
    ArrayType,
    DataFrame,
    Py4JError,
    PySparkException,
    SparkSession,
    session,
    sql_functions,
)

KINDS = ("parquet", "csv", "jdbc")
MODES = ("overwrite", "append", "error")
_EMPTY: Mapping[str, str] = MappingProxyType({})
# CSV as RFC 4180 and `pmserve score` write it: a header row, a quote inside a quoted cell doubled
# (Spark's default escape is a backslash), cells read as text.
_CSV: dict[str, bool | str] = {"header": True, "inferSchema": False, "encoding": "UTF-8", "escape": '"'}


def _check_place(role: str, kind: str, path: str | None, url: str | None, table: str | None) -> None:
    if kind not in KINDS:
        raise BadRequestError(f"a Spark {role} is one of {', '.join(KINDS)}; got kind {kind!r}", field="kind")
    if kind == "jdbc":
        if not url or not table:
            raise BadRequestError(f"a JDBC {role} needs a url and a table; got url={url!r}, table={table!r}",
                                  field="url" if not url else "table")
    elif not path:
        raise BadRequestError(f"a {kind} {role} needs a path", field="path")


@dataclass(frozen=True)
class SparkSource:
    """Where a Spark job reads: Parquet or CSV files at ``path`` (a file, a folder or a glob that
    Spark reads), or the JDBC ``table`` of the database at ``url`` (``properties``: user,
    password, driver, ...).  CSV files have a header row; every value is read as text and
    converted by the model, as ``pmserve score`` does; empty cells are missing."""

    kind: Literal["parquet", "csv", "jdbc"]
    path: str | None = None
    url: str | None = None
    table: str | None = None
    properties: Mapping[str, str] = field(default_factory=lambda: _EMPTY)

    def __post_init__(self) -> None:
        _check_place("source", self.kind, self.path, self.url, self.table)


@dataclass(frozen=True)
class SparkSink:
    """Where a Spark job writes the scored table, as :class:`SparkSource` names places; ``mode``
    says what happens when it exists already.  Spark writes Parquet and CSV as a folder of part
    files; in CSV a list-valued result is a JSON array."""

    kind: Literal["parquet", "csv", "jdbc"]
    path: str | None = None
    url: str | None = None
    table: str | None = None
    properties: Mapping[str, str] = field(default_factory=lambda: _EMPTY)
    mode: Literal["overwrite", "append", "error"] = "error"

    def __post_init__(self) -> None:
        _check_place("sink", self.kind, self.path, self.url, self.table)
        if self.mode not in MODES:
            raise BadRequestError(f"a Spark sink's mode is one of {', '.join(MODES)}; got {self.mode!r}",
                                  field="mode")


@dataclass(frozen=True)
class SparkResult:
    """What a Spark job did: records scored, and how many of them could not be (their ``error``
    cell says why).  Counted with Spark accumulators: a task Spark retried counts twice."""

    rows: int
    failed: int


def run_batch(model_content: bytes, filename: str, source: SparkSource, sink: SparkSink, *, master: str,
              config: Mapping[str, str] | None = None,
              errors: Literal["collect", "raise"] = "collect") -> SparkResult:
    """Score ``source`` into ``sink`` on the Spark ``master`` (``local[2]``, ``spark://host:7077``...).

    The session is started on first use and kept for later jobs of this process; ``config`` adds
    Spark properties to a new session (e.g. ``{"spark.jars": "/usr/share/java/postgresql.jar"}``
    for a JDBC driver).  With ``errors="raise"`` the first record the model rejects fails the job
    with a :class:`~pmserve.errors.DataError` (what the sink holds then is Spark's partial output,
    as after any failed Spark write).  Raises :class:`~pmserve.errors.DocumentError` for a model
    that cannot be compiled, :class:`~pmserve.errors.MissingFieldError` for an input without a
    field the model needs, and :class:`~pmserve.errors.PlatformError` when Spark fails.
    """
    spark = session(master, config)
    context = spark.sparkContext
    counters = Counters(context.accumulator(0), context.accumulator(0))
    try:
        scored, broadcast = scored_frame(_read(spark, source), model_content, filename, errors=errors,
                                         counters=counters)
        try:
            _write(scored, sink)
        finally:
            broadcast.destroy()  # the job is done: free the model file on the driver and executors
    except (PySparkException, Py4JError) as exc:
        raise _spark_error(exc, source, sink) from exc
    return SparkResult(rows=int(counters.rows.value), failed=int(counters.failed.value))


def _read(spark: SparkSession, source: SparkSource) -> DataFrame:
    if source.kind == "parquet":
        return spark.read.parquet(str(source.path))
    if source.kind == "csv":
        return spark.read.options(**_CSV).csv(str(source.path))
    return spark.read.jdbc(str(source.url), str(source.table), properties=dict(source.properties))


def _write(df: DataFrame, sink: SparkSink) -> None:
    mode = "errorifexists" if sink.mode == "error" else sink.mode
    if sink.kind == "jdbc":
        df.write.jdbc(str(sink.url), str(sink.table), mode=mode, properties=dict(sink.properties))
    elif sink.kind == "parquet":
        df.write.mode(mode).parquet(str(sink.path))
    else:
        # CSV cells are text: a list-valued result is written as its JSON array, as the CLI does.
        lists = {f.name for f in df.schema.fields if isinstance(f.dataType, ArrayType)}
        if lists:
            df = df.select(*(sql_functions.to_json(c).alias(c) if c in lists else sql_functions.col(c)
                             for c in df.columns))
        df.write.mode(mode).options(**_CSV).csv(str(sink.path))


def _spark_error(exc: Exception, source: SparkSource, sink: SparkSink) -> PlatformError | DataError:
    """Spark's error as pmserve's: a record the model rejected is the data's fault, the rest Spark's."""
    text = str(exc)
    for line in text.splitlines():
        # A worker's Python traceback ends "pmserve.errors.<Class>: <message>".
        if line.startswith("pmserve.errors.") and ": " in line:
            name, message = line.removeprefix("pmserve.errors.").split(": ", 1)
            kind = getattr(errors_module, name, None)
            if isinstance(kind, type) and issubclass(kind, DataError):
                return DataError(f"a record cannot be scored: {message}")
    place = source.path or source.table
    target = sink.path or sink.table
    first = text.strip().splitlines()[0] if text.strip() else type(exc).__name__
    return PlatformError(f"the Spark job scoring {place!r} into {target!r} failed: {first}", engine="spark")
