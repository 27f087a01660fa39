"""NeuralNetwork: feed-forward networks evaluated layer by layer over whole batches (PMML 4.4
"Neural Network Models").

Every entity (NeuralInput or Neuron) owns one row of an entities x records matrix.  A layer's
neurons read any earlier entity through their Connections, so a layer is compiled into the
rows it reads and its connections rank by rank: the k-th connection of every neuron is one
broadcast product over all records, added in JPMML's order (a BLAS matrix product would
change the last bits, which the conformance corpus checks).  A missing NeuralInput leaves
the record without a prediction (Targets' default or priors apply), as in JPMML-Evaluator.
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
from pmserve.pmml.expressions.vector_math import logit_inverse, simplemax_rows, softmax_rows
from pmserve.pmml.fields.frame import Frame, ReadOrder
from pmserve.pmml.fields.schema import FieldInfo, parse_dtype
from pmserve.pmml.fields.types import Array, DataType, parse_scalar
from pmserve.pmml.kernels import neural
from pmserve.pmml.results.prediction import Prediction, classification

Activation = Callable[[Array, float], Array]

#: PMML 4.4 NeuralLayer activation functions of the neuron's summed input Z (the threshold is the
#: second argument; only ``threshold`` reads it).  radialBasis is computed apart (see _Layer).
_ACTIVATIONS: dict[str, Activation] = {
    "threshold": lambda z, t: np.where(z > t, 1.0, 0.0),
    "logistic": lambda z, t: logit_inverse(z),
    "tanh": lambda z, t: np.tanh(z),
    "identity": lambda z, t: z,
    "exponential": lambda z, t: np.exp(z),
    "reciprocal": lambda z, t: 1.0 / z,
    "square": lambda z, t: z * z,
    "Gauss": lambda z, t: np.exp(-(z * z)),
    "sine": lambda z, t: np.sin(z),
    "cosine": lambda z, t: np.cos(z),
    "Elliott": lambda z, t: z / (1.0 + np.abs(z)),
    "arctan": lambda z, t: 2.0 * np.arctan(z) / math.pi,
    "rectifier": lambda z, t: np.maximum(z, 0.0),
}
#: radialBasis computes the neuron's input differently, so it has no entry above.
_ACTIVATIONS_RBF = (*_ACTIVATIONS, "radialBasis")
_NORMALIZATIONS = ("none", "simplemax", "softmax")


@dataclass(frozen=True)
class _Layer:
    """One NeuralLayer compiled: reads columns ``sources`` of the entity matrix, writes ``targets``."""

    sources: Array  # intp, the entity columns the layer's connections read
    # Per connection rank k: the neurons with a k-th connection, its source (position in sources)
    # and its weight.  Summing rank by rank keeps JPMML's order of additions, so results agree
    # to the last bit where a matrix product (any BLAS order) would not.
    ranks: tuple[_Rank, ...]
    bias: Array  # neurons
    activation: str
    threshold: float
    # radialBasis only: per neuron, (positions in sources, weights), width and fan-in * ln(altitude)
    rbf: tuple[tuple[Array, Array], ...]
    widths: Array
    log_altitudes: Array
    normalization: str
    targets: slice

    def __call__(self, values: Array) -> Array:
        """The layer's outputs, neurons x rows, from the entity matrix (entities x rows)."""
        x = values[self.sources]
        with np.errstate(all="ignore"):
            if self.activation == "radialBasis":
                rows = np.ascontiguousarray(x.T)
                z = np.empty((rows.shape[0], len(self.rbf)))
                for j, (pos, w) in enumerate(self.rbf):
                    d = rows[:, pos] - w
                    z[:, j] = (d * d).sum(axis=1)
                out = np.exp(z / (-2.0 * self.widths * self.widths) + self.log_altitudes).T
            else:
                z = self._summed_inputs(x)
                z += self.bias[:, None]
                out = _ACTIVATIONS[self.activation](z, self.threshold)
            if self.normalization in ("softmax", "simplemax"):
                # Summed along each record's contiguous row, so that the order of additions (and
                # the last bits) stay those of a row-wise sum.
                rows = np.ascontiguousarray(out.T)
                out = (softmax_rows(rows) if self.normalization == "softmax" else simplemax_rows(rows)).T
        result: Array = out
        return result

    def _summed_inputs(self, x: Array) -> Array:
        """Neurons x rows: each neuron's weighted inputs, added in the order of its connections.

        Records go in blocks small enough for the running sums to stay in cache; a rank that
        every neuron reads from one source (a dense layer written in source order, as producers
        write them) is one broadcast product of that source's row, with no gathering.
        """
        m, n = len(self.bias), x.shape[1]
        z = np.empty((m, n))
        width = min(n, _BLOCK_ROWS)
        # The block's sums live in a buffer of their own: a block of z's rows lies a whole row
        # length apart in memory and would not stay in cache.
        acc, tmp = np.empty((m, width)), np.empty((m, width))
        for lo in range(0, n, _BLOCK_ROWS):
            xb = x[:, lo:lo + _BLOCK_ROWS]
            k = xb.shape[1]
            zb, tb = acc[:, :k], tmp[:, :k]
            zb.fill(0.0)
            for rank in self.ranks:
                if rank.source >= 0:
                    np.multiply(rank.weights[:, None], xb[rank.source], out=tb)
                    zb += tb
                elif rank.neurons is None:
                    np.multiply(rank.weights[:, None], xb[rank.positions], out=tb)
                    zb += tb
                else:
                    zb[rank.neurons] += rank.weights[:, None] * xb[rank.positions]
            z[:, lo:lo + k] = zb
        return z


#: Records per block of a layer's sums (measured best on 2 EPYC cores for 16-32 neurons).
_BLOCK_ROWS = 4096


@dataclass(frozen=True)
class _Rank:
    """The k-th connection of every neuron that has one."""

    neurons: Array | None  # the neurons with a k-th connection; None: all of the layer's
    positions: Array  # per such neuron, its source's position in the layer's sources
    weights: Array
    source: int  # the one source position all neurons read at this rank, else -1


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
    net_activation = attribute.choice(el, "activationFunction", _ACTIVATIONS_RBF, env.problems)
    net_threshold = attribute.number(el, "threshold", env.problems, 0.0)
    net_width = attribute.number(el, "width", env.problems)
    net_altitude = attribute.number(el, "altitude", env.problems, 1.0)
    net_norm = attribute.choice(el, "normalizationMethod", _NORMALIZATIONS, env.problems, "none")
    layers: list[_Layer | None] = []
    for layer_el in layer_els:
        activation = attribute.choice(layer_el, "activationFunction", _ACTIVATIONS_RBF, env.problems,
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
    sources = np.array(sorted({s for row in conns for s, _ in row}), dtype=np.intp)
    pos = {int(s): i for i, s in enumerate(sources)}
    ranks: list[_Rank] = []
    for k in range(max(len(row) for row in conns)):
        have = [j for j, row in enumerate(conns) if len(row) > k]
        positions = np.array([pos[conns[j][k][0]] for j in have], dtype=np.intp)
        full = len(have) == len(conns)
        one_source = full and bool((positions == positions[0]).all())
        ranks.append(_Rank(None if full else np.array(have, dtype=np.intp), positions,
                           np.array([conns[j][k][1] for j in have]), int(positions[0]) if one_source else -1))
    rbf = tuple((np.array([pos[s] for s, _ in row], dtype=np.intp), np.array([w for _, w in row])) for row in conns)
    fan_in = np.array([len(row) for row in conns], dtype=np.float64)
    log_alt = fan_in * np.log(np.array(altitudes))
    start = len(ids) - len(neurons)
    return _Layer(sources, tuple(ranks), np.array(biases), activation, threshold, rbf, np.array(widths),
                  log_alt, norm, slice(start, len(ids)))


def _neuron(
    neuron: Element, env: ModelEnv, ids: dict[str, int], known: dict[str, int], activation: str,
    width: float | None, altitude: float,
) -> tuple[list[tuple[int, float]], float, float, float] | None:
    """A Neuron's connections (position of the source, weight), bias, width and altitude."""
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


def _compiled_network(layers: list[_Layer]) -> tuple[Array, Array, Array, Array, Array, Array, Array, Array] | None:
    """The layers as :func:`pmserve.pmml.kernels.neural.forward` reads them, or None when one of
    them needs numpy (radialBasis, or an activation whose libm value differs from numpy's)."""
    if any(layer.activation not in neural.ACTIVATIONS for layer in layers):
        return None
    conns = [(layer.sources[pos], w) for layer in layers for pos, w in layer.rbf]
    layer_starts = np.cumsum([0] + [len(layer.bias) for layer in layers]).astype(np.intp)
    conn_starts = np.cumsum([0] + [len(w) for _, w in conns]).astype(np.intp)
    sources = np.concatenate([src for src, _ in conns]).astype(np.intp)
    weights = np.concatenate([w for _, w in conns]).astype(np.float64)
    bias = np.concatenate([layer.bias for layer in layers]).astype(np.float64)
    activations = np.array([neural.ACTIVATIONS[layer.activation] for layer in layers], dtype=np.int64)
    thresholds = np.array([layer.threshold for layer in layers], dtype=np.float64)
    norms = np.array([neural.NORMALIZATIONS[layer.normalization] for layer in layers], dtype=np.int64)
    return layer_starts, conn_starts, sources, weights, bias, activations, thresholds, norms


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
        if network is not None:
            neural.forward(values, n_inputs, *network)
            return values, missing
        for layer in layers:
            values[layer.targets] = layer(values)
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
