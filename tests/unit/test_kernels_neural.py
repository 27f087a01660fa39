"""The compiled neural network layers against the numpy path (still radialBasis' and tanh's)."""

from __future__ import annotations

import numpy as np
import pytest

from pmserve import pmml
from pmserve.pmml.kernels import neural
from pmserve.pmml.models import neural_network


def network(activation: str, normalization: str) -> bytes:
    """Three inputs, a hidden layer of 4 (``activation``), 3 outputs (logistic, ``normalization``)."""
    rng = np.random.default_rng(len(activation) * 7 + len(normalization))

    def cons(sources: list[str]) -> str:
        weights = rng.normal(size=len(sources)).tolist()
        return "".join(f'<Con from="{s}" weight="{w!r}"/>' for s, w in zip(sources, weights, strict=True))

    inputs = "".join(f'<NeuralInput id="i{j}"><DerivedField optype="continuous" dataType="double">'
                     f'<FieldRef field="x{j}"/></DerivedField></NeuralInput>' for j in range(3))
    # Connections out of source order, and one neuron reading two sources only.
    hidden = "".join(f'<Neuron id="h{j}" bias="{b!r}">{cons(["i2", "i0", "i1"] if j != 3 else ["i1", "i0"])}'
                     "</Neuron>" for j, b in enumerate(rng.normal(size=4).tolist()))
    outputs = "".join(f'<Neuron id="o{j}" bias="{b!r}">{cons(["h0", "h1", "h2", "h3", "i0"])}</Neuron>'
                      for j, b in enumerate(rng.normal(size=3).tolist()))
    targets = "".join(f'<NeuralOutput outputNeuron="o{j}"><DerivedField optype="categorical" dataType="string">'
                      f'<NormDiscrete field="y" value="c{j}"/></DerivedField></NeuralOutput>' for j in range(3))
    return f"""<PMML xmlns="http://www.dmg.org/PMML-4_4" version="4.4">
  <DataDictionary>
    <DataField name="x0" optype="continuous" dataType="double"/>
    <DataField name="x1" optype="continuous" dataType="double"/>
    <DataField name="x2" optype="continuous" dataType="double"/>
    <DataField name="y" optype="categorical" dataType="string">
      <Value value="c0"/><Value value="c1"/><Value value="c2"/>
    </DataField>
  </DataDictionary>
  <NeuralNetwork functionName="classification" activationFunction="{activation}" threshold="0.1">
    <MiningSchema>
      <MiningField name="x0"/><MiningField name="x1"/><MiningField name="x2"/>
      <MiningField name="y" usageType="target"/>
    </MiningSchema>
    <NeuralInputs>{inputs}</NeuralInputs>
    <NeuralLayer>{hidden}</NeuralLayer>
    <NeuralLayer activationFunction="logistic" normalizationMethod="{normalization}">{outputs}</NeuralLayer>
    <NeuralOutputs>{targets}</NeuralOutputs>
  </NeuralNetwork>
</PMML>""".encode()


def records() -> dict[str, list[float | None]]:
    rng = np.random.default_rng(1)
    cols: dict[str, list[float | None]] = {f"x{j}": rng.normal(0, 2, size=600).tolist() for j in range(3)}
    cols["x1"][5] = None  # a record without a prediction
    cols["x0"][7] = 0.0
    return cols


@pytest.mark.parametrize("normalization", list(neural.NORMALIZATIONS))
@pytest.mark.parametrize("activation", list(neural.ACTIVATIONS))
def test_compiled_layers_equal_the_numpy_path(activation: str, normalization: str,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """Each activation and normalization, 600 records (more than one block) and a missing input."""
    doc = network(activation, normalization)
    compiled = pmml.load(doc)
    monkeypatch.setattr(neural_network, "_compiled_network", lambda layers: None)
    by_numpy = pmml.load(doc)
    cols = records()
    got, want = compiled.score(cols), by_numpy.score(cols)
    assert list(got) == list(want)
    for name in want:
        if name.startswith("probability"):
            # libm's exp (the kernel's) and numpy's SIMD exp (AVX-512 CPUs) may differ by an ulp, which
            # the exponential activation feeds into a second exp: equal at the corpus's JPMML tolerance
            # (relative 1e-13; 1e-16 absolute for probabilities near zero, where exp(-650) magnifies it).
            np.testing.assert_allclose(np.asarray(got[name], dtype=float), np.asarray(want[name], dtype=float),
                                       rtol=1e-13, atol=1e-16, equal_nan=True)
        else:
            assert list(got[name]) == list(want[name])
    one = compiled.score({k: v[42:43] for k, v in cols.items()})
    for name in want:
        if name.startswith("probability"):
            np.testing.assert_allclose(np.asarray(one[name], dtype=float), np.asarray(got[name], dtype=float)[42:43],
                                       rtol=0.0, atol=0.0)


def test_layers_whose_activation_libm_computes_differently_stay_with_numpy() -> None:
    """tanh, sine, cosine, arctan and radialBasis are not compiled."""
    assert not {"tanh", "sine", "cosine", "arctan", "radialBasis"} & set(neural.ACTIVATIONS)
