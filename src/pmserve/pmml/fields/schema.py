"""Fields: the DataDictionary, compile-time scopes, and MiningSchema input treatment.

PMML 4.4 "DataDictionary" and "MiningSchema": a value is first classified as missing, invalid
or valid (Value/@property, Interval); then the MiningField's treatments apply - missing value
replacement, invalid value treatment (returnInvalid, asIs, asMissing, asValue) and outlier
treatment of valid continuous values (asIs, asMissingValues, asExtremeValues).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import numpy as np
import numpy.typing as npt

from pmserve.errors import DataError, InvalidValueError, excerpt
from pmserve.pmml.document import attributes as attribute
from pmserve.pmml.document.element import Element
from pmserve.pmml.document.problems import Problems
from pmserve.pmml.fields.categorical import isin
from pmserve.pmml.fields.field import Field, Interval
from pmserve.pmml.fields.frame import Deferred, Expr, Frame
from pmserve.pmml.fields.types import Array, DataType, empty, is_missing, parse_scalar

Bools = npt.NDArray[np.bool_]


@dataclass(frozen=True)
class FieldInfo:
    """What is known of a field at compile time."""

    name: str
    dtype: DataType
    optype: str
    valid: tuple[Any, ...] = ()
    invalid: tuple[Any, ...] = ()
    missing: tuple[Any, ...] = ()
    intervals: tuple[Interval, ...] = ()
    display: Mapping[Any, str] = field(default_factory=dict)
    value_texts: tuple[str, ...] = ()
    is_data_field: bool = False

    def public(self) -> Field:
        return Field(self.name, self.dtype, self.optype, self.value_texts, self.intervals, None)


class Scope:
    """Compile-time names in reach: fields of the document, a model, or its outputs."""

    def __init__(self, parent: Scope | None = None) -> None:
        self.parent = parent
        self.fields: dict[str, FieldInfo] = {}

    def add(self, info: FieldInfo) -> None:
        self.fields[info.name] = info

    def lookup(self, name: str) -> FieldInfo | None:
        s: Scope | None = self
        while s is not None:
            f = s.fields.get(name)
            if f is not None:
                return f
            s = s.parent
        return None


def parse_optype(el: Element, problems: Problems, default: str | None = None) -> str:
    op = attribute.choice(el, "optype", ("continuous", "categorical", "ordinal"), problems, default,
                          required=default is None)
    return op or "continuous"


def parse_dtype(el: Element, problems: Problems, default: DataType | None = None) -> DataType:
    text = attribute.text(el, "dataType", problems, required=default is None)
    if text is None:
        return default or DataType.DOUBLE
    try:
        return DataType.parse(text)
    except ValueError as exc:
        problems.unsupported(str(exc), el)
        return DataType.DOUBLE


def parse_data_field(el: Element, problems: Problems) -> FieldInfo:
    name = attribute.text(el, "name", problems, required=True, empty=False) or f"<unnamed line {el.line}>"
    dtype = parse_dtype(el, problems)
    optype = parse_optype(el, problems)
    by_property: dict[str, list[Any]] = {"valid": [], "invalid": [], "missing": []}
    texts: list[str] = []
    display: dict[Any, str] = {}
    for v in el.findall("Value"):
        text = attribute.text(v, "value", problems, required=True)
        prop = attribute.choice(v, "property", tuple(by_property), problems, "valid")
        if text is None or prop is None:
            continue
        try:
            scalar = parse_scalar(dtype, text)
        except ValueError as exc:
            if prop == "valid":
                problems.invalid(f"Value {text!r} of field {name!r}: {exc}", v)
                continue
            scalar = text  # a missing/invalid marker need not be of the field's type ("?" on a number)
        by_property[prop].append(scalar)
        if prop == "valid":
            texts.append(text)
            if v.get("displayValue") is not None:
                display[scalar] = v.get("displayValue", "")
    valid, invalid, missing = (tuple(by_property[prop]) for prop in ("valid", "invalid", "missing"))
    intervals = tuple(parse_interval(i, problems) for i in el.findall("Interval"))
    return FieldInfo(name, dtype, optype, valid, invalid, missing, intervals, display, tuple(texts), is_data_field=True)


def parse_interval(el: Element, problems: Problems) -> Interval:
    closure = attribute.choice(el, "closure", ("openClosed", "openOpen", "closedOpen", "closedClosed"), problems,
                               "closedClosed")
    left = attribute.number(el, "leftMargin", problems)
    right = attribute.number(el, "rightMargin", problems)
    return Interval(closure or "closedClosed", left, right)


# -- value classification ------------------------------------------------------------------------


def membership(values: Array, members: Iterable[Any]) -> Bools:
    """Vectorised ``value in members`` for an engine column (missing is never a member)."""
    members = list(members)
    if values.dtype == object:
        return isin(values, members)
    nums = [np.float64(m) for m in members if isinstance(m, float)]
    if not nums:
        return np.zeros(len(values), dtype=bool)
    if len(nums) > 8:
        return np.isin(values, np.asarray(nums, dtype=np.float64))
    # A few markers (the usual case): one comparison each, far cheaper than isin on a short
    # column (a single record pays isin's ~6 µs per field).  float64 scalars, so a float32
    # column compares as isin does, in float64.
    hit: Bools = values == nums[0]
    for m in nums[1:]:
        hit |= values == m
    return hit


def in_intervals(values: Array, intervals: tuple[Interval, ...]) -> Bools:
    ok = np.zeros(len(values), dtype=bool)
    with np.errstate(invalid="ignore"):
        for iv in intervals:
            m = np.ones(len(values), dtype=bool)
            if iv.left is not None:
                m &= (values > iv.left) if iv.closure.startswith("open") else (values >= iv.left)
            if iv.right is not None:
                m &= (values < iv.right) if iv.closure.endswith("Open") else (values <= iv.right)
            ok |= m
    return ok


def classify(info: FieldInfo, values: Array) -> tuple[Array, Bools, Bools]:
    """Split a column into (values with missing markers cleared, missing mask, invalid mask)."""
    if info.missing:
        marked = membership(values, info.missing)
        if marked.any():
            values = values.copy()
            values[marked] = None if values.dtype == object else np.nan
    missing = is_missing(values)
    invalid = np.zeros(len(values), dtype=bool)
    if info.invalid:
        invalid |= membership(values, info.invalid)
    if info.optype == "continuous" or info.dtype.is_temporal:
        if info.intervals:
            ok = in_intervals(values, info.intervals)
            if info.valid:
                ok |= membership(values, info.valid)
            invalid |= ~ok & ~missing
    elif info.valid:
        invalid |= ~membership(values, info.valid) & ~missing
    return values, missing, invalid


# -- MiningSchema --------------------------------------------------------------------------------


@dataclass(frozen=True)
class MiningField:
    name: str
    usage: str
    info: FieldInfo
    missing_replacement: Any = None
    missing_treatment: str | None = None
    invalid_treatment: str = "returnInvalid"
    invalid_replacement: Any = None
    outliers: str = "asIs"
    low: float | None = None
    high: float | None = None
    importance: float | None = None

    @property
    def is_input(self) -> bool:
        return self.usage in ("active", "supplementary", "group", "order", "frequencyWeight",
                              "analysisWeight")

    @property
    def alters_values(self) -> bool:
        """Whether treatment can give a model other values than its parent sees."""
        return (self.missing_replacement is not None or self.outliers != "asIs"
                or self.invalid_treatment in ("asMissing", "asValue"))

    @property
    def needs_treatment(self) -> bool:
        return self.info.is_data_field or self.missing_replacement is not None or self.outliers != "asIs"

    @property
    def can_flag_invalid(self) -> bool:
        """Whether :func:`classify` can find a value of this field missing-marked or invalid.

        A continuous field without Intervals, or a categorical one without valid Values, accepts
        every value; with no missing or invalid markers either, its treatment is the identity.
        """
        info = self.info
        if info.missing or info.invalid:
            return True
        if info.optype == "continuous" or info.dtype.is_temporal:
            return bool(info.intervals)
        return bool(info.valid)

    def treat(self, frame: Frame, values: Array, unreadable: Deferred | None = None) -> Array:
        """Apply this field's missing, invalid and outlier treatments (PMML 4.4 MiningField).

        ``unreadable`` are the records whose given value could not be read as the field's type
        (they hold a missing value): invalid values, made missing by asMissing, replaced by
        asValue, and failing their record where it reads them otherwise (JPMML-Evaluator).
        returnInvalid defers its failures to the reads (:meth:`Frame.defer`).
        """
        if self.info.is_data_field:
            values, missing, invalid = classify(self.info, values)
        else:
            missing = is_missing(values)
            invalid = np.zeros(len(values), dtype=bool)
        if unreadable is not None:
            missing, invalid = self._with_unreadable(frame, unreadable, missing, invalid)
        given_missing = missing  # before asMissing adds the invalid values it makes missing
        out, missing = self._treat_invalid(frame, values, missing, invalid)
        if self.missing_treatment == "returnInvalid" and given_missing.any():
            # PMML 4.4 missingValueTreatment returnInvalid: a missing value fails the record where
            # the model reads it (JPMML: "cannot accept missing value"), replacement or not.
            frame.defer(self.name, given_missing.copy(), _missing_refused(self.name))
        if self.outliers != "asIs" and not self.info.dtype.is_string:
            out, missing = self._treat_outliers(out, missing, invalid)
        if self.missing_replacement is not None and missing.any():
            out = out.copy()
            out[missing] = self.missing_replacement
        return out

    def _with_unreadable(self, frame: Frame, unreadable: Deferred, missing: Bools,
                         invalid: Bools) -> tuple[Bools, Bools]:
        """The missing and invalid masks once the unreadable values count as invalid; returnInvalid
        and asIs defer them to the reads instead (an unreadable value cannot be kept as it is)."""
        rows, make = unreadable
        missing = missing & ~rows
        if self.invalid_treatment in ("returnInvalid", "asIs"):
            frame.defer(self.name, rows, make)
            return missing, invalid
        return missing, invalid | rows

    def _treat_invalid(self, frame: Frame, values: Array, missing: Bools,
                       invalid: Bools) -> tuple[Array, Bools]:
        """The values after invalidValueTreatment, and the missing mask (asMissing adds to it)."""
        treatment = self.invalid_treatment
        if treatment == "asIs" or not invalid.any():
            return values, missing
        if treatment == "returnInvalid":
            frame.defer(self.name, invalid, _invalid_refused(self.name, self.info, values, frame.rows))
            return values, missing
        out = values.copy()
        if treatment == "asMissing":
            out[invalid] = None if out.dtype == object else np.nan
            return out, missing | invalid
        out[invalid] = self.invalid_replacement  # asValue
        return out, missing

    def _treat_outliers(self, out: Array, missing: Bools, invalid: Bools) -> tuple[Array, Bools]:
        """The values after outlier treatment of the valid ones, and the missing mask."""
        valid = ~missing & ~invalid
        with np.errstate(invalid="ignore"):
            low = valid & (out < self.low) if self.low is not None else np.zeros(len(out), dtype=bool)
            high = valid & (out > self.high) if self.high is not None else np.zeros(len(out), dtype=bool)
        if not (low.any() or high.any()):
            return out, missing
        out = out.copy()
        if self.outliers == "asMissingValues":
            out[low | high] = np.nan
            return out, missing | low | high
        out[low] = self.low  # asExtremeValues
        out[high] = self.high
        return out, missing


def _invalid_refused(name: str, info: FieldInfo, raw: Array,
                     rows: npt.NDArray[np.intp]) -> Callable[[int], DataError]:
    """The error of record ``r`` whose value of field ``name`` is invalid (returnInvalid)."""
    def make(r: int) -> DataError:
        v = raw[int(np.flatnonzero(rows == r)[0])]
        shown = v if raw.dtype == object else _shown(info, v)
        return InvalidValueError(f"field {name!r} got invalid value {excerpt(shown)}; expected {_expected(info)}",
                                 field=name, value=shown, row=r)

    return make


def _missing_refused(name: str) -> Callable[[int], DataError]:
    def make(r: int) -> DataError:
        return InvalidValueError(f"field {name!r} got a missing value; its MiningField's "
                                 "missingValueTreatment returnInvalid refuses missing values", field=name, row=r)

    return make


def _shown(info: FieldInfo, v: Any) -> Any:
    if isinstance(v, float) and info.dtype.is_number:
        return int(v) if v.is_integer() else float(v)
    return v


def _expected(info: FieldInfo) -> str:
    if info.valid and not (info.optype == "continuous" and info.intervals):
        vals = ", ".join(repr(_shown(info, v)) for v in info.valid[:20])
        more = ", ..." if len(info.valid) > 20 else ""
        return f"one of {vals}{more}"
    if info.intervals:
        parts = []
        for iv in info.intervals:
            lo = "(" if iv.closure.startswith("open") else "["
            hi = ")" if iv.closure.endswith("Open") else "]"
            parts.append(f"{lo}{'-inf' if iv.left is None else iv.left}, {'inf' if iv.right is None else iv.right}{hi}")
        return "a value in " + " or ".join(parts)
    return "a valid value"


_USAGE_TYPES = ("active", "predicted", "target", "supplementary", "group", "order", "frequencyWeight",
                "analysisWeight")


def parse_mining_schema(el: Element | None, scope: Scope, problems: Problems) -> list[MiningField]:
    if el is None:
        return []
    out: list[MiningField] = []
    for mf in el.findall("MiningField"):
        name = attribute.text(mf, "name", problems, required=True, empty=False)
        if name is None:
            continue
        info = scope.lookup(name)
        if info is None:
            # JPMML-Evaluator tolerates such fields (nyoka writes them); a model that really reads
            # the field still fails at load, where the reference to it is compiled.
            problems.warn(f"MiningField {name!r} names no field of the DataDictionary or an enclosing model; "
                          f"ignored", mf)
            continue
        usage = attribute.choice(mf, "usageType", _USAGE_TYPES, problems, "active") or "active"
        if mf.get("optype") is not None:
            info = dataclasses.replace(info, optype=parse_optype(mf, problems))
        repl = attribute.parsed(mf, "missingValueReplacement", partial(parse_scalar, info.dtype), problems,
                                field=info.name)
        inv_t = attribute.choice(mf, "invalidValueTreatment", ("returnInvalid", "asIs", "asMissing", "asValue"),
                                 problems, "returnInvalid") or "returnInvalid"
        inv_r = attribute.parsed(mf, "invalidValueReplacement", partial(parse_scalar, info.dtype), problems,
                                 field=info.name)
        if inv_t == "asValue" and inv_r is None:
            problems.invalid("invalidValueTreatment asValue needs attribute invalidValueReplacement", mf)
        outliers = attribute.choice(mf, "outliers", ("asIs", "asMissingValues", "asExtremeValues"), problems,
                                    "asIs") or "asIs"
        low = attribute.number(mf, "lowValue", problems)
        high = attribute.number(mf, "highValue", problems)
        if outliers != "asIs" and low is None and high is None:
            problems.invalid(f"outliers {outliers} needs lowValue or highValue", mf)
        imp = attribute.number(mf, "importance", problems)
        out.append(MiningField(name, usage, info, repl, mf.get("missingValueTreatment"), inv_t, inv_r,
                               outliers, low, high, imp))
    return out


def treatment_exprs(fields: list[MiningField], parent: Scope | None = None) -> dict[str, Expr]:
    """Derived-field style resolvers that apply MiningField treatments to parent values.

    A model's frame resolves each treated field through its resolver, which reads the raw value
    from the enclosing frame and treats it.  A treatment that cannot change anything is left out
    (JPMML-Evaluator's ``InputFieldUtil.isDefault`` and ``ModelEvaluationContext``):

    * a nested model (a Segment's) whose MiningField is the default - returnInvalid or asIs, no
      replacement value, no outlier treatment, the enclosing model's optype - inherits the value
      the enclosing model resolved as it is: an unseen category that an outer asIs or asMissing
      let through is not refused again by the sub-models (sklearn2pmml's stacking, voting and
      calibration ensembles write default MiningFields in every segment);
    * an outermost model checks every value it reads, except that asIs keeps an invalid value and
      a field that accepts every value (a continuous field without Intervals, as most producers
      write it) cannot be invalid.
    """
    nested = parent is not None and parent.parent is not None
    out: dict[str, Expr] = {}
    for mf in fields:
        is_target = mf.usage in ("target", "predicted")
        if not (mf.is_input or is_target) or not mf.needs_treatment:
            continue
        if not mf.alters_values and not is_target and _unchanged(mf, parent if nested else None):
            continue
        out[mf.name] = Expr(mf.info.dtype, mf.info.optype, partial(_treated_input, mf, is_target))
    return out


def _unchanged(mf: MiningField, enclosing: Scope | None) -> bool:
    """Whether the treatment of a field that alters no values leaves its value as the model reads
    it: see :func:`treatment_exprs` (``enclosing`` is the scope of a nested model's parent)."""
    if enclosing is not None:
        outer = enclosing.lookup(mf.name)
        return outer is None or outer.optype == mf.info.optype
    return (mf.invalid_treatment == "asIs" or not mf.can_flag_invalid) and mf.missing_treatment != "returnInvalid"


def _treated_input(mf: MiningField, is_target: bool, frame: Frame) -> Array:
    """A model frame's value of a treated field: the raw value one scope up, treated."""
    parent = frame._parent  # the raw values live one scope up
    if is_target and (parent is None or not parent.has(mf.name)):
        # Actual target values are optional input (for residuals): absent means missing.
        return mf.treat(frame, empty(mf.info.dtype, frame.n))
    unreadable: Deferred | None = None
    if parent is None:
        raw = frame.get(mf.name)
    elif parent._parent is None:
        # The outermost model reads the request's values: the ones that could not be
        # read as the field's type are invalid values for this treatment to handle.
        raw = parent.peek(mf.name)
        unreadable = parent.deferred(mf.name)
    else:
        # A nested model's own treatment starts from the value its parent resolved.
        raw = parent.get(mf.name)
    if frame._parent_rows is not None:
        raw = raw[frame._parent_rows]
        if unreadable is not None:
            unreadable = (unreadable[0][frame._parent_rows], unreadable[1])
    return mf.treat(frame, raw, unreadable)
