"""Formats whose reply is a whole table rather than result columns next to the input (streams).

A PMML model appends result columns to the rows it was given.  A Modeler stream replies with
what its terminal node shows: its branch may drop, rename or add fields, select records, read
several input tables (Append) or add future records (time series).  Such a model implements
:class:`TableScorable` besides :class:`~pmserve.formats.Scorable`, and the service asks it for
the whole reply.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from pmserve.pmml import Field


@dataclass(frozen=True)
class RowTable:
    """One table of a request or reply: column names, rows of plain values, the table's name."""

    header: list[str]
    data: list[list[Any]]
    tablename: str | None = None


@runtime_checkable
class TableScorable(Protocol):
    """A model that answers a request (one table per input) with the table its terminal shows."""

    @property
    def input_tables(self) -> tuple[tuple[str, tuple[Field, ...]], ...]:
        """Every input table the model reads: (table name, fields), scoring inputs first."""
        ...

    def score_tables(self, tables: Sequence[RowTable]) -> RowTable:
        """Score a request; every input table the model reads must be among ``tables``."""
        ...
