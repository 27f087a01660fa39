"""The GeneralRegressionModel compiler: the regression, generalised linear and classifier
(multinomial, generalised, ordinal) predictors over the design matrix."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

import numpy as np

from pmserve.pmml.compiler import CompiledModel, ModelEnv, Predictor, register
from pmserve.pmml.document import attributes as attribute
from pmserve.pmml.document.element import Element
from pmserve.pmml.expressions.vector_math import INVERSE_LINKS, exp_normalized_rows
from pmserve.pmml.fields.frame import Frame
from pmserve.pmml.fields.schema import FieldInfo
from pmserve.pmml.fields.types import Array, DataType, parse_scalar
from pmserve.pmml.models.general_regression.cox import compile_cox
from pmserve.pmml.models.general_regression.design import Cell, Linear, Matrices, Term
from pmserve.pmml.models.general_regression.links import Adjust, Link, parse_adjust, parse_link
from pmserve.pmml.results.prediction import Prediction, classification

_MODEL_TYPES = ("regression", "generalLinear", "multinomialLogistic", "generalizedLinear",
                "ordinalMultinomial", "CoxRegression")
_REGRESSION_TYPES = ("regression", "generalLinear", "generalizedLinear", "CoxRegression")
_CLASSIFICATION_TYPES = ("generalizedLinear", "multinomialLogistic", "ordinalMultinomial")
_CUMULATIVE_LINKS = ("logit", "probit", "cloglog", "loglog", "cauchit")


# -- the compiler --------------------------------------------------------------------------------------


@register("GeneralRegressionModel")
def compile_general_regression(el: Element, env: ModelEnv) -> CompiledModel | None:
    model_type = attribute.choice(el, "modelType", _MODEL_TYPES, env.problems, required=True)
    if model_type is None:
        return None
    fn = env.function_name
    allowed = _REGRESSION_TYPES if fn == "regression" else _CLASSIFICATION_TYPES if fn == "classification" else ()
    if model_type not in allowed:
        env.problems.invalid(f"modelType {model_type} does not fit functionName {fn!r}; expected "
                             f"{' or '.join(allowed) or 'functionName regression or classification'}", el)
        return None
    target = env.target
    if fn == "classification":
        return _classifier(el, env, model_type)
    matrices = Matrices(el, env, None)
    if not matrices.ok:
        return None
    cells = matrices.params.get(None)
    if cells is None or len(matrices.params) != 1:
        env.problems.invalid("a regression GeneralRegressionModel needs PCells without targetCategory, and "
                             "only those", el.find("ParamMatrix") or el)
        return None
    rows = matrices.rows_for(None)
    if rows is None:
        env.problems.invalid("the PPMatrix of a regression model needs PPCells without targetCategory",
                             el.find("PPMatrix") or el)
        return None
    linear = matrices.linear([(cells, rows)])
    dtype = target.dtype if target is not None and not target.dtype.is_string else DataType.DOUBLE
    if model_type == "CoxRegression":
        return compile_cox(el, env, matrices, cells, linear, dtype)
    link = parse_link(el, env) if model_type == "generalizedLinear" else None
    adjust = parse_adjust(el, env) if model_type == "generalizedLinear" else None
    if model_type == "generalizedLinear" and (link is None or adjust is None):
        return None

    def predict_regression(frame: Frame) -> Prediction:
        v = linear(frame)[:, 0]
        if link is not None and adjust is not None:
            v = _generalized(v, link, adjust, frame)
        return Prediction(frame.n, dtype, v)

    return CompiledModel(predict_regression)


def _generalized(v: Array, link: Link, adjust: Adjust, frame: Frame) -> Array:
    has = ~np.isnan(v)
    offset = adjust.offset(frame, has)
    with np.errstate(all="ignore"):
        if offset is not None:
            v = v + offset
        v = link(v)
        trials = adjust.trials(frame, has)
        if trials is not None:
            v = v * trials
    out: Array = v
    return out


def _classifier(el: Element, env: ModelEnv, model_type: str) -> CompiledModel | None:
    target = env.target
    if target is None:
        env.problems.invalid("a classification GeneralRegressionModel needs a target field in its "
                             "MiningSchema", el)
        return None
    if target.optype not in ("categorical", "ordinal"):
        env.problems.invalid(f"the target field {target.name!r} of a classification model must be categorical "
                             f"or ordinal, got {target.optype}", el)
        return None
    if len(target.valid) < 2:
        env.problems.invalid(f"the target field {target.name!r} needs at least two valid Values (the classes), "
                             f"got {len(target.valid)}", el)
        return None
    matrices = Matrices(el, env, target.dtype)
    if not matrices.ok:
        return None
    cats = _classes(el, env, model_type, matrices, target)
    columns = None if cats is None else _class_columns(el, env, model_type, matrices, cats)
    if cats is None or columns is None:
        return None
    linear = matrices.linear(columns)
    categories = tuple(cats)
    if model_type == "multinomialLogistic":
        return CompiledModel(_multinomial(linear, target.dtype, categories), categories)
    adjust = parse_adjust(el, env)
    if adjust is None:
        return None
    if model_type == "generalizedLinear":
        link = parse_link(el, env)
        if link is None:
            return None
        return CompiledModel(_generalized_classes(linear, link, adjust, target.dtype, categories), categories)
    cumulative = attribute.choice(el, "cumulativeLink", _CUMULATIVE_LINKS, env.problems, required=True)
    if cumulative is None:
        return None
    return CompiledModel(_ordinal(linear, INVERSE_LINKS[cumulative], adjust, target.dtype, categories), categories)


def _classes(el: Element, env: ModelEnv, model_type: str, matrices: Matrices, target: FieldInfo) -> list[Any] | None:
    """The target's classes in the order of the linear predictors, the reference category last."""
    cats = list(target.valid)
    pm_el = el.find("ParamMatrix") or el
    reference: Any = attribute.parsed(el, "targetReferenceCategory", partial(parse_scalar, target.dtype),
                                      env.problems)
    if el.get("targetReferenceCategory") is not None:
        if reference is None:
            return None
    elif model_type != "ordinalMultinomial":
        # PMML: "the reference category is the one from DataDictionary that does not appear in the
        # ParamMatrix".
        absent = [c for c in cats if c not in matrices.params]
        if len(absent) != 1:
            env.problems.invalid(
                f"cannot tell the reference category: expected exactly one class of {target.name!r} without "
                f"PCells, got {len(absent)} ({', '.join(repr(c) for c in absent)}); set targetReferenceCategory",
                pm_el)
            return None
        reference = absent[0]
    if reference is not None and reference in cats:
        cats.remove(reference)
        cats.append(reference)
    return cats


def _class_columns(el: Element, env: ModelEnv, model_type: str, matrices: Matrices,
                   cats: list[Any]) -> list[tuple[list[Cell], dict[str, Term]]] | None:
    """Per class but the last: its ParamMatrix cells and PPMatrix rows."""
    pm_el = el.find("ParamMatrix") or el
    columns: list[tuple[list[Cell], dict[str, Term]]] = []
    for cat in cats[:-1]:
        rows = matrices.rows_for(cat)
        if rows is None:
            env.problems.invalid(f"the PPMatrix has no PPCells for class {cat!r} and none without "
                                 f"targetCategory", el.find("PPMatrix") or el)
            return None
        if model_type == "ordinalMultinomial":
            intercept = matrices.params.get(cat)
            common = matrices.params.get(None)
            if intercept is None or len(intercept) != 1 or common is None:
                env.problems.invalid(
                    f"an ordinalMultinomial ParamMatrix needs exactly one PCell (the intercept) for class "
                    f"{cat!r} and PCells without targetCategory for the other parameters", pm_el)
                return None
            # JPMML-Evaluator adds the intercept after the common parameters.
            cells = common + intercept
        else:
            got = matrices.params.get(cat)
            if got is None and len(cats) == 2:
                got = matrices.params.get(None)
            if got is None:
                env.problems.invalid(f"the ParamMatrix has no PCells for class {cat!r}", pm_el)
                return None
            cells = got
        columns.append((cells, rows))
    return columns


def _class_probabilities(linear: Linear, dtype: DataType, categories: tuple[Any, ...],
             probabilities: Callable[[Array, Array, Frame], Array]) -> Predictor:
    """A classifier from the linear predictors (one column a class but the last): ``probabilities``
    of the rows, missing wherever a predictor is."""
    def predict_classes(frame: Frame) -> Prediction:
        lin = linear(frame)
        miss = np.asarray(np.isnan(lin).any(axis=1), dtype=bool)
        probs = probabilities(lin, miss, frame)
        probs[miss] = np.nan
        return classification(frame.n, dtype, categories, probs)

    return predict_classes


def _multinomial(linear: Linear, dtype: DataType, categories: tuple[Any, ...]) -> Predictor:
    # The last category's linear predictor is 0 by convention.
    return _class_probabilities(linear, dtype, categories, lambda lin, miss, frame: exp_normalized_rows(
        np.concatenate([lin, np.zeros((frame.n, 1))], axis=1)))


def _generalized_classes(linear: Linear, link: Link, adjust: Adjust, dtype: DataType,
                         categories: tuple[Any, ...]) -> Predictor:
    k = len(categories)

    def probabilities(lin: Array, miss: Array, frame: Frame) -> Array:
        probs = np.empty((frame.n, k))
        for j in range(k - 1):
            probs[:, j] = _generalized(lin[:, j], link, adjust, frame)
        # JPMML-Evaluator: the last class gets one minus the probability of the one before it.
        probs[:, k - 1] = 1.0 - probs[:, k - 2]
        return probs

    return _class_probabilities(linear, dtype, categories, probabilities)


def _ordinal(linear: Linear, inverse: Link, adjust: Adjust, dtype: DataType,
             categories: tuple[Any, ...]) -> Predictor:
    k = len(categories)

    def probabilities(lin: Array, miss: Array, frame: Frame) -> Array:
        offset = adjust.offset(frame, ~miss)
        with np.errstate(all="ignore"):
            cum = inverse(lin + offset if offset is not None else lin)
            probs = np.empty((frame.n, k))
            probs[:, 0] = cum[:, 0]
            probs[:, 1 : k - 1] = cum[:, 1:] - cum[:, :-1]
            probs[:, k - 1] = 1.0 - cum[:, -1]
        return probs

    return _class_probabilities(linear, dtype, categories, probabilities)


__all__ = ["compile_general_regression"]
