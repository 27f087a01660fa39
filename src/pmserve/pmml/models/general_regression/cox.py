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
    end_field = end_name

    def predict_cox(frame: Frame) -> Prediction:
        n = frame.n
        out = np.full(n, np.nan)
        base = np.full(n, np.nan)
        active = np.ones(n, dtype=bool)
        if strata_expr is not None and strata_name is not None:
            s = required_value(strata_expr, strata_name, "baselineStrataVariable", frame, active)
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
        t = required_value(end_expr, end_field, "endTimeVariable", frame, active)
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

    return CompiledModel(predict_cox)
