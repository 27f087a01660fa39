"""Trees as one forest of flat arrays, walked by all (row, tree) pairs at once.

Each node of a tree becomes a *test* ``value > threshold`` whose two outcomes are two adjacent
nodes, so one level of all (row, tree) pairs is a handful of numpy calls: gather the node
records, gather the inputs they test, compare, step.  Leaves lead to themselves; pairs that
reached a leaf leave the walk once enough of them have.

Any Node with several children becomes a chain of such tests, as PMML defines: the first
child whose predicate is true is entered, a child implied by its sibling (True, or the
complement) is entered when that sibling is false, and when no child is true the record ends
in the parent (noTrueChildStrategy returnLastPrediction) or nowhere.  A missing value leads
where missingValueStrategy says: the defaultChild, the next sibling (``none``: an unknown
predicate is false), or the sink (node 0), whose records the caller scores the general way.
``lessThan`` and ``greaterOrEqual`` compare with the next smaller double, which is the same
test (``v >= t`` exactly when ``v > nextafter(t, -inf)``); float fields and their thresholds
are already float32 values (``_tree_flat``).

Users: ``_ensemble`` (a MiningModel's trees) and ``tree`` (a TreeModel on its own).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from pmserve.pmml._tree_flat import _ALWAYS, _EQ, _GT, _LT, FlatTree
from pmserve.pmml.fields.frame import Frame
from pmserve.pmml.fields.types import Array

IntArray = npt.NDArray[np.intp]
BoolArray = npt.NDArray[np.bool_]

#: Original nodes built together (see build_forest).
_BLOCK_NODES = 1 << 16
_FLOAT32_MAX = float(np.finfo(np.float32).max)
_TESTS = np.array([_LT, _LT | _EQ, _GT, _GT | _EQ], dtype=np.int64)
_STRATEGIES = ("none", "nullPrediction", "lastPrediction", "defaultChild")
#: (row, tree) pairs walked together: the walk's arrays stay in the processor's cache.
PAIRS = 1 << 15
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

    def inputs(self, frame: Frame) -> Array:
        """The tested fields as one rows x columns matrix (a record's values side by side), in
        float32 when the forest compares float fields and their values are float32 numbers."""
        x = np.zeros((frame.n, max(len(self.columns), 1)))
        for j, name in enumerate(self.columns):
            # Unclaimed: a caller that finds deferred invalid values here (Frame.has_deferred)
            # hands the records to the general walk, which claims them where it reads them.
            x[:, j] = frame.peek(name)
        if self.thr32 is not None:
            narrow = x.astype(np.float32)
            if np.array_equal(narrow, x, equal_nan=True):
                return narrow
        return x

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
            if c > 1:  # (one row starts at 0)
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
