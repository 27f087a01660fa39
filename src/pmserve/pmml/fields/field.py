"""How a model describes one of its fields to its callers: :class:`Field` and :class:`Interval`."""

from __future__ import annotations

from dataclasses import dataclass

from pmserve.pmml.fields.types import DataType


@dataclass(frozen=True)
class Interval:
    closure: str  # openClosed, openOpen, closedOpen, closedClosed
    left: float | None
    right: float | None


@dataclass(frozen=True)
class Field:
    """One field of a model: an input, a target or a result column."""

    name: str
    data_type: DataType
    optype: str  # "continuous", "categorical" or "ordinal"
    values: tuple[str, ...] = ()  # valid values, as written in the document
    intervals: tuple[Interval, ...] = ()
    display_name: str | None = None
    #: A result whose cells are lists of values of ``data_type`` (a selectAll MiningModel's
    #: prediction: one value per segment whose predicate holds), or missing.
    collection: bool = False
