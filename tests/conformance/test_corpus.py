"""Every case of the shared conformance corpus, run through the PMML engine.

A case whose document the engine refuses only for unsupported markup is skipped with the reason,
so the suite stays green while the engine grows; every other failure fails.  Models are loaded
once per process (``_corpus.load_model`` caches them; ``load_case_model`` applies a case's document fix-up).
"""

from __future__ import annotations

import contextlib
import os
import pickle
from typing import TYPE_CHECKING, Any

import pytest

from pmserve.errors import DataError, DocumentProblems

from ._compare import Tolerance, values_equivalent
from ._corpus import (
    REFERENCE_ERROR_COLUMN,
    Case,
    aligned_input,
    corpus_available,
    document_facts,
    expected_table,
    input_columns,
    input_table,
    load_case_model,
    load_cases,
    plain,
    run_case,
    sample_rows,
)

if TYPE_CHECKING:
    from pmserve.pmml import Model

if not corpus_available():
    pytest.skip("the shared conformance corpus (../shared/conformance) is absent", allow_module_level=True)

pytestmark = pytest.mark.conformance

CASES = load_cases()
EXPECTED_CASES = [c for c in CASES if c.has_expected]
CASES_WITH_INPUT = [c for c in CASES if c.input_path is not None]
VERIFIED_CASES = [c for c in CASES if document_facts(c.model_path).has_verification]

#: Rows compared per case in the test suite (spread over the table, first and last included), to
#: keep the suite within its time budget; PMSERVE_CONFORMANCE_MAX_ROWS=0 compares every row, as
#: scripts/conformance_report.py does.
MAX_ROWS = int(os.environ.get("PMSERVE_CONFORMANCE_MAX_ROWS", "200")) or None

#: Batch and row-by-row scoring may take different BLAS kernels (gemm vs gemv), so the last bits
#: of a dot product may differ; anything beyond that is a real difference.
ROW_BY_ROW = Tolerance(1e-12, 1e-12)


def _engine_missing(err: BaseException | None) -> bool:
    return isinstance(err, ModuleNotFoundError) and (err.name or "").startswith("pmserve")


def _refused_by_jpmml_too(case: Case) -> bool:
    """The reference generator saw JPMML raise on every row: refusing the document agrees."""
    table = expected_table(case)
    if case.expected_source != "reference" or table is None:
        return False
    errors = table.columns.get(REFERENCE_ERROR_COLUMN) or []
    return bool(errors) and all(errors)


def loaded(case: Case) -> Model | None:
    """The case's model; skips when not supported, None when refusing it is the expected outcome."""
    if case.harness_unsupported:
        pytest.skip(f"not supported by the harness: {case.harness_unsupported}")
    outcome = load_case_model(case)
    if _engine_missing(outcome.error):
        pytest.skip(f"engine not importable yet: {outcome.error}")
    if outcome.unsupported:
        pytest.skip(f"not supported: {outcome.summary()}")
    if isinstance(outcome.error, DocumentProblems) and _refused_by_jpmml_too(case):
        return None
    if outcome.error is not None:
        raise outcome.error
    assert outcome.model is not None
    return outcome.model


def loaded_for_checks(case: Case) -> Model:
    """The case's model for the batch, pickling and verification checks.

    A document that does not load is skipped here: test_document_loads_or_is_refused_... and
    test_case_reproduces_expected_outputs already fail for it, once.
    """
    if case.harness_unsupported:
        pytest.skip(f"not supported by the harness: {case.harness_unsupported}")
    outcome = load_case_model(case)
    if outcome.model is None:
        pytest.skip(f"the document does not load: {outcome.summary()}")
    return outcome.model


def _sample(case: Case, model: Model) -> dict[str, list[Any]]:
    """Up to 20 input rows spread over the case's input table, as score() columns."""
    table = input_table(case)
    if table is None or table.n_rows == 0:
        pytest.skip("the case has no input rows")
    expected = expected_table(case)
    if expected is not None and case.expected_source == "reference":
        table = aligned_input(case, table, expected)
    columns = input_columns(case, model, table.take(sample_rows(table.n_rows)))
    if not model.input_fields:
        pytest.skip("the model has no input fields")
    return columns


def _differences(want: dict[str, list[Any]], got: dict[str, list[Any]], tol: Tolerance) -> list[str]:
    out = []
    if list(want) != list(got):
        return [f"result columns differ: {list(want)} vs {list(got)}"]
    for name in want:
        for row, (w, g) in enumerate(zip(want[name], got[name], strict=True)):
            cell = None if w is None else str(w).lower() if isinstance(w, bool) else str(w)
            if not values_equivalent(cell, g, tol):
                out.append(f"{name!r} row {row}: {w!r} vs {g!r}")
    return out


@pytest.mark.parametrize("case", EXPECTED_CASES, ids=str)
def test_case_reproduces_expected_outputs(case: Case) -> None:
    """Scoring the case's input reproduces every expected column within the case's tolerance."""
    model = loaded(case)
    if model is None:
        return
    run = run_case(case, model, MAX_ROWS)
    assert run.ok, f"{case.case_id} ({case.model_type}, {case.producer}):\n{run.describe()}"


@pytest.mark.parametrize("case", CASES_WITH_INPUT, ids=str)
def test_rows_scored_together_equal_rows_scored_one_by_one(case: Case) -> None:
    """Up to 20 rows scored as one batch give the same results as each row scored alone."""
    model = loaded_for_checks(case)
    columns = _sample(case, model)
    n = len(next(iter(columns.values())))
    batch = model.score(columns, errors="collect")
    together = plain(batch.to_lists())
    alone: dict[str, list[Any]] = {name: [] for name in together}
    failed_alone = set()
    for row in range(n):
        single = model.score({k: v[row:row + 1] for k, v in columns.items()}, errors="collect")
        if single.errors:
            failed_alone.add(row)
        for name, values in plain(single.to_lists()).items():
            alone.setdefault(name, []).extend(values)
    assert set(batch.errors) == failed_alone, "rows with data errors differ between batch and single rows"
    differences = _differences(together, alone, ROW_BY_ROW)
    assert not differences, f"{len(differences)} differences, first: {differences[:5]}"


@pytest.mark.parametrize("case", CASES_WITH_INPUT, ids=str)
def test_one_record_plan_equals_batch_on_every_row(case: Case) -> None:
    """Each sample row given to the one-record plan as a record gives the batch's row (or its
    data error), and exactly what scoring that row alone through the batch path gives."""
    model = loaded_for_checks(case)
    columns = _as_json_values(model, _sample(case, model))
    n = len(next(iter(columns.values())))
    batch = model.score(columns, errors="collect")
    together = plain(batch.to_lists())
    planned = 0
    for row in range(n):
        record = {k: v[row] for k, v in columns.items()}
        alone = model.score({k: v[row:row + 1] for k, v in columns.items()}, errors="collect")
        refused: DataError | None = None
        got: tuple[Any, ...] | None = None
        try:
            got = model.score_one(record)
        except DataError as err:
            refused = err
        if refused is not None or row in batch.errors:
            assert refused is not None or got is None, f"row {row}: the batch refused it ({batch.errors[row]})"
            if refused is not None:
                assert row in batch.errors, f"row {row}: the plan raised {refused!r}, the batch scored it"
                assert str(refused) == str(alone.errors[0]), f"row {row}: {refused} vs {alone.errors[0]}"
                planned += 1
            continue
        if got is None:
            continue
        planned += 1
        want_alone = [values[0] for values in plain(alone.to_lists()).values()]
        assert list(plain({"r": list(got)})["r"]) == want_alone, f"row {row}: plan {got} vs alone {want_alone}"
        want = {name: [values[row]] for name, values in together.items()}
        differences = _differences(want, {name: [v] for name, v in zip(together, got, strict=True)}, ROW_BY_ROW)
        assert not differences, f"row {row}: {differences[:5]}"
    if not planned:
        pytest.skip("no sample row is a complete record of plain values for this model")


def _as_json_values(model: Model, columns: dict[str, list[Any]]) -> dict[str, list[Any]]:
    """The sample as a JSON client sends it: numbers for the cells of number fields that read as
    one (the corpus tables hold text), missing for empty cells; every other cell as it was."""
    numeric = {f.name for f in model.input_fields if f.data_type.is_number}
    out: dict[str, list[Any]] = {}
    for name, values in columns.items():
        if name not in numeric:
            out[name] = values
            continue
        cells: list[Any] = []
        for v in values:
            if isinstance(v, str):
                with contextlib.suppress(ValueError):
                    v = float(v) if v.strip() else None
            if isinstance(v, float) and v.is_integer() and abs(v) < 2**53:
                v = int(v)  # JSON integers are ints: the plan's int branch is checked too
            cells.append(v)
        out[name] = cells
    return out


@pytest.mark.parametrize("case", CASES_WITH_INPUT, ids=str)
def test_model_survives_pickling_and_scores_identically(case: Case) -> None:
    """A model sent through pickle scores the sample rows exactly as the original does."""
    model = loaded_for_checks(case)
    columns = _sample(case, model)
    clone = pickle.loads(pickle.dumps(model))
    before, after = model.score(columns, errors="collect"), clone.score(columns, errors="collect")
    assert [f.name for f in after.fields] == [f.name for f in before.fields]
    assert set(after.errors) == set(before.errors)
    assert plain(after.to_lists()) == plain(before.to_lists())


@pytest.mark.parametrize("case", CASES, ids=str)
def test_document_loads_or_is_refused_naming_element_and_line(case: Case) -> None:
    """Every corpus document loads, or is refused with DocumentProblems naming element and line."""
    outcome = load_case_model(case)
    if _engine_missing(outcome.error):
        pytest.skip(f"engine not importable yet: {outcome.error}")
    if outcome.error is None:
        return
    if not isinstance(outcome.error, DocumentProblems):
        raise AssertionError(f"load raised {type(outcome.error).__name__}, not DocumentProblems") from (
            outcome.error
        )
    unlocated = [
        p.message for p in outcome.error.problems
        if not (p.element and p.line and p.element in p.message and f"line {p.line}" in p.message)
    ]
    assert outcome.error.problems, "DocumentProblems carries no problem"
    assert not unlocated, f"problems that name no element and line: {unlocated[:5]}"


@pytest.mark.parametrize("case", VERIFIED_CASES, ids=str)
def test_embedded_model_verification_passes(case: Case) -> None:
    """The document's own ModelVerification rows reproduce."""
    model = loaded_for_checks(case)
    try:
        report = model.verify()
    except ModuleNotFoundError as err:
        if not _engine_missing(err):
            raise
        pytest.skip(f"model.verify() not available yet: {err}")
    assert report.ok, f"{case.case_id}: {report.message}"
