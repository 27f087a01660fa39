"""The compiled neural network layers against a record-by-record reference in plain Python."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pytest

from pmserve import pmml

#: A hidden neuron: id, bias, connections (source, weight) in document order.
Neuron = tuple[str, float, list[tuple[str, float]]]

WIDTH, ALTITUDE, THRESHOLD = 1.5, 1.25, 0.1

def exp(z: float) -> float:
    """e^z, overflowing to infinity as Java's Math.exp does (Python's raises)."""
    return math.exp(z) if z < 710.0 else math.inf


#: PMML 4.4's activationFunctions of a neuron's summed input z but radialBasis (see hidden_value).
ACTIVATIONS: dict[str, Callable[[float], float]] = {
    "threshold": lambda z: 1.0 if z > THRESHOLD else 0.0,
    "logistic": lambda z: 1.0 / (1.0 + exp(-z)),
    "tanh": math.tanh,
    "identity": lambda z: z,
    "exponential": exp,
    "reciprocal": lambda z: 1.0 / z,
    "square": lambda z: z * z,
    "Gauss": lambda z: exp(-z * z),
    "sine": math.sin,
    "cosine": math.cos,
    "Elliott": lambda z: z / (1.0 + abs(z)),
    "arctan": lambda z: 2.0 * math.atan(z) / math.pi,
    "rectifier": lambda z: max(z, 0.0),
}


def network(activation: str, normalization: str) -> tuple[bytes, list[Neuron], list[Neuron]]:
    """Three inputs, a hidden layer of 4 (``activation``), 3 outputs (logistic, ``normalization``):
    the document and its hidden and output neurons."""
    rng = np.random.default_rng(len(activation) * 7 + len(normalization))

    def neurons(prefix: str, sources: Callable[[int], list[str]], count: int) -> list[Neuron]:
        return [(f"{prefix}{j}", float(rng.normal()), [(s, float(rng.normal())) for s in sources(j)])
                for j in range(count)]

    # Connections out of source order, and one neuron reading two sources only.
    hidden = neurons("h", lambda j: ["i2", "i0", "i1"] if j != 3 else ["i1", "i0"], 4)
    outputs = neurons("o", lambda j: ["h0", "h1", "h2", "h3", "i0"], 3)

    def layer(attributes: str, layer_neurons: list[Neuron]) -> str:
        return f"<NeuralLayer {attributes}>" + "".join(
            f'<Neuron id="{nid}" bias="{bias!r}">' + "".join(f'<Con from="{s}" weight="{w!r}"/>' for s, w in cons)
            + "</Neuron>" for nid, bias, cons in layer_neurons) + "</NeuralLayer>"

    inputs = "".join(f'<NeuralInput id="i{j}"><DerivedField optype="continuous" dataType="double">'
                     f'<FieldRef field="x{j}"/></DerivedField></NeuralInput>' for j in range(3))
    targets = "".join(f'<NeuralOutput outputNeuron="o{j}"><DerivedField optype="categorical" dataType="string">'
                      f'<NormDiscrete field="y" value="c{j}"/></DerivedField></NeuralOutput>' for j in range(3))
    doc = f"""<PMML xmlns="http://www.dmg.org/PMML-4_4" version="4.4">
  <DataDictionary>
    <DataField name="x0" optype="continuous" dataType="double"/>
    <DataField name="x1" optype="continuous" dataType="double"/>
    <DataField name="x2" optype="continuous" dataType="double"/>
    <DataField name="y" optype="categorical" dataType="string">
      <Value value="c0"/><Value value="c1"/><Value value="c2"/>
    </DataField>
  </DataDictionary>
  <NeuralNetwork functionName="classification" activationFunction="{activation}" threshold="{THRESHOLD}"
                 width="{WIDTH}" altitude="{ALTITUDE}">
    <MiningSchema>
      <MiningField name="x0"/><MiningField name="x1"/><MiningField name="x2"/>
      <MiningField name="y" usageType="target"/>
    </MiningSchema>
    <NeuralInputs>{inputs}</NeuralInputs>
    {layer("", hidden)}
    {layer(f'activationFunction="logistic" normalizationMethod="{normalization}"', outputs)}
    <NeuralOutputs>{targets}</NeuralOutputs>
  </NeuralNetwork>
</PMML>""".encode()
    return doc, hidden, outputs


def hidden_value(activation: str, bias: float, cons: list[tuple[str, float]], value: dict[str, float]) -> float:
    """A hidden neuron's output, its connections summed in document order (as JPMML sums them)."""
    z = 0.0
    if activation == "radialBasis":
        for s, w in cons:
            z += (value[s] - w) * (value[s] - w)
        return math.exp(z / (-2.0 * WIDTH * WIDTH) + len(cons) * math.log(ALTITUDE))
    for s, w in cons:
        z += w * value[s]
    return ACTIVATIONS[activation](z + bias)


def reference(activation: str, normalization: str, hidden: list[Neuron], outputs: list[Neuron],
              x: list[float | None]) -> list[float]:
    """One record's class probabilities computed neuron by neuron with Python's floats and math."""
    if any(v is None for v in x):
        return [math.nan] * len(outputs)
    value: dict[str, float] = {f"i{j}": float(v) for j, v in enumerate(x) if v is not None}
    for nid, bias, cons in hidden:
        value[nid] = hidden_value(activation, bias, cons, value)
    out = [hidden_value("logistic", bias, cons, value) for _, bias, cons in outputs]
    if normalization == "softmax":
        top = max(out)
        out = [exp(v - top) for v in out]
    if normalization != "none":
        total = 0.0
        for v in out:
            total += v
        out = [v / total for v in out]
    return out


def records() -> dict[str, list[float | None]]:
    rng = np.random.default_rng(1)
    cols: dict[str, list[float | None]] = {f"x{j}": rng.normal(0, 2, size=600).tolist() for j in range(3)}
    cols["x1"][5] = None  # a record without a prediction
    cols["x0"][7] = 0.0
    return cols


@pytest.mark.parametrize("normalization", ["none", "simplemax", "softmax"])
@pytest.mark.parametrize("activation", [*ACTIVATIONS, "radialBasis"])
def test_compiled_layers_equal_a_record_by_record_reference(activation: str, normalization: str) -> None:
    """Each PMML activation and normalization, 600 records (more than one block) and a missing input."""
    doc, hidden, outputs = network(activation, normalization)
    compiled = pmml.load(doc)
    cols = records()
    got = compiled.score(cols)
    want = np.array([reference(activation, normalization, hidden, outputs, list(x))
                     for x in zip(cols["x0"], cols["x1"], cols["x2"], strict=True)])
    for j in range(3):
        # libm's functions (the kernel's) agree with Python's math here, but the kernel's ln(altitude)
        # is numpy's: equal at the corpus's JPMML tolerance (relative 1e-13; 1e-16 absolute for
        # probabilities near zero, where exp(-650) magnifies an ulp).
        np.testing.assert_allclose(np.asarray(got[f"probability(c{j})"], dtype=float), want[:, j],
                                   rtol=1e-13, atol=1e-16, equal_nan=True)
    one = compiled.score({k: v[42:43] for k, v in cols.items()})
    for name in got:
        if name.startswith("probability"):
            np.testing.assert_allclose(np.asarray(one[name], dtype=float), np.asarray(got[name], dtype=float)[42:43],
                                       rtol=0.0, atol=0.0)
