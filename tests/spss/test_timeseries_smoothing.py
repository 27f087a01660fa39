"""Exponential-smoothing forecasts and limits, checked by hand against the formulas and against the
numbers Modeler stored in catalog_timeseries.str (TSCXML model and historical fits)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from tests.spss._timeseries_streams import open_stream

from pmserve.errors import InvalidMarkupError, UnsupportedMarkupError
from pmserve.formats.spss.timeseries import Smoothing, read_tscxml, replay, student_t_quantile

# The final states and parameters of the Additive Winters' model of catalog_timeseries.str (data/0004.dat).
L, T = 22770.1107993415, 104.244937288132
ALPHA, GAMMA, DELTA = 0.0286531637770237, 2.47952240468772e-006, 0.001
PHASES = (144.974814583242, 27.7815282736932, 1186.53585887774, 820.62706037028, -225.470273237787,
          -9.93317310966271, -2477.97858962356)  # StateSeason phase 1..7
ERR_VARIANCE, DOF = 27115911.9536996, 117


@pytest.fixture(scope="module")
def catalog():
    stream = open_stream("catalog_timeseries.str")
    return read_tscxml(stream.context.blobs["data/0004.dat"], "catalog ts_xml")["men"], stream.context.blobs


def test_catalog_model_is_additive_winters_over_120_cases(catalog):
    model, _ = catalog
    assert model.smoothing.kind == "winters_additive"
    assert (model.period_start, model.period_length) == (0, 120)
    assert model.smoothing.degrees_of_freedom == DOF


def test_catalog_forecasts_follow_the_additive_winters_formula_by_hand(catalog):
    """X(h) = L + h T + S(phase of case 120 + h); case i (0-based) is in phase i mod 7 + 1, so h = 1 is phase 2."""
    model, _ = catalog
    expected = [
        L + 1 * T + PHASES[1],  # case 120 (0-based): phase 2
        L + 2 * T + PHASES[2],
        L + 3 * T + PHASES[3],
        L + 4 * T + PHASES[4],
        L + 7 * T + PHASES[0],  # h = 7 comes back to phase 1
        L + 8 * T + PHASES[1],
    ]
    got = model.smoothing.forecast(np.array([1, 2, 3, 4, 7, 8]))
    np.testing.assert_allclose(got, expected, rtol=1e-13)
    np.testing.assert_allclose(got[:4], [22902.1372649, 24165.1365328, 23903.4726716, 22961.6202753], rtol=1e-10)


def _stored_fits(blobs):
    values = np.array([float(v) for v in blobs["data/0002.dat"].decode().split()])
    return values[:120], values[120:240], values[240:360], values[360:]


def test_stored_states_replayed_backwards_reproduce_modelers_fitted_values(catalog):
    """Undo the error-correction recursion from the final states over the stored fits and residuals:
    every one-step fit L + T + S(t - 7) of the last 35 cases comes back, which fixes the phase rule."""
    _, blobs = catalog
    fitted, _, _, residual = _stored_fits(blobs)
    season = {112 + k: PHASES[k] for k in range(1, 7)} | {119: PHASES[0]}  # case i: phase i mod 7 + 1
    level, trend = L, T
    for case in range(119, 84, -1):
        e = residual[case]
        prev_trend = trend - ALPHA * GAMMA * e
        prev_level = level - ALPHA * e - prev_trend
        season[case - 7] = season[case] - DELTA * (1 - ALPHA) * e
        assert prev_level + prev_trend + season[case - 7] == pytest.approx(fitted[case], rel=1e-9)
        level, trend = prev_level, prev_trend


def test_one_step_limits_equal_the_half_width_modeler_stored(catalog):
    """Modeler's stored one-step limits are fit -/+ t(0.975, 117) sqrt(errVariance)."""
    model, blobs = catalog
    fitted, lower, upper, _ = _stored_fits(blobs)
    stored_half_width = upper[0] - fitted[0]
    assert stored_half_width == pytest.approx(fitted[0] - lower[0], rel=1e-9)
    lo, hi = model.smoothing.limits(np.array([1]), 0.95)
    assert (hi[0] - lo[0]) / 2 == pytest.approx(stored_half_width, rel=1e-8)


def test_longer_horizons_widen_with_the_psi_weights_of_additive_winters(catalog):
    model, _ = catalog
    t = 10312.773117 / math.sqrt(ERR_VARIANCE)  # the stored one-step half width over sigma
    psi = [ALPHA + j * ALPHA * GAMMA + (DELTA * (1 - ALPHA) if j % 7 == 0 else 0.0) for j in range(1, 9)]
    lo, hi = model.smoothing.limits(np.array([2, 8, 9]), 0.95)
    for k, h in enumerate((2, 8, 9)):
        variance = ERR_VARIANCE * (1 + sum(p * p for p in psi[: h - 1]))
        assert (hi[k] - lo[k]) / 2 == pytest.approx(t * math.sqrt(variance), rel=1e-8)


@pytest.mark.parametrize(
    ("smoothing", "h", "expected"),
    [
        (Smoothing("simple", alpha=0.3, level=10.0), [1, 5], [10.0, 10.0]),
        (Smoothing("holt", alpha=0.3, gamma=0.1, level=10.0, trend=2.0), [1, 3], [12.0, 16.0]),
        (Smoothing("brown", alpha=0.5, level=10.0, trend=2.0), [1, 3], [10 + (0 + 2) * 2.0, 10 + (2 + 2) * 2.0]),
        (Smoothing("damped", alpha=0.3, gamma=0.1, phi=0.5, level=10.0, trend=2.0), [1, 3],
         [10 + 0.5 * 2, 10 + (0.5 + 0.25 + 0.125) * 2]),
        (Smoothing("simple_seasonal", alpha=0.3, delta=0.1, level=10.0, seasons=(1.0, -1.0, 0.5)), [1, 2, 4],
         [11.0, 9.0, 11.0]),
        (Smoothing("winters_multiplicative", alpha=0.3, gamma=0.1, delta=0.1, level=10.0, trend=1.0,
                   seasons=(1.1, 0.9)), [1, 2, 3], [11 * 1.1, 12 * 0.9, 13 * 1.1]),
    ],
)
def test_point_forecasts_of_each_model_kind(smoothing, h, expected):
    np.testing.assert_allclose(smoothing.forecast(np.array(h)), expected, rtol=1e-14)


@pytest.mark.parametrize(
    ("smoothing", "psi"),
    [
        (Smoothing("simple", alpha=0.3, level=0.0), [0.3, 0.3]),
        (Smoothing("holt", alpha=0.3, gamma=0.1, level=0.0), [0.3 + 0.03, 0.3 + 0.06]),
        (Smoothing("brown", alpha=0.5, level=0.0), [1.0, 1.25]),
        (Smoothing("damped", alpha=0.3, gamma=0.1, phi=0.5, level=0.0), [0.3 + 0.03 * 0.5, 0.3 + 0.03 * 0.75]),
        (Smoothing("simple_seasonal", alpha=0.3, delta=0.1, level=0.0, seasons=(0.0, 0.0)), [0.3, 0.3 + 0.07]),
    ],
)
def test_psi_weights_of_each_additive_model(smoothing, psi):
    np.testing.assert_allclose(smoothing.psi(np.array([1.0, 2.0])), psi, rtol=1e-14)


def test_multiplicative_winters_has_no_limits():
    model = Smoothing("winters_multiplicative", alpha=0.3, gamma=0.1, delta=0.1, level=10.0, trend=1.0,
                      seasons=(1.1, 0.9), error_variance=1.0, degrees_of_freedom=10)
    assert not model.has_limits
    with pytest.raises(ValueError, match="no forecast limits"):
        model.limits(np.array([1]), 0.95)


@pytest.mark.parametrize(("p", "dof", "expected"),
                         [(0.975, 1, 12.7062047), (0.975, 10, 2.2281389), (0.95, 30, 1.6972609),
                          (0.025, 5, -2.5705818), (0.975, 1000, 1.9623390)])
def test_student_t_quantiles_match_the_tables(p, dof, expected):
    assert student_t_quantile(p, dof) == pytest.approx(expected, abs=2e-7)


def test_arima_models_are_refused_by_name():
    doc = (b'<TSCXML xmlns="http://www.ibm.com/software/analytics/spss/xml/components/time-series">'
           b'<ArimaModel variableID="x"/></TSCXML>')
    with pytest.raises(UnsupportedMarkupError, match="ArimaModel models are not supported"):
        read_tscxml(doc, "test")


def test_a_model_without_final_states_is_refused():
    doc = (b'<TSCXML xmlns="http://www.ibm.com/software/analytics/spss/xml/components/time-series">'
           b'<ExpSmoothingModel variableID="x"><ESSimple><ParmLevel><EstimatedParameter>0.5 0.1'
           b'</EstimatedParameter></ParmLevel></ESSimple>'
           b'<EstimationInfo periodStartIndex="0" periodLength="10"/></ExpSmoothingModel></TSCXML>')
    with pytest.raises(InvalidMarkupError, match="lacks its final states"):
        read_tscxml(doc, "test")


def test_not_xml_is_refused():
    with pytest.raises(InvalidMarkupError, match="not well-formed"):
        read_tscxml(b"men\t1-1\t0", "test")


def test_replaying_holt_by_hand():
    """fit = L + T;  L' = a y + (1 - a)(L + T);  T' = g (L' - L) + (1 - g) T, with a = 0.5, g = 0.2."""
    model = Smoothing("holt", alpha=0.5, gamma=0.2, level=0.0)
    fits, final = replay(model, np.array([12.0, 13.0]), 10.0, 1.0, ())
    np.testing.assert_allclose(fits, [11.0, 11.5 + 1.1], rtol=1e-15)
    assert (final.level, final.trend) == pytest.approx((12.8, 1.14), rel=1e-14)
    assert final.forecast(np.array([1]))[0] == pytest.approx(13.94, rel=1e-14)


def test_replaying_multiplicative_winters_by_hand():
    """fit = (L + T) S;  L' = a y / S + (1 - a)(L + T);  S' = d y / L' + (1 - d) S, a = d = 0.5, g = 0."""
    model = Smoothing("winters_multiplicative", alpha=0.5, gamma=0.0, delta=0.5, level=0.0, seasons=(0.0, 0.0))
    fits, final = replay(model, np.array([12.0, 9.0]), 10.0, 0.0, (1.2, 0.8))
    np.testing.assert_allclose(fits, [12.0, 8.0], rtol=1e-15)
    assert final.level == pytest.approx(10.625, rel=1e-15)
    np.testing.assert_allclose(final.seasons, [1.2, 0.5 * 9 / 10.625 + 0.4], rtol=1e-15)
    np.testing.assert_allclose(final.forecast(np.array([1, 2])), [10.625 * 1.2, 10.625 * (0.5 * 9 / 10.625 + 0.4)],
                               rtol=1e-15)


def test_a_missing_value_lets_the_states_run_on():
    model = Smoothing("simple", alpha=0.5, level=0.0)
    fits, final = replay(model, np.array([np.nan, 14.0]), 10.0, 0.0, ())
    np.testing.assert_array_equal(fits, [10.0, 10.0])
    assert final.level == 12.0


def test_many_degrees_of_freedom_use_the_expansion_and_stay_fast():
    """Past 200 degrees of freedom the quantile comes from A&S 26.7.5; it meets the exact series at
    the switch and tends to the normal quantile (a hostile df returns at once)."""
    assert student_t_quantile(0.975, 201) == pytest.approx(1.9718365067798542, abs=1e-11)  # exact series
    assert student_t_quantile(0.975, 10**12) == pytest.approx(1.959963984540054, abs=1e-11)  # z + g1(z) / df, g1 ~ 2.4
