"""A reference tree walk, record by record in plain Python, to check the compiled walker against.

It follows PMML's rules as written (every child's predicate tested in document order, the
missing-value strategy applied at the first unknown one) over the same node arrays, with
predicates evaluated by :meth:`FlatTree.status`; it shares none of the walker's shortcuts
(implied siblings, resumable exotic tests, claims after the fact).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from pmserve.pmml.fields.frame import Frame
from pmserve.pmml.trees.flat import FlatTree, read_columns


def reference_walk(flat: FlatTree, frame: Frame) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.int64]]:
    """Final node per record (-1: no prediction or a failure) and missing levels met."""
    n = frame.n
    nodes = np.full(n, -1, dtype=np.intp)
    levels = np.zeros(n, dtype=np.int64)
    x = read_columns(frame, flat.columns)
    start, count, has_score = flat.child_start, flat.child_count, flat.has_score
    default = flat.nd[:, 5]
    strategy = flat.missing_strategy
    for r in range(n):
        one = np.array([r], dtype=np.intp)

        def test(node: int, one: npt.NDArray[np.intp] = one) -> tuple[float, int]:
            truth, alternative = flat.status(np.array([node], dtype=np.intp), one, x, frame)
            return float(truth[0]), int(alternative[0])

        truth, level = test(0)
        node = 0 if truth == 1.0 else -1
        while node >= 0 and count[node]:
            chosen, unknown = -1, False
            for child in flat.children[start[node]:start[node] + count[node]].tolist():
                truth, alternative = test(child)
                level += alternative
                if truth == 1.0:
                    chosen = child
                    break
                if truth != truth:
                    unknown = True
                    if strategy != "none":
                        break
            if chosen < 0 and unknown and strategy == "nullPrediction":
                node = -1
                break
            if chosen < 0 and unknown and strategy == "lastPrediction":
                break
            if chosen < 0 and unknown and strategy == "defaultChild":
                chosen = int(default[node])
                if chosen < 0:
                    node = -2
                    break
                level += 1
            if chosen < 0:
                node = node if flat.return_last and has_score[node] else -1
                break
            node = chosen
        if node >= 0 and not has_score[node]:
            node = -1
        nodes[r] = max(node, -1)
        levels[r] = level
    return nodes, levels
