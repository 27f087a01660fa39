"""PMML models, compiled by pmserve's own engine."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

from pmserve import pmml
from pmserve.errors import VerificationError


class PmmlModel:
    """A compiled PMML document behind the :class:`~pmserve.formats.Scorable` interface."""

    format = "pmml"

    def __init__(self, model: pmml.Model) -> None:
        self.model = model

    @property
    def input_fields(self) -> tuple[pmml.Field, ...]:
        return self.model.input_fields

    @property
    def output_fields(self) -> tuple[pmml.Field, ...]:
        return self.model.output_fields

    def score(self, columns: Mapping[str, Sequence[Any]], *,
              errors: Literal["raise", "collect"] = "raise") -> pmml.Scored:
        return self.model.score(columns, errors=errors)

    def score_one(self, record: Mapping[str, Any]) -> tuple[Any, ...] | None:
        return self.model.score_one(record)

    def verify(self) -> None:
        report = self.model.verify()
        if not report.ok:
            raise VerificationError(
                f"the model's ModelVerification records do not reproduce: {report.message}",
                element="ModelVerification")


def load_pmml(data: bytes, limits: pmml.Limits | None = None) -> PmmlModel:
    return PmmlModel(pmml.load(data, limits or pmml.Limits()))
