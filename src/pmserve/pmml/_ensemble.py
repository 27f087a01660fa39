"""A MiningModel of plain trees scored as one forest (:mod:`pmserve.pmml._forest`).

The shape sklearn2pmml, XGBoost and LightGBM write - a Segmentation of TreeModels combined by
sum, average or vote, every Segment's predicate True, every split a numeric comparison of an
input field - is compiled once more, after the general compile, into one forest of all trees,
which every row walks at once.

Records the forest cannot finish on its own - a null prediction, lastPrediction, a missing
value without a defaultChild, a leaf without a usable score - are scored by the general
predictor (``mining.py``) on those rows only, so the results are the general path's on every
row: sums run left to right in the segments' order (float32 under ``x-mathContext="float"``),
ties go where the general path sends them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from pmserve.pmml._forest import PAIRS, BoolArray, Forest, IntArray, build_forest
from pmserve.pmml.fields.frame import Frame
from pmserve.pmml.fields.types import Array, DataType, empty
from pmserve.pmml.models.mining.segments import Combination, Segment
from pmserve.pmml.results.prediction import Prediction
from pmserve.pmml.tree import TreePredictor

Predictor = Callable[[Frame], Prediction]


# -- the ensemble ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FusedTrees:
    """A MiningModel's trees walked as one forest; ``general`` scores the records it cannot."""

    forest: Forest
    kind: str  # "values" (regression), "probabilities" (averaged) or "votes"
    #: What a record ending in each forest node gives: its value (NaN: the general path must
    #: give it), its probabilities (categories x nodes, NaN likewise) or the column of its
    #: category (the number of categories: the general path must give it).
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
        x = self.forest.inputs(frame)
        # Records holding a deferred invalid value take the general path, which fails them only
        # where a tree's walk reads the value; the forest never claims.
        held = frame.deferred_rows(self.forest.columns)
        if held is not None and held.all():
            return self.general(frame)
        t = len(self.forest.roots)
        k = len(self.categories)
        step = max(1, PAIRS // t)
        acc = np.empty(n, dtype=np.float32 if self.single else np.float64)
        probs = np.empty((n, k))
        first = np.empty((n, k), dtype=np.intp)
        bad: BoolArray = np.zeros(n, dtype=bool)
        for r0 in range(0, n, step):
            r1 = min(n, r0 + step)
            leaves = self.forest.walk(x[r0:r1])
            if self.kind == "values":
                acc[r0:r1] = _sum_leaves(self.leaf, leaves, self.start, self.weights, self.single)
            elif self.kind == "probabilities":
                for j in range(k):
                    probs[r0:r1, j] = _sum_leaves(self.leaf[j], leaves, 0.0, self.weights, False)
            else:
                bad[r0:r1] = self._count_votes(leaves, probs[r0:r1], first[r0:r1])
        if self.kind == "values":
            bad = np.isnan(acc)
            pred = self._values(n, acc)
        elif self.kind == "probabilities":
            bad = np.asarray(np.isnan(probs).any(axis=1))
            pred = self._probabilities(n, probs)
        else:
            pred = self._votes(n, probs, first, t)
        if held is not None:
            bad = bad | held
        if bad.any():
            return self._fallback(frame, pred, np.flatnonzero(bad))
        return pred

    def _count_votes(self, leaves: IntArray, votes: Array, first: IntArray) -> BoolArray:
        """Votes and earliest voter per category; returns the rows the general path must score."""
        codes = self.leaf.take(leaves, mode="clip")
        t = len(codes)
        for j in range(len(self.categories)):
            hit = codes == j
            if self.weights is not None:
                voter = np.where(hit, np.arange(t)[:, None], t)  # t: a weight of 0 (no vote)
                votes[:, j] = _sum_leaves(np.append(self.weights, 0.0), voter, 0.0, None, False)
            else:
                votes[:, j] = np.count_nonzero(hit, axis=0)
            first[:, j] = np.where(hit.any(axis=0), np.argmax(hit, axis=0), t)
        out: BoolArray = (codes == len(self.categories)).any(axis=0)
        return out

    def _values(self, n: int, acc: Array) -> Prediction:
        total = acc.astype(np.float64)
        t = len(self.forest.roots)
        if self.method in ("average", "weightedAverage"):
            count = float(t) if self.method == "average" else self.weight_sum
            with np.errstate(invalid="ignore", divide="ignore"):
                total = (acc / np.float32(count)).astype(np.float64) if self.single else total / count
            if count == 0:
                total[:] = np.nan
        return Prediction(n, self.dtype, total)

    def _probabilities(self, n: int, acc: Array) -> Prediction:
        count = float(len(self.forest.roots)) if self.method == "average" else self.weight_sum
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


def _sum_leaves(table: Array, leaves: IntArray, start: float, weights: Array | None, single: bool) -> Array:
    """Per row, ``start + table[leaf of tree 0] * w0 + table[leaf of tree 1] * w1 + ...`` added
    left to right as the general path adds segments: float32 terms and sums when ``single``
    (``table`` then holds float32 numbers unless there are weights).

    (``np.add.reduce`` may add pairwise; ``cumsum`` never does.)
    """
    buf = np.empty((len(leaves) + 1, leaves.shape[1]), dtype=np.float32 if single else np.float64)
    buf[0] = start
    if weights is None:
        table.take(leaves, out=buf[1:], mode="clip")
    else:
        buf[1:] = table.take(leaves, mode="clip") * weights[:, None]
    np.cumsum(buf, axis=0, out=buf)
    out: Array = buf[-1]
    return out


Convert = Callable[[Any, DataType, DataType], Any]


def fuse(segments: Sequence[Segment], combination: Combination, general: Predictor, start: float,
         convert: Convert) -> Predictor | None:
    """The MiningModel's segments as one forest, or None when they are not all plain trees.

    ``convert(category, segment type, model type)`` is how the general path reads a segment's
    category as one of the model's.
    """
    method = combination.method
    fn = combination.function_name
    if fn == "regression" and method in ("sum", "weightedSum", "average", "weightedAverage"):
        kind = "values"
    elif fn == "classification" and method in ("average", "weightedAverage"):
        kind = "probabilities"
    elif fn == "classification" and method in ("majorityVote", "weightedMajorityVote"):
        kind = "votes"
    else:
        return None
    if combination.wanted_ids or not segments:
        return None
    trees: list[TreePredictor] = []
    for seg in segments:
        plan = seg.plan
        pred = plan.predictor
        if (seg.predicate is not None or not isinstance(pred, TreePredictor) or plan.targets is not None
                or plan.output is not None or (pred.classes is None) != (kind == "values")):
            return None
        trees.append(pred)
    floats = frozenset(mf.name for seg in segments for mf in seg.plan.mining_fields if mf.info.dtype is DataType.FLOAT)
    forest = build_forest([p.flat for p in trees], floats)
    if forest is None or any(name in seg.plan.derived for seg in segments for name in forest.columns):
        return None
    categories = combination.categories
    got = _leaf_table(forest, trees, kind, categories, combination.dtype, convert)
    if got is None:
        return None
    weights = np.array([s.weight for s in segments], dtype=np.float64)
    weighted = method.startswith("weighted")
    if kind == "values" and combination.single_precision and not weighted:
        got = got.astype(np.float32)  # each term is rounded to float32 before it is added
    # Added as the general path adds them: a row of a (rows x segments) table, pairwise.
    weight_sum = float((np.ones((1, len(weights)), dtype=bool) * weights).sum(axis=1)[0])
    index = {c: j for j, c in enumerate(categories)}
    order = [index[c] for c in combination.winner_order if c in index]
    order += [j for j in range(len(categories)) if j not in order]
    labels = np.empty(len(categories), dtype=object if combination.dtype.is_string else np.float64)
    for j, c in enumerate(categories):
        labels[j] = c
    return FusedTrees(
        forest, kind, got, method, weights if weighted else None, weight_sum,
        combination.single_precision, start, combination.dtype, categories, labels,
        np.asarray(order, dtype=np.intp), general)


def _leaf_table(forest: Forest, trees: Sequence[TreePredictor], kind: str, categories: tuple[Any, ...],
                dtype: DataType, convert: Convert) -> Array | None:
    """Per forest node: the result a record ending there gives (``FusedTrees.leaf``)."""
    src = forest.source
    known = src >= 0
    at = src[known]
    if kind == "values":
        scores = np.concatenate([p.flat.scores for p in trees])
        values = np.full(len(src), np.nan)
        values[known] = scores[at]
        return values
    index = {c: j for j, c in enumerate(categories)}
    k = len(categories)
    tables: list[Array] = []
    unusable: list[BoolArray] = []
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
        unusable_here = missing | classes.undefined[:m] | ~p.flat.has_score
        if kind == "probabilities":
            # A tree without probabilities has no prediction in an average (general path).
            unusable_here |= np.isnan(own).any(axis=1) if len(cols) else True
            full = np.zeros((m, k))
            full[:, [j for j in cols if j is not None]] = own
            tables.append(full)
        else:
            code = np.full(m, -1, dtype=np.intp)
            for c, j in zip(classes.categories, cols, strict=True):
                if j is not None:  # else a category the model's type cannot hold: a missing vote
                    code[np.asarray(value == c, dtype=bool)] = j
            unusable_here |= code < 0
            tables.append(code)
        unusable.append(unusable_here)
    bad = np.ones(len(src), dtype=bool)
    bad[known] = np.concatenate(unusable)[at]
    table = np.concatenate(tables)
    if kind == "votes":
        codes = np.full(len(src), k, dtype=np.intp)
        codes[known] = table[at]
        codes[bad] = k
        return codes
    probs = np.full((k, len(src)), np.nan)
    probs[:, known] = table[at].T
    probs[:, bad] = np.nan
    return probs
