"""A MiningModel of plain trees scored as one forest (:mod:`pmserve.pmml.trees.walk`).

The shape sklearn2pmml, XGBoost and LightGBM write - a Segmentation of TreeModels combined by
sum, average or vote, every Segment's predicate True - is compiled once more, after the general
compile, into one forest of all trees: the compiled walker takes each record through every tree
and adds the results tree by tree, in the segments' order, as the general path adds them
(float32 under ``x-mathContext="float"``).

Records the forest cannot finish on its own - a null prediction, a failure, a node without a
usable score, a deferred invalid value - are scored by the general predictor (``mining.py``) on
those rows only, so the results are the general path's on every row; ties go where the general
path sends them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from pmserve.pmml.fields.frame import Frame
from pmserve.pmml.fields.types import Array, DataType, empty
from pmserve.pmml.kernels import trees as kt
from pmserve.pmml.models.mining.segments import Combination, Segment
from pmserve.pmml.results.prediction import Prediction
from pmserve.pmml.trees.flat import BoolArray, IntArray
from pmserve.pmml.trees.model import TreePredictor
from pmserve.pmml.trees.walk import Walker, join

Predictor = Callable[[Frame], Prediction]

_KINDS = {"values": kt.VALUES, "probabilities": kt.PROBABILITIES, "votes": kt.VOTES}


@dataclass(frozen=True)
class FusedTrees:
    """A MiningModel's trees walked as one forest; ``general`` scores the records it cannot."""

    walker: Walker
    kind: str  # "values" (regression), "probabilities" (averaged) or "votes"
    #: What a record ending in each node gives (nodes x 1, or nodes x categories): its value
    #: (NaN: the general path must give it), its probabilities (NaN likewise) or the column of
    #: its category (the number of categories: the general path must give it).
    leaf: Array
    method: str
    #: Segment weights where they count (weighted methods), else None.
    weights: Array | None
    #: The sum of the weights as the general path adds them (weighted averages).
    weight_sum: float
    single: bool
    start: float
    dtype: DataType
    categories: tuple[Any, ...]
    labels: Array  # the categories as an engine column
    order: IntArray  # category columns in the order that wins ties
    general: Predictor

    def __call__(self, frame: Frame) -> Prediction:
        n = frame.n
        if n == 0:
            return self.general(frame)
        x = self.walker.inputs(frame)
        # Records holding a deferred invalid value take the general path, which fails them only
        # where a tree's walk reads the value; the forest never claims.
        held = frame.deferred_rows(self.walker.names) if frame.errors.pending else None
        if held is not None and held.all():
            return self.general(frame)
        t = len(self.walker.trees)
        k = len(self.categories)
        acc, first, bad = self.walker.accumulate(x, _KINDS[self.kind], self.leaf, self.weights, self.single,
                                                 self.start, 1 if self.kind == "values" else k)
        if self.kind == "values":
            total = acc[:, 0]
            bad = np.isnan(total)
            pred = self._values(n, total.astype(np.float32) if self.single else total)
        elif self.kind == "probabilities":
            bad = np.asarray(np.isnan(acc).any(axis=1))
            pred = self._probabilities(n, acc)
        else:
            pred = self._votes(n, acc, first, t)
        if held is not None:
            bad = bad | held
        if bad.any():
            return self._fallback(frame, pred, np.flatnonzero(bad))
        return pred

    def _values(self, n: int, acc: Array) -> Prediction:
        total = acc.astype(np.float64)
        t = len(self.walker.trees)
        if self.method in ("average", "weightedAverage"):
            count = float(t) if self.method == "average" else self.weight_sum
            with np.errstate(invalid="ignore", divide="ignore"):
                total = (acc / np.float32(count)).astype(np.float64) if self.single else total / count
            if count == 0:
                total[:] = np.nan
        return Prediction(n, self.dtype, total)

    def _probabilities(self, n: int, acc: Array) -> Prediction:
        count = float(len(self.walker.trees)) if self.method == "average" else self.weight_sum
        with np.errstate(invalid="ignore", divide="ignore"):
            result = acc / count
        k = len(self.categories)
        ok = np.asarray(~np.isnan(result).any(axis=1)) if k else np.zeros(n, dtype=bool)
        ranked = result[:, self.order]
        ranked[np.isnan(ranked)] = -np.inf
        winner = self.order[np.argmax(ranked, axis=1)] if k else np.zeros(n, dtype=np.intp)
        return Prediction(n, self.dtype, self._pick(winner, ok, n), self.categories, result)

    def _votes(self, n: int, votes: Array, first: IntArray, t: int) -> Prediction:
        total = votes.sum(axis=1)
        no_result = total <= 0
        with np.errstate(invalid="ignore", divide="ignore"):
            probs = votes / total[:, None]
        probs[no_result] = np.nan
        k = len(self.categories)
        if k:
            # A tie goes to the category that got its first vote from the earliest segment.
            top = votes == votes.max(axis=1, keepdims=True)
            winner = np.argmin(np.where(top, first, t + 1), axis=1)
        else:
            winner = np.zeros(n, dtype=np.intp)
        return Prediction(n, self.dtype, self._pick(winner, ~no_result, n), self.categories, probs)

    def _pick(self, winner: IntArray, ok: BoolArray, n: int) -> Array:
        value = empty(self.dtype, n)
        if len(self.categories) and ok.any():
            value[ok] = self.labels[winner[ok]]
        return value

    def _fallback(self, frame: Frame, pred: Prediction, rows: IntArray) -> Prediction:
        """The general path's results on the records the forest could not finish."""
        sub = self.general(frame.subset(rows, {}))
        if sub.categories != pred.categories:  # pragma: no cover - trees name their categories at load
            return self.general(frame)
        pred.value[rows] = sub.value
        if pred.probabilities is not None and sub.probabilities is not None:
            pred.probabilities[rows] = sub.probabilities
        return pred


Convert = Callable[[Any, DataType, DataType], Any]

#: What the forest adds up for each (functionName, multipleModelMethod) it can combine.
_FUSED_KINDS = {("regression", "sum"): "values", ("regression", "weightedSum"): "values",
                ("regression", "average"): "values", ("regression", "weightedAverage"): "values",
                ("classification", "average"): "probabilities",
                ("classification", "weightedAverage"): "probabilities",
                ("classification", "majorityVote"): "votes", ("classification", "weightedMajorityVote"): "votes"}


def fuse(segments: Sequence[Segment], combination: Combination, general: Predictor, start: float,
         convert: Convert) -> Predictor | None:
    """The MiningModel's segments as one forest, or None when they are not all plain trees.

    ``convert(category, segment type, model type)`` is how the general path reads a segment's
    category as one of the model's.
    """
    method = combination.method
    kind = _FUSED_KINDS.get((combination.function_name, method))
    if kind is None or combination.wanted_ids or not segments:
        return None
    trees: list[TreePredictor] = []
    for seg in segments:
        plan = seg.plan
        pred = plan.predictor
        if (seg.predicate is not None or not isinstance(pred, TreePredictor) or plan.targets is not None
                or plan.output is not None or (pred.classes is None) != (kind == "values")):
            return None
        trees.append(pred)
    if any(p.flat.has_exotic or not p.flat.single_node for p in trees):
        return None  # a forest walks without stopping at a predicate the walker cannot test
    walker = join([p.flat for p in trees])
    if any(name in seg.plan.derived for seg in segments for name in walker.names):
        return None
    categories = combination.categories
    got = _leaf_table(trees, kind, categories, combination.dtype, convert)
    if got is None:
        return None
    weights = np.array([s.weight for s in segments], dtype=np.float64)
    weighted = method.startswith("weighted")
    # Added as the general path adds them: a row of a (rows x segments) table, pairwise.
    weight_sum = float((np.ones((1, len(weights)), dtype=bool) * weights).sum(axis=1)[0])
    index = {c: j for j, c in enumerate(categories)}
    order = [index[c] for c in combination.winner_order if c in index]
    order += [j for j in range(len(categories)) if j not in order]
    labels = np.empty(len(categories), dtype=object if combination.dtype.is_string else np.float64)
    labels[:] = list(categories)
    return FusedTrees(
        walker, kind, got, method, weights if weighted else None, weight_sum,
        combination.single_precision, start, combination.dtype, categories, labels,
        np.asarray(order, dtype=np.intp), general)


def _leaf_table(trees: Sequence[TreePredictor], kind: str, categories: tuple[Any, ...], dtype: DataType,
                convert: Convert) -> Array | None:
    """Per node of the joined trees: the result a record ending there gives (``FusedTrees.leaf``)."""
    if kind == "values":
        return np.ascontiguousarray(np.concatenate([p.flat.scores for p in trees])[:, None])
    index = {c: j for j, c in enumerate(categories)}
    k = len(categories)
    tables: list[Array] = []
    for p in trees:
        classes = p.classes
        if classes is None:
            return None
        cols = [index.get(convert(c, p.dtype, dtype)) for c in classes.categories]
        if len(set(cols)) != len(cols) or (kind == "probabilities" and None in cols):
            return None
        m = p.flat.n_nodes
        value = p.values[:m]
        missing = np.asarray(value == None, dtype=bool) if value.dtype == object else np.isnan(value)  # noqa: E711
        own = classes.probabilities[:m]
        unusable = missing | classes.undefined[:m] | ~p.flat.has_score
        if kind == "probabilities":
            # A tree without probabilities has no prediction in an average (general path).
            unusable |= np.isnan(own).any(axis=1) if len(cols) else True
            full = np.zeros((m, k))
            full[:, [j for j in cols if j is not None]] = own
            full[unusable] = np.nan
            tables.append(full)
        else:
            code = np.full(m, float(k))
            for c, j in zip(classes.categories, cols, strict=True):
                if j is not None:  # else a category the model's type cannot hold: a missing vote
                    code[np.asarray(value == c, dtype=bool)] = j
            code[unusable] = k
            tables.append(code[:, None])
    return np.ascontiguousarray(np.concatenate(tables))
