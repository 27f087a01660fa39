"""The invalid-value rule's one owner (pmserve.pmml.fields.frame): a check defers, a read claims."""

from __future__ import annotations

import numpy as np
import pytest

from pmserve.errors import EvaluationError
from pmserve.pmml.fields.frame import Expr, Frame, ReadOrder
from pmserve.pmml.fields.types import DataType


def _error(r: int) -> EvaluationError:
    return EvaluationError("bad value", row=r)


def _frame_with_bad_x(bad_rows: list[int], n: int = 5) -> Frame:
    """A model frame whose field x has deferred invalid values on ``bad_rows``; y = x * 2 derived."""
    root = Frame(n, {"x": np.arange(n, dtype=np.float64)}, {})

    def treated_x(frame: Frame) -> np.ndarray:
        values = root.peek("x")
        mask = np.zeros(n, dtype=bool)
        mask[bad_rows] = True
        frame.defer("x", mask, _error)
        return values

    derived = {
        "x": Expr(DataType.DOUBLE, "continuous", treated_x),
        "y": Expr(DataType.DOUBLE, "continuous", lambda f: f.get("x") * 2),
    }
    return root.child(derived)


def test_reading_a_field_fails_the_records_whose_value_was_deferred() -> None:
    """get() claims every row: the deferred ones fail, the others do not."""
    frame = _frame_with_bad_x([1, 3])
    frame.get("x")
    assert sorted(frame.errors.errors) == [1, 3]


def test_peeking_fails_nothing_and_a_claim_fails_only_its_rows() -> None:
    """peek() leaves the deferred values unclaimed; claim() fails the rows it names."""
    frame = _frame_with_bad_x([1, 3])
    frame.peek("x")
    assert frame.errors.errors == {}
    frame.claim("x", np.array([0, 1, 2], dtype=np.intp))
    assert sorted(frame.errors.errors) == [1]


def test_a_derived_field_passes_its_claims_on_to_the_fields_it_read() -> None:
    """Reading y (computed from x) claims x on the same rows."""
    frame = _frame_with_bad_x([2, 4])
    frame.peek("y")
    assert frame.errors.errors == {}
    frame.claim("y", np.array([4], dtype=np.intp))
    assert sorted(frame.errors.errors) == [4]


def test_a_subset_frame_claims_through_its_parents_rows() -> None:
    """A segment over rows 2..4 that reads x fails its own bad rows, by their original numbers."""
    frame = _frame_with_bad_x([1, 3])
    sub = frame.subset(np.array([2, 3, 4], dtype=np.intp), {})
    sub.get("x")
    assert sorted(frame.errors.errors) == [3]


def test_read_order_stops_claiming_after_a_missing_value() -> None:
    """Records that met a missing value earlier read nothing more (JPMML's early stop)."""
    frame = _frame_with_bad_x([0, 1, 2, 3, 4])
    frame.peek("x")
    order = ReadOrder(frame)
    order.stop(np.array([True, False, True, False, False]))
    order.read(("x",))
    assert sorted(frame.errors.errors) == [1, 3, 4]


def test_unclaimed_reads_collect_the_names_and_fail_nothing() -> None:
    """Inside unclaimed(), get() records what it read and claims nothing."""
    frame = _frame_with_bad_x([0])
    with frame.unclaimed() as read:
        frame.get("y")
    assert read == {"y"}
    assert frame.errors.errors == {}
    assert frame.deferred_rows(("y",)) is not None


@pytest.mark.parametrize("rows", [None, np.array([0, 1], dtype=np.intp)])
def test_a_field_without_deferred_values_claims_nothing(rows: np.ndarray | None) -> None:
    """Claims on clean fields are free of errors."""
    frame = _frame_with_bad_x([])
    frame.get("x")
    frame.claim("y", rows)
    assert frame.errors.errors == {}
    assert frame.deferred_rows(("x", "y")) is None
