"""What a model computes for a batch, before Targets and Output turn it into result columns."""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from pmserve.pmml.fields.types import Array, DataType, empty

#: Prediction.extras key: a model chain's final value when its segments predict other targets.
CHAIN_VALUE = "chain_value"


@dataclass
class Prediction:
    """A model's results over ``n`` rows.

    ``value`` holds the predicted value of the target (engine column of ``dtype``).  A
    classifier also gives its ``categories`` (engine scalars) and the ``probabilities`` matrix
    (rows x categories, NaN rows where it has no prediction).  Other members are filled by the
    model types that define them and read by the Output features that need them.
    """

    n: int
    dtype: DataType
    value: Array
    categories: tuple[Any, ...] = ()
    probabilities: Array | None = None
    #: Per-category confidences (trees: ScoreDistribution/@confidence), rows x categories.
    confidences: Array | None = None
    #: A confidence of the prediction as a whole (rows).
    confidence: Array | None = None
    #: Entity id of the winning entity (tree node id, cluster id, rule id, neighbour id), object.
    entity_id: Array | None = None
    #: Affinity of the winning entity / per-entity affinities (entity ids in ``entity_ids``).
    affinity: Array | None = None
    entity_ids: tuple[Any, ...] = ()
    entity_affinities: Array | None = None
    #: Reason codes, object matrix rows x ranks (Scorecard).
    reason_codes: Array | None = None
    standard_error: Array | None = None
    #: Display value per category or per predicted value (Targets / DataField Value displayValue).
    display: dict[Any, str] = field(default_factory=dict)
    #: Named extras for model-specific Output features (rule values, warnings, ...).
    extras: dict[str, Any] = field(default_factory=dict)
    #: Per segment id: (prediction, output columns) of a MiningModel's segments.
    segments: dict[str, tuple[Prediction, dict[str, Array]]] = field(default_factory=dict)
    #: The predictions of a model's further target fields, by field name (this one is the first
    #: target's); empty for the usual one-target model.
    targets: dict[str, Prediction] = field(default_factory=dict)

    def probability_of(self, category: Any) -> Array:
        if self.probabilities is None:
            return np.full(self.n, np.nan)
        for j, c in enumerate(self.categories):
            if c == category:
                return self.probabilities[:, j]
        return np.where(np.isnan(self.probabilities[:, 0]), np.nan, 0.0) if self.probabilities.shape[1] else \
            np.full(self.n, np.nan)

    def subset_rows(self, rows: Any) -> Prediction:
        """The prediction of some of the records (its segments' results are not kept)."""
        picked = {name: getattr(self, name)[rows] for name in _PER_ROW if getattr(self, name) is not None}
        return dataclasses.replace(
            self, n=len(np.arange(self.n)[rows]), value=self.value[rows], segments={}, **picked,
            extras={k: (v[rows] if isinstance(v, np.ndarray) and v.shape[:1] == (self.n,) else v)
                    for k, v in self.extras.items()},
            targets={k: p.subset_rows(rows) for k, p in self.targets.items()} if self.targets else {},
        )


#: The members of a Prediction that hold one entry per record (besides ``value``).
_PER_ROW = ("probabilities", "confidences", "confidence", "entity_id", "affinity", "entity_affinities",
            "reason_codes", "standard_error")


def classification(n: int, dtype: DataType, categories: tuple[Any, ...], probabilities: Array) -> Prediction:
    """A classifier's prediction: the most probable category (first in order on ties)."""
    if not len(categories):
        return Prediction(n, dtype, empty(dtype, n), categories, probabilities)
    cats = _category_array(categories, dtype.is_string)
    nan = np.isnan(probabilities)
    if not nan.any():
        value: Array = cats[np.argmax(probabilities, axis=1)]
        return Prediction(n, dtype, value, categories, probabilities)
    value = empty(dtype, n)
    ok = ~nan.any(axis=1)
    if ok.any():
        best = np.argmax(np.where(nan, -np.inf, probabilities), axis=1)
        value[ok] = cats[best[ok]]
    return Prediction(n, dtype, value, categories, probabilities)


@functools.lru_cache(maxsize=256)
def _category_array(categories: tuple[Any, ...], is_string: bool) -> Array:
    """The categories as an engine column to pick predictions from (read-only, shared)."""
    cats = np.empty(len(categories), dtype=object if is_string else np.float64)
    for j, cval in enumerate(categories):
        cats[j] = cval
    cats.flags.writeable = False
    return cats
