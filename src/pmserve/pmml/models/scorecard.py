"""Scorecard: a score summed from the partial scores of characteristics (PMML 4.4 "Scorecard").

Each Characteristic contributes the partial score of its first Attribute whose predicate is true
(``partialScore``, or the value of its ComplexPartialScore expression); the score is
``initialScore`` plus these in document order.  As in JPMML-Evaluator:

* a Characteristic with no true Attribute makes the record fail (the spec: "the scorecard as a
  whole returns an invalid value");
* a ComplexPartialScore that evaluates to a missing value makes the prediction missing (the
  Targets' defaultValue, if any) - unless an earlier Characteristic already failed the record;
* with ``useReasonCodes`` every matched Attribute adds ``partialScore - baseline``
  (``pointsAbove``) or ``baseline - partialScore`` (``pointsBelow``) to its reason code (the
  Attribute's, else the Characteristic's); codes with a negative total are dropped and the rest
  are ranked by points, highest first, equal points in the order the codes were first met.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pmserve.errors import EvaluationError
from pmserve.pmml.compiler import CompiledModel, ModelEnv, register
from pmserve.pmml.document import attributes as attribute
from pmserve.pmml.document.element import Element
from pmserve.pmml.document.problems import every
from pmserve.pmml.expressions.predicates import PREDICATE_TAGS, PredicateFn, compile_predicate
from pmserve.pmml.fields.frame import Expr, Frame, ReadOrder
from pmserve.pmml.fields.types import Array, DataType
from pmserve.pmml.results.prediction import Prediction

_ALGORITHMS = ("pointsBelow", "pointsAbove")
_BASELINE_METHODS = ("max", "min", "mean", "neutral", "other")


@dataclass(frozen=True)
class _Attribute:
    predicate: PredicateFn
    partial_score: float | None  # None: the expression gives it
    expression: Expr | None
    reason_code: int  # index into the model's reason codes; -1 without reason codes


@dataclass(frozen=True)
class _Characteristic:
    attributes: tuple[_Attribute, ...]
    baseline: float


@register("Scorecard")
def compile_scorecard(el: Element, env: ModelEnv) -> CompiledModel | None:
    if not env.function_is("regression", unsupported=True):
        return None
    initial = attribute.number(el, "initialScore", env.problems, 0.0)
    model_baseline = attribute.number(el, "baselineScore", env.problems)
    use_codes = attribute.boolean(el, "useReasonCodes", env.problems, True)
    algorithm = attribute.choice(el, "reasonCodeAlgorithm", _ALGORITHMS, env.problems, "pointsBelow")
    # baselineMethod only records how the baselines were chosen; it changes no result.
    method = attribute.choice(el, "baselineMethod", _BASELINE_METHODS, env.problems, "other")
    ok = (initial is not None and (model_baseline is not None or not attribute.given(el, "baselineScore"))
          and use_codes is not None and algorithm is not None and method is not None)
    chars_el = el.find("Characteristics")
    if chars_el is None or not chars_el.findall("Characteristic"):
        env.problems.invalid("a Scorecard needs Characteristics with at least one Characteristic",
                             chars_el or el)
        return None
    codes: dict[str, int] = {}  # reason code -> index, in the order first met
    characteristics = every(_characteristic(ch, i, env, bool(use_codes), model_baseline, codes)
                            for i, ch in enumerate(chars_el.findall("Characteristic"), start=1))
    if not ok or characteristics is None:
        return None
    dtype = env.target.dtype if env.target is not None and env.target.dtype.is_number else DataType.DOUBLE
    if dtype is DataType.INTEGER:
        dtype = DataType.DOUBLE
    return CompiledModel(_Scorer(tuple(characteristics), initial or 0.0, bool(use_codes), algorithm == "pointsAbove",
                                 tuple(codes), dtype))


def _characteristic(
    ch: Element, position: int, env: ModelEnv, use_codes: bool, model_baseline: float | None,
    codes: dict[str, int],
) -> _Characteristic | None:
    name = ch.get("name") or f"#{position}"
    baseline = attribute.number(ch, "baselineScore", env.problems)
    ok = baseline is not None or not attribute.given(ch, "baselineScore")
    if baseline is None:
        baseline = model_baseline
    if use_codes and baseline is None and ok:
        env.problems.invalid(f"Characteristic {name!r} needs a baselineScore (here or on the Scorecard) "
                             f"because useReasonCodes is true", ch)
        ok = False
    attr_els = ch.findall("Attribute")
    if not attr_els:
        env.problems.invalid(f"Characteristic {name!r} needs at least one Attribute", ch)
        return None
    attributes = every(_attribute(a, name, ch, env, use_codes, codes) for a in attr_els)
    if attributes is None or not ok:
        return None
    return _Characteristic(tuple(attributes), baseline if baseline is not None else 0.0)


def _attribute(a: Element, name: str, ch: Element, env: ModelEnv, use_codes: bool,
               codes: dict[str, int]) -> _Attribute | None:
    """An Attribute of the Characteristic ``name``: its predicate, its partial score (a number or
    a ComplexPartialScore expression) and its reason code (an index into ``codes``)."""
    pred_el = a.find_any(PREDICATE_TAGS)
    if pred_el is None:
        env.problems.invalid("an Attribute needs a predicate (SimplePredicate, True, ...)", a)
        return None
    pred = compile_predicate(pred_el, env.compiler)
    partial = attribute.number(a, "partialScore", env.problems)
    ok = partial is not None or not attribute.given(a, "partialScore")
    expr: Expr | None = None
    cps = a.find("ComplexPartialScore")
    if cps is not None:
        # PMML 4.4: ComplexPartialScore takes precedence over attribute partialScore.
        expr = env.compiler.expression_of(cps)
        if expr is not None and expr.dtype.is_string:
            env.problems.invalid("ComplexPartialScore must compute a number, its expression is of "
                                 "dataType string", cps)
            expr = None
        ok, partial = expr is not None, None
    elif partial is None and ok:
        env.problems.invalid("an Attribute needs attribute partialScore or a ComplexPartialScore", a)
        ok = False
    code = a.get("reasonCode") or ch.get("reasonCode")
    code_index = -1
    if use_codes and code is None:
        env.problems.invalid(f"an Attribute of Characteristic {name!r} needs a reasonCode (here or on "
                             f"the Characteristic) because useReasonCodes is true", a)
        ok = False
    elif use_codes and code is not None:
        code_index = codes.setdefault(code, len(codes))
    return _Attribute(pred, partial, expr, code_index) if pred is not None and ok else None


@dataclass(frozen=True)
class _Scorer:
    characteristics: tuple[_Characteristic, ...]
    initial: float
    use_codes: bool
    points_above: bool
    codes: tuple[str, ...]
    dtype: DataType

    def __call__(self, frame: Frame) -> Prediction:
        n, k = frame.n, len(self.codes)
        score = np.full(n, self.initial)
        # Per row: 0 scored so far, 1 a ComplexPartialScore was missing (prediction missing),
        # 2 a Characteristic matched no Attribute (the record fails).
        status = np.zeros(n, dtype=np.int8)
        points = np.zeros((n, k))
        first_met = np.full((n, k), len(self.characteristics))
        for c_index, ch in enumerate(self.characteristics):
            partial, code = self._partial(ch, frame, status != 2)
            live = status == 0
            no_match = live & (code == -2)
            status[no_match] = 2
            status[live & ~no_match & np.isnan(partial)] = 1
            ok = status == 0
            score[ok] += partial[ok]
            if self.use_codes:
                diff = partial - ch.baseline if self.points_above else ch.baseline - partial
                rows = np.flatnonzero(ok)
                cols = code[rows]
                points[rows, cols] += diff[rows]
                first_met[rows, cols] = np.minimum(first_met[rows, cols], c_index)
        failed = status == 2
        if failed.any():
            frame.fail(failed, lambda r: EvaluationError(
                "Scorecard: a Characteristic matched none of its Attributes, so the score is undefined",
                row=r))
        score[status != 0] = np.nan
        reasons = self._rank(points, first_met, status == 0) if self.use_codes else None
        return Prediction(n, self.dtype, score, reason_codes=reasons)

    def _partial(self, ch: _Characteristic, frame: Frame, reading: Array) -> tuple[Array, Array]:
        """The partial score and reason code of each row (code -2: no Attribute matched).

        JPMML tests a record's Attributes in order up to the first that holds, and stops at a
        Characteristic none holds for: only ``reading`` records, and only up to their matching
        Attribute, read (and claim) the fields of the predicates."""
        n = frame.n
        partial = np.full(n, np.nan)
        code = np.full(n, -2, dtype=np.intp)
        todo = np.ones(n, dtype=bool)
        for a in ch.attributes:
            if not todo.any():
                break
            with frame.unclaimed() as read:
                truth = a.predicate(frame)
            if frame.errors.pending:
                ReadOrder(frame, np.asarray(reading, dtype=bool)).read(read, todo)
            hit = todo & (truth == 1.0)
            if not hit.any():
                continue
            if a.expression is None:
                partial[hit] = a.partial_score
            else:
                rows = np.flatnonzero(hit)
                sub = frame if len(rows) == n else frame.subset(rows, {})
                partial[rows] = np.asarray(a.expression.fn(sub), dtype=np.float64)
            code[hit] = a.reason_code
            todo &= ~hit
        return partial, code

    def _rank(self, points: Array, first_met: Array, scored: Array) -> Array:
        n, k = points.shape
        met = first_met < len(self.characteristics)
        # Codes with negative points are no reasons; zero points still are (JPMML keeps them).
        keep = met & (points >= 0.0) & scored[:, None]
        order = np.lexsort((first_met, -np.where(keep, points, -np.inf)), axis=-1) if k else \
            np.zeros((n, 0), dtype=np.intp)
        names = np.array([*self.codes, None], dtype=object)
        ranked = np.where(np.take_along_axis(keep, order, axis=1), order, k)
        out: Array = names[ranked]
        return out
