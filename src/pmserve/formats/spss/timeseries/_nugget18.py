"""The Time Series nugget of Modeler 18 (``ExtensionApplyModelNode``, extension ``spss.ts``,
element ``ts_applier``): a PMML 4.2 ``TimeSeriesModel`` (exponential smoothing) in the nugget's
``PMML`` content container (a length-prefixed nested ZIP: ``0.xml`` the PMML, ``TSDPOutput.json``
the data preparation).

The PMML calls its series ``"0"``; ``TSDPOutput.json`` ``settings.metricFieldList`` names the
stream field it models and ``settings.dateTimeField`` the date field (``DATE``).  Besides the final
states, Modeler stores the initial ones (``initLevel``, ``initTrend``, ``initSeason``
extensions): the model is applied to the request's series as to the one it was estimated on, the
recursion run from the initial states over the input records (one per interval, in time order)
gives their one-step fitted values, and the forecasts continue from the states it ends with.  On
the estimation series this ends exactly on the document's final states (checked on the nugget
of financial-performance-prediction.str), whose forecasts pmserve's PMML engine computes at deploy
as a check of this reading.

With ``_doForecast`` on, ``_forecastSpan`` records are appended: their date continues the last
input date by the model's interval (``inputInterval`` x ``increments``: days, weeks, months,
quarters, years; a last date on a month's last day stays on the last day), their other fields are
missing, and they carry the forecasts ``h = 1 .. span``.  Results: ``$TS-<field>`` (fitted value or
forecast), ``$TSLCI-``/``$TSUCI-`` with ``_calculate_conf`` (at ``_confidenceLevelForScoring``
percent, from the document's ``errVariance`` and ``degreesOfFreedom``: one-step limits on the
input records, ``h``-step ones on the forecasts; additive models only), ``$TSNR-`` with
``_calculate_residuals`` (the field minus ``$TS-`` on the input records).  Other extension nuggets
are refused naming their extension.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from lxml import etree

from pmserve import pmml
from pmserve.errors import DataError, DocumentError
from pmserve.formats.spss._model import Node, SpssField, StreamContext, Table
from pmserve.formats.spss.timeseries import _props
from pmserve.formats.spss.timeseries._extension_zip import read_extension_container
from pmserve.formats.spss.timeseries._intervals import MAX_FUTURE_RECORDS
from pmserve.formats.spss.timeseries._smoothing import SEASONAL, TRENDED, Smoothing, replay
from pmserve.formats.spss.timeseries._table import AddsFields, extend

#: The name of the horizon field pmserve adds to the document so that its engine scores h steps.
HORIZON = "$pmserve-horizon"
_MONTHS_PER = {"MONTH": 1, "QUARTER": 3, "YEAR": 12}
_DAYS_PER = {"DAY": 1, "WEEK": 7}
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)


@dataclass(eq=False)
class ApplyTimeSeries18(AddsFields):
    """A compiled Modeler 18 Time Series nugget."""

    metric: str
    date_field: str
    span: int
    months: int  # the interval in months (0 when in days)
    days: int
    smoothing: Smoothing  # as stored: the final states of the estimation series
    initial: _Initial
    limits: bool
    one_step: float  # half width of the one-step limits
    half_widths: np.ndarray  # of the forecasts h = 1 .. span
    residuals: bool

    def run(self, inputs: Sequence[Table]) -> Table:
        (table,) = inputs
        n, total = table.n_rows, table.n_rows + self.span
        dates = np.asarray(table.columns[self.date_field], dtype=np.float64)
        self._check_spacing(dates)
        series = np.asarray(table.columns[self.metric], dtype=np.float64) if self.metric in table.columns \
            else np.full(n, np.nan)
        fitted, final = replay(self.smoothing, series, self.initial.level, self.initial.trend, self.initial.seasons)
        columns = extend(table, self.span)
        predicted = np.concatenate([fitted, final.forecast(np.arange(1, self.span + 1))])
        results = [predicted]
        if self.limits:
            spread = np.concatenate([np.full(n, self.one_step), self.half_widths])
            results += [predicted - spread, predicted + spread]
        if self.residuals:
            results.append(np.concatenate([series - fitted, np.full(self.span, np.nan)]))
        for f, values in zip(self.added, results, strict=True):
            columns[f.name] = values
        if self.span:
            future = columns[self.date_field].copy()
            future[n:] = _continue(float(dates[-1]) if n else np.nan, self.span, self.months, self.days)
            columns[self.date_field] = future
        return Table(self.output_fields, columns, total)

    def _check_spacing(self, dates: np.ndarray) -> None:
        """One input record per interval, in time order (Modeler would aggregate or fill in otherwise)."""
        if not np.isfinite(dates).all():
            row = int(np.flatnonzero(~np.isfinite(dates))[0])
            raise DataError(f"the date field {self.date_field!r} is missing; the Time Series "
                            f"nugget needs one dated record per interval", field=self.date_field, row=row)
        if self.months:
            day = dates.astype(np.int64).astype("datetime64[D]")
            index = day.astype("datetime64[M]").astype(np.int64)
            step = self.months
        else:
            index = np.floor(dates).astype(np.int64)
            step = self.days
        bad = np.flatnonzero(np.diff(index) != step)
        if bad.size:
            row = int(bad[0]) + 1
            raise DataError(
                f"the records must come one per interval ({step} {'month' if self.months else 'day'}(s)) in time "
                f"order; the date does not follow the one before it: Modeler would aggregate or "
                f"fill in, which pmserve does not", field=self.date_field, row=row)


@dataclass(frozen=True)
class _Initial:
    """The initial states (``initLevel``, ``initTrend``, ``initSeason``) the recursion starts from."""

    level: float
    trend: float
    seasons: tuple[float, ...]


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
    document, settings = _container(node, ctx)
    metric, date_field = _series_fields(node, settings, fields)
    months, days = _interval(node, settings)
    span = _props.integer(node, "_forecastSpan", 0, 0, MAX_FUTURE_RECORDS) if _props.flag(node, "_doForecast") \
        else 0
    smoothing, initial = _read_model(node, document)
    added = [SpssField(f"$TS-{metric}", "real", "range")]
    limits = _props.flag(node, "_calculate_conf")
    one_step, half_widths = _limits(node, smoothing, span) if limits else (0.0, np.zeros(span))
    if limits:
        added += [SpssField(f"$TSLCI-{metric}", "real", "range"), SpssField(f"$TSUCI-{metric}", "real", "range")]
    residuals = _props.flag(node, "_calculate_residuals")
    if residuals:
        added.append(SpssField(f"$TSNR-{metric}", "real", "range"))
    clash = sorted({f.name for f in fields} & {f.name for f in added})
    if clash:
        raise _props.invalid(node, f"its outputs {clash} clash with fields reaching it")
    return ApplyTimeSeries18(node, fields, tuple(added), metric, date_field, span, months, days,
                             smoothing, initial, limits, one_step, half_widths, residuals)


def _container(node: Node, ctx: StreamContext) -> tuple[bytes, dict[str, Any]]:
    """The nugget's PMML document and its TSDPOutput.json settings, from its PMML container."""
    entries = read_extension_container(_pmml_blob(node, ctx), f"{node.describe()}, PMML container",
                                       ctx.max_inflated_bytes)
    document = entries.get("0.xml") or entries.get("PMML.xml")
    if document is None or "TSDPOutput.json" not in entries:
        raise _props.invalid(node, f"the PMML container holds {sorted(entries)}; expected 0.xml (the PMML) and "
                                   f"TSDPOutput.json")
    return document, _settings(node, entries["TSDPOutput.json"])


def _series_fields(node: Node, settings: dict[str, Any], fields: Sequence[SpssField]) -> tuple[str, str]:
    """The series (metric) field and the date field, as the settings name them and they reach the node."""
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
    if date_field not in by_name or by_name[date_field].storage != "date":
        raise _props.invalid(node, f"its date field {date_field!r} does not reach it as a date (fields: "
                                   f"{', '.join(by_name)})")
    if metric not in by_name or by_name[metric].storage not in ("integer", "real"):
        raise _props.invalid(node, f"its series {metric!r} does not reach it as a number (fields: "
                                   f"{', '.join(by_name)})")
    return metric, date_field


def _interval(node: Node, settings: dict[str, Any]) -> tuple[int, int]:
    """The series' interval as (months, days), one of them 0."""
    interval = str(settings.get("inputInterval", ""))
    increments = settings.get("increments", 1)
    if (interval not in _MONTHS_PER and interval not in _DAYS_PER) or not isinstance(increments, int) \
            or increments < 1:
        raise _props.unsupported(node, f"the interval {increments} x {interval} is not supported; expected days, "
                                       f"weeks, months, quarters or years")
    return _MONTHS_PER.get(interval, 0) * increments, _DAYS_PER.get(interval, 0) * increments


def _limits(node: Node, smoothing: Smoothing, span: int) -> tuple[float, np.ndarray]:
    """Half widths of the confidence limits: of the one-step predictions, and of forecasts 1 .. span."""
    if not smoothing.has_limits:
        raise _props.unsupported(node, f"confidence limits of a {smoothing.kind} model are not supported "
                                       f"(_calculate_conf is on)", "_calculate_conf")
    level = float(_props.build_setting(node, "_confidenceLevelForScoring") or 95.0)
    if not 0.0 < level < 100.0:
        raise _props.invalid(node, f"_confidenceLevelForScoring must lie between 0 and 100, got {level}")
    widths = smoothing.half_width(np.arange(1, max(span, 1) + 1), level / 100.0)
    return float(widths[0]), widths[:span]


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


def _read_model(node: Node, document: bytes) -> tuple[Smoothing, _Initial]:
    """The smoothing the document holds and its initial states; pmserve's PMML engine must agree
    with this reading on the forecasts from the stored final states (a check at deploy)."""
    try:
        root = etree.fromstring(document, _PARSER)
    except etree.XMLSyntaxError as exc:
        raise _props.invalid(node, f"the nugget's PMML is not well-formed: {exc}") from exc
    ns = root.nsmap.get(None)
    q = (lambda tag: f"{{{ns}}}{tag}") if ns else (lambda tag: tag)
    models = root.findall(q("TimeSeriesModel"))
    if len(models) != 1 or root.find(q("DataDictionary")) is None:
        raise _props.unsupported(node, f"the nugget's PMML holds {len(models)} TimeSeriesModel elements; expected one")
    smoothing = _smoothing(node, models[0], q)
    initial = _initial(node, models[0], q, smoothing)
    schema = models[0].find(q("MiningSchema"))
    dictionary = root.find(q("DataDictionary"))
    if schema is None or dictionary is None:
        raise _props.invalid(node, "the nugget's TimeSeriesModel has no MiningSchema")
    etree.SubElement(dictionary, q("DataField"), name=HORIZON, optype="continuous", dataType="integer")
    if dictionary.get("numberOfFields") is not None:
        dictionary.set("numberOfFields", str(len(dictionary.findall(q("DataField")))))
    etree.SubElement(schema, q("MiningField"), name=HORIZON, usageType="active")
    try:
        engine = pmml.load(etree.tostring(root))
    except DocumentError as exc:
        raise _props.unsupported(node, f"its PMML TimeSeriesModel cannot be scored: {exc}") from exc
    steps = np.arange(1.0, 2.0 * max(len(smoothing.seasons), 1) + 1.0)
    inputs = {f.name: np.full(len(steps), np.nan) for f in engine.input_fields}
    inputs[HORIZON] = steps
    scored = np.asarray(engine.score(inputs)[engine.target_fields[0].name], dtype=np.float64)
    if not np.allclose(scored, smoothing.forecast(steps), rtol=1e-12, atol=0.0):
        raise _props.unsupported(node, f"pmserve's PMML engine and the nugget reader disagree on the forecasts of "
                                       f"its {smoothing.kind} model ({scored[:3]} vs {smoothing.forecast(steps)[:3]})")
    return smoothing, initial


def _initial(node: Node, model: etree._Element, q: Any, smoothing: Smoothing) -> _Initial:
    extensions = {e.get("name"): e for e in model.findall(q("Extension"))}

    def value(name: str, needed: bool) -> float:
        el = extensions.get(name)
        if el is None:
            if needed:
                raise _props.unsupported(node, f"the nugget's PMML has no {name} extension (the initial state the "
                                               f"model is run from)")
            return 0.0
        try:
            return float(el.get("value", ""))
        except ValueError:
            raise _props.invalid(node, f"the PMML extension {name} must be a number, got {el.get('value')!r}") \
                from None

    level = value("initLevel", True)
    trend = value("initTrend", smoothing.kind in TRENDED)
    seasons: tuple[float, ...] = ()
    if smoothing.kind in SEASONAL:
        el = extensions.get("initSeason")
        array = el.find(q("Array")) if el is not None else None
        try:
            seasons = tuple(float(v) for v in (array.text or "").split()) if array is not None else ()
        except ValueError:
            seasons = ()
        if len(seasons) != len(smoothing.seasons):
            raise _props.unsupported(node, f"the nugget's PMML has no initSeason extension of {len(smoothing.seasons)} "
                                           f"numbers (the initial seasonal states)")
    return _Initial(level, trend, seasons)


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
            ("additive", "multiplicative"): "winters_multiplicative"}.get((trend_kind, season_kind))
    if kind is None:
        raise _props.unsupported(node, f"a {trend_kind or 'no'} trend with {season_kind or 'no'} seasonality is not "
                                       f"supported; expected an additive or damped additive trend or none, and "
                                       f"additive or multiplicative seasonality or none")
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
