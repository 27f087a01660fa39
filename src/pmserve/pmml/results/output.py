"""The Output element: result features computed from a model's prediction.

PMML 4.4 "Output": predictedValue, predictedDisplayValue, probability, confidence, residual,
standardError, entityId, clusterId, affinity, entityAffinity, clusterAffinity, reasonCode,
transformedValue, decision, warning, ruleValue; ``segmentId`` reads a segment's results;
``isFinalResult="false"`` fields are computed (others may use them) but not returned.
JPMML's ``x-report`` is accepted and always missing: pmserve writes no MathML computation report.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from pmserve.errors import DataError, EvaluationError
from pmserve.pmml.document import attributes as attribute
from pmserve.pmml.document.element import Element
from pmserve.pmml.expressions.casting import EXPRESSION_TAGS, format_number, number_texts
from pmserve.pmml.expressions.transformations import ExpressionCompiler
from pmserve.pmml.fields.frame import Frame
from pmserve.pmml.fields.schema import FieldInfo, Scope, parse_dtype
from pmserve.pmml.fields.types import Array, DataType, empty, is_missing, optype_of, parse_scalar
from pmserve.pmml.results.prediction import CHAIN_VALUE, Prediction

Feature = Callable[[Prediction, Frame, dict[str, Array]], Array]

#: JPMML's extension feature: a MathML report of how another output field's value was computed.
X_REPORT = "x-report"


@dataclass(frozen=True)
class OutputField:
    name: str
    dtype: DataType
    optype: str
    feature: str
    final: bool
    compute: Feature


@dataclass(frozen=True)
class OutputPlan:
    fields: tuple[OutputField, ...]

    def evaluate(self, pred: Prediction, frame: Frame) -> dict[str, Array]:
        values: dict[str, Array] = {}
        out_frame = frame.child({}, values)
        undefined: npt.NDArray[np.bool_] | None = None
        for f in self.fields:
            v = f.compute(pred, out_frame, values)
            values[f.name] = _as_type(v, f.dtype)
            if f.feature not in WITHOUT_PREDICTION:
                # JPMML-Evaluator does not define such a field for a record without a prediction:
                # an expression of a later OutputField that reads it fails the record.
                if undefined is None:
                    undefined = np.asarray(is_missing(pred.value), dtype=bool)
                out_frame.defer(f.name, undefined, _undefined_output(f.name))
        return values


#: OutputField features JPMML evaluates without the model's prediction.
WITHOUT_PREDICTION = frozenset({"transformedValue", "decision", "warning"})


def _undefined_output(name: str) -> Callable[[int], DataError]:
    def make(r: int) -> DataError:
        return EvaluationError(
            f"OutputField {name!r} is not defined for a record without a prediction, and another "
            f"OutputField's expression reads it", field=name, row=r)

    return make


def _as_type(v: Array, dtype: DataType) -> Array:
    if dtype.is_string and v.dtype != object:
        return number_texts(v, DataType.DOUBLE)
    if not dtype.is_string and v.dtype == object:
        out = np.full(len(v), np.nan)
        for i, x in enumerate(v.tolist()):
            if x is None:
                continue
            with contextlib.suppress(ValueError):
                out[i] = x if isinstance(x, float) else parse_scalar(dtype, str(x))
        return out
    return v


def compile_output(
    el: Element | None,
    c: ExpressionCompiler,
    target: FieldInfo | None,
    extra: Callable[[Element, str], Feature | None] | None = None,
    more_targets: Mapping[str, FieldInfo] | None = None,
) -> OutputPlan | None:
    """Compile an Output element (its fields are in scope for the expressions of later ones).

    ``more_targets`` are a model's target fields after the first: an OutputField whose
    ``targetField`` names one of them reads that target's prediction (``Prediction.targets``).
    """
    if el is None:
        return None
    scope = Scope(c.scope)
    cc = c.with_scope(scope)
    fields: list[OutputField] = []
    seen: set[str] = set()
    for of in el.findall("OutputField"):
        name = attribute.text(of, "name", c.problems, required=True, empty=False)
        if name is None:
            continue
        if name in seen:
            c.problems.invalid(f"OutputField {name!r} is defined twice", of)
            continue
        seen.add(name)
        feature = of.get("feature", "predictedValue")
        other = more_targets.get(of.get("targetField") or "") if more_targets else None
        got = _compute(of, feature, other or target, c, cc, extra)
        if got is None:
            continue
        compute, dtype_default = got
        if other is not None:
            compute = _of_target(other.name, compute)
        dtype = parse_dtype(of, c.problems, default=dtype_default)
        optype = of.get("optype") or optype_of(dtype)
        fields.append(OutputField(name, dtype, optype, feature, of.get("isFinalResult", "true") != "false", compute))
        scope.add(FieldInfo(name, dtype, optype))
    return OutputPlan(tuple(fields))


def _compute(of: Element, feature: str, target: FieldInfo | None, c: ExpressionCompiler, cc: ExpressionCompiler,
             extra: Callable[[Element, str], Feature | None] | None) -> tuple[Feature, DataType] | None:
    """How an OutputField's value is computed, and its type where no dataType is written;
    ``cc`` compiles its expression, with the Output's earlier fields in scope."""
    seg = of.get("segmentId")
    if feature in ("transformedValue", "decision"):
        got = _transformed(of, seg, cc)
    else:
        found = _feature(of, feature, target, c, extra)
        got = None if found is None else (found, _default_type(feature, target))
    if got is None or seg is None:
        return got
    return _in_segment(seg, got[0]), got[1]


def _rank(of: Element, c: ExpressionCompiler) -> int:
    """The ``rank`` attribute: a positive integer, 1 when absent."""
    return attribute.integer(of, "rank", c.problems, 1, minimum=1) or 1


def _default_type(feature: str, target: FieldInfo | None) -> DataType:
    if feature in ("predictedValue",):
        return target.dtype if target is not None else DataType.STRING
    if feature in ("predictedDisplayValue", "entityId", "clusterId", "reasonCode", "warning", "ruleValue",
                   "antecedent", "consequent", "rule", "ruleId", X_REPORT):
        return DataType.STRING
    return DataType.DOUBLE


def _named_output(name: str) -> Feature:
    def run(pred: Prediction, frame: Frame, values: dict[str, Array]) -> Array:
        got = values.get(name)
        return got if got is not None else _nan(pred)

    return run


def _of_target(name: str, compute: Feature) -> Feature:
    def run(pred: Prediction, frame: Frame, values: dict[str, Array]) -> Array:
        return compute(pred.targets[name], frame, values)

    return run


def _in_segment(seg: str, compute: Feature) -> Feature:
    def run(pred: Prediction, frame: Frame, values: dict[str, Array]) -> Array:
        got = pred.segments.get(seg)
        if got is None:
            return _nan(pred)
        sp, souts = got
        return compute(sp, frame, souts)

    return run


def _transformed(of: Element, seg: str | None, c: ExpressionCompiler) -> tuple[Feature, DataType] | None:
    if seg is not None and of.get("value") is not None and not any(ch.tag in EXPRESSION_TAGS for ch in of.children):
        # JPMML: the segment's own OutputField named by `value` (read in that segment).
        return _named_output(of.get("value") or ""), DataType.STRING
    expr = c.expression_of(of)
    if expr is None:
        return None
    fn = expr.fn

    def run(pred: Prediction, frame: Frame, values: dict[str, Array]) -> Array:
        return fn(frame)

    return run, expr.dtype


def _feature(of: Element, feature: str, target: FieldInfo | None, c: ExpressionCompiler,
             extra: Callable[[Element, str], Feature | None] | None) -> Feature | None:
    if extra is not None:
        special = extra(of, feature)
        if special is not None:
            return special
    build = _BUILDERS.get(feature)
    if build is not None:
        return build(_Request(of, target, c))
    if feature.startswith("x-"):
        c.problems.unsupported(f"feature {feature!r} (a JPMML extension) is not supported", of)
        return None
    if feature not in _FEATURES:
        c.problems.invalid(f"feature {feature!r} is not a PMML result feature", of)
        return None
    c.problems.unsupported(f"feature {feature!r} is not supported for this model type", of)
    return None


@dataclass(frozen=True)
class _Request:
    """An OutputField asking for a standard feature of the model's prediction."""

    of: Element
    target: FieldInfo | None
    c: ExpressionCompiler

    @property
    def value_text(self) -> str | None:
        return self.of.get("value")

    def typed_value(self) -> Any:
        """The ``value`` attribute read as the target's type (as written when it does not read)."""
        text = self.value_text
        if text is None:
            return None
        try:
            return parse_scalar(self.target.dtype if self.target is not None else DataType.STRING, text)
        except ValueError:
            return text


def _predicted_value(r: _Request) -> Feature:
    return lambda p, f, v: p.extras.get(CHAIN_VALUE, p.value)


def _predicted_display_value(r: _Request) -> Feature:
    display = dict(r.target.display) if r.target is not None else {}

    def disp(p: Prediction, f: Frame, v: dict[str, Array]) -> Array:
        table = {**display, **p.display}
        out = np.empty(p.n, dtype=object)
        for i, x in enumerate(p.value.tolist()):
            if x is None or x != x:
                out[i] = None
            else:
                out[i] = table.get(x, x if isinstance(x, str) else format_number(x, p.dtype))
        return out

    return disp


def _probability(r: _Request) -> Feature:
    wanted = r.typed_value()
    if wanted is not None:
        return lambda p, f, v: p.probability_of(wanted)
    return lambda p, f, v: _nan(p) if p.probabilities is None else _pick_predicted(p, p.probabilities)


def _confidence(r: _Request) -> Feature:
    wanted = r.typed_value()

    def conf(p: Prediction, f: Frame, v: dict[str, Array]) -> Array:
        if p.confidences is not None:
            if wanted is None:
                return _pick_predicted(p, p.confidences)
            j = next((j for j, cat in enumerate(p.categories) if cat == wanted), None)
            return _nan(p) if j is None else p.confidences[:, j]
        if p.confidence is not None:
            return p.confidence
        if p.probabilities is not None:
            return _pick_predicted(p, p.probabilities) if wanted is None else p.probability_of(wanted)
        return _nan(p)

    return conf


def _residual(r: _Request) -> Feature | None:
    if r.target is None:
        r.c.problems.invalid("feature residual needs a target field", r.of)
        return None
    tname = r.target.name
    wanted = r.typed_value()

    def resid(p: Prediction, f: Frame, v: dict[str, Array]) -> Array:
        if not f.has(tname):
            return _nan(p)
        actual = f.get(tname)
        if p.probabilities is not None:
            return _categorical_residual(p, p.probabilities, actual, wanted)
        with np.errstate(invalid="ignore"):
            return np.asarray(actual, dtype=np.float64) - p.value

    return resid


def _categorical_residual(p: Prediction, probabilities: Array, actual: Array, wanted: Any) -> Array:
    """PMML 4.4 Output "residual", categorical: [actual == predicted] - P(predicted).

    With a value attribute, the category is that value instead of the predicted one.
    """
    if wanted is None:
        expected, probability, unknown = p.value.tolist(), _pick_predicted(p, probabilities), is_missing(p.value)
    else:
        expected, probability, unknown = [wanted] * p.n, p.probability_of(wanted), np.zeros(p.n, dtype=bool)
    hit = np.fromiter((a is not None and a == e for a, e in zip(actual.tolist(), expected, strict=True)),
                      dtype=bool, count=p.n)
    out = hit.astype(np.float64) - probability
    out[is_missing(actual) | unknown] = np.nan
    return out


def _standard_error(r: _Request) -> Feature:
    return lambda p, f, v: p.standard_error if p.standard_error is not None else _nan(p)


def _entity_id(r: _Request) -> Feature:
    rank = _rank(r.of, r.c)

    def ent(p: Prediction, f: Frame, v: dict[str, Array]) -> Array:
        if rank > 1:
            return _ranked(p.extras.get("ranked_entity_ids"), rank, p.n, DataType.STRING)
        return p.entity_id if p.entity_id is not None else empty(DataType.STRING, p.n)

    return ent


def _affinity(r: _Request) -> Feature:
    wanted_id = r.value_text
    rank = _rank(r.of, r.c)

    def aff(p: Prediction, f: Frame, v: dict[str, Array]) -> Array:
        if wanted_id is not None and p.entity_affinities is not None:
            j = next((j for j, e in enumerate(p.entity_ids) if str(e) == wanted_id), None)
            return _nan(p) if j is None else p.entity_affinities[:, j]
        if rank > 1:
            return _ranked(p.extras.get("ranked_affinities"), rank, p.n, DataType.DOUBLE)
        return p.affinity if p.affinity is not None else _nan(p)

    return aff


def _reason_code(r: _Request) -> Feature:
    rank = _rank(r.of, r.c)
    return lambda p, f, v: _ranked(p.reason_codes, rank, p.n, DataType.STRING)


def _ranked(matrix: Array | None, rank: int, n: int, dtype: DataType) -> Array:
    """Column ``rank`` (counted from 1) of a rows x ranks matrix; missing where it has fewer."""
    if matrix is None or matrix.shape[1] < rank:
        return empty(dtype, n)
    column: Array = matrix[:, rank - 1]
    return np.asarray(column, dtype=object) if dtype.is_string else column


def _no_text(r: _Request) -> Feature:
    """A string feature pmserve leaves missing: warnings, and JPMML's report (MathML of how the
    value was computed), which JPMML fills only when evaluated with a reporting value factory."""
    return lambda p, f, v: empty(DataType.STRING, p.n)


#: The standard features every model type computes from its Prediction, by feature name.
_BUILDERS: dict[str, Callable[[_Request], Feature | None]] = {
    "predictedValue": _predicted_value,
    "predictedDisplayValue": _predicted_display_value,
    "probability": _probability,
    "confidence": _confidence,
    "residual": _residual,
    "standardError": _standard_error,
    "standardDeviation": _standard_error,
    "entityId": _entity_id,
    "clusterId": _entity_id,
    "affinity": _affinity,
    "entityAffinity": _affinity,
    "clusterAffinity": _affinity,
    "reasonCode": _reason_code,
    "warning": _no_text,
    X_REPORT: _no_text,
}

#: Every PMML result feature: the standard ones, and those computed elsewhere or by some model types only.
_FEATURES = (frozenset(_BUILDERS) - {X_REPORT}) | {
    "transformedValue", "decision", "ruleValue", "antecedent", "consequent", "rule", "ruleId", "support", "lift",
    "leverage",
}


def _nan(p: Prediction) -> Array:
    """A missing number for every record of the prediction."""
    return np.full(p.n, np.nan)


def _pick_predicted(p: Prediction, matrix: Array) -> Array:
    out = np.full(p.n, np.nan)
    for j, cat in enumerate(p.categories):
        if p.value.dtype == object:
            m = np.fromiter((x is not None and x == cat for x in p.value), dtype=bool, count=p.n)
        else:
            m = p.value == cat
        out[m] = matrix[m, j]
    return out
