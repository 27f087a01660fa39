"""The Time Series nugget of Modeler 16/17 (``ApplyTimeSeriesNode``): exponential smoothing from
the TSCXML model (``ts_xml``), forecasting from the final states it stores.

Which record is which point of the series comes from the time index of the upstream Time
Intervals node (the input field ``<extension>TimeIndex``, 1 for the first record): the record
with index ``i`` is case ``i - 1`` of the series.  A case inside the estimation span gets the
fitted value and one-step limits Modeler stored with the model (``ts_hfits``).  From the first
case after the span the model runs on from the final states it stores: a case with a value of the
target gets its one-step fitted value and updates the states, a case without one (the Time
Intervals node's future records) gets the forecast from the states so far, its limits widening
with the steps since the last value.  A record without an index, or before the span, gets missing
values.  So the request carries the series from its first case, as when the model was built
(with any newer values after it), plus the future records.

Result fields are the nugget's ``outputs`` whose role the node asks for: ``predictedValue``
(``$TS-``) always, ``lowerConfidenceLimit``/``upperConfidenceLimit`` (``$TSLCI-``/``$TSUCI-``)
when ``calculateConfidences`` is on (at ``conf_limit`` percent; refused for multiplicative
Winters', whose limits have no closed form), ``residual`` (``$TSNR-``, the target minus
``$TS-`` where both are present) when ``timeSeriesCalculateNoiseResiduals`` is on.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from lxml import etree

from pmserve.errors import DataError
from pmserve.formats.spss._model import Node, SpssField, StreamContext, Table
from pmserve.formats.spss.timeseries import _props
from pmserve.formats.spss.timeseries._intervals import MAX_FUTURE_RECORDS
from pmserve.formats.spss.timeseries._smoothing import replay
from pmserve.formats.spss.timeseries._tscxml import SeriesModel, read_tscxml

ROLES = ("predictedValue", "lowerConfidenceLimit", "upperConfidenceLimit", "residual")


@dataclass(frozen=True)
class _Output:
    field: SpssField
    role: str
    target: str


@dataclass(frozen=True)
class _Fits:
    """The stored fitted values, limits and residuals of the estimation span (one series)."""

    fitted: np.ndarray
    lower: np.ndarray
    upper: np.ndarray


@dataclass(eq=False)
class ApplyTimeSeries:
    """A compiled Modeler 16/17 Time Series nugget."""

    node: Node
    inputs: tuple[SpssField, ...]
    outputs: tuple[_Output, ...]
    models: dict[str, SeriesModel]
    fits: dict[str, _Fits]
    time_index: str
    confidence: float

    @property
    def output_fields(self) -> tuple[SpssField, ...]:
        return self.inputs + tuple(o.field for o in self.outputs)

    def run(self, inputs: Sequence[Table]) -> Table:
        (table,) = inputs
        n = table.n_rows
        index = np.asarray(table.columns[self.time_index], dtype=np.float64)
        columns = dict(table.columns)
        for target in dict.fromkeys(o.target for o in self.outputs):
            actual = np.asarray(table.columns[target], dtype=np.float64) if target in table.columns \
                else np.full(n, np.nan)
            values = self._series(self.models[target], index, actual)
            for out in self.outputs:
                if out.target == target:
                    columns[out.field.name] = values[out.role]
        return Table(self.output_fields, columns, n)

    def _series(self, model: SeriesModel, index: np.ndarray, actual: np.ndarray) -> dict[str, np.ndarray]:
        n = len(index)
        end = model.period_start + model.period_length  # first case after the span
        case = index - 1.0
        known = np.isfinite(case) & (case == np.floor(case))
        after = known & (case >= end)
        inside = known & (case >= model.period_start) & (case < end)
        predicted, lower, upper = np.full(n, np.nan), np.full(n, np.nan), np.full(n, np.nan)
        if after.any():
            rows = np.flatnonzero(after)
            offset = (case[rows] - end).astype(np.int64)
            length = int(offset.max()) + 1
            if length > n + MAX_FUTURE_RECORDS:
                raise DataError(f"the time index {int(index[rows].max())} lies beyond the records sent",
                                field=self.time_index)
            series = np.full(length, np.nan)
            series[offset] = actual[rows]
            start = model.smoothing
            fits, _ = replay(start, series, start.level, start.trend, start.seasons)
            predicted[rows] = fits[offset]
            if model.smoothing.has_limits:
                # h: steps since the last observed case (the span's last case counts as observed).
                seen = np.where(np.isfinite(series), np.arange(length), -1)
                last = np.maximum.accumulate(np.concatenate(([-1], seen)))[:-1]
                spread = model.smoothing.half_width(np.arange(length) - last, self.confidence)
                lower[rows], upper[rows] = fits[offset] - spread[offset], fits[offset] + spread[offset]
        fits_stored = self.fits.get(model.variable)
        if fits_stored is not None and inside.any():
            at = (case[inside] - model.period_start).astype(np.int64)
            predicted[inside] = fits_stored.fitted[at]
            lower[inside], upper[inside] = fits_stored.lower[at], fits_stored.upper[at]
        return {"predictedValue": predicted, "lowerConfidenceLimit": lower, "upperConfidenceLimit": upper,
                "residual": actual - predicted}


def compile_apply_time_series(node: Node, inputs: Sequence[tuple[SpssField, ...]],
                              ctx: StreamContext) -> ApplyTimeSeries:
    if len(inputs) != 1:
        raise _props.invalid(node, f"expected one upstream input, got {len(inputs)}")
    fields = inputs[0]
    model_el = node.element.find("properties/model")
    if model_el is None:
        raise _props.invalid(node, "the nugget holds no model (properties/model)")
    blobs = _containers(node, model_el, ctx)
    models = read_tscxml(blobs["ts_xml"], f"{node.describe()}, container ts_xml")
    outputs = _outputs(node, model_el, models)
    taken = {f.name for f in fields} & {o.field.name for o in outputs}
    if taken:
        raise _props.invalid(node, f"its outputs {sorted(taken)} clash with fields reaching it")
    time_index = next((f.name for f in fields if f.name.endswith("TimeIndex")), None)
    if time_index is None:
        raise _props.invalid(node, "no time index reaches it; expected the TimeIndex field of an upstream Time "
                                   "Intervals node, which places each record in the series")
    confidence = _props.number(node, "model/conf_limit", 95.0)
    if not 0.0 < confidence < 100.0:
        raise _props.invalid(node, f"conf_limit must lie between 0 and 100, got {confidence}")
    fits = _fits(blobs.get("ts_hfits"), models)
    return ApplyTimeSeries(node, fields, tuple(outputs), models, fits, time_index, confidence / 100.0)


def _containers(node: Node, model_el: etree._Element, ctx: StreamContext) -> dict[str, bytes]:
    """The model's containers by key; ``ts_xml`` (the TSCXML model) must be one."""
    blobs: dict[str, bytes] = {}
    for container in model_el.iterfind("container"):
        key = (container.findtext("containerKey") or "").strip()
        path = container.get("containerData", "")
        if path not in ctx.blobs:
            raise _props.invalid(node, f"the {key or 'model'} container names {path!r}, which the archive does "
                                       f"not hold")
        blobs[key] = ctx.blobs[path]
    if "ts_xml" not in blobs:
        raise _props.invalid(node, "the nugget has no ts_xml container (its TSCXML model)")
    return blobs


def _outputs(node: Node, model_el: etree._Element, models: dict[str, SeriesModel]) -> list[_Output]:
    """The nugget's outputs the node's settings ask for, each tied to the series model it comes from."""
    wanted = {"predictedValue": True,
              "lowerConfidenceLimit": _props.flag(node, "calculateConfidences"),
              "upperConfidenceLimit": _props.flag(node, "calculateConfidences"),
              "residual": _props.flag(node, "timeSeriesCalculateNoiseResiduals")}
    outputs = []
    for out in model_el.iterfind("outputs/output"):
        info = out.find("modelFieldInfo")
        role = info.get("role", "") if info is not None else ""
        target = info.get("targetField", "") if info is not None else ""
        name = (out.findtext("name") or "").strip()
        if role not in ROLES:
            raise _props.unsupported(node, f"output {name!r} has role {role!r}; expected one of {', '.join(ROLES)}")
        if not wanted[role]:
            continue
        model = models.get(target)
        if model is None:
            raise _props.invalid(node, f"output {name!r} is for {target!r}, which the TSCXML has no model for "
                                       f"(it has {sorted(models)})")
        if role in ("lowerConfidenceLimit", "upperConfidenceLimit") and not model.smoothing.has_limits:
            raise _props.unsupported(
                node, f"confidence limits ({name!r}) of the {model.name} model of {target!r} are not supported "
                      f"(calculateConfidences is on; limits need an additive model, an error variance and its "
                      f"degrees of freedom)", "calculateConfidences")
        outputs.append(_Output(SpssField(name, "real", "range"), role, target))
    if not any(o.role == "predictedValue" for o in outputs):
        raise _props.invalid(node, "the nugget lists no predictedValue output")
    return outputs


def _fits(data: bytes | None, models: dict[str, SeriesModel]) -> dict[str, _Fits]:
    """The stored historical fits: four blocks (fitted, lower, upper, residual) of the span, one series."""
    if data is None or len(models) != 1:
        return {}
    (model,) = models.values()
    try:
        values = np.array([float(v) for v in data.decode("ascii").split()])
    except (UnicodeDecodeError, ValueError):
        return {}
    m = model.period_length
    if values.size != 4 * m:
        return {}
    return {model.variable: _Fits(values[:m], values[m:2 * m], values[2 * m:3 * m])}
