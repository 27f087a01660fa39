"""The design of a GeneralRegressionModel: the PPMatrix terms (factor and covariate cells, contrast
matrices), the ParamMatrix betas, and the design-matrix plan that evaluates them over a batch."""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np
import numpy.typing as npt

from pmserve.pmml.compiler import ModelEnv
from pmserve.pmml.document import attributes as attribute
from pmserve.pmml.document.element import Element
from pmserve.pmml.document.problems import every
from pmserve.pmml.expressions.casting import equal_to
from pmserve.pmml.fields.frame import Expr, Frame, ReadOrder
from pmserve.pmml.fields.types import Array, DataType, is_missing, parse_scalar

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
class Term:
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
class Linear:
    """Linear predictors of several categories: the design matrix times the beta matrix."""

    terms: tuple[Term | None, ...]  # None: a parameter without PPMatrix cells (constant 1)
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
    try:
        rows = [[float(t) for t in a.text.split()] for a in el.findall("Array")]
    except ValueError:
        env.problems.invalid("Matrix Array elements must hold numbers", el)
        return None
    nb_rows = attribute.integer(el, "nbRows", env.problems, 0, minimum=0, maximum=_MAX_DIMENSION)
    nb_cols = attribute.integer(el, "nbCols", env.problems, 0, minimum=0, maximum=_MAX_DIMENSION)
    if nb_rows is None or nb_cols is None:
        return None
    diag_default = attribute.number(el, "diagDefault", env.problems)
    off_default = attribute.number(el, "offDiagDefault", env.problems)
    coords = _mat_cells(el, env)
    if coords is None:
        return None
    # The Arrays give the size; MatCells and nbRows/nbCols may make it larger.
    if kind == "diagonal":
        nr = nc = len(rows[0]) if rows else nb_rows
    else:
        nr = nc = len(rows) if rows else nb_rows
    if kind == "any":
        nc = max((len(r) for r in rows), default=nb_cols)
    if coords:
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
        m[~np.eye(nr, nc, dtype=bool)] = off_default
    _fill(m, kind, rows, coords)
    return m


def _mat_cells(el: Element, env: ModelEnv) -> list[tuple[int, int, float]] | None:
    """The Matrix's MatCells as (row, column, value), 1-based; None, and a problem, if one is bad."""
    cells = el.findall("MatCell")
    places = [(attribute.integer(c, "row", env.problems, required=True, minimum=1, maximum=_MAX_DIMENSION),
               attribute.integer(c, "col", env.problems, required=True, minimum=1, maximum=_MAX_DIMENSION))
              for c in cells]
    try:
        values = [float(c.text) for c in cells]
    except ValueError:
        env.problems.invalid("a MatCell must hold a number", el)
        return None
    coords = [(r, c, v) for (r, c), v in zip(places, values, strict=True) if r is not None and c is not None]
    return coords if len(coords) == len(cells) else None


def _fill(m: Array, kind: str, rows: list[list[float]], coords: list[tuple[int, int, float]]) -> None:
    """Writes the Arrays (the diagonal, the lower triangle, or whole rows by ``kind``), then the
    MatCells, into ``m``."""
    if kind == "diagonal" and rows:
        np.fill_diagonal(m, rows[0])
    elif kind == "symmetric" and rows:
        for i, values in enumerate(rows):
            for j, v in enumerate(values[: i + 1]):
                m[i, j] = m[j, i] = v
    else:
        for i, values in enumerate(rows):
            m[i, : len(values)] = values
    for r, c, v in coords:
        m[r - 1, c - 1] = v
        if kind == "symmetric":
            m[c - 1, r - 1] = v


#: Largest contrast Matrix dimension accepted (a factor has one row per category).
_MAX_DIMENSION = 2_000


@dataclass(frozen=True)
class _Predictor:
    expr: Expr
    categories: tuple[Any, ...] | None  # a factor's contrast Categories
    matrix: Array | None


def _predictors(el: Element | None, env: ModelEnv, factor: bool) -> tuple[dict[str, _Predictor], bool]:
    """The FactorList or CovariateList by field name, and whether all of it compiled.

    A predictor with a bad contrast Matrix stays in the map (as a plain factor) so that its PPCells
    do not add follow-on problems to the one already reported.
    """
    out: dict[str, _Predictor] = {}
    ok = True
    for p in el.findall("Predictor") if el is not None else []:
        name = attribute.text(p, "name", env.problems, required=True, empty=False)
        expr = None if name is None else env.compiler.ref(name, p)
        if name is None or expr is None:
            ok = False
            continue
        if not factor and expr.dtype.is_string:
            env.problems.invalid(f"covariate {name!r} must be numeric, got dataType string", p)
            ok = False
            continue
        m_el = p.find("Matrix")
        contrast = None if m_el is None else _contrast_matrix(p, m_el, name, expr, env)
        ok = ok and (m_el is None or contrast is not None)
        out[name] = _Predictor(expr, *(contrast or (None, None)))
    return out, ok


def _contrast_matrix(p: Element, m_el: Element, name: str, expr: Expr,
                     env: ModelEnv) -> tuple[tuple[Any, ...], Array] | None:
    """A factor's contrast Categories and Matrix (a row per category)."""
    c_el = p.find("Categories")
    if c_el is None:
        env.problems.unsupported(f"a contrast Matrix needs Categories to say which row is which category "
                                 f"(predictor {name!r})", p)
        return None
    try:
        cats = tuple(parse_scalar(expr.dtype, c.get("value") or "") for c in c_el.findall("Category"))
    except ValueError as exc:
        env.problems.invalid(f"Category value of predictor {name!r}: {exc}", c_el)
        return None
    matrix = _matrix(m_el, env)
    if matrix is not None and matrix.shape[0] < len(cats):
        env.problems.invalid(f"the contrast Matrix of predictor {name!r} has {matrix.shape[0]} rows, "
                             f"expected one per Category ({len(cats)})", m_el)
        return None
    return None if matrix is None else (cats, matrix)


def _term(cells: list[Element], factors: dict[str, _Predictor], covariates: dict[str, _Predictor],
          env: ModelEnv) -> Term | None:
    read = every(_cell(cell, factors, covariates, env) for cell in cells)
    if read is None:
        return None
    return Term(tuple(c for c in read if isinstance(c, _FactorCell)),
                tuple(c for c in read if isinstance(c, _CovariateCell)))


def _cell(cell: Element, factors: dict[str, _Predictor], covariates: dict[str, _Predictor],
          env: ModelEnv) -> _FactorCell | _CovariateCell | None:
    """A PPCell: a factor's category, or a covariate's exponent."""
    name = cell.get("predictorName") or ""
    value = attribute.text(cell, "value", env.problems, required=True)
    if value is None:
        return None
    fac = factors.get(name)
    if fac is not None:
        return _factor_cell(cell, name, value, fac, env)
    cov = covariates.get(name)
    if cov is None:
        env.problems.invalid(f"PPCell predictorName {name!r} is in neither the FactorList nor the "
                             f"CovariateList", cell)
        return None
    try:
        exponent = float(value)
    except ValueError:
        env.problems.invalid(f"PPCell value of covariate {name!r} is its exponent and must be a "
                             f"number, got {value!r}", cell)
        return None
    return _CovariateCell(name, cov.expr, None if exponent == 1.0 else exponent)


def _factor_cell(cell: Element, name: str, value: str, fac: _Predictor, env: ModelEnv) -> _FactorCell | None:
    v = attribute.parsed(cell, "value", partial(parse_scalar, fac.expr.dtype), env.problems, field=name)
    if v is None:
        return None
    contrast = None
    if fac.categories is not None and fac.matrix is not None:
        if v not in fac.categories:
            env.problems.invalid(f"PPCell value {value!r} of factor {name!r} is not one of its Categories "
                                 f"({', '.join(repr(c) for c in fac.categories)})", cell)
            return None
        col = fac.categories.index(v)
        if col >= fac.matrix.shape[1] or np.isnan(fac.matrix[: len(fac.categories), col]).any():
            env.problems.invalid(f"the contrast Matrix of factor {name!r} has no complete column {col + 1} for "
                                 f"category {value!r}", cell)
            return None
        contrast = _Contrast(fac.categories, fac.matrix[: len(fac.categories), col].copy())
    return _FactorCell(name, fac.expr, v, contrast, cell.line)


@dataclass(frozen=True)
class Cell:
    parameter: str
    beta: float


class Matrices:
    """The PPMatrix and ParamMatrix grouped by target category (None: no targetCategory)."""

    def __init__(self, el: Element, env: ModelEnv, target_dtype: DataType | None) -> None:
        self.env = env
        factors, factors_ok = _predictors(el.find("FactorList"), env, True)
        covariates, covariates_ok = _predictors(el.find("CovariateList"), env, False)
        self.ok = factors_ok and covariates_ok
        self.parameters: dict[str, float] = {}
        for p in self._cells(el, "ParameterList", "Parameter"):
            name = attribute.text(p, "name", env.problems, required=True, empty=False)
            if name is None:
                self.ok = False
                continue
            ref = attribute.number(p, "referencePoint", env.problems)
            self.parameters[name] = 0.0 if ref is None else ref
        # PPMatrix: target category -> parameter -> term
        grouped: dict[Any, dict[str, list[Element]]] = {}
        for cell in self._cells(el, "PPMatrix", "PPCell"):
            param = attribute.text(cell, "parameterName", env.problems, required=True, empty=False)
            if param is None:
                self.ok = False
                continue
            key = self._category(cell, target_dtype)
            grouped.setdefault(key, {}).setdefault(param, []).append(cell)
        self.pp: dict[Any, dict[str, Term]] = {}
        for key, by_param in grouped.items():
            terms = {param: _term(cells, factors, covariates, env) for param, cells in by_param.items()}
            self.ok = self.ok and None not in terms.values()
            self.pp[key] = {param: term for param, term in terms.items() if term is not None}
        # ParamMatrix: target category -> cells in document order
        self.params: dict[Any, list[Cell]] = {}
        for cell in self._cells(el, "ParamMatrix", "PCell"):
            param = attribute.text(cell, "parameterName", env.problems, required=True, empty=False)
            beta = attribute.number(cell, "beta", env.problems, required=True)
            if param is None or beta is None:
                self.ok = False
                continue
            key = self._category(cell, target_dtype)
            self.params.setdefault(key, []).append(Cell(param, beta))

    def _cells(self, el: Element, tag: str, cell_tag: str) -> list[Element]:
        """The ``cell_tag`` rows of the model's required ``tag`` child (none, and a problem, without it)."""
        table = el.find(tag)
        if table is None:
            self.env.problems.invalid(f"a GeneralRegressionModel needs a {tag}", el)
            self.ok = False
            return []
        return table.findall(cell_tag)

    def _category(self, cell: Element, dtype: DataType | None) -> Any:
        """The cell's targetCategory (None without one), a value of the target's type if it has one."""
        if dtype is None or cell.get("targetCategory") is None:
            return cell.get("targetCategory")
        value = attribute.parsed(cell, "targetCategory", partial(parse_scalar, dtype), self.env.problems)
        self.ok = self.ok and value is not None
        return value

    def rows_for(self, category: Any) -> dict[str, Term] | None:
        """The PPMatrix rows used for a category: its own, else the common ones."""
        if not self.pp:
            return {}
        got = self.pp.get(category)
        return got if got is not None else self.pp.get(None)

    def linear(self, columns: list[tuple[list[Cell], dict[str, Term]]]) -> Linear:
        """The plan computing one linear predictor per (cells, PPMatrix rows) column."""
        index: dict[tuple[int, str] | None, int] = {}
        terms: list[Term | None] = []
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
        return Linear(tuple(terms), beta, used, tuple(reads))
