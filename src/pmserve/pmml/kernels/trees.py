"""The tree walk: each record follows one tree's node arrays, or all trees of a forest in turn.

The arrays are built by :mod:`pmserve.pmml.trees.nodes`, which owns every rule they encode; a
node is one row of ``nd`` (int32, the ``N_*`` columns below) and one threshold.  A node's test:
the record's value of column ``nd[N_COLUMN]`` compared with the threshold (or looked up in row
``nd[N_SET]`` of ``sets``) gives one outcome bit - below, equal, above, missing - and the node's
operator is the set of bits that make it true.  A node flagged ``F_EXOTIC`` (a compound or
string-ordering predicate) is evaluated by the caller: the walk stops there with ``NEED`` and is
resumed with the answer.  Per tree (a row of ``trees``): root, missing-value strategy, whether a
dead end returns its parent (noTrueChildStrategy returnLastPrediction), its first test in
``tests`` (SLOW: none, see :func:`_walk_tests`).
"""

from __future__ import annotations

import numpy as np

from pmserve.pmml.kernels._jit import kernel

# Columns of a node row.
N_START, N_COUNT, N_COLUMN, N_MASK, N_SET, N_DEFAULT, N_FLAGS = range(7)
NODE_FIELDS = 8  # one more than used: a node row is 32 bytes, aligned in the cache
# Node flags.
F_IMPLIED, F_UNKNOWN, F_SCORE, F_EXOTIC = 1, 2, 4, 8
# Outcome bits of a test.
LT, EQ, GT, MISS = 1, 2, 4, 8
ALWAYS = LT | EQ | GT | MISS
# Missing-value strategies (column 1 of a tree row); BLEND: weightedConfidence / aggregateNodes,
# whose records meeting an unknown predicate are blended by the caller.
S_NONE, S_NULL, S_LAST, S_DEFAULT, S_BLEND = range(5)
# Columns of a test row (``Walker.tests``), and the walk that leaves the tests to _walk.
T_COLUMN, T_MASK, T_FALSE, T_TRUE = range(4)
SLOW = -(2**31)
# Truth of a test.
FALSE, TRUE, UNKNOWN = 0, 1, 2
# Walk outcomes.
DONE, NEED, FAIL_DEFAULT, FAIL_SCORE, BLEND = range(5)
# Accumulations of a forest.
VALUES, PROBABILITIES, VOTES = range(3)
#: Records walked through one tree before the next (the tree's nodes stay in cache).
BLOCK = 256
#: Records a forest walks side by side through one tree.
LANES = 8


def _sample_tree() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """x, nd, thr, children, sets of a one-node tree over one record."""
    nd = np.zeros((1, NODE_FIELDS), dtype=np.int32)
    nd[0, N_MASK] = ALWAYS
    nd[0, N_FLAGS] = F_SCORE
    return np.zeros((1, 1)), nd, np.zeros(1), np.zeros(1, dtype=np.int32), np.zeros((1, 1), dtype=np.bool_)


def _sample_tests() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    tree = np.zeros(4, dtype=np.int64)
    tree[3] = -1
    return tree, np.zeros((1, 4), dtype=np.int32), np.zeros(1)


def _samples_walk() -> tuple[tuple[object, ...], ...]:
    return ((*_sample_tree(), *_sample_tests(), np.zeros((1, 1), dtype=np.bool_), False),)


def _samples_resume() -> tuple[tuple[object, ...], ...]:
    state = np.zeros((1, 4), dtype=np.int64)
    state[0, 0] = -1
    return ((*_sample_tree(), np.zeros(4, dtype=np.int64), np.zeros(1, dtype=np.int64), state, np.zeros(1),
             np.zeros((1, 1), dtype=np.bool_), False),)


def _samples_forest() -> tuple[tuple[object, ...], ...]:
    tree, tests, test_thr = _sample_tests()
    return tuple((*_sample_tree(), tree[None, :].copy(), tests, test_thr, kind, np.zeros((1, 1)), np.ones(1),
                  False, single, 0.0, 1)
                 for kind in (VALUES, PROBABILITIES, VOTES) for single in (False, True))


@kernel(lambda: ())
def _walk(x: np.ndarray, r: int, nd: np.ndarray, thr: np.ndarray, children: np.ndarray, sets: np.ndarray,
          root: int, strategy: int, last: bool, node: int, slot: int, levels: int, answer: float,
          read: np.ndarray, track: bool) -> tuple[int, int, int, int]:
    """One record through one tree from state (node, slot, levels) - node -1: the root is still
    to be tested; ``answer`` is the truth of the exotic test the previous call stopped at (NaN
    unknown, -1.0 none), with ``levels`` already counting a surrogate decided by an alternative.

    Returns (outcome, node, slot, levels): DONE with the final node (-1: no prediction), NEED at
    (node, slot) for the exotic test there, FAIL_DEFAULT / FAIL_SCORE at the node that fails,
    BLEND for a record the caller blends.  (The test is written out here, not called: a call
    per test costs as much as the test.)
    """
    while True:
        if node < 0:
            c = root
            count = 1
        else:
            count = nd[node, N_COUNT]
            if count == 0:
                break
            c = children[nd[node, N_START] + slot]
        # The test of node c: TRUE, FALSE or UNKNOWN (a missing value).
        mask = nd[c, N_MASK]
        if nd[c, N_FLAGS] & F_EXOTIC:
            if answer == -1.0:
                return NEED, node, slot, levels
            t = UNKNOWN if answer != answer else (TRUE if answer == 1.0 else FALSE)
            answer = -1.0
        elif mask == ALWAYS:
            t = TRUE
        elif mask == 0:
            t = FALSE
        else:
            col = nd[c, N_COLUMN]
            if track:
                read[r, col] = True
            v = x[col, r]
            if nd[c, N_SET] >= 0:
                bit = MISS if v != v else (EQ if sets[nd[c, N_SET], int(v) + 1] else LT)
            elif v < thr[c]:
                bit = LT
            elif v > thr[c]:
                bit = GT
            elif v == thr[c]:
                bit = EQ
            else:  # a missing value, or no threshold (isMissing, isNotMissing)
                bit = MISS if v != v else GT
            if bit == MISS and nd[c, N_FLAGS] & F_UNKNOWN:
                t = UNKNOWN
            else:
                t = TRUE if mask & bit else FALSE
        if node < 0:  # the root's predicate must hold (JPMML)
            if t != TRUE:
                return DONE, -1, 0, levels
            node = root
            slot = 0
            continue
        more = slot + 1 < count
        if t == TRUE:
            node = c
            slot = 0
            continue
        if t == UNKNOWN:
            if strategy == S_NULL:
                return DONE, -1, 0, levels
            if strategy == S_LAST:
                break
            if strategy == S_BLEND:
                return BLEND, node, slot, levels
            if strategy == S_DEFAULT:
                dc = nd[node, N_DEFAULT]
                if dc < 0:
                    return FAIL_DEFAULT, node, slot, levels
                node = dc
                slot = 0
                levels += 1
                continue
            # "none": an unknown predicate is false, and its sibling is tested
            if more:
                slot += 1
                continue
        elif more:
            sib = children[nd[node, N_START] + slot + 1]
            if nd[sib, N_FLAGS] & F_IMPLIED:  # true whenever this one is false
                node = sib
                slot = 0
            else:
                slot += 1
            continue
        # No child is true: the parent's score only where noTrueChildStrategy says so (JPMML).
        if last and nd[node, N_FLAGS] & F_SCORE:
            return DONE, node, 0, levels
        return DONE, -1, 0, levels
    if nd[node, N_FLAGS] & F_SCORE:
        return DONE, node, 0, levels
    return FAIL_SCORE, node, 0, levels


@kernel(lambda: ())
def _walk_tests(x: np.ndarray, r: int, tests: np.ndarray, thr: np.ndarray, e: int) -> int:
    """A record through a tree's *tests* (``trees.walk.Walker.tests``) from test ``e``: the final
    node as ``-(node + 1)``, or SLOW when a value is missing or no child is true (:func:`_walk`
    decides).  One test per step and no branch on its outcome, so the processor overlaps the
    walks of consecutive records."""
    while e >= 0:
        v = x[tests[e, T_COLUMN], r]
        if v != v:
            return SLOW
        t = thr[e]
        bit = (v < t) * LT + (v == t) * EQ + (v > t) * GT
        e = tests[e, T_FALSE + ((tests[e, T_MASK] & bit) != 0)]
    return e


@kernel(lambda: ())
def _walk_lanes(x: np.ndarray, b0: int, b1: int, tests: np.ndarray, thr: np.ndarray, first: int,
                ends: np.ndarray) -> None:
    """:func:`_walk_tests` for records ``b0:b1``, LANES records side by side: their steps are
    independent, so the processor overlaps them (one record's walk is a chain of dependent loads)."""
    lane = np.empty(LANES, dtype=np.int64)
    for r0 in range(b0, b1, LANES):
        k = min(LANES, b1 - r0)
        for j in range(k):
            lane[j] = first
        walking = True
        while walking:
            walking = False
            for j in range(k):
                e = lane[j]
                if e < 0:
                    continue
                v = x[tests[e, T_COLUMN], r0 + j]
                if v != v:
                    lane[j] = SLOW
                    continue
                t = thr[e]
                bit = (v < t) * LT + (v == t) * EQ + (v > t) * GT
                lane[j] = tests[e, T_FALSE + ((tests[e, T_MASK] & bit) != 0)]
                walking = True
        for j in range(k):
            ends[r0 + j - b0] = lane[j]


@kernel(_samples_walk)
def walk_all(x: np.ndarray, nd: np.ndarray, thr: np.ndarray, children: np.ndarray, sets: np.ndarray,
             tree: np.ndarray, tests: np.ndarray, test_thr: np.ndarray, read: np.ndarray,
             track: bool) -> tuple[np.ndarray, int]:
    """Every record (a column of ``x``) through one tree (``tree``: root, strategy, last).

    Returns per record (node, slot, levels, outcome) - see :func:`_walk` - and the outcomes met
    as bits (``1 << outcome``: 1 when every record is DONE).  ``read[r, column]`` is set where a
    test read the column, when ``track``.
    """
    n = x.shape[1]
    state = np.empty((n, 4), dtype=np.int64)
    seen = 0
    fast = tree[3] != SLOW and not track
    for r in range(n):
        if fast:
            node = -_walk_tests(x, r, tests, test_thr, tree[3]) - 1  # SLOW: a large node number
            if node < len(nd) and nd[node, N_FLAGS] & F_SCORE:
                state[r, 0] = node
                state[r, 1] = 0
                state[r, 2] = 0
                state[r, 3] = DONE
                continue
        got = _walk(x, r, nd, thr, children, sets, tree[0], tree[1], tree[2] != 0, -1, 0, 0, -1.0, read, track)
        state[r, 0] = got[1]
        state[r, 1] = got[2]
        state[r, 2] = got[3]
        state[r, 3] = got[0]
        seen |= 1 << got[0]
    return state, seen


@kernel(_samples_resume)
def resume(x: np.ndarray, nd: np.ndarray, thr: np.ndarray, children: np.ndarray, sets: np.ndarray,
           tree: np.ndarray, rows: np.ndarray, state: np.ndarray, answers: np.ndarray, read: np.ndarray,
           track: bool) -> None:
    """Resume records ``rows`` where :func:`walk_all` stopped (``state`` as it returned), each with
    ``answers[i]``, the truth of the exotic test it stopped at (NaN unknown)."""
    for i in range(len(rows)):
        r = rows[i]
        got = _walk(x, r, nd, thr, children, sets, tree[0], tree[1], tree[2] != 0, state[r, 0], state[r, 1],
                    state[r, 2], answers[i], read, track)
        state[r, 0] = got[1]
        state[r, 1] = got[2]
        state[r, 2] = got[3]
        state[r, 3] = got[0]


@kernel(_samples_forest)
def walk_forest(x: np.ndarray, nd: np.ndarray, thr: np.ndarray, children: np.ndarray, sets: np.ndarray,
                trees: np.ndarray, tests: np.ndarray, test_thr: np.ndarray, kind: int, table: np.ndarray,
                weights: np.ndarray, weighted: bool,
                single: bool, start: float, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every record through every tree (no exotic tests), results added tree by tree as JPMML
    adds its segments: VALUES ``start + table[leaf, 0] (* weight) + ...`` (float32 terms and sums
    when ``single``), PROBABILITIES the same per category column from 0, VOTES the votes (or
    weights) per category ``table[leaf, 0]`` and the first tree voting it.  A tree without a
    result (no node, a failure) adds NaN, or for votes marks the record ``bad``.

    Returns the sums (records x ``k``), the first tree voting each category and ``bad``.
    """
    n = x.shape[1]
    acc = np.empty((n, k))
    first = np.empty((n, k), dtype=np.int64)
    bad = np.zeros(n, dtype=np.bool_)
    n_trees = trees.shape[0]
    nowhere = np.zeros((1, 1), dtype=np.bool_)
    ends = np.empty(BLOCK, dtype=np.int64)
    single = single and kind == VALUES
    init = start if kind == VALUES else 0.0
    for b0 in range(0, n, BLOCK):
        b1 = min(n, b0 + BLOCK)
        for r in range(b0, b1):
            for j in range(k):
                acc[r, j] = np.float32(init) if single else init
                first[r, j] = n_trees
        for t in range(n_trees):
            w = weights[t]
            fast = trees[t, 3] != SLOW
            if fast:
                _walk_lanes(x, b0, b1, tests, test_thr, trees[t, 3], ends)
            for r in range(b0, b1):
                leaf = -ends[r - b0] - 1 if fast else len(nd)
                if leaf >= len(nd) or not nd[leaf, N_FLAGS] & F_SCORE:
                    got = _walk(x, r, nd, thr, children, sets, trees[t, 0], trees[t, 1], trees[t, 2] != 0, -1, 0, 0,
                                -1.0, nowhere, False)
                    leaf = got[1] if got[0] == DONE else -1
                if kind == VOTES:
                    code = int(table[leaf, 0]) if leaf >= 0 else k
                    if code >= k:
                        bad[r] = True
                        continue
                    acc[r, code] += w if weighted else 1.0
                    if first[r, code] > t:
                        first[r, code] = t
                    continue
                for j in range(k):
                    v = table[leaf, j] if leaf >= 0 else np.nan
                    if weighted:
                        v = v * w
                    if single:
                        acc[r, j] = np.float32(np.float32(acc[r, j]) + np.float32(v))
                    else:
                        acc[r, j] = acc[r, j] + v
    return acc, first, bad
