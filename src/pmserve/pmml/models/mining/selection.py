"""Selection methods: ``selectFirst`` (the first segment whose predicate holds predicts) and
``modelChain`` (each segment's Output fields are handed on; the last true segment predicts)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from pmserve.pmml.compiler import NESTED_RESULTS, Predictor
from pmserve.pmml.fields.frame import Frame
from pmserve.pmml.fields.types import is_missing
from pmserve.pmml.models.mining.segments import (
    Combination,
    Rows,
    Run,
    Segment,
    evaluate,
    nested_values,
    piece,
    run_chain,
    scatter,
    segment_results,
)
from pmserve.pmml.results.prediction import CHAIN_VALUE, Prediction

# -- selectFirst and modelChain: the selected segment's results are this model's ------------------


def select_first(segments: list[Segment], combination: Combination) -> Predictor:
    skip = combination.treatment == "skipSegment"

    def predict_select_first(frame: Frame) -> Prediction:
        remaining: Rows = np.arange(frame.n, dtype=np.intp)
        pieces: list[tuple[Rows | None, Prediction]] = []
        runs: list[Run] = []
        keep: list[npt.NDArray[np.bool_]] = []
        chosen_ids = np.full(frame.n, None, dtype=object)
        for seg in segments:
            if not len(remaining):
                break
            if seg.predicate is None:
                chosen = remaining
            else:
                truth = seg.predicate(frame.subset(remaining, {}) if len(remaining) < frame.n else frame)
                chosen = remaining[truth == 1.0]
            if not len(chosen):
                continue
            run = evaluate(seg, frame, None if len(chosen) == frame.n else chosen)
            runs.append(run)
            taken = chosen
            pred = run.pred
            if skip:
                # skipSegment: a record this segment cannot predict goes on to the next segment.
                ok = ~is_missing(pred.value)
                if not ok.all():
                    taken = chosen[ok]
                    pred = pred.subset_rows(ok)
            if len(taken) and seg.other_target is None:
                pieces.append((None if len(taken) == frame.n else taken, pred))
                chosen_ids[taken] = seg.id
            mine = np.zeros(frame.n, dtype=bool)
            mine[taken] = True
            keep.append(mine)
            remaining = np.setdiff1d(remaining, taken, assume_unique=True)
        result = scatter(pieces, frame.n, combination.dtype)
        if result.entity_id is None:
            # JPMML: the entity of a selectFirst result is the segment that gave it.
            result.entity_id = chosen_ids
        result.segments = segment_results(runs, combination, frame.n)
        result.extras[NESTED_RESULTS] = nested_values(runs, keep, frame.n)
        return result

    return predict_select_first


def model_chain(segments: list[Segment], combination: Combination) -> Predictor:
    return_missing = combination.treatment == "returnMissing"

    def predict_model_chain(frame: Frame) -> Prediction:
        n = frame.n
        runs, ran, dead = run_chain(segments, frame, return_missing, check_outputs=not return_missing)
        final = np.full(n, -1, dtype=np.intp)
        for i, holds in enumerate(ran):
            final[holds] = i
        pieces: list[tuple[Rows | None, Prediction]] = []
        keep = [(final == i) & ~dead for i in range(len(runs))]
        for run, mine in zip(runs, keep, strict=True):
            # A segment predicting another target gives that result, not this model's value.
            if mine.any() and run.segment.other_target is None:
                pieces.append(piece(run, mine))
        result = scatter(pieces, n, combination.dtype)
        if any(run.segment.other_target is not None for run in runs):
            # The chain's own result is its last segment's, whatever target that one predicts:
            # an Output predictedValue without targetField reads it (JPMML).
            final_value = np.full(n, None, dtype=object)
            for i, run in enumerate(runs):
                mine = keep[i]
                if mine.any():
                    local = mine[run.rows] if run.rows is not None else mine
                    final_value[mine] = np.asarray(run.pred.value, dtype=object)[local]
            result.extras[CHAIN_VALUE] = final_value
        result.segments = segment_results(runs, combination, n)
        result.extras[NESTED_RESULTS] = nested_values(runs, keep, n)
        return result

    return predict_model_chain
