"""TSCXML, the time-series component XML of Modeler 16/17 Time Series nuggets (``ts_xml``).

Only exponential-smoothing models (``ExpSmoothingModel``) are read; ARIMA models and anything
else are refused by name.  A model element holds the parameter estimates (``Parm*`` with
``EstimatedParameter`` = "estimate standard-error"), the final states at the end of the
estimation span (``StateLevel``, ``StateTrend``, ``StateSeason@phase``) and ``EstimationInfo``
(span, degrees of freedom, ``errVariance``).

``StateSeason`` lists one seasonal state per phase of the cycle, starting at phase ``@phase``,
where the case ``i`` (0-based, counted from the start of the data) is in phase ``i mod s + 1``:
checked on catalog_timeseries.str, whose stored historical fits the states reproduce exactly
when the recursion is run backwards from them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from lxml import etree

from pmserve.errors import InvalidMarkupError, UnsupportedMarkupError
from pmserve.formats.spss.timeseries._smoothing import Smoothing

NS = "{http://www.ibm.com/software/analytics/spss/xml/components/time-series}"

# Element of the model -> kind.  ESSimpleSeasonal, ESAdditiveWinters and ESMultiplicativeWinters
# occur in real streams; the names of the four non-seasonal elements follow the same pattern.
_KIND_OF = {
    "ESSimple": "simple",
    "ESHolt": "holt",
    "ESBrown": "brown",
    "ESDampedTrend": "damped",
    "ESSimpleSeasonal": "simple_seasonal",
    "ESAdditiveWinters": "winters_additive",
    "ESMultiplicativeWinters": "winters_multiplicative",
}
_PARAMETER_OF = {"ParmLevel": "alpha", "ParmTrend": "gamma", "ParmDamping": "phi", "ParmSeason": "delta"}
_NEEDS = {
    "simple": ("alpha",), "holt": ("alpha", "gamma"), "brown": ("alpha",), "damped": ("alpha", "gamma", "phi"),
    "simple_seasonal": ("alpha", "delta"), "winters_additive": ("alpha", "gamma", "delta"),
    "winters_multiplicative": ("alpha", "gamma", "delta"),
}
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)


@dataclass(frozen=True)
class SeriesModel:
    """The model of one target series: its smoothing and the span it was estimated on."""

    variable: str
    name: str  # modelName, e.g. "Additive Winters'"
    smoothing: Smoothing
    period_start: int  # 0-based index of the first case of the estimation span
    period_length: int  # cases in the estimation span


def read_tscxml(data: bytes, where: str) -> dict[str, SeriesModel]:
    """The exponential-smoothing models of a TSCXML document by target variable.

    ``where`` names the blob and node in messages.
    """
    try:
        root = etree.fromstring(data, _PARSER)
    except etree.XMLSyntaxError as exc:
        raise InvalidMarkupError(f"{where}: the TSCXML is not well-formed XML: {exc}", element="TSCXML") from exc
    if root.tag != NS + "TSCXML":
        raise InvalidMarkupError(f"{where}: expected a TSCXML document, got root element {_local(root)!r}",
                                 element=_local(root))
    models: dict[str, SeriesModel] = {}
    for child in root:
        tag = _local(child)
        if tag in ("Header", "DataDictionary", ""):
            continue
        if tag != "ExpSmoothingModel":
            raise UnsupportedMarkupError(
                f"{where}: {tag} models are not supported; expected ExpSmoothingModel (exponential smoothing)",
                element=tag, line=_line(child))
        model = _series(child, where)
        if model.variable in models:
            raise InvalidMarkupError(f"{where}: two models for the variable {model.variable!r}",
                                     element=tag, line=_line(child))
        models[model.variable] = model
    if not models:
        raise InvalidMarkupError(f"{where}: the TSCXML holds no ExpSmoothingModel", element="TSCXML")
    return models


def _series(el: etree._Element, where: str) -> SeriesModel:
    variable = el.get("variableID")
    if not variable:
        raise InvalidMarkupError(f"{where}: ExpSmoothingModel needs a variableID", element="ExpSmoothingModel",
                                 line=_line(el))
    es = _smoothing_element(el, variable, where)
    kind = _KIND_OF[_local(es)]
    states = _states(es, where)
    _check_states(es, kind, states, variable, where)
    start, length, variance, dof = _estimation_info(el, variable, where)
    smoothing = Smoothing(
        kind=kind, alpha=states.params["alpha"], level=states.level or 0.0, gamma=states.params.get("gamma", 0.0),
        phi=states.params.get("phi", 1.0), delta=states.params.get("delta", 0.0), trend=states.trend or 0.0,
        seasons=_seasons_ahead(es, kind, states, start + length, variable, where),
        error_variance=variance, degrees_of_freedom=dof)
    return SeriesModel(variable, el.get("modelName", _local(es)), smoothing, start, length)


def _smoothing_element(el: etree._Element, variable: str, where: str) -> etree._Element:
    """The one smoothing model element (``SimpleExpSmoothing``, ``HoltExpSmoothing``, …) of a series."""
    body = [c for c in el if _local(c) not in ("", "EstimationInfo")]
    if len(body) != 1 or _local(body[0]) not in _KIND_OF:
        names = [_local(c) for c in body]
        raise UnsupportedMarkupError(
            f"{where}: the model of {variable!r} is {names}; expected one of {sorted(_KIND_OF)}",
            element="ExpSmoothingModel", line=_line(el))
    return body[0]


@dataclass
class _States:
    """A smoothing model's estimated parameters and its final states, as written."""

    params: dict[str, float] = field(default_factory=dict)
    level: float | None = None
    trend: float | None = None
    seasons: list[float] = field(default_factory=list)
    phase: int = 1


def _states(es: etree._Element, where: str) -> _States:
    states = _States()
    for part in es:
        tag = _local(part)
        if not tag:
            continue
        if tag in _PARAMETER_OF:
            est = part.find(NS + "EstimatedParameter")
            states.params[_PARAMETER_OF[tag]] = _numbers(est, where, 1)[0] if est is not None else _missing(tag, where)
        elif tag == "StateLevel":
            states.level = _numbers(part, where, 1)[0]
        elif tag == "StateTrend":
            states.trend = _numbers(part, where, 1)[0]
        elif tag == "StateSeason":
            states.seasons = _numbers(part, where, 1)
            states.phase = _integer(part.get("phase", "1"), "StateSeason@phase", where)
        else:
            raise UnsupportedMarkupError(f"{where}: {tag} in {_local(es)} is not supported",
                                         element=tag, line=_line(part))
    return states


def _check_states(es: etree._Element, kind: str, states: _States, variable: str, where: str) -> None:
    """Every parameter the kind of smoothing needs, and its final level (and trend)."""
    for needed in _NEEDS[kind]:
        if needed not in states.params:
            raise InvalidMarkupError(f"{where}: {_local(es)} of {variable!r} has no estimate of {needed}",
                                     element=_local(es), line=_line(es))
    if states.level is None or (kind in ("holt", "brown", "damped", "winters_additive", "winters_multiplicative")
                                and states.trend is None):
        raise InvalidMarkupError(f"{where}: {_local(es)} of {variable!r} lacks its final states "
                                 f"(StateLevel{', StateTrend' if kind != 'simple' else ''})",
                                 element=_local(es), line=_line(es))


def _estimation_info(el: etree._Element, variable: str, where: str) -> tuple[int, int, float | None, int | None]:
    """The estimation span (start, length), error variance and degrees of freedom of a series."""
    info = el.find(NS + "EstimationInfo")
    start = length = 0
    variance: float | None = None
    dof: int | None = None
    if info is not None:
        start = _integer(info.get("periodStartIndex", "0"), "periodStartIndex", where)
        length = _integer(info.get("periodLength", "0"), "periodLength", where)
        if info.get("degreesOfFreedom") is not None:
            dof = _integer(info.get("degreesOfFreedom", ""), "degreesOfFreedom", where)
        for stat in info.findall(NS + "Statistic"):
            if stat.get("type") == "errVariance":
                variance = _numbers(stat, where, 1)[0]
    if length < 1:
        raise InvalidMarkupError(f"{where}: the model of {variable!r} gives no estimation span "
                                 f"(EstimationInfo@periodLength)", element="EstimationInfo")
    return start, length, variance, dof


def _seasons_ahead(es: etree._Element, kind: str, states: _States, first: int, variable: str,
                   where: str) -> tuple[float, ...]:
    """The seasonal states in the order forecasts use them, from the first case after the span."""
    seasonal = kind in ("simple_seasonal", "winters_additive", "winters_multiplicative")
    season_length = int(es.get("seasonLength", "0") or 0) if seasonal else 0
    if not season_length:
        if seasonal:
            raise InvalidMarkupError(f"{where}: {_local(es)} of {variable!r} needs a positive seasonLength",
                                     element=_local(es), line=_line(es))
        return ()
    seasons, phase = states.seasons, states.phase
    if len(seasons) != season_length or not 1 <= phase <= season_length:
        raise InvalidMarkupError(
            f"{where}: {_local(es)} of {variable!r} has season length {season_length} but "
            f"{len(seasons)} seasonal states starting at phase {phase}", element="StateSeason")
    # The forecast h is case start + length - 1 + h, in phase (start + length + h - 1) mod s + 1.
    return tuple(seasons[((first + k) % season_length - (phase - 1)) % season_length] for k in range(season_length))


def _local(el: etree._Element) -> str:
    """The element's local name ("" for comments and processing instructions)."""
    tag: object = el.tag
    return etree.QName(tag).localname if isinstance(tag, str) else ""


def _line(el: etree._Element) -> int | None:
    line: object = el.sourceline
    return line if isinstance(line, int) else None


def _numbers(el: etree._Element, where: str, at_least: int) -> list[float]:
    try:
        values = [float(v) for v in (el.text or "").split()]
    except ValueError:
        values = []
    if len(values) < at_least:
        raise InvalidMarkupError(f"{where}: {_local(el)} must hold numbers, got {(el.text or '').strip()[:40]!r}",
                                 element=_local(el), line=_line(el))
    return values


def _integer(text: str, what: str, where: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise InvalidMarkupError(f"{where}: {what} must be an integer, got {text!r}", element=what) from None


def _missing(tag: str, where: str) -> float:
    raise InvalidMarkupError(f"{where}: {tag} has no EstimatedParameter", element=tag)
