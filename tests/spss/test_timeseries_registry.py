"""Which node classes the time-series compilers claim, and catalog_streaming_timeseries.str, whose
Streaming TS node builds its model at run time and must be left to the loader's refusal of unknown nodes."""

from __future__ import annotations

import numpy as np
from tests.spss._timeseries_streams import open_stream

from pmserve.formats.spss._model import SpssField, Table
from pmserve.formats.spss.nodes._time import COMPILERS as NODE_COMPILERS
from pmserve.formats.spss.timeseries import COMPILERS


def test_the_time_series_module_claims_exactly_its_three_classes():
    assert set(COMPILERS) == {"TimeIntervalsNode", "ApplyTimeSeriesNode", "ExtensionApplyModelNode"}
    assert NODE_COMPILERS is COMPILERS


def test_streaming_ts_is_not_claimed_so_the_stream_is_refused_as_an_unknown_node():
    stream = open_stream("catalog_streaming_timeseries.str")
    streaming = stream.node("TimeSeriesProcessNode")
    assert streaming.display_name == "Streaming TS"
    assert streaming.class_name not in COMPILERS


def test_streaming_streams_time_intervals_node_labels_two_future_records():
    stream = open_stream("catalog_streaming_timeseries.str")
    women = SpssField("women", "real", "range", role="out")
    compiled = COMPILERS["TimeIntervalsNode"](stream.node("TimeIntervalsNode"), [(women,)], stream.context)
    out = compiled.run([Table((women,), {"women": np.arange(5.0)}, 5)])
    assert out.n_rows == 7
    np.testing.assert_array_equal(out.columns["$TI_Future"], [0, 0, 0, 0, 0, 1, 1])
