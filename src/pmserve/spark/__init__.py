"""pmserve on Apache Spark: score a DataFrame, or run a batch job from files or JDBC tables.

PySpark is an optional extra (``pip install 'pmserve[spark]'``); without it this package still
imports, and each entry point raises a :class:`~pmserve.errors.PlatformError` naming the extra.

* :func:`score_dataframe` - a DataFrame scored by ``mapInArrow``: the model travels to the
  executors as its file (a broadcast) and is compiled once per executor Python process.
* :func:`run_batch` - read a :class:`SparkSource`, score it, write a :class:`SparkSink`; returns a
  :class:`SparkResult`.
"""

from __future__ import annotations

from pmserve.spark._batch import SparkResult, SparkSink, SparkSource, run_batch
from pmserve.spark._dataframe import score_dataframe
from pmserve.spark._session import session

__all__ = ["SparkResult", "SparkSink", "SparkSource", "run_batch", "score_dataframe", "session"]
