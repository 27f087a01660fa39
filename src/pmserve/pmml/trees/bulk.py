"""A TreeModel whose Nodes the parser read in bulk (a :class:`~pmserve.pmml.document.node_table.NodeTable`)
compiled from whole arrays, when it holds only True/False and numeric SimplePredicate splits;
anything else is left to the element-by-element compiler (:mod:`~pmserve.pmml.trees.nodes`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from pmserve.pmml.compiler import ModelEnv
from pmserve.pmml.document.element import Element
from pmserve.pmml.document.node_table import (
    K_FALSE,
    K_NODE,
    K_SIMPLE,
    K_TRUE,
    NODE_TABLE_ATTRS,
    NodeHierarchy,
    NodeTable,
)
from pmserve.pmml.fields.types import Array, DataType, to_float32
from pmserve.pmml.kernels import trees as kt
from pmserve.pmml.trees.flat import (
    NO_TRUE_CHILD_STRATEGIES,
    OP_MASKS,
    OPERATORS,
    SPLIT_CHARACTERISTICS,
    BoolArray,
    Builder,
    FlatTree,
    IntArray,
    finish,
    implied_children,
    number_or_nan,
)

#: The operators of a bulk-read split (the first of ``OPERATORS``), and their operator bits.
_OP_NAMES = OPERATORS[:6]
_OP_CODE_MASKS = np.array([OP_MASKS[o] for o in _OP_NAMES], dtype=np.int64)
#: Entity ids "1", "2", ... shared by every tree without Node/@id (one string object each).
_DEFAULT_IDS: list[str] = []


def node_table(model: Element) -> NodeTable | None:
    """The bulk-read Node hierarchy of a TreeModel element, if the parser read it so."""
    root = model.find("Node")
    return root.table if isinstance(root, NodeHierarchy) else None


@dataclass(frozen=True)
class TableNodes:
    """The Node rows of a :class:`NodeTable` in preorder, with their parent, and the attribute
    values of every row gathered in one step (built for one compile, then dropped)."""

    table: NodeTable
    rows: IntArray  # table row of each node
    rank: IntArray  # node index of each table row (-1 for rows that are not Nodes)
    parent: IntArray  # parent node, -1 for the root
    entry: npt.NDArray[np.int32]  # rows x attributes: the attribute's entry, -1 where absent
    values: npt.NDArray[np.bytes_]  # every entry's value

    @property
    def n(self) -> int:
        return len(self.rows)

    def present(self, rows: IntArray, attr: str) -> BoolArray:
        out: BoolArray = self.entry[rows, NODE_TABLE_ATTRS.index(attr)] >= 0
        return out

    def texts(self, rows: IntArray, attr: str) -> npt.NDArray[np.bytes_]:
        """The attribute's value on each row (b"" where absent)."""
        at = self.entry[rows, NODE_TABLE_ATTRS.index(attr)]
        if not len(self.values):
            return np.zeros(len(rows), dtype="S1")
        out: npt.NDArray[np.bytes_] = self.values[np.maximum(at, 0)]
        if (at < 0).any():
            out[at < 0] = b""
        return out


def table_nodes(table: NodeTable) -> TableNodes:
    rows = np.flatnonzero(table.kind == K_NODE)
    rank = np.full(len(table.kind), -1, dtype=np.intp)
    rank[rows] = np.arange(len(rows))
    owner = table.owner[rows]
    parent = np.where(owner >= 0, rank[np.maximum(owner, 0)], -1)
    entry = np.full((len(table.kind), len(NODE_TABLE_ATTRS)), -1, dtype=np.int32)
    entry[table.attr_row, table.attr_slot] = np.arange(len(table.attr_row), dtype=np.int32)
    return TableNodes(table, rows, rank, parent, entry, table.all_texts())


def _default_ids(m: int) -> list[str]:
    if len(_DEFAULT_IDS) < m:
        _DEFAULT_IDS.extend(str(i + 1) for i in range(len(_DEFAULT_IDS), m))
    return _DEFAULT_IDS[:m]


def bulk_flat(model: Element, nodes: TableNodes, env: ModelEnv) -> FlatTree | None:
    """The FlatTree of a bulk-read hierarchy of numeric splits, exactly as ``nodes.build_flat`` makes it.

    None when the tree holds anything else or anything invalid: the element-by-element
    compiler then takes over and reports the problems.  Adds no problems itself.
    """
    mvs = model.get("missingValueStrategy", "none")
    ntc = model.get("noTrueChildStrategy", "returnNullPrediction")
    split = model.get("splitCharacteristic", "multiSplit")
    if (mvs not in ("none", "nullPrediction", "lastPrediction") or ntc not in NO_TRUE_CHILD_STRATEGIES
            or split not in SPLIT_CHARACTERISTICS or nodes.present(nodes.rows, "defaultChild").any()):
        return None
    pred_of = _predicate_rows(nodes)
    if pred_of is None:
        return None
    pkind = nodes.table.kind[pred_of]
    b = Builder(env)
    tests = _Splits.read(nodes, pred_of, pkind, b, model)
    if tests is None:
        return None
    m = nodes.n
    # Children: grouped by parent in preorder, in document order within a parent.
    kids = np.argsort(nodes.parent[1:], kind="stable") + 1
    counts = np.bincount(nodes.parent[1:], minlength=m).astype(np.intp) if m > 1 else np.zeros(m, dtype=np.intp)
    if split == "binarySplit" and ((counts != 0) & (counts != 2)).any():
        return None
    has_score = nodes.present(nodes.rows, "score")
    implied = implied_children(nodes.parent, kids, tests.op_mask, tests.op_code, tests.column, tests.value_text)
    flags = {kt.F_IMPLIED: implied, kt.F_UNKNOWN: tests.op_code >= 0, kt.F_SCORE: has_score}
    return finish(counts, kids, tests.column, tests.op_mask, tests.threshold, -1, -1, flags, (None,) * m,
                  tuple(b.columns), b.set_table(), mvs, ntc, _ids(nodes), _scores(nodes, has_score),
                  nodes.table.lines[nodes.rows])


def _predicate_rows(nodes: TableNodes) -> IntArray | None:
    """Each Node's predicate row of the table, when each has exactly one: True, False or a
    SimplePredicate; else None."""
    table = nodes.table
    m = nodes.n
    pred_rows = np.flatnonzero((table.kind == K_TRUE) | (table.kind == K_FALSE) | (table.kind == K_SIMPLE))
    pred_node = nodes.rank[table.owner[pred_rows]]
    if len(pred_rows) != m or (np.bincount(pred_node, minlength=m) != 1).any():
        return None
    pred_of = np.empty(m, dtype=np.intp)
    pred_of[pred_node] = pred_rows
    return pred_of


@dataclass(frozen=True)
class _Splits:
    """The Nodes' predicates as tests: True (always), False (never), or a number compared."""

    column: IntArray
    op_mask: npt.NDArray[np.int64]
    op_code: IntArray  # index in OPERATORS, -1: True or False
    threshold: Array
    value_text: npt.NDArray[np.bytes_]  # to recognise a sibling's complement

    @classmethod
    def read(cls, nodes: TableNodes, pred_of: IntArray, pkind: npt.NDArray[np.int8], b: Builder,
             model: Element) -> _Splits | None:
        m = nodes.n
        splits = cls(np.zeros(m, dtype=np.intp), np.where(pkind == K_TRUE, kt.ALWAYS, 0).astype(np.int64),
                     np.full(m, -1, dtype=np.intp), np.zeros(m), np.zeros(m, dtype="S1"))
        simple = np.flatnonzero(pkind == K_SIMPLE)
        if not len(simple):
            return splits
        srows = pred_of[simple]
        if not (nodes.present(srows, "value").all() and nodes.present(srows, "operator").all()):
            return None
        columns = _numeric_columns(nodes.texts(srows, "field"), b, model)
        ops, op_inv = np.unique(nodes.texts(srows, "operator"), return_inverse=True)
        known = [_OP_NAMES.index(o) if o in _OP_NAMES else -1 for o in (bytes(x).decode("utf-8") for x in ops)]
        texts = nodes.texts(srows, "value")
        try:
            parsed = texts.astype(np.float64)
        except (ValueError, UnicodeDecodeError):
            return None
        if columns is None or min(known) < 0:
            return None
        column, f32 = columns
        if f32.any():
            # PMML float: compare float32-rounded values with float32-rounded thresholds.
            parsed[f32] = to_float32(parsed[f32])
        codes = np.asarray(known, dtype=np.intp)[op_inv]
        splits.column[simple] = column
        splits.op_mask[simple] = _OP_CODE_MASKS[codes]
        splits.op_code[simple] = codes
        splits.threshold[simple] = parsed
        value_text = np.zeros(m, dtype=texts.dtype)
        value_text[simple] = texts
        return dataclasses.replace(splits, value_text=value_text)


def _numeric_columns(fields: npt.NDArray[np.bytes_], b: Builder, model: Element) -> tuple[IntArray, BoolArray] | None:
    """The input column of each field name, and whether it is a float field; None unless every
    field is a double or float."""
    names, first, field_code = np.unique(fields, return_index=True, return_inverse=True)
    col_of = np.empty(len(names), dtype=np.intp)
    f32 = np.zeros(len(names), dtype=bool)
    for u in np.argsort(first, kind="stable").tolist():  # columns in order of first use, as build_flat
        name = bytes(names[u]).decode("utf-8")
        info = b.info(name)
        if info is None or info.dtype not in (DataType.DOUBLE, DataType.FLOAT):
            return None
        j = b.column(name, False, model)
        if j is None:
            return None
        col_of[u] = j
        f32[u] = info.dtype is DataType.FLOAT
    return col_of[field_code], f32[field_code]


def _scores(nodes: TableNodes, has_score: BoolArray) -> Array:
    scores = np.full(nodes.n, np.nan)
    if has_score.any():
        score_text = nodes.texts(nodes.rows[has_score], "score")
        try:
            scores[has_score] = score_text.astype(np.float64)
        except (ValueError, UnicodeDecodeError):
            # Categories of a classification tree: parse each distinct score once.
            distinct, inv = np.unique(score_text, return_inverse=True)
            scores[has_score] = np.array([number_or_nan(bytes(x).decode("utf-8", "replace")) for x in distinct])[inv]
    return scores


def _ids(nodes: TableNodes) -> tuple[str, ...]:
    ids = _default_ids(nodes.n)
    has_id = nodes.present(nodes.rows, "id")
    if has_id.any():
        ids = list(ids)
        for i, text in zip(np.flatnonzero(has_id).tolist(), nodes.texts(nodes.rows[has_id], "id").tolist(),
                           strict=True):
            ids[i] = text.decode("utf-8")
    return tuple(ids)
