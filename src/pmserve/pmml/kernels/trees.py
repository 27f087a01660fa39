"""The tree walk: each record follows one tree's node arrays, or all trees of a forest in turn.

The arrays are built by :mod:`pmserve.pmml.trees.flat`, which owns every rule they encode; a
node is one row of ``nd`` (int32, the ``N_*`` columns below) and one threshold.  A node's test:
the record's value of column ``nd[N_COLUMN]`` compared with the threshold (or looked up in row
``nd[N_SET]`` of ``sets``) gives one outcome bit - below, equal, above, missing - and the node's
operator is the set of bits that make it true.  A node flagged ``F_EXOTIC`` (a compound or
string-ordering predicate) is evaluated by the caller: the walk stops there with ``NEED`` and is
resumed with the answer.  Per tree (a row of ``trees``): root, missing-value strategy, whether a
dead end returns its parent (noTrueChildStrategy returnLastPrediction), its first test in
``tests`` (SLOW: none, the general walk decides).
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
# A test record (``Walker.tests``, float64 rows; the same memory as int32 is ``links``): the
# bound in float column R_BOUND, and in int32 columns the input column, the test to go to when
# the value is not below the bound and when it is (``-(node + 1)``: the record ends in node;
# SLOW: the general walk decides).  Every ordering test is ``value < bound`` with its outcomes
# in one of the two orders, so a step is one comparison and no branch on its outcome.
R_BOUND = 0
R_COLUMN, R_NOT_BELOW, R_BELOW = 2, 3, 4
RECORD_FLOATS, RECORD_INTS = 3, 6
SLOW = -(2**31)
# Truth of a test.
FALSE, TRUE, UNKNOWN = 0, 1, 2
# Walk outcomes.
DONE, NEED, FAIL_DEFAULT, FAIL_SCORE, BLEND = range(5)
# Accumulations of a forest.
VALUES, PROBABILITIES, VOTES = range(3)
#: Records walked through one tree before the next: the tree's tests stay in cache, and the forest's,
#: which may not fit there (500 trees: 9 MB), are read once per block (rf500: 2x faster than 256).
BLOCK = 2048
#: Records a forest walks side by side through one tree: their steps are independent, so the
#: processor overlaps them (one record's walk is a chain of dependent loads).
LANES = 8


def _sample_tree() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """x, nd, thr, children, sets of a one-node tree over one record."""
    nd = np.zeros((1, NODE_FIELDS), dtype=np.int32)
    nd[0, N_MASK] = ALWAYS
    nd[0, N_FLAGS] = F_SCORE
    return np.zeros((1, 1)), nd, np.zeros(1), np.zeros(1, dtype=np.int32), np.zeros((1, 1), dtype=np.bool_)


def _sample_tests() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A tree row starting at the general walk, and one test record (as floats and as ints)."""
    tree = np.zeros(4, dtype=np.int64)
    tree[3] = SLOW
    tests = np.zeros((1, RECORD_FLOATS))
    return tree, tests, tests.view(np.int32)


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
def _walk_block(x: np.ndarray, b0: int, b1: int, tests: np.ndarray, links: np.ndarray, first: int,
                ends: np.ndarray) -> None:
    """Records ``b0:b1`` through a tree's test records from test ``first``: each ends (in
    ``ends[r - b0]``) in a node as ``-(node + 1)``, or at SLOW where a value is missing or no child
    is true (:func:`_walk` decides).  LANES records at a time: a lane whose record ends takes the
    next record, so every lane stays busy."""
    lane = np.empty(LANES, dtype=np.int64)
    rec = np.empty(LANES, dtype=np.int64)
    nxt = b0
    live = 0
    for j in range(LANES):
        lane[j] = SLOW
        rec[j] = -1
        if nxt < b1:
            lane[j] = first
            rec[j] = nxt
            nxt += 1
            live += 1
    while live > 0:
        for j in range(LANES):
            e = lane[j]
            if e >= 0:
                v = x[links[e, R_COLUMN], rec[j]]
                lane[j] = SLOW if v != v else links[e, R_NOT_BELOW + (v < tests[e, R_BOUND])]
            elif rec[j] >= 0:
                ends[rec[j] - b0] = e
                if nxt < b1:
                    lane[j] = first
                    rec[j] = nxt
                    nxt += 1
                else:
                    rec[j] = -1
                    live -= 1


@kernel(_samples_walk)
def walk_all(x: np.ndarray, nd: np.ndarray, thr: np.ndarray, children: np.ndarray, sets: np.ndarray,
             tree: np.ndarray, tests: np.ndarray, links: np.ndarray, read: np.ndarray,
             track: bool) -> tuple[np.ndarray, int]:
    """Every record (a column of ``x``) through one tree (``tree``: root, strategy, last).

    Returns per record (node, slot, levels, outcome) - see :func:`_walk` - and the outcomes met
    as bits (``1 << outcome``: 1 when every record is DONE).  ``read[r, column]`` is set where a
    test read the column, when ``track``.
    """
    n = x.shape[1]
    state = np.empty((n, 4), dtype=np.int64)
    seen = 0
    ends = np.full(n, SLOW)
    if tree[3] != SLOW and not track:
        _walk_block(x, 0, n, tests, links, tree[3], ends)
    for r in range(n):
        if ends[r] != SLOW:  # a test record's end: a node with a score
            state[r, 0] = -ends[r] - 1
            state[r, 1:3] = 0
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


@kernel(lambda: ())
def _add_block(acc: np.ndarray, first: np.ndarray, bad: np.ndarray, b0: int, b1: int, t: int, ends: np.ndarray,
               kind: int, table: np.ndarray, w: float, weighted: bool, single: bool, k: int) -> None:
    """Add tree ``t``'s results for records ``b0:b1`` (ending in node ``-ends[r - b0] - 1``, -1:
    none) to their sums (one call per block: a call per record costs more than the addition)."""
    for r in range(b0, b1):
        leaf = -ends[r - b0] - 1
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


#: Deepest test path of a tree walked as a complete tree (:func:`_complete`): XGBoost's and
#: LightGBM's shallow trees; deeper ones (random forests) take :func:`_walk_block`.
SHALLOW = 8
#: Records from which a forest unfolds its shallow trees (a few microseconds a tree).
COMPLETE_FROM = 512


@kernel(lambda: ())
def _complete(tests: np.ndarray, links: np.ndarray, first: int, columns: np.ndarray, bounds: np.ndarray,
              heap: np.ndarray) -> int:
    """A tree's test records from ``first`` unfolded into a complete binary tree, level by level:
    node ``i`` (``columns[i]``, ``bounds[i]``) goes to ``2i + 1`` when the value is below the
    bound and to ``2i + 2`` when not, and ``heap[i]`` is the end (``-(node + 1)`` or SLOW) of a
    path that ended.  A path that ends early is padded with tests that lead to its end either way.
    Returns the depth, or -1 when a path is longer than SHALLOW."""
    heap[0] = first
    level = 0
    for depth in range(SHALLOW + 1):
        if np.all(heap[level:2 * level + 1] < 0):
            return depth
        if depth == SHALLOW:
            break
        for i in range(level, 2 * level + 1):
            e = heap[i]
            columns[i] = links[e, R_COLUMN] if e >= 0 else 0
            bounds[i] = tests[e, R_BOUND] if e >= 0 else np.inf
            heap[2 * i + 1] = links[e, R_BELOW] if e >= 0 else e
            heap[2 * i + 2] = links[e, R_NOT_BELOW] if e >= 0 else e
        level = 2 * level + 1
    return -1


@kernel(lambda: ())
def _complete_trees(tests: np.ndarray, links: np.ndarray, trees: np.ndarray,
                    wanted: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Each tree as :func:`_complete` unfolds it, where it is shallow and ``wanted``: its columns,
    bounds, ends and depth (-1: walked by :func:`_walk_block`)."""
    n_trees = trees.shape[0] if wanted else 0
    width = 2 << SHALLOW
    columns = np.empty((n_trees, width), dtype=np.uint64)  # unsigned: no wraparound on indexing
    bounds = np.empty((n_trees, width))
    heap = np.empty((n_trees, width), dtype=np.int64)
    depths = np.full(trees.shape[0], -1)
    for t in range(n_trees):
        if trees[t, 3] != SLOW:
            depths[t] = _complete(tests, links, trees[t, 3], columns[t], bounds[t], heap[t])
    return columns, bounds, heap, depths


@kernel(lambda: ())
def _walk_complete(x: np.ndarray, b0: int, b1: int, columns: np.ndarray, bounds: np.ndarray, heap: np.ndarray,
                   depth: int, missing: np.ndarray, ends: np.ndarray) -> None:
    """Records ``b0:b1`` through a tree :func:`_complete` unfolded (ends in ``ends[r - b0]``; SLOW
    for a record with a missing value, the general walk decides), all records one level at a
    time: no record waits for another's step, and no branch depends on where a record goes."""
    k = b1 - b0
    xs = x[:, b0:b1]
    at = np.zeros(k, dtype=np.uint64)
    for _ in range(depth):
        for q in range(k):
            i = at[q]
            at[q] = 2 * i + 2 - (xs[columns[i], np.uint64(q)] < bounds[i])
    for q in range(k):
        ends[q] = SLOW if missing[q] else heap[at[q]]


@kernel(lambda: ())
def _forest_block(x: np.ndarray, b0: int, b1: int, nd: np.ndarray, thr: np.ndarray, children: np.ndarray,
                  sets: np.ndarray, trees: np.ndarray, tests: np.ndarray, links: np.ndarray,
                  complete: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray], kind: int, table: np.ndarray,
                  weights: np.ndarray, weighted: bool, single: bool, k: int, acc: np.ndarray, first: np.ndarray,
                  bad: np.ndarray) -> None:
    """Records ``b0:b1`` through every tree, each tree's results added (:func:`_add_block`)
    before the next tree."""
    columns, bounds, heap, depths = complete
    ends = np.empty(b1 - b0, dtype=np.int64)
    missing = np.zeros(b1 - b0, dtype=np.bool_)
    for c in range(x.shape[0]):
        for q in range(b1 - b0):
            missing[q] |= x[c, b0 + q] != x[c, b0 + q]
    nowhere = np.zeros((1, 1), dtype=np.bool_)
    for t in range(trees.shape[0]):
        if depths[t] >= 0:
            _walk_complete(x, b0, b1, columns[t], bounds[t], heap[t], depths[t], missing, ends)
        elif trees[t, 3] != SLOW:
            _walk_block(x, b0, b1, tests, links, trees[t, 3], ends)
        else:
            ends[:] = SLOW
        for r in range(b0, b1):  # the test records end in a node with a score, or at SLOW
            if ends[r - b0] == SLOW:
                got = _walk(x, r, nd, thr, children, sets, trees[t, 0], trees[t, 1], trees[t, 2] != 0, -1, 0, 0,
                            -1.0, nowhere, False)
                ends[r - b0] = -got[1] - 1 if got[0] == DONE else 0
        _add_block(acc, first, bad, b0, b1, t, ends, kind, table, weights[t], weighted, single, k)


@kernel(_samples_forest)
def walk_forest(x: np.ndarray, nd: np.ndarray, thr: np.ndarray, children: np.ndarray, sets: np.ndarray,
                trees: np.ndarray, tests: np.ndarray, links: np.ndarray, kind: int, table: np.ndarray,
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
    single = single and kind == VALUES
    init = start if kind == VALUES else 0.0
    acc = np.full((n, k), float(np.float32(init)) if single else init)
    first = np.full((n, k), trees.shape[0], dtype=np.int64)
    bad = np.zeros(n, dtype=np.bool_)
    complete = _complete_trees(tests, links, trees, n >= COMPLETE_FROM)
    for b0 in range(0, n, BLOCK):
        _forest_block(x, b0, min(n, b0 + BLOCK), nd, thr, children, sets, trees, tests, links, complete, kind, table,
                      weights, weighted, single, k, acc, first, bad)
    return acc, first, bad
