"""The time-series streams through the stream loader: they deploy, their compiled branches pickle and
score the same after the round trip, and the Streaming TS stream is refused at its Streaming TS node."""

from __future__ import annotations

import csv
import io
import pickle
import zipfile

import pytest
from tests.spss._streams import stream_bytes, stream_path

from pmserve.errors import UnsupportedMarkupError
from pmserve.formats import RowTable, StreamLimits
from pmserve.formats.spss._loader import load_stream


def _catalog_request() -> RowTable:
    stored = zipfile.ZipFile(io.BytesIO(stream_bytes("catalog_timeseries.str"))).read("data/0002.dat").decode().split()
    men = [float(f) + float(r) for f, r in zip(stored[:120], stored[360:], strict=True)]
    return RowTable(["men"], [[v] for v in men], "scoreInput")


def _financial_request() -> RowTable:
    with stream_path("data/trend1.csv").open(newline="") as fh:
        rows = list(csv.reader(fh))[1:]
    return RowTable(["DATE", "VALUE"], rows, "in")


@pytest.mark.parametrize(("name", "request_of", "rows"), [
    ("catalog_timeseries.str", _catalog_request, 4),
    ("financial-performance-prediction.str", _financial_request, 87 + 3),
])
def test_time_series_streams_deploy_and_score_the_same_after_pickling(name, request_of, rows):
    model = load_stream(name, stream_bytes(name), StreamLimits())
    reply = model.score_tables([request_of()])
    assert len(reply.data) == rows
    again = pickle.loads(pickle.dumps(model)).score_tables([request_of()])
    assert again.header == reply.header
    assert again.data == reply.data


def test_streaming_ts_stream_is_refused_at_its_streaming_ts_node():
    with pytest.raises(UnsupportedMarkupError, match=r"node 'Streaming TS' \(TimeSeriesProcessNode, id 2\), "
                                                      r"step 3 of 6"):
        load_stream("s.str", stream_bytes("catalog_streaming_timeseries.str"), StreamLimits())
