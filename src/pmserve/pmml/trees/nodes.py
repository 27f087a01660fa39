"""A TreeModel's nodes compiled once into the node arrays of the walk (``kernels.trees``).

This module owns how a tree's rules become arrays: every node (preorder, the root is node 0) is
a row of ``FlatTree.nd`` - its children as a range of ``children``, its own predicate as a
*test* (field column, operator bits, threshold or value set), its defaultChild and flags - and
the strategies are the tree's (missingValueStrategy, noTrueChildStrategy).  A child whose
predicate is ``True``, or the complement of its previous sibling's (the binary splits of
sklearn2pmml, rpart, Spark, XGBoost, LightGBM, KNIME), is flagged *implied*: entered without a
test once that sibling is false, so a binary tree costs one comparison per level.  A field of
dataType float is compared as JPMML does: float32 values against float32-rounded thresholds.

Predicates that are not a simple test (CompoundPredicate, surrogates, string ordering, ...) are
compiled with :mod:`pmserve.pmml.expressions.predicates` ("exotic" nodes) and evaluated by the walker over
the records that reach them.

Two parsers, one layout: a TreeModel whose Nodes the parser read in bulk (a
:class:`~pmserve.pmml.document.node_table.NodeTable`) is compiled from whole arrays by :func:`bulk_flat` when
it holds only True/False and numeric SimplePredicate splits, anything else element by element by
:func:`build_flat`; both end in :func:`finish`, which lays out the node rows.  The walker is
:mod:`pmserve.pmml.trees.walk`.
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

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
from pmserve.pmml.document.problems import Problems
from pmserve.pmml.expressions.predicates import PREDICATE_TAGS, and_all, compile_predicate, or_all, parse_array
from pmserve.pmml.fields.frame import Frame
from pmserve.pmml.fields.schema import FieldInfo
from pmserve.pmml.fields.types import Array, DataType, parse_scalar, to_float32
from pmserve.pmml.kernels import trees as kt

IntArray = npt.NDArray[np.intp]
BoolArray = npt.NDArray[np.bool_]

MISSING_STRATEGIES = ("none", "nullPrediction", "lastPrediction", "defaultChild", "weightedConfidence",
                      "aggregateNodes")
NO_TRUE_CHILD_STRATEGIES = ("returnNullPrediction", "returnLastPrediction")
SPLIT_CHARACTERISTICS = ("binarySplit", "multiSplit")

# Outcome bits of one test: the value is below, equal to, above the threshold, or missing.  An
# operator is the set of outcomes that make it true (a set test maps "member" to the equal bit).
_LT, _EQ, _GT, _MISS = 1, 2, 4, 8
_OP_MASKS = {
    "lessThan": _LT, "lessOrEqual": _LT | _EQ, "greaterThan": _GT, "greaterOrEqual": _GT | _EQ,
    "equal": _EQ, "notEqual": _LT | _GT, "isMissing": _MISS, "isNotMissing": _LT | _EQ | _GT,
}
_COMPLEMENT = {"lessThan": "greaterOrEqual", "greaterOrEqual": "lessThan", "lessOrEqual": "greaterThan",
               "greaterThan": "lessOrEqual", "equal": "notEqual", "notEqual": "equal",
               "isMissing": "isNotMissing", "isNotMissing": "isMissing"}
_ALWAYS = _LT | _EQ | _GT | _MISS

PredicateFn = Callable[[Frame], Array]


@dataclass(slots=True)
class ParsedNode:
    """What compiling needs of one Node element (preorder index = position in the list)."""

    el: Element
    predicate: Element | None
    children: tuple[int, ...]
    parent: int
    score: str | None
    distributions: tuple[Element, ...]


def parse_nodes(model: Element, problems: Problems) -> list[ParsedNode] | None:
    """The Node elements of a TreeModel in preorder (depth first, children in document order)."""
    root = model.find("Node")
    if root is None:
        problems.invalid("a TreeModel needs a root Node", model)
        return None
    out: list[ParsedNode] = []
    # (element, parent index, slot in the parent's child list); an explicit stack keeps deep trees
    # (XGBoost, LightGBM) clear of Python's recursion limit.
    stack: list[tuple[Element, int]] = [(root, -1)]
    kids: list[list[int]] = []
    pending: list[tuple[Element, Element | None, int, list[Element]]] = []
    while stack:
        el, parent = stack.pop()
        index = len(pending)
        pred: Element | None = None
        sds: list[Element] = []
        child_els: list[Element] = []
        for c in el.children:
            tag = c.tag
            if tag == "Node":
                child_els.append(c)
            elif tag == "ScoreDistribution":
                sds.append(c)
            elif tag in PREDICATE_TAGS:
                if pred is None:
                    pred = c
            elif tag in ("Regression", "DecisionTree"):
                problems.unsupported(f"a Node with an embedded model ({tag}) is not supported", c)
        if pred is None:
            problems.invalid("a Node needs a predicate (SimplePredicate, SimpleSetPredicate, "
                             "CompoundPredicate, True or False)", el)
        pending.append((el, pred, parent, sds))
        kids.append([])
        if parent >= 0:
            kids[parent].append(index)
        stack.extend((c, index) for c in reversed(child_els))
    for (el, pred, parent, sds), ch in zip(pending, kids, strict=True):
        out.append(ParsedNode(el, pred, tuple(ch), parent, el.get("score"), tuple(sds)))
    return out


@dataclass(frozen=True)
class _Column:
    """An input column of the tests: a field as numbers, or a field's values coded as integers."""

    name: str
    read: Callable[[Frame], Array]
    vocabulary: dict[Any, int] | None  # None: the field's own numbers; else value -> code


@dataclass(frozen=True)
class _Exotic:
    """A predicate evaluated by its compiled function over the rows that reach it."""

    parts: tuple[PredicateFn, ...]  # one part, or the parts of a top-level surrogate


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
    exotic: tuple[_Exotic | None, ...]
    columns: tuple[_Column, ...]
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

    def flag(self, bit: int) -> BoolArray:
        out: BoolArray = (self.nd[:, kt.N_FLAGS] & bit) != 0
        return out

    @property
    def has_score(self) -> BoolArray:
        return self.flag(kt.F_SCORE)

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

    def inputs(self, frame: Frame) -> Array:
        """The test columns over the frame's rows, one row per column (coded where needed)."""
        return read_columns(frame, self.columns)

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
            tests = (mask != 0) & (mask != _ALWAYS) & ~exotic
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
        out = ex.parts[0](sub)
        alternative = np.zeros(len(rows), dtype=bool)
        for part in ex.parts[1:]:
            todo = np.flatnonzero(np.isnan(out))
            if not len(todo):
                break
            out[todo] = part(sub.subset(todo, {}))
            alternative[todo[~np.isnan(out[todo])]] = True
        return out, alternative


def read_columns(frame: Frame, columns: Sequence[_Column]) -> Array:
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


def finish(child_count: IntArray, children: IntArray, column: IntArray, op_mask: npt.NDArray[np.int64],
           threshold: Array, set_row: IntArray | int, default_child: IntArray | int, flags: dict[int, BoolArray],
           exotic: tuple[_Exotic | None, ...], columns: tuple[_Column, ...], set_table: BoolArray, mvs: str,
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



# -- compiling -----------------------------------------------------------------------------------


class _Builder:
    """Turns predicates into tests; collects the input columns and value sets they need."""

    def __init__(self, env: ModelEnv) -> None:
        self.env = env
        self.columns: list[_Column] = []
        self.index: dict[tuple[str, bool], int] = {}
        self.sets: list[tuple[int, frozenset[int]]] = []  # (column, member codes)
        self.infos: dict[str, FieldInfo | None] = {}

    def info(self, name: str) -> FieldInfo | None:
        if name not in self.infos:
            self.infos[name] = self.env.compiler.field_info(name)
        return self.infos[name]

    def column(self, name: str, coded: bool, el: Element) -> int | None:
        key = (name, coded)
        j = self.index.get(key)
        if j is not None:
            return j
        expr = self.env.compiler.ref(name, el)
        if expr is None:
            return None
        j = len(self.columns)
        self.columns.append(_Column(name, expr.fn, {} if coded else None))
        self.index[key] = j
        return j

    def code(self, column: int, value: Any) -> int:
        vocab = self.columns[column].vocabulary
        if vocab is None:  # pragma: no cover - only coded columns get here
            raise TypeError("not a coded column")
        return vocab.setdefault(value, len(vocab))


def _simple_test(pred: Element, b: _Builder, dtype: DataType) -> tuple[str, Any] | None:
    """Operator and typed value of a SimplePredicate; None when the value is unreadable."""
    op = pred.get("operator") or ""
    if op in ("isMissing", "isNotMissing"):
        return op, None
    text = pred.get("value")
    if text is None:
        b.env.problems.invalid(f"attribute value is required for operator {op!r}", pred)
        return None
    try:
        return op, parse_scalar(dtype, text)
    except ValueError as exc:
        if _split_point(dtype, text):
            return op, float(text)
        b.env.problems.invalid(f"value of field {pred.get('field')!r}: {exc}", pred)
        return None


def compile_flat(model: Element, env: ModelEnv) -> FlatTree | None:
    """Compile a TreeModel element's nodes; problems go to ``env.problems`` (None if any)."""
    table = node_table(model)
    if table is not None:
        try:
            flat = bulk_flat(model, table_nodes(table), env)
        finally:
            table.release()  # a large forest's tables are as large as its document
        if flat is not None:
            return flat
    nodes = parse_nodes(model, env.problems)
    if nodes is None:
        return None
    return build_flat(model, nodes, env)


def build_flat(model: Element, nodes: list[ParsedNode], env: ModelEnv) -> FlatTree | None:
    problems = env.problems
    before = len(problems.items)
    mvs = model.get("missingValueStrategy", "none")
    if mvs not in MISSING_STRATEGIES:
        problems.invalid(f"missingValueStrategy must be one of {', '.join(MISSING_STRATEGIES)}, got {mvs!r}", model)
    ntc = model.get("noTrueChildStrategy", "returnNullPrediction")
    if ntc not in NO_TRUE_CHILD_STRATEGIES:
        problems.invalid(f"noTrueChildStrategy must be one of {', '.join(NO_TRUE_CHILD_STRATEGIES)}, got {ntc!r}",
                         model)
    split = model.get("splitCharacteristic", "multiSplit")
    if split not in SPLIT_CHARACTERISTICS:
        problems.invalid(f"splitCharacteristic must be binarySplit or multiSplit, got {split!r}", model)
    m = len(nodes)
    b = _Builder(env)
    column = [0] * m
    op_mask = [0] * m
    threshold = np.zeros(m)
    set_row = np.full(m, -1, dtype=np.intp)
    unknown_if_missing = [False] * m
    implied = np.zeros(m, dtype=bool)
    exotic: list[_Exotic | None] = [None] * m
    # A test's identity (field, operator, value text) to recognise a sibling's complement.
    signature: list[tuple[Any, ...] | None] = [None] * m
    child_count = [0] * m
    flat_children: list[int] = []
    default_child = np.full(m, -1, dtype=np.intp)
    has_score = [False] * m
    score_texts: list[str] = []
    score_at: list[int] = []
    # Thresholds of comparisons on double/float fields are parsed together at the end.
    numeric_texts: list[str] = []
    numeric_at: list[int] = []
    numeric_f32: list[bool] = []
    ids: list[str] = []
    lines: list[int] = []
    binary = split == "binarySplit"
    fast_types = (DataType.DOUBLE, DataType.FLOAT)
    for i, nd in enumerate(nodes):
        el = nd.el
        lines.append(el.line)
        nid = el.attrs.get("id")
        ids.append(nid if nid is not None else str(i + 1))
        if nd.score is not None:
            has_score[i] = True
            score_texts.append(nd.score)
            score_at.append(i)
        ch = nd.children
        child_count[i] = len(ch)
        if ch:
            flat_children.extend(ch)
            if binary and len(ch) != 2:
                problems.invalid(f"splitCharacteristic binarySplit needs 0 or 2 child Nodes, got {len(ch)}", el)
        pred = nd.predicate
        if pred is None:
            continue
        tag = pred.tag
        if tag == "True":
            op_mask[i] = _ALWAYS
            signature[i] = ("True",)
        elif tag == "False":
            signature[i] = ("False",)
        elif tag == "SimplePredicate":
            attrs = pred.attrs
            name = attrs.get("field") or ""
            info = b.info(name)
            op = attrs.get("operator") or ""
            if op not in _OP_MASKS:
                problems.invalid(f"operator must be one of {', '.join(_OP_MASKS)}, got {op!r}", pred)
                continue
            if info is None:
                problems.invalid(f"field {name!r} is not defined in this scope", pred)
                continue
            text = attrs.get("value")
            if info.dtype in fast_types and text is not None and op not in ("isMissing", "isNotMissing"):
                j = b.index.get((name, False))
                if j is None:
                    j = b.column(name, False, pred)
                    if j is None:
                        continue
                column[i] = j
                op_mask[i] = _OP_MASKS[op]
                unknown_if_missing[i] = True
                signature[i] = ("S", name, op, text)
                numeric_texts.append(text)
                numeric_at.append(i)
                numeric_f32.append(info.dtype is DataType.FLOAT)
                continue
            got = _simple_test(pred, b, info.dtype)
            if got is None:
                continue
            _, value = got
            if info.dtype.is_string and op not in ("equal", "notEqual", "isMissing", "isNotMissing"):
                exotic[i] = _exotic(pred, env)
                continue
            coded = info.dtype.is_string
            j = b.column(name, coded, pred)
            if j is None:
                continue
            column[i] = j
            unknown_if_missing[i] = op not in ("isMissing", "isNotMissing")
            signature[i] = ("S", name, op, text)
            if coded and value is not None:
                # String equality is membership of a one-value set.
                set_row[i] = len(b.sets)
                b.sets.append((j, frozenset({b.code(j, value)})))
                op_mask[i] = _EQ if op == "equal" else _LT
            else:
                op_mask[i] = _OP_MASKS[op]
                threshold[i] = np.nan if value is None else value
        elif tag == "SimpleSetPredicate":
            name = pred.get("field") or ""
            info = b.info(name)
            bop = pred.get("booleanOperator")
            arr = pred.find("Array")
            if bop not in ("isIn", "isNotIn"):
                problems.invalid(f"booleanOperator must be isIn or isNotIn, got {bop!r}", pred)
                continue
            if info is None:
                problems.invalid(f"field {name!r} is not defined in this scope", pred)
                continue
            if arr is None:
                problems.invalid("SimpleSetPredicate needs an Array", pred)
                continue
            values = parse_array(arr, info.dtype, env.compiler)
            j = b.column(name, True, pred)
            if values is None or j is None:
                continue
            column[i] = j
            set_row[i] = len(b.sets)
            b.sets.append((j, frozenset(b.code(j, v) for v in values)))
            op_mask[i] = _EQ if bop == "isIn" else _LT
            unknown_if_missing[i] = True
            signature[i] = ("A", name, bop, frozenset(values))
        else:
            exotic[i] = _exotic(pred, env)
    if numeric_texts:
        at = np.asarray(numeric_at, dtype=np.intp)
        try:
            parsed = np.asarray(numeric_texts, dtype=np.str_).astype(np.float64)
        except ValueError:
            parsed = np.full(len(at), np.nan)
            for k, (text, where) in enumerate(zip(numeric_texts, numeric_at, strict=True)):
                try:
                    parsed[k] = float(text)
                except ValueError:
                    bad = nodes[where].predicate
                    field = bad.get("field") if bad is not None else None
                    problems.invalid(f"value of field {field!r}: expected a number, got {text!r}", bad)
        f32 = np.asarray(numeric_f32, dtype=bool)
        if f32.any():
            # PMML float: compare float32-rounded values with float32-rounded thresholds.
            parsed[f32] = to_float32(parsed[f32])
        threshold[at] = parsed
    scores = np.full(m, np.nan)
    for text, where in zip(score_texts, score_at, strict=True):
        with contextlib.suppress(ValueError):  # a category of a classification tree
            scores[where] = float(text)
    # Entering a child without a test: True, or the complement of the previous sibling.
    for nd in nodes:
        ch = nd.children
        for a, c in itertools.pairwise(ch):
            implied[c] = _implied(signature[a], signature[c])
    for i, nd in enumerate(nodes):
        dc = nd.el.get("defaultChild")
        if dc is None:
            continue
        target = next((c for c in nd.children if nodes[c].el.get("id") == dc), None)
        if target is None:
            problems.invalid(f"defaultChild {dc!r} is not the id of a child of this Node", nd.el)
            continue
        default_child[i] = target
    if len(problems.items) > before:
        return None
    width = max((len(c.vocabulary or {}) for c in b.columns), default=0) + 1
    set_table = np.zeros((max(len(b.sets), 1), width), dtype=bool)
    for r, (_, members) in enumerate(b.sets):
        for code in members:
            set_table[r, code + 1] = True
    flags = {kt.F_IMPLIED: implied, kt.F_UNKNOWN: np.asarray(unknown_if_missing, dtype=bool),
             kt.F_SCORE: np.asarray(has_score, dtype=bool),
             kt.F_EXOTIC: np.array([e is not None for e in exotic], dtype=bool)}
    return finish(np.asarray(child_count, dtype=np.intp), np.asarray(flat_children, dtype=np.intp),
                  np.asarray(column, dtype=np.intp), np.asarray(op_mask, dtype=np.int64), threshold, set_row,
                  default_child, flags, tuple(exotic), tuple(b.columns), set_table, mvs, ntc, tuple(ids), scores,
                  np.asarray(lines, dtype=np.int32))


def _implied(prev: tuple[Any, ...] | None, sig: tuple[Any, ...] | None) -> bool:
    """Whether a test is true whenever the previous sibling's test is known to be false."""
    if prev is None or sig is None:
        return False
    if sig == ("True",):
        return True
    if sig[0] != prev[0] or sig[0] not in ("S", "A") or sig[1] != prev[1] or sig[3] != prev[3]:
        return False
    return bool(_COMPLEMENT[prev[2]] == sig[2]) if sig[0] == "S" else bool(sig[2] != prev[2])


def _exotic(pred: Element, env: ModelEnv) -> _Exotic | None:
    if pred.tag == "CompoundPredicate" and pred.get("booleanOperator") == "surrogate":
        parts = _parts(pred, env)
        return None if parts is None else _Exotic(parts)
    fn = _predicate_fn(pred, env)
    return None if fn is None else _Exotic((fn,))


def _parts(pred: Element, env: ModelEnv) -> tuple[PredicateFn, ...] | None:
    parts = [_predicate_fn(p, env) for p in pred.children if p.tag in PREDICATE_TAGS]
    if len(parts) < 2:
        env.problems.invalid("CompoundPredicate needs at least two predicates", pred)
        return None
    if any(p is None for p in parts):
        return None
    return tuple(p for p in parts if p is not None)


def _predicate_fn(pred: Element, env: ModelEnv) -> PredicateFn | None:
    """A predicate's function; split points between integers are read as numbers (as JPMML does)."""
    if pred.tag == "CompoundPredicate" and pred.get("booleanOperator") in ("and", "or", "xor", "surrogate"):
        parts = _parts(pred, env)
        if parts is None:
            return None
        return _combine(pred.get("booleanOperator") or "", parts)
    if pred.tag == "SimplePredicate" and pred.get("operator") in _OP_MASKS:
        info = env.compiler.field_info(pred.get("field") or "")
        text = pred.get("value")
        if info is not None and text is not None and _split_point(info.dtype, text):
            expr = env.compiler.ref(info.name, pred)
            if expr is not None:
                return _numeric_fn(expr.fn, pred.get("operator") or "", float(text))
    return compile_predicate(pred, env.compiler)


def _split_point(dtype: DataType, text: str) -> bool:
    """A number between the values of an integer or boolean field ("2.5", "0.5").

    Producers (KNIME, Rattle) write such split points; JPMML compares them as numbers.
    """
    if dtype not in (DataType.INTEGER, DataType.BOOLEAN):
        return False
    try:
        parse_scalar(dtype, text)
    except ValueError:
        try:
            return bool(np.isfinite(float(text)))
        except ValueError:
            return False
    return False


def _numeric_fn(read: Callable[[Frame], Array], op: str, value: float) -> PredicateFn:
    mask = _OP_MASKS[op]

    def run(frame: Frame) -> Array:
        x = read(frame)
        with np.errstate(invalid="ignore"):
            outcome = np.where(x < value, 0, np.where(x == value, 1, 2))
        miss = np.isnan(x)
        outcome[miss] = 3
        out = ((mask >> outcome) & 1).astype(np.float64)
        if op not in ("isMissing", "isNotMissing"):
            out[miss] = np.nan
        return out

    return run


def _combine(op: str, parts: tuple[PredicateFn, ...]) -> PredicateFn:
    if op == "and":
        return lambda frame: and_all([p(frame) for p in parts])
    if op == "or":
        return lambda frame: or_all([p(frame) for p in parts])
    if op == "xor":
        def run_xor(frame: Frame) -> Array:
            acc = np.zeros(frame.n)
            for p in parts:
                acc = acc + p(frame)  # NaN (unknown) stays unknown
            return np.mod(acc, 2.0)

        return run_xor

    def run_surrogate(frame: Frame) -> Array:
        out = parts[0](frame)
        for p in parts[1:]:
            todo = np.flatnonzero(np.isnan(out))
            if not len(todo):
                break
            out[todo] = p(frame.subset(todo, {}))
        return out

    return run_surrogate


# -- bulk compile of a Node hierarchy read as a table ------------------------------------------------

_OP_NAMES = ("lessThan", "lessOrEqual", "greaterThan", "greaterOrEqual", "equal", "notEqual")
_OP_CODE_MASKS = np.array([_OP_MASKS[o] for o in _OP_NAMES], dtype=np.int64)
_OP_COMPLEMENT = np.array([_OP_NAMES.index(_COMPLEMENT[o]) for o in _OP_NAMES], dtype=np.intp)
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
    """The FlatTree of a bulk-read hierarchy of numeric splits, exactly as :func:`build_flat` makes it.

    None when the tree holds anything else or anything invalid: the element-by-element
    compiler then takes over and reports the problems.  Adds no problems itself.
    """
    mvs = model.get("missingValueStrategy", "none")
    ntc = model.get("noTrueChildStrategy", "returnNullPrediction")
    split = model.get("splitCharacteristic", "multiSplit")
    if (mvs not in ("none", "nullPrediction", "lastPrediction") or ntc not in NO_TRUE_CHILD_STRATEGIES
            or split not in SPLIT_CHARACTERISTICS):
        return None
    table = nodes.table
    m = nodes.n
    if nodes.present(nodes.rows, "defaultChild").any():
        return None
    # Each Node has exactly one predicate: True, False or a SimplePredicate comparing a number.
    pred_rows = np.flatnonzero((table.kind == K_TRUE) | (table.kind == K_FALSE) | (table.kind == K_SIMPLE))
    pred_node = nodes.rank[table.owner[pred_rows]]
    if len(pred_rows) != m or (np.bincount(pred_node, minlength=m) != 1).any():
        return None
    pred_of = np.empty(m, dtype=np.intp)
    pred_of[pred_node] = pred_rows
    pkind = table.kind[pred_of]
    op_mask = np.where(pkind == K_TRUE, _ALWAYS, 0).astype(np.int64)
    column = np.zeros(m, dtype=np.intp)
    threshold = np.zeros(m)
    unknown_if_missing = np.zeros(m, dtype=bool)
    simple = np.flatnonzero(pkind == K_SIMPLE)
    b = _Builder(env)
    op_code = np.full(m, -1, dtype=np.intp)
    value_text: npt.NDArray[np.bytes_] = np.zeros(m, dtype="S1")
    if len(simple):
        srows = pred_of[simple]
        if not (nodes.present(srows, "value").all() and nodes.present(srows, "operator").all()):
            return None
        names, first, field_code = np.unique(nodes.texts(srows, "field"), return_index=True, return_inverse=True)
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
        ops, op_inv = np.unique(nodes.texts(srows, "operator"), return_inverse=True)
        known = [_OP_NAMES.index(o) if o in _OP_NAMES else -1 for o in (bytes(x).decode("utf-8") for x in ops)]
        if min(known) < 0:
            return None
        codes = np.asarray(known, dtype=np.intp)[op_inv]
        texts = nodes.texts(srows, "value")
        try:
            parsed = texts.astype(np.float64)
        except (ValueError, UnicodeDecodeError):
            return None
        field_f32 = f32[field_code]
        if field_f32.any():
            # PMML float: compare float32-rounded values with float32-rounded thresholds.
            parsed[field_f32] = to_float32(parsed[field_f32])
        column[simple] = col_of[field_code]
        op_mask[simple] = _OP_CODE_MASKS[codes]
        op_code[simple] = codes
        threshold[simple] = parsed
        unknown_if_missing[simple] = True
        value_text = np.zeros(m, dtype=texts.dtype)
        value_text[simple] = texts
    # Children: grouped by parent in preorder, in document order within a parent.
    kids = np.argsort(nodes.parent[1:], kind="stable") + 1
    counts = np.bincount(nodes.parent[1:], minlength=m).astype(np.intp) if m > 1 else np.zeros(m, dtype=np.intp)
    if split == "binarySplit" and ((counts != 0) & (counts != 2)).any():
        return None
    # Entered without a test: True, or the complement of the previous sibling (see _implied).
    implied = np.zeros(m, dtype=bool)
    if len(kids) > 1:
        prev, cur = kids[:-1], kids[1:]
        sibling = nodes.parent[prev] == nodes.parent[cur]
        complement = ((op_code[prev] >= 0) & (op_code[cur] >= 0)
                      & (_OP_COMPLEMENT[np.maximum(op_code[prev], 0)] == op_code[cur])
                      & (column[prev] == column[cur]) & (value_text[prev] == value_text[cur]))
        implied[cur] = sibling & ((pkind[cur] == K_TRUE) | complement)
    has_score = nodes.present(nodes.rows, "score")
    scores = np.full(m, np.nan)
    if has_score.any():
        score_text = nodes.texts(nodes.rows[has_score], "score")
        try:
            scores[has_score] = score_text.astype(np.float64)
        except (ValueError, UnicodeDecodeError):
            # Categories of a classification tree: parse each distinct score once.
            distinct, inv = np.unique(score_text, return_inverse=True)
            scores[has_score] = np.array([_number(bytes(x)) for x in distinct])[inv]
    ids = _default_ids(m)
    has_id = nodes.present(nodes.rows, "id")
    if has_id.any():
        ids = list(ids)
        for i, text in zip(np.flatnonzero(has_id).tolist(), nodes.texts(nodes.rows[has_id], "id").tolist(),
                           strict=True):
            ids[i] = text.decode("utf-8")
    flags = {kt.F_IMPLIED: implied, kt.F_UNKNOWN: unknown_if_missing, kt.F_SCORE: has_score}
    return finish(counts, kids, column, op_mask, threshold, -1, -1, flags, (None,) * m, tuple(b.columns),
                  np.zeros((1, 1), dtype=bool), mvs, ntc, tuple(ids), scores, table.lines[nodes.rows])


def _number(text: bytes) -> float:
    try:
        return float(text.decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        return np.nan
