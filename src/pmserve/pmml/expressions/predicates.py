"""Predicates in three-valued logic (PMML 4.4 "Predicates"), vectorised over rows.

A compiled predicate returns a float64 column: 1.0 true, 0.0 false, NaN unknown (an input it
reads is missing).  ``and``/``or``/``xor``/``surrogate`` follow the spec's truth tables.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from pmserve.pmml.document import attributes as attribute
from pmserve.pmml.document.element import Element
from pmserve.pmml.document.problems import Problems
from pmserve.pmml.expressions.transformations import ExpressionCompiler
from pmserve.pmml.fields.frame import Frame
from pmserve.pmml.fields.schema import membership
from pmserve.pmml.fields.types import Array, DataType, is_missing, parse_scalar

PredicateFn = Callable[[Frame], Array]

PREDICATE_TAGS = frozenset({"SimplePredicate", "SimpleSetPredicate", "CompoundPredicate", "True", "False"})
_OPERATORS = ("equal", "notEqual", "lessThan", "lessOrEqual", "greaterThan", "greaterOrEqual", "isMissing",
              "isNotMissing")


def compile_predicate(el: Element, c: ExpressionCompiler) -> PredicateFn | None:
    tag = el.tag
    if tag == "True":
        return lambda frame: np.ones(frame.n)
    if tag == "False":
        return lambda frame: np.zeros(frame.n)
    if tag == "SimplePredicate":
        return _simple(el, c)
    if tag == "SimpleSetPredicate":
        return _simple_set(el, c)
    if tag == "CompoundPredicate":
        return _compound(el, c)
    c.problems.invalid(f"{tag} is not a predicate", el)
    return None


def predicate_value(el: Element, dtype: DataType, c: ExpressionCompiler) -> Any:
    """The typed comparison value of a SimplePredicate for a field of ``dtype``."""
    text = attribute.text(el, "value", c.problems, required=True)
    if text is None:
        return None
    try:
        return parse_scalar(dtype, text)
    except ValueError as exc:
        if dtype in (DataType.INTEGER, DataType.BOOLEAN):
            # JPMML compares such split points ("2.5" on an integer field) as numbers.
            try:
                return float(text)
            except ValueError:
                pass
        c.problems.invalid(f"value of field {el.get('field')!r}: {exc}", el)
        return None


def _simple(el: Element, c: ExpressionCompiler) -> PredicateFn | None:
    name = el.get("field") or ""
    op = attribute.choice(el, "operator", _OPERATORS, c.problems, required=True)
    if op is None:
        return None
    src = c.ref(name, el)
    if src is None:
        return None
    fn = src.fn
    if op == "isMissing":
        return lambda frame: is_missing(fn(frame)).astype(np.float64)
    if op == "isNotMissing":
        return lambda frame: (~is_missing(fn(frame))).astype(np.float64)
    value = predicate_value(el, src.dtype, c)
    if value is None:
        return None
    cmp = _COMPARISONS[op]
    if src.dtype.is_string:
        def run_str(frame: Frame) -> Array:
            out = np.full(frame.n, np.nan)
            for i, v in enumerate(fn(frame).tolist()):
                if v is not None:
                    out[i] = 1.0 if cmp(v, value) else 0.0
            return out

        return run_str

    def run(frame: Frame) -> Array:
        x = fn(frame)
        with np.errstate(invalid="ignore"):
            out: Array = cmp(x, value).astype(np.float64)
        out[np.isnan(x)] = np.nan
        return out

    return run


#: A SimplePredicate's operator on a whole numeric column, or on one string.
_COMPARISONS: dict[str, Callable[[Any, Any], Any]] = {
    "equal": operator.eq, "notEqual": operator.ne, "lessThan": operator.lt, "lessOrEqual": operator.le,
    "greaterThan": operator.gt, "greaterOrEqual": operator.ge,
}


def parse_array(el: Element, dtype: DataType, c: ExpressionCompiler) -> list[Any] | None:
    """The values of an Array element, of the dataType ``dtype``."""
    items = attribute.array_items(el, c.problems)
    if items is None:
        return None
    try:
        return [parse_scalar(dtype, t) for t in items]
    except ValueError as exc:
        c.problems.invalid(f"Array value: {exc}", el)
        return None


def _simple_set(el: Element, c: ExpressionCompiler) -> PredicateFn | None:
    name = el.get("field") or ""
    op = attribute.choice(el, "booleanOperator", ("isIn", "isNotIn"), c.problems, required=True)
    if op is None:
        return None
    src = c.ref(name, el)
    arr = el.find("Array")
    if src is None:
        return None
    if arr is None:
        c.problems.invalid("SimpleSetPredicate needs an Array", el)
        return None
    values = parse_array(arr, src.dtype, c)
    if values is None:
        return None
    fn = src.fn
    negate = op == "isNotIn"

    def run(frame: Frame) -> Array:
        x = fn(frame)
        m = membership(x, values)
        out = (~m if negate else m).astype(np.float64)
        out[is_missing(x)] = np.nan
        return out

    return run


def _compound(el: Element, c: ExpressionCompiler) -> PredicateFn | None:
    op = attribute.choice(el, "booleanOperator", ("and", "or", "xor", "surrogate"), c.problems, required=True)
    if op is None:
        return None
    parts = compound_parts(el, lambda p: compile_predicate(p, c), c.problems)
    return None if parts is None else combine(op, parts)


def compound_parts(el: Element, compile_part: Callable[[Element], PredicateFn | None],
                   problems: Problems) -> list[PredicateFn] | None:
    """A CompoundPredicate's predicates, each compiled; None if one fails or there are fewer than two."""
    parts = [compile_part(p) for p in el.children if p.tag in PREDICATE_TAGS]
    if len(parts) < 2:
        problems.invalid("CompoundPredicate needs at least two predicates", el)
        return None
    if any(p is None for p in parts):
        return None
    return [p for p in parts if p is not None]


def combine(op: str, fns: Sequence[PredicateFn]) -> PredicateFn:
    """Predicates joined by a CompoundPredicate's booleanOperator (and, or, xor, surrogate)."""
    if op == "and":
        return lambda frame: and_all([f(frame) for f in fns])
    if op == "or":
        return lambda frame: or_all([f(frame) for f in fns])
    if op == "xor":
        def run_xor(frame: Frame) -> Array:
            vals = [f(frame) for f in fns]
            acc = np.zeros(frame.n)
            unknown = np.zeros(frame.n, dtype=bool)
            for v in vals:
                unknown |= np.isnan(v)
                acc = np.where(np.isnan(v), acc, np.abs(acc - v))
            acc[unknown] = np.nan
            return acc

        return run_xor

    def run_surrogate(frame: Frame) -> Array:
        # The first predicate that is not unknown decides; later ones are evaluated lazily, only
        # for the rows still unknown.
        out = fns[0](frame)
        for f in fns[1:]:
            todo = np.flatnonzero(np.isnan(out))
            if not len(todo):
                break
            out[todo] = f(frame.subset(todo, {}))
        return out

    return run_surrogate


def and_all(vals: list[Array]) -> Array:
    return _three_valued(vals, 0.0)


def or_all(vals: list[Array]) -> Array:
    return _three_valued(vals, 1.0)


def _three_valued(vals: list[Array], decisive: float) -> Array:
    """PMML's three-valued and (``decisive`` 0) and or (1): a decisive value wins, else an unknown
    (NaN) one, else the other value."""
    other = 1.0 - decisive
    out = np.full(len(vals[0]), other)
    for v in vals:
        out = np.where((out == decisive) | (v == decisive), decisive,
                       np.where(np.isnan(out) | np.isnan(v), np.nan, other))
    return out
