"""The one-record plan: plain complete records take it, every other record is left to the batch path."""

from __future__ import annotations

from typing import Any

import pytest

from pmserve import pmml
from pmserve.errors import DataError

DOC = """<PMML xmlns="http://www.dmg.org/PMML-4_4" version="4.4"><Header/>
  <DataDictionary>
    <DataField name="x" optype="continuous" dataType="double"/>
    <DataField name="n" optype="continuous" dataType="integer"/>
    <DataField name="f" optype="continuous" dataType="float"/>
    <DataField name="c" optype="categorical" dataType="string">
      <Value value="a"/><Value value="b"/>
    </DataField>
    <DataField name="y" optype="continuous" dataType="double"/>
  </DataDictionary>
  <RegressionModel functionName="regression">
    <MiningSchema>
      <MiningField name="x"/><MiningField name="n"/><MiningField name="f"/>
      <MiningField name="c" invalidValueTreatment="returnInvalid"/>
      <MiningField name="y" usageType="target"/>
    </MiningSchema>
    <Output>
      <OutputField name="out" feature="predictedValue" dataType="double"/>
      <OutputField name="whole" feature="predictedValue" dataType="integer"/>
    </Output>
    <RegressionTable intercept="0.5">
      <NumericPredictor name="x" coefficient="1"/>
      <NumericPredictor name="n" coefficient="10"/>
      <NumericPredictor name="f" coefficient="100"/>
      <CategoricalPredictor name="c" value="b" coefficient="1000"/>
    </RegressionTable>
  </RegressionModel>
</PMML>"""


@pytest.fixture(scope="module")
def model() -> pmml.Model:
    return pmml.load(DOC.encode())


def _alone(model: pmml.Model, record: dict[str, Any]) -> tuple[Any, ...]:
    return next(model.score({k: [v] for k, v in record.items()}).iter_rows())


@pytest.mark.parametrize("record", [
    {"x": 1.5, "n": 2, "f": 0.1, "c": "b"},
    {"x": 1, "n": 2.0, "f": 3, "c": "a"},
    {"x": None, "n": 2, "f": 0.1, "c": "a"},
    {"x": 1.0, "n": None, "f": None, "c": None},
    {"x": 1.0, "n": 3, "f": 0.1, "c": "", "unrelated": [1, 2]},
    {"x": 1.0, "n": 3, "f": 0.1, "c": "b", "y": 7.0},
])
def test_plain_record_gives_what_scoring_it_alone_gives(model: pmml.Model, record: dict[str, Any]) -> None:
    """Numbers, None and strings in every input field: the plan answers, equal to score()."""
    got = model.score_one(record)
    assert got is not None
    assert got == _alone(model, record)


@pytest.mark.parametrize("record", [
    {"x": 1.5, "n": 2, "f": 0.1},  # a field is missing
    {"x": True, "n": 2, "f": 0.1, "c": "a"},  # JSON true is no number
    {"x": "1.5", "n": 2, "f": 0.1, "c": "a"},  # a quoted number is read by the batch path
    {"x": 1.5, "n": 2.5, "f": 0.1, "c": "a"},  # a fractional integer is an invalid value
    {"x": 1.5, "n": 2, "f": 0.1, "c": 3},  # a number for a string field
])
def test_other_records_are_left_to_the_batch_path(model: pmml.Model, record: dict[str, Any]) -> None:
    """Anything but a complete record of plain values returns None (the batch path decides)."""
    assert model.score_one(record) is None


def test_plan_raises_the_data_error_the_batch_path_raises(model: pmml.Model) -> None:
    """An invalid category under returnInvalid fails the record through the plan as through score()."""
    record = {"x": 1.0, "n": 2, "f": 0.5, "c": "zzz"}
    with pytest.raises(DataError) as batch:
        model.score({k: [v] for k, v in record.items()})
    with pytest.raises(DataError, match="zzz") as plan:
        model.score_one(record)
    assert str(plan.value) == str(batch.value)


NUMBERS_ONLY = DOC.replace('<MiningField name="c" invalidValueTreatment="returnInvalid"/>', "").replace(
    '<CategoricalPredictor name="c" value="b" coefficient="1000"/>', "")


@pytest.fixture(scope="module")
def numbers_model() -> pmml.Model:
    """The same model without its string field: its records are taken and checked all at once."""
    return pmml.load(NUMBERS_ONLY.encode())


@pytest.mark.parametrize("record", [
    {"x": 1.5, "n": 2, "f": 0.1},
    {"x": 1, "n": 2.0, "f": 3},
    {"x": None, "n": None, "f": None},
    {"x": float("nan"), "n": float("nan"), "f": 1e300},
    {"x": 2**70, "n": 3, "f": -0.0, "unrelated": "text"},
    {"x": 1.0, "n": 3, "f": 0.1, "y": 7.0},
])
def test_numbers_only_record_gives_what_scoring_it_alone_gives(numbers_model: pmml.Model,
                                                              record: dict[str, Any]) -> None:
    """A model reading numbers only answers from the plan, equal to score()."""
    got = numbers_model.score_one(record)
    assert got is not None
    assert got == pytest.approx(_alone(numbers_model, record), nan_ok=True)


@pytest.mark.parametrize("record", [
    {"x": 1.5, "n": 2},  # a field is missing
    {"x": 1.5, "n": True, "f": 0.1},  # JSON true is no number
    {"x": 1.5, "n": 2, "f": "0.1"},  # a quoted number is read by the batch path
    {"x": 1.5, "n": 2.5, "f": 0.1},  # a fractional integer is an invalid value
    {"x": 1.5, "n": float("inf"), "f": 0.1},  # so is an infinite one
    {"x": [1.5], "n": 2, "f": 0.1},  # a list is no value
])
def test_numbers_only_model_leaves_other_records_to_the_batch_path(numbers_model: pmml.Model,
                                                                  record: dict[str, Any]) -> None:
    """The all-at-once checks refuse what the field-by-field ones refuse."""
    assert numbers_model.score_one(record) is None
