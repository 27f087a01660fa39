"""The compiled tree walker against the reference walk, and the fused forest against the
segment-by-segment path, on every conformance case with trees."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from pmserve.pmml.fields.frame import Frame
from pmserve.pmml.results.prediction import Prediction
from pmserve.pmml.trees import ensemble, walk

from ._corpus import Case, corpus_available, input_columns, input_table, load_case_model, load_cases, sample_rows
from ._tree_reference import reference_walk

if not corpus_available():
    pytest.skip("the shared conformance corpus (../shared/conformance) is absent", allow_module_level=True)

pytestmark = pytest.mark.conformance

TREE_CASES = [c for c in load_cases() if c.input_path is not None and b"<TreeModel" in c.model_path.read_bytes()]


class Checks:
    def __init__(self) -> None:
        self.walks = 0
        self.forests = 0


@pytest.fixture
def checked(monkeypatch: pytest.MonkeyPatch) -> Checks:
    """Every walk and every fused forest of the scoring is checked as it happens."""
    checks = Checks()
    compiled_walk = walk.Walker.walk
    fused_call = ensemble.FusedTrees.__call__

    def walk_and_check(self: walk.Walker, frame: Frame, x: Any = None) -> Any:
        got = compiled_walk(self, frame, x)
        flat = self.flats[0]
        if flat.single_node:
            nodes, levels = reference_walk(flat, frame)
            np.testing.assert_array_equal(got[0], nodes)
            np.testing.assert_array_equal(got[1][nodes >= 0], levels[nodes >= 0])
            checks.walks += 1
        return got

    def fused_and_check(self: ensemble.FusedTrees, frame: Frame) -> Prediction:
        got = fused_call(self, frame)
        want = self.general(frame)
        assert np.asarray(got.value).tolist() == np.asarray(want.value).tolist() or np.allclose(
            np.asarray(got.value, dtype=float), np.asarray(want.value, dtype=float), rtol=1e-13, atol=1e-13,
            equal_nan=True)
        if want.probabilities is not None:
            assert got.probabilities is not None
            np.testing.assert_allclose(got.probabilities, want.probabilities, rtol=1e-13, atol=1e-13)
        checks.forests += 1
        return got

    monkeypatch.setattr(walk.Walker, "walk", walk_and_check)
    monkeypatch.setattr(ensemble.FusedTrees, "__call__", fused_and_check)
    return checks


@pytest.mark.parametrize("case", TREE_CASES, ids=str)
def test_compiled_tree_walks_equal_the_reference_walk(case: Case, checked: Checks) -> None:
    """25 records of the case's input: the walker's node and levels are the reference walk's,
    the fused forest's results the segment-by-segment path's."""
    outcome = load_case_model(case)
    if outcome.model is None:
        pytest.skip(f"the document does not load: {outcome.summary()}")
    table = input_table(case)
    if table is None or table.n_rows == 0:
        pytest.skip("the case has no input rows")
    model = outcome.model
    columns = input_columns(case, model, table.take(sample_rows(table.n_rows, 25)))
    model.score(columns, errors="collect")
    if not checked.walks and not checked.forests:
        pytest.skip("no tree of the case is walked on its own or as a forest (blended strategies only)")
