"""The one tree walker: a tree, or all trees of an ensemble, over the records of a frame.

The node arrays of the trees (:mod:`pmserve.pmml.trees.flat`) are joined once into one set of
arrays - node rows renumbered, children, value sets and input columns shared - plus the child
entries as compact test records (:func:`_records`), and walked by the compiled kernel of
:mod:`pmserve.pmml.kernels.trees` (a forest: a block of records through one tree before the
next).  This module does what the kernel cannot:

* reads the input columns (one matrix, each field once, whatever the number of trees);
* evaluates the exotic predicates (compound, surrogate, string ordering) of the records that
  reach one, and resumes their walk with the answer;
* claims the deferred invalid values the walk read (a record fails only where a test reads an
  invalid value, as in JPMML) and reports the records that end without a defaultChild or in a
  Node without a score.

Users: ``model`` (a TreeModel) and ``ensemble`` (a MiningModel's trees as one forest).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from pmserve.errors import EvaluationError
from pmserve.pmml.fields.frame import Frame
from pmserve.pmml.fields.types import Array
from pmserve.pmml.kernels import trees as kt
from pmserve.pmml.trees.flat import BoolArray, Column, FlatTree, IntArray, read_columns

Int64Array = npt.NDArray[np.int64]

#: The final node of a record without a prediction.
NO_NODE = -1
#: What the kernel is handed as the columns read when it need not track them.
_NO_READS = np.zeros((1, 1), dtype=np.bool_)


@dataclass(frozen=True)
class Walker:
    """Trees joined for the kernel: node ``i`` of tree ``t`` is row ``trees[t, 0] + i``."""

    flats: tuple[FlatTree, ...]
    nd: npt.NDArray[np.int32]
    threshold: Array
    children: npt.NDArray[np.int32]
    sets: BoolArray
    trees: npt.NDArray[np.int64]  # per tree: root, strategy, returnLastPrediction, first test
    #: The child entries (positions in ``children``) as test records (``kernels.trees.R_*``):
    #: true goes to the child (its first child's test, or the record ends in it), false to the
    #: next sibling's test, or an implied sibling, or after the last child the parent.
    tests: Array
    columns: tuple[Column, ...]

    @functools.cached_property
    def names(self) -> tuple[str, ...]:
        return tuple(col.name for col in self.columns)

    @functools.cached_property
    def links(self) -> npt.NDArray[np.int32]:
        """The int32 fields of the test records (the same memory)."""
        return self.tests.view(np.int32)

    @functools.cached_property
    def ones(self) -> Array:
        return np.ones(len(self.trees))

    def inputs(self, frame: Frame) -> Array:
        """The test columns, one row per column (unclaimed: see :meth:`walk`)."""
        return read_columns(frame, self.columns)

    def walk(self, frame: Frame, x: Array | None = None) -> tuple[Int64Array, Int64Array, Int64Array]:
        """One tree: the final node of each record (-1: none, also a failed record), the missing
        levels met on the way (defaultChild taken, surrogate decided by an alternative), and the
        kernel's outcome (``kernels.trees.BLEND``: a record the caller blends).

        Records that fail (no defaultChild, a Node without a score) are reported with ``frame.fail``
        except a blended tree's scoreless end, which is the caller's.
        """
        flat = self.flats[0]
        x = self.inputs(frame) if x is None else x
        held = frame.deferred_rows(self.names) if frame.errors.pending else None
        track = held is not None and bool(held.any())
        read = np.zeros((frame.n, len(self.columns) or 1), dtype=np.bool_) if track else _NO_READS
        tree = self.trees[0]
        state, seen = kt.walk_all(x, self.nd, self.threshold, self.children, self.sets, tree, self.tests,
                                  self.links, read, track)
        if seen == 1 << kt.DONE and not track:
            return state[:, 0], state[:, 2], state[:, 3]
        while True:
            if track:  # the values the walk read, claimed before what it reads next
                for j, col in enumerate(self.columns):
                    if read[:, j].any():
                        frame.claim(col.name, np.flatnonzero(read[:, j]))
                read[:] = False
            rows = np.flatnonzero(state[:, 3] == kt.NEED)
            if not len(rows):
                break
            # The exotic test each record stopped at: the root, or child ``slot`` of ``node``.
            at = state[rows, 0]
            tests = np.where(at < 0, 0, self.children[self.nd[np.maximum(at, 0), kt.N_START] + state[rows, 1]])
            answers = np.empty(len(rows))
            for node in np.unique(tests).tolist():
                sel = np.flatnonzero(tests == node)
                answers[sel], alt = flat.exotic_truth(node, rows[sel], frame)
                state[rows[sel[alt]], 2] += 1
            kt.resume(x, self.nd, self.threshold, self.children, self.sets, tree, rows, state, answers, read, track)
        nodes, outcome = state[:, 0], state[:, 3]
        # (A blended tree's scoreless end is the caller's.)
        failed = (outcome == kt.FAIL_DEFAULT) | ((outcome == kt.FAIL_SCORE) & flat.single_node)
        if failed.any():
            frame.fail(failed, _failure(flat.lines[nodes[failed]].tolist(), outcome[failed].tolist(),
                                        frame.rows[failed].tolist()))
        nodes[failed | (outcome == kt.BLEND)] = NO_NODE
        return nodes, state[:, 2], outcome

    def accumulate(self, x: Array, kind: int, table: Array, weights: Array | None, single: bool, start: float,
                   k: int) -> tuple[Array, Int64Array, BoolArray]:
        """All trees over every record, added tree by tree (``kernels.trees.walk_forest``)."""
        w = self.ones if weights is None else weights
        acc, first, bad = kt.walk_forest(x, self.nd, self.threshold, self.children, self.sets, self.trees,
                                         self.tests, self.links, kind, table, w, weights is not None, single,
                                         start, k)
        return acc, first, bad


def join(flats: Sequence[FlatTree]) -> Walker:
    """The trees' node arrays as one: each input column once, each tree's rows renumbered."""
    columns: list[Column] = []
    index: dict[tuple[str, int], int] = {}
    parts: list[npt.NDArray[np.int32]] = []
    kids: list[npt.NDArray[np.int32]] = []
    set_tables: list[BoolArray] = []
    trees = np.zeros((len(flats), 4), dtype=np.int64)
    nodes = edges = set_rows = 0
    for t, flat in enumerate(flats):
        # A coded column is the tree's own (its codes are); a numeric field is read once for all.
        colmap = np.array([index.setdefault((c.name, 0 if c.vocabulary is None else id(c.vocabulary)),
                                            len(index)) for c in flat.columns] or [0], dtype=np.int32)
        for c in flat.columns:
            if index[(c.name, 0 if c.vocabulary is None else id(c.vocabulary))] == len(columns):
                columns.append(c)
        nd = flat.nd.copy() if len(flats) > 1 else flat.nd
        if len(flats) > 1:
            nd[:, kt.N_START] += edges
            nd[:, kt.N_COLUMN] = colmap[nd[:, kt.N_COLUMN]]
            nd[:, kt.N_DEFAULT] = np.where(nd[:, kt.N_DEFAULT] >= 0, nd[:, kt.N_DEFAULT] + nodes, -1)
            nd[:, kt.N_SET] = np.where(nd[:, kt.N_SET] >= 0, nd[:, kt.N_SET] + set_rows, -1)
        parts.append(nd)
        used = int(flat.nd[:, kt.N_COUNT].sum())  # (a lone root has one placeholder child)
        kids.append(flat.children[:used] + nodes if len(flats) > 1 else flat.children)
        set_tables.append(flat.set_table)
        trees[t] = (nodes, flat.strategy_code, flat.return_last, 0)
        nodes += flat.n_nodes
        edges += used
        set_rows += len(flat.set_table)
    if len(flats) == 1:
        nd, threshold, children, sets = parts[0], flats[0].threshold, kids[0], set_tables[0]
        columns = list(flats[0].columns)
    else:
        width = max(s.shape[1] for s in set_tables)
        sets = np.zeros((set_rows, width), dtype=np.bool_)
        row = 0
        for s in set_tables:
            sets[row:row + len(s), :s.shape[1]] = s
            row += len(s)
        nd, threshold = np.concatenate(parts), np.concatenate([f.threshold for f in flats])
        children = np.concatenate(kids).astype(np.int32)
    tests, trees[:, 3] = _tests(nd, threshold, children, trees[:, 0].astype(np.intp), trees[:, 2] != 0)
    return Walker(tuple(flats), nd, threshold, children, sets, trees, tests, tuple(columns))


def _tests(nd: npt.NDArray[np.int32], threshold: Array, children: npt.NDArray[np.int32],
           roots: IntArray, return_last: BoolArray) -> tuple[Array, Int64Array]:
    """The child entries as test records (see ``Walker.tests``), and each tree's first test; a
    record ends in a node with a score, or at SLOW.

    A child's test true: the child is entered (its first child's test next, or the record ends in
    it); false: the next sibling's test, or the sibling itself when it is implied, or after the
    last child the parent (returnLastPrediction, a parent with a score).  A tree with an
    exotic or set test, or whose root is not always true, starts at SLOW (the general walk)."""
    m = len(nd)
    count, start, flags = nd[:, kt.N_COUNT], nd[:, kt.N_START], nd[:, kt.N_FLAGS]
    n_entries = int(count.sum())
    entry = np.arange(n_entries, dtype=np.int64)
    parent = np.repeat(np.arange(m), count)
    child = children[:n_entries].astype(np.intp)

    def enter(node: IntArray) -> Int64Array:
        """The node's first child's test, or the end in the node (a node without a score: SLOW)."""
        end = np.where((flags[node] & kt.F_SCORE) != 0, -node - 1, kt.SLOW)
        out: Int64Array = np.where(count[node] > 0, start[node], end).astype(np.int64)
        return out

    last = entry - start[parent] == count[parent] - 1
    sibling = child[np.minimum(entry + 1, max(n_entries - 1, 0))]
    implied = ~last & ((flags[sibling] & kt.F_IMPLIED) != 0)
    tree = np.searchsorted(roots, np.arange(m), side="right") - 1
    # No child is true: the record ends in the parent where noTrueChildStrategy says so.
    dead_end = np.where(return_last[tree[parent]] & ((flags[parent] & kt.F_SCORE) != 0), -parent - 1, kt.SLOW)
    false = np.where(last, dead_end, np.where(implied, enter(sibling), entry + 1))
    # isMissing / isNotMissing have no threshold: any outcome of a present value answers them.
    at = threshold[child]
    tests = _records(nd[child, kt.N_COLUMN], nd[child, kt.N_MASK], np.where(np.isnan(at), 0.0, at), enter(child), false)
    unfit = ((flags[child] & kt.F_EXOTIC) != 0) | (nd[child, kt.N_SET] >= 0)
    bad = np.bincount(tree[parent[unfit]], minlength=len(roots)) > 0
    bad |= (nd[roots, kt.N_MASK] != kt.ALWAYS) | ((flags[roots] & kt.F_EXOTIC) != 0)
    return tests, np.where(bad, kt.SLOW, enter(roots))


def _records(column: IntArray, mask: IntArray, threshold: Array, true: Int64Array, false: Int64Array) -> Array:
    """Tests (operator bits ``mask`` against ``threshold``) as ``value < bound`` records.

    Equal goes with below (bound: the next double above the threshold) or with above (bound: the
    threshold); where it goes with neither (equal, notEqual) the test is two records, the second
    appended, splitting the values not below the threshold at the next double.
    """
    def side(bit: int) -> Int64Array:
        out: Int64Array = np.where((mask & bit) != 0, true, false)
        return out

    below, equal, above = side(kt.LT), side(kt.EQ), side(kt.GT)
    n = len(mask)
    split = np.flatnonzero((equal != below) & (equal != above))
    with np.errstate(over="ignore"):  # the largest double's next is +inf
        up = np.nextafter(threshold, np.inf)
    bound = np.concatenate([np.where(equal == below, up, threshold), up[split]])
    if_below = np.concatenate([below, equal[split]])
    if_not = np.concatenate([above, above[split]])
    if_not[split] = n + np.arange(len(split))
    # Nothing is above +inf: "below the next double" is every value there.
    at_inf = np.isposinf(np.concatenate([np.where(equal == below, threshold, 0.0), threshold[split]]))
    if_not[at_inf] = if_below[at_inf]
    rows = n + len(split)
    records = np.zeros((max(rows, 1), kt.RECORD_FLOATS))
    links = records.view(np.int32)
    records[:rows, kt.R_BOUND] = bound
    links[:rows, kt.R_COLUMN] = np.concatenate([column, column[split]])
    links[:rows, kt.R_BELOW] = if_below
    links[:rows, kt.R_NOT_BELOW] = if_not
    return records


def _failure(lines: list[int], outcomes: list[int], rows: list[int]) -> Callable[[int], EvaluationError]:
    """The error of each failed record: no defaultChild, or a final Node without a score."""
    by_row = dict(zip(rows, zip(lines, outcomes, strict=True), strict=True))

    def make(r: int) -> EvaluationError:
        line, outcome = by_row.get(r, (lines[0], outcomes[0]))
        if outcome == kt.FAIL_DEFAULT:
            return EvaluationError(f"the record has a missing value at a Node (line {line}) without the defaultChild "
                                   f"attribute that missingValueStrategy defaultChild needs", row=r)
        return EvaluationError(f"the record ends in a Node (line {line}) without a score attribute", row=r)

    return make
