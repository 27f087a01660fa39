"""Scored tables as Arrow batches (pmserve.arrow) and their layout (pmserve.tables)."""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from tests.service.conftest import select_all_pmml
from tests.spark._data import MIXED_PMML, RESULTS, mixed_table

from pmserve import pmml
from pmserve.arrow import open_parquet, result_array, result_type, score_batch, scored_schema
from pmserve.errors import DataError, MissingFieldError
from pmserve.pmml import DataType, Field
from pmserve.tables import echoed_columns, passthrough_columns

MODEL = pmml.load(MIXED_PMML)


def _batch(rows: int = 2000, seed: int = 3) -> pa.RecordBatch:
    return mixed_table(rows, seed).combine_chunks().to_batches()[0]


def test_scored_batch_is_inputs_then_typed_results_then_error() -> None:
    """Input columns come first untouched, results typed after their PMML data types, then error."""
    batch = _batch(50)
    out = score_batch(MODEL, batch).batch
    assert out.schema.names == [*batch.schema.names, *RESULTS, "error"]
    assert [out.schema.field(n).type for n in (*RESULTS, "error")] == \
        [pa.string(), pa.string(), pa.float64(), pa.bool_(), pa.int64(), pa.string()]
    assert out.column("x1").equals(batch.column("x1"))
    assert out.schema == scored_schema(MODEL, batch.schema)


def test_scored_batch_equals_model_score_record_for_record() -> None:
    """Every result cell and every error is what Model.score gives for the same columns."""
    batch = _batch()
    scored = score_batch(MODEL, batch)
    columns = {name: batch.column(name).to_pylist() for name in batch.schema.names}
    expected = MODEL.score(columns, errors="collect")
    assert scored.errors.keys() == expected.errors.keys()
    assert 0 < len(expected.errors) < batch.num_rows
    got = scored.batch.to_pydict()
    for name, want in expected.to_lists().items():
        for a, b in zip(got[name], want, strict=True):
            if isinstance(b, float):
                assert a == pytest.approx(b, rel=1e-12)
            else:
                assert a == b
    assert got["error"] == [expected.errors[r].message if r in expected.errors else None
                            for r in range(batch.num_rows)]


def test_error_rows_have_missing_results_and_a_row_free_message_without_offset() -> None:
    """A rejected record's results are null; with offset None its message names no row."""
    batch = _batch()
    out = score_batch(MODEL, batch, offset=None).batch.to_pydict()
    bad = [i for i, e in enumerate(out["error"]) if e is not None]
    assert bad
    assert all(out[name][i] is None for i in bad for name in RESULTS)
    assert not any("(row " in out["error"][i] for i in bad)
    assert any(out["error"][i] == "field 'n' expects an integer, got 5.5" for i in bad)


def test_error_rows_are_numbered_within_the_whole_input_with_an_offset() -> None:
    """With the batch's offset in the input, a message names the record's row in the input."""
    batch = _batch()
    scored = score_batch(MODEL, batch, offset=1000)
    row = min(scored.errors)
    assert scored.batch.column("error")[row].as_py().endswith(f"(row {1000 + row + 1})")


def test_numeric_nulls_and_dictionary_strings_are_read_as_missing_and_text() -> None:
    """Null numbers are missing values; dictionary-encoded text reads as its strings."""
    batch = pa.record_batch({
        "x1": pa.array([0.5, None], type=pa.float64()),
        "x2": pa.array([1, 2], type=pa.int32()),
        "n": pa.array([1, None], type=pa.int64()),
        "color": pa.array(["red", "green"]).dictionary_encode(),
    })
    out = score_batch(MODEL, batch).batch.to_pydict()
    plain = MODEL.score({"x1": [0.5, None], "x2": [1.0, 2.0], "n": [1, None], "color": ["red", "green"]})
    assert out["p_yes"][0] == pytest.approx(plain.to_lists()["p_yes"][0], rel=1e-12)
    assert out["p_yes"][1] is None
    assert out["n2"] == [2, 0]  # a missing n is replaced by 0 (missingValueReplacement)
    assert out["error"] == [None, None]


def test_input_column_named_like_a_result_or_error_gives_way() -> None:
    """An input column named like a result, or 'error', is not echoed: the new column replaces it."""
    batch = _batch(10).append_column("label", pa.array(["old"] * 10)).append_column("error", pa.array(["x"] * 10))
    out = score_batch(MODEL, batch).batch
    assert out.schema.names.count("label") == 1
    assert out.schema.names.count("error") == 1
    assert "old" not in out.column("label").to_pylist()
    assert echoed_columns(["a", "y", "error"], ["y"]) == [0]
    assert passthrough_columns(["a", "y", "error"], ["y"]) == [0, 2]


def test_list_valued_result_is_an_arrow_list() -> None:
    """A selectAll MiningModel's result is a list column, null where the record has none."""
    model = pmml.load(select_all_pmml())
    out = score_batch(model, pa.record_batch({"x": pa.array([-1.0, 2.0, None])})).batch
    assert out.schema.field("y").type == pa.list_(pa.float64())
    assert out.column("y").to_pylist()[:2] == [[0.0], [3.0, 12.0]]


def test_missing_input_field_is_refused_for_the_whole_batch() -> None:
    """A batch without a column the model needs raises, naming the field."""
    with pytest.raises(MissingFieldError, match="'color'"):
        score_batch(MODEL, _batch(5).drop_columns(["color"]))


@pytest.mark.parametrize(("dtype", "values", "expected"), [
    (DataType.DATE, [0.0, 365.0, math.nan], [dt.date(1970, 1, 1), dt.date(1971, 1, 1), None]),
    (DataType.DATE_TIME, [86_400.5, math.nan], [dt.datetime(1970, 1, 2, 0, 0, 0, 500_000), None]),
    (DataType.TIME, [3_661.0], [dt.time(1, 1, 1)]),
    (DataType.INTEGER, [3.0, math.inf, math.nan], [3, None, None]),
    (DataType.BOOLEAN, [1.0, 0.0, math.nan], [True, False, None]),
    (DataType.DATE_DAYS_SINCE_1960, [12.0, math.nan], [12.0, None]),
])
def test_result_columns_convert_to_their_arrow_types(dtype: DataType, values: list[float],
                                                     expected: list[object]) -> None:
    """Engine float64 results become Arrow values of the field's type; NaN is null."""
    field = Field("r", dtype, "continuous")
    array = result_array(field, np.array(values))
    assert array.type == result_type(field)
    assert array.to_pylist() == expected


def test_string_result_holding_numbers_is_written_as_their_text() -> None:
    """A string result column with numbers in it (a numeric category) is written as text."""
    array = result_array(Field("r", DataType.STRING, "categorical"), np.array([1, "a", None], dtype=object))
    assert array.to_pylist() == ["1", "a", None]


@pytest.mark.parametrize(("offset", "expected"), [
    (0, "field 'x' expects a number, got 'a' (row 3)"),
    (10, "field 'x' expects a number, got 'a' (row 13)"),
    (None, "field 'x' expects a number, got 'a'"),
])
def test_a_row_error_renders_its_row_within_the_input_or_none(offset: int | None, expected: str) -> None:
    """A record's message is numbered within the input, or carries no row where none is known."""
    err = DataError("field 'x' expects a number, got 'a'", field="x", row=2)
    assert err.render(offset) == expected


def test_a_parquet_file_read_batch_by_batch_holds_a_few_row_groups_not_the_file(tmp_path: Path) -> None:
    path = tmp_path / "in.parquet"
    rng = np.random.default_rng(0)
    table = pa.table({f"x{i}": rng.standard_normal(200_000) for i in range(10)})  # ~15 MiB
    pq.write_table(table, path, row_group_size=5_000)
    rows, peak, before = 0, 0, pa.total_allocated_bytes()  # what other tests still hold is not the reader's
    for batch in open_parquet(path).iter_batches(batch_size=1_000):
        rows += batch.num_rows
        peak = max(peak, pa.total_allocated_bytes() - before)
    assert rows == 200_000
    assert peak < path.stat().st_size / 4  # pyarrow's pre-buffering kept the whole file
