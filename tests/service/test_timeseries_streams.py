"""The time-series streams through /pm/v1: catalog_timeseries.str (Modeler 17.1, Time Intervals and a
TSCXML nugget) and financial-performance-prediction.str (Modeler 18.0, the spss.ts nugget) deploy and
return their forecasts."""

from __future__ import annotations

import csv
import io
import zipfile
from typing import Any

from tests.service.conftest import Client, Keys
from tests.spss._streams import stream_bytes, stream_path


def put(client: Client, key: str, model_id: str, content: bytes, filename: str) -> Any:
    return client.put(f"/pm/v1/model/{model_id}", params={"accesskey": key},
                      files={"model_file": (filename, content, "application/octet-stream")})


def score(client: Client, key: str, model_id: str, body: object) -> Any:
    return client.post(f"/pm/v1/score/{model_id}", params={"accesskey": key}, json=body).json()


def test_catalog_timeseries_returns_the_four_forecast_weeks(client: Client, keys: Keys) -> None:
    """The 120 values the model was estimated on (Modeler's stored fits plus residuals) in, the Select
    keeps the four future records; forecasts L + h T + S(phase) from the TSCXML's final states."""
    content = stream_bytes("catalog_timeseries.str")
    stored = zipfile.ZipFile(io.BytesIO(content)).read("data/0002.dat").decode().split()
    men = [float(f) + float(r) for f, r in zip(stored[:120], stored[360:], strict=True)]
    assert put(client, keys.alice, "catalog", content, "catalog_timeseries.str").json()["flag"] is True
    body = score(client, keys.alice, "catalog", {"tablename": "scoreInput", "header": ["men"],
                                                  "data": [[v] for v in men]})
    assert body[0]["header"] == ["$TI_TimeIndex", "$TI_TimeLabel", "$TI_Week", "$TI_Day", "$TS-men", "$TSLCI-men",
                                 "$TSUCI-men"]
    rows = body[0]["data"]
    assert [r[:4] for r in rows] == [[121, "2014-05-01", 18, 4], [122, "2014-05-02", 18, 5],
                                     [123, "2014-05-03", 18, 6], [124, "2014-05-04", 18, 7]]
    level, trend = 22770.1107993415, 104.244937288132
    seasons = (27.7815282736932, 1186.53585887774, 820.62706037028, -225.470273237787)  # phases 2-5
    for h, row in enumerate(rows, start=1):
        assert abs(row[4] - (level + h * trend + seasons[h - 1])) < 1e-8
        assert row[5] < row[4] < row[6]
    assert abs((rows[0][6] - rows[0][5]) / 2 - 10312.773117) < 1e-3  # Modeler's stored one-step half width


def test_financial_performance_prediction_forecasts_three_months_of_the_sample_input(client: Client,
                                                                                      keys: Keys) -> None:
    content = stream_bytes("financial-performance-prediction.str")
    assert put(client, keys.alice, "fpp", content, "financial-performance-prediction.str").json()["flag"] is True
    with stream_path("data/seasonal1.csv").open(newline="") as fh:
        rows = list(csv.reader(fh))[1:]
    body = score(client, keys.alice, "fpp", {"tablename": "in", "header": ["DATE", "VALUE"], "data": rows})
    assert body[0]["header"] == ["DATE", "VALUE", "$TS-VALUE", "$TSLCI-VALUE", "$TSUCI-VALUE"]
    data = body[0]["data"]
    assert len(data) == len(rows) + 3
    assert [r[0] for r in data[-3:]] == ["2012-04-30", "2012-05-31", "2012-06-30"]
    assert all(r[1] is None for r in data[-3:])
    # alpha ~ 1: the level is the last value (case 86) less its season 1.1; the next three seasons are
    # -1.1, 0, 1.1 (the seasons repeat -1.1, 0, 1.1 from the first case on).
    level = float(rows[-1][1]) - 1.1
    forecasts = [r[2] for r in data[-3:]]
    assert all(abs(f - e) < 0.01 for f, e in zip(forecasts, [level - 1.1, level, level + 1.1], strict=True))
    assert all(r[3] < r[2] < r[4] for r in data[-3:])
