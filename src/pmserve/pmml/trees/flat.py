"""A compiled tree: the node arrays of the walk (``kernels.trees``) and what builds them.

Every node (preorder, the root is node 0) is a row of ``FlatTree.nd`` - its children as a range
of ``children``, its own predicate as a *test* (field column, operator bits, threshold or value
set), its defaultChild and flags - and the strategies are the tree's (missingValueStrategy,
noTrueChildStrategy).  Both builders (:mod:`~pmserve.pmml.trees.nodes`, element by element, and
:mod:`~pmserve.pmml.trees.bulk`, from the bulk Node table) end in :func:`finish`, which lays out
the node rows, and take their input columns from one :class:`Builder`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from pmserve.pmml.compiler import ModelEnv
from pmserve.pmml.document.element import Element
from pmserve.pmml.fields.frame import Frame
from pmserve.pmml.fields.schema import FieldInfo
from pmserve.pmml.fields.types import Array
from pmserve.pmml.kernels import trees as kt

IntArray = npt.NDArray[np.intp]
BoolArray = npt.NDArray[np.bool_]

MISSING_STRATEGIES = ("none", "nullPrediction", "lastPrediction", "defaultChild", "weightedConfidence",
                      "aggregateNodes")
NO_TRUE_CHILD_STRATEGIES = ("returnNullPrediction", "returnLastPrediction")
SPLIT_CHARACTERISTICS = ("binarySplit", "multiSplit")

# An operator is the set of test outcomes (``kernels.trees`` LT, EQ, GT, MISS) that make it true
# (a set test maps "member" to the equal bit).
OP_MASKS = {
    "lessThan": kt.LT, "lessOrEqual": kt.LT | kt.EQ, "greaterThan": kt.GT, "greaterOrEqual": kt.GT | kt.EQ,
    "equal": kt.EQ, "notEqual": kt.LT | kt.GT, "isMissing": kt.MISS, "isNotMissing": kt.LT | kt.EQ | kt.GT,
}
#: The operators of the tests by code (SimplePredicate's, then SimpleSetPredicate's), and the code
#: of each one's complement: a test that is a previous sibling's complement is implied by it.
OPERATORS = ("lessThan", "lessOrEqual", "greaterThan", "greaterOrEqual", "equal", "notEqual", "isMissing",
             "isNotMissing", "isIn", "isNotIn")
_COMPLEMENT = np.array([OPERATORS.index(c) for c in ("greaterOrEqual", "greaterThan", "lessOrEqual", "lessThan",
                                                     "notEqual", "equal", "isNotMissing", "isMissing", "isNotIn",
                                                     "isIn")], dtype=np.intp)

PredicateFn = Callable[[Frame], Array]
#: An exotic node's predicate, evaluated by its compiled function over the rows that reach it:
#: one part, or the parts of a top-level surrogate.
Exotic = tuple[PredicateFn, ...]


@dataclass(frozen=True)
class Column:
    """An input column of the tests: a field as numbers, or a field's values coded as integers."""

    name: str
    read: Callable[[Frame], Array]
    vocabulary: dict[Any, int] | None  # None: the field's own numbers; else value -> code




@dataclass(frozen=True)
class FlatTree:
    """A compiled tree: one row of ``nd`` per node in preorder (the root is node 0), the layout
    of :mod:`pmserve.pmml.kernels.trees` - children as a range of ``children``, the node's own
    predicate as a test (column, operator bits, threshold or set row), defaultChild and flags -
    with what the walk's caller needs besides: input columns, exotic predicates, ids, scores."""

    nd: npt.NDArray[np.int32]
    threshold: Array
    children: npt.NDArray[np.int32]
    set_table: BoolArray
    exotic: tuple[Exotic | None, ...]
    columns: tuple[Column, ...]
    missing_strategy: str
    return_last: bool
    ids: tuple[str, ...]
    scores: Array
    lines: npt.NDArray[np.int32]  # each node's line in the document

    @property
    def n_nodes(self) -> int:
        return len(self.nd)

    @property
    def child_start(self) -> IntArray:
        return self.nd[:, kt.N_START].astype(np.intp)

    @property
    def child_count(self) -> IntArray:
        return self.nd[:, kt.N_COUNT].astype(np.intp)

    @property
    def is_leaf(self) -> BoolArray:
        out: BoolArray = self.nd[:, kt.N_COUNT] == 0
        return out

    @property
    def has_score(self) -> BoolArray:
        out: BoolArray = (self.nd[:, kt.N_FLAGS] & kt.F_SCORE) != 0
        return out

    @property
    def has_exotic(self) -> bool:
        return any(e is not None for e in self.exotic)

    @property
    def single_node(self) -> bool:
        """Each record ends in one node (not so for weightedConfidence and aggregateNodes)."""
        return self.missing_strategy not in ("weightedConfidence", "aggregateNodes")

    @property
    def strategy_code(self) -> int:
        if not self.single_node:
            return kt.S_BLEND
        return ("none", "nullPrediction", "lastPrediction", "defaultChild").index(self.missing_strategy)

    def status(self, nodes: IntArray, rows: IntArray, x: Array, frame: Frame) -> tuple[Array, BoolArray]:
        """Truth of each node's predicate for the row beside it: 1.0, 0.0 or NaN (unknown), the
        rule of ``kernels.trees._truth`` over arrays (the blended walk of ``model``).

        Also returns where a surrogate predicate was decided by an alternative (a missing level).
        """
        nd = self.nd[nodes]
        v = x[nd[:, kt.N_COLUMN], rows]
        miss = np.isnan(v)
        t = self.threshold[nodes]
        with np.errstate(invalid="ignore"):
            outcome = np.where(v < t, 0, np.where(v == t, 1, 2))
        srow = nd[:, kt.N_SET]
        is_set = srow >= 0
        if is_set.any():
            codes = np.where(miss, -1, v).astype(np.intp) + 1
            member = self.set_table[np.maximum(srow, 0), np.clip(codes, 0, self.set_table.shape[1] - 1)]
            outcome = np.where(is_set, np.where(member, 1, 0), outcome)
        outcome[miss] = 3
        mask = nd[:, kt.N_MASK]
        truth = ((mask >> outcome) & 1).astype(np.float64)
        truth[miss & ((nd[:, kt.N_FLAGS] & kt.F_UNKNOWN) != 0)] = np.nan
        alternative = np.zeros(len(nodes), dtype=bool)
        exotic = (nd[:, kt.N_FLAGS] & kt.F_EXOTIC) != 0
        if frame.errors.pending:
            tests = (mask != 0) & (mask != kt.ALWAYS) & ~exotic
            cols = nd[:, kt.N_COLUMN]
            for j in np.unique(cols[tests]).tolist():
                frame.claim(self.columns[j].name, np.unique(rows[tests & (cols == j)]))
        for node in np.unique(nodes[exotic]).tolist():
            sel = np.flatnonzero(exotic & (nodes == node))
            truth[sel], alternative[sel] = self.exotic_truth(node, rows[sel], frame)
        return truth, alternative

    def exotic_truth(self, node: int, rows: IntArray, frame: Frame) -> tuple[Array, BoolArray]:
        """An exotic node's predicate over ``rows``, and where a surrogate was decided by an
        alternative (JPMML counts it as a missing level)."""
        ex = self.exotic[node]
        if ex is None:  # pragma: no cover - only flagged nodes get here
            raise TypeError("not an exotic node")
        sub = frame.subset(rows, {})
        out = ex[0](sub)
        alternative = np.zeros(len(rows), dtype=bool)
        for part in ex[1:]:
            todo = np.flatnonzero(np.isnan(out))
            if not len(todo):
                break
            out[todo] = part(sub.subset(todo, {}))
            alternative[todo[~np.isnan(out[todo])]] = True
        return out, alternative


def read_columns(frame: Frame, columns: Sequence[Column]) -> Array:
    """Test columns over the frame's rows, one row per column (coded where needed), read with
    :meth:`Frame.peek`: an invalid value fails its record only where a test reads it."""
    if columns and all(col.vocabulary is None for col in columns):
        # One stacking call instead of a row assignment per column (a few records' cost).
        return np.array([frame.peek(col.name) for col in columns], dtype=np.float64)
    x = np.zeros((max(len(columns), 1), frame.n))
    for j, col in enumerate(columns):
        values = frame.peek(col.name)
        if col.vocabulary is None:
            x[j] = values
        else:
            vocab = col.vocabulary
            x[j] = np.fromiter((np.nan if v is None or v != v else vocab.get(v, -1) for v in values.tolist()),
                               dtype=np.float64, count=frame.n)
    return x


def implied_children(parent: IntArray, kids: IntArray, op_mask: npt.NDArray[np.int64], op: IntArray,
                     column: IntArray, value: Array) -> BoolArray:
    """The children entered without a test once the previous sibling is false (``kids``: each
    parent's children in order): a True predicate, or the complement of the sibling's test - the
    complementary operator (``op``, -1 for none) on the same column and ``value``."""
    implied = np.zeros(len(parent), dtype=bool)
    if len(kids) > 1:
        prev, cur = kids[:-1], kids[1:]
        complement = ((op[prev] >= 0) & (op[cur] >= 0) & (_COMPLEMENT[np.maximum(op[prev], 0)] == op[cur])
                      & (column[prev] == column[cur]) & (value[prev] == value[cur]))
        implied[cur] = (parent[prev] == parent[cur]) & ((op_mask[cur] == kt.ALWAYS) | complement)
    return implied


def number_or_nan(text: str | None) -> float:
    """A Node's score or recordCount as a number; NaN where absent or not a number (a category)."""
    if text is None:
        return np.nan
    try:
        return float(text)
    except ValueError:
        return np.nan


def finish(child_count: IntArray, children: IntArray, column: IntArray, op_mask: npt.NDArray[np.int64],
           threshold: Array, set_row: IntArray | int, default_child: IntArray | int, flags: dict[int, BoolArray],
           exotic: tuple[Exotic | None, ...], columns: tuple[Column, ...], set_table: BoolArray, mvs: str,
           ntc: str, ids: tuple[str, ...], scores: Array, lines: npt.NDArray[np.int32]) -> FlatTree:
    """The node rows of the walk (``kernels.trees`` layout): the one place both builders meet."""
    m = len(child_count)
    nd = np.zeros((m, kt.NODE_FIELDS), dtype=np.int32)
    if m > 1:
        np.cumsum(child_count[:-1], out=nd[1:, kt.N_START])
    nd[:, kt.N_COUNT] = child_count
    nd[:, kt.N_COLUMN] = column
    nd[:, kt.N_MASK] = op_mask
    nd[:, kt.N_SET] = set_row
    nd[:, kt.N_DEFAULT] = default_child
    for bit, where in flags.items():
        nd[where, kt.N_FLAGS] |= bit
    kids = children.astype(np.int32) if len(children) else np.zeros(1, dtype=np.int32)
    return FlatTree(nd, threshold, kids, set_table, exotic, columns, mvs, ntc == "returnLastPrediction", ids, scores,
                    lines)


class Builder:
    """Turns predicates into tests; collects the input columns and value sets they need."""

    def __init__(self, env: ModelEnv) -> None:
        self.env = env
        self.columns: list[Column] = []
        self.index: dict[tuple[str, bool], int] = {}
        self.sets: list[tuple[int, frozenset[int]]] = []  # (column, member codes)

    def info(self, name: str) -> FieldInfo | None:
        return self.env.compiler.field_info(name)

    def column(self, name: str, coded: bool, el: Element) -> int | None:
        key = (name, coded)
        j = self.index.get(key)
        if j is not None:
            return j
        expr = self.env.compiler.ref(name, el)
        if expr is None:
            return None
        j = len(self.columns)
        self.columns.append(Column(name, expr.fn, {} if coded else None))
        self.index[key] = j
        return j

    def code(self, column: int, value: Any) -> int:
        vocab = self.columns[column].vocabulary
        if vocab is None:  # pragma: no cover - only coded columns get here
            raise TypeError("not a coded column")
        return vocab.setdefault(value, len(vocab))

    def set_table(self) -> BoolArray:
        """The value sets as rows of member flags, column ``code + 1`` (column 0: a missing value)."""
        width = max((len(c.vocabulary or {}) for c in self.columns), default=0) + 1
        table = np.zeros((max(len(self.sets), 1), width), dtype=bool)
        for r, (_, members) in enumerate(self.sets):
            table[r, [code + 1 for code in members]] = True
        return table
