"""RuleSetModel: classification by rules (PMML 4.4 "RuleSet").

Every SimpleRule whose predicate (and the predicates of the CompoundRules around it) is true
fires; rules whose predicate is unknown (a missing input) do not.  The first RuleSelectionMethod
decides the prediction, as JPMML-Evaluator does:

* ``firstHit`` - the first fired rule wins; each category's confidence is that of its first
  fired rule.
* ``weightedSum`` - a category's confidence is the sum of the weights of its fired rules divided
  by the number of fired rules (of any category); the winning rule of a category is its fired
  rule of highest weight.
* ``weightedMax`` - a category's confidence is the confidence of its fired rule of highest
  weight.

For the last two the category of highest confidence wins; on ties the category that fired first.
When no rule fires the RuleSet's defaultScore is predicted with defaultConfidence (both are
needed then, else the record fails).  The winning rule is the entity: ``entityId`` is its id, or
its 1-based position among all SimpleRules when it has none.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np

from pmserve.errors import EvaluationError
from pmserve.pmml.compiler import CompiledModel, ModelEnv, register
from pmserve.pmml.document import attributes as attribute
from pmserve.pmml.document.element import Element
from pmserve.pmml.expressions.predicates import PREDICATE_TAGS, PredicateFn, compile_predicate
from pmserve.pmml.fields.frame import Frame, ReadOrder
from pmserve.pmml.fields.types import Array, DataType, empty, parse_scalar
from pmserve.pmml.results.prediction import Prediction

_CRITERIA = ("firstHit", "weightedSum", "weightedMax")


@dataclass(frozen=True)
class _Rule:
    """A SimpleRule with the predicates of its enclosing CompoundRules (outermost first)."""

    path: tuple[PredicateFn, ...]
    entity_id: str
    category: int  # index into the model's categories
    confidence: float
    weight: float


class _Collector:
    """Walks the rules of a RuleSet depth first, in document order."""

    def __init__(self, env: ModelEnv, dtype: DataType) -> None:
        self.env = env
        self.dtype = dtype
        self.rules: list[_Rule] = []
        self.categories: dict[Any, int] = {}  # category -> index, in the order first met
        self.ok = True
        self.simple_rules = 0

    def category(self, el: Element, attr: str, required: bool = False) -> int | None:
        """The index of the category ``el``'s ``attr`` names; None when absent, or (a problem) when
        it is required or is no value of the target's type."""
        value = attribute.parsed(el, attr, partial(parse_scalar, self.dtype), self.env.problems, required=required)
        if value is None:
            self.ok = self.ok and not required and el.get(attr) is None
            return None
        return self.categories.setdefault(value, len(self.categories))

    def walk(self, children: tuple[Element, ...], path: tuple[PredicateFn, ...]) -> None:
        for el in children:
            if el.tag not in ("SimpleRule", "CompoundRule"):
                continue
            pred_el = el.find_any(PREDICATE_TAGS)
            if pred_el is None:
                self.env.problems.invalid(f"a {el.tag} needs a predicate (SimplePredicate, True, ...)", el)
                self.ok = False
                continue
            pred = compile_predicate(pred_el, self.env.compiler)
            if pred is None:
                self.ok = False
                continue
            if el.tag == "CompoundRule":
                self.walk(el.children, (*path, pred))
                continue
            # The implicit id counts every SimpleRule, with or without an id of its own.
            self.simple_rules += 1
            position = self.simple_rules
            cat = self.category(el, "score", required=True)
            confidence = attribute.number(el, "confidence", self.env.problems, 1.0)
            weight = attribute.number(el, "weight", self.env.problems, 1.0)
            if cat is None or confidence is None or weight is None:
                self.ok = False
                continue
            self.rules.append(_Rule((*path, pred), el.get("id") or str(position), cat, confidence, weight))


@register("RuleSetModel")
def compile_rule_set(el: Element, env: ModelEnv) -> CompiledModel | None:
    if not env.function_is("classification"):
        return None
    rule_set = el.find("RuleSet")
    if rule_set is None:
        env.problems.invalid("a RuleSetModel needs a RuleSet", el)
        return None
    methods = rule_set.findall("RuleSelectionMethod")
    if not methods:
        env.problems.invalid("a RuleSet needs at least one RuleSelectionMethod", rule_set)
        return None
    # PMML 4.4 RuleSet: "the first method is used as the default method for scoring".
    criterion = attribute.choice(methods[0], "criterion", _CRITERIA, env.problems, required=True)
    if criterion is None:
        return None
    dtype = env.target.dtype if env.target is not None else DataType.STRING
    walker = _Collector(env, dtype)
    walker.walk(rule_set.children, ())
    default_cat = walker.category(rule_set, "defaultScore")
    default_conf = attribute.number(rule_set, "defaultConfidence", env.problems)
    if not walker.ok or (attribute.given(rule_set, "defaultConfidence") and default_conf is None):
        return None
    categories = tuple(walker.categories)
    rules = tuple(walker.rules)
    # Rule sets give confidences, not probabilities (JPMML).
    return CompiledModel(_Scorer(rules, categories, dtype, criterion, default_cat, default_conf), categories,
                         has_probabilities=False)


@dataclass(frozen=True)
class _Scorer:
    """The compiled rule set: fires its rules on a frame and picks each record's category by the criterion."""

    rules: tuple[_Rule, ...]
    categories: tuple[Any, ...]
    dtype: DataType
    criterion: str
    default_category: int | None
    default_confidence: float | None

    def fired(self, frame: Frame) -> Array:
        """Rows x rules: does the rule fire?  Shared CompoundRule predicates run once.

        JPMML evaluates every rule, but a CompoundRule's rules only for the records its own
        predicate holds for: a field read only there is claimed (its invalid values fail the
        record) for those records alone.
        """
        cache: dict[int, Array] = {}
        reads: dict[int, set[str]] = {}
        out = np.zeros((frame.n, len(self.rules)), dtype=bool)
        with frame.unclaimed():
            for j, rule in enumerate(self.rules):
                ok = np.ones(frame.n, dtype=bool)
                for pred in rule.path:
                    got = cache.get(id(pred))
                    if got is None:
                        with frame.unclaimed() as read:
                            got = pred(frame) == 1.0
                        cache[id(pred)] = got
                        reads[id(pred)] = read
                    ok &= got
                out[:, j] = ok
        if frame.errors.pending:
            order = ReadOrder(frame)
            claimed: set[int] = set()
            for rule in self.rules:
                ok = np.ones(frame.n, dtype=bool)
                for pred in rule.path:
                    if id(pred) not in claimed:
                        claimed.add(id(pred))
                        order.read(reads[id(pred)], ok)
                    ok &= cache[id(pred)]
        return out

    def __call__(self, frame: Frame) -> Prediction:
        n, k = frame.n, len(self.categories)
        fired = self.fired(frame) if self.rules else np.zeros((n, 0), dtype=bool)
        conf = np.full((n, k), np.nan)
        winner = np.full(n, -1, dtype=np.intp)  # index of the winning rule, -1: none fired
        any_fired: Array = np.asarray(fired.any(axis=1), dtype=bool)
        if self.rules:
            if self.criterion == "firstHit":
                conf, winner = self._first_hit(fired)
            else:
                conf, winner = self._weighted(fired)
        cat_of_rule = np.array([r.category for r in self.rules], dtype=np.intp)
        winner_cat = np.where(winner >= 0, cat_of_rule[np.maximum(winner, 0)] if self.rules else -1, -1)
        ids = np.array([r.entity_id for r in self.rules] + [None], dtype=object)
        entity = ids[np.where(winner >= 0, winner, len(self.rules))]
        none = ~any_fired
        if none.any():
            if self.default_category is None or self.default_confidence is None:
                missing = "defaultScore" if self.default_category is None else "defaultConfidence"
                frame.fail(none, lambda r: EvaluationError(
                    f"RuleSet: no rule fired and the RuleSet has no {missing}", row=r))
            else:
                winner_cat[none] = self.default_category
                conf[none, self.default_category] = self.default_confidence
        has = winner_cat >= 0
        value = empty(self.dtype, n)
        value[has] = np.array(self.categories, dtype=object if self.dtype.is_string else np.float64)[winner_cat[has]]
        picked = np.full(n, np.nan)
        picked[has] = conf[np.flatnonzero(has), winner_cat[has]]
        return Prediction(n, self.dtype, value, self.categories, confidences=conf, confidence=picked,
                          entity_id=entity)

    def _first_hit(self, fired: Array) -> tuple[Array, Array]:
        n, k = fired.shape[0], len(self.categories)
        conf = np.full((n, k), np.nan)
        winner = np.where(fired.any(axis=1), np.argmax(fired, axis=1), -1)
        confidences = np.array([r.confidence for r in self.rules])
        for c in range(k):
            cols = np.flatnonzero([r.category == c for r in self.rules])
            if not len(cols):
                continue
            sub = fired[:, cols]
            hit = sub.any(axis=1)
            conf[hit, c] = confidences[cols[np.argmax(sub[hit], axis=1)]]
        return conf, winner

    def _weighted(self, fired: Array) -> tuple[Array, Array]:
        n, k = fired.shape[0], len(self.categories)
        count = fired.sum(axis=1)
        total = np.zeros((n, k))
        best_w = np.full((n, k), -np.inf)
        best = np.full((n, k), -1, dtype=np.intp)
        first = np.full((n, k), len(self.rules), dtype=np.intp)  # where each category first fired
        # Document order, one rule at a time: sums accumulate in JPMML's order and the first of
        # equally heavy rules stays the category's winner.
        for j, rule in enumerate(self.rules):
            f = fired[:, j]
            c = rule.category
            total[:, c] += np.where(f, rule.weight, 0.0)
            better = f & (rule.weight > best_w[:, c])
            best_w[better, c] = rule.weight
            best[better, c] = j
            first[:, c] = np.where(f & (first[:, c] == len(self.rules)), j, first[:, c])
        seen = best >= 0
        if self.criterion == "weightedSum":
            with np.errstate(invalid="ignore", divide="ignore"):
                conf = total / count[:, None]
        else:
            confidences = np.array([r.confidence for r in self.rules])
            conf = confidences[np.maximum(best, 0)]
        conf = np.where(seen, conf, np.nan)
        # The highest confidence wins; among equals the category that fired first (JPMML keeps
        # the first entity unless a later one is strictly better).
        masked = np.where(seen, conf, -np.inf)
        top = masked.max(axis=1, initial=-np.inf)
        tied = seen & (masked == top[:, None])
        cat = np.argmin(np.where(tied, first, len(self.rules) + 1), axis=1)
        winner = np.where(seen.any(axis=1), best[np.arange(n), cat], -1)
        return conf, winner
