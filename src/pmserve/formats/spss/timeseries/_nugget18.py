"""The Time Series nugget of Modeler 18 (``ExtensionApplyModelNode``, extension ``spss.ts``,
element ``ts_applier``): a PMML 4.2 ``TimeSeriesModel`` in the nugget's ``PMML`` content container
(a length-prefixed nested ZIP: ``0.xml`` the PMML, ``TSDPOutput.json`` the data preparation).

The PMML calls its series ``"0"``, ``"1"``, ...; ``TSDPOutput.json`` ``settings.metricFieldList``
names the stream fields they model and ``settings.dateTimeField`` the date field (``DATE``).  The
forecasts are scored by pmserve's PMML engine, ``h`` steps after the end of the estimation span,
from the final states the document stores.

With ``_doForecast`` on, the node appends ``_forecastSpan`` records after the input records: their
date field continues the input's last date by the model's interval (``settings.inputInterval`` x
``increments``: days, weeks, months, quarters, years; a last date on a month's last day stays on
the last day), their other fields are missing, and they carry the forecasts ``$TS-<field>`` for
``h = 1 .. span``, with ``$TSLCI-``/``$TSUCI-`` limits when ``_calculate_conf`` is on (at
``_confidenceLevelForScoring`` percent, from the document's ``errVariance`` and
``degreesOfFreedom`` extensions; additive models only).  The input records keep missing results:
Modeler's fitted values for them (a replay of the model over the request's series) are not
reproduced, and ``_calculate_residuals`` is refused for that reason.  Other extension nuggets are
refused naming their extension.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from lxml import etree

from pmserve import pmml
from pmserve.errors import DocumentError
from pmserve.formats.spss._model import Node, SpssField, StreamContext, Table
from pmserve.formats.spss.timeseries import _props
from pmserve.formats.spss.timeseries._extension_zip import read_extension_container
from pmserve.formats.spss.timeseries._intervals import MAX_FUTURE_RECORDS
from pmserve.formats.spss.timeseries._smoothing import Smoothing
from pmserve.formats.spss.timeseries._table import extend

#: The name of the horizon field pmserve adds to the document so that its engine scores h steps.
HORIZON = "$pmserve-horizon"
_MONTHS_PER = {"MONTH": 1, "QUARTER": 3, "YEAR": 12}
_DAYS_PER = {"DAY": 1, "WEEK": 7}
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)


@dataclass(eq=False)
class ApplyTimeSeries18:
    """A compiled Modeler 18 Time Series nugget."""

    node: Node
    inputs: tuple[SpssField, ...]
    added: tuple[SpssField, ...]
    metric: str
    date_field: str
    span: int
    months: int  # the interval in months (0 when in days)
    days: int
    forecasts: np.ndarray
    half_widths: np.ndarray | None

    @property
    def output_fields(self) -> tuple[SpssField, ...]:
        return self.inputs + self.added

    def run(self, inputs: Sequence[Table]) -> Table:
        (table,) = inputs
        n, total = table.n_rows, table.n_rows + self.span
        columns = extend(table, self.span)
        if self.span:
            dates = np.asarray(table.columns[self.date_field], dtype=np.float64)
            known = dates[np.isfinite(dates)]
            last = float(known.max()) if known.size else np.nan
            future = columns[self.date_field].copy()
            future[n:] = _continue(last, self.span, self.months, self.days)
            columns[self.date_field] = future
        results = [self.forecasts]
        if self.half_widths is not None:
            results += [self.forecasts - self.half_widths, self.forecasts + self.half_widths]
        for f, values in zip(self.added, results, strict=True):
            col = np.full(total, np.nan)
            col[n:] = values
            columns[f.name] = col
        return Table(self.output_fields, columns, total)


def compile_extension_apply(node: Node, inputs: Sequence[tuple[SpssField, ...]],
                            ctx: StreamContext) -> ApplyTimeSeries18:
    extension = node.element.get("extensionID", "")
    element = node.element.get("extensionElementID") or node.element.get("extensionObjectID") or ""
    if (extension, element) != ("spss.ts", "ts_applier"):
        raise _props.unsupported(node, f"extension nuggets of {extension or '(no extension)'}/{element or '?'} are "
                                       f"not supported; pmserve runs the Time Series nugget spss.ts/ts_applier")
    if len(inputs) != 1:
        raise _props.invalid(node, f"expected one upstream input, got {len(inputs)}")
    fields = inputs[0]
    entries = read_extension_container(_pmml_blob(node, ctx), f"{node.describe()}, PMML container")
    document = entries.get("0.xml") or entries.get("PMML.xml")
    if document is None or "TSDPOutput.json" not in entries:
        raise _props.invalid(node, f"the PMML container holds {sorted(entries)}; expected 0.xml (the PMML) and "
                                   f"TSDPOutput.json")
    settings = _settings(node, entries["TSDPOutput.json"])
    metrics = settings.get("metricFieldList")
    if not isinstance(metrics, list) or len(metrics) != 1 or not isinstance(metrics[0], str):
        raise _props.unsupported(node, f"TSDPOutput.json models the series {metrics!r}; expected exactly one metric "
                                       f"field")
    metric = metrics[0]
    date_field = str(settings.get("dateTimeField") or "")
    if date_field != _props.text(node, "_dateTimeField", date_field):
        raise _props.invalid(node, f"_dateTimeField {_props.text(node, '_dateTimeField')!r} differs from the "
                                   f"model's date field {date_field!r}")
    by_name = {f.name: f for f in fields}
    if date_field not in by_name or by_name[date_field].storage not in ("date", "timestamp"):
        raise _props.invalid(node, f"its date field {date_field!r} does not reach it as a date (fields: "
                                   f"{', '.join(by_name)})")
    interval = str(settings.get("inputInterval", ""))
    increments = settings.get("increments", 1)
    if (interval not in _MONTHS_PER and interval not in _DAYS_PER) or not isinstance(increments, int) \
            or increments < 1 or by_name[date_field].storage != "date":
        raise _props.unsupported(node, f"the interval {increments} x {interval} on a {by_name[date_field].storage} "
                                       f"field is not supported; expected days, weeks, months, quarters or years "
                                       f"on a date field")
    if _props.flag(node, "_calculate_residuals"):
        raise _props.unsupported(node, "_calculate_residuals needs Modeler's fitted values for the input records, "
                                       "which pmserve does not reproduce", "_calculate_residuals")
    span = _props.integer(node, "_forecastSpan", 0, 0, MAX_FUTURE_RECORDS) if _props.flag(node, "_doForecast") \
        else 0
    model, smoothing = _model(node, document)
    steps = np.arange(1, span + 1, dtype=np.float64)
    scored = model.score({HORIZON: steps, date_field: np.full(span, np.nan)})
    forecasts = np.asarray(scored[model.target_fields[0].name], dtype=np.float64)
    added = [SpssField(f"$TS-{metric}", "real", "range")]
    half_widths = None
    if _props.flag(node, "_calculate_conf"):
        if not smoothing.has_limits:
            raise _props.unsupported(node, f"confidence limits of a {smoothing.kind} model are not supported "
                                           f"(_calculate_conf is on)", "_calculate_conf")
        level = float(_props.build_setting(node, "_confidenceLevelForScoring") or 95.0)
        if not 0.0 < level < 100.0:
            raise _props.invalid(node, f"_confidenceLevelForScoring must lie between 0 and 100, got {level}")
        half_widths = smoothing.half_width(steps.astype(np.int64), level / 100.0) if span else np.zeros(0)
        added += [SpssField(f"$TSLCI-{metric}", "real", "range"), SpssField(f"$TSUCI-{metric}", "real", "range")]
    clash = sorted(set(by_name) & {f.name for f in added})
    if clash:
        raise _props.invalid(node, f"its outputs {clash} clash with fields reaching it")
    months = _MONTHS_PER.get(interval, 0) * increments
    days = _DAYS_PER.get(interval, 0) * increments
    return ApplyTimeSeries18(node, fields, tuple(added), metric, date_field, span, months, days, forecasts,
                             half_widths)


def _pmml_blob(node: Node, ctx: StreamContext) -> bytes:
    for container in node.element.iterfind("contentContainers/containers/container"):
        if container.get("name") == "PMML":
            content = container.find("content")
            path = content.get("content", "") if content is not None else ""
            if path not in ctx.blobs:
                raise _props.invalid(node, f"the PMML container names {path!r}, which the archive does not hold")
            return ctx.blobs[path]
    raise _props.invalid(node, "the nugget has no PMML content container")


def _settings(node: Node, data: bytes) -> dict[str, Any]:
    try:
        parsed = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise _props.invalid(node, f"TSDPOutput.json is not JSON: {exc}") from exc
    settings = parsed.get("settings") if isinstance(parsed, dict) else None
    if not isinstance(settings, dict):
        raise _props.invalid(node, "TSDPOutput.json has no settings object")
    return settings


def _model(node: Node, document: bytes) -> tuple[pmml.Model, Smoothing]:
    """The engine's model, with a horizon field added so that it scores h steps, and the smoothing it holds."""
    try:
        root = etree.fromstring(document, _PARSER)
    except etree.XMLSyntaxError as exc:
        raise _props.invalid(node, f"the nugget's PMML is not well-formed: {exc}") from exc
    ns = root.nsmap.get(None)
    q = (lambda tag: f"{{{ns}}}{tag}") if ns else (lambda tag: tag)
    models = root.findall(q("TimeSeriesModel"))
    if len(models) != 1 or root.find(q("DataDictionary")) is None:
        raise _props.unsupported(node, f"the nugget's PMML holds {len(models)} TimeSeriesModel elements; expected one")
    schema = models[0].find(q("MiningSchema"))
    if schema is None:
        raise _props.invalid(node, "the nugget's TimeSeriesModel has no MiningSchema")
    dictionary = root.find(q("DataDictionary"))
    assert dictionary is not None
    etree.SubElement(dictionary, q("DataField"), name=HORIZON, optype="continuous", dataType="integer")
    if dictionary.get("numberOfFields") is not None:
        dictionary.set("numberOfFields", str(len(dictionary.findall(q("DataField")))))
    etree.SubElement(schema, q("MiningField"), name=HORIZON, usageType="active")
    try:
        model = pmml.load(etree.tostring(root))
    except DocumentError as exc:
        raise _props.unsupported(node, f"its PMML TimeSeriesModel cannot be scored: {exc}") from exc
    return model, _smoothing(node, models[0], q)


def _smoothing(node: Node, model: etree._Element, q: Any) -> Smoothing:
    es = model.find(q("ExponentialSmoothing"))
    if es is None:
        raise _props.unsupported(node, "only ExponentialSmoothing time-series models are supported")
    level = es.find(q("Level"))
    trend = es.find(q("Trend_ExpoSmooth"))
    season = es.find(q("Seasonality_ExpoSmooth"))
    extensions = {e.get("name"): e.get("value") for e in model.findall(q("Extension"))}

    def number(el: etree._Element | None, attr: str, default: float | None = None) -> float:
        text = el.get(attr) if el is not None else None
        try:
            return float(text) if text is not None else float("nan") if default is None else default
        except ValueError:
            raise _props.invalid(node, f"the PMML attribute {attr} must be a number, got {text!r}") from None

    trend_kind = trend.get("trend", "additive") if trend is not None else None
    season_kind = season.get("type") if season is not None else None
    kind = {(None, None): "simple", ("additive", None): "holt", ("damped_additive", None): "damped",
            (None, "additive"): "simple_seasonal", ("additive", "additive"): "winters_additive",
            ("additive", "multiplicative"): "winters_multiplicative"}.get((trend_kind, season_kind), "other")
    seasons: tuple[float, ...] = ()
    if season is not None:
        array = season.find(q("Array"))
        seasons = tuple(float(v) for v in (array.text or "").split()) if array is not None else ()
    variance = extensions.get("errVariance")
    dof = extensions.get("degreesOfFreedom")
    try:
        return Smoothing(
            kind=kind, alpha=number(level, "alpha"), level=number(level, "smoothedValue"),
            gamma=number(trend, "gamma", 0.0), phi=number(trend, "phi", 1.0), delta=number(season, "delta", 0.0),
            trend=number(trend, "smoothedValue", 0.0), seasons=seasons,
            error_variance=float(variance) if variance is not None else None,
            degrees_of_freedom=int(dof) if dof is not None else None)
    except ValueError:
        raise _props.invalid(node, f"the PMML extensions errVariance {variance!r} and degreesOfFreedom {dof!r} "
                                   f"must be numbers") from None


def _continue(last: float, count: int, months: int, days: int) -> np.ndarray:
    """``count`` dates after ``last`` (days since 1970) by ``months`` months or ``days`` days each."""
    steps = np.arange(1, count + 1)
    if not np.isfinite(last):
        return np.full(count, np.nan)
    if days:
        return np.asarray(last + days * steps.astype(np.float64), dtype=np.float64)
    day = np.datetime64(int(last), "D")
    month = day.astype("datetime64[M]")
    day_of_month = int((day - month.astype("datetime64[D]")).astype(np.int64))
    month_end = (month + 1).astype("datetime64[D]") - 1 == day
    targets = month + months * steps
    lengths = ((targets + 1).astype("datetime64[D]") - targets.astype("datetime64[D]")).astype(np.int64)
    offsets = lengths - 1 if month_end else np.minimum(day_of_month, lengths - 1)
    first_days: np.ndarray = targets.astype("datetime64[D]").astype(np.int64)
    return np.asarray(first_days + offsets, dtype=np.float64)
