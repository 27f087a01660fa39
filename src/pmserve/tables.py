"""The layout of a scored table, shared by every writer of one (the CLI's CSV and Parquet, Arrow
batches, Spark DataFrames, batch exports).

A scored table holds the input columns (those not named like a result), then the model's result
columns in the model's order, then ``error``: why a record could not be scored, its result cells
left missing.
"""

from __future__ import annotations

from collections.abc import Sequence

#: The last column of a scored table: the reason a record could not be scored, else empty.
ERROR_COLUMN = "error"


def passthrough_columns(header: Sequence[str], result_names: Sequence[str]) -> list[int]:
    """Indices of the input columns echoed before the results.

    An input column named like a result (e.g. the actual value of the target sent along) is not
    echoed: the reply's header must name each column once, and the result takes the name.
    """
    results = set(result_names)
    return [i for i, name in enumerate(header) if name not in results]


def echoed_columns(header: Sequence[str], result_names: Sequence[str]) -> list[int]:
    """Indices of the input columns a scored table echoes: :func:`passthrough_columns`, less an
    input column named ``error`` (a table scored before, say), which the new ``error`` replaces."""
    return passthrough_columns(header, [*result_names, ERROR_COLUMN])

