"""The one tree walker: a tree, or all trees of an ensemble, over the records of a frame.

The node arrays of the trees (:mod:`pmserve.pmml.trees.nodes`) are joined once into one set of
arrays - node rows renumbered, children, value sets and input columns shared - and walked by the
compiled kernel of :mod:`pmserve.pmml.kernels.trees`, record by record, whatever the number of
records.  This module does what the kernel cannot:

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
from pmserve.pmml._frame import Frame
from pmserve.pmml._types import Array
from pmserve.pmml.kernels import trees as kt
from pmserve.pmml.trees.nodes import FlatTree, _Column, read_columns

IntArray = npt.NDArray[np.intp]
BoolArray = npt.NDArray[np.bool_]
Int64Array = npt.NDArray[np.int64]

#: The final node of a record without a prediction.
NO_NODE = -1
#: What the kernel is handed as the columns read when it need not track them.
_NO_READS = np.zeros((1, 1), dtype=np.bool_)


@dataclass(frozen=True)
class Walker:
    """Trees joined for the kernel: node ``i`` of tree ``t`` is row ``offsets[t] + i``."""

    flats: tuple[FlatTree, ...]
    nd: npt.NDArray[np.int32]
    threshold: Array
    children: npt.NDArray[np.int32]
    sets: BoolArray
    trees: npt.NDArray[np.int64]  # per tree: root, strategy, returnLastPrediction
    offsets: IntArray
    columns: tuple[_Column, ...]

    @functools.cached_property
    def names(self) -> tuple[str, ...]:
        return tuple(col.name for col in self.columns)

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
        state, seen = kt.walk_all(x, self.nd, self.threshold, self.children, self.sets, tree, read, track)
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
        failed = outcome == kt.FAIL_DEFAULT
        if failed.any():
            frame.fail(failed, _no_default_child(flat.lines[nodes[failed]].tolist(), frame.rows[failed].tolist()))
        if flat.single_node:
            scoreless = outcome == kt.FAIL_SCORE
            if scoreless.any():
                frame.fail(scoreless, _no_score(flat.lines[nodes[scoreless]].tolist(), frame.rows[scoreless].tolist()))
            failed |= scoreless
        nodes[failed | (outcome == kt.BLEND)] = NO_NODE
        return nodes, state[:, 2], outcome

    def accumulate(self, x: Array, kind: int, table: Array, weights: Array | None, single: bool, start: float,
                   k: int) -> tuple[Array, Int64Array, BoolArray]:
        """All trees over every record, added tree by tree (``kernels.trees.walk_forest``)."""
        w = self.ones if weights is None else weights
        acc, first, bad = kt.walk_forest(x, self.nd, self.threshold, self.children, self.sets, self.trees, kind,
                                         table, w, weights is not None, single, start, k)
        return acc, first, bad


def join(flats: Sequence[FlatTree]) -> Walker:
    """The trees' node arrays as one: each input column once, each tree's rows renumbered."""
    columns: list[_Column] = []
    index: dict[tuple[str, int], int] = {}
    parts: list[npt.NDArray[np.int32]] = []
    kids: list[npt.NDArray[np.int32]] = []
    set_tables: list[BoolArray] = []
    trees = np.zeros((len(flats), 3), dtype=np.int64)
    offsets = np.zeros(len(flats), dtype=np.intp)
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
        kids.append(flat.children + nodes if len(flats) > 1 else flat.children)
        set_tables.append(flat.set_table)
        trees[t] = (nodes, flat.strategy_code, flat.return_last)
        offsets[t] = nodes
        nodes += flat.n_nodes
        edges += len(flat.children)
        set_rows += len(flat.set_table)
    if len(flats) == 1:
        return Walker(tuple(flats), parts[0], flats[0].threshold, kids[0], set_tables[0], trees, offsets,
                      flats[0].columns)
    width = max(s.shape[1] for s in set_tables)
    sets = np.zeros((set_rows, width), dtype=np.bool_)
    row = 0
    for s in set_tables:
        sets[row:row + len(s), :s.shape[1]] = s
        row += len(s)
    return Walker(tuple(flats), np.concatenate(parts), np.concatenate([f.threshold for f in flats]),
                  np.concatenate(kids).astype(np.int32), sets, trees, offsets, tuple(columns))


def _no_default_child(lines: list[int], rows: list[int]) -> Callable[[int], EvaluationError]:
    by_row = dict(zip(rows, lines, strict=True))

    def make(r: int) -> EvaluationError:
        return EvaluationError(
            f"the record has a missing value at a Node (line {by_row.get(r, lines[0])}) without the defaultChild "
            f"attribute that missingValueStrategy defaultChild needs (row {r + 1})", row=r)

    return make


def _no_score(lines: list[int], rows: list[int]) -> Callable[[int], EvaluationError]:
    by_row = dict(zip(rows, lines, strict=True))

    def make(r: int) -> EvaluationError:
        line = by_row.get(r, lines[0])
        return EvaluationError(f"the record ends in a Node (line {line}) without a score attribute (row {r + 1})",
                               row=r)

    return make
