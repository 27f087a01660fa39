"""NeuralNetwork (pmserve.pmml.models.neural_network) on small hand-written documents."""

from __future__ import annotations

import math
import pickle
import re
from collections.abc import Callable, Sequence

import numpy as np
import pytest

from pmserve import pmml
from pmserve.errors import DocumentProblems

X1 = [0.5, -1.25, 2.0, 0.0]
X2 = [1.5, 0.75, -0.5, 3.0]


def regression_doc(layers: str, *, net_attrs: str = 'activationFunction="identity"', output: str | None = None,
                   inputs: str | None = None) -> bytes:
    inputs = inputs or """
      <NeuralInput id="i1"><DerivedField optype="continuous" dataType="double"><FieldRef field="x1"/></DerivedField>
      </NeuralInput>
      <NeuralInput id="i2"><DerivedField optype="continuous" dataType="double"><FieldRef field="x2"/></DerivedField>
      </NeuralInput>"""
    output = output or '<FieldRef field="y"/>'
    return f"""<PMML xmlns="http://www.dmg.org/PMML-4_4" version="4.4">
  <DataDictionary>
    <DataField name="x1" optype="continuous" dataType="double"/>
    <DataField name="x2" optype="continuous" dataType="double"/>
    <DataField name="y" optype="continuous" dataType="double"/>
  </DataDictionary>
  <NeuralNetwork functionName="regression" {net_attrs}>
    <MiningSchema>
      <MiningField name="x1"/><MiningField name="x2"/><MiningField name="y" usageType="target"/>
    </MiningSchema>
    <NeuralInputs>{inputs}</NeuralInputs>
    {layers}
    <NeuralOutputs>
      <NeuralOutput outputNeuron="o"><DerivedField optype="continuous" dataType="double">{output}</DerivedField>
      </NeuralOutput>
    </NeuralOutputs>
  </NeuralNetwork>
</PMML>""".encode()


def one_layer(activation: str, extra: str = "") -> str:
    """Neuron o = activation(0.5*x1 - 0.25*x2 + 0.1)."""
    return f"""<NeuralLayer activationFunction="{activation}" {extra}>
      <Neuron id="o" bias="0.1"><Con from="i1" weight="0.5"/><Con from="i2" weight="-0.25"/></Neuron>
    </NeuralLayer>"""


def score_y(doc: bytes, x1: Sequence[float | None] = X1, x2: Sequence[float | None] = X2) -> np.ndarray:
    return np.asarray(pmml.load(doc).score({"x1": x1, "x2": x2})["y"], dtype=float)


def z_of(x1: float, x2: float) -> float:
    return 0.5 * x1 - 0.25 * x2 + 0.1


ACTIVATIONS: dict[str, Callable[[float], float]] = {
    "logistic": lambda z: 1.0 / (1.0 + math.exp(-z)),
    "tanh": math.tanh,
    "identity": lambda z: z,
    "exponential": math.exp,
    "reciprocal": lambda z: 1.0 / z,
    "square": lambda z: z * z,
    "Gauss": lambda z: math.exp(-z * z),
    "sine": math.sin,
    "cosine": math.cos,
    "Elliott": lambda z: z / (1.0 + abs(z)),
    "arctan": lambda z: 2.0 * math.atan(z) / math.pi,
    "rectifier": lambda z: max(z, 0.0),
}


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_each_activation_function_applies_to_the_weighted_sum(name: str) -> None:
    """Every activationFunction of PMML 4.4 transforms the neuron's weighted sum plus bias."""
    expected = [ACTIVATIONS[name](z_of(a, b)) for a, b in zip(X1, X2, strict=True)]
    np.testing.assert_allclose(score_y(regression_doc(one_layer(name))), expected, rtol=1e-12)


def test_threshold_activation_compares_with_the_layer_threshold() -> None:
    """threshold gives 1 where the sum exceeds the threshold, else 0; the layer's value overrides the model's."""
    doc = regression_doc(one_layer("threshold", 'threshold="0.3"'), net_attrs='threshold="5"')
    expected = [1.0 if z_of(a, b) > 0.3 else 0.0 for a, b in zip(X1, X2, strict=True)]
    np.testing.assert_array_equal(score_y(doc), expected)


def test_layer_activation_overrides_the_network_default() -> None:
    """A layer without activationFunction uses the NeuralNetwork's; its own attribute wins."""
    hidden = """<NeuralLayer>
      <Neuron id="h" bias="0.1"><Con from="i1" weight="0.5"/><Con from="i2" weight="-0.25"/></Neuron>
    </NeuralLayer>
    <NeuralLayer activationFunction="identity">
      <Neuron id="o" bias="-1"><Con from="h" weight="2"/></Neuron>
    </NeuralLayer>"""
    doc = regression_doc(hidden, net_attrs='activationFunction="tanh"')
    expected = [2.0 * math.tanh(z_of(a, b)) - 1.0 for a, b in zip(X1, X2, strict=True)]
    np.testing.assert_allclose(score_y(doc), expected, rtol=1e-12)


def test_connections_may_skip_a_layer() -> None:
    """A neuron may read a NeuralInput directly, past the hidden layer."""
    layers = """<NeuralLayer activationFunction="logistic">
      <Neuron id="h" bias="0"><Con from="i1" weight="1"/></Neuron>
    </NeuralLayer>
    <NeuralLayer activationFunction="identity">
      <Neuron id="o" bias="0"><Con from="h" weight="1"/><Con from="i2" weight="3"/></Neuron>
    </NeuralLayer>"""
    expected = [1.0 / (1.0 + math.exp(-a)) + 3.0 * b for a, b in zip(X1, X2, strict=True)]
    np.testing.assert_allclose(score_y(regression_doc(layers)), expected, rtol=1e-12)


def test_radial_basis_uses_width_altitude_and_fan_in() -> None:
    """radialBasis: exp(fanIn * ln(altitude) - sum((x - w)^2) / (2 width^2)), the Neuron's width winning."""
    layers = """<NeuralLayer activationFunction="radialBasis" width="2" altitude="1.5">
      <Neuron id="r1"><Con from="i1" weight="0.5"/><Con from="i2" weight="1"/></Neuron>
      <Neuron id="r2" width="0.5"><Con from="i1" weight="-1"/></Neuron>
    </NeuralLayer>
    <NeuralLayer activationFunction="identity">
      <Neuron id="o" bias="0"><Con from="r1" weight="1"/><Con from="r2" weight="10"/></Neuron>
    </NeuralLayer>"""
    expected = []
    for a, b in zip(X1, X2, strict=True):
        r1 = math.exp(2 * math.log(1.5) - ((a - 0.5) ** 2 + (b - 1.0) ** 2) / (2 * 2.0**2))
        r2 = math.exp(1 * math.log(1.5) - (a + 1.0) ** 2 / (2 * 0.5**2))
        expected.append(r1 + 10 * r2)
    np.testing.assert_allclose(score_y(regression_doc(layers)), expected, rtol=1e-12)


def test_radial_basis_without_width_is_refused() -> None:
    """radialBasis needs a width on the Neuron, the layer or the network."""
    with pytest.raises(DocumentProblems, match="radialBasis needs a width"):
        pmml.load(regression_doc(one_layer("radialBasis")))


def test_norm_continuous_output_is_denormalised() -> None:
    """A NormContinuous NeuralOutput maps the neuron's value back to the target's scale, segment by segment."""
    norm, orig = [-100.0, 0.0, 0.5, 1.0, 100.0], [-1000.0, 0.0, 10.0, 100.0, 17920.0]
    output = "<NormContinuous field=\"y\">" + "".join(
        f'<LinearNorm orig="{o}" norm="{n}"/>' for n, o in zip(norm, orig, strict=True)) + "</NormContinuous>"
    doc = regression_doc(one_layer("identity"), output=output)
    zs = np.array([z_of(a, b) for a, b in zip(X1, X2, strict=True)])
    np.testing.assert_allclose(score_y(doc), np.interp(zs, norm, orig), rtol=1e-12)


def test_norm_continuous_output_beyond_its_norm_range_fails_the_record() -> None:
    """A network output outside the LinearNorms' norm range is not extrapolated (JPMML-Evaluator 1.7)."""
    output = """<NormContinuous field="y"><LinearNorm orig="0" norm="-1000"/><LinearNorm orig="10" norm="0"/>
      </NormContinuous>"""
    model = pmml.load(regression_doc(one_layer("identity"), output=output))
    zs = np.array([z_of(a, b) for a, b in zip(X1, X2, strict=True)])
    got = model.score({"x1": X1, "x2": X2}, errors="collect")
    beyond = {int(r) for r in np.flatnonzero(zs > 0)}
    assert beyond
    assert set(got.errors) == beyond
    assert "outside the norm range" in str(got.errors[min(beyond)])


def test_norm_continuous_inputs_are_computed_before_the_network() -> None:
    """NeuralInput DerivedFields hold expressions (here NormContinuous) evaluated per row."""
    inputs = """
      <NeuralInput id="i1"><DerivedField optype="continuous" dataType="double">
        <NormContinuous field="x1"><LinearNorm orig="-2" norm="0"/><LinearNorm orig="2" norm="1"/></NormContinuous>
      </DerivedField></NeuralInput>
      <NeuralInput id="i2"><DerivedField optype="continuous" dataType="double"><FieldRef field="x2"/></DerivedField>
      </NeuralInput>"""
    doc = regression_doc(one_layer("identity"), inputs=inputs)
    expected = [z_of((a + 2.0) / 4.0, b) for a, b in zip(X1, X2, strict=True)]
    np.testing.assert_allclose(score_y(doc), expected, rtol=1e-12)


def test_missing_input_gives_no_prediction() -> None:
    """A missing NeuralInput leaves the record without a predicted value (no error)."""
    got = pmml.load(regression_doc(one_layer("identity"))).score({"x1": [None, 1.0], "x2": [1.0, 1.0]})
    assert math.isnan(got["y"][0])
    assert got["y"][1] == pytest.approx(z_of(1.0, 1.0))
    assert got.errors == {}


def classification_doc(norm: str, activation: str = "identity") -> bytes:
    return f"""<PMML xmlns="http://www.dmg.org/PMML-4_4" version="4.4">
  <DataDictionary>
    <DataField name="x1" optype="continuous" dataType="double"/>
    <DataField name="x2" optype="continuous" dataType="double"/>
    <DataField name="c" optype="categorical" dataType="string">
      <Value value="a"/><Value value="b"/><Value value="c"/>
    </DataField>
  </DataDictionary>
  <NeuralNetwork functionName="classification" activationFunction="{activation}" normalizationMethod="{norm}">
    <MiningSchema><MiningField name="x1"/><MiningField name="x2"/><MiningField name="c" usageType="target"/>
    </MiningSchema>
    <Output>
      <OutputField name="pc" feature="probability" value="c"/>
      <OutputField name="winner" feature="entityId"/>
    </Output>
    <NeuralInputs>
      <NeuralInput id="i1"><DerivedField optype="continuous" dataType="double"><FieldRef field="x1"/></DerivedField>
      </NeuralInput>
      <NeuralInput id="i2"><DerivedField optype="continuous" dataType="double"><FieldRef field="x2"/></DerivedField>
      </NeuralInput>
    </NeuralInputs>
    <NeuralLayer>
      <Neuron id="na" bias="0.2"><Con from="i1" weight="1"/></Neuron>
      <Neuron id="nb" bias="0.1"><Con from="i2" weight="1"/></Neuron>
      <Neuron id="nc" bias="0.3"><Con from="i1" weight="0.5"/><Con from="i2" weight="0.5"/></Neuron>
    </NeuralLayer>
    <NeuralOutputs>
      <NeuralOutput outputNeuron="na"><DerivedField optype="categorical" dataType="string">
        <NormDiscrete field="c" value="a"/></DerivedField></NeuralOutput>
      <NeuralOutput outputNeuron="nb"><DerivedField optype="categorical" dataType="string">
        <NormDiscrete field="c" value="b"/></DerivedField></NeuralOutput>
      <NeuralOutput outputNeuron="nc"><DerivedField optype="categorical" dataType="string">
        <NormDiscrete field="c" value="c"/></DerivedField></NeuralOutput>
    </NeuralOutputs>
  </NeuralNetwork>
</PMML>""".encode()


def raw_outputs() -> np.ndarray:
    return np.array([[a + 0.2, b + 0.1, 0.5 * a + 0.5 * b + 0.3] for a, b in zip(X1, X2, strict=True)])


def test_softmax_layer_gives_class_probabilities() -> None:
    """normalizationMethod softmax turns the output layer into probabilities; the largest wins."""
    got = pmml.load(classification_doc("softmax")).score({"x1": X1, "x2": X2})
    raw = raw_outputs()
    expected = np.exp(raw) / np.exp(raw).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(got["pc"], expected[:, 2], rtol=1e-12)
    assert list(got["c"]) == [["a", "b", "c"][j] for j in expected.argmax(axis=1)]
    assert list(got["winner"]) == [["na", "nb", "nc"][j] for j in expected.argmax(axis=1)]


def test_simplemax_layer_divides_by_the_sum() -> None:
    """normalizationMethod simplemax divides each output by the layer's sum."""
    got = pmml.load(classification_doc("simplemax", "exponential")).score({"x1": X1, "x2": X2})
    raw = np.exp(raw_outputs())
    np.testing.assert_allclose(got["pc"], raw[:, 2] / raw.sum(axis=1), rtol=1e-12)


def test_default_probability_columns_follow_the_neural_outputs() -> None:
    """Without an Output element, the result has one probability column per NeuralOutput category."""
    doc = re.sub(rb"<Output>.*</Output>", b"", classification_doc("softmax"), flags=re.S)
    got = pmml.load(doc).score({"x1": X1, "x2": X2})
    raw = raw_outputs()
    expected = np.exp(raw) / np.exp(raw).sum(axis=1, keepdims=True)
    assert list(got) == ["c", "probability(a)", "probability(b)", "probability(c)"]
    np.testing.assert_allclose(np.column_stack([got[f"probability({k})"] for k in "abc"]), expected, rtol=1e-12)


def test_compiled_network_survives_pickling() -> None:
    """A loaded model pickles and scores the same after the round trip."""
    model = pmml.load(classification_doc("softmax"))
    again = pickle.loads(pickle.dumps(model))
    np.testing.assert_allclose(again.score({"x1": X1, "x2": X2})["pc"], model.score({"x1": X1, "x2": X2})["pc"],
                               rtol=0, atol=0)


@pytest.mark.parametrize(("change", "message"), [
    (('activationFunction="identity"', 'activationFunction="softsign"'), "activationFunction must be one of"),
    (('<Con from="i2" weight="-0.25"/>', '<Con from="nope" weight="-0.25"/>'), "Con from 'nope'"),
    (('<Con from="i2" weight="-0.25"/>', '<Con from="i2" weight="heavy"/>'), "weight must be a number"),
    (('outputNeuron="o"', 'outputNeuron="zz"'), "outputNeuron must name a Neuron"),
    (('<FieldRef field="y"/>', '<NormDiscrete field="y" value="1"/>'),
     "maps its neuron with a FieldRef or NormContinuous"),
    (('<FieldRef field="y"/>', '<Constant>1</Constant>'), "no NeuralOutput maps a neuron to the target field 'y'"),
    (('<NeuralLayer activationFunction="identity" >', '<NeuralLayer activationFunction="identity" '
      'normalizationMethod="probit">'), "normalizationMethod must be one of"),
])
def test_invalid_networks_are_refused_at_load(change: tuple[str, str], message: str) -> None:
    """Broken markup is reported at load as DocumentProblems naming what was expected."""
    doc = regression_doc(one_layer("identity")).decode().replace(*change).encode()
    with pytest.raises(DocumentProblems, match=message):
        pmml.load(doc)


def test_missing_neural_inputs_are_refused() -> None:
    """A NeuralNetwork without NeuralInput elements is invalid."""
    doc = regression_doc(one_layer("identity"), inputs=" ")
    with pytest.raises(DocumentProblems, match="needs a NeuralInputs element"):
        pmml.load(doc)


def test_classification_output_must_be_norm_discrete() -> None:
    """A classification NeuralOutput that is not a NormDiscrete is refused."""
    doc = classification_doc("softmax").replace(b'<NormDiscrete field="c" value="c"/>', b'<FieldRef field="c"/>')
    with pytest.raises(DocumentProblems, match="maps its neuron with a NormDiscrete"):
        pmml.load(doc)


def random_network(rng: np.random.Generator) -> tuple[bytes, list[list[tuple[str, float, list[tuple[str, float]]]]]]:
    """A rectifier and an identity layer, sparse connections in shuffled order, some skipping a layer."""
    spec: list[list[tuple[str, float, list[tuple[str, float]]]]] = []
    earlier = ["i1", "i2"]
    xml = []
    for layer, size in enumerate((6, 1)):
        neurons = []
        for j in range(size):
            nid = "o" if layer == 1 else f"h{j}"
            sources = [s for s in earlier if rng.random() < 0.7] or [earlier[0]]
            rng.shuffle(sources)
            cons = [(str(s), float(rng.normal())) for s in sources]
            neurons.append((nid, float(rng.normal()), cons))
        spec.append(neurons)
        activation = "identity" if layer else "rectifier"
        xml.append(f'<NeuralLayer activationFunction="{activation}">' + "".join(
            f'<Neuron id="{nid}" bias="{bias!r}">' + "".join(f'<Con from="{s}" weight="{w!r}"/>' for s, w in cons)
            + "</Neuron>" for nid, bias, cons in neurons) + "</NeuralLayer>")
        earlier += [nid for nid, _, _ in neurons]
    return regression_doc("".join(xml)), spec


def test_layers_sum_each_neurons_connections_in_document_order() -> None:
    """Across blocks of records, each neuron adds its weighted inputs in its Con order, then its bias."""
    rng = np.random.default_rng(4)
    doc, spec = random_network(rng)
    x1, x2 = rng.normal(size=(2, 4096 + 37))
    got = score_y(doc, x1.tolist(), x2.tolist())
    want = []
    for a, b in zip(x1.tolist(), x2.tolist(), strict=True):
        value = {"i1": a, "i2": b}
        for neurons in spec:
            for nid, bias, cons in neurons:
                z = 0.0
                for s, w in cons:
                    z += value[s] * w
                value[nid] = max(z + bias, 0.0) if nid != "o" else z + bias
        want.append(value["o"])
    assert got.tolist() == pytest.approx(want, rel=1e-15, abs=1e-300)
