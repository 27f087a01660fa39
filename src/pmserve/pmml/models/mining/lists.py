"""MiningModel methods with more than one prediction per record: selectAll and x-multiModelChain.

* ``selectAll`` (PMML 4.4 "MiningModel"): every segment whose predicate holds predicts; the
  record's predicted value is the list of those predictions in segment order (JPMML's list
  multimap), a missing prediction being a missing item.  A record no segment applies to has a
  missing value.  The result column is list-valued (``Field.collection``): an object column of
  tuples of plain values, which the HTTP and CSV edges write as JSON arrays.  Only Output fields
  that read one segment (``segmentId``) are defined; JPMML returns no segment Output fields.
* ``x-multiModelChain`` (JPMML's extension): a model chain in which every segment whose
  predicate holds runs and hands its Output fields on to the later segments, and each segment
  predicts a target of its own.  Every target of the MiningModel is a result (the several
  targets of :class:`pmserve.pmml.compiler.ModelEnv`), and so is every segment's Output field.
"""

from __future__ import annotations

import numpy as np

from pmserve.pmml.compiler import NESTED_RESULTS, CompiledModel, ModelEnv, Predictor
from pmserve.pmml.document.element import Element
from pmserve.pmml.fields.frame import Frame
from pmserve.pmml.fields.schema import FieldInfo
from pmserve.pmml.fields.types import empty, is_missing, to_python_list
from pmserve.pmml.models.mining.segments import (
    Combination,
    Segment,
    convert,
    nested_values,
    piece,
    run_all,
    run_chain,
    scatter,
    segment_results,
)
from pmserve.pmml.results.output import OutputField
from pmserve.pmml.results.prediction import Prediction

# -- selectAll -------------------------------------------------------------------------------------


def compile_select_all(el: Element, segments: list[Segment], combination: Combination,
                       env: ModelEnv) -> CompiledModel | None:
    """A selectAll MiningModel: its prediction is the list of its segments' (problems go to ``env``)."""
    problems = env.problems
    found = len(problems.items)
    target = env.target
    for seg in segments:
        theirs = seg.plan.target
        if target is not None and theirs is not None and theirs.name != target.name:
            problems.invalid(f"a selectAll segment must predict the MiningModel's target {target.name!r}, but "
                             f"segment {seg.id!r} predicts {theirs.name!r}", el)
    output = el.find("Output")
    for of in output.findall("OutputField") if output is not None else []:
        if of.get("segmentId") is None:
            problems.unsupported("an OutputField of a selectAll MiningModel needs segmentId: the model's own "
                                 "prediction is a list per record", of)
    if el.find("Targets") is not None:
        problems.unsupported("Targets of a selectAll MiningModel are not supported: its prediction is a list "
                             "per record", el.find("Targets"))
    if len(problems.items) > found:
        return None
    return CompiledModel(_select_all(segments, combination), list_valued=True, has_probabilities=False)


def _select_all(segments: list[Segment], combination: Combination) -> Predictor:
    dtype = combination.dtype
    return_missing = combination.treatment == "returnMissing"

    def predict_select_all(frame: Frame) -> Prediction:
        n = frame.n
        runs = run_all(segments, frame)
        cells: list[list[object]] = [[] for _ in range(n)]
        spoilt = np.zeros(n, dtype=bool)
        for run in runs:
            values = convert(run.pred.value, run.pred.dtype, dtype)
            rows = range(n) if run.rows is None else run.rows.tolist()
            for r, v in zip(rows, to_python_list(dtype, values), strict=True):
                cells[r].append(v)
            if return_missing:
                miss = is_missing(values)
                spoilt[miss if run.rows is None else run.rows[miss]] = True
        value = np.empty(n, dtype=object)
        for r, cell in enumerate(cells):
            value[r] = tuple(cell) if cell and not spoilt[r] else None
        pred = Prediction(n, dtype, value)
        pred.segments = segment_results(runs, combination, n)
        return pred

    return predict_select_all


# -- x-multiModelChain ---------------------------------------------------------------------------


def compile_multi_model_chain(el: Element, segments: list[Segment], combination: Combination,
                              env: ModelEnv) -> CompiledModel | None:
    """An x-multiModelChain MiningModel: each segment predicts one of its targets."""
    problems = env.problems
    targets = env.targets
    if not targets:
        problems.invalid("an x-multiModelChain MiningModel needs target fields: each segment predicts one", el)
        return None
    mine = {t.name for t in targets}
    predicted: dict[str, str] = {}
    found = len(problems.items)
    for seg in segments:
        theirs = seg.plan.target
        if theirs is None or theirs.name not in mine:
            what = repr(theirs.name) if theirs is not None else "no target field"
            problems.invalid(f"segment {seg.id!r} of an x-multiModelChain predicts {what}; expected one of the "
                             f"MiningModel's targets {', '.join(map(repr, mine))}", el)
        elif theirs.name in predicted:
            problems.invalid(f"segments {predicted[theirs.name]!r} and {seg.id!r} of an x-multiModelChain both "
                             f"predict {theirs.name!r}; each target is predicted by one segment", el)
        else:
            predicted[theirs.name] = seg.id
    if len(problems.items) > found:
        return None
    nested: list[OutputField] = []
    for seg in segments:
        # Like JPMML, every segment's Output fields are results, nested ones first (depth-first).
        nested.extend(seg.plan.nested_results)
        if seg.plan.output is not None:
            nested.extend(seg.plan.output.fields)
    return CompiledModel(_multi_model_chain(segments, combination, targets), predicts_every_target=True,
                         nested_results=tuple(nested))


def _multi_model_chain(segments: list[Segment], combination: Combination,
                       targets: tuple[FieldInfo, ...]) -> Predictor:
    return_missing = combination.treatment == "returnMissing"

    def predict_multi_model_chain(frame: Frame) -> Prediction:
        n = frame.n
        runs, ran, dead = run_chain(segments, frame, return_missing)
        keep = [holds & ~dead for holds in ran]
        by_target: dict[str, Prediction] = {}
        for run, mine in zip(runs, keep, strict=True):
            target = run.segment.plan.target
            if target is None or not mine.any():
                continue
            by_target[target.name] = scatter([piece(run, mine)], n, target.dtype)
        preds = [by_target.get(t.name) or Prediction(n, t.dtype, empty(t.dtype, n)) for t in targets]
        first = preds[0]
        first.targets = {t.name: p for t, p in zip(targets[1:], preds[1:], strict=True)}
        first.segments = segment_results(runs, combination, n)
        first.extras[NESTED_RESULTS] = nested_values(runs, keep, n)
        return first

    return predict_multi_model_chain
