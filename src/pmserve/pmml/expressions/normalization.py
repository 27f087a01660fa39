"""The table and normalisation expressions (PMML 4.4 "Transformations"): NormContinuous,
NormDiscrete, Discretize and MapValues, and the LinearNorm / InlineTable readers they share."""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, Any

import numpy as np

from pmserve.pmml.document import attributes as attribute
from pmserve.pmml.document.element import Element
from pmserve.pmml.document.problems import Problems
from pmserve.pmml.expressions.casting import equal_to
from pmserve.pmml.fields.frame import Expr, Frame
from pmserve.pmml.fields.schema import in_intervals, parse_dtype, parse_interval
from pmserve.pmml.fields.types import Array, DataType, any_missing, empty, is_missing, optype_of, parse_scalar

if TYPE_CHECKING:
    from pmserve.pmml.expressions.transformations import ExpressionCompiler


def norm_continuous(c: ExpressionCompiler, el: Element) -> Expr | None:
    src = c.field_of(el)
    if src is None:
        return None
    points = linear_norms(el, c.problems)
    if points is None:
        return None
    orig, norm = points
    if len(orig) > 1 and np.all(np.diff(orig) < 0):
        # Descending points (STATISTICA's inverse transform) draw the same piecewise-linear
        # function read in the other direction; JPMML-Evaluator accepts them.
        orig, norm = orig[::-1].copy(), norm[::-1].copy()
    if np.any(np.diff(orig) <= 0):
        c.problems.invalid("LinearNorm orig values must be strictly ascending", el)
        return None
    outliers = attribute.choice(el, "outliers", ("asIs", "asMissingValues", "asExtremeValues"), c.problems, "asIs")
    repl = attribute.number(el, "mapMissingTo", c.problems)
    if outliers is None:
        return None

    def fn(frame: Frame) -> Array:
        x = src.fn(frame)
        idx = np.clip(np.searchsorted(orig, x, side="right") - 1, 0, len(orig) - 2)
        x0, x1, y0, y1 = orig[idx], orig[idx + 1], norm[idx], norm[idx + 1]
        with np.errstate(invalid="ignore"):
            y: Array = y0 + (x - x0) * (y1 - y0) / (x1 - x0)
            if outliers == "asMissingValues":
                y[(x < orig[0]) | (x > orig[-1])] = np.nan
            elif outliers == "asExtremeValues":
                y[x < orig[0]] = norm[0]
                y[x > orig[-1]] = norm[-1]
        if repl is not None:
            y[np.isnan(x)] = repl
        return y

    return Expr(DataType.DOUBLE, "continuous", fn)


def norm_discrete(c: ExpressionCompiler, el: Element) -> Expr | None:
    src = c.field_of(el)
    if src is None:
        return None
    value = attribute.parsed(el, "value", partial(parse_scalar, src.dtype), c.problems, default="")
    mm_value = attribute.number(el, "mapMissingTo", c.problems)
    repl = mm_value if mm_value is not None else np.nan

    def fn(frame: Frame) -> Array:
        x = src.fn(frame)
        out = equal_to(x, value).astype(np.float64)
        out[is_missing(x)] = repl
        return out

    return Expr(DataType.DOUBLE, "continuous", fn)


def discretize(c: ExpressionCompiler, el: Element) -> Expr | None:
    dtype = parse_dtype(el, c.problems, default=DataType.STRING)
    bins = []
    for b in el.findall("DiscretizeBin"):
        iv = b.find("Interval")
        if iv is None:
            c.problems.invalid("DiscretizeBin needs an Interval", b)
            continue
        bin_value = attribute.parsed(b, "binValue", partial(parse_scalar, dtype), c.problems, default="")
        bins.append((parse_interval(iv, c.problems), bin_value))
    repl = attribute.parsed(el, "mapMissingTo", partial(parse_scalar, dtype), c.problems)
    default = attribute.parsed(el, "defaultValue", partial(parse_scalar, dtype), c.problems)
    src = c.field_of(el)  # after the bins: a missing field does not hide their problems
    if src is None:
        return None

    def fn(frame: Frame) -> Array:
        x = src.fn(frame)
        out = empty(dtype, frame.n)
        done = np.zeros(frame.n, dtype=bool)
        for iv, val in bins:
            m = in_intervals(x, (iv,)) & ~done
            out[m] = val
            done |= m
        miss = np.isnan(x)
        if default is not None:
            out[~done & ~miss] = default
        if repl is not None:
            out[miss] = repl
        return out

    return Expr(dtype, optype_of(dtype), fn)


def map_values(c: ExpressionCompiler, el: Element) -> Expr | None:
    dtype = parse_dtype(el, c.problems, default=DataType.STRING)
    out_col = attribute.text(el, "outputColumn", c.problems, required=True)
    pairs = el.findall("FieldColumnPair")
    srcs: list[Expr] = []
    cols: list[str] = []
    for p in pairs:
        s = c.field_of(p)
        if s is None:
            return None
        srcs.append(s)
        cols.append(p.get("column") or "")
    table = read_table(el, c.problems)
    if table is None or out_col is None:
        return None
    lookup: dict[tuple[Any, ...], Any] = {}
    for row in table:
        try:
            key = tuple(parse_scalar(s.dtype, row[c]) for s, c in zip(srcs, cols, strict=True))
            val = parse_scalar(dtype, row[out_col])
        except (KeyError, ValueError):
            # Rows lacking a column or holding an unreadable key can never match an input.
            continue
        lookup.setdefault(key, val)
    repl = attribute.parsed(el, "mapMissingTo", partial(parse_scalar, dtype), c.problems)
    default = attribute.parsed(el, "defaultValue", partial(parse_scalar, dtype), c.problems)

    def fn(frame: Frame) -> Array:
        xs = [s.fn(frame) for s in srcs]
        miss = any_missing(xs, frame.n)
        out = empty(dtype, frame.n)
        keys = zip(*(x.tolist() for x in xs), strict=True)
        for i, k in enumerate(keys):
            v = None if miss[i] else lookup.get(k, default)  # a parsed value is never None
            if v is not None:
                out[i] = v
        if repl is not None:
            out[miss] = repl
        return out

    return Expr(dtype, optype_of(dtype), fn)


def linear_norms(el: Element, problems: Problems) -> tuple[Array, Array] | None:
    """The (orig, norm) points of a NormContinuous; at least two, all numbers."""
    norms = el.findall("LinearNorm")
    if len(norms) < 2:
        problems.invalid("NormContinuous needs at least two LinearNorm elements", el)
        return None
    points = [(attribute.number(n, "orig", problems, required=True), attribute.number(n, "norm", problems,
                                                                                     required=True)) for n in norms]
    if any(orig is None or norm is None for orig, norm in points):
        return None
    table = np.array(points, dtype=np.float64)
    return table[:, 0].copy(), table[:, 1].copy()


def read_table(el: Element, problems: Problems) -> list[dict[str, str]] | None:
    """The rows of an element's InlineTable as dicts (TableLocator is refused)."""
    t = el.find("InlineTable")
    if t is None:
        if el.find("TableLocator") is not None:
            problems.unsupported("TableLocator (an external table) is not supported; use an InlineTable",
                                 el.find("TableLocator"))
        else:
            problems.invalid("expected an InlineTable", el)
        return None
    return [{c.tag: c.text for c in r.children} for r in t.findall("row")]
