"""The ``if`` function (PMML 4.4 "Built-in Functions"), compiled by the Apply expression: a branch
runs on the records that take it, a missing condition and a false one without an ELSE part give
a missing value, and branches of different types give the common type."""

from __future__ import annotations

import pytest

from pmserve.pmml import load

DOC = """<PMML xmlns="http://www.dmg.org/PMML-4_4" version="4.4">
 <DataDictionary><DataField name="c" optype="continuous" dataType="double"/>
  <DataField name="y" optype="{optype}" dataType="{dtype}"/></DataDictionary>
 <RegressionModel functionName="regression"><MiningSchema><MiningField name="c"/>
  <MiningField name="y" usageType="target"/></MiningSchema>
  <Output><OutputField name="d" feature="transformedValue">
   <Apply function="if"><FieldRef field="c"/>{branches}</Apply></OutputField></Output>
  <RegressionTable intercept="0"/>
 </RegressionModel>
</PMML>"""


def _if(branches: str, condition: list[float | None]) -> list[object]:
    doc = DOC.format(optype="continuous", dtype="double", branches=branches)
    return load(doc.encode()).score({"c": condition}).to_lists()["d"]


def test_the_branch_taken_gives_the_value_and_a_missing_condition_gives_missing() -> None:
    got = _if('<Constant dataType="integer">5</Constant><Constant dataType="integer">7</Constant>',
              [1.0, 0.0, None])
    assert got == [5, 7, None]


def test_a_false_condition_without_else_gives_missing() -> None:
    assert _if('<Constant dataType="integer">5</Constant>', [1.0, 0.0]) == [5, None]


@pytest.mark.parametrize(("then", "other", "expected"), [
    ('<Constant dataType="integer">5</Constant>', '<Constant dataType="double">2.5</Constant>', [5.0, 2.5]),
    ('<Constant dataType="string">a</Constant>', '<Constant dataType="double">2.5</Constant>', ["a", "2.5"]),
])
def test_branches_of_different_types_give_the_common_type(then: str, other: str, expected: list[object]) -> None:
    assert _if(then + other, [1.0, 0.0]) == expected
