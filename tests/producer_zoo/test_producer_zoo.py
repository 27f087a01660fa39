"""Documents from today's PMML producers score as JPMML-Evaluator scores them (issue #15).

The documents and JPMML's outputs are stored (``tools/producer_zoo/build.py`` regenerates them),
so this runs without Java.  Rows on which JPMML itself raised are not compared.
"""

from __future__ import annotations

import csv
import math

import pytest

from conformance._corpus import Case, load_model, run_case
from pmserve.errors import DocumentProblems

from ._zoo import JPMML_CANNOT_SCORE, ZOO_ROOT, unscored_cases, zoo_cases

#: pmserve against a library's own predict_proba where JPMML cannot score: XGBoost sums float32.
NATIVE_TOLERANCE = 1e-6

#: Where the document itself departs from the library: the difference must be exactly that.
NATIVE_LOGIT_SHIFT = {
    "nyoka/xgboost": "nyoka writes RegressionTable intercept 0.0 where XGBoost 3 fitted a base_score, so "
                     "pmserve (following the document) differs from predict_proba by one constant logit shift",
}

CASES = [pytest.param(c, id=c.case_id) for c in zoo_cases()]


@pytest.mark.parametrize("case", CASES)
def test_producer_document_scores_as_jpmml_does(case: Case) -> None:
    """Every output JPMML gives for the hostile records is reproduced to a relative 1e-9."""
    outcome = load_model(case.model_path)
    if outcome.error is not None:
        raise outcome.error
    assert outcome.model is not None
    run = run_case(case, outcome.model)
    assert run.ok, run.describe()


def test_every_unscored_producer_document_is_recorded() -> None:
    """Each document JPMML cannot score (or the producer cannot write) is listed with what pmserve does."""
    assert set(unscored_cases()) == set(JPMML_CANNOT_SCORE)


@pytest.mark.parametrize("case_id", sorted(JPMML_CANNOT_SCORE))
def test_pmserve_does_what_is_recorded_where_jpmml_cannot_score(case_id: str) -> None:
    """pmserve scores or refuses the document as JPMML_CANNOT_SCORE says."""
    expected, _why = JPMML_CANNOT_SCORE[case_id]
    path = ZOO_ROOT / case_id / "model.pmml"
    if expected == "not built":
        assert not path.exists()
        return
    outcome = load_model(path)
    if expected == "refuses":
        assert isinstance(outcome.error, DocumentProblems), outcome.error
        return
    assert outcome.model is not None, outcome.error
    with (ZOO_ROOT / case_id / "input.csv").open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    scored = outcome.model.score({k: [r[k] or None for r in rows] for k in rows[0]}, errors="collect")
    # The first half of the records are clean (tools/producer_zoo/_common.py): every one scores and
    # every output is set. A hostile record may fail, each for its own reason (a modelChain segment
    # that predicts nothing for it cannot hand its outputs on, as in JPMML).
    clean = len(rows) // 2
    assert [row for row in scored.errors if row < clean] == []
    got = scored.to_lists()
    assert all(v is not None for column in got.values() for v in column[:clean])
    native = ZOO_ROOT / case_id / "native.csv"
    if native.exists():
        # With no JPMML output, the producing library's own predictions are the reference.
        with native.open(encoding="utf-8", newline="") as handle:
            want = list(csv.DictReader(handle))
        for name in want[0]:
            expected = [float(r[name]) for r in want]
            if case_id in NATIVE_LOGIT_SHIFT:
                pairs = zip(got[name][:len(expected)], expected, strict=True)
                shifts = [math.log(g / (1 - g)) - math.log(e / (1 - e)) for g, e in pairs]
                assert shifts == pytest.approx([shifts[0]] * len(shifts), abs=1e-5), NATIVE_LOGIT_SHIFT[case_id]
                assert abs(shifts[0]) > 1e-3
            else:
                assert got[name][:len(want)] == pytest.approx(expected, rel=NATIVE_TOLERANCE)
