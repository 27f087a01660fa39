"""NeuralNetwork: feed-forward networks evaluated layer by layer over whole batches (PMML 4.4
"Neural Network Models").

Every entity (NeuralInput or Neuron) owns one row of an entities x records matrix.  A layer's
neurons read any earlier entity through their Connections; this module reads the document into
the connections, biases and activations of the layers, and :func:`pmserve.pmml.kernels.neural.forward`
computes them, each neuron's connections added in JPMML's order (a BLAS matrix product would
change the last bits, which the conformance corpus checks).  A missing NeuralInput leaves the
record without a prediction (Targets' default or priors apply), as in JPMML-Evaluator.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np
import numpy.typing as npt

from pmserve.pmml.compiler import CompiledModel, ModelEnv, register
from pmserve.pmml.document import attributes as attribute
from pmserve.pmml.document.element import Element
from pmserve.pmml.document.problems import every
from pmserve.pmml.expressions.casting import EXPRESSION_TAGS, cast_fn
from pmserve.pmml.expressions.normalization import linear_norms
from pmserve.pmml.fields.frame import Frame, ReadOrder
from pmserve.pmml.fields.schema import FieldInfo, parse_dtype
from pmserve.pmml.fields.types import Array, DataType, parse_scalar
from pmserve.pmml.kernels import neural
from pmserve.pmml.results.prediction import Prediction, classification

#: PMML 4.4 NeuralLayer activation functions, as the kernel numbers them.
_ACTIVATIONS = tuple(neural.ACTIVATIONS)
_NORMALIZATIONS = tuple(neural.NORMALIZATIONS)


@dataclass(frozen=True)
class _Layer:
    """One NeuralLayer read: per neuron, its connections (entity, weight) in document order."""

    conns: list[list[tuple[int, float]]]
    bias: Array  # neurons
    activation: str
    threshold: float
    # radialBasis only: per neuron, its width and fan-in * ln(altitude)
    widths: Array
    log_altitudes: Array
    normalization: str


def _inputs(el: Element, env: ModelEnv, ids: dict[str, int]) -> list[Callable[[Frame], Array]] | None:
    inputs_el = el.find("NeuralInputs")
    if inputs_el is None or not inputs_el.findall("NeuralInput"):
        env.problems.invalid("a NeuralNetwork needs a NeuralInputs element with at least one NeuralInput", el)
        return None
    return every(_input(ni, env, ids) for ni in inputs_el.findall("NeuralInput"))


def _input(ni: Element, env: ModelEnv, ids: dict[str, int]) -> Callable[[Frame], Array] | None:
    nid = attribute.unique_id(ni, ids, env.problems, "neural entity")
    df = ni.find("DerivedField")
    if df is None:
        env.problems.invalid("a NeuralInput needs a DerivedField", ni)
    if nid is None or df is None:
        return None
    ids[nid] = len(ids)
    expr = env.compiler.expression_of(df)
    if expr is None:
        return None
    dtype = parse_dtype(df, env.problems, default=DataType.DOUBLE)
    if dtype.is_string:
        # JPMML casts to the declared type and reads the value back as a number: a number declared
        # string (STATISTICA's NormDiscrete) stays the same number; a text is parsed.
        dtype = DataType.DOUBLE
    return cast_fn(expr, dtype)


def _layers(el: Element, env: ModelEnv, ids: dict[str, int]) -> list[_Layer] | None:
    layer_els = el.findall("NeuralLayer")
    if not layer_els:
        env.problems.invalid("a NeuralNetwork needs at least one NeuralLayer", el)
        return None
    net_activation = attribute.choice(el, "activationFunction", _ACTIVATIONS, env.problems)
    net_threshold = attribute.number(el, "threshold", env.problems, 0.0)
    net_width = attribute.number(el, "width", env.problems)
    net_altitude = attribute.number(el, "altitude", env.problems, 1.0)
    net_norm = attribute.choice(el, "normalizationMethod", _NORMALIZATIONS, env.problems, "none")
    layers: list[_Layer | None] = []
    for layer_el in layer_els:
        activation = attribute.choice(layer_el, "activationFunction", _ACTIVATIONS, env.problems,
                                      net_activation)
        if activation is None and (el.get("activationFunction") or layer_el.get("activationFunction")) is None:
            env.problems.invalid("attribute activationFunction is required (on the NeuralNetwork or the "
                                 "NeuralLayer)", layer_el)
        norm = attribute.choice(layer_el, "normalizationMethod", _NORMALIZATIONS, env.problems, net_norm)
        threshold = attribute.number(layer_el, "threshold", env.problems, net_threshold)
        width = attribute.number(layer_el, "width", env.problems, net_width)
        altitude = attribute.number(layer_el, "altitude", env.problems, net_altitude)
        layers.append(None if activation is None or norm is None
                      else _layer(layer_el, env, ids, activation, norm, threshold, width, altitude))
    return every(layers)


def _layer(
    el: Element, env: ModelEnv, ids: dict[str, int], activation: str, norm: str,
    threshold: float | None, width: float | None, altitude: float | None,
) -> _Layer | None:
    neurons = el.findall("Neuron")
    if not neurons:
        env.problems.invalid("a NeuralLayer needs at least one Neuron", el)
        return None
    if threshold is None or altitude is None:
        return None
    known = dict(ids)  # connections may read inputs and neurons of earlier layers only
    read = every(_neuron(neuron, env, ids, known, activation, width, altitude) for neuron in neurons)
    if read is None:
        return None
    conns, biases, widths, altitudes = (list(column) for column in zip(*read, strict=True))
    fan_in = np.array([len(row) for row in conns], dtype=np.float64)
    log_alt = fan_in * np.log(np.array(altitudes))
    return _Layer(conns, np.array(biases), activation, threshold, np.array(widths), log_alt, norm)


def _neuron(
    neuron: Element, env: ModelEnv, ids: dict[str, int], known: dict[str, int], activation: str,
    width: float | None, altitude: float,
) -> tuple[list[tuple[int, float]], float, float, float] | None:
    """A Neuron's connections (entity of the source, weight), bias, width and altitude."""
    nid = attribute.unique_id(neuron, ids, env.problems, "neural entity")
    if nid is None:
        return None
    ids[nid] = len(ids)
    bias = attribute.number(neuron, "bias", env.problems, 0.0)
    n_width = attribute.number(neuron, "width", env.problems, width)
    n_altitude = attribute.number(neuron, "altitude", env.problems, altitude)
    ok = True
    if activation == "radialBasis" and n_width is None and neuron.get("width") is None:
        env.problems.invalid("activationFunction radialBasis needs a width (on the Neuron, the NeuralLayer "
                             "or the NeuralNetwork)", neuron)
        ok = False
    if activation == "radialBasis" and n_altitude is not None and n_altitude <= 0.0:
        env.problems.invalid(f"altitude must be positive for radialBasis, got {n_altitude!r}", neuron)
        ok = False
    row = every(_connection(con, env, known) for con in neuron.findall("Con"))
    if row is None or not ok:
        return None
    return (row, bias if bias is not None else math.nan, n_width if n_width is not None else math.nan,
            n_altitude if n_altitude is not None else 1.0)


def _connection(con: Element, env: ModelEnv, known: dict[str, int]) -> tuple[int, float] | None:
    src = attribute.text(con, "from", env.problems, required=True)
    weight = attribute.number(con, "weight", env.problems, required=True)
    if src is None or weight is None:
        return None
    if src not in known:
        env.problems.invalid(f"Con from {src!r}: no NeuralInput or Neuron of an earlier layer has this id", con)
        return None
    return known[src], weight


def _compiled_network(layers: list[_Layer]) -> tuple[Array, ...]:
    """The layers' arrays that :func:`pmserve.pmml.kernels.neural.forward` reads after ``n_inputs``."""
    conns = [row for layer in layers for row in layer.conns]
    layer_starts = np.cumsum([0] + [len(layer.bias) for layer in layers]).astype(np.intp)
    conn_starts = np.cumsum([0] + [len(row) for row in conns]).astype(np.intp)
    sources = np.array([s for row in conns for s, _ in row], dtype=np.intp)
    weights = np.array([w for row in conns for _, w in row], dtype=np.float64)
    activations = np.array([neural.ACTIVATIONS[layer.activation] for layer in layers], dtype=np.int64)
    thresholds = np.array([layer.threshold for layer in layers], dtype=np.float64)
    norms = np.array([neural.NORMALIZATIONS[layer.normalization] for layer in layers], dtype=np.int64)
    bias = np.concatenate([layer.bias for layer in layers]).astype(np.float64)
    widths = np.concatenate([layer.widths for layer in layers]).astype(np.float64)
    log_altitudes = np.concatenate([layer.log_altitudes for layer in layers]).astype(np.float64)
    return (layer_starts, conn_starts, sources, weights, bias, activations, thresholds, norms, widths,
            log_altitudes)


def _output_expression(no: Element, env: ModelEnv) -> Element | None:
    """The NeuralOutput's expression, FieldRefs to DerivedFields followed to the expression they
    name: a local one (LocalTransformations) first, then the TransformationDictionary's, where
    SPSS Modeler writes the NormDiscrete/NormContinuous of the target (as JPMML resolves it)."""
    df = no.find("DerivedField")
    expr = df.find_any(EXPRESSION_TAGS) if df is not None else None
    if df is None or expr is None:
        env.problems.invalid("a NeuralOutput needs a DerivedField with an expression", no)
        return None
    target = env.target.name if env.target is not None else None
    lt = env.element.find("LocalTransformations")
    local = {d.get("name"): d for d in lt.findall("DerivedField")} if lt is not None else {}
    seen: set[str] = set()
    while expr.tag == "FieldRef" and expr.get("field") != target:
        name = expr.get("field") or ""
        named = local.get(name) or env.compiler.document_elements.get(name)
        inner = named.find_any(EXPRESSION_TAGS) if named is not None else None
        if inner is None or name in seen:  # not a DerivedField (or a cycle): the FieldRef stays
            break
        seen.add(name)
        expr = inner
    return expr


@dataclass(frozen=True)
class _Denormalize:
    """The inverse of a NormContinuous: from the network's output back to the target's scale."""

    orig: Array
    norm: Array

    def __call__(self, y: Array) -> Array:
        # The segment whose closed norm range holds y (the first one at a shared end point).
        k = len(self.norm)
        idx = np.clip(np.searchsorted(self.norm[1:-1], y, side="left"), 0, k - 2)
        n0, n1, o0, o1 = self.norm[idx], self.norm[idx + 1], self.orig[idx], self.orig[idx + 1]
        with np.errstate(all="ignore"):
            out: Array = (y - n0) / (n1 - n0) * (o1 - o0) + o0
        return out

    def outside(self, y: Array) -> npt.NDArray[np.bool_]:
        """Outputs no segment holds: JPMML-Evaluator does not extrapolate, the record fails."""
        with np.errstate(invalid="ignore"):
            return np.asarray((y < self.norm[0]) | (y > self.norm[-1]))


def _denormalizer(el: Element, env: ModelEnv) -> _Denormalize | None:
    points = linear_norms(el, env.problems)
    if points is None:
        return None
    orig, norm = points
    if np.any(np.diff(norm) <= 0):
        env.problems.invalid("a NeuralOutput's LinearNorm norm values must ascend to be inverted, got "
                             f"{norm.tolist()}", el)
        return None
    return _Denormalize(orig, norm)


@register("NeuralNetwork")
def compile_neural_network(el: Element, env: ModelEnv) -> CompiledModel | None:
    # Problems found elsewhere in the document are not this model's.
    found_before = len(env.problems.items)
    ids: dict[str, int] = {}
    inputs = _inputs(el, env, ids)
    layers = _layers(el, env, ids) if inputs is not None else None
    outputs_el = el.find("NeuralOutputs")
    if outputs_el is None or not outputs_el.findall("NeuralOutput"):
        env.problems.invalid("a NeuralNetwork needs a NeuralOutputs element with at least one NeuralOutput", el)
        return None
    if inputs is None or layers is None:
        return None
    target = env.target
    if target is None:
        env.problems.invalid("a NeuralNetwork needs a target field in its MiningSchema", el)
        return None
    neuron_ids = {v: k for k, v in ids.items()}
    outs: list[tuple[int, Element]] = []
    for no in outputs_el.findall("NeuralOutput"):
        oid = no.get("outputNeuron")
        expr = _output_expression(no, env)
        if oid is None or oid not in ids or ids[oid] < len(inputs):
            env.problems.invalid(f"outputNeuron must name a Neuron, got {oid!r}", no)
            continue
        # Outputs for other fields (a second target) play no part in the one target's prediction.
        if expr is not None and expr.get("field") == target.name:
            outs.append((ids[oid], expr))
    if len(env.problems.items) > found_before:
        return None
    if not outs:
        env.problems.invalid(f"no NeuralOutput maps a neuron to the target field {target.name!r}", outputs_el)
        return None
    run = _forward(inputs, layers, len(ids))
    if env.function_name == "regression":
        return _regression(env, target, outs, run)
    if not env.function_is("regression", "classification"):
        return None
    return _classification(env, target, outs, run, neuron_ids)


#: A network run forward: the entity matrix (entities x records) and the records missing an input.
Runner = Callable[[Frame], tuple[Array, Array]]


def _forward(inputs: list[Callable[[Frame], Array]], layers: list[_Layer], n_entities: int) -> Runner:
    """The network run forward over a frame: the entity matrix (entities x records) and the
    records missing an input."""
    n_inputs = len(inputs)
    network = _compiled_network(layers)

    def run(frame: Frame) -> tuple[Array, Array]:
        # One row per entity: inputs are written and layers read and written whole rows.
        values = np.empty((n_entities, frame.n))
        with frame.unclaimed():
            for j, fn in enumerate(inputs):
                values[j] = fn(frame)
        if frame.errors.pending:
            # JPMML reads the NeuralInputs in order and stops at the first missing one: only the
            # invalid values it reads fail a record.  (Nothing to claim when nothing is invalid.)
            order = ReadOrder(frame)
            for j, fn in enumerate(inputs):
                with frame.unclaimed() as read:
                    fn(frame)
                order.read(read)
                order.stop(np.isnan(values[j]))
        missing: Array = np.asarray(np.isnan(values[:n_inputs]).any(axis=0))
        neural.forward(values, n_inputs, *network)
        return values, missing

    return run


def _regression(env: ModelEnv, target: FieldInfo, outs: list[tuple[int, Element]], run: Runner) -> CompiledModel | None:
    if len(outs) != 1:
        env.problems.invalid(f"a regression NeuralNetwork needs one NeuralOutput for its target, got {len(outs)}",
                             outs[1][1])
        return None
    col, expr = outs[0]
    if expr.tag == "NormContinuous":
        denorm = _denormalizer(expr, env)
        if denorm is None:
            return None
    elif expr.tag == "FieldRef":
        denorm = None
    else:
        env.problems.invalid(f"a regression NeuralOutput maps its neuron with a FieldRef or NormContinuous, got "
                             f"{expr.tag}", expr)
        return None
    dtype = target.dtype if target.dtype.is_numeric else DataType.DOUBLE

    def predict(frame: Frame) -> Prediction:
        values, missing = run(frame)
        y = values[col]
        y = np.where(missing, np.nan, y)
        if denorm is not None:
            beyond = denorm.outside(y)
            if beyond.any():
                frame.fail_message(beyond, f"the network's output for {target.name!r} lies outside the norm range "
                                   f"[{denorm.norm[0]!r}, {denorm.norm[-1]!r}] of its NormContinuous, which "
                                   "is not inverted beyond its end points (as in JPMML-Evaluator)",
                                   field=target.name)
            y = denorm(y)
        return Prediction(frame.n, dtype, y)

    return CompiledModel(predict)


def _classification(env: ModelEnv, target: FieldInfo, outs: list[tuple[int, Element]], run: Runner,
                    neuron_ids: dict[int, str]) -> CompiledModel | None:
    categories: list[Any] = []
    cols: list[int] = []
    for col, expr in outs:
        if expr.tag != "NormDiscrete":
            env.problems.invalid(f"a classification NeuralOutput maps its neuron with a NormDiscrete, got {expr.tag}",
                                 expr)
            return None
        cat = attribute.parsed(expr, "value", partial(parse_scalar, target.dtype), env.problems, required=True)
        if cat is None:
            return None
        if cat in categories:
            env.problems.invalid(f"category {cat!r} of target {target.name!r} has two NeuralOutputs", expr)
            return None
        categories.append(cat)
        cols.append(col)
    cats = tuple(categories)
    col_idx = np.array(cols, dtype=np.intp)
    winners = np.array([neuron_ids[c] for c in cols], dtype=object)
    dtype = target.dtype

    def predict(frame: Frame) -> Prediction:
        values, missing = run(frame)
        probs = np.ascontiguousarray(values[col_idx].T)
        probs[missing] = np.nan
        pred = classification(frame.n, dtype, cats, probs)
        entity = np.full(frame.n, None, dtype=object)
        ok = ~np.isnan(probs).any(axis=1)
        if ok.any():
            entity[ok] = winners[np.argmax(probs[ok], axis=1)]
        pred.entity_id = entity
        return pred

    return CompiledModel(predict, cats)
