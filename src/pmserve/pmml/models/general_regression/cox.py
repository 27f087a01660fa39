"""Cox regression (``modelType="CoxRegression"``): the BaseCumHazardTables lookup by end time and
baseline stratum, as JPMML-Evaluator does it."""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np
import numpy.typing as npt

from pmserve.pmml.compiler import CompiledModel, ModelEnv
from pmserve.pmml.document import attributes as attribute
from pmserve.pmml.document.element import Element
from pmserve.pmml.expressions.casting import equal_to
from pmserve.pmml.fields.frame import Expr, Frame
from pmserve.pmml.fields.types import Array, DataType, is_missing, parse_scalar
from pmserve.pmml.models.general_regression.design import Cell, Linear, Matrices
from pmserve.pmml.models.general_regression.links import read_variable, required_value
from pmserve.pmml.results.prediction import Prediction

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
    # The first cell of equal times counts (JPMML picks the first maximum): np.unique gives the
    # index of each value's first occurrence.
    uniq, first = np.unique(np.asarray(times), return_index=True)
    return _Baseline(uniq, np.asarray(hazards)[first], max_time)


def _strata(tables: Element, strata_expr: Expr | None, env: ModelEnv) -> list[tuple[Any, _Baseline]] | None:
    """The baseline cumulative hazards by stratum value (one table, under None, without strata)."""
    if strata_expr is None:
        single = _baseline(tables, env)
        return None if single is None else [(None, single)]
    strata: list[tuple[Any, _Baseline]] = []
    for s in tables.findall("BaselineStratum"):
        value = attribute.parsed(s, "value", partial(parse_scalar, strata_expr.dtype), env.problems, required=True)
        b = None if value is None else _baseline(s, env)
        if b is None:
            return None
        strata.append((value, b))
    return strata


def _reference_point(cells: list[Cell], matrices: Matrices) -> float | None:
    """sum(beta * referencePoint); a PCell of an undeclared Parameter leaves it undefined and every
    prediction missing, as in JPMML-Evaluator."""
    reference = 0.0
    for c in cells:
        point = matrices.parameters.get(c.parameter)
        if point is None:
            return None
        reference += c.beta * point
    return reference


def compile_cox(el: Element, env: ModelEnv, matrices: Matrices, cells: list[Cell], linear: Linear,
         dtype: DataType) -> CompiledModel | None:
    end_name = el.get("endTimeVariable")
    if end_name is None:
        env.problems.invalid("a CoxRegression model needs attribute endTimeVariable", el)
        return None
    end_expr = read_variable(el, "endTimeVariable", env)
    tables = el.find("BaseCumHazardTables")
    if tables is None:
        env.problems.invalid("a CoxRegression model needs BaseCumHazardTables", el)
        return None
    if end_expr is None:
        return None
    strata_name = el.get("baselineStrataVariable")
    strata_expr = read_variable(el, "baselineStrataVariable", env) if strata_name is not None else None
    if strata_name is not None and strata_expr is None:
        return None
    strata = _strata(tables, strata_expr, env)
    if strata is None:
        return None
    reference = _reference_point(cells, matrices)

    def predict_cox(frame: Frame) -> Prediction:
        n = frame.n
        tables_of = _tables_of(frame, strata_expr, strata_name or "", strata)
        active = np.zeros(n, dtype=bool)
        for m, _ in tables_of:
            active |= m
        t = required_value(end_expr, end_name, "endTimeVariable", frame, active)
        base, zero, found = _hazards(t, tables_of)
        out = np.full(n, np.nan)
        if reference is not None:
            r = linear(frame, found)[:, 0]
            with np.errstate(all="ignore"):
                out = np.exp(r - reference) * base
        out[zero] = 0.0
        return Prediction(n, dtype, out)

    return CompiledModel(predict_cox)


def _tables_of(frame: Frame, expr: Expr | None, name: str,
               strata: list[tuple[Any, _Baseline]]) -> list[tuple[npt.NDArray[np.bool_], _Baseline]]:
    """Each baseline table with the records it serves: all without a baselineStrataVariable
    ``expr``, else those of its stratum (the first matching; a record of none, or whose stratum
    is missing, has no table and a missing prediction)."""
    if expr is None:
        return [(np.ones(frame.n, dtype=bool), strata[0][1])]
    s = required_value(expr, name, "baselineStrataVariable", frame, np.ones(frame.n, dtype=bool))
    active = ~is_missing(s)
    seen = np.zeros(frame.n, dtype=bool)
    out: list[tuple[npt.NDArray[np.bool_], _Baseline]] = []
    for value, b in strata:
        m = active & ~seen & equal_to(s, value)
        seen |= m
        out.append((m, b))
    return out


def _hazards(t: Array, tables_of: list[tuple[npt.NDArray[np.bool_], _Baseline]],
             ) -> tuple[Array, npt.NDArray[np.bool_], npt.NDArray[np.bool_]]:
    """The baseline cumulative hazard at each record's end time (the last cell at or before it),
    the records before a table's first time (hazard 0), and those with a hazard found."""
    base = np.full(len(t), np.nan)
    zero = np.zeros(len(t), dtype=bool)
    found = np.zeros(len(t), dtype=bool)  # JPMML computes the linear predictor for these only
    for m, b in tables_of:
        with np.errstate(invalid="ignore"):
            rows = m & ~np.isnan(t) & (t <= b.max_time)
            early = rows & (t < b.times[0])
        zero |= early
        rows &= ~early
        idx = np.searchsorted(b.times, t[rows], side="right") - 1
        base[rows] = b.hazards[idx]
        found |= rows
    return base, zero, found
