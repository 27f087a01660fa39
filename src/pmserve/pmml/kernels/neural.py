"""Feed-forward neural network layers (PMML 4.4 "Neural Network Models").

Each neuron's input is ``0 + w_1 * x_1 + ... + w_k * x_k`` in the order of its connections, then
its bias: JPMML's order of additions, which a matrix product would not keep.  A radialBasis
neuron sums ``(x_i - w_i)^2`` in the same order instead.  Records go in small blocks with the
records innermost, so the machine adds one connection for many records at once while each
record's sum keeps its order.  The functions are libm's (as Java's), not numpy's SIMD ones, which
may differ from them by an ulp.  :mod:`pmserve.pmml.models.neural_network` owns the rules (which
entity a connection reads, the layer's activation and normalization) and hands them here as
arrays.
"""

from __future__ import annotations

import math

import numpy as np

from pmserve.pmml.fields.types import Array
from pmserve.pmml.kernels._jit import BLOCK, kernel

#: Activation codes of every PMML 4.4 activationFunction.
ACTIVATIONS = {"threshold": 0, "logistic": 1, "identity": 2, "exponential": 3, "reciprocal": 4, "square": 5,
               "Gauss": 6, "Elliott": 7, "rectifier": 8, "tanh": 9, "sine": 10, "cosine": 11, "arctan": 12,
               "radialBasis": 13}
_RADIAL_BASIS = ACTIVATIONS["radialBasis"]
NORMALIZATIONS = {"none": 0, "simplemax": 1, "softmax": 2}


def _samples() -> tuple[tuple[object, ...], ...]:
    values = np.array([[0.5, 1.0], [1.0, -2.0], [0.0, 0.0], [0.0, 0.0], [0.0, 0.0]])
    layer_starts = np.array([0, 1, 3], dtype=np.intp)
    conn_starts = np.array([0, 2, 3, 4], dtype=np.intp)
    sources = np.array([0, 1, 2, 2], dtype=np.intp)
    weights = np.array([0.5, -1.0, 2.0, -2.0])
    bias = np.array([0.1, 0.0, 0.0])
    return ((values, 2, layer_starts, conn_starts, sources, weights, bias, np.array([13, 9], dtype=np.int64),
             np.zeros(2), np.array([0, 2], dtype=np.int64), np.array([1.5, np.nan, np.nan]), np.zeros(3)),)


@kernel(_samples)
def forward(values: Array, n_inputs: int, layer_starts: Array, conn_starts: Array, sources: Array,
            weights: Array, bias: Array, activations: Array, thresholds: Array, normalizations: Array,
            widths: Array, log_altitudes: Array) -> None:
    """Fill the neurons' rows of ``values`` (entities x records) from the inputs' rows.

    Neuron ``g`` (layers in order, ``layer_starts`` their first neurons) is entity ``n_inputs + g``
    and reads entities ``sources[conn_starts[g]:conn_starts[g+1]]`` with ``weights``; a radialBasis
    neuron has a width and ``fan-in * ln(altitude)`` (``widths``, ``log_altitudes``) in place of a bias.
    """
    n = values.shape[1]
    for lo in range(0, n, BLOCK):
        hi = min(n, lo + BLOCK)
        acc = np.empty(hi - lo)
        for layer in range(activations.shape[0]):
            act = activations[layer]
            for g in range(layer_starts[layer], layer_starts[layer + 1]):
                out = values[n_inputs + g, lo:hi]
                acc[:] = 0.0
                if act == _RADIAL_BASIS:
                    for c in range(conn_starts[g], conn_starts[g + 1]):
                        _add_squared_distances(acc, values[sources[c], lo:hi], weights[c])
                    _radial_basis(acc, widths[g], log_altitudes[g], out)
                else:
                    for c in range(conn_starts[g], conn_starts[g + 1]):
                        _add_products(acc, values[sources[c], lo:hi], weights[c])
                    _activate(act, thresholds[layer], acc, bias[g], out)
            if normalizations[layer] != 0:
                _normalize(values[n_inputs + layer_starts[layer]:n_inputs + layer_starts[layer + 1], lo:hi],
                           normalizations[layer] == 2)


@kernel(lambda: ())
def _add_products(acc: Array, src: Array, w: float) -> None:
    for r in range(acc.shape[0]):
        acc[r] += w * src[r]


@kernel(lambda: ())
def _add_squared_distances(acc: Array, src: Array, w: float) -> None:
    for r in range(acc.shape[0]):
        d = src[r] - w
        acc[r] += d * d


@kernel(lambda: ())
def _radial_basis(acc: Array, width: float, log_altitude: float, out: Array) -> None:
    """exp(-(sum of squared distances) / (2 width^2) + fan-in * ln(altitude)), as JPMML computes it."""
    for r in range(acc.shape[0]):
        out[r] = math.exp(acc[r] / (-2.0 * width * width) + log_altitude)


@kernel(lambda: ())
def _activate(act: int, t: float, z: Array, b: float, out: Array) -> None:
    """A neuron's outputs from its sums ``z``, to which its bias ``b`` is added first (activation
    ``act``, threshold ``t``): one loop per activation, simple enough for the machine to run several
    records at once."""
    for r in range(z.shape[0]):
        z[r] += b
    if act == 0:
        for r in range(z.shape[0]):
            out[r] = 1.0 if z[r] > t else 0.0
    elif act == 1:
        for r in range(z.shape[0]):
            out[r] = 1.0 / (1.0 + math.exp(-z[r]))
    elif act == 2:
        out[:] = z
    elif act == 3:
        for r in range(z.shape[0]):
            out[r] = math.exp(z[r])
    elif act == 4:
        for r in range(z.shape[0]):
            out[r] = 1.0 / z[r]
    elif act == 5:
        for r in range(z.shape[0]):
            out[r] = z[r] * z[r]
    elif act == 6:
        for r in range(z.shape[0]):
            out[r] = math.exp(-(z[r] * z[r]))
    elif act == 7:
        for r in range(z.shape[0]):
            out[r] = z[r] / (1.0 + abs(z[r]))
    elif act == 8:
        for r in range(z.shape[0]):
            out[r] = 0.0 if z[r] < 0.0 else z[r]  # NaN and -0.0 pass through
    elif act == 9:
        for r in range(z.shape[0]):
            out[r] = math.tanh(z[r])
    elif act == 10:
        for r in range(z.shape[0]):
            out[r] = math.sin(z[r])
    elif act == 11:
        for r in range(z.shape[0]):
            out[r] = math.cos(z[r])
    else:  # arctan
        for r in range(z.shape[0]):
            out[r] = 2.0 * math.atan(z[r]) / math.pi


@kernel(lambda: ())
def _normalize(layer: Array, softmax: bool) -> None:
    """A layer's outputs (neurons x records) divided by their sum per record, after softmax's
    exponentials: JPMML shifts by the record's maximum before exponentiating."""
    if softmax:
        top = layer[0].copy()
        for e in range(1, layer.shape[0]):
            for r in range(layer.shape[1]):
                v = layer[e, r]
                if top[r] == top[r] and (v != v or v > top[r]):  # NaN wins, as in numpy's max
                    top[r] = v
        for e in range(layer.shape[0]):
            for r in range(layer.shape[1]):
                layer[e, r] = math.exp(layer[e, r] - top[r])
    total = np.zeros(layer.shape[1])
    for e in range(layer.shape[0]):
        for r in range(layer.shape[1]):
            total[r] += layer[e, r]
    for e in range(layer.shape[0]):
        for r in range(layer.shape[1]):
            layer[e, r] = layer[e, r] / total[r]
