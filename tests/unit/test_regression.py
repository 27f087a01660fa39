"""RegressionModel tables: sums in JPMML's order, for one record and for batches alike."""

from __future__ import annotations

import math

import numpy as np
import pytest

from pmserve.pmml import load

HEAD = """<PMML xmlns="http://www.dmg.org/PMML-4_4" version="4.4">
<DataDictionary>
  <DataField name="a" optype="continuous" dataType="double"/>
  <DataField name="b" optype="continuous" dataType="double"/>
  <DataField name="c" optype="continuous" dataType="double"/>
  <DataField name="colour" optype="categorical" dataType="string"/>
  {target}
</DataDictionary>"""

REGRESSION = HEAD.format(target='<DataField name="y" optype="continuous" dataType="double"/>') + """
<RegressionModel functionName="regression">
  <MiningSchema><MiningField name="a"/><MiningField name="b"/><MiningField name="c"/><MiningField name="colour"/>
    <MiningField name="y" usageType="target"/></MiningSchema>
  <RegressionTable intercept="0.5">
    <NumericPredictor name="a" coefficient="2"/>
    <NumericPredictor name="b" coefficient="-3"/>
    <NumericPredictor name="c" coefficient="0.25" exponent="2"/>
    <NumericPredictor name="a" coefficient="1.5"/>
    <CategoricalPredictor name="colour" value="red" coefficient="10"/>
    <PredictorTerm coefficient="4"><FieldRef field="a"/><FieldRef field="c"/></PredictorTerm>
  </RegressionTable>
</RegressionModel>
</PMML>"""

BINARY = HEAD.format(target='<DataField name="y" optype="categorical" dataType="string">'
                            '<Value value="yes"/><Value value="no"/></DataField>') + """
<RegressionModel functionName="classification" normalizationMethod="logit">
  <MiningSchema><MiningField name="a"/><MiningField name="b"/><MiningField name="c"/><MiningField name="colour"/>
    <MiningField name="y" usageType="target"/></MiningSchema>
  <RegressionTable intercept="0.1" targetCategory="yes"><NumericPredictor name="a" coefficient="0.8"/>
  </RegressionTable>
  <RegressionTable intercept="0" targetCategory="no"><NumericPredictor name="b" coefficient="1"/>
  </RegressionTable>
</RegressionModel>
</PMML>"""


def _by_terms(a: float, b: float, c: float, colour: str | None) -> float:
    return (0.5 + 2 * a - 3 * b + 0.25 * c**2 + 1.5 * a + (10 if colour == "red" else 0) + 4 * a * c)


def test_a_table_equals_the_sum_of_its_terms() -> None:
    """First-power predictors (one field twice), powers, categories and terms add up as written."""
    rng = np.random.default_rng(7)
    a, b, c = rng.normal(size=(3, 50))
    colours = ["red" if i % 3 else "blue" for i in range(50)]
    got = load(REGRESSION.encode()).score({"a": a, "b": b, "c": c, "colour": colours})["y"]
    want = [_by_terms(*row) for row in zip(a.tolist(), b.tolist(), c.tolist(), colours, strict=True)]
    assert got.tolist() == pytest.approx(want, rel=1e-12, abs=1e-12)


@pytest.mark.parametrize("missing", ["a", "b", "c"])
def test_a_missing_numeric_input_makes_the_value_missing(missing: str) -> None:
    """A missing value in any numeric predictor, first-power or not, leaves the record unscored."""
    record = {"a": [1.0, 1.0], "b": [2.0, 2.0], "c": [3.0, 3.0], "colour": ["red", None]}
    record[missing] = [None, 1.0]
    got = load(REGRESSION.encode()).score(record)["y"].tolist()
    assert math.isnan(got[0])
    values = {k: v[1] for k, v in record.items()}
    assert got[1] == pytest.approx(_by_terms(values["a"], values["b"], values["c"], None))  # type: ignore[arg-type]


def test_a_table_does_not_see_fields_only_another_table_reads() -> None:
    """An infinite value read by the second table alone leaves the first table's probability."""
    model = load(BINARY.encode())
    got = model.score({"a": [0.5, 0.5], "b": [math.inf, None], "c": [0.0, 0.0], "colour": ["x", "x"]})
    p_yes = 1.0 / (1.0 + math.exp(-(0.1 + 0.8 * 0.5)))
    assert got["probability(yes)"].tolist()[0] == pytest.approx(p_yes)
    assert got["y"].tolist()[0] == "yes"
    assert math.isnan(got["probability(yes)"][1])
    assert got["y"].tolist()[1] is None


def test_one_record_at_a_time_equals_the_batch() -> None:
    """Scoring records one by one gives the batch's values."""
    rng = np.random.default_rng(11)
    a, b, c = rng.normal(size=(3, 20))
    model = load(BINARY.encode())
    batch = model.score({"a": a, "b": b, "c": c, "colour": ["x"] * 20})["probability(yes)"]
    for i in range(20):
        one = model.score({"a": [float(a[i])], "b": [float(b[i])], "c": [float(c[i])], "colour": ["x"]})
        assert one["probability(yes)"][0] == pytest.approx(batch[i], rel=1e-14)
