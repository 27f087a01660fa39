"""Feed-forward neural network layers (PMML 4.4 "Neural Network Models").

Each neuron's input is ``0 + w_1 * x_1 + ... + w_k * x_k`` in the order of its connections, then
its bias: JPMML's order of additions, which a matrix product would not keep.  Records go in small
blocks with the records innermost, so the machine adds one connection for many records at once
while each record's sum keeps its order.  :mod:`pmserve.pmml.models.neural_network` owns the rules (which
entity a connection reads, the layer's activation and normalization) and hands them here as
arrays.
"""

from __future__ import annotations

import math

import numpy as np

from pmserve.pmml.fields.types import Array
from pmserve.pmml.kernels._jit import BLOCK, kernel

#: Activation codes: the functions whose compiled value equals numpy's to the last bit (tanh,
#: sine, cosine and arctan differ, and stay with numpy).
ACTIVATIONS = {"threshold": 0, "logistic": 1, "identity": 2, "exponential": 3, "reciprocal": 4, "square": 5,
               "Gauss": 6, "Elliott": 7, "rectifier": 8}
NORMALIZATIONS = {"none": 0, "simplemax": 1, "softmax": 2}



def _samples() -> tuple[tuple[object, ...], ...]:
    values = np.array([[0.5, 1.0], [1.0, -2.0], [0.0, 0.0], [0.0, 0.0], [0.0, 0.0]])
    layer_starts = np.array([0, 1, 3], dtype=np.intp)
    conn_starts = np.array([0, 2, 3, 4], dtype=np.intp)
    sources = np.array([0, 1, 2, 2], dtype=np.intp)
    weights = np.array([0.5, -1.0, 2.0, -2.0])
    bias = np.array([0.1, 0.0, 0.0])
    return ((values, 2, layer_starts, conn_starts, sources, weights, bias, np.array([8, 1], dtype=np.int64),
             np.zeros(2), np.array([0, 2], dtype=np.int64)),)


@kernel(_samples)
def forward(values: Array, n_inputs: int, layer_starts: Array, conn_starts: Array, sources: Array,
            weights: Array, bias: Array, activations: Array, thresholds: Array, normalizations: Array) -> None:
    """Fill the neurons' rows of ``values`` (entities x records) from the inputs' rows.

    Neuron ``g`` (layers in order, ``layer_starts`` their first neurons) is entity ``n_inputs + g``
    and reads entities ``sources[conn_starts[g]:conn_starts[g+1]]`` with ``weights``.
    """
    n = values.shape[1]
    for lo in range(0, n, BLOCK):
        hi = min(n, lo + BLOCK)
        acc = np.empty(hi - lo)
        for layer in range(activations.shape[0]):
            for g in range(layer_starts[layer], layer_starts[layer + 1]):
                acc[:] = 0.0
                for c in range(conn_starts[g], conn_starts[g + 1]):
                    w = weights[c]
                    src = values[sources[c], lo:hi]
                    for r in range(hi - lo):
                        acc[r] += w * src[r]
                _activate(activations[layer], thresholds[layer], acc, bias[g], values[n_inputs + g, lo:hi])
            if normalizations[layer] != 0:
                _normalize(values[n_inputs + layer_starts[layer]:n_inputs + layer_starts[layer + 1], lo:hi],
                           normalizations[layer] == 2)


@kernel(lambda: ())
def _activate(act: int, t: float, acc: Array, b: float, out: Array) -> None:
    """A neuron's outputs from its sums ``acc`` and bias ``b`` (activation ``act``, threshold
    ``t``): one loop per activation, simple enough for the machine to run several records at once."""
    if act == 0:
        for r in range(acc.shape[0]):
            out[r] = 1.0 if acc[r] + b > t else 0.0
    elif act == 1:
        for r in range(acc.shape[0]):
            out[r] = 1.0 / (1.0 + math.exp(-(acc[r] + b)))
    elif act == 2:
        for r in range(acc.shape[0]):
            out[r] = acc[r] + b
    elif act == 3:
        for r in range(acc.shape[0]):
            out[r] = math.exp(acc[r] + b)
    elif act == 4:
        for r in range(acc.shape[0]):
            out[r] = 1.0 / (acc[r] + b)
    elif act == 5:
        for r in range(acc.shape[0]):
            z = acc[r] + b
            out[r] = z * z
    elif act == 6:
        for r in range(acc.shape[0]):
            z = acc[r] + b
            out[r] = math.exp(-(z * z))
    elif act == 7:
        for r in range(acc.shape[0]):
            z = acc[r] + b
            out[r] = z / (1.0 + abs(z))
    else:
        for r in range(acc.shape[0]):
            z = acc[r] + b
            out[r] = 0.0 if z < 0.0 else z  # numpy's maximum(z, 0): NaN and -0.0 pass


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
