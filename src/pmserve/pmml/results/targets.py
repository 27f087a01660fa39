"""The Targets element: rescaling, casting and clamping of predictions; priors and defaults.

PMML 4.4 "Targets": for a continuous target the predicted value becomes
``value * rescaleFactor + rescaleConstant``, then is clamped to [min, max] and cast by
``castInteger``; a missing prediction takes TargetValue/@defaultValue.  For a categorical
target, TargetValue/@priorProbability gives the distribution where a model has no prediction,
and @displayValue the display value of a category.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import numpy as np

from pmserve.pmml.document import attributes as attribute
from pmserve.pmml.document.element import Element
from pmserve.pmml.document.problems import Problems
from pmserve.pmml.fields.schema import FieldInfo
from pmserve.pmml.fields.types import Array, parse_scalar
from pmserve.pmml.results.prediction import Prediction, classification


@dataclass(frozen=True)
class TargetPlan:
    rescale_factor: float = 1.0
    rescale_constant: float = 0.0
    min: float | None = None
    max: float | None = None
    cast_integer: str | None = None
    default_value: float | None = None
    priors: tuple[tuple[Any, float], ...] = ()
    display: dict[Any, str] = field(default_factory=dict)

    @property
    def rescales(self) -> bool:
        return (self.rescale_factor != 1.0 or self.rescale_constant != 0.0 or self.min is not None
                or self.max is not None or self.cast_integer is not None)


def parse_targets(el: Element | None, target: FieldInfo | None, problems: Problems) -> TargetPlan | None:
    if el is None:
        return None
    name = target.name if target else None
    t = next((c for c in el.findall("Target") if c.get("field") in (None, name)), None)
    if t is None:
        return None
    cast = attribute.choice(t, "castInteger", ("round", "ceiling", "floor"), problems)
    priors: list[tuple[Any, float]] = []
    display: dict[Any, str] = {}
    default_value = None
    for tv in t.findall("TargetValue"):
        v = tv.get("value")
        scalar: Any = v
        if v is not None and target is not None:
            scalar = attribute.parsed(tv, "value", partial(parse_scalar, target.dtype), problems)
            if scalar is None:
                continue
        prior = attribute.number(tv, "priorProbability", problems)
        if prior is not None and v is not None:
            priors.append((scalar, prior))
        if tv.get("displayValue") is not None and v is not None:
            display[scalar] = tv.get("displayValue") or ""
        default_value = attribute.number(tv, "defaultValue", problems, default_value)
    return TargetPlan(
        _or(attribute.number(t, "rescaleFactor", problems), 1.0),
        _or(attribute.number(t, "rescaleConstant", problems), 0.0), attribute.number(t, "min", problems),
        attribute.number(t, "max", problems), cast, default_value, tuple(priors), display,
    )


def apply_targets(plan: TargetPlan | None, pred: Prediction, function_name: str) -> Prediction:
    if plan is None:
        return pred
    if plan.display:
        pred.display = {**pred.display, **plan.display}
    if function_name == "regression" and not pred.dtype.is_string:
        v = pred.value
        if plan.default_value is not None:
            vmiss = np.isnan(v)
            if vmiss.any():
                v = v.copy()
                v[vmiss] = plan.default_value
        if plan.rescales:
            v = v * plan.rescale_factor + plan.rescale_constant
            if plan.min is not None:
                v = np.maximum(v, plan.min)
            if plan.max is not None:
                v = np.minimum(v, plan.max)
            if plan.cast_integer is not None:
                v = _CAST_INTEGER[plan.cast_integer](v)
        pred.value = v
    elif plan.priors and pred.probabilities is not None:
        miss = np.isnan(pred.probabilities).any(axis=1)
        if miss.any():
            cats = list(pred.categories)
            for c, _ in plan.priors:
                if c not in cats:
                    cats.append(c)
            probs = np.full((pred.n, len(cats)), np.nan)
            probs[:, : len(pred.categories)] = pred.probabilities
            prior_row = np.zeros(len(cats))
            for c, p in plan.priors:
                prior_row[cats.index(c)] = p
            probs[np.ix_(miss, np.arange(len(cats)))] = prior_row
            probs[~miss, len(pred.categories):] = 0.0
            filled = classification(pred.n, pred.dtype, tuple(cats), probs)
            pred.value = filled.value
            pred.categories = filled.categories
            pred.probabilities = probs
    return pred


#: Target/@castInteger: how a rescaled value becomes an integer (round: halves up).
_CAST_INTEGER: dict[str, Callable[[Array], Array]] = {
    "round": lambda v: np.floor(v + 0.5), "ceiling": np.ceil, "floor": np.floor,
}


def _or(x: float | None, default: float) -> float:
    return default if x is None else x
