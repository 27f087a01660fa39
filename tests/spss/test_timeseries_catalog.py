"""catalog_timeseries.str (Modeler 17.1): the Time Intervals node and the TSCXML Time Series nugget,
run on the real nodes and blobs of the stream, with the series the model was estimated on
(Modeler's stored fitted values plus residuals)."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

import numpy as np
import pytest
from lxml import etree
from tests.spss._timeseries_streams import open_stream

from pmserve.errors import DataError, InvalidMarkupError, UnsupportedMarkupError
from pmserve.formats.spss._model import Node, SpssField, StreamContext, Table
from pmserve.formats.spss.timeseries import COMPILERS

MEN = SpssField("men", "real", "range", role="out")
L, T = 22770.1107993415, 104.244937288132
PHASES = (144.974814583242, 27.7815282736932, 1186.53585887774, 820.62706037028, -225.470273237787,
          -9.93317310966271, -2477.97858962356)


def _days(d: dt.date) -> float:
    return float((d - dt.date(1970, 1, 1)).days)


@pytest.fixture(scope="module")
def stream():
    return open_stream("catalog_timeseries.str")


@pytest.fixture(scope="module")
def series(stream):
    values = np.array([float(v) for v in stream.context.blobs["data/0002.dat"].decode().split()])
    return values[:120] + values[360:]  # fitted + residual = the 120 observed values


def _run(compiled, table):
    out = compiled.run([table])
    assert tuple(f.name for f in out.fields) == tuple(f.name for f in compiled.output_fields)
    assert all(len(out.columns[f.name]) == out.n_rows for f in out.fields)
    return out


@pytest.fixture(scope="module")
def labelled(stream, series):
    node = stream.node("TimeIntervalsNode")
    compiled = COMPILERS["TimeIntervalsNode"](node, [(MEN,)], stream.context)
    return compiled, _run(compiled, Table((MEN,), {"men": series}, 120))


def test_time_intervals_adds_the_days_per_week_fields_and_the_future_flag(labelled):
    compiled, _ = labelled
    assert [f.name for f in compiled.output_fields] == [
        "men", "$TI_TimeIndex", "$TI_TimeLabel", "$TI_Week", "$TI_Day", "$TI_Future"]
    assert [f.storage for f in compiled.output_fields[1:]] == ["integer", "date", "integer", "integer", "integer"]


def test_time_intervals_labels_days_from_the_label_start_in_weeks_beginning_on_monday(labelled):
    """Label start 2014-01-01 (a Wednesday): day 3 of week 1, as the model's DateSpecification says."""
    _, out = labelled
    c = out.columns
    assert out.n_rows == 124
    np.testing.assert_array_equal(c["$TI_TimeIndex"][:3], [1, 2, 3])
    assert c["$TI_TimeLabel"][0] == _days(dt.date(2014, 1, 1))
    assert c["$TI_TimeLabel"][123] == _days(dt.date(2014, 1, 1) + dt.timedelta(days=123))
    np.testing.assert_array_equal(c["$TI_Week"][:7], [1, 1, 1, 1, 1, 2, 2])
    np.testing.assert_array_equal(c["$TI_Day"][:7], [3, 4, 5, 6, 7, 1, 2])


def test_time_intervals_appends_four_future_records_with_missing_values(labelled, series):
    _, out = labelled
    np.testing.assert_array_equal(out.columns["$TI_Future"], [0.0] * 120 + [1.0] * 4)
    np.testing.assert_array_equal(out.columns["men"][:120], series)
    assert np.isnan(out.columns["men"][120:]).all()


@pytest.fixture(scope="module")
def scored(stream, labelled):
    compiled_ti, table = labelled
    node = stream.node("ApplyTimeSeriesNode")
    compiled = COMPILERS["ApplyTimeSeriesNode"](node, [compiled_ti.output_fields], stream.context)
    return compiled, _run(compiled, table)


def test_nugget_appends_the_outputs_the_node_asks_for(scored):
    """calculateConfidences is on and timeSeriesCalculateNoiseResiduals off: no $TSNR-men."""
    compiled, _ = scored
    assert [f.name for f in compiled.output_fields][-3:] == ["$TS-men", "$TSLCI-men", "$TSUCI-men"]


def test_nugget_forecasts_the_future_records_from_the_stored_states_by_hand(scored):
    _, out = scored
    expected = [L + 1 * T + PHASES[1], L + 2 * T + PHASES[2], L + 3 * T + PHASES[3], L + 4 * T + PHASES[4]]
    np.testing.assert_allclose(out.columns["$TS-men"][120:], expected, rtol=1e-13)
    half = (out.columns["$TSUCI-men"][120] - out.columns["$TSLCI-men"][120]) / 2
    assert half == pytest.approx(10312.773117, rel=1e-8)  # the one-step half width Modeler stored


def test_nugget_gives_the_estimation_span_modelers_stored_fits(scored, stream):
    _, out = scored
    values = np.array([float(v) for v in stream.context.blobs["data/0002.dat"].decode().split()])
    np.testing.assert_array_equal(out.columns["$TS-men"][:120], values[:120])
    np.testing.assert_array_equal(out.columns["$TSLCI-men"][:120], values[120:240])
    np.testing.assert_array_equal(out.columns["$TSUCI-men"][:120], values[240:360])


def test_nugget_without_a_time_index_upstream_is_refused(stream):
    node = stream.node("ApplyTimeSeriesNode")
    with pytest.raises(InvalidMarkupError, match=r"node 'men' \(ApplyTimeSeriesNode, id 4\): no time index"):
        COMPILERS["ApplyTimeSeriesNode"](node, [(MEN,)], stream.context)


def test_nugget_whose_blob_is_missing_is_refused(stream):
    node = stream.node("ApplyTimeSeriesNode")
    context = StreamContext(stream.context.properties, {})
    with pytest.raises(InvalidMarkupError, match=r"names 'data/0001\.dat', which the archive does not hold"):
        COMPILERS["ApplyTimeSeriesNode"](node, [(MEN,)], context)


def _edited(node: Node, **props: str) -> Node:
    element = etree.fromstring(etree.tostring(node.element))
    for name, value in props.items():
        target = element.find(f"properties/{name}")
        assert target is not None
        target.text = value
    return replace(node, element=element)


def test_create_mode_for_days_per_week_is_refused_naming_the_node(stream):
    node = _edited(stream.node("TimeIntervalsNode"), timeIntervalMode="CREATE")
    with pytest.raises(UnsupportedMarkupError, match=r"'Time Intervals' \(TimeIntervalsNode, id 3\): "
                                                       r"timeIntervalMode CREATE with DAYS_PER_WEEK is not supported"):
        COMPILERS["TimeIntervalsNode"](node, [(MEN,)], stream.context)


def test_a_huge_number_of_future_records_is_refused(stream):
    node = _edited(stream.node("TimeIntervalsNode"), timeIntervalsNumFutureRecords="1000000000")
    with pytest.raises(InvalidMarkupError, match="timeIntervalsNumFutureRecords must be an integer from 0 to"):
        COMPILERS["TimeIntervalsNode"](node, [(MEN,)], stream.context)


@pytest.mark.parametrize(
    ("interval", "fields", "first", "thirteenth"),
    [
        ("MONTHS", ["$TI_Year", "$TI_Month"], [2014, 1], [2015, 1]),
        ("QUARTERS", ["$TI_Year", "$TI_Quarter"], [2014, 1], [2017, 1]),
        ("YEARS", ["$TI_Year"], [2014], [2026]),
        ("PERIODS", ["$TI_Period"], [1], [13]),
    ],
)
def test_other_label_intervals_count_from_the_label_start(stream, interval, fields, first, thirteenth):
    node = _edited(stream.node("TimeIntervalsNode"), timeIntervalType=interval)
    compiled = COMPILERS["TimeIntervalsNode"](node, [(MEN,)], stream.context)
    out = compiled.run([Table((MEN,), {"men": np.arange(13.0)}, 13)])
    assert [f.name for f in compiled.output_fields][3:-1] == fields
    assert [out.columns[f][0] for f in fields] == first
    assert [out.columns[f][12] for f in fields] == thirteenth
    assert out.n_rows == 17


def test_month_labels_are_the_first_day_of_each_month(stream):
    node = _edited(stream.node("TimeIntervalsNode"), timeIntervalType="MONTHS", timeLabelMonthStart="November")
    out = COMPILERS["TimeIntervalsNode"](node, [(MEN,)], stream.context).run(
        [Table((MEN,), {"men": np.arange(3.0)}, 3)])
    assert list(out.columns["$TI_TimeLabel"][:3]) == [_days(dt.date(2014, 11, 1)), _days(dt.date(2014, 12, 1)),
                                                      _days(dt.date(2015, 1, 1))]
    assert list(out.columns["$TI_Month"][:3]) == [11, 12, 1]


def test_values_after_the_estimation_span_update_the_states_before_the_forecasts(stream, series):
    """Three newer values (cases 120-122) then the four future records: the new cases get one-step fits
    and move the states by the error-correction form (e = y - fit; L' = L + T + a e; T' = T + a g e;
    S' = S + d (1 - a) e); the forecasts continue from there."""
    alpha, gamma, delta = 0.0286531637770237, 2.47952240468772e-006, 0.001
    newer = [30000.0, 21000.0, 25000.0]
    ti = COMPILERS["TimeIntervalsNode"](stream.node("TimeIntervalsNode"), [(MEN,)], stream.context)
    table = ti.run([Table((MEN,), {"men": np.concatenate([series, newer])}, 123)])
    nugget = COMPILERS["ApplyTimeSeriesNode"](stream.node("ApplyTimeSeriesNode"), [ti.output_fields], stream.context)
    out = nugget.run([table])
    level, trend, season = L, T, dict(enumerate(PHASES))  # phase index (0-6) -> state
    expected = []
    for case, y in zip(range(120, 123), newer, strict=True):
        phase = case % 7
        fit = level + trend + season[phase]
        expected.append(fit)
        e = y - fit
        level, trend = level + trend + alpha * e, trend + alpha * gamma * e
        season[phase] += delta * (1 - alpha) * e
    expected += [level + h * trend + season[(122 + h) % 7] for h in (1, 2, 3, 4)]
    assert out.n_rows == 127
    np.testing.assert_allclose(out.columns["$TS-men"][120:], expected, rtol=1e-12)
    one_step = (out.columns["$TSUCI-men"][120:123] - out.columns["$TSLCI-men"][120:123]) / 2
    np.testing.assert_allclose(one_step, 10312.773117, rtol=1e-8)


DATE = SpssField("CDATE", "timestamp", "range")


def _create_mode(stream, interval="MONTHS"):
    node = _edited(stream.node("TimeIntervalsNode"), timeIntervalMode="CREATE", timeIntervalType=interval,
                   timeIntervalField="CDATE")
    return COMPILERS["TimeIntervalsNode"](node, [(DATE, MEN)], stream.context)


def _seconds(*days: dt.date) -> np.ndarray:
    return np.array([(d - dt.date(1970, 1, 1)).days * 86400.0 + 3600.0 for d in days])


def test_create_mode_labels_from_the_first_records_month(stream):
    compiled = _create_mode(stream)
    stamps = _seconds(dt.date(2012, 1, 29), dt.date(2012, 2, 29), dt.date(2012, 3, 30))
    out = compiled.run([Table((DATE, MEN), {"CDATE": stamps, "men": np.array([1.0, 2.0, 3.0])}, 3)])
    assert out.n_rows == 7
    assert list(out.columns["$TI_Year"][:5]) == [2012] * 5
    assert list(out.columns["$TI_Month"][:5]) == [1, 2, 3, 4, 5]
    assert out.columns["$TI_TimeLabel"][0] == _days(dt.date(2012, 1, 1))


def test_create_mode_refuses_a_gap_naming_the_row(stream):
    compiled = _create_mode(stream)
    stamps = _seconds(dt.date(2012, 1, 29), dt.date(2012, 3, 29))
    with pytest.raises(DataError, match=r"the 'CDATE' does not follow the one before it: .* \(row 2\)") as caught:
        compiled.run([Table((DATE, MEN), {"CDATE": stamps, "men": np.array([1.0, 2.0])}, 2)])
    assert caught.value.row == 1


def test_create_mode_needs_its_time_field(stream):
    node = _edited(stream.node("TimeIntervalsNode"), timeIntervalMode="CREATE", timeIntervalType="MONTHS",
                   timeIntervalField="CDATE")
    with pytest.raises(InvalidMarkupError, match="its time field 'CDATE' does not reach it as a date or timestamp"):
        COMPILERS["TimeIntervalsNode"](node, [(MEN,)], stream.context)


def test_five_day_weeks_skip_the_weekend(stream):
    node = _edited(stream.node("TimeIntervalsNode"), timeNumDaysPerWeek="5")
    out = COMPILERS["TimeIntervalsNode"](node, [(MEN,)], stream.context).run(
        [Table((MEN,), {"men": np.arange(4.0)}, 4)])
    assert [_days(dt.date(2014, 1, d)) for d in (1, 2, 3, 6)] == list(out.columns["$TI_TimeLabel"][:4])
    assert list(out.columns["$TI_Day"][:4]) == [3, 4, 5, 1]
    assert list(out.columns["$TI_Week"][:4]) == [1, 1, 1, 2]


def test_a_label_start_outside_the_working_week_is_refused(stream):
    node = _edited(stream.node("TimeIntervalsNode"), timeNumDaysPerWeek="5", timeLabelDayStart="4")  # Saturday
    with pytest.raises(InvalidMarkupError, match=r"the label start 2014-01-04 \(Saturday\) is not one of the 5 days"):
        COMPILERS["TimeIntervalsNode"](node, [(MEN,)], stream.context)
