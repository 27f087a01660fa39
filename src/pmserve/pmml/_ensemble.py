"""A MiningModel of plain trees scored as one forest: every row walks every tree at once.

The shape sklearn2pmml, XGBoost and LightGBM write - a Segmentation of TreeModels combined by
sum, average or vote, every Segment's predicate True, every split a numeric comparison of an
input field - is compiled once more, after the general compile, into one set of flat arrays
for all trees.  Each node of a tree becomes a *test* ``value > threshold`` whose two outcomes
are two adjacent nodes, so one level of all (row, tree) pairs is a handful of numpy calls:
gather the node records, gather the inputs they test, compare, step.  Leaves lead to
themselves; pairs that reached a leaf leave the walk once enough of them have.

Any Node with several children becomes a chain of such tests, as PMML defines: the first
child whose predicate is true is entered, a child implied by its sibling (True, or the
complement) is entered when that sibling is false, and when no child is true the record ends
in the parent (noTrueChildStrategy returnLastPrediction) or nowhere.  A missing value leads
where missingValueStrategy says: the defaultChild, the next sibling (``none``: an unknown
predicate is false).  ``lessThan`` and ``greaterOrEqual`` compare with the next smaller
double, which is the same test (``v >= t`` exactly when ``v > nextafter(t, -inf)``); float
fields and their thresholds are already float32 values (``_tree_flat``).

Records the forest cannot finish on its own - a null prediction, lastPrediction, a missing
value without a defaultChild, a leaf without a usable score - are scored by the general
predictor (``mining.py``) on those rows only, so the results are the general path's on every
row: sums run left to right in the segments' order (float32 under ``x-mathContext="float"``),
ties go where the general path sends them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from pmserve.pmml._frame import Frame
from pmserve.pmml._prediction import Prediction
from pmserve.pmml._tree_flat import _ALWAYS, _EQ, _GT, _LT, FlatTree
from pmserve.pmml._types import Array, DataType, empty
from pmserve.pmml.tree import TreePredictor

if TYPE_CHECKING:  # mining imports this module
    from pmserve.pmml.mining import Combination, Segment

IntArray = npt.NDArray[np.intp]
BoolArray = npt.NDArray[np.bool_]
Predictor = Callable[[Frame], Prediction]

#: Original nodes built together (see build_forest).
_BLOCK_NODES = 1 << 16
_FLOAT32_MAX = float(np.finfo(np.float32).max)
_TESTS = np.array([_LT, _LT | _EQ, _GT, _GT | _EQ], dtype=np.int64)
_STRATEGIES = ("none", "nullPrediction", "lastPrediction", "defaultChild")
#: (row, tree) pairs walked together: the walk's arrays stay in the processor's cache.
_PAIRS = 1 << 15
#: The walk sheds the pairs that reached a leaf once fewer than this share of them still walk.
_SHED = 0.7
#: Levels walked by every pair before the finished ones are counted (no tree ends that early),
#: and the fewest pairs worth counting.
_SHED_FROM = 3
_SHED_MIN = 4096


@dataclass(frozen=True)
class Forest:
    """All trees as one array of tests.  Node 0 is a sink (a leaf that no tree result comes from).

    Node i sends a record to the second of its two children when the input is above
    ``thr[i]``; ``code[i]`` packs the first child (``code >> shift``) and the input column
    (``code & (2**shift - 1)``).  A leaf has ``thr = +inf`` and itself as first child.
    """

    thr: Array
    #: The thresholds as float32 numbers when every tested field is a PMML float, else None.
    thr32: npt.NDArray[np.float32] | None
    code: npt.NDArray[np.int64]
    miss: IntArray  # where a missing input leads (a leaf: itself)
    source: IntArray  # the original node (all trees numbered together) a leaf's result is, -1 none
    roots: IntArray
    depth: int
    shift: int
    columns: tuple[str, ...]

    def walk(self, x: Array) -> IntArray:
        """The leaf each (tree, row) pair ends in, trees x rows; ``x`` is rows x columns (float32
        numbers compared with ``thr32``, or doubles)."""
        c, width = x.shape
        thresholds = self.thr32 if x.dtype == np.float32 and self.thr32 is not None else self.thr
        t = len(self.roots)
        xf = x.reshape(-1)
        mask = (1 << self.shift) - 1
        node = np.repeat(self.roots, c)
        grid = np.empty((t, c), dtype=np.intp)
        grid[:] = np.arange(0, c * width, width, dtype=np.intp)  # where each pair's row starts in x
        offset: IntArray = grid.reshape(-1)
        final = node
        pos: IntArray | None = None  # positions in ``final`` of the pairs still walking
        missing = bool(np.isnan(xf).any())
        # Few pairs: numpy's per-call cost outweighs the work shedding saves.
        shed_from = _SHED_FROM if len(node) >= _SHED_MIN else self.depth
        for level in range(self.depth):
            thr = thresholds.take(node, mode="clip")
            if level >= shed_from:
                walking = thr < np.inf
                alive = int(np.count_nonzero(walking))
                if alive < _SHED * len(node):
                    if pos is None:
                        final = node.copy()
                        pos = np.arange(len(node), dtype=np.intp)
                    final[pos] = node  # the finished pairs keep their leaf
                    if not alive:
                        return final.reshape(t, c)
                    keep = np.flatnonzero(walking)
                    node, offset, pos, thr = node[keep], offset[keep], pos[keep], thr[keep]
            code = self.code.take(node, mode="clip")
            at = np.bitwise_and(code, mask, out=np.empty_like(node) if missing else node)
            at += offset
            v = xf.take(at, mode="clip")
            step = np.right_shift(code, self.shift, out=code)
            # A bool adds as 0 or 1 (viewed as bytes: no conversion pass).
            np.add(step, np.greater(v, thr).view(np.uint8), out=step, casting="unsafe")
            if missing:
                unknown = np.isnan(v)
                if unknown.any():
                    step[unknown] = self.miss[node[unknown]]
            node = step
        if pos is None:
            return node.reshape(t, c)
        final[pos] = node
        return final.reshape(t, c)


def build_forest(flats: Sequence[FlatTree], float_fields: frozenset[str] = frozenset()) -> Forest | None:
    """The trees as one Forest; None when one of them is not of the plain shape.

    When every tested field is in ``float_fields`` (PMML float: its values and thresholds are
    float32 numbers) the forest also compares in float32, which halves what the walk moves.
    """
    names: dict[str, int] = {}
    colmaps: list[IntArray] = []
    for flat in flats:
        if (flat.has_exotic or flat.missing_strategy not in _STRATEGIES or flat.n_nodes == 0
                or flat.op_mask[0] != _ALWAYS or bool((flat.set_row >= 0).any())
                or any(col.vocabulary is not None for col in flat.columns)):
            return None
        colmaps.append(np.array([names.setdefault(col.name, len(names)) for col in flat.columns] or [0],
                                dtype=np.intp))
    shift = max(1, (max(len(names), 1) - 1).bit_length())
    narrow = bool(names) and float_fields.issuperset(names)
    # Built a few thousand nodes at a time: the building arrays of a 500-tree forest would
    # otherwise be several times the size of the forest itself.
    blocks: list[_Block] = []
    start = 0
    while start < len(flats):
        stop, nodes = start, 0
        while stop < len(flats) and (stop == start or nodes + flats[stop].n_nodes <= _BLOCK_NODES):
            nodes += flats[stop].n_nodes
            stop += 1
        block = _block(flats[start:stop], colmaps[start:stop], shift, narrow)
        if block is None:
            return None
        blocks.append(block)
        start = stop
    # One sink for all; each block's other nodes, roots and original nodes follow the previous block's.
    thr_parts, thr32_parts, code_parts, miss_parts, source_parts, root_parts = [], [], [], [], [], []
    placed = 0
    node_offset = 0
    for block in blocks:
        moved = np.arange(len(block.thr), dtype=np.int64) + placed
        moved[0] = 0
        thr_parts.append(block.thr[1:])
        if block.thr32 is not None:
            thr32_parts.append(block.thr32[1:])
        code_parts.append(((moved[block.code[1:] >> shift]) << shift) | (block.code[1:] & ((1 << shift) - 1)))
        miss_parts.append(moved[block.miss[1:]])
        source_parts.append(np.where(block.source[1:] >= 0, block.source[1:] + node_offset, -1))
        root_parts.append(moved[block.roots])
        placed += len(block.thr) - 1
        node_offset += block.n_nodes
    # Each joined array replaces its parts at once: a large forest's peak memory stays near its size.
    thr = np.concatenate([np.full(1, np.inf), *thr_parts])
    thr_parts.clear()
    thr32 = (np.concatenate([np.full(1, np.inf, dtype=np.float32), *thr32_parts])
             if narrow and len(thr32_parts) == len(blocks) else None)
    thr32_parts.clear()
    code = np.concatenate([np.zeros(1, dtype=np.int64), *code_parts])
    code_parts.clear()
    miss = np.concatenate([np.zeros(1, dtype=np.intp), *miss_parts]).astype(np.intp)
    miss_parts.clear()
    source = np.concatenate([np.full(1, -1, dtype=np.intp), *source_parts])
    source_parts.clear()
    blocks.clear()
    roots = np.concatenate(root_parts).astype(np.intp)
    # Renumbered level by level: the walk advances all pairs one level at a time, so the nodes
    # of one level of all trees then sit together in memory, the first levels in cache.
    new, depth = _level_order(thr, code, roots, shift)
    mask = (1 << shift) - 1
    code = _permuted((new[code >> shift].astype(np.int64) << shift) | (code & mask), new)
    thr = _permuted(thr, new)
    thr32 = None if thr32 is None else _permuted(thr32, new)
    miss = _permuted(new[miss], new)
    source = _permuted(source, new)
    return Forest(thr, thr32, code, miss, source, new[roots], depth, shift, tuple(names))


def _permuted(values: npt.NDArray[Any], new: IntArray) -> npt.NDArray[Any]:
    out = np.empty_like(values)
    out[new] = values
    return out


def _level_order(thr: Array, code: npt.NDArray[np.int64], roots: IntArray, shift: int) -> tuple[IntArray, int]:
    """New number of every node - the sink, every root, every root's two children, ... - and the
    number of levels below the roots."""
    size = len(thr)
    new = np.empty(size, dtype=np.intp)
    new[0] = 0
    new[roots] = np.arange(1, len(roots) + 1)
    placed = 1 + len(roots)
    depth = 0
    front = roots
    while True:
        tests = front[thr[front] < np.inf]
        if not len(tests):
            break
        depth += 1
        lo = code[tests] >> shift
        kids = np.column_stack([lo, lo + 1]).reshape(-1)  # a test's two children stay side by side
        new[kids] = np.arange(placed, placed + len(kids))
        placed += len(kids)
        front = kids
    if placed != size:  # pragma: no cover - every node is a root, a child or the sink
        raise AssertionError("forest nodes unreachable from the roots")
    return new, depth


@dataclass(frozen=True)
class _Block:
    """Some consecutive trees as a forest of their own (node 0 its sink), before they are joined."""

    thr: Array
    thr32: npt.NDArray[np.float32] | None
    code: npt.NDArray[np.int64]
    miss: IntArray
    source: IntArray  # original node, counted from the block's first tree
    roots: IntArray
    n_nodes: int  # original nodes of the block's trees


def _block(flats: Sequence[FlatTree], colmaps: Sequence[IntArray], shift: int, narrow: bool) -> _Block | None:
    parts: dict[str, list[Any]] = {k: [] for k in (
        "kids", "par", "slot", "count", "op", "column", "thr", "implied", "unknown", "default", "tree", "roots")}
    strategy = np.zeros(len(flats), dtype=np.intp)
    last = np.zeros(len(flats), dtype=bool)
    has_score: list[Any] = []
    offset = 0
    for t, (flat, colmap) in enumerate(zip(flats, colmaps, strict=True)):
        m = flat.n_nodes
        counts = flat.child_count
        total = int(counts.sum())
        parts["kids"].append(flat.children[:total] + offset)
        parts["par"].append(np.repeat(np.arange(m, dtype=np.intp), counts) + offset)
        parts["slot"].append(np.arange(total, dtype=np.intp) - np.repeat(flat.child_start, counts))
        parts["count"].append(np.repeat(counts, counts))
        parts["op"].append(flat.op_mask)
        parts["column"].append(colmap[flat.column])
        parts["thr"].append(flat.threshold)
        parts["implied"].append(flat.implied)
        parts["unknown"].append(flat.unknown_if_missing)
        parts["default"].append(np.where(flat.default_child >= 0, flat.default_child + offset, -1))
        parts["tree"].append(np.full(m, t, dtype=np.intp))
        parts["roots"].append(offset)
        has_score.append(flat.has_score)
        strategy[t] = _STRATEGIES.index(flat.missing_strategy)
        last[t] = flat.return_last
        offset += m
    kids, par, slot, count = (np.concatenate(parts[k]) for k in ("kids", "par", "slot", "count"))
    op, column, threshold, implied, unknown, default, tree = (
        np.concatenate(parts[k]) for k in ("op", "column", "thr", "implied", "unknown", "default", "tree"))
    scored = np.concatenate(has_score)
    n_trees = len(flats)
    # A child is tested unless it is implied by its previous sibling; only a last child may be.
    tested = (slot == 0) | ~implied[kids]
    if bool((~tested & (slot < count - 1)).any()):
        return None
    tests = np.flatnonzero(tested)  # child entries, one test each
    t_node = kids[tests]
    t_op = op[t_node]
    t_thr = threshold[t_node]
    if not (np.isin(t_op, _TESTS).all() and unknown[t_node].all() and np.isfinite(t_thr).all()):
        return None
    n_tests = len(tests)
    pair = np.cumsum(tested) - 1  # per child entry: its test (valid where tested)
    t_tree = tree[t_node]
    # Test p's two children are nodes 2 + tree + 2p and the next; a tree's root comes just
    # before its first test's children.
    first_pair = np.searchsorted(t_tree, np.arange(n_trees))
    roots = 1 + np.arange(n_trees) + 2 * first_pair
    size = 1 + n_trees + 2 * n_tests
    lo_of = 2 + t_tree + 2 * np.arange(n_tests)
    true_side = np.where(t_op <= (_LT | _EQ), 0, 1)  # lessThan/lessOrEqual: true below the threshold
    false_at = lo_of + 1 - true_side
    # Where each original node sits: the root, the true child of its test, or the false child
    # of its previous sibling's test.
    where = np.empty(offset, dtype=np.intp)
    where[np.asarray(parts["roots"], dtype=np.intp)] = roots
    prev = np.maximum(np.arange(len(kids)) - 1, 0)
    where[kids] = np.where(tested, lo_of[pair] + true_side[pair], false_at[pair[prev]])
    # Where each test sits: its parent node for a first child, else its previous sibling's false child.
    t_prev = prev[tests]
    t_at = np.where(slot[tests] == 0, where[par[tests]], false_at[pair[t_prev]])
    t_par = par[tests]
    t_last = slot[tests] == count[tests] - 1
    # A missing input: missingValueStrategy decides.
    t_strategy = strategy[t_tree]
    miss = np.zeros(n_tests, dtype=np.intp)  # the sink: the general path decides
    dc = default[t_par]
    use_dc = (t_strategy == _STRATEGIES.index("defaultChild")) & (dc >= 0)
    miss[use_dc] = where[dc[use_dc]]
    # "none": the unknown test is false; the next sibling is tested, or entered if it is True.
    none = t_strategy == _STRATEGIES.index("none")
    miss[none & t_last] = false_at[none & t_last]
    nxt = np.minimum(tests + 1, len(kids) - 1)
    next_kid = kids[nxt]
    next_tested = tested[nxt]
    inner = none & ~t_last
    go_test = inner & next_tested
    miss[go_test] = t_at[pair[nxt[go_test]]]
    go_true = inner & ~next_tested & (op[next_kid] == _ALWAYS)
    miss[go_true] = where[next_kid[go_true]]
    # The node arrays.
    below = np.isin(t_op, (_LT, _GT | _EQ))  # compared with the next smaller number
    thr = np.full(size, np.inf)
    thr[t_at] = np.where(below, np.nextafter(t_thr, -np.inf), t_thr)
    thr32: npt.NDArray[np.float32] | None = None
    # (Thresholds of float fields are float32 numbers already; another field keeps doubles.)
    narrow = narrow and bool((np.abs(t_thr) <= _FLOAT32_MAX).all())
    t32 = t_thr.astype(np.float32) if narrow else t_thr
    if narrow and bool((t32 == t_thr).all()):
        thr32 = np.full(size, np.inf, dtype=np.float32)
        thr32[t_at] = np.where(below, np.nextafter(t32, np.float32(-np.inf)), t32)
    code = np.arange(size, dtype=np.int64) << shift
    code[t_at] = (lo_of.astype(np.int64) << shift) | column[t_node]
    miss_all = np.arange(size, dtype=np.intp)
    miss_all[t_at] = miss
    source = np.full(size, -1, dtype=np.intp)
    is_leaf = np.ones(offset, dtype=bool)
    is_leaf[par] = False
    leaf_nodes = np.flatnonzero(is_leaf)
    source[where[leaf_nodes]] = leaf_nodes
    # No true child: the record ends in the parent when returnLastPrediction names it.
    ends = np.flatnonzero(t_last)
    owner = t_par[ends]
    keep = last[t_tree[ends]] & scored[owner]
    source[false_at[ends[keep]]] = owner[keep]
    return _Block(thr, thr32, code, miss_all, source, roots, offset)


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
        x = self._inputs(frame)
        t = len(self.forest.roots)
        k = len(self.categories)
        step = max(1, _PAIRS // t)
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
        if bad.any():
            return self._fallback(frame, pred, np.flatnonzero(bad))
        return pred

    def _inputs(self, frame: Frame) -> Array:
        """The tested fields as one rows x columns matrix (a record's values side by side), in
        float32 when the forest compares float fields and their values are float32 numbers."""
        columns = self.forest.columns
        x = np.zeros((frame.n, max(len(columns), 1)))
        for j, name in enumerate(columns):
            x[:, j] = frame.get(name)
        if self.forest.thr32 is not None:
            narrow = x.astype(np.float32)
            if np.array_equal(narrow, x, equal_nan=True):
                return narrow
        return x

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
