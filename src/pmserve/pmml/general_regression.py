"""GeneralRegressionModel: linear, generalised linear, logistic, ordinal and Cox models (PMML 4.4
"GeneralRegression").

The PPMatrix says how each parameter's predictor value comes from the inputs: the product of its
cells, where a factor cell is 1 when the field equals the cell's value (or, for a factor with a
contrast Matrix, the matrix element at the field's and the cell's categories) and a covariate
cell is the field raised to the cell's value.  A parameter without PPMatrix cells is a constant
1 (an intercept).  The ParamMatrix gives each parameter's beta per target category.

Compiling builds one design matrix plan (rows x parameters) and a beta matrix (parameters x
categories); scoring evaluates the design matrix once per batch and accumulates the products in
the ParamMatrix order, as JPMML-Evaluator sums them.  Missing values, category order, the
reference category and the Cox regression lookup follow JPMML-Evaluator:

* a missing factor, or a missing covariate of a term whose factors match, makes the linear
  predictor missing (the Targets' default value / prior probabilities then apply);
* the classes are the target's DataField values, the reference category moved to the end;
* offsetVariable, trialsVariable, endTimeVariable and baselineStrataVariable must have a value:
  a record where one is missing fails.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np
import numpy.typing as npt

from pmserve.pmml import _attributes as attribute
from pmserve.pmml._expressions import equal_to
from pmserve.pmml._frame import Expr, Frame, ReadOrder
from pmserve.pmml._math import INVERSE_LINKS, exp_normalized_rows
from pmserve.pmml._parse import Element
from pmserve.pmml._prediction import Prediction, classification
from pmserve.pmml._types import Array, DataType, is_missing, parse_scalar
from pmserve.pmml.compiler import ModelEnv, Predictor, register

_MODEL_TYPES = ("regression", "generalLinear", "multinomialLogistic", "generalizedLinear",
                "ordinalMultinomial", "CoxRegression")
_REGRESSION_TYPES = ("regression", "generalLinear", "generalizedLinear", "CoxRegression")
_CLASSIFICATION_TYPES = ("generalizedLinear", "multinomialLogistic", "ordinalMultinomial")
_CUMULATIVE_LINKS = ("logit", "probit", "cloglog", "loglog", "cauchit")

Link = Callable[[Array], Array]


# -- link functions (PMML 4.4 GeneralRegression "linkFunction": the inverse is applied) -----------


def _inverse_link(name: str, dist: float | None, power: float | None) -> Link:
    """The inverse of link ``name``, mapping the linear predictor to the mean."""
    if name == "identity":
        return lambda x: x
    if name == "log":
        return np.exp
    if name == "logc":
        return lambda x: 1.0 - np.exp(x)
    if name == "negbin":
        d = 0.0 if dist is None else dist
        return lambda x: 1.0 / (d * (np.exp(-x) - 1.0))
    if name == "oddspower":
        p = 0.0 if power is None else power
        if p == 0.0:
            return INVERSE_LINKS["logit"]
        return lambda x: 1.0 / (1.0 + np.power(1.0 + p * x, -1.0 / p))
    if name == "power":
        p = 0.0 if power is None else power
        if p == 0.0:
            return np.exp
        return lambda x: np.power(x, 1.0 / p)
    return INVERSE_LINKS[name]


_LINK_NAMES = ("cloglog", "identity", "log", "logc", "logit", "loglog", "negbin", "oddspower", "power",
               "probit", "cauchit")


# -- the PPMatrix: terms -----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Contrast:
    """A factor's contrast matrix column for one PPCell: coefficient by the field's category."""

    categories: tuple[Any, ...]
    column: Array


@dataclass(frozen=True)
class _FactorCell:
    field: str
    expr: Expr
    value: Any
    contrast: _Contrast | None
    line: int


@dataclass(frozen=True)
class _CovariateCell:
    field: str
    expr: Expr
    exponent: float | None


@dataclass(frozen=True)
class _Term:
    """One parameter's PPMatrix row: the product of its factor cells, then its covariate cells."""

    factors: tuple[_FactorCell, ...]
    covariates: tuple[_CovariateCell, ...]

    def __call__(self, frame: Frame) -> Array:
        n = frame.n
        prod = np.ones(n)
        missing = np.zeros(n, dtype=bool)
        for f in self.factors:
            x = f.expr.fn(frame)
            miss = is_missing(x)
            if f.contrast is None:
                prod = prod * np.where(equal_to(x, f.value), 1.0, 0.0)
            else:
                idx = np.full(n, -1, dtype=np.intp)
                for j, cat in enumerate(f.contrast.categories):
                    idx[(idx < 0) & equal_to(x, cat)] = j
                unknown = (idx < 0) & ~miss & ~missing
                if unknown.any():
                    frame.fail_message(
                        unknown, f"field {f.field!r} has a value that is not one of the Categories of its "
                        f"contrast Matrix (PPCell at line {f.line}); expected one of "
                        f"{', '.join(repr(c) for c in f.contrast.categories)}", field=f.field)
                prod = prod * np.where(idx >= 0, f.contrast.column[np.maximum(idx, 0)], np.nan)
            missing |= miss
        # JPMML skips the covariates of a term whose factors do not match: their values do not matter.
        zero = (prod == 0.0) & ~missing
        for cv in self.covariates:
            x = cv.expr.fn(frame)
            with np.errstate(all="ignore"):
                prod = prod * (x if cv.exponent is None else np.power(x, cv.exponent))
        prod[zero] = 0.0
        prod[missing] = np.nan
        return prod

    def replay(self, frame: Frame, order: ReadOrder) -> None:
        """Claim this term's fields as JPMML reads them: each factor, stopping at a missing one;
        the covariates only where every factor matched, stopping at a missing one."""
        with frame.unclaimed():
            xs = [f.expr.fn(frame) for f in self.factors]
            cvs = [cv.expr.fn(frame) for cv in self.covariates]
        matched = np.ones(frame.n, dtype=bool)
        for f, x in zip(self.factors, xs, strict=True):
            order.read((f.field,))
            miss = is_missing(x)
            order.stop(miss)
            if f.contrast is None:
                matched &= equal_to(x, f.value) | miss
            else:
                hit = np.zeros(frame.n, dtype=bool)
                for j, cat in enumerate(f.contrast.categories):
                    hit |= equal_to(x, cat) & (f.contrast.column[j] != 0.0)
                matched &= hit | miss
        for cv, x in zip(self.covariates, cvs, strict=True):
            order.read((cv.field,), matched)
            order.stop(is_missing(x) & matched)


@dataclass(frozen=True)
class _Linear:
    """Linear predictors of several categories: the design matrix times the beta matrix."""

    terms: tuple[_Term | None, ...]  # None: a parameter without PPMatrix cells (constant 1)
    beta: Array  # terms x categories
    used: npt.NDArray[np.bool_]  # terms x categories
    #: Per category in order, the terms of its ParamMatrix cells in order: how JPMML reads a record
    #: (and stops at its first missing value).
    reads: tuple[tuple[int, ...], ...] = ()

    def __call__(self, frame: Frame, reading: npt.NDArray[np.bool_] | None = None) -> Array:
        """Rows x categories; ``reading``: the records whose evaluation reads the terms (None: all)."""
        n = frame.n
        k = self.beta.shape[1]
        design = np.ones((n, len(self.terms)))
        with frame.unclaimed():
            for t, term in enumerate(self.terms):
                if term is not None:
                    design[:, t] = term(frame)
        if frame.errors.pending:
            order = ReadOrder(frame, reading)
            for sequence in self.reads:
                for t in sequence:
                    term = self.terms[t]
                    if term is not None:
                        term.replay(frame, order)
        acc = np.zeros((n, k))
        # Summed term by term in ParamMatrix order, as JPMML-Evaluator does; a missing design value
        # makes the linear predictor of every category using it missing (NaN propagates).
        with np.errstate(all="ignore"):
            for t in range(len(self.terms)):
                cols = self.used[t]
                if cols.all():
                    acc += design[:, t, None] * self.beta[t]
                else:
                    acc[:, cols] += design[:, t, None] * self.beta[t, cols]
        return acc


# -- parsing -------------------------------------------------------------------------------------------


def _matrix(el: Element, env: ModelEnv) -> Array | None:
    """A PMML Matrix as a dense array (NaN where an element is not defined)."""
    kind = attribute.choice(el, "kind", ("diagonal", "symmetric", "any"), env.problems, "any")
    if kind is None:
        return None
    arrays = el.findall("Array")
    cells = el.findall("MatCell")
    rows: list[list[float]] = []
    try:
        for a in arrays:
            rows.append([float(t) for t in a.text.split()])
    except ValueError:
        env.problems.invalid("Matrix Array elements must hold numbers", el)
        return None
    nb_rows = attribute.integer(el, "nbRows", env.problems, 0, minimum=0, maximum=_MAX_DIMENSION)
    nb_cols = attribute.integer(el, "nbCols", env.problems, 0, minimum=0, maximum=_MAX_DIMENSION)
    if nb_rows is None or nb_cols is None:
        return None
    diag_default = attribute.number(el, "diagDefault", env.problems)
    off_default = attribute.number(el, "offDiagDefault", env.problems)
    if kind == "diagonal":
        size = len(rows[0]) if rows else nb_rows
        nr = nc = size
    elif kind == "symmetric":
        nr = nc = len(rows) if rows else nb_rows
    else:
        nr = len(rows) if rows else nb_rows
        nc = max((len(r) for r in rows), default=nb_cols)
    if cells:
        places = [(attribute.integer(c, "row", env.problems, required=True, minimum=1, maximum=_MAX_DIMENSION),
                   attribute.integer(c, "col", env.problems, required=True, minimum=1, maximum=_MAX_DIMENSION))
                  for c in cells]
        try:
            values = [float(c.text) for c in cells]
        except ValueError:
            env.problems.invalid("a MatCell must hold a number", el)
            return None
        coords = [(r, c, v) for (r, c), v in zip(places, values, strict=True) if r is not None and c is not None]
        if len(coords) < len(cells):
            return None
        nr = max([nr, nb_rows, *(r for r, _, _ in coords)])
        nc = max([nc, nb_cols, *(c for _, c, _ in coords)])
    if kind != "any":
        nr = nc = max(nr, nc)
    if nr > _MAX_DIMENSION or nc > _MAX_DIMENSION:
        env.problems.invalid(f"a contrast Matrix may have at most {_MAX_DIMENSION} rows and columns, got "
                             f"{nr} x {nc}", el)
        return None
    m = np.full((nr, nc), np.nan)
    if diag_default is not None:
        np.fill_diagonal(m, diag_default)
    if off_default is not None:
        off = ~np.eye(nr, nc, dtype=bool)
        m[off] = off_default
    if kind == "diagonal" and rows:
        np.fill_diagonal(m, rows[0])
    elif kind == "symmetric" and rows:
        for i, values in enumerate(rows):
            for j, v in enumerate(values[: i + 1]):
                m[i, j] = m[j, i] = v
    else:
        for i, values in enumerate(rows):
            m[i, : len(values)] = values
    if cells:
        for r, c, v in coords:
            m[r - 1, c - 1] = v
            if kind == "symmetric":
                m[c - 1, r - 1] = v
    return m


#: Largest contrast Matrix dimension accepted (a factor has one row per category).
_MAX_DIMENSION = 2_000


@dataclass(frozen=True)
class _Predictor:
    field: str
    expr: Expr
    categories: tuple[Any, ...] | None  # a factor's contrast Categories
    matrix: Array | None


def _predictors(el: Element | None, env: ModelEnv, factor: bool) -> tuple[dict[str, _Predictor], bool]:
    """The FactorList or CovariateList by field name, and whether all of it compiled.

    A predictor with a bad contrast Matrix stays in the map (as a plain factor) so that its PPCells
    do not add follow-on problems to the one already reported.
    """
    out: dict[str, _Predictor] = {}
    if el is None:
        return out, True
    ok = True
    for p in el.findall("Predictor"):
        name = attribute.text(p, "name", env.problems, required=True, empty=False)
        if name is None:
            ok = False
            continue
        expr = env.compiler.ref(name, p)
        if expr is None:
            ok = False
            continue
        if not factor and expr.dtype.is_string:
            env.problems.invalid(f"covariate {name!r} must be numeric, got dataType string", p)
            ok = False
            continue
        cats: tuple[Any, ...] | None = None
        matrix: Array | None = None
        m_el = p.find("Matrix")
        if m_el is not None:
            c_el = p.find("Categories")
            if c_el is None:
                env.problems.unsupported(
                    f"a contrast Matrix needs Categories to say which row is which category (predictor "
                    f"{name!r})", p)
                ok = False
                out[name] = _Predictor(name, expr, None, None)
                continue
            try:
                cats = tuple(parse_scalar(expr.dtype, c.get("value") or "") for c in c_el.findall("Category"))
            except ValueError as exc:
                env.problems.invalid(f"Category value of predictor {name!r}: {exc}", c_el)
                ok = False
                out[name] = _Predictor(name, expr, None, None)
                continue
            matrix = _matrix(m_el, env)
            if matrix is None:
                ok = False
                out[name] = _Predictor(name, expr, None, None)
                continue
            if matrix.shape[0] < len(cats):
                env.problems.invalid(f"the contrast Matrix of predictor {name!r} has {matrix.shape[0]} rows, "
                                     f"expected one per Category ({len(cats)})", m_el)
                ok = False
                out[name] = _Predictor(name, expr, None, None)
                continue
        out[name] = _Predictor(name, expr, cats, matrix)
    return out, ok


def _term(cells: list[Element], factors: dict[str, _Predictor], covariates: dict[str, _Predictor],
          env: ModelEnv) -> _Term | None:
    fs: list[_FactorCell] = []
    cs: list[_CovariateCell] = []
    ok = True
    for cell in cells:
        name = cell.get("predictorName") or ""
        value = attribute.text(cell, "value", env.problems, required=True)
        if value is None:
            ok = False
            continue
        fac = factors.get(name)
        if fac is not None:
            try:
                v = parse_scalar(fac.expr.dtype, value)
            except ValueError as exc:
                env.problems.invalid(f"PPCell value of factor {name!r}: {exc}", cell)
                ok = False
                continue
            contrast = None
            if fac.categories is not None and fac.matrix is not None:
                if v not in fac.categories:
                    env.problems.invalid(
                        f"PPCell value {value!r} of factor {name!r} is not one of its Categories "
                        f"({', '.join(repr(c) for c in fac.categories)})", cell)
                    ok = False
                    continue
                col = fac.categories.index(v)
                if col >= fac.matrix.shape[1] or np.isnan(fac.matrix[: len(fac.categories), col]).any():
                    env.problems.invalid(
                        f"the contrast Matrix of factor {name!r} has no complete column {col + 1} for "
                        f"category {value!r}", cell)
                    ok = False
                    continue
                contrast = _Contrast(fac.categories, fac.matrix[: len(fac.categories), col].copy())
            fs.append(_FactorCell(name, fac.expr, v, contrast, cell.line))
            continue
        cov = covariates.get(name)
        if cov is not None:
            try:
                exponent = float(value)
            except ValueError:
                env.problems.invalid(f"PPCell value of covariate {name!r} is its exponent and must be a "
                                     f"number, got {value!r}", cell)
                ok = False
                continue
            cs.append(_CovariateCell(name, cov.expr, None if exponent == 1.0 else exponent))
            continue
        env.problems.invalid(f"PPCell predictorName {name!r} is in neither the FactorList nor the "
                             f"CovariateList", cell)
        ok = False
    return _Term(tuple(fs), tuple(cs)) if ok else None


@dataclass(frozen=True)
class _Cell:
    parameter: str
    beta: float


class _Matrices:
    """The PPMatrix and ParamMatrix grouped by target category (None: no targetCategory)."""

    def __init__(self, el: Element, env: ModelEnv, target_dtype: DataType | None) -> None:
        self.env = env
        factors, factors_ok = _predictors(el.find("FactorList"), env, True)
        covariates, covariates_ok = _predictors(el.find("CovariateList"), env, False)
        self.ok = factors_ok and covariates_ok
        self.parameters: dict[str, float] = {}
        pl = el.find("ParameterList")
        if pl is None:
            env.problems.invalid("a GeneralRegressionModel needs a ParameterList", el)
            self.ok = False
        else:
            for p in pl.findall("Parameter"):
                name = attribute.text(p, "name", env.problems, required=True, empty=False)
                if name is None:
                    self.ok = False
                    continue
                ref = attribute.number(p, "referencePoint", env.problems)
                self.parameters[name] = 0.0 if ref is None else ref
        # PPMatrix: target category -> parameter -> term
        self.pp: dict[Any, dict[str, _Term]] = {}
        ppm = el.find("PPMatrix")
        if ppm is None:
            env.problems.invalid("a GeneralRegressionModel needs a PPMatrix", el)
            self.ok = False
            ppm_cells: list[Element] = []
        else:
            ppm_cells = ppm.findall("PPCell")
        grouped: dict[Any, dict[str, list[Element]]] = {}
        for cell in ppm_cells:
            param = attribute.text(cell, "parameterName", env.problems, required=True, empty=False)
            if param is None:
                self.ok = False
                continue
            key = self._category(cell, target_dtype)
            grouped.setdefault(key, {}).setdefault(param, []).append(cell)
        for key, by_param in grouped.items():
            terms: dict[str, _Term] = {}
            for param, cells in by_param.items():
                term = _term(cells, factors, covariates, env)
                if term is None:
                    self.ok = False
                else:
                    terms[param] = term
            self.pp[key] = terms
        # ParamMatrix: target category -> cells in document order
        self.params: dict[Any, list[_Cell]] = {}
        pm = el.find("ParamMatrix")
        if pm is None:
            env.problems.invalid("a GeneralRegressionModel needs a ParamMatrix", el)
            self.ok = False
        else:
            for cell in pm.findall("PCell"):
                param = attribute.text(cell, "parameterName", env.problems, required=True, empty=False)
                beta = attribute.number(cell, "beta", env.problems, required=True)
                if param is None or beta is None:
                    self.ok = False
                    continue
                key = self._category(cell, target_dtype)
                self.params.setdefault(key, []).append(_Cell(param, beta))

    def _category(self, cell: Element, dtype: DataType | None) -> Any:
        text = cell.get("targetCategory")
        if text is None:
            return None
        if dtype is None:
            return text
        try:
            return parse_scalar(dtype, text)
        except ValueError as exc:
            self.env.problems.invalid(f"targetCategory: {exc}", cell)
            self.ok = False
            return None

    def rows_for(self, category: Any) -> dict[str, _Term] | None:
        """The PPMatrix rows used for a category: its own, else the common ones."""
        if not self.pp:
            return {}
        got = self.pp.get(category)
        return got if got is not None else self.pp.get(None)

    def linear(self, columns: list[tuple[list[_Cell], dict[str, _Term]]]) -> _Linear:
        """The plan computing one linear predictor per (cells, PPMatrix rows) column."""
        index: dict[tuple[int, str] | None, int] = {}
        terms: list[_Term | None] = []
        entries: list[tuple[int, int, float]] = []
        reads: list[tuple[int, ...]] = []
        for k, (cells, rows) in enumerate(columns):
            sequence: list[int] = []
            for c in cells:
                term = rows.get(c.parameter)
                key = None if term is None else (id(term), c.parameter)
                t = index.get(key)
                if t is None:
                    t = index[key] = len(terms)
                    terms.append(term)
                entries.append((t, k, c.beta))
                sequence.append(t)
            reads.append(tuple(sequence))
        beta = np.zeros((len(terms), len(columns)))
        used = np.zeros((len(terms), len(columns)), dtype=bool)
        for t, k, b in entries:
            beta[t, k] += b
            used[t, k] = True
        return _Linear(tuple(terms), beta, used, tuple(reads))


# -- per-record variables ----------------------------------------------------------------------------


def _variable(el: Element, attr: str, env: ModelEnv) -> Expr | None:
    name = el.get(attr)
    if name is None:
        return None
    expr = env.compiler.ref(name, el)
    if expr is not None and expr.dtype.is_string and attr != "baselineStrataVariable":
        env.problems.invalid(f"{attr} {name!r} must be a numeric field, got dataType string", el)
        return None
    return expr


def _required_value(expr: Expr, name: str, role: str, frame: Frame, rows: npt.NDArray[np.bool_]) -> Array:
    """The values of a variable the model cannot do without; records where it is missing fail."""
    x = expr.fn(frame)
    miss = is_missing(x) & rows
    if miss.any():
        frame.fail_message(miss, f"{role} field {name!r} has a missing value; the model needs one", field=name)
    return x


@dataclass(frozen=True)
class _Adjust:
    """offset (added before the link) and trials (multiplied after it) of a generalised model."""

    offset_expr: Expr | None
    offset_name: str
    offset_value: float | None
    trials_expr: Expr | None
    trials_name: str
    trials_value: float | None

    def offset(self, frame: Frame, rows: npt.NDArray[np.bool_]) -> Array | float | None:
        if self.offset_expr is not None:
            return _required_value(self.offset_expr, self.offset_name, "offsetVariable", frame, rows)
        return self.offset_value

    def trials(self, frame: Frame, rows: npt.NDArray[np.bool_]) -> Array | float | None:
        if self.trials_expr is not None:
            x = _required_value(self.trials_expr, self.trials_name, "trialsVariable", frame, rows)
            frac = rows & ~np.isnan(x) & (x != np.floor(x))
            if frac.any():
                frame.fail_message(frac, f"trialsVariable field {self.trials_name!r} must hold a whole number "
                                         f"of trials", field=self.trials_name)
                x = np.where(frac, np.nan, x)
            return x
        return self.trials_value


def _adjust(el: Element, env: ModelEnv) -> _Adjust | None:
    ok = True
    offset_expr = _variable(el, "offsetVariable", env)
    trials_expr = _variable(el, "trialsVariable", env)
    if el.get("offsetVariable") is not None and offset_expr is None:
        ok = False
    if el.get("trialsVariable") is not None and trials_expr is None:
        ok = False
    offset_value = attribute.number(el, "offsetValue", env.problems)
    trials_value = attribute.number(el, "trialsValue", env.problems)
    if trials_value is not None and not trials_value.is_integer():
        env.problems.invalid(f"trialsValue must be a whole number, got {el.get('trialsValue')!r}", el)
        ok = False
    if not ok:
        return None
    return _Adjust(offset_expr, el.get("offsetVariable") or "", offset_value, trials_expr,
                   el.get("trialsVariable") or "", trials_value)


def _link(el: Element, env: ModelEnv) -> Link | None:
    name = attribute.choice(el, "linkFunction", _LINK_NAMES, env.problems, required=True)
    if name is None:
        return None
    dist = attribute.number(el, "distParameter", env.problems, required=name == "negbin")
    power = attribute.number(el, "linkParameter", env.problems, required=name in ("oddspower", "power"))
    if (name == "negbin" and dist is None) or (name in ("oddspower", "power") and power is None):
        return None
    return _inverse_link(name, dist, power)


# -- the compiler --------------------------------------------------------------------------------------


@register("GeneralRegressionModel")
def compile_general_regression(el: Element, env: ModelEnv) -> Predictor | None:
    model_type = attribute.choice(el, "modelType", _MODEL_TYPES, env.problems, required=True)
    if model_type is None:
        return None
    fn = env.function_name
    allowed = _REGRESSION_TYPES if fn == "regression" else _CLASSIFICATION_TYPES if fn == "classification" else ()
    if model_type not in allowed:
        env.problems.invalid(f"modelType {model_type} does not fit functionName {fn!r}; expected "
                             f"{' or '.join(allowed) or 'functionName regression or classification'}", el)
        return None
    target = env.target
    if fn == "classification":
        return _classifier(el, env, model_type)
    matrices = _Matrices(el, env, None)
    if not matrices.ok:
        return None
    cells = matrices.params.get(None)
    if cells is None or len(matrices.params) != 1:
        env.problems.invalid("a regression GeneralRegressionModel needs PCells without targetCategory, and "
                             "only those", el.find("ParamMatrix") or el)
        return None
    rows = matrices.rows_for(None)
    if rows is None:
        env.problems.invalid("the PPMatrix of a regression model needs PPCells without targetCategory",
                             el.find("PPMatrix") or el)
        return None
    linear = matrices.linear([(cells, rows)])
    dtype = target.dtype if target is not None and not target.dtype.is_string else DataType.DOUBLE
    if model_type == "CoxRegression":
        return _cox(el, env, matrices, cells, linear, dtype)
    link = _link(el, env) if model_type == "generalizedLinear" else None
    adjust = _adjust(el, env) if model_type == "generalizedLinear" else None
    if model_type == "generalizedLinear" and (link is None or adjust is None):
        return None

    def predict_regression(frame: Frame) -> Prediction:
        v = linear(frame)[:, 0]
        if link is not None and adjust is not None:
            v = _generalized(v, link, adjust, frame)
        return Prediction(frame.n, dtype, v)

    return predict_regression


def _generalized(v: Array, link: Link, adjust: _Adjust, frame: Frame) -> Array:
    has = ~np.isnan(v)
    offset = adjust.offset(frame, has)
    with np.errstate(all="ignore"):
        if offset is not None:
            v = v + offset
        v = link(v)
        trials = adjust.trials(frame, has)
        if trials is not None:
            v = v * trials
    out: Array = v
    return out


def _classifier(el: Element, env: ModelEnv, model_type: str) -> Predictor | None:
    target = env.target
    if target is None:
        env.problems.invalid("a classification GeneralRegressionModel needs a target field in its "
                             "MiningSchema", el)
        return None
    if target.optype not in ("categorical", "ordinal"):
        env.problems.invalid(f"the target field {target.name!r} of a classification model must be categorical "
                             f"or ordinal, got {target.optype}", el)
        return None
    cats = list(target.valid)
    if len(cats) < 2:
        env.problems.invalid(f"the target field {target.name!r} needs at least two valid Values (the classes), "
                             f"got {len(cats)}", el)
        return None
    matrices = _Matrices(el, env, target.dtype)
    if not matrices.ok:
        return None
    pm_el = el.find("ParamMatrix") or el
    reference: Any = attribute.parsed(el, "targetReferenceCategory", partial(parse_scalar, target.dtype),
                                      env.problems)
    if el.get("targetReferenceCategory") is not None:
        if reference is None:
            return None
    elif model_type != "ordinalMultinomial":
        # PMML: "the reference category is the one from DataDictionary that does not appear in the
        # ParamMatrix".
        absent = [c for c in cats if c not in matrices.params]
        if len(absent) != 1:
            env.problems.invalid(
                f"cannot tell the reference category: expected exactly one class of {target.name!r} without "
                f"PCells, got {len(absent)} ({', '.join(repr(c) for c in absent)}); set targetReferenceCategory",
                pm_el)
            return None
        reference = absent[0]
    if reference is not None and reference in cats:
        cats.remove(reference)
        cats.append(reference)
    columns: list[tuple[list[_Cell], dict[str, _Term]]] = []
    for cat in cats[:-1]:
        rows = matrices.rows_for(cat)
        if rows is None:
            env.problems.invalid(f"the PPMatrix has no PPCells for class {cat!r} and none without "
                                 f"targetCategory", el.find("PPMatrix") or el)
            return None
        if model_type == "ordinalMultinomial":
            intercept = matrices.params.get(cat)
            common = matrices.params.get(None)
            if intercept is None or len(intercept) != 1 or common is None:
                env.problems.invalid(
                    f"an ordinalMultinomial ParamMatrix needs exactly one PCell (the intercept) for class "
                    f"{cat!r} and PCells without targetCategory for the other parameters", pm_el)
                return None
            # JPMML-Evaluator adds the intercept after the common parameters.
            cells = common + intercept
        else:
            got = matrices.params.get(cat)
            if got is None and len(cats) == 2:
                got = matrices.params.get(None)
            if got is None:
                env.problems.invalid(f"the ParamMatrix has no PCells for class {cat!r}", pm_el)
                return None
            cells = got
        columns.append((cells, rows))
    linear = matrices.linear(columns)
    categories = tuple(cats)
    env.categories = categories
    dtype = target.dtype
    k = len(categories)
    if model_type == "multinomialLogistic":

        def predict_multinomial(frame: Frame) -> Prediction:
            lin = linear(frame)
            # The last category's linear predictor is 0 by convention.
            probs = exp_normalized_rows(np.concatenate([lin, np.zeros((frame.n, 1))], axis=1))
            probs[np.isnan(lin).any(axis=1)] = np.nan
            return classification(frame.n, dtype, categories, probs)

        return predict_multinomial
    adjust = _adjust(el, env)
    if adjust is None:
        return None
    if model_type == "generalizedLinear":
        link = _link(el, env)
        if link is None:
            return None

        def predict_generalized(frame: Frame) -> Prediction:
            lin = linear(frame)
            miss = np.asarray(np.isnan(lin).any(axis=1), dtype=bool)
            probs = np.empty((frame.n, k))
            for j in range(k - 1):
                probs[:, j] = _generalized(lin[:, j], link, adjust, frame)
            # JPMML-Evaluator: the last class gets one minus the probability of the one before it.
            probs[:, k - 1] = 1.0 - probs[:, k - 2]
            probs[miss] = np.nan
            return classification(frame.n, dtype, categories, probs)

        return predict_generalized
    cumulative = attribute.choice(el, "cumulativeLink", _CUMULATIVE_LINKS, env.problems, required=True)
    if cumulative is None:
        return None
    inverse = INVERSE_LINKS[cumulative]

    def predict_ordinal(frame: Frame) -> Prediction:
        lin = linear(frame)
        miss = np.asarray(np.isnan(lin).any(axis=1), dtype=bool)
        offset = adjust.offset(frame, ~miss)
        with np.errstate(all="ignore"):
            cum = inverse(lin + offset if offset is not None else lin)
            probs = np.empty((frame.n, k))
            probs[:, 0] = cum[:, 0]
            probs[:, 1 : k - 1] = cum[:, 1:] - cum[:, :-1]
            probs[:, k - 1] = 1.0 - cum[:, -1]
        probs[miss] = np.nan
        return classification(frame.n, dtype, categories, probs)

    return predict_ordinal


# -- Cox regression ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Baseline:
    """One baseline cumulative hazard table: distinct times ascending, first cell of a time wins."""

    times: Array
    hazards: Array
    max_time: float


def _baseline(el: Element, env: ModelEnv) -> _Baseline | None:
    max_time = attribute.number(el, "maxTime", env.problems, required=True)
    cells = el.findall("BaselineCell")
    if not cells:
        env.problems.invalid(f"{el.tag} needs at least one BaselineCell", el)
        return None
    times: list[float] = []
    hazards: list[float] = []
    for c in cells:
        t = attribute.number(c, "time", env.problems, required=True)
        h = attribute.number(c, "cumHazard", env.problems, required=True)
        if t is None or h is None:
            return None
        times.append(t)
        hazards.append(h)
    if max_time is None:
        return None
    # Stable sort, then keep the first cell of equal times (JPMML picks the first maximum).
    order = np.argsort(np.asarray(times), kind="stable")
    sorted_times = np.asarray(times)[order]
    uniq, first = np.unique(sorted_times, return_index=True)
    return _Baseline(uniq, np.asarray(hazards)[order][first], max_time)


def _cox(el: Element, env: ModelEnv, matrices: _Matrices, cells: list[_Cell], linear: _Linear,
         dtype: DataType) -> Predictor | None:
    end_name = el.get("endTimeVariable")
    if end_name is None:
        env.problems.invalid("a CoxRegression model needs attribute endTimeVariable", el)
        return None
    end_expr = _variable(el, "endTimeVariable", env)
    tables = el.find("BaseCumHazardTables")
    if tables is None:
        env.problems.invalid("a CoxRegression model needs BaseCumHazardTables", el)
        return None
    if end_expr is None:
        return None
    strata_name = el.get("baselineStrataVariable")
    strata_expr = _variable(el, "baselineStrataVariable", env) if strata_name is not None else None
    strata: list[tuple[Any, _Baseline]] = []
    if strata_name is not None:
        if strata_expr is None:
            return None
        for s in tables.findall("BaselineStratum"):
            value = attribute.parsed(s, "value", partial(parse_scalar, strata_expr.dtype), env.problems,
                                     required=True)
            if value is None:
                return None
            b = _baseline(s, env)
            if b is None:
                return None
            strata.append((value, b))
    else:
        single = _baseline(tables, env)
        if single is None:
            return None
        strata.append((None, single))
    # The reference point sum(beta * referencePoint); a PCell of an undeclared Parameter leaves it
    # undefined and every prediction missing, as in JPMML-Evaluator.
    reference: float | None = 0.0
    for c in cells:
        point = matrices.parameters.get(c.parameter)
        if point is None:
            reference = None
            break
        reference = (reference or 0.0) + c.beta * point
    end_field = end_name

    def predict_cox(frame: Frame) -> Prediction:
        n = frame.n
        out = np.full(n, np.nan)
        base = np.full(n, np.nan)
        active = np.ones(n, dtype=bool)
        if strata_expr is not None and strata_name is not None:
            s = _required_value(strata_expr, strata_name, "baselineStrataVariable", frame, active)
            active = ~is_missing(s)
            tables_of: list[tuple[npt.NDArray[np.bool_], _Baseline]] = []
            seen = np.zeros(n, dtype=bool)
            for value, b in strata:
                m = active & ~seen & equal_to(s, value)
                seen |= m
                tables_of.append((m, b))
            active = seen  # a record of no stratum has a missing prediction
        else:
            tables_of = [(active, strata[0][1])]
        t = _required_value(end_expr, end_field, "endTimeVariable", frame, active)
        zero = np.zeros(n, dtype=bool)
        found = np.zeros(n, dtype=bool)  # JPMML computes the linear predictor for these only
        for m, b in tables_of:
            with np.errstate(invalid="ignore"):
                rows = m & ~np.isnan(t) & (t <= b.max_time)
                early = rows & (t < b.times[0])
            zero |= early
            rows &= ~early
            idx = np.searchsorted(b.times, t[rows], side="right") - 1
            base[rows] = b.hazards[idx]
            found |= rows
        if reference is not None:
            r = linear(frame, found)[:, 0]
            with np.errstate(all="ignore"):
                out = np.exp(r - reference) * base
        out[zero] = 0.0
        return Prediction(n, dtype, out)

    return predict_cox


__all__ = ["compile_general_regression"]
