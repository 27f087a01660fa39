"""Small column helpers shared by the time-series nodes (columns follow ``_model``'s convention)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pmserve.formats.spss._model import Node, SpssField, Table

NUMERIC_STORAGES = frozenset({"integer", "real", "date", "time", "timestamp"})


def missing_column(f: SpssField, n: int) -> np.ndarray:
    """A column of ``n`` missing values of the field's storage."""
    if f.storage in NUMERIC_STORAGES:
        return np.full(n, np.nan)
    return np.full(n, None, dtype=object)


def extend(table: Table, extra: int) -> dict[str, np.ndarray]:
    """The table's columns with ``extra`` missing rows appended."""
    if extra == 0:
        return dict(table.columns)
    return {f.name: np.concatenate([table.columns[f.name], missing_column(f, extra)]) for f in table.fields}


def days(year: np.ndarray, month: np.ndarray, day: np.ndarray) -> np.ndarray:
    """Dates as days since 1970-01-01 (float64) from year, month (1-12) and day of month."""
    months = (np.asarray(year, dtype=np.int64) - 1970) * 12 + np.asarray(month, dtype=np.int64) - 1
    first = months.astype("datetime64[M]").astype("datetime64[D]")
    return (first.astype(np.int64) + np.asarray(day, dtype=np.int64) - 1).astype(np.float64)


@dataclass(eq=False)
class AddsFields:
    """A compiled time-series node that passes its input's fields on and adds its own after them."""

    node: Node
    inputs: tuple[SpssField, ...]
    added: tuple[SpssField, ...]

    @property
    def output_fields(self) -> tuple[SpssField, ...]:
        return self.inputs + self.added
