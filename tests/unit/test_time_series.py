"""TimeSeriesModel (pmserve.pmml.models.time_series): exponential smoothing and ARIMA forecasts, refusals."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from pmserve.errors import DocumentProblems, EvaluationError
from pmserve.pmml import load

SERIES = [10.0, 12.0, 11.0, 13.0, 12.5, 14.0]


def document(algorithm: str, best: str = "ExponentialSmoothing", series: list[float] = SERIES,
             horizon: bool = True) -> bytes:
    """A TimeSeriesModel over target y with an optional active horizon field h."""
    values = "".join(f'<TimeValue index="{i}" value="{v}"/>' for i, v in enumerate(series))
    h_field = '<DataField name="h" optype="continuous" dataType="integer"/>' if horizon else ""
    h_mining = '<MiningField name="h"/>' if horizon else ""
    return f"""<PMML xmlns="http://www.dmg.org/PMML-4_4" version="4.4">
<Header/>
<DataDictionary>
  <DataField name="y" optype="continuous" dataType="double"/>
  {h_field}
</DataDictionary>
<TimeSeriesModel functionName="timeSeries" bestFit="{best}">
  <MiningSchema><MiningField name="y" usageType="target"/>{h_mining}</MiningSchema>
  <TimeSeries usage="original" startTime="0" endTime="{len(series) - 1}">{values}</TimeSeries>
  {algorithm}
</TimeSeriesModel>
</PMML>""".encode()


def forecast(doc: bytes, horizons: list[Any]) -> list[Any]:
    return load(doc).score({"h": horizons}, errors="collect").to_lists()["y"]


def smoothing(trend: str = "", season: str = "") -> str:
    return f'<ExponentialSmoothing><Level alpha="0.5" smoothedValue="100"/>{trend}{season}</ExponentialSmoothing>'


SEASON = '<Seasonality_ExpoSmooth type="{kind}" period="3"><Array n="3" type="real">{values}</Array>' \
         '</Seasonality_ExpoSmooth>'


@pytest.mark.parametrize(("trend", "want"), [
    ("", lambda h: 100.0),
    ('<Trend_ExpoSmooth trend="additive" smoothedValue="2"/>', lambda h: 100 + 2 * h),
    ('<Trend_ExpoSmooth smoothedValue="2"/>', lambda h: 100 + 2 * h),
    ('<Trend_ExpoSmooth trend="damped_additive" smoothedValue="2" phi="0.5"/>',
     lambda h: 100 + 2 * sum(0.5 ** i for i in range(1, h + 1))),
    ('<Trend_ExpoSmooth trend="multiplicative" smoothedValue="1.1"/>', lambda h: 100 * 1.1 ** h),
    ('<Trend_ExpoSmooth trend="damped_multiplicative" smoothedValue="1.1" phi="0.8"/>',
     lambda h: 100 * 1.1 ** sum(0.8 ** i for i in range(1, h + 1))),
])
def test_exponential_smoothing_trends_follow_gardners_point_forecasts(trend: str, want: Any) -> None:
    """Each trend type extrapolates the final level and trend as its formula says."""
    got = forecast(document(smoothing(trend)), [1, 2, 5])
    np.testing.assert_allclose(got, [want(h) for h in (1, 2, 5)], rtol=1e-12)


@pytest.mark.parametrize(("kind", "combine"), [
    ("additive", lambda base, s: base + s),
    ("multiplicative", lambda base, s: base * s),
])
def test_seasonal_values_cycle_with_the_horizon(kind: str, combine: Any) -> None:
    """Horizon h takes the seasonal value at position (h - 1) mod period."""
    season = SEASON.format(kind=kind, values="0.5 2 1.5")
    doc = document(smoothing('<Trend_ExpoSmooth trend="additive" smoothedValue="1"/>', season))
    got = forecast(doc, [1, 2, 3, 4, 7])
    seasons = [0.5, 2.0, 1.5]
    np.testing.assert_allclose(got, [combine(100 + h, seasons[(h - 1) % 3]) for h in (1, 2, 3, 4, 7)], rtol=1e-12)


def test_without_a_horizon_field_every_record_gets_the_one_step_forecast() -> None:
    """A MiningSchema with only the target forecasts one step ahead."""
    model = load(document(smoothing('<Trend_ExpoSmooth smoothedValue="3"/>'), horizon=False))
    assert model.input_fields == ()
    assert model.score({"anything": [1, 2]}).to_lists()["y"] == [103.0, 103.0]


def test_bad_horizons_fail_their_records_only() -> None:
    """A horizon that is not a positive integer fails the record; a missing one gives a missing forecast."""
    doc = document(smoothing())
    scored = load(doc).score({"h": [0, 2, None, -3]}, errors="collect")
    assert scored.to_lists()["y"] == [None, 100.0, None, None]
    assert set(scored.errors) == {0, 3}
    assert isinstance(scored.errors[0], EvaluationError)
    assert "horizon must be an integer from 1" in scored.errors[0].message


def arima(nonseasonal: str = "", seasonal: str = "", attrs: str = "") -> str:
    return f'<ARIMA constantTerm="0" {attrs}>{nonseasonal}{seasonal}</ARIMA>'


def test_ar1_with_a_constant_iterates_the_recursion() -> None:
    """AR(1): y(1) = c + phi y_n, y(2) = c + phi y(1)."""
    doc = document(arima('<NonseasonalComponent p="1" d="0" q="0"><AR><Array n="1" type="real">0.6</Array></AR>'
                         '</NonseasonalComponent>').replace('constantTerm="0"', 'constantTerm="4"'), "ARIMA")
    one = 4 + 0.6 * SERIES[-1]
    np.testing.assert_allclose(forecast(doc, [1, 2]), [one, 4 + 0.6 * one], rtol=1e-12)


def test_integrated_moving_average_uses_the_last_residual_once() -> None:
    """ARIMA(0,1,1): y(1) = y_n + theta a_n, later steps stay at y(1)."""
    component = ('<NonseasonalComponent p="0" d="1" q="1"><MA><MACoefficients><Array n="1" type="real">0.4'
                 '</Array></MACoefficients><Residuals><Array n="1" type="real">-1.5</Array></Residuals></MA>'
                 '</NonseasonalComponent>')
    got = forecast(document(arima(component), "ARIMA"), [1, 2, 3])
    want = SERIES[-1] + 0.4 * -1.5
    np.testing.assert_allclose(got, [want, want, want], rtol=1e-12)


def test_differenced_ar_undoes_the_differencing() -> None:
    """ARIMA(1,1,0): the differences follow the AR recursion and are summed back."""
    component = '<NonseasonalComponent p="1" d="1" q="0"><AR><Array n="1" type="real">0.5</Array></AR>' \
                '</NonseasonalComponent>'
    got = forecast(document(arima(component), "ARIMA"), [1, 2])
    w1 = 0.5 * (SERIES[-1] - SERIES[-2])
    w2 = 0.5 * w1
    np.testing.assert_allclose(got, [SERIES[-1] + w1, SERIES[-1] + w1 + w2], rtol=1e-12)


def test_seasonal_differencing_repeats_the_last_season() -> None:
    """(0,0,0)(0,1,0) with period 3: the seasonal naive forecast."""
    seasonal = '<SeasonalComponent P="0" D="1" Q="0" period="3"/>'
    got = forecast(document(arima(seasonal=seasonal), "ARIMA"), [1, 2, 3, 4])
    np.testing.assert_allclose(got, [SERIES[-3], SERIES[-2], SERIES[-1], SERIES[-3]], rtol=1e-12)


def test_seasonal_ar_reaches_back_one_period() -> None:
    """(0,0,0)(1,0,0) with period 2: y(h) = Phi * y(h - 2)."""
    seasonal = '<SeasonalComponent P="1" D="0" Q="0" period="2"><AR><Array n="1" type="real">0.9</Array></AR>' \
               '</SeasonalComponent>'
    got = forecast(document(arima(seasonal=seasonal), "ARIMA"), [1, 2, 3])
    np.testing.assert_allclose(got, [0.9 * SERIES[-2], 0.9 * SERIES[-1], 0.81 * SERIES[-2]], rtol=1e-12)


def test_logarithmic_transformation_forecasts_in_logs() -> None:
    """transformation=logarithmic: AR on log values, forecast exponentiated."""
    component = '<NonseasonalComponent p="1" d="0" q="0"><AR><Array n="1" type="real">0.5</Array></AR>' \
                '</NonseasonalComponent>'
    got = forecast(document(arima(component, attrs='transformation="logarithmic"'), "ARIMA"), [1])
    assert got[0] == pytest.approx(math.exp(0.5 * math.log(SERIES[-1])), rel=1e-12)


@pytest.mark.parametrize(("algorithm", "best", "message"), [
    (smoothing('<Trend_ExpoSmooth trend="polynomial_exp" smoothedValue="1"/>'), "ExponentialSmoothing",
     "trend polynomial_exp is not supported"),
    (smoothing('<Trend_ExpoSmooth trend="cubic" smoothedValue="1"/>'), "ExponentialSmoothing",
     "trend must be one of additive"),
    (smoothing(SEASON.format(kind="additive", values="1 2")), "ExponentialSmoothing",
     "holds 2 values for period 3"),
    ('<ExponentialSmoothing><Level alpha="0.5"/></ExponentialSmoothing>', "ExponentialSmoothing",
     "attribute smoothedValue is required"),
    (smoothing(), "ARIMA", "bestFit is ARIMA but the model holds no ARIMA element"),
    (smoothing(), "GARCH", "bestFit GARCH is not supported"),
    (arima(attrs='predictionMethod="exactLeastSquares"'), "ARIMA", "predictionMethod exactLeastSquares"),
    (arima('<NonseasonalComponent p="2" d="0" q="0"><AR><Array type="real">0.5</Array></AR>'
           '</NonseasonalComponent>'), "ARIMA", "p=2 needs an AR Array of 2 coefficients"),
    (arima('<NonseasonalComponent p="0" d="0" q="1"><MA><MACoefficients><Array type="real">0.5</Array>'
           '</MACoefficients></MA></NonseasonalComponent>'), "ARIMA", "needs the MA Residuals"),
    (arima('<NonseasonalComponent p="0" d="9" q="0"/>'), "ARIMA", "too few for the model's differencing"),
])
def test_unsupported_or_invalid_markup_is_refused_at_load(algorithm: str, best: str, message: str) -> None:
    """What cannot be forecast is refused when loading, naming the element and line."""
    with pytest.raises(DocumentProblems, match=message) as info:
        load(document(algorithm, best))
    problem = info.value.problems[0]
    assert f"{problem.element} (line {problem.line})" in problem.message


def test_two_active_fields_are_refused() -> None:
    """The horizon must be the one active field."""
    doc = document(smoothing()).replace(b'<MiningField name="h"/>', b'<MiningField name="h"/><MiningField name="y2"/>')
    doc = doc.replace(b'<DataField name="y"', b'<DataField name="y2" optype="continuous" dataType="double"/>'
                      b'<DataField name="y"')
    with pytest.raises(DocumentProblems, match="expected at most one, the forecast horizon"):
        load(doc)
