"""A model and seeded data for the Arrow, Parquet and Spark tests: numbers, text, integers,
booleans, missing cells, and records the model rejects."""

from __future__ import annotations

import re

import numpy as np
import pyarrow as pa

# A logistic classification over a double, a float, an integer and a categorical string; its
# results are a string, a double, a boolean and an integer.  A color outside its values and a
# fractional n are errors of their record.
MIXED_PMML = b"""<?xml version="1.0" encoding="UTF-8"?>
<PMML xmlns="http://www.dmg.org/PMML-4_4" version="4.4">
  <Header/>
  <DataDictionary>
    <DataField name="x1" optype="continuous" dataType="double"/>
    <DataField name="x2" optype="continuous" dataType="float"/>
    <DataField name="n" optype="continuous" dataType="integer"/>
    <DataField name="color" optype="categorical" dataType="string">
      <Value value="red"/><Value value="green"/><Value value="blue"/>
    </DataField>
    <DataField name="y" optype="categorical" dataType="string">
      <Value value="yes"/><Value value="no"/>
    </DataField>
  </DataDictionary>
  <RegressionModel functionName="classification" normalizationMethod="logit">
    <MiningSchema>
      <MiningField name="x1"/>
      <MiningField name="x2"/>
      <MiningField name="n" missingValueReplacement="0"/>
      <MiningField name="color" invalidValueTreatment="returnInvalid"/>
      <MiningField name="y" usageType="target"/>
    </MiningSchema>
    <Output>
      <OutputField name="label" optype="categorical" dataType="string" feature="predictedValue"/>
      <OutputField name="p_yes" optype="continuous" dataType="double" feature="probability" value="yes"/>
      <OutputField name="big" optype="categorical" dataType="boolean" feature="transformedValue">
        <Apply function="greaterThan"><FieldRef field="x1"/><Constant dataType="double">1</Constant></Apply>
      </OutputField>
      <OutputField name="n2" optype="continuous" dataType="integer" feature="transformedValue">
        <Apply function="*"><FieldRef field="n"/><Constant dataType="integer">2</Constant></Apply>
      </OutputField>
    </Output>
    <RegressionTable intercept="0.5" targetCategory="yes">
      <NumericPredictor name="x1" coefficient="1.25"/>
      <NumericPredictor name="x2" coefficient="-0.75"/>
      <NumericPredictor name="n" coefficient="0.1"/>
      <CategoricalPredictor name="color" value="red" coefficient="0.3"/>
      <CategoricalPredictor name="color" value="green" coefficient="-0.2"/>
      <CategoricalPredictor name="color" value="blue" coefficient="0"/>
    </RegressionTable>
    <RegressionTable intercept="0" targetCategory="no"/>
  </RegressionModel>
</PMML>
"""
RESULTS = ("y", "label", "p_yes", "big", "n2")
COLORS = np.array(["red", "green", "blue", "purple"], dtype=object)


def mixed_table(rows: int, seed: int) -> pa.Table:
    """``rows`` records with an ``id``; about 2 % missing x1 and color, 1 % bad color, 1 % fractional n."""
    rng = np.random.default_rng(seed)
    x1 = rng.standard_normal(rows)
    n = rng.integers(-5, 6, rows).astype(np.float64)
    n[rng.random(rows) < 0.01] += 0.5
    color = COLORS[rng.choice(4, rows, p=[0.33, 0.33, 0.33, 0.01])]
    color[rng.random(rows) < 0.02] = None
    return pa.table({
        "id": pa.array(np.arange(rows, dtype=np.int64)),
        "x1": pa.array(x1, mask=rng.random(rows) < 0.02),
        "x2": pa.array(rng.standard_normal(rows).astype(np.float32)),
        "n": pa.array(n),
        "color": pa.array(color, type=pa.string()),
    })


def without_row(message: str | None) -> str | None:
    """An error message without its row reference (which a Spark partition cannot know)."""
    return None if message is None else re.sub(r" \(row \d+\)", "", message)
