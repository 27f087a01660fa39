"""TimeSeriesModel: forecasts over a horizon (PMML 4.4 "Time Series Models").

Each record asks for the forecast ``h`` steps after the end of the fitted series.  ``h`` is read
from the model's one active MiningField (a numeric field such as ``h``); a model whose
MiningSchema has no active field (only its order and target fields, as nyoka writes them)
forecasts one step ahead for every record.  ``h`` must be a positive integer, otherwise the
record fails.

Supported algorithms (``bestFit``):

* ``ExponentialSmoothing`` - from the final smoothed level ``L``, trend ``T`` (damping ``phi``)
  and the seasonal values ``S`` of the last period (Gardner's point forecasts):
  no trend ``L``; additive ``L + h T``; damped_additive ``L + T (phi + ... + phi^h)``;
  multiplicative ``L T^h``; damped_multiplicative ``L T^(phi + ... + phi^h)``; then
  ``+ S`` (additive) or ``* S`` (multiplicative seasonality) with ``S = Array[(h - 1) mod period]``.
  ``polynomial_exp`` trends are refused.
* ``ARIMA`` with ``predictionMethod="conditionalLeastSquares"`` - the original TimeSeries is
  transformed (none/logarithmic/squareroot) and differenced (``d`` times, ``D`` times at lag
  ``period``); the seasonal and non-seasonal AR and MA polynomials are multiplied out and the
  ARMA recursion ``w_t = c + sum(ar_i w_{t-i}) + a_t + sum(ma_j a_{t-j})`` runs forward with
  future shocks 0 and the document's Residuals as the past shocks; then the differencing and
  transformation are undone.  MA coefficients follow R's sign (``1 + theta B``), as the R pmml
  package writes them.  ``exactLeastSquares`` (Kalman state), DynamicRegressor and
  OutlierEffect are refused.

* ``StateSpaceModel`` (statsmodels' ARIMA/SARIMAX as nyoka writes them, ``bestFit="StateSpaceModel"``)
  - as JPMML-Evaluator 1.7 scores it (``TimeSeriesModelEvaluator.evaluateStateSpaceModel``): the
  observation ``y = Z a + d`` of the filtered StateVector ``a``, the MeasurementMatrix ``Z`` and the
  observation intercept ``d`` (InterceptVector, else the ``intercept`` attribute).  The horizon is
  the one supplementary MiningField (missing: 1; JPMML reads no active field for it); JPMML computes
  the path ``a, T a, T^2 a ...`` but returns its first value whatever the horizon, and fails a
  record whose horizon is below 1, so pmserve does the same.  An InterceptVector whose length is not
  the number of observations (nyoka's SARIMAX writes one per state) fails every record in JPMML
  and is refused at load here.

JPMML-Evaluator 1.7 scores only StateSpaceModel; the ExponentialSmoothing and ARIMA forecasts
follow the PMML specification.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from pmserve.errors import EvaluationError
from pmserve.pmml.compiler import CompiledModel, ModelEnv, Predictor, register
from pmserve.pmml.document import attributes as attribute
from pmserve.pmml.document.element import Element
from pmserve.pmml.document.problems import every
from pmserve.pmml.fields.frame import Expr, Frame
from pmserve.pmml.fields.types import Array, DataType
from pmserve.pmml.results.prediction import Prediction

#: The longest horizon a record may ask for (an ARIMA forecast runs through every step before it).
MAX_HORIZON = 100_000

_TRENDS = ("additive", "damped_additive", "multiplicative", "damped_multiplicative", "polynomial_exp")

Forecast = Callable[[Array], Array]  # horizons (positive integers, float64) -> forecasts


@register("TimeSeriesModel")
def compile_time_series(el: Element, env: ModelEnv) -> CompiledModel | None:
    problems = env.problems
    if not env.function_is("timeSeries"):
        return None
    best = attribute.text(el, "bestFit", problems, required=True)
    if best is None:
        return None
    algorithm = el.find(best)
    if best not in ("ExponentialSmoothing", "ARIMA", "StateSpaceModel"):
        problems.unsupported(f"bestFit {best} is not supported; expected ExponentialSmoothing, ARIMA or "
                             f"StateSpaceModel", el)
        return None
    if algorithm is None:
        problems.invalid(f"bestFit is {best} but the model holds no {best} element", el)
        return None
    if best == "StateSpaceModel":
        valid, horizon = _supplementary_horizon(env, el)
        first = _state_space(algorithm, env)
        if first is None or not valid:
            return None
        return CompiledModel(_predictor(lambda h: np.full(len(h), first), horizon))
    valid, horizon = _horizon_field(env, el)
    forecast = _exponential_smoothing(algorithm, env) if best == "ExponentialSmoothing" else _arima(algorithm, el, env)
    if forecast is None or not valid:
        return None
    return CompiledModel(_predictor(forecast, horizon))


def _horizon_field(env: ModelEnv, el: Element) -> tuple[bool, Expr | None]:
    """Whether the horizon is well defined, and the expression giving it (None: one step ahead)."""
    active = env.active_fields
    if not active:
        return True, None
    if len(active) > 1:
        names = [m.name for m in active]
        env.problems.unsupported(f"{len(active)} active fields {names}; expected at most one, the forecast "
                                 f"horizon", el)
        return False, None
    expr = _numeric_horizon(env, active[0].name, el)
    return expr is not None, expr


def _numeric_horizon(env: ModelEnv, name: str, el: Element) -> Expr | None:
    """The horizon field's expression, None (and a problem) unless it is a numeric field."""
    expr = env.compiler.ref(name, el)
    if expr is not None and not expr.dtype.is_number:
        env.problems.invalid(f"the horizon field {name!r} must be numeric, got dataType {expr.dtype.value}", el)
        return None
    return expr


def _supplementary_horizon(env: ModelEnv, el: Element) -> tuple[bool, Expr | None]:
    """JPMML's horizon: the one supplementary MiningField, 1 where it is missing (or absent)."""
    fields = [m for m in env.mining_fields if m.usage == "supplementary"]
    if not fields:
        return _horizon_field(env, el)
    if len(fields) > 1:
        env.problems.invalid(f"expected 0 or 1 supplementary fields (the forecast horizon), got "
                             f"{[m.name for m in fields]}", el)
        return False, None
    expr = _numeric_horizon(env, fields[0].name, el)
    if expr is None:
        return False, None
    read, name = expr.fn, fields[0].name

    def horizon(frame: Frame) -> Array:
        if not frame.has(name):  # a supplementary field is optional in the input
            return np.ones(frame.n)
        h = np.asarray(read(frame), dtype=np.float64)
        return np.where(np.isnan(h), 1.0, h)

    return True, Expr(expr.dtype, expr.optype, horizon)


def _predictor(forecast: Forecast, horizon: Expr | None) -> Predictor:
    def predict(frame: Frame) -> Prediction:
        h = np.ones(frame.n) if horizon is None else np.asarray(horizon.fn(frame), dtype=np.float64)
        present = ~np.isnan(h)
        bad = present & ((h != np.floor(h)) | (h < 1) | (h > MAX_HORIZON))
        if bad.any():
            values = h[bad]
            frame.fail(bad, lambda r: EvaluationError(
                f"the forecast horizon must be an integer from 1 to {MAX_HORIZON}, got "
                f"{values[0] if len(values) == 1 else 'another value'}", row=r))
        ok = present & ~bad
        out = np.full(frame.n, np.nan)
        if ok.any():
            with np.errstate(all="ignore"):
                out[ok] = forecast(h[ok])
        return Prediction(frame.n, DataType.DOUBLE, out)

    return predict


# -- exponential smoothing ---------------------------------------------------------------------


def _exponential_smoothing(es: Element, env: ModelEnv) -> Forecast | None:
    level_el = es.find("Level")
    if level_el is None:
        env.problems.invalid("ExponentialSmoothing needs a Level", es)
        return None
    level = attribute.number(level_el, "smoothedValue", env.problems, required=True)
    trend = _trend(es.find("Trend_ExpoSmooth"), env)
    season = _seasonality(es.find("Seasonality_ExpoSmooth"), env)
    if level is None or trend is None or season is None:
        return None

    def forecast(h: Array) -> Array:
        return season(trend(level, h), h)

    return forecast


def _trend(el: Element | None, env: ModelEnv) -> Callable[[float, Array], Array] | None:
    if el is None:
        return lambda level, h: np.full(len(h), level)
    kind = attribute.choice(el, "trend", _TRENDS, env.problems, "additive")
    if kind is None:
        return None
    if kind == "polynomial_exp":
        env.problems.unsupported("trend polynomial_exp is not supported; expected additive, damped_additive, "
                                 "multiplicative or damped_multiplicative", el)
        return None
    value = attribute.number(el, "smoothedValue", env.problems, required=True)
    phi = attribute.number(el, "phi", env.problems, 1.0)
    if value is None or phi is None:
        return None

    def damped_steps(h: Array) -> Array:
        # phi + phi^2 + ... + phi^h
        if phi == 1.0:
            return h
        return phi * (1.0 - np.power(phi, h)) / (1.0 - phi)

    if kind == "additive":
        return lambda level, h: level + h * value
    if kind == "damped_additive":
        return lambda level, h: level + value * damped_steps(h)
    if kind == "multiplicative":
        return lambda level, h: level * np.power(value, h)
    return lambda level, h: level * np.power(value, damped_steps(h))


def _seasonality(el: Element | None, env: ModelEnv) -> Callable[[Array, Array], Array] | None:
    if el is None:
        return lambda base, h: base
    kind = attribute.choice(el, "type", ("additive", "multiplicative"), env.problems, required=True)
    period = attribute.integer(el, "period", env.problems, required=True, minimum=1)
    if kind is None or period is None:
        return None
    if el.get("phase") not in (None, "0"):
        env.problems.unsupported(f"a seasonal phase ({el.get('phase')}) is not supported; expected the Array to "
                                 f"start with the season after the last observation", el)
        return None
    values = attribute.numbers(el, env.problems, "Seasonality_ExpoSmooth needs an Array of the seasonal values")
    if values is None:
        return None
    if len(values) != period:
        env.problems.invalid(f"the seasonal Array holds {len(values)} values for period {period}", el)
        return None
    seasons = np.asarray(values, dtype=np.float64)

    def apply(base: Array, h: Array) -> Array:
        s = seasons[(h.astype(np.int64) - 1) % period]
        return base + s if kind == "additive" else base * s

    return apply


# -- ARIMA ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Component:
    order: tuple[int, int, int]
    ar: tuple[float, ...]
    ma: tuple[float, ...]
    residuals: tuple[float, ...]


#: An ARIMA transformation of the series, and its inverse applied to the forecasts.
_TRANSFORMATIONS: dict[str, tuple[Callable[[Array], Array], Callable[[Array], Array]]] = {
    "none": (lambda x: x, lambda x: x),
    "logarithmic": (np.log, np.exp),
    "squareroot": (np.sqrt, np.square),
}


def _arima(el: Element, model: Element, env: ModelEnv) -> Forecast | None:
    problems = env.problems
    ok = _arima_supported(el, env)
    transformation = attribute.choice(el, "transformation", tuple(_TRANSFORMATIONS), problems, "none")
    constant = attribute.number(el, "constantTerm", env.problems, 0.0)
    nonseasonal = _component(el.find("NonseasonalComponent"), ("p", "d", "q"), env)
    seasonal_el = el.find("SeasonalComponent")
    seasonal = _component(seasonal_el, ("P", "D", "Q"), env)
    period: int | None = 1
    if seasonal_el is not None:
        period = attribute.integer(seasonal_el, "period", problems, required=True, minimum=1)
    history = _history(model, env)
    if (not ok or constant is None or nonseasonal is None or seasonal is None or history is None or period is None
            or transformation is None):
        return None
    plan = _arima_plan(el, env, history, transformation, constant, nonseasonal, seasonal, period)
    if plan is None:
        return None
    untransform = _TRANSFORMATIONS[transformation][1]

    def forecast(h: Array) -> Array:
        path = plan.path(int(h.max()))
        return untransform(path[h.astype(np.int64) - 1])

    return forecast


def _arima_supported(el: Element, env: ModelEnv) -> bool:
    """Whether the ARIMA element asks for nothing pmserve refuses (a problem for each thing it does)."""
    ok = True
    method = el.get("predictionMethod", "conditionalLeastSquares")
    if method != "conditionalLeastSquares":
        env.problems.unsupported(f"predictionMethod {method} is not supported; expected conditionalLeastSquares "
                                 f"(exactLeastSquares needs the Kalman filter state)", el)
        ok = False
    for tag in ("DynamicRegressor", "OutlierEffect"):
        if el.find(tag) is not None:
            env.problems.unsupported(f"{tag} is not supported in ARIMA forecasts", el.find(tag))
            ok = False
    return ok


def _arima_plan(el: Element, env: ModelEnv, history: Array, transformation: str, constant: float,
                nonseasonal: _Component, seasonal: _Component, period: int) -> _ArimaPlan | None:
    """The ARMA recursion of the transformed series, its polynomials multiplied out; None, and a
    problem, when the document gives too few residuals or values for it, or a value the
    transformation is undefined for."""
    # AR polynomials are 1 - c1 B - c2 B^2 - ..., MA ones 1 + c1 B + ...; seasonal ones in B^period.
    ar = np.convolve(_lag_poly(-np.asarray(nonseasonal.ar), 1), _lag_poly(-np.asarray(seasonal.ar), period))
    ma = np.convolve(_lag_poly(np.asarray(nonseasonal.ma), 1), _lag_poly(np.asarray(seasonal.ma), period))
    residuals = seasonal.residuals if len(seasonal.residuals) > len(nonseasonal.residuals) else \
        nonseasonal.residuals
    q_total = len(ma) - 1
    if q_total and len(residuals) < q_total:
        env.problems.invalid(f"the MA part needs the last {q_total} residuals, the document gives "
                             f"{len(residuals)}", el)
        return None
    d, big_d = nonseasonal.order[1], seasonal.order[1]
    if len(history) <= d + big_d * period + len(ar) - 1:
        env.problems.invalid(f"the TimeSeries holds {len(history)} values, too few for the model's differencing "
                             f"and AR order", el)
        return None
    series = _TRANSFORMATIONS[transformation][0](history)
    if np.isnan(series).any():
        env.problems.invalid(f"the {transformation} transformation is undefined for a value of the TimeSeries", el)
        return None
    return _ArimaPlan(series, d, big_d, period, constant, -ar[1:], ma[1:],
                      np.asarray(residuals[len(residuals) - q_total:] if q_total else (), dtype=np.float64))


# -- state space model -------------------------------------------------------------------------


def _state_space(el: Element, env: ModelEnv) -> float | None:
    """The first forecast ``Z a + d`` of a StateSpaceModel (see the module docstring)."""
    problems = env.problems
    state = _real_array(el.find("StateVector"), "StateVector", el, env)
    measurement = _dense_matrix(el.find("MeasurementMatrix"), "MeasurementMatrix", el, env)
    if el.find("TransitionMatrix") is not None:
        _dense_matrix(el.find("TransitionMatrix"), "TransitionMatrix", el, env)
    intercept = attribute.number(el, "intercept", env.problems, 0.0)
    vector_el = el.find("InterceptVector")
    if state is None or measurement is None or intercept is None:
        return None
    if vector_el is not None:
        if intercept != 0.0:
            problems.invalid("a StateSpaceModel with an InterceptVector must not set a non-zero intercept", el)
            return None
        offsets = _real_array(vector_el, "InterceptVector", el, env)
        if offsets is None:
            return None
    else:
        offsets = np.array([intercept])
    rows, cols = measurement.shape
    if cols != len(state):
        problems.invalid(f"the MeasurementMatrix has {cols} columns but the StateVector {len(state)} values", el)
        return None
    if len(offsets) != rows:
        problems.invalid(f"the InterceptVector holds {len(offsets)} values but there are {rows} observations "
                         f"(MeasurementMatrix rows); JPMML adds it to the observations and fails every record",
                         vector_el if vector_el is not None else el)
        return None
    return float((measurement @ state + offsets)[0])


def _real_array(el: Element | None, name: str, parent: Element, env: ModelEnv) -> Array | None:
    values = attribute.numbers(el, env.problems, f"the StateSpaceModel needs a {name} with an Array",
                               parent if el is None else el)
    if values is not None and not values:
        env.problems.invalid(f"the {name} Array is empty", el)
        return None
    return None if values is None else np.array(values, dtype=np.float64)


def _dense_matrix(el: Element | None, name: str, parent: Element, env: ModelEnv) -> Array | None:
    """A Matrix written as Array rows (``kind="any"``), as nyoka writes them."""
    matrix = None if el is None else el.find("Matrix")
    if el is None or matrix is None:
        env.problems.invalid(f"the StateSpaceModel needs a {name} with a Matrix", parent if el is None else el)
        return None
    if matrix.get("kind", "any") != "any" or matrix.find("MatCell") is not None:
        env.problems.unsupported(f"the {name} must be a dense Matrix of Array rows (kind any)", matrix)
        return None
    try:
        rows = [[float(t) for t in a.text.split()] for a in matrix.findall("Array")]
    except ValueError:
        env.problems.invalid(f"the {name} Arrays must hold numbers", matrix)
        return None
    if not rows or len({len(r) for r in rows}) != 1 or not rows[0]:
        env.problems.invalid(f"the {name} rows must be non-empty and of one length", matrix)
        return None
    return np.array(rows, dtype=np.float64)


@dataclass(frozen=True)
class _ArimaPlan:
    series: Array
    d: int
    seasonal_d: int
    period: int
    constant: float
    ar: Array  # coefficients of w_{t-1}, w_{t-2}, ... after multiplying the polynomials out
    ma: Array  # coefficients of a_{t-1}, a_{t-2}, ...
    residuals: Array  # the last len(ma) shocks, oldest first

    def path(self, horizon: int) -> Array:
        """Forecasts for steps 1..horizon in the original (transformed) scale."""
        levels: list[Array] = [self.series]
        for _ in range(self.d):
            levels.append(np.diff(levels[-1]))
        for _ in range(self.seasonal_d):
            last = levels[-1]
            levels.append(last[self.period:] - last[:-self.period])
        w = list(levels[-1])
        shocks = list(self.residuals)
        p, q = len(self.ar), len(self.ma)
        out = np.empty(horizon)
        for step in range(horizon):
            value = self.constant
            for i in range(p):
                value += self.ar[i] * w[-1 - i]
            for j in range(q):
                k = len(shocks) - 1 - j
                if k >= 0:
                    value += self.ma[j] * shocks[k]
            w.append(value)
            shocks.append(0.0)
            out[step] = value
        # Undo the differencing, innermost last: each level's future = its past + the next level's.
        future = out
        for k in range(len(levels) - 2, -1, -1):
            base = levels[k]
            lag = self.period if k >= self.d else 1  # levels past d come from seasonal differences
            ext = list(base)
            for step in range(horizon):
                ext.append(ext[-lag] + future[step])
            future = np.asarray(ext[len(base):])
        return future


def _component(el: Element | None, names: tuple[str, str, str], env: ModelEnv) -> _Component | None:
    if el is None:
        return _Component((0, 0, 0), (), (), ())
    order = every(attribute.integer(el, name, env.problems, 0, minimum=0) for name in names)
    if order is None:
        return None
    p, d, q = order
    ar = _coefficients(el.find("AR"), p, f"{names[0]}={p} needs an AR Array of {p} coefficients", el, env) \
        if p else []
    ma: list[float] | None = []
    residuals: list[float] | None = []
    ma_el = el.find("MA")
    if q:
        coef_el = ma_el.find("MACoefficients") if ma_el is not None else None
        ma = _coefficients(coef_el, q, f"{names[2]}={q} needs MA/MACoefficients with an Array of {q} coefficients",
                           el, env)
        res_el = ma_el.find("Residuals") if ma_el is not None else None
        residuals = attribute.numbers(res_el, env.problems, "conditional least squares needs the MA Residuals (the "
                                      "last shocks)", el) if ma is not None else None
    if ar is None or ma is None or residuals is None:
        return None
    return _Component((p, d, q), tuple(ar), tuple(ma), tuple(residuals))


def _coefficients(parent: Element | None, count: int, need: str, el: Element, env: ModelEnv) -> list[float] | None:
    """The ``count`` numbers of the Array under ``parent``; None, and the problem ``need``, without them."""
    got = attribute.numbers(parent, env.problems, need, el)
    if got is not None and len(got) != count:
        env.problems.invalid(need, el)
        return None
    return got


def _history(model: Element, env: ModelEnv) -> Array | None:
    series = [t for t in model.findall("TimeSeries") if t.get("usage", "original") == "original"]
    if not series:
        env.problems.invalid("an ARIMA forecast needs the original TimeSeries (usage=\"original\")", model)
        return None
    values: list[tuple[float, float]] = []
    for i, tv in enumerate(series[0].findall("TimeValue")):
        index = attribute.number(tv, "index", env.problems, float(i))
        value = attribute.number(tv, "value", env.problems, required=True)
        if index is None or value is None:
            return None
        values.append((index, value))
    if not values:
        env.problems.invalid("the original TimeSeries holds no TimeValue", series[0])
        return None
    values.sort(key=lambda iv: iv[0])
    return np.asarray([v for _, v in values], dtype=np.float64)


def _lag_poly(coefs: Array, lag: int) -> Array:
    """1 + c1 B^lag + c2 B^2lag + ... as coefficients of B^0, B^1, ..."""
    poly = np.zeros(len(coefs) * lag + 1)
    poly[0] = 1.0
    poly[lag::lag] = coefs
    return poly
