"""RegressionModel: linear and logistic regression tables (PMML 4.4 "Regression").

A table's value is ``sum(coefficient * x ** exponent) + matched categorical coefficients +
sum(coefficient * product of term fields) + intercept``; a missing numeric input makes the
table missing (classification then falls back to the Targets' prior probabilities), a missing
categorical input is ignored.  Normalisation follows JPMML-Evaluator, including its two
non-standard cases (binary softmax with a zero second table, multinomial logit).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np

from pmserve.pmml.compiler import CompiledModel, ModelEnv, register
from pmserve.pmml.document import attributes as attribute
from pmserve.pmml.document.element import Element
from pmserve.pmml.document.problems import every
from pmserve.pmml.expressions.vector_math import INVERSE_LINKS, simplemax_rows, softmax_rows
from pmserve.pmml.fields.categorical import lookup
from pmserve.pmml.fields.frame import Expr, Frame, ReadOrder
from pmserve.pmml.fields.types import Array, DataType, is_missing, parse_scalar
from pmserve.pmml.results.prediction import Prediction, classification

_METHODS = ("none", "simplemax", "softmax", "logit", "probit", "cloglog", "loglog", "cauchit", "exp")


@dataclass(frozen=True)
class Table:
    """One RegressionTable compiled.

    When every NumericPredictor is of the first power they are summed by :class:`LinearPart`;
    otherwise by ``add_rest`` (a power of a missing value may be a number: the missing mask is
    needed there).  ``add_rest`` adds the remaining terms to the linear part's column; the
    intercept comes last, as JPMML adds it.
    """

    category: Any
    #: NumericPredictors when all are of the first power: (field name, expression, coefficient).
    linear: tuple[tuple[str, Expr, float], ...]
    #: NumericPredictors otherwise.
    numeric: tuple[tuple[Expr, float, int], ...]
    #: Per categorical field (in document order): value -> coefficient of its first predictor.
    categorical: tuple[tuple[Expr, dict[Any, float]], ...]
    terms: tuple[tuple[tuple[Expr, ...], float], ...]
    intercept: float
    is_default: bool
    #: The fields JPMML reads, in its order, and whether a missing value stops the record there
    #: (NumericPredictors and PredictorTerms do; a missing categorical field is skipped).
    reads: tuple[tuple[str, bool], ...] = ()

    @property
    def has_rest(self) -> bool:
        return bool(self.numeric or self.categorical or self.terms)

    def add_rest(self, frame: Frame, acc: Array) -> Array:
        """``acc`` (the linear part's column, owned) plus the other terms; NaN where missing."""
        missing = np.zeros(frame.n, dtype=bool)
        for expr, coef, exponent in self.numeric:
            x = expr.fn(frame)
            missing |= np.isnan(x)
            acc += coef * (x if exponent == 1 else np.power(x, exponent))
        for expr, coefs in self.categorical:
            acc += lookup(expr.fn(frame), coefs)
        for exprs, coef in self.terms:
            prod = np.full(frame.n, coef)
            # JPMML multiplies the coefficient by the factors left to right.
            for e in exprs:
                x = e.fn(frame)
                missing |= np.isnan(x)
                prod = prod * x
            acc += prod
        if missing.any():
            acc[missing] = np.nan
        return acc


class LinearPart:
    """The first-power NumericPredictors of every table, each field read once for all tables.

    Each table sums ``coefficient * x`` in document order from 0, as JPMML adds them (a BLAS
    product would change the last bits).  A few records are summed with Python floats - the
    same IEEE operations, without numpy's cost per call; larger batches column by column in
    place.  A missing value makes the sum NaN, so the table's value is missing.
    """

    def __init__(self, tables: list[Table]) -> None:
        index: dict[str, int] = {}
        exprs: list[Expr] = []
        for t in tables:
            for name, expr, _ in t.linear:
                if name not in index:
                    index[name] = len(exprs)
                    exprs.append(expr)
        self.exprs = tuple(exprs)
        self.terms = tuple(tuple((index[name], coef) for name, _, coef in t.linear) for t in tables)
        self.intercepts = np.array([t.intercept for t in tables], dtype=np.float64)

    def __call__(self, frame: Frame) -> Array:
        """Rows x tables: each table's first-power predictors summed (intercepts apart)."""
        n = frame.n
        columns = [e.fn(frame) for e in self.exprs]
        if n <= _SCALAR_ROWS:
            cells = [c.tolist() for c in columns]
            sums: list[list[float]] = []
            for r in range(n):
                row: list[float] = []
                for terms in self.terms:
                    acc = 0.0
                    for i, coef in terms:
                        acc += coef * cells[i][r]
                    row.append(acc)
                sums.append(row)
            return np.array(sums, dtype=np.float64).reshape(n, len(self.terms))
        out = np.zeros((len(self.terms), n))
        tmp = np.empty(n)
        for j, terms in enumerate(self.terms):
            total = out[j]
            for i, coef in terms:
                np.multiply(columns[i], coef, out=tmp)
                total += tmp
        result: Array = out.T
        return result


#: Largest batch summed with Python floats.
_SCALAR_ROWS = 8


def _evaluate(tables: list[Table], linear: LinearPart, frame: Frame) -> Array:
    """Rows x tables: every table's value (NaN = missing)."""
    with frame.unclaimed():
        values = linear(frame)
        for j, t in enumerate(tables):
            if t.has_rest:
                values[:, j] = t.add_rest(frame, values[:, j].copy())
    if frame.errors.pending:
        order = ReadOrder(frame)
        for t in tables:
            for name, stops in t.reads:
                order.read((name,))
                if stops:
                    order.stop(is_missing(frame.peek(name)))
    # The intercept comes last, as JPMML adds it: the same rounding where terms nearly cancel.
    values += linear.intercepts
    return values


def _table(el: Element, env: ModelEnv, category: Any) -> Table | None:
    linear: list[tuple[str, Expr, float]] = []
    numeric = every(_numeric_predictor(p, env) for p in el.findall("NumericPredictor"))
    categorical = every(_categorical_predictor(p, env) for p in el.findall("CategoricalPredictor"))
    terms = every(_predictor_term(t, env) for t in el.findall("PredictorTerm"))
    intercept = attribute.number(el, "intercept", env.problems, 0.0)
    if numeric is None or categorical is None or terms is None or intercept is None:
        return None
    names = [p.get("name") or "" for p in el.findall("NumericPredictor")]
    if all(exponent == 1 for _, _, exponent in numeric):
        linear = [(name, e, coef) for name, (e, coef, _) in zip(names, numeric, strict=True)]
        numeric = []
    is_default = not linear and not numeric and not categorical and not terms and intercept == 0.0
    by_field: dict[str, tuple[Expr, dict[Any, float]]] = {}
    for p_el, (e, value, coef) in zip(el.findall("CategoricalPredictor"), categorical, strict=False):
        entry = by_field.setdefault(p_el.get("name") or "", (e, {}))
        entry[1].setdefault(value, coef)  # JPMML stops at a field's first matching predictor
    reads = [(name, True) for name in names]
    reads += [(p_el.get("name") or "", False) for p_el in el.findall("CategoricalPredictor")]
    reads += [(f.get("field") or "", True) for t in el.findall("PredictorTerm") for f in t.findall("FieldRef")]
    return Table(category, tuple(linear), tuple(numeric), tuple(by_field.values()), tuple(terms), intercept,
                 is_default, tuple(reads))


def _numeric_predictor(p: Element, env: ModelEnv) -> tuple[Expr, float, int] | None:
    e = env.compiler.ref(p.get("name") or "", p)
    coef = attribute.number(p, "coefficient", env.problems, required=True)
    exponent = attribute.integer(p, "exponent", env.problems, 1)
    if e is None or coef is None or exponent is None:
        return None
    if e.dtype.is_string:
        env.problems.invalid(f"NumericPredictor field {p.get('name')!r} is of dataType string", p)
        return None
    return e, coef, exponent


def _categorical_predictor(p: Element, env: ModelEnv) -> tuple[Expr, Any, float] | None:
    e = env.compiler.ref(p.get("name") or "", p)
    coef = attribute.number(p, "coefficient", env.problems, required=True)
    if e is None or coef is None:
        return None
    value = attribute.parsed(p, "value", partial(parse_scalar, e.dtype), env.problems, required=True)
    return None if value is None else (e, value, coef)


def _predictor_term(t: Element, env: ModelEnv) -> tuple[tuple[Expr, ...], float] | None:
    coef = attribute.number(t, "coefficient", env.problems, required=True)
    refs = [env.compiler.field_of(f) for f in t.findall("FieldRef")]
    if not refs:
        env.problems.invalid("PredictorTerm needs at least one FieldRef", t)
    if coef is None or not refs or any(r is None for r in refs):
        return None
    return tuple(r for r in refs if r is not None), coef


@register("RegressionModel")
def compile_regression(el: Element, env: ModelEnv) -> CompiledModel | None:
    method = attribute.choice(el, "normalizationMethod", _METHODS, env.problems, "none")
    if method is None:
        return None
    table_els = el.findall("RegressionTable")
    if not table_els:
        env.problems.invalid("a RegressionModel needs at least one RegressionTable", el)
        return None
    if env.function_name == "regression":
        return _regression(el, table_els, method, env)
    if not env.function_is("regression", "classification"):
        return None
    return _classification(el, table_els, method, env)


def _regression(el: Element, table_els: list[Element], method: str, env: ModelEnv) -> CompiledModel | None:
    if len(table_els) != 1:
        env.problems.invalid(f"a regression RegressionModel needs exactly one RegressionTable, got "
                             f"{len(table_els)}", el)
        return None
    if method == "simplemax":
        env.problems.invalid("normalizationMethod simplemax is only defined for classification", el)
        return None
    table = _table(table_els[0], env, None)
    if table is None:
        return None
    link: Callable[[Array], Array] | None = (
        INVERSE_LINKS["logit"] if method == "softmax" else np.exp if method == "exp" else INVERSE_LINKS.get(method))
    target = env.target
    dtype = target.dtype if target is not None and not target.dtype.is_string else DataType.DOUBLE
    single = [table]
    linear = LinearPart(single)

    def predict_regression(frame: Frame) -> Prediction:
        v = _evaluate(single, linear, frame)[:, 0]
        if link is not None:
            with np.errstate(over="ignore"):
                v = link(v)
        return Prediction(frame.n, dtype, v)

    return CompiledModel(predict_regression)


def _classification(el: Element, table_els: list[Element], method: str, env: ModelEnv) -> CompiledModel | None:
    target = env.target
    if target is None:
        env.problems.invalid("a classification RegressionModel needs a target field in its MiningSchema", el)
        return None
    if len(table_els) < 2:
        env.problems.invalid("a classification RegressionModel needs at least two RegressionTables", el)
        return None
    tables: list[Table] = []
    for t in table_els:
        cat = attribute.parsed(t, "targetCategory", partial(parse_scalar, target.dtype), env.problems, required=True)
        tab = None if cat is None else _table(t, env, cat)
        if tab is None:
            return None
        tables.append(tab)
    categories = tuple(t.category for t in tables)
    ordinal, k = target.optype == "ordinal", len(tables)
    refusal = ("normalizationMethod exp is only defined for regression" if method == "exp" else
               f"normalizationMethod {method} is not defined for an ordinal target"
               if method in ("simplemax", "softmax") and ordinal else
               f"normalizationMethod {method} with {k} categories is not defined"
               if method in ("probit", "cloglog", "loglog", "cauchit") and not ordinal and k > 2 else None)
    if refusal is not None:
        env.problems.invalid(refusal, el)
        return None
    # A binary softmax whose second table is the default one is a logistic regression.
    kind = "ordinal" if ordinal else "binomial" if k == 2 and method in _BINOMIAL else \
        "binary softmax" if method == "softmax" and k == 2 and tables[1].is_default else "multinomial"
    dtype = target.dtype
    linear = LinearPart(tables)

    def predict_classification(frame: Frame) -> Prediction:
        values = _evaluate(tables, linear, frame)
        with np.errstate(all="ignore"):
            probs = _probabilities(values, method, kind)
        bad = np.isnan(values).any(axis=1)
        if bad.any():
            probs[bad] = np.nan
        return classification(frame.n, dtype, categories, probs)

    return CompiledModel(predict_classification, categories)


#: The methods that make a binomial model of two categories.
_BINOMIAL = ("none", "logit", "probit", "cloglog", "loglog", "cauchit")


def _probabilities(values: Array, method: str, kind: str) -> Array:
    """The class probabilities from the tables' values, by the ``kind`` of model (ordinal,
    binomial, binary softmax or multinomial) and its ``method``."""
    if kind == "ordinal":
        return _ordinal(values, method)
    if kind in ("binomial", "binary softmax"):
        return _binomial(values, method if kind == "binomial" else "logit")
    if method == "softmax":
        return softmax_rows(values)
    if method == "simplemax":
        return simplemax_rows(values)
    # none, or a multinomial logit (JPMML's non-standard case): the last gets what the others leave.
    probs = values.copy()
    probs[:, -1] = 1.0 - values[:, :-1].sum(axis=1)
    return probs


def _binomial(values: Array, method: str) -> Array:
    first = values[:, 0]
    first = np.clip(first, 0.0, 1.0) if method == "none" else INVERSE_LINKS[method](first)
    out = np.empty((len(first), 2))
    out[:, 0] = first
    out[:, 1] = 1.0 - first
    return out


def _ordinal(values: Array, method: str) -> Array:
    probs = np.empty_like(values)
    link = INVERSE_LINKS.get(method)
    cum = np.zeros(values.shape[0])
    for j in range(values.shape[1] - 1):
        v = values[:, j] if link is None else link(values[:, j])
        probs[:, j] = v - cum if j else v
        cum = v if j == 0 else cum + probs[:, j]
    probs[:, -1] = 1.0 - cum
    return probs
