"""MiningModel compiled: the Segmentation's method, segments and categories checked, and the
predictor chosen by ``multipleModelMethod`` (see :mod:`pmserve.pmml.models.mining`)."""

from __future__ import annotations

import dataclasses
from typing import Any

from pmserve.pmml.compiler import (
    MODEL_TAGS,
    SYNTHETIC_CLUSTER,
    SYNTHETIC_TARGET,
    CompiledModel,
    ModelEnv,
    ModelPlan,
    register,
)
from pmserve.pmml.document import attributes as attribute
from pmserve.pmml.document.element import Element
from pmserve.pmml.document.problems import every
from pmserve.pmml.expressions.predicates import PREDICATE_TAGS, PredicateFn, compile_predicate
from pmserve.pmml.fields.schema import FieldInfo, Scope
from pmserve.pmml.fields.types import DataType
from pmserve.pmml.models.mining.aggregation import probability_aggregate, value_aggregate, vote
from pmserve.pmml.models.mining.lists import compile_multi_model_chain, compile_select_all
from pmserve.pmml.models.mining.segments import (
    MULTI_MODEL_CHAIN,
    SELECT_ALL,
    Combination,
    Segment,
    convert_scalar,
    plan_dtype,
    predicted_value,
)
from pmserve.pmml.models.mining.selection import model_chain, select_first
from pmserve.pmml.results.output import OutputField
from pmserve.pmml.trees.ensemble import fuse

_AGGREGATES = {
    "regression": ("sum", "weightedSum", "average", "weightedAverage", "median", "weightedMedian"),
    "classification": ("majorityVote", "weightedMajorityVote", "average", "weightedAverage", "median", "max"),
    "clustering": ("majorityVote", "weightedMajorityVote"),
}
_SELECTIONS = ("selectFirst", "modelChain")
_CHAINS = ("modelChain", MULTI_MODEL_CHAIN)
_ANY_FUNCTION = (*_SELECTIONS, SELECT_ALL, MULTI_MODEL_CHAIN)
_ALL_METHODS = tuple(dict.fromkeys([m for ms in _AGGREGATES.values() for m in ms] + list(_ANY_FUNCTION)))
_TREATMENTS = ("returnMissing", "skipSegment", "continue")
_SYNTHETIC = (SYNTHETIC_TARGET, SYNTHETIC_CLUSTER)


# -- compile -----------------------------------------------------------------------------------------


@register("MiningModel")
def compile_mining(el: Element, env: ModelEnv) -> CompiledModel | None:
    problems = env.problems
    for embedded in el.findall("EmbeddedModel"):
        problems.unsupported("EmbeddedModel is not supported (PMML 4.4 deprecates it); use Segmentation", embedded)
        return None
    seg_el = el.find("Segmentation")
    if seg_el is None:
        problems.invalid("a MiningModel needs a Segmentation", el)
        return None
    combination = _combination(el, seg_el, env)
    if seg_el.find("LocalTransformations") is not None:
        # JPMML refuses it as well; the MiningModel's own LocalTransformations serve the purpose.
        problems.unsupported("Segmentation/LocalTransformations is not supported", seg_el.find("LocalTransformations"))
        return None
    seg_els = seg_el.findall("Segment")
    if not seg_els:
        problems.invalid("a Segmentation needs at least one Segment", seg_el)
        return None
    if combination is None:
        return None
    segments = _segments(seg_els, combination, env)
    if segments is None:
        return None
    compiled = _combined(el, segments, combination, env)
    # A chain's segments hand their Output fields on: the MiningModel's Output reads them too.
    handed_on = tuple(FieldInfo(f.name, f.dtype, f.optype) for seg in segments if seg.plan.output is not None
                      for f in seg.plan.output.fields) if combination.method in _CHAINS else ()
    return dataclasses.replace(compiled, defines=handed_on) if compiled is not None and handed_on else compiled


def _combined(el: Element, segments: list[Segment], combination: Combination, env: ModelEnv) -> CompiledModel | None:
    """The model combining its segments' predictions by its multipleModelMethod."""
    categories = _categories(segments, combination, env)
    combination = dataclasses.replace(combination, categories=categories,
                                      winner_order=_winner_order(categories, env), wanted_ids=_wanted_segment_ids(el))
    method = combination.method
    if method == SELECT_ALL:
        return compile_select_all(el, segments, combination, env)
    if method == MULTI_MODEL_CHAIN:
        return compile_multi_model_chain(el, segments, combination, env)
    if combination.function_name != "classification":
        categories = ()
    if method in _SELECTIONS:
        nested = tuple(_nested_results(segments, method))
        chosen = select_first(segments, combination) if method == "selectFirst" else model_chain(segments, combination)
        return CompiledModel(chosen, categories, nested_results=nested)
    start = 0.0
    if method in ("majorityVote", "weightedMajorityVote"):
        general = vote(segments, combination)
    elif combination.function_name == "classification":
        general = probability_aggregate(segments, combination)
    else:
        if combination.single_precision and method == "sum":
            start = _fold_rescale_constant(el)
        general = value_aggregate(segments, combination, start)
    # Segments that are all plain trees are walked together, the general path as the fallback.
    predictor = fuse(segments, combination, general, start, convert_scalar) or general
    return CompiledModel(predictor, categories, folded_rescale_constant=start != 0.0)


def _fold_rescale_constant(el: Element) -> float:
    """In single precision, a boosted sum starts from the Target's rescaleConstant.

    XGBoost (and JPMML for its exports) starts its float32 accumulator at the base score and adds
    the trees to it; adding the constant after a float32 sum of the trees rounds differently, by
    a few ULPs.  The constant is then taken out of the Targets step (``CompiledModel.folded_rescale_constant``).
    """
    targets = el.find("Targets")
    chosen = targets.findall("Target") if targets is not None else []
    if len(chosen) != 1:
        return 0.0
    t = chosen[0]
    if t.get("rescaleFactor", "1") not in ("1", "1.0") or t.get("castInteger") is not None:
        return 0.0
    try:
        return float(t.get("rescaleConstant", "0"))
    except ValueError:
        return 0.0  # reported where Targets is compiled


def _combination(el: Element, seg_el: Element, env: ModelEnv) -> Combination | None:
    problems = env.problems
    method = attribute.choice(seg_el, "multipleModelMethod", _ALL_METHODS, problems, required=True)
    fn = env.function_name
    if method is None:
        return None
    if method not in _ANY_FUNCTION:
        allowed = _AGGREGATES.get(fn)
        if allowed is None:
            problems.unsupported(f"a {fn} MiningModel can only select or chain models (selectFirst, "
                                 f"modelChain), got multipleModelMethod {method!r}", seg_el)
            return None
        if method not in allowed:
            problems.invalid(f"multipleModelMethod {method} is not defined for functionName {fn}; expected one "
                             f"of {', '.join(allowed + _ANY_FUNCTION)}", seg_el)
            return None
    treatment = attribute.choice(seg_el, "missingPredictionTreatment", _TREATMENTS, problems, "continue")
    threshold = attribute.number(seg_el, "missingThreshold", problems, 1.0, minimum=0.0, maximum=1.0)
    ok = True
    if treatment == "skipSegment" and method in _CHAINS:
        problems.invalid(f"missingPredictionTreatment skipSegment is not defined for a {method}", seg_el)
        ok = False
    if treatment == "skipSegment" and method == SELECT_ALL:
        problems.unsupported("missingPredictionTreatment skipSegment with selectAll is not supported (nor by "
                             "JPMML); use continue or returnMissing", seg_el)
        ok = False
    target = env.target
    if method not in _ANY_FUNCTION and fn in ("regression", "classification") and target is None:
        problems.invalid(f"a {fn} MiningModel that combines segments with {method} needs a target field", el)
        ok = False
    if not ok or treatment is None or threshold is None:
        return None
    dtype = target.dtype if target is not None else DataType.STRING
    if fn == "regression" and dtype.is_string and method not in _ANY_FUNCTION:
        problems.invalid(f"a regression MiningModel needs a numeric target, got {target.name if target else ''!r} "
                         f"of dataType string", el)
        return None
    single = el.get("x-mathContext") == "float"
    return Combination(method, treatment, threshold, fn, dtype, (), (), single, frozenset())


def _segments(seg_els: list[Element], combination: Combination, env: ModelEnv) -> list[Segment] | None:
    # The fields a chain's segments hand on, in reach of the later segments as they are compiled.
    scope = Scope(env.scope)
    seen: set[str] = set()
    return every(_segment(s, i, seen, scope, combination, env) for i, s in enumerate(seg_els, start=1))


def _segment(s: Element, position: int, seen: set[str], scope: Scope, combination: Combination,
             env: ModelEnv) -> Segment | None:
    problems = env.problems
    # JPMML's implicit entity id: the 1-based position of the Segment.
    sid = s.get("id") or str(position)
    fresh = sid not in seen
    if not fresh:
        problems.invalid(f"Segment id {sid!r} is used twice", s)
    seen.add(sid)
    weight = attribute.number(s, "weight", problems, 1.0, minimum=0.0, finite=True)
    variable = s.find("VariableWeight")
    if variable is not None:
        problems.unsupported("VariableWeight is not supported; use Segment/@weight", variable)
    pred_el = s.find_any(PREDICATE_TAGS)
    predicate: PredicateFn | None = None
    if pred_el is None:
        problems.invalid("a Segment needs a predicate (True, SimplePredicate, ...)", s)
    elif pred_el.tag != "True":
        predicate = compile_predicate(pred_el, env.compiler.with_scope(scope))
    plan = _segment_model(s, combination, env, scope)
    if plan is None:
        return None
    hands_on: tuple[tuple[str, DataType], ...] = ()
    if combination.method in _CHAINS and plan.output is not None:
        hands_on = tuple((f.name, f.dtype) for f in plan.output.fields)
        for f in plan.output.fields:
            scope.add(FieldInfo(f.name, f.dtype, f.optype))
    if not fresh or weight is None or variable is not None or pred_el is None or (
            predicate is None and pred_el.tag != "True"):
        return None
    mine = env.target
    other = None
    if (plan.target is not None and mine is not None and plan.target.name != mine.name
            and plan.target.name not in _SYNTHETIC and mine.name not in _SYNTHETIC
            and combination.method in _SELECTIONS):
        other = plan.target.name
    return Segment(sid, weight, predicate, plan, hands_on, other)


def _segment_model(s: Element, combination: Combination, env: ModelEnv, scope: Scope) -> ModelPlan | None:
    """The Segment's one model, compiled, if it is of a function the combination can take."""
    models = [c for c in s.children if c.tag in MODEL_TAGS]
    if len(models) != 1:
        env.problems.invalid(f"a Segment needs exactly one model element, got {len(models)}", s)
        return None
    model_el = models[0]
    nested_seg = model_el.find("Segmentation") if model_el.tag == "MiningModel" else None
    if nested_seg is not None and nested_seg.get("multipleModelMethod") == SELECT_ALL:
        env.problems.unsupported("a selectAll MiningModel inside a Segment is not supported: its prediction is "
                                 "a list per record, which no multipleModelMethod combines", model_el)
        return None
    # JPMML: a mixed multi-model chain's segments may perform any function; a modelChain's too.
    any_function = combination.method == "modelChain" or (
        combination.method == MULTI_MODEL_CHAIN and combination.function_name == "mixed")
    seg_fn = model_el.get("functionName")
    if not any_function and seg_fn is not None and seg_fn != combination.function_name:
        env.problems.invalid(f"functionName of a segment model must be {combination.function_name} (the "
                             f"MiningModel's) with multipleModelMethod {combination.method}, got {seg_fn!r}",
                             model_el)
        return None
    return env.compile_nested(model_el, scope)


def _categories(segments: list[Segment], combination: Combination, env: ModelEnv) -> tuple[Any, ...]:
    """Categories in the order JPMML meets them: the segments' own, then the target's."""
    if combination.function_name != "classification":
        return ()
    cats: dict[Any, None] = {}
    for seg in segments:
        for c in seg.plan.categories:
            cats.setdefault(convert_scalar(c, plan_dtype(seg.plan), combination.dtype), None)
    if env.target is not None:
        for c in env.target.valid:
            cats.setdefault(c, None)
    return tuple(cats)


def _winner_order(categories: tuple[Any, ...], env: ModelEnv) -> tuple[Any, ...]:
    target = env.target.valid if env.target is not None else ()
    return tuple(dict.fromkeys([*target, *categories]))


def _wanted_segment_ids(el: Element) -> frozenset[str]:
    out = el.find("Output")
    if out is None:
        return frozenset()
    return frozenset(sid for f in out.findall("OutputField") if (sid := f.get("segmentId")) is not None)


def _nested_results(segments: list[Segment], method: str) -> list[OutputField]:
    """Output fields of the segments that may give the result: JPMML returns them as results too.

    For selectFirst these are the segments up to the first whose predicate is True; for a
    modelChain the segments from the last whose predicate is True on.
    """
    always = [i for i, s in enumerate(segments) if s.predicate is None]
    if method == "selectFirst":
        chosen = segments[: always[0] + 1] if always else segments
    else:
        chosen = segments[always[-1]:] if always else segments
    out: list[OutputField] = []
    for seg in chosen:
        if seg.other_target is not None and seg.plan.target is not None:
            t = seg.plan.target
            out.append(OutputField(t.name, t.dtype, t.optype, "predictedValue", True, predicted_value))
        out.extend(seg.plan.nested_results)
        if seg.plan.output is not None:
            out.extend(seg.plan.output.fields)
    return out
