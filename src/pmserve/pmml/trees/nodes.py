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

import contextlib
import itertools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from pmserve.pmml.compiler import ModelEnv
from pmserve.pmml.document.element import Element
from pmserve.pmml.document.problems import Problems
from pmserve.pmml.expressions.predicates import PREDICATE_TAGS, combine, compile_predicate, parse_array
from pmserve.pmml.fields.frame import Frame
from pmserve.pmml.fields.types import Array, DataType, parse_scalar, to_float32
from pmserve.pmml.kernels import trees as kt
from pmserve.pmml.trees.bulk import bulk_flat, node_table, table_nodes
from pmserve.pmml.trees.flat import (
    COMPLEMENT,
    MISSING_STRATEGIES,
    NO_TRUE_CHILD_STRATEGIES,
    OP_MASKS,
    SPLIT_CHARACTERISTICS,
    Builder,
    Exotic,
    FlatTree,
    PredicateFn,
    finish,
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



def _simple_test(pred: Element, b: Builder, dtype: DataType) -> tuple[str, Any] | None:
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
    b = Builder(env)
    column = [0] * m
    op_mask = [0] * m
    threshold = np.zeros(m)
    set_row = np.full(m, -1, dtype=np.intp)
    unknown_if_missing = [False] * m
    implied = np.zeros(m, dtype=bool)
    exotic: list[Exotic | None] = [None] * m
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
            op_mask[i] = kt.ALWAYS
            signature[i] = ("True",)
        elif tag == "False":
            signature[i] = ("False",)
        elif tag == "SimplePredicate":
            attrs = pred.attrs
            name = attrs.get("field") or ""
            info = b.info(name)
            op = attrs.get("operator") or ""
            if op not in OP_MASKS:
                problems.invalid(f"operator must be one of {', '.join(OP_MASKS)}, got {op!r}", pred)
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
                op_mask[i] = OP_MASKS[op]
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
                op_mask[i] = kt.EQ if op == "equal" else kt.LT
            else:
                op_mask[i] = OP_MASKS[op]
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
            op_mask[i] = kt.EQ if bop == "isIn" else kt.LT
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
    return bool(COMPLEMENT[prev[2]] == sig[2]) if sig[0] == "S" else bool(sig[2] != prev[2])


def _exotic(pred: Element, env: ModelEnv) -> Exotic | None:
    if pred.tag == "CompoundPredicate" and pred.get("booleanOperator") == "surrogate":
        parts = _parts(pred, env)
        return None if parts is None else Exotic(parts)
    fn = _predicate_fn(pred, env)
    return None if fn is None else Exotic((fn,))


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
        try:
            return bool(np.isfinite(float(text)))
        except ValueError:
            return False
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
