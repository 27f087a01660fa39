"""PySpark, when installed (the ``spark`` extra), and the Spark session pmserve runs on."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping

from pmserve.errors import PlatformError

try:
    from py4j.protocol import Py4JError
    from pyspark.errors import PySparkException
    from pyspark.sql import DataFrame, SparkSession
    from pyspark.sql import functions as sql_functions
    from pyspark.sql.pandas.types import from_arrow_type
    from pyspark.sql.types import ArrayType, StringType, StructField, StructType

    PYSPARK_MISSING: str | None = None
except ImportError as exc:  # the extra is not installed: every entry point says so on use
    PYSPARK_MISSING = str(exc)
    # The modules importing these names still import; require_pyspark() stops any use of them.
    ArrayType = DataFrame = Py4JError = PySparkException = SparkSession = None  # type: ignore[assignment,misc]
    StringType = StructField = StructType = None  # type: ignore[assignment,misc]
    from_arrow_type = sql_functions = None  # type: ignore[assignment]

__all__ = ["ArrayType", "DataFrame", "Py4JError", "PySparkException", "SparkSession", "StringType", "StructField",
           "StructType", "from_arrow_type", "require_pyspark", "session", "sql_functions"]


def require_pyspark() -> None:
    """Raise a :class:`PlatformError` naming the extra unless PySpark can be imported."""
    if PYSPARK_MISSING is not None:
        raise PlatformError(
            f"Spark scoring needs PySpark, which is not installed ({PYSPARK_MISSING}); "
            "install pmserve's 'spark' extra: pip install 'pmserve[spark]'", extra="spark")


def session(master: str, config: Mapping[str, str] | None = None) -> SparkSession:
    """The process's Spark session on ``master``, started on first use and then reused.

    ``config`` adds Spark properties for a new session (e.g. ``spark.jars`` for a JDBC driver).
    A session already running on another master is not replaced: that is an error.
    """
    require_pyspark()
    if master.startswith("local"):
        # Local workers are forked from this interpreter's environment: use the same Python, which
        # has pmserve and pyarrow (PySpark would start whatever 'python3' is first on PATH).
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder = (SparkSession.builder.master(master).appName("pmserve")
               .config("spark.ui.showConsoleProgress", "false"))
    for key, value in (config or {}).items():
        builder = builder.config(key, value)
    try:
        spark = builder.getOrCreate()
    except (PySparkException, OSError, RuntimeError) as exc:
        raise PlatformError(f"Spark could not start on master {master!r}: {exc}", master=master) from exc
    running = spark.sparkContext.master
    if running != master:
        raise PlatformError(
            f"this process already runs a Spark session on master {running!r}; it cannot also run one "
            f"on {master!r}", master=master)
    return spark
