"""A compiled tree walked one record at a time in plain Python, for requests of a few records.

The vectorised walk of :class:`~pmserve.pmml._tree_flat.FlatTree` pays numpy's fixed cost of
about a microsecond per operation at every level, which dominates when a request holds one
record.  Here each record follows its path with list lookups and float comparisons.  Only the
plain case is taken: simple comparisons (no sets, no compiled predicates), one node per record,
and records with every tested value present; anything else returns None and the vectorised walk,
which implements every missing-value strategy, takes over.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from pmserve.pmml.fields.types import Array

if TYPE_CHECKING:
    from pmserve.pmml._tree_flat import FlatTree

#: Largest batch walked record by record; beyond it the vectorised walk is faster.
MAX_ROWS = 16


@dataclass(frozen=True)
class ScalarTree:
    """The walk's tables as Python lists (indexing a list is far cheaper than a numpy array)."""

    child_start: list[int]
    child_count: list[int]
    children: list[int]
    is_leaf: list[bool]
    column: list[int]
    op_mask: list[int]
    threshold: list[float]
    implied: list[bool]
    has_score: list[bool]
    return_last: bool

    def walk(self, x: Array) -> list[int] | None:
        """Final node per record (-1: no prediction) for test columns ``x`` (columns x records).

        None when some record has a missing value or ends in a node without a score: the
        vectorised walk then decides (and reports) every record.
        """
        if np.isnan(x).any():
            return None
        out: list[int] = []
        for values in x.T.tolist():
            node = self._walk_one(values)
            if node is None:
                return None
            out.append(node)
        return out

    def _true(self, node: int, values: list[float]) -> bool:
        # Outcome bits as FlatTree.status: 1 less than, 2 equal, 4 greater than the threshold.
        v = values[self.column[node]]
        t = self.threshold[node]
        bit = 1 if v < t else 2 if v == t else 4
        return bool(self.op_mask[node] & bit)

    def _walk_one(self, values: list[float]) -> int | None:
        if not self._true(0, values):
            return -1  # the root's predicate must hold (JPMML)
        node = 0
        children, implied, is_leaf = self.children, self.implied, self.is_leaf
        while not is_leaf[node]:
            start = self.child_start[node]
            count = self.child_count[node]
            nxt = -1
            for k in range(count):
                child = children[start + k]
                if self._true(child, values):
                    nxt = child
                    break
                # A sibling known true whenever this one is false is entered untested.
                if k + 1 < count and implied[children[start + k + 1]]:
                    nxt = children[start + k + 1]
                    break
            if nxt < 0:
                # No child holds: the parent's score where noTrueChildStrategy says so.
                return node if self.return_last and self.has_score[node] else -1
            node = nxt
        return node if self.has_score[node] else None


def scalar_tree(tree: FlatTree) -> ScalarTree | None:
    """The record-by-record form of ``tree``, or None when its tests are not all plain."""
    if tree.has_exotic or tree.n_nodes == 0 or not tree.single_node or bool((tree.set_row >= 0).any()):
        return None
    return ScalarTree(
        tree.child_start.tolist(), tree.child_count.tolist(), tree.children.tolist(), tree.is_leaf.tolist(),
        tree.column.tolist(), tree.op_mask.tolist(), tree.threshold.tolist(), tree.implied.tolist(),
        tree.has_score.tolist(), tree.return_last,
    )
