"""Score a Spark DataFrame with ``mapInArrow``: Arrow batches in, scored Arrow batches out."""

from __future__ import annotations

import functools
import hashlib
from typing import Any, Literal

from pmserve.arrow import result_type
from pmserve.errors import DocumentError, MissingFieldError
from pmserve.formats import Scorable
from pmserve.spark._executor import Counters, ModelFile, compiled, score_partition
from pmserve.spark._session import (
    DataFrame,
    StringType,
    StructField,
    StructType,
    from_arrow_type,
    require_pyspark,
)
from pmserve.tables import ERROR_COLUMN, echoed_columns


def score_dataframe(df: DataFrame, model_content: bytes, filename: str, *,
                    errors: Literal["collect", "raise"] = "collect") -> DataFrame:
    """``df`` scored with the model in ``model_content`` (the file ``filename``, any format
    :func:`pmserve.formats.load_model` reads), lazily, as a new DataFrame.

    Its columns: ``df``'s columns not named like a result, the model's results (typed after their
    PMML data types, as :func:`pmserve.arrow.result_type`), then ``error``, the reason a record
    could not be scored (null when it was).  With ``errors="raise"`` the first such record fails
    the Spark job instead.  The model is compiled here once (to check it and learn its results) and
    once per executor Python process, from its file broadcast to the executors.
    """
    return scored_frame(df, model_content, filename, errors=errors, counters=None)[0]


def scored_frame(df: DataFrame, model_content: bytes, filename: str, *, errors: Literal["collect", "raise"],
                 counters: Counters | None) -> tuple[DataFrame, Any]:
    """:func:`score_dataframe`, counting records and failures in ``counters`` when given; also
    returns the broadcast of the model file, for a caller that knows when it is no longer needed."""
    require_pyspark()
    sha256 = hashlib.sha256(model_content).hexdigest()
    model = compiled(sha256, filename, lambda: model_content)
    missing = [f.name for f in model.input_fields if f.name not in df.columns]
    if missing:
        raise MissingFieldError(
            f"the DataFrame has no column for field(s) {', '.join(map(repr, missing))} that the model needs; "
            f"it has {', '.join(map(repr, df.columns))}", field=missing[0])
    broadcast = df.sparkSession.sparkContext.broadcast(model_content)
    shipped = ModelFile(filename, sha256, broadcast)
    return df.mapInArrow(functools.partial(score_partition, shipped, errors, counters),
                         scored_spark_schema(model, df.schema)), broadcast


def scored_spark_schema(model: Scorable, schema: StructType) -> StructType:
    """The Spark schema of ``schema``'s rows scored by ``model``."""
    names = [f.name for f in model.output_fields]
    kept = [schema.fields[i] for i in echoed_columns(schema.names, names)]
    results: list[StructField] = []
    for f in model.output_fields:
        kind: Any = result_type(f)
        try:
            spark_type = from_arrow_type(kind)
        except Exception as exc:  # PySpark raises its own error classes, or TypeError
            raise DocumentError(f"result field {f.name!r} has data type {f.data_type.value}, which Spark "
                                f"cannot hold ({kind}): {exc}", element="OutputField", field=f.name) from exc
        results.append(StructField(f.name, spark_type, nullable=True))
    return StructType([*kept, *results, StructField(ERROR_COLUMN, StringType(), nullable=True)])
