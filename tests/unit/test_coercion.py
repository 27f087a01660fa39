"""Input cells to engine columns: whole-column conversion agrees with the cell-by-cell rules."""

from __future__ import annotations

import math
import random
import re
from typing import Any

import numpy as np
import pytest

from pmserve.errors import InvalidValueError
from pmserve.pmml import load
from pmserve.pmml.expressions.casting import format_number
from pmserve.pmml.fields.types import (
    DataType,
    NumericInputs,
    _numbers_by_cell,
    _strings_by_cell,
    coerce_column,
    to_python_list,
)

DOC = """<PMML xmlns="http://www.dmg.org/PMML-4_4" version="4.4">
<DataDictionary>
  <DataField name="count" optype="continuous" dataType="integer"/>
  <DataField name="colour" optype="categorical" dataType="string"/>
  <DataField name="y" optype="continuous" dataType="double"/>
</DataDictionary>
<RegressionModel functionName="regression">
  <MiningSchema><MiningField name="count"/><MiningField name="colour"/>
    <MiningField name="y" usageType="target"/></MiningSchema>
  <RegressionTable intercept="1"><NumericPredictor name="count" coefficient="2"/>
    <CategoricalPredictor name="colour" value="red" coefficient="10"/></RegressionTable>
</RegressionModel>
</PMML>"""


def _same(a: np.ndarray[Any, Any], b: np.ndarray[Any, Any]) -> bool:
    if a.dtype == object or b.dtype == object:
        return a.dtype == b.dtype and a.tolist() == b.tolist()
    return bool(np.array_equal(a, b, equal_nan=True))


NUMERIC_TYPES = [DataType.DOUBLE, DataType.FLOAT, DataType.INTEGER, DataType.BOOLEAN, DataType.DATE]


@pytest.mark.parametrize("dtype", NUMERIC_TYPES, ids=lambda t: t.value)
def test_numbers_none_and_bools_convert_as_the_cell_rules_do(dtype: DataType) -> None:
    """JSON numbers, None and booleans in one column give the cell-by-cell column and errors."""
    rng = random.Random(3)
    pool: list[Any] = [None, True, False, 0, 7, -3, 2.5, 1e300, math.nan, 0.1, 4.0, 2**70]
    raw = [rng.choice(pool) for _ in range(500)]
    col, bad = coerce_column(dtype, raw, "f")
    ref_col, ref_bad = _numbers_by_cell(dtype, raw, "f")
    assert _same(col, ref_col)
    assert bad == ref_bad


@pytest.mark.parametrize("dtype", NUMERIC_TYPES, ids=lambda t: t.value)
def test_a_column_mixing_strings_and_numbers_reads_each_cell(dtype: DataType) -> None:
    """Strings among numbers are parsed one by one; unreadable ones are reported by row."""
    raw: list[Any] = [1.0, "2", " ", "", None, "abc", 3, "2020-01-02"]
    col, bad = coerce_column(dtype, raw, "f")
    ref_col, ref_bad = _numbers_by_cell(dtype, raw, "f")
    assert _same(col, ref_col)
    assert bad == ref_bad
    assert 5 in bad


def test_strings_none_empty_and_nan_become_categories_or_missing() -> None:
    """"" , None and NaN are missing; strings are kept; numbers and bools become their text."""
    raw: list[Any] = ["red", "", None, math.nan, "blue", 1.0, 2.5, True, 3]
    col, bad = coerce_column(DataType.STRING, raw, "f")
    assert col.tolist() == ["red", None, None, None, "blue", "1", "2.5", "true", "3"]
    assert bad == {}
    assert _same(col, _strings_by_cell(raw))


@pytest.mark.parametrize("raw", [
    ["a", "", None, "b"],
    np.array(["a", math.nan, "c", ""], dtype=object),
    ("x", None),
    [],
], ids=["list", "pandas-object", "tuple", "empty"])
def test_plain_string_columns_convert_as_the_cell_rules_do(raw: Any) -> None:
    """Columns of strings and missing markers take the whole-column path with the same result."""
    col, _ = coerce_column(DataType.STRING, raw, "f")
    assert col.dtype == object
    assert _same(col, _strings_by_cell(raw))


def test_an_integer_array_with_fractions_reports_every_bad_row() -> None:
    """Every non-integer cell of a numpy column is reported, not only the first thousand."""
    raw = np.arange(3000, dtype=np.float64)
    raw[[5, 1500, 2999]] += 0.5
    col, bad = coerce_column(DataType.INTEGER, raw, "n")
    assert sorted(bad) == [5, 1500, 2999]
    assert np.isnan(col[[5, 1500, 2999]]).all()
    assert col[6] == pytest.approx(6.0)


def test_float_fields_round_to_single_precision() -> None:
    """A PMML float field holds float32 values whichever path read them."""
    col, _ = coerce_column(DataType.FLOAT, [0.1, None], "f")
    assert col[0] == pytest.approx(float(np.float32(0.1)), rel=0, abs=0)
    assert np.isnan(col[1])


def test_a_bad_cell_names_field_expected_type_value_and_row() -> None:
    """Scoring JSON-style columns raises a DataError saying where and what was expected."""
    model = load(DOC.encode())
    with pytest.raises(InvalidValueError, match=r"field 'count' expects an integer, got 2\.5 \(row 2\)"):
        model.score({"count": [1, 2.5, 3], "colour": ["red", "blue", None]})


def test_collected_bad_cells_leave_the_other_rows_scored() -> None:
    """With errors="collect" the bad row has missing results and the others are scored."""
    model = load(DOC.encode())
    result = model.score({"count": [1, "many", 3], "colour": ["red", "", "blue"]}, errors="collect")
    assert list(result.errors) == [1]
    assert "'many' (row 2)" in result.errors[1].message
    assert result["y"].tolist()[0] == pytest.approx(13.0)
    assert result["y"].tolist()[2] == pytest.approx(7.0)
    assert math.isnan(result["y"][1])


@pytest.mark.parametrize("dtype", [DataType.INTEGER, DataType.BOOLEAN, DataType.DOUBLE, DataType.FLOAT],
                         ids=lambda t: t.value)
def test_result_columns_become_the_python_values_of_each_cell(dtype: DataType) -> None:
    """Whole-column conversion of results gives what converting each value alone gives."""
    from pmserve.pmml.fields.types import format_scalar, to_python_list

    for values in (np.array([0.0, 1.0, -3.0, 2.0]), np.array([0.0, np.nan, 1.0, np.inf, -np.inf, 2.0**70, -1.0])):
        got = to_python_list(dtype, values)
        want = [format_scalar(dtype, v) for v in values.tolist()]
        assert got == want
        assert [type(v) for v in got] == [type(v) for v in want]


def _by_field(fields: list[tuple[str, DataType]], columns: dict[str, Any]) -> dict[str, np.ndarray[Any, Any]]:
    return {name: coerce_column(dtype, columns[name], name)[0] for name, dtype in fields}


@pytest.mark.parametrize("rows", [1, 3])
def test_numeric_inputs_convert_lists_of_numbers_as_coerce_column_does(rows: int) -> None:
    """Lists of plain numbers (None, ints, floats) convert in one step to the same columns."""
    fields = [("a", DataType.DOUBLE), ("b", DataType.FLOAT), ("c", DataType.DOUBLE)]
    rng = random.Random(rows)
    cells: list[Any] = [None, 3, 0.1, 1e300, -2.5, np.float64(7.25)]
    columns = {name: [rng.choice(cells) for _ in range(rows)] for name, _ in fields}
    got = NumericInputs(fields).convert(columns)
    assert got is not None
    want = _by_field(fields, columns)
    assert list(got) == [name for name, _ in fields]
    for name in want:
        assert _same(got[name], want[name])


def test_numeric_inputs_round_an_all_float_model_to_single_precision() -> None:
    """A model whose every input is a float field rounds every cell to float32, as JPMML does."""
    got = NumericInputs([("a", DataType.FLOAT), ("b", DataType.FLOAT)]).convert({"a": [0.1], "b": [1e300]})
    assert got is not None
    assert got["a"][0] == pytest.approx(float(np.float32(0.1)), rel=0, abs=0)
    assert math.isinf(got["b"][0])


@pytest.mark.parametrize("columns", [
    {"a": [1.0]},                                   # a field is absent: the general path names it
    {"a": [1.0], "b": [1.0, 2.0]},                  # lengths differ
    {"a": ["1.5"], "b": [2.0]},                     # a string cell is parsed cell by cell
    {"a": np.array([1.0]), "b": np.array([2.0])},   # arrays take coerce_column's own path
    {"a": [1.0], "b": [{"x": 1}]},                  # a bad cell is reported row by row
], ids=["absent", "lengths", "string-cell", "arrays", "bad-cell"])
def test_numeric_inputs_leave_other_shapes_to_the_general_path(columns: dict[str, Any]) -> None:
    """Anything but equal-length lists of plain numbers is declined (None), never half converted."""
    assert NumericInputs([("a", DataType.DOUBLE), ("b", DataType.DOUBLE)]).convert(columns) is None


@pytest.mark.parametrize("dtype", [DataType.INTEGER, DataType.STRING, DataType.BOOLEAN, DataType.DATE])
def test_numeric_inputs_are_not_used_for_fields_with_their_own_checks(dtype: DataType) -> None:
    """Integer (fractions are errors), string, boolean and temporal fields go field by field."""
    assert NumericInputs([("a", DataType.DOUBLE), ("b", dtype)]).convert({"a": [1.0], "b": [1]}) is None


def test_a_one_record_request_with_a_bad_cell_still_names_field_and_row() -> None:
    """The one-step conversion declines a bad cell, so the error names field, value and row."""
    doc = DOC.replace('dataType="integer"', 'dataType="double"').replace(
        '<MiningField name="colour"/>', "").replace(
        '<CategoricalPredictor name="colour" value="red" coefficient="10"/>', "").replace(
        '<DataField name="colour" optype="categorical" dataType="string"/>', "")
    model = load(doc.encode())
    assert model.score({"count": [2.0]}).to_lists()["y"] == [5.0]
    with pytest.raises(InvalidValueError, match=r"field 'count' expects a number, got 'abc' \(row 1\)"):
        model.score({"count": ["abc"]})


@pytest.mark.parametrize("cell", ["5_1", "\u0665.\u0661", "0x10", "1e", "1,5", True, False])
@pytest.mark.parametrize("dtype", [DataType.DOUBLE, DataType.FLOAT, DataType.INTEGER])
def test_a_number_field_refuses_what_json_and_csv_do_not_call_a_number(cell: Any, dtype: DataType) -> None:
    """Digit separators, non-ASCII digits, hex and booleans are no numbers, in both conversion paths."""
    col, bad = coerce_column(dtype, [1.0, cell], "f")
    assert list(bad) == [1]
    assert re.fullmatch(r"field 'f' expects an? (number|integer), got .*", bad[1])
    assert math.isnan(col[1])
    assert NumericInputs([("f", dtype)]).convert({"f": [1.0, cell]}) is None


@pytest.mark.parametrize("text", ["1", "-2.5", " 3e2 ", ".5", "5.", "+7", "NaN", "-INF", "Infinity"])
def test_quoted_numbers_read_as_the_reference_reads_them(text: str) -> None:
    """Decimal numbers with an exponent, and the special values' spellings, are numbers."""
    col, bad = coerce_column(DataType.DOUBLE, [text], "f")
    assert bad == {}
    assert _same(col, np.array([float(text)]))


def test_a_huge_bad_cell_is_quoted_by_a_short_prefix() -> None:
    """An error message quotes at most a short prefix of a bad value, and its length."""
    _, bad = coerce_column(DataType.DOUBLE, ["x" * 1_000_000], "f")
    assert len(bad[0]) < 300
    assert "(1000000 characters)" in bad[0]


@pytest.mark.parametrize(("value", "dtype", "text"), [
    (math.inf, DataType.DOUBLE, "Infinity"), (-math.inf, DataType.INTEGER, "-Infinity"),
    (math.nan, DataType.DOUBLE, "NaN"), (2.0, DataType.INTEGER, "2"), (2.5, DataType.DOUBLE, "2.5"),
])
def test_a_number_in_a_string_context_prints_as_java_prints_it(value: float, dtype: DataType, text: str) -> None:
    """Non-finite numbers print as Double.toString does, instead of failing the record."""
    assert format_number(value, dtype) == text


def test_an_integer_result_beyond_64_bits_stays_a_float() -> None:
    """JSON encoders (and the reference's Long) hold 64-bit integers; a larger result is a float."""
    got = to_python_list(DataType.INTEGER, np.array([1.0, 2.0**70, -(2.0**70), np.nan]))
    assert got[0] == 1
    assert isinstance(got[0], int)
    assert got[1:3] == [pytest.approx(2.0**70), pytest.approx(-(2.0**70))]
    assert all(isinstance(v, float) for v in got[1:3])
    assert got[3] is None
