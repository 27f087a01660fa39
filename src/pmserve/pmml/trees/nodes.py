"""A TreeModel's Node elements compiled one by one into a :class:`~pmserve.pmml.trees.flat.FlatTree`.

A child whose predicate is ``True``, or the complement of its previous sibling's (the binary
splits of sklearn2pmml, rpart, Spark, XGBoost, LightGBM, KNIME), is flagged *implied*: entered
without a test once that sibling is false, so a binary tree costs one comparison per level.  A
field of dataType float is compared as JPMML does: float32 values against float32-rounded
thresholds.  Predicates that are not a simple test (CompoundPredicate, surrogates, string
ordering, ...) are compiled with :mod:`pmserve.pmml.expressions.predicates` ("exotic" nodes) and
evaluated by the walker over the records that reach them.

:func:`compile_flat` tries the bulk compiler (:mod:`~pmserve.pmml.trees.bulk`) first.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from pmserve.pmml.compiler import ModelEnv
from pmserve.pmml.document.attributes import choice
from pmserve.pmml.document.element import Element
from pmserve.pmml.document.problems import Problems
from pmserve.pmml.expressions.predicates import PREDICATE_TAGS, combine, compile_predicate, compound_parts, parse_array
from pmserve.pmml.fields.frame import Frame
from pmserve.pmml.fields.types import Array, DataType, parse_scalar, to_float32
from pmserve.pmml.kernels import trees as kt
from pmserve.pmml.trees.bulk import bulk_flat, node_table, table_nodes
from pmserve.pmml.trees.flat import (
    MISSING_STRATEGIES,
    NO_TRUE_CHILD_STRATEGIES,
    OP_MASKS,
    OPERATORS,
    SPLIT_CHARACTERISTICS,
    Builder,
    Exotic,
    FlatTree,
    IntArray,
    PredicateFn,
    finish,
    implied_children,
    number_or_nan,
)


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
    # (element, parent index); an explicit stack keeps deep trees (XGBoost, LightGBM) clear of
    # Python's recursion limit.
    stack: list[tuple[Element, int]] = [(root, -1)]
    while stack:
        el, parent = stack.pop()
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
        if parent >= 0:
            out[parent].children += (len(out),)
        stack.extend((c, len(out)) for c in reversed(child_els))
        out.append(ParsedNode(el, pred, (), parent, el.get("score"), tuple(sds)))
    return out


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
    """The FlatTree of a TreeModel's Node elements (preorder); problems go to ``env.problems``."""
    problems = env.problems
    before = len(problems.items)
    mvs, ntc, split = _strategies(model, problems)
    tests = _Tests(Builder(env), len(nodes))
    for i, nd in enumerate(nodes):
        if split == "binarySplit" and len(nd.children) not in (0, 2):
            problems.invalid(f"splitCharacteristic binarySplit needs 0 or 2 child Nodes, got {len(nd.children)}",
                             nd.el)
        if nd.predicate is not None:
            tests.add(i, nd.predicate)
    default_child = _default_children(nodes, problems)
    if len(problems.items) > before:
        return None
    kids = np.array([c for nd in nodes for c in nd.children], dtype=np.intp)
    parents = np.array([nd.parent for nd in nodes], dtype=np.intp)
    flags = {kt.F_IMPLIED: implied_children(parents, kids, tests.op_mask, tests.op, tests.column, tests.value),
             kt.F_UNKNOWN: tests.unknown, kt.F_SCORE: np.array([nd.score is not None for nd in nodes], dtype=bool),
             kt.F_EXOTIC: np.array([e is not None for e in tests.exotic], dtype=bool)}
    ids = tuple(nid if (nid := nd.el.attrs.get("id")) is not None else str(i + 1) for i, nd in enumerate(nodes))
    lines = np.array([nd.el.line for nd in nodes], dtype=np.int32)
    return finish(np.array([len(nd.children) for nd in nodes], dtype=np.intp), kids, tests.column, tests.op_mask,
                  tests.threshold, tests.set_row, default_child, flags, tuple(tests.exotic), tuple(tests.b.columns),
                  tests.b.set_table(), mvs, ntc, ids, np.array([number_or_nan(nd.score) for nd in nodes]), lines)


def _strategies(model: Element, problems: Problems) -> tuple[str, str, str]:
    """missingValueStrategy, noTrueChildStrategy and splitCharacteristic (the default where one is
    not valid: the problem is reported)."""
    return (choice(model, "missingValueStrategy", MISSING_STRATEGIES, problems) or "none",
            choice(model, "noTrueChildStrategy", NO_TRUE_CHILD_STRATEGIES, problems) or "returnNullPrediction",
            choice(model, "splitCharacteristic", SPLIT_CHARACTERISTICS, problems) or "multiSplit")


class _Tests:
    """Each node's own predicate as a test (``FlatTree`` layout), collected node by node."""

    def __init__(self, b: Builder, m: int) -> None:
        self.b = b
        self.problems = b.env.problems
        self.column = np.zeros(m, dtype=np.intp)
        self.op_mask = np.zeros(m, dtype=np.int64)
        self.threshold = np.zeros(m)
        self.set_row = np.full(m, -1, dtype=np.intp)
        self.unknown = np.zeros(m, dtype=bool)  # a missing value makes the test unknown
        self.exotic: list[Exotic | None] = [None] * m
        # A test's operator (in OPERATORS, -1: none) and value (value text or set, numbered) to
        # recognise a sibling's complement.
        self.op = np.full(m, -1, dtype=np.intp)
        self.value = np.full(m, -1, dtype=np.intp)
        self.values: dict[str | frozenset[Any] | None, int] = {}

    def add(self, i: int, pred: Element) -> None:
        if pred.tag == "True":
            self.op_mask[i] = kt.ALWAYS
        elif pred.tag == "SimplePredicate":
            self._simple(i, pred)
        elif pred.tag == "SimpleSetPredicate":
            self._set(i, pred)
        elif pred.tag != "False":
            self.exotic[i] = _exotic(pred, self.b.env)

    def _simple(self, i: int, pred: Element) -> None:
        name = pred.get("field") or ""
        info = self.b.info(name)
        op = pred.get("operator") or ""
        text = pred.get("value")
        if op not in OP_MASKS:
            self.problems.invalid(f"operator must be one of {', '.join(OP_MASKS)}, got {op!r}", pred)
        elif info is None:
            self.problems.invalid(f"field {name!r} is not defined in this scope", pred)
        elif info.dtype in (DataType.DOUBLE, DataType.FLOAT) and text is not None and op in _ORDERING:
            j = self.b.column(name, False, pred)
            if j is not None:
                self._test(i, j, OP_MASKS[op], True, op, text)
                self.threshold[i] = self._threshold(pred, text, info.dtype is DataType.FLOAT)
        elif info.dtype.is_string and op not in ("equal", "notEqual", "isMissing", "isNotMissing"):
            if self._value(pred, info.dtype, op) is not _UNREADABLE:
                self.exotic[i] = _exotic(pred, self.b.env)
        else:
            value = self._value(pred, info.dtype, op)
            j = None if value is _UNREADABLE else self.b.column(name, info.dtype.is_string, pred)
            if j is None:
                return
            self._test(i, j, OP_MASKS[op], op in _ORDERING, op, text)
            if info.dtype.is_string and value is not None:
                # String equality is membership of a one-value set.
                self._member(i, j, frozenset({self.b.code(j, value)}), op == "equal")
            else:
                self.threshold[i] = np.nan if value is None else value

    def _threshold(self, pred: Element, text: str, f32: bool) -> float:
        """A comparison's threshold on a double or float field (PMML float: rounded to float32, as
        the values it is compared with are)."""
        try:
            x = float(text)
        except ValueError:
            self.problems.invalid(f"value of field {pred.get('field')!r}: expected a number, got {text!r}", pred)
            return np.nan
        return float(to_float32(np.array(x))) if f32 else x

    def _value(self, pred: Element, dtype: DataType, op: str) -> Any:
        """The typed value of a SimplePredicate (None: isMissing / isNotMissing; _UNREADABLE)."""
        if op in ("isMissing", "isNotMissing"):
            return None
        text = pred.get("value")
        if text is None:
            self.problems.invalid(f"attribute value is required for operator {op!r}", pred)
            return _UNREADABLE
        try:
            return parse_scalar(dtype, text)
        except ValueError as exc:
            if _split_point(dtype, text):
                return float(text)
            self.problems.invalid(f"value of field {pred.get('field')!r}: {exc}", pred)
            return _UNREADABLE

    def _set(self, i: int, pred: Element) -> None:
        name = pred.get("field") or ""
        info = self.b.info(name)
        bop = pred.get("booleanOperator")
        arr = pred.find("Array")
        if bop not in ("isIn", "isNotIn"):
            self.problems.invalid(f"booleanOperator must be isIn or isNotIn, got {bop!r}", pred)
        elif info is None:
            self.problems.invalid(f"field {name!r} is not defined in this scope", pred)
        elif arr is None:
            self.problems.invalid("SimpleSetPredicate needs an Array", pred)
        else:
            values = parse_array(arr, info.dtype, self.b.env.compiler)
            j = self.b.column(name, True, pred)
            if values is None or j is None:
                return
            self._test(i, j, 0, True, bop, frozenset(values))
            self._member(i, j, frozenset(self.b.code(j, v) for v in values), bop == "isIn")

    def _test(self, i: int, column: int, mask: int, unknown: bool, op: str,
              value: str | frozenset[Any] | None) -> None:
        self.column[i] = column
        self.op_mask[i] = mask
        self.unknown[i] = unknown
        self.op[i] = OPERATORS.index(op)
        self.value[i] = self.values.setdefault(value, len(self.values))

    def _member(self, i: int, column: int, members: frozenset[int], inside: bool) -> None:
        """A set test: membership is the equal bit, so "in" is EQ and "not in" LT."""
        self.set_row[i] = len(self.b.sets)
        self.b.sets.append((column, members))
        self.op_mask[i] = kt.EQ if inside else kt.LT


#: Operators whose test is unknown for a missing value (isMissing / isNotMissing answer it).
_ORDERING = frozenset(OP_MASKS) - {"isMissing", "isNotMissing"}
#: A predicate value that could not be read (the problem is reported).
_UNREADABLE = object()


def _default_children(nodes: list[ParsedNode], problems: Problems) -> IntArray:
    """Each node's defaultChild as a node index (-1: none)."""
    default_child = np.full(len(nodes), -1, dtype=np.intp)
    for i, nd in enumerate(nodes):
        dc = nd.el.get("defaultChild")
        if dc is None:
            continue
        target = next((c for c in nd.children if nodes[c].el.get("id") == dc), None)
        if target is None:
            problems.invalid(f"defaultChild {dc!r} is not the id of a child of this Node", nd.el)
            continue
        default_child[i] = target
    return default_child


def _exotic(pred: Element, env: ModelEnv) -> Exotic | None:
    if pred.tag == "CompoundPredicate" and pred.get("booleanOperator") == "surrogate":
        return _parts(pred, env)
    fn = _predicate_fn(pred, env)
    return None if fn is None else (fn,)


def _parts(pred: Element, env: ModelEnv) -> tuple[PredicateFn, ...] | None:
    parts = compound_parts(pred, lambda p: _predicate_fn(p, env), env.problems)
    return None if parts is None else tuple(parts)


def _predicate_fn(pred: Element, env: ModelEnv) -> PredicateFn | None:
    """A predicate's function; split points between integers are read as numbers (as JPMML does)."""
    if pred.tag == "CompoundPredicate" and pred.get("booleanOperator") in ("and", "or", "xor", "surrogate"):
        parts = _parts(pred, env)
        if parts is None:
            return None
        return combine(pred.get("booleanOperator") or "", parts)
    if pred.tag == "SimplePredicate" and pred.get("operator") in OP_MASKS:
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
        return bool(np.isfinite(number_or_nan(text)))
    return False


def _numeric_fn(read: Callable[[Frame], Array], op: str, value: float) -> PredicateFn:
    mask = OP_MASKS[op]

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
