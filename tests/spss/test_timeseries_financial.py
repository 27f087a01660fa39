"""financial-performance-prediction.str (Modeler 18.0): the spss.ts Time Series nugget, its PMML 4.2
TimeSeriesModel scored by pmserve's engine from the real nested-zip container, run on the sample
app's inputs (data/seasonal1.csv, data/trend1.csv)."""

from __future__ import annotations

import csv
import datetime as dt
import json
import math
import struct
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from lxml import etree
from tests.spss._streams import stream_path
from tests.spss._timeseries_streams import open_stream

from pmserve.errors import DataError, InvalidMarkupError, UnsupportedMarkupError
from pmserve.formats.spss._model import Node, SpssField, StreamContext, Table
from pmserve.formats.spss.timeseries import COMPILERS

FIELDS = (SpssField("DATE", "date", "range"), SpssField("VALUE", "real", "range", role="both"))
# The nugget's PMML (data/0005.dat, 0.xml): Level alpha and smoothedValue, the additive seasons,
# and the spss.com extensions errVariance and degreesOfFreedom.
ALPHA, LEVEL = 0.9999355090915155, 2.2000000042888295
SEASONS = (-1.1, 0.0, 1.0999999999999996)
ERR_VARIANCE, T_975_22 = 2.508280122337654e-18, 2.0738730679  # t(0.975, 22) from the tables


@pytest.fixture(scope="module")
def stream():
    return open_stream("financial-performance-prediction.str")


@pytest.fixture(scope="module")
def compiled(stream):
    return COMPILERS["ExtensionApplyModelNode"](stream.node("ExtensionApplyModelNode"), [FIELDS], stream.context)


def _sample(name: str) -> Table:
    with stream_path(f"data/{name}").open(newline="") as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == ["Date", "Value"]
    dates = np.array([(dt.date.fromisoformat(r[0]) - dt.date(1970, 1, 1)).days for r in rows[1:]], dtype=float)
    return Table(FIELDS, {"DATE": dates, "VALUE": np.array([float(r[1]) for r in rows[1:]])}, len(rows) - 1)


def _date(days: float) -> dt.date:
    return dt.date(1970, 1, 1) + dt.timedelta(days=int(days))


def test_nugget_adds_the_forecast_and_its_limits(compiled):
    assert [f.name for f in compiled.output_fields] == ["DATE", "VALUE", "$TS-VALUE", "$TSLCI-VALUE", "$TSUCI-VALUE"]


INIT_LEVEL = 2.2
INIT_SEASONS = (-1.1, 0.0, 1.0999999999999996) * 3 + (-1.1, -2.7662508050734866e-13, 1.099999995710894)
DELTA = 6.046103592009077e-05


def _months(first: dt.date, count: int) -> np.ndarray:
    """Month ends from ``first``'s month on, as days since 1970."""
    out = []
    for k in range(count):
        y, m = divmod(first.month - 1 + k + 1, 12)
        out.append((dt.date(first.year + y, m + 1, 1) - dt.timedelta(days=1) - dt.date(1970, 1, 1)).days)
    return np.array(out, dtype=float)


def _by_hand(series):
    """Simple seasonal in component form, written out: fit = L + S[t mod 12];
    L' = a (y - S) + (1 - a) L;  S' = d (y - L') + (1 - d) S."""
    level, seasons, fits = INIT_LEVEL, list(INIT_SEASONS), []
    for t, y in enumerate(series):
        k = t % 12
        fits.append(level + seasons[k])
        new_level = ALPHA * (y - seasons[k]) + (1 - ALPHA) * level
        seasons[k] = DELTA * (y - new_level) + (1 - DELTA) * seasons[k]
        level = new_level
    n = len(series)
    return fits, [level + seasons[(n + h - 1) % 12] for h in (1, 2, 3)]


def test_the_estimation_series_replays_onto_the_stored_final_states(compiled):
    """Run from initLevel/initSeason over the series the model was estimated on (1.1, 2.2, 3.3 monthly,
    24 months: the DATE and VALUE ranges of its TSDPOutput), the forecasts are those of the stored
    final states: L + S[h - 1] with the document's smoothedValue and seasonal Array."""
    table = Table(FIELDS, {"DATE": _months(dt.date(2012, 1, 1), 24), "VALUE": np.array([1.1, 2.2, 3.3] * 8)}, 24)
    out = compiled.run([table])
    np.testing.assert_allclose(out.columns["$TS-VALUE"][24:], [LEVEL + SEASONS[0], LEVEL + SEASONS[1],
                                                               LEVEL + SEASONS[2]], rtol=1e-15)
    np.testing.assert_allclose(out.columns["$TS-VALUE"][:24], [1.1, 2.2, 3.3] * 8, rtol=1e-8)


def test_limits_follow_the_simple_seasonal_psi_weights_by_hand(compiled):
    """psi_j = alpha (j not a multiple of 12): variance(h) = v (1 + (h - 1) alpha^2)."""
    expected = [T_975_22 * math.sqrt(ERR_VARIANCE * (1 + (h - 1) * ALPHA ** 2)) for h in (1, 2, 3)]
    np.testing.assert_allclose(compiled.half_widths, expected, rtol=1e-9)
    assert compiled.one_step == pytest.approx(expected[0], rel=1e-9)


@pytest.mark.parametrize("sample", ["seasonal1.csv", "trend1.csv"])
def test_sample_inputs_are_fitted_and_forecast_three_months_ahead(compiled, sample):
    table = _sample(sample)
    out = compiled.run([table])
    n = table.n_rows
    fits, forecasts = _by_hand(table.columns["VALUE"].tolist())
    assert out.n_rows == n + 3
    assert [f.name for f in out.fields] == [f.name for f in compiled.output_fields]
    np.testing.assert_allclose(out.columns["$TS-VALUE"], fits + forecasts, rtol=1e-12)
    np.testing.assert_array_equal(out.columns["DATE"][:n], table.columns["DATE"])
    assert _date(table.columns["DATE"][-1]).isoformat() == "2012-03-31"
    assert [_date(d).isoformat() for d in out.columns["DATE"][n:]] == ["2012-04-30", "2012-05-31", "2012-06-30"]
    assert np.isnan(out.columns["VALUE"][n:]).all()
    np.testing.assert_allclose(out.columns["$TSUCI-VALUE"] - out.columns["$TS-VALUE"],
                               [compiled.one_step] * n + list(compiled.half_widths), rtol=0, atol=1e-12)


def _edited(node: Node, attrs: dict[str, str] | None = None, **props: str) -> Node:
    element = etree.fromstring(etree.tostring(node.element))
    for name, value in (attrs or {}).items():
        element.set(name, value)
    for name, value in props.items():
        target = element.find(f"properties/{name}")
        assert target is not None
        target.text = value
    return replace(node, element=element)


def test_without_do_forecast_no_records_are_added(stream):
    node = _edited(stream.node("ExtensionApplyModelNode"), _doForecast="false")
    compiled = COMPILERS["ExtensionApplyModelNode"](node, [FIELDS], stream.context)
    table = _sample("trend1.csv")
    assert compiled.run([table]).n_rows == table.n_rows


def test_other_extension_nuggets_are_refused_naming_the_node_and_extension(stream):
    node = _edited(stream.node("ExtensionApplyModelNode"), {"extensionID": "spss.python", "extensionElementID": "x"})
    with pytest.raises(UnsupportedMarkupError, match=r"node 'VALUE' \(ExtensionApplyModelNode, id 3\): extension "
                                                      r"nuggets of spss\.python/x are not supported"):
        COMPILERS["ExtensionApplyModelNode"](node, [FIELDS], stream.context)


def test_residuals_are_the_series_minus_its_fitted_values(stream):
    node = _edited(stream.node("ExtensionApplyModelNode"), _calculate_residuals="true")
    compiled = COMPILERS["ExtensionApplyModelNode"](node, [FIELDS], stream.context)
    out = compiled.run([_sample("trend1.csv")])
    n = out.n_rows - 3
    assert [f.name for f in compiled.output_fields][-1] == "$TSNR-VALUE"
    np.testing.assert_allclose(out.columns["$TSNR-VALUE"][:n],
                               out.columns["VALUE"][:n] - out.columns["$TS-VALUE"][:n], rtol=1e-15)
    assert np.isnan(out.columns["$TSNR-VALUE"][n:]).all()


def test_a_gap_in_the_monthly_series_is_refused_naming_the_row(compiled):
    table = _sample("seasonal1.csv")
    keep = np.arange(table.n_rows) != 10
    gapped = Table(FIELDS, {k: v[keep] for k, v in table.columns.items()}, table.n_rows - 1)
    with pytest.raises(DataError, match=r"the date does not follow the one before it: .* \(row 11\)") as caught:
        compiled.run([gapped])
    assert caught.value.row == 10


def test_a_date_field_that_does_not_reach_the_nugget_is_refused(stream):
    with pytest.raises(InvalidMarkupError, match="its date field 'DATE' does not reach it as a date"):
        COMPILERS["ExtensionApplyModelNode"](stream.node("ExtensionApplyModelNode"),
                                             [(SpssField("VALUE", "real"),)], stream.context)


def test_a_truncated_container_is_refused(stream):
    blobs = dict(stream.context.blobs)
    blob = blobs["data/0005.dat"][:200]
    blobs["data/0005.dat"] = struct.pack(">I", len(blob) - 4) + blob[4:]
    with pytest.raises(InvalidMarkupError, match=r"node 'VALUE' \(ExtensionApplyModelNode, id 3\)"):
        COMPILERS["ExtensionApplyModelNode"](stream.node("ExtensionApplyModelNode"), [FIELDS],
                                             StreamContext(stream.context.properties, blobs))


def test_a_container_without_its_length_prefix_is_refused(stream):
    blobs = dict(stream.context.blobs)
    blobs["data/0005.dat"] = b"PK\x03\x04" + b"\x00" * 40
    with pytest.raises(InvalidMarkupError, match="expected a u32 length"):
        COMPILERS["ExtensionApplyModelNode"](stream.node("ExtensionApplyModelNode"), [FIELDS],
                                             StreamContext(stream.context.properties, blobs))


def test_forecast_equals_jpmmls_where_jpmml_scores_the_document(compiled):
    """The reference is written by tools/spss_timeseries_reference (JPMML-Evaluator on the nugget's 0.xml)."""
    reference = json.loads((Path(__file__).parent / "reference" / "financial-performance-prediction.jpmml.json")
                           .read_text())
    if reference["outcome"] != "scored":
        pytest.skip(f"JPMML-Evaluator (jpmml-evaluator {reference['jpmml_evaluator_python']}) does not score this "
                    f"PMML: {reference['error']}; the forecasts are checked by hand above")
    assert compiled.forecasts[0] == pytest.approx(float(reference["results"]["0"]), rel=1e-12)


def test_the_containers_inflation_stays_within_the_streams_limit(stream):
    context = StreamContext(stream.context.properties, stream.context.blobs, max_inflated_bytes=1000)
    with pytest.raises(InvalidMarkupError, match="inflates past the stream's size limit"):
        COMPILERS["ExtensionApplyModelNode"](stream.node("ExtensionApplyModelNode"), [FIELDS], context)
