"""TreeModel: decision trees for classification and regression (PMML 4.4 "TreeModel").

The nodes are compiled into node arrays (:mod:`pmserve.pmml.trees.nodes`) and walked by the
compiled walker (:mod:`pmserve.pmml.trees.walk`).  Results follow JPMML-Evaluator:

* the predicted value is the final Node's score, typed by the target;
* probabilities come from the final Node's ScoreDistributions - their probability attributes
  when the first one has one, else recordCount divided by the sum of the recordCounts; a
  category the Node does not list has probability 0; a Node without ScoreDistributions gives
  probability 1 to its score;
* confidences are ScoreDistribution/@confidence times missingValuePenalty to the power of the
  missing levels met (defaultChild taken, surrogate decided by an alternative);
* the entity id is Node/@id, or the Node's 1-based position in depth-first order.

missingValueStrategy weightedConfidence and aggregateNodes (which JPMML does not support) follow
the PMML specification as implemented by pmml4s: when no child is true but some are unknown,
weightedConfidence blends the confidences of the unknown children weighted by their share of
the parent's recordCount (recursively), and aggregateNodes sums the ScoreDistribution record
counts of every leaf the record may reach.  Such blended records have no entity id.
Node-level embedded models (Regression, DecisionTree) are not supported.

Trees of large ensembles arrive as Node tables read in bulk by the parser; a classification or
regression tree of plain numeric splits is then compiled from whole arrays (``_compile_bulk``),
with the same results as the element-by-element path, which takes every other tree.  Both
paths read a classification tree's ScoreDistributions into one form (``_Distributions``), from
which one function builds its class tables.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from pmserve.errors import EvaluationError
from pmserve.pmml.compiler import CompiledModel, ModelEnv, Predictor, register
from pmserve.pmml.document.attributes import number, parsed
from pmserve.pmml.document.element import Element
from pmserve.pmml.document.node_table import K_SCORE, NodeTable
from pmserve.pmml.document.problems import Problems
from pmserve.pmml.fields.frame import Frame
from pmserve.pmml.fields.schema import FieldInfo
from pmserve.pmml.fields.types import Array, DataType, parse_scalar
from pmserve.pmml.kernels import trees as kt
from pmserve.pmml.results.prediction import Prediction
from pmserve.pmml.trees.bulk import TableNodes, bulk_flat, node_table, table_nodes
from pmserve.pmml.trees.flat import BoolArray, FlatTree, IntArray, number_or_nan
from pmserve.pmml.trees.nodes import ParsedNode, build_flat, parse_nodes
from pmserve.pmml.trees.walk import Walker, join

__all__ = ["TreePredictor", "compile_tree"]


@dataclass(frozen=True)
class _Classes:
    """Per-node class tables of a classification tree; an extra last row stands for "no node"."""

    categories: tuple[Any, ...]
    values: Array  # the node's score typed by the target
    probabilities: Array  # nodes + 1 x categories
    confidences: Array | None  # nodes + 1 x categories, NaN where a node has none
    counts: Array  # ScoreDistribution recordCounts (aggregateNodes)
    undefined: Array  # node whose probabilities sum to zero (JPMML: undefined result)


@register("TreeModel")
def compile_tree(el: Element, env: ModelEnv) -> CompiledModel | None:
    fast = _compile_bulk(el, env)
    if fast is not None:
        return fast
    problems = env.problems
    nodes = parse_nodes(el, problems)
    if nodes is None:
        return None
    penalty = _penalty(el, problems)
    flat = build_flat(el, nodes, env)
    fn = env.function_name
    if fn == "regression":
        return _compile_regression(el, nodes, flat, penalty, env)
    if fn != "classification":
        problems.invalid(f"functionName of a TreeModel must be classification or regression, got {fn!r}", el)
        return None
    target = env.target
    if target is None:
        problems.invalid("a classification TreeModel needs a target field in its MiningSchema", el)
        return None
    aggregate = el.get("missingValueStrategy") == "aggregateNodes"
    classes = _classes(nodes, target.dtype, target.valid, problems, aggregate)
    if el.get("missingValueStrategy") == "weightedConfidence":
        unweighed = next((nd for nd in nodes if nd.parent >= 0 and nd.el.get("recordCount") is None), None)
        if unweighed is not None:
            problems.invalid("missingValueStrategy weightedConfidence needs the recordCount of every Node",
                             unweighed.el)
    if flat is None or classes is None or penalty is None:
        return None
    if not flat.single_node:
        counts = np.array([number_or_nan(nd.el.get("recordCount")) for nd in nodes])
        return CompiledModel(_BlendedTree(flat, classes, target.dtype, counts, _ids(flat), join([flat])),
                             classes.categories)
    return CompiledModel(_classification(flat, classes, target.dtype, penalty), classes.categories)


def _compile_regression(el: Element, nodes: list[ParsedNode], flat: FlatTree | None, penalty: float | None,
                        env: ModelEnv) -> CompiledModel | None:
    problems = env.problems
    strategy = el.get("missingValueStrategy", "none")
    if strategy in ("weightedConfidence", "aggregateNodes"):
        problems.unsupported(f"missingValueStrategy {strategy} is defined for classification trees only", el)
        return None
    for nd in nodes:
        if nd.score is not None and not _is_number(nd.score):
            problems.invalid(f"score of a regression tree must be a number, got {nd.score!r}", nd.el)
    if flat is None or penalty is None or problems.items:
        return None
    return CompiledModel(_regression(flat, env.target))


# -- compiling -------------------------------------------------------------------------------------


def _compile_bulk(el: Element, env: ModelEnv) -> CompiledModel | None:
    """A tree whose Nodes the parser read as a table (large ensembles), compiled with whole arrays.

    None when anything is out of the plain shape or invalid: the element-by-element path below
    then compiles the tree and reports every problem.
    """
    table = node_table(el)
    if table is None:
        return None
    try:
        return _compile_table(el, table, env)
    finally:
        table.release()  # the compiled arrays hold all that scoring needs


def _compile_table(el: Element, table: NodeTable, env: ModelEnv) -> CompiledModel | None:
    penalty = _penalty(el, Problems())  # (the element-by-element path reports it)
    if el.get("missingValueStrategy", "none") not in ("none", "nullPrediction", "lastPrediction") or penalty is None:
        return None
    nodes = table_nodes(table)
    target = env.target
    if env.function_name == "regression":
        flat = bulk_flat(el, nodes, env)
        if flat is None or np.isnan(flat.scores[flat.has_score]).any():
            return None
        return CompiledModel(_regression(flat, target))
    if env.function_name != "classification" or target is None:
        return None
    dists = _read_table(nodes, target.dtype, target.valid)
    if dists is None or _share_problems(dists):
        return None  # the element-by-element path reports the problems
    flat = bulk_flat(el, nodes, env)
    if flat is None:
        return None
    classes = _class_tables(dists, target.dtype, False)
    return CompiledModel(_classification(flat, classes, target.dtype, penalty), classes.categories)


def _penalty(el: Element, problems: Problems) -> float | None:
    return number(el, "missingValuePenalty", problems, 1.0, minimum=0.0, maximum=1.0)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _classes(nodes: list[ParsedNode], dtype: DataType, declared: tuple[Any, ...], problems: Problems,
             aggregate: bool) -> _Classes | None:
    """The class tables of a tree read element by element; every problem is reported."""
    dists = _read_elements(nodes, dtype, declared, problems)
    if dists is None:
        return None
    elements = [sd for nd in nodes for sd in nd.distributions]
    unreadable = _share_problems(dists)
    for i, message in unreadable:
        problems.invalid(message, elements[i])
    return None if unreadable else _class_tables(dists, dtype, aggregate)


@dataclass(frozen=True)
class _Distributions:
    """A classification tree's Nodes as either reader gives them: the categories in the order
    they are met (the declared ones first, then each Node's score and its ScoreDistributions'
    values), each Node's score as a category, and the ScoreDistributions grouped by Node in
    document order."""

    categories: tuple[Any, ...]
    score: IntArray  # per Node: the category of its score, -1 for none
    node: IntArray  # per ScoreDistribution: its Node
    code: IntArray  # its value's category
    count: Array  # its recordCount, probability and confidence: NaN where absent
    probability: Array
    confidence: Array


#: The numbers a ScoreDistribution may carry, in the order of ``_Distributions``.
_SD_NUMBERS = ("recordCount", "probability", "confidence")


def _read_elements(nodes: list[ParsedNode], dtype: DataType, declared: tuple[Any, ...],
                   problems: Problems) -> _Distributions | None:
    order = {c: j for j, c in enumerate(dict.fromkeys(declared))}  # a category declared twice: its first place

    def category(el: Element, attr: str, required: bool) -> int | None:
        """The category of a score or value, new ones added to ``order``: -1 where absent, None
        where unreadable (reported)."""
        value = parsed(el, attr, lambda text: parse_scalar(dtype, text), problems, required=required)
        if value is None:
            return -1 if el.get(attr) is None and not required else None
        return order.setdefault(value, len(order))

    score: list[int | None] = []
    rows: list[list[float | None]] = []  # per ScoreDistribution: Node, category, then _SD_NUMBERS
    for i, nd in enumerate(nodes):
        score.append(category(nd.el, "score", False))
        for sd in nd.distributions:
            code = category(sd, "value", True)
            rows.append([i, code, *(number(sd, attr, problems, math.nan, minimum=0.0, finite=True)
                                    for attr in _SD_NUMBERS)])
    if None in score or any(None in row for row in rows):
        return None
    table = np.array(rows, dtype=np.float64).reshape(-1, 5)
    return _Distributions(tuple(order), np.array(score, dtype=np.intp), table[:, 0].astype(np.intp),
                          table[:, 1].astype(np.intp), *table[:, 2:].T)


def _read_table(nodes: TableNodes, dtype: DataType, declared: tuple[Any, ...]) -> _Distributions | None:
    """:func:`_read_elements` over the bulk Node table's arrays; None where it would report a problem."""
    table = nodes.table
    sd_rows = np.flatnonzero(table.kind == K_SCORE)
    sd_node = nodes.rank[table.owner[sd_rows]]
    by_node = np.argsort(sd_node, kind="stable")  # a Node's ScoreDistributions in document order
    sd_rows, sd_node = sd_rows[by_node], sd_node[by_node]
    if not nodes.present(sd_rows, "value").all():
        return None
    score_at = np.flatnonzero(nodes.present(nodes.rows, "score"))
    texts = np.concatenate([nodes.texts(nodes.rows[score_at], "score"), nodes.texts(sd_rows, "value")])
    # Categories in the order _read_elements meets them: each Node's score, then its distributions.
    order = {c: j for j, c in enumerate(dict.fromkeys(declared))}
    codes = _category_codes(texts, np.concatenate([score_at * 2, sd_node * 2 + 1]), dtype, order)
    if codes is None:
        return None
    score = np.full(nodes.n, -1, dtype=np.intp)
    score[score_at] = codes[:len(score_at)]
    numbers = []
    for attr in _SD_NUMBERS:
        here = nodes.present(sd_rows, attr)
        values = np.full(len(sd_rows), np.nan)
        if here.any():
            try:
                values[here] = nodes.texts(sd_rows[here], attr).astype(np.float64)
            except (ValueError, UnicodeDecodeError):
                return None
            if not (np.isfinite(values[here]) & (values[here] >= 0.0)).all():
                return None
        numbers.append(values)
    return _Distributions(tuple(order), score, sd_node, codes[len(score_at):], *numbers)


def _category_codes(texts: npt.NDArray[np.bytes_], keys: IntArray, dtype: DataType,
                    order: dict[Any, int]) -> IntArray | None:
    """Each text's category, added to ``order`` in the order of ``keys``; None if one is unreadable."""
    met = np.argsort(keys, kind="stable")
    distinct, first, inverse = np.unique(texts[met], return_index=True, return_inverse=True)
    code_of = np.empty(len(distinct), dtype=np.intp)
    for u in np.argsort(first, kind="stable").tolist():
        try:
            value = parse_scalar(dtype, bytes(distinct[u]).decode("utf-8"))
        except (ValueError, UnicodeDecodeError):
            return None
        code_of[u] = order.setdefault(value, len(order))
    codes = np.empty(len(texts), dtype=np.intp)
    codes[met] = code_of[inverse]
    return codes


def _by_probability(dists: _Distributions) -> BoolArray:
    """Per ScoreDistribution: its Node's shares are probabilities (its first one has one), else
    record counts."""
    first = np.ones(len(dists.node), dtype=bool)
    first[1:] = dists.node[1:] != dists.node[:-1]
    of_node = np.zeros(len(dists.score), dtype=bool)
    of_node[dists.node[first & ~np.isnan(dists.probability)]] = True
    out: BoolArray = of_node[dists.node]
    return out


def _share_problems(dists: _Distributions) -> list[tuple[int, str]]:
    """The ScoreDistributions without a usable share of their Node: (index, problem)."""
    by_probability = _by_probability(dists)
    no_probability = by_probability & np.isnan(dists.probability)
    above_one = by_probability & (dists.probability > 1.0)
    no_count = ~by_probability & np.isnan(dists.count)
    out = []
    for i in np.flatnonzero(no_probability | above_one | no_count).tolist():
        if no_probability[i]:
            out.append((i, "attribute probability is required when the first ScoreDistribution of the Node has one"))
        elif above_one[i]:
            out.append((i, f"attribute probability must be between 0 and 1, got {float(dists.probability[i])!r}"))
        else:
            out.append((i, "attribute recordCount is required when the Node's ScoreDistributions give no "
                           "probability"))
    return out


def _class_tables(dists: _Distributions, dtype: DataType, aggregate: bool) -> _Classes:
    """A Node's probabilities are its ScoreDistributions' shares (probabilities, else record
    counts) divided by their sum; a Node without any gives probability 1 to its score."""
    m, k = len(dists.score), len(dists.categories)
    share = np.where(_by_probability(dists), dists.probability, dists.count)
    values = _last_per_cell(np.zeros((m, k)), dists, share)
    total = np.bincount(dists.node, weights=share, minlength=m)  # (a category listed twice adds twice)
    listed = np.bincount(dists.node, minlength=m) > 0
    undefined = np.zeros(m + 1, dtype=bool)
    undefined[:m] = listed & (total == 0.0)
    probs = np.full((m + 1, k), np.nan)
    probs[:m][listed] = (values / np.where(total == 0.0, 1.0, total)[:, None])[listed]
    plain = np.flatnonzero(~listed & (dists.score >= 0))
    probs[plain] = 0.0
    probs[plain, dists.score[plain]] = 1.0
    # Record counts serve aggregateNodes only: other trees keep no table of them.
    counts = _last_per_cell(np.zeros((m + 1, k)), dists, dists.count) if aggregate else np.broadcast_to(0.0, (m + 1, k))
    confs = None
    if not np.isnan(dists.confidence).all():
        confs = np.full((m + 1, k), np.nan)
        confs[np.unique(dists.node[~np.isnan(dists.confidence)])] = 0.0
        _last_per_cell(confs, dists, dists.confidence)
    labels: Array = np.empty(k + 1, dtype=object)  # the last one: no score
    labels[:k] = list(dists.categories)
    if not dtype.is_string:
        labels = np.array([np.nan if c is None else c for c in labels.tolist()])
    return _Classes(dists.categories, labels[np.append(dists.score, -1)], probs, confs, counts, undefined)


def _last_per_cell(table: Array, dists: _Distributions, x: Array) -> Array:
    """``table[node, category] = x`` for each ScoreDistribution with a number; of a category
    listed twice in a Node, the last one."""
    here = np.flatnonzero(~np.isnan(x))
    cell = dists.node[here] * table.shape[1] + dists.code[here]
    _, from_end = np.unique(cell[::-1], return_index=True)
    last = here[len(here) - 1 - from_end]
    table[dists.node[last], dists.code[last]] = x[last]
    return table


# -- scoring ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TreePredictor:
    """A tree whose every record ends in one node: its tables stay readable, so that an ensemble
    of such trees can score them all at once (:mod:`pmserve.pmml.trees.ensemble`)."""

    flat: FlatTree
    dtype: DataType
    #: None for a regression tree.
    classes: _Classes | None
    penalty: float
    #: Per node, and "no node" last: entity id and predicted value.
    ids: Array
    values: Array
    walker: Walker

    def __call__(self, frame: Frame) -> Prediction:
        nodes, levels, _ = self.walker.walk(frame)
        if self.classes is None:
            return Prediction(frame.n, self.dtype, self.values[nodes], entity_id=self.ids[nodes])
        classes = self.classes
        nodes = _fail_undefined(frame, nodes, classes)
        probs = classes.probabilities[nodes]
        confs = None
        if classes.confidences is not None:
            confs = classes.confidences[nodes]
            if self.penalty != 1.0 and levels.any():
                confs = confs * (self.penalty ** levels)[:, None]
        return Prediction(frame.n, self.dtype, self.values[nodes], classes.categories, probs, confidences=confs,
                          entity_id=self.ids[nodes])


def _regression(flat: FlatTree, target: FieldInfo | None) -> Predictor:
    dtype = target.dtype if target is not None and target.dtype.is_number else DataType.DOUBLE
    return TreePredictor(flat, dtype, None, 1.0, _ids(flat), np.append(flat.scores, np.nan), join([flat]))


def _ids(flat: FlatTree) -> Array:
    ids: Array = np.empty(flat.n_nodes + 1, dtype=object)
    ids[: flat.n_nodes] = flat.ids
    ids[flat.n_nodes] = None
    return ids


def _classification(flat: FlatTree, classes: _Classes, dtype: DataType, penalty: float) -> Predictor:
    return TreePredictor(flat, dtype, classes, penalty, _ids(flat), classes.values, join([flat]))


def _fail_undefined(frame: Frame, nodes: IntArray, classes: _Classes) -> IntArray:
    bad = classes.undefined[nodes]
    if bad.any():
        frame.fail(bad, lambda r: EvaluationError(
            "the record ends in a Node whose ScoreDistribution record counts sum to zero", row=r))
        nodes = np.where(bad, -1, nodes)
    return nodes


@dataclass(frozen=True)
class _BlendedTree:
    """weightedConfidence / aggregateNodes: the walker decides every record that meets no unknown
    split; the others blend the nodes they may reach (:meth:`_descend`)."""

    flat: FlatTree
    classes: _Classes
    dtype: DataType
    record_counts: Array  # each Node's recordCount (weightedConfidence shares)
    ids: Array
    walker: Walker

    @property
    def weighted(self) -> bool:
        return self.flat.missing_strategy == "weightedConfidence"

    @property
    def node_confidences(self) -> Array:
        """Each node's confidences, its probabilities where the tree has none."""
        classes = self.classes
        return classes.confidences if classes.confidences is not None else classes.probabilities

    def __call__(self, frame: Frame) -> Prediction:
        classes = self.classes
        nodes, conf, prob = self._walk(frame)
        values, confidence, blended = self._blended_values(nodes, conf, prob)
        # The confidence of the prediction: the node's confidence of its score, or the blend's.
        own = None
        if classes.confidences is not None or not self.weighted:
            confs = np.full(conf.shape, np.nan)
            ended = nodes >= 0
            confs[ended] = self.node_confidences[nodes[ended]]
            own = _pick(confs, values, classes.categories, self.dtype)
            own[blended] = confidence[blended]
        return Prediction(frame.n, self.dtype, values, classes.categories, prob, confidence=own,
                          entity_id=self.ids[nodes])

    def _walk(self, frame: Frame) -> tuple[IntArray, Array, Array]:
        """Each record's final node (-1: blended or none), confidence (or count) and probability rows."""
        n, k = frame.n, len(self.classes.categories)
        nodes = np.full(n, -1, dtype=np.intp)
        conf = np.full((n, k), np.nan)
        prob = np.full((n, k), np.nan)
        if n:
            x = self.walker.inputs(frame)
            nodes, _, outcome = self.walker.walk(frame, x)
            one = np.flatnonzero(nodes >= 0)
            conf[one], prob[one] = self._ends(nodes[one])
            go = np.flatnonzero(outcome == kt.BLEND)
            if len(go):
                nodes[go], conf[go], prob[go] = self._descend(0, go, x, frame)
        return nodes, conf, prob

    def _ends(self, nodes: IntArray) -> tuple[Array, Array]:
        """What records ending in ``nodes`` contribute: confidences (probabilities where the tree
        has none) or, in aggregateNodes, the record counts of a node that is not a leaf; and
        probabilities."""
        conf = np.where(self.flat.is_leaf[nodes, None] | self.weighted, self.node_confidences[nodes],
                        self.classes.counts[nodes])
        return conf, self.classes.probabilities[nodes]

    def _descend(self, node: int, rows: IntArray, x: Array, frame: Frame) -> tuple[IntArray, Array, Array]:
        """From an entered node: final node (-1 blended or none), confidence (or count) and probability rows."""
        flat = self.flat
        n, k = len(rows), len(self.classes.categories)
        if flat.is_leaf[node]:
            at = np.full(n, node, dtype=np.intp)
            return (at, *self._ends(at))
        kids = _kids(flat, node)
        status = np.vstack([flat.status(np.full(n, kid, dtype=np.intp), rows, x, frame)[0] for kid in kids])
        is_true = status == 1.0
        any_true = is_true.any(axis=0)
        first_true = np.argmax(is_true, axis=0)
        unknown = ~any_true & np.isnan(status).any(axis=0)
        out_nodes = np.full(n, -1, dtype=np.intp)
        out_conf = np.full((n, k), np.nan)
        out_prob = np.full((n, k), np.nan)
        for j, kid in enumerate(kids):
            sel = np.flatnonzero(any_true & (first_true == j))
            if len(sel):
                out_nodes[sel], out_conf[sel], out_prob[sel] = self._descend(kid, rows[sel], x, frame)
        if unknown.any():
            sel = np.flatnonzero(unknown)
            out_conf[sel], out_prob[sel] = self._blend(node, kids, status[:, sel], rows[sel], x, frame)
        dead = ~any_true & ~unknown
        if dead.any() and flat.return_last and flat.has_score[node]:
            sel = np.flatnonzero(dead)
            out_nodes[sel] = node
            out_conf[sel], out_prob[sel] = self._ends(np.full(len(sel), node, dtype=np.intp))
        return out_nodes, out_conf, out_prob

    def _blend(self, node: int, kids: list[int], status: Array, rows: IntArray, x: Array,
               frame: Frame) -> tuple[Array, Array]:
        """Records at ``node`` with no true child but some unknown ones: weightedConfidence adds
        the unknown children's results weighted by their share of the node's recordCount;
        aggregateNodes sums the counts of every leaf the records may reach."""
        if not self.weighted:
            total = self._leaves(node, rows, x, frame)
            with np.errstate(invalid="ignore", divide="ignore"):
                return total, total / total.sum(axis=1, keepdims=True)
        conf = np.zeros((len(rows), len(self.classes.categories)))
        prob = np.zeros_like(conf)
        for j, kid in enumerate(kids):
            part = np.flatnonzero(np.isnan(status[j]))
            if not len(part):
                continue
            _, c, p = self._descend(kid, rows[part], x, frame)
            share = self.record_counts[kid] / self.record_counts[node]
            conf[part] += share * np.nan_to_num(c)
            prob[part] += share * np.nan_to_num(p)
        return conf, prob

    def _leaves(self, node: int, rows: IntArray, x: Array, frame: Frame) -> Array:
        """aggregateNodes: the summed leaf record counts reachable from an entered node."""
        flat = self.flat
        if flat.is_leaf[node]:
            return np.repeat(self.classes.counts[node][None, :], len(rows), axis=0)
        out = np.zeros((len(rows), len(self.classes.categories)))
        blocked = np.zeros(len(rows), dtype=bool)  # a true child was met: later ones are not candidates
        for kid in _kids(flat, node):
            truth, _ = flat.status(np.full(len(rows), kid, dtype=np.intp), rows, x, frame)
            cand = ~blocked & (truth != 0.0)
            if cand.any():
                out[cand] += self._leaves(kid, rows[cand], x, frame)
            blocked |= truth == 1.0
        return out

    def _blended_values(self, nodes: IntArray, conf: Array, prob: Array) -> tuple[Array, Array, BoolArray]:
        """A blended record predicts the category of highest confidence (count), the first on ties,
        with that confidence (its share of the counts); nothing when every one is zero (then its
        probabilities are cleared too).  Also returns the blended records."""
        values = self.classes.values[nodes]
        blended = (nodes < 0) & ~np.isnan(conf).all(axis=1)
        confidence = np.full(len(nodes), np.nan)
        if blended.any():
            c = np.nan_to_num(conf[blended])
            best = np.argmax(c, axis=1)
            top = c[np.arange(len(best)), best]
            cats = np.empty(len(self.classes.categories), dtype=object if self.dtype.is_string else np.float64)
            cats[:] = list(self.classes.categories)
            values[blended] = np.where(top > 0.0, cats[best], None if self.dtype.is_string else np.nan)
            confidence[blended] = top if self.weighted else top / c.sum(axis=1)
            prob[np.flatnonzero(blended)[top <= 0.0]] = np.nan
        return values, confidence, blended


def _kids(flat: FlatTree, node: int) -> list[int]:
    start = int(flat.child_start[node])
    result: list[int] = flat.children[start:start + int(flat.child_count[node])].tolist()
    return result


def _pick(matrix: Array, values: Array, categories: tuple[Any, ...], dtype: DataType) -> Array:
    out = np.full(len(values), np.nan)
    for j, cat in enumerate(categories):
        if dtype.is_string:
            m = np.fromiter((v is not None and v == cat for v in values), dtype=bool, count=len(values))
        else:
            m = values == cat
        out[m] = matrix[m, j]
    return out
