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
with the same results as the element-by-element path, which takes every other tree.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from pmserve.errors import EvaluationError, excerpt
from pmserve.pmml.compiler import CompiledModel, ModelEnv, Predictor, register
from pmserve.pmml.document.element import Element
from pmserve.pmml.document.node_table import K_SCORE, NodeTable
from pmserve.pmml.fields.frame import Frame
from pmserve.pmml.fields.types import Array, DataType, parse_number, parse_scalar
from pmserve.pmml.kernels import trees as kt
from pmserve.pmml.results.prediction import Prediction
from pmserve.pmml.trees.bulk import TableNodes, bulk_flat, node_table, table_nodes
from pmserve.pmml.trees.flat import FlatTree, IntArray
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
    penalty = _penalty(el, env)
    flat = build_flat(el, nodes, env)
    fn = env.function_name
    if fn not in ("classification", "regression"):
        problems.invalid(f"functionName of a TreeModel must be classification or regression, got {fn!r}", el)
        return None
    strategy = el.get("missingValueStrategy", "none")
    target = env.target
    if fn == "regression":
        if strategy in ("weightedConfidence", "aggregateNodes"):
            problems.unsupported(f"missingValueStrategy {strategy} is defined for classification trees only", el)
            return None
        for nd in nodes:
            if nd.score is not None and not _is_number(nd.score):
                problems.invalid(f"score of a regression tree must be a number, got {nd.score!r}", nd.el)
        if flat is None or penalty is None or problems.items:
            return None
        return CompiledModel(_regression(flat, target.dtype if target is not None and target.dtype.is_number
                                         else DataType.DOUBLE))
    if target is None:
        problems.invalid("a classification TreeModel needs a target field in its MiningSchema", el)
        return None
    classes = _classes(nodes, target.dtype, target.valid, env)
    if strategy == "weightedConfidence":
        for nd in nodes:
            if nd.parent >= 0 and nd.el.get("recordCount") is None:
                problems.invalid("missingValueStrategy weightedConfidence needs the recordCount of every Node",
                                 nd.el)
                break
    if flat is None or classes is None or penalty is None:
        return None
    if not flat.single_node:
        counts = np.array([_float(nd.el.get("recordCount")) for nd in nodes])
        return CompiledModel(_blended(flat, classes, target.dtype, counts), classes.categories)
    return CompiledModel(_classification(flat, classes, target.dtype, penalty), classes.categories)


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
    if el.get("missingValueStrategy", "none") not in ("none", "nullPrediction", "lastPrediction"):
        return None
    try:
        penalty = float(el.get("missingValuePenalty", "1.0"))
    except ValueError:
        return None
    if not 0.0 <= penalty <= 1.0:
        return None
    nodes = table_nodes(table)
    target = env.target
    if env.function_name == "regression":
        flat = bulk_flat(el, nodes, env)
        if flat is None or np.isnan(flat.scores[flat.has_score]).any():
            return None
        return CompiledModel(_regression(flat, target.dtype if target is not None and target.dtype.is_number
                                         else DataType.DOUBLE))
    if env.function_name != "classification" or target is None:
        return None
    classes = _bulk_classes(nodes, target.dtype, target.valid)
    if classes is None:
        return None
    flat = bulk_flat(el, nodes, env)
    if flat is None:
        return None
    return CompiledModel(_classification(flat, classes, target.dtype, penalty), classes.categories)


def _bulk_classes(nodes: TableNodes, dtype: DataType, declared: tuple[Any, ...]) -> _Classes | None:
    """What :func:`_classes` computes, over whole arrays; None where it would report a problem."""
    table = nodes.table
    m = nodes.n
    has_score = nodes.present(nodes.rows, "score")
    sd_rows = np.flatnonzero(table.kind == K_SCORE)
    sd_node = nodes.rank[table.owner[sd_rows]]
    by_node = np.argsort(sd_node, kind="stable")  # a Node's ScoreDistributions in document order
    sd_rows, sd_node = sd_rows[by_node], sd_node[by_node]
    if not nodes.present(sd_rows, "value").all():
        return None
    # Categories in the order _classes meets them: each Node's score, then its distributions.
    score_at = np.flatnonzero(has_score)
    texts = np.concatenate([nodes.texts(nodes.rows[score_at], "score"), nodes.texts(sd_rows, "value")])
    keys = np.concatenate([score_at * 2, sd_node * 2 + 1])
    met = np.argsort(keys, kind="stable")
    distinct, first, inverse = np.unique(texts[met], return_index=True, return_inverse=True)
    order: dict[Any, int] = {}
    for c in declared:  # a category declared twice keeps its first place
        order.setdefault(c, len(order))
    code_of = np.empty(len(distinct), dtype=np.intp)
    for u in np.argsort(first, kind="stable").tolist():
        try:
            value = parse_scalar(dtype, bytes(distinct[u]).decode("utf-8"))
        except (ValueError, UnicodeDecodeError):
            return None
        code_of[u] = order.setdefault(value, len(order))
    codes = np.empty(len(texts), dtype=np.intp)
    codes[met] = code_of[inverse]
    score_code, sd_code = codes[:len(score_at)], codes[len(score_at):]
    categories = tuple(order)
    k = len(categories)
    nums = {}
    for attr in ("recordCount", "probability", "confidence"):
        here = nodes.present(sd_rows, attr)
        values = np.full(len(sd_rows), np.nan)
        if here.any():
            try:
                values[here] = nodes.texts(sd_rows[here], attr).astype(np.float64)
            except (ValueError, UnicodeDecodeError):
                return None
            if not (np.isfinite(values[here]) & (values[here] >= 0.0)).all():
                return None  # the general path reports it
        nums[attr] = (here, values)
    count_here, count = nums["recordCount"]
    prob_here, prob = nums["probability"]
    conf_here, conf = nums["confidence"]
    if len(sd_rows) and (np.bincount(sd_node * k + sd_code, minlength=m * k) > 1).any():
        return None  # a category twice in one Node: _classes keeps the last, counts both
    first_sd = np.ones(len(sd_rows), dtype=bool)
    first_sd[1:] = sd_node[1:] != sd_node[:-1]
    use_probability = np.zeros(m, dtype=bool)
    use_probability[sd_node[first_sd & prob_here]] = True
    by_prob = use_probability[sd_node]
    if (by_prob & ~prob_here).any() or (by_prob & prob_here & ~((prob >= 0.0) & (prob <= 1.0))).any():
        return None
    if (~by_prob & ~count_here).any():
        return None
    x = np.where(by_prob, prob, count)
    values = np.zeros((m, k))
    values[sd_node, sd_code] = x
    total = np.bincount(sd_node, weights=x, minlength=m)
    listed = np.bincount(sd_node, minlength=m) > 0
    probs = np.full((m + 1, k), np.nan)
    undefined = np.zeros(m + 1, dtype=bool)
    undefined[:m] = listed & (total == 0.0)
    scale = listed & (total != 0.0) & (total != 1.0)
    probs[:m][listed] = values[listed]
    probs[:m][scale] = values[scale] / total[scale][:, None]
    plain = np.flatnonzero(~listed & has_score)
    if len(plain):
        node_code = np.full(m, -1, dtype=np.intp)
        node_code[score_at] = score_code
        probs[plain] = 0.0
        probs[plain, node_code[plain]] = 1.0
    # Record counts serve aggregateNodes only, which this path does not compile.
    counts = np.broadcast_to(0.0, (m + 1, k))
    confs = None
    if conf_here.any():
        confs = np.full((m + 1, k), np.nan)
        confs[np.unique(sd_node[conf_here])] = 0.0
        confs[sd_node[conf_here], sd_code[conf_here]] = conf[conf_here]
    cats: Array = np.empty(k + 1, dtype=object)
    cats[:k] = list(categories)
    cats[k] = None
    node_cat = np.full(m + 1, k, dtype=np.intp)
    node_cat[score_at] = score_code
    if dtype.is_string:
        vals: Array = cats[node_cat]
    else:
        vals = np.array([np.nan if c is None else c for c in cats.tolist()], dtype=np.float64)[node_cat]
    return _Classes(categories, vals, probs, confs, counts, undefined)


def _penalty(el: Element, env: ModelEnv) -> float | None:
    text = el.get("missingValuePenalty", "1.0")
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0.0 <= value <= 1.0:
        env.problems.invalid(f"missingValuePenalty must be a number between 0 and 1, got {text!r}", el)
        return None
    return value


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _float(text: str | None) -> float:
    if text is None:
        return np.nan
    try:
        return float(text)
    except ValueError:
        return np.nan


def _classes(nodes: list[ParsedNode], dtype: DataType, declared: tuple[Any, ...], env: ModelEnv) -> _Classes | None:
    problems = env.problems
    ok = True
    order: dict[Any, int] = {}
    for c in declared:  # a category declared twice keeps its first place
        order.setdefault(c, len(order))

    def typed(text: str, el: Element, what: str) -> Any:
        nonlocal ok
        try:
            value = parse_scalar(dtype, text)
        except ValueError as exc:
            problems.invalid(f"{what}: {exc}", el)
            ok = False
            return None
        order.setdefault(value, len(order))
        return value

    scores: list[Any] = []
    rows: list[list[tuple[Any, float | None, float | None, float | None]]] = []
    for nd in nodes:
        scores.append(None if nd.score is None else typed(nd.score, nd.el, "score"))
        dist: list[tuple[Any, float | None, float | None, float | None]] = []
        for sd in nd.distributions:
            text = sd.get("value")
            if text is None:
                problems.invalid("attribute value is required", sd)
                ok = False
                continue
            value = typed(text, sd, "value")
            nums: list[float | None] = []
            for attr in ("recordCount", "probability", "confidence"):
                raw = sd.get(attr)
                if raw is None:
                    nums.append(None)
                    continue
                try:
                    x = parse_number(raw)
                    if not (math.isfinite(x) and x >= 0.0):
                        raise ValueError(f"expected a finite number >= 0, got {excerpt(raw)}")
                    nums.append(x)
                except ValueError as exc:
                    problems.invalid(f"attribute {attr}: {exc}", sd)
                    ok = False
                    nums.append(None)
            dist.append((value, nums[0], nums[1], nums[2]))
        rows.append(dist)
    if not ok:
        return None
    categories = tuple(order)
    m, k = len(nodes), len(categories)
    probs = np.full((m + 1, k), np.nan)
    confs = np.full((m + 1, k), np.nan)
    counts = np.zeros((m + 1, k))
    undefined = np.zeros(m + 1, dtype=bool)
    any_confidence = False
    for i, (nd, dist) in enumerate(zip(nodes, rows, strict=True)):
        if not dist:
            if scores[i] is not None:
                probs[i] = 0.0
                probs[i, order[scores[i]]] = 1.0
            continue
        use_probability = dist[0][2] is not None
        total = 0.0
        values = np.zeros(k)
        for (value, count, probability, confidence), sd in zip(dist, nd.distributions, strict=False):
            if use_probability:
                if probability is None:
                    problems.invalid("attribute probability is required when the first ScoreDistribution "
                                     "of the Node has one", sd)
                    ok = False
                    continue
                if not 0.0 <= probability <= 1.0:
                    problems.invalid(f"attribute probability must be between 0 and 1, got {probability!r}", sd)
                    ok = False
                    continue
                x = probability
            else:
                if count is None:
                    problems.invalid("attribute recordCount is required when the Node's ScoreDistributions "
                                     "give no probability", sd)
                    ok = False
                    continue
                x = count
            total += x
            values[order[value]] = x
            if count is not None:
                counts[i, order[value]] = count
            if confidence is not None:
                any_confidence = True
                if np.isnan(confs[i]).all():
                    confs[i] = 0.0
                confs[i, order[value]] = confidence
        if total == 0.0:
            undefined[i] = True
        elif total != 1.0:
            values = values / total
        probs[i] = values
    if not ok:
        return None
    if dtype.is_string:
        vals: Array = np.empty(m + 1, dtype=object)
        vals[:m] = scores
        vals[m] = None
    else:
        vals = np.array([np.nan if s is None else s for s in scores] + [np.nan])
    return _Classes(categories, vals, probs, confs if any_confidence else None, counts, undefined)


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


def _regression(flat: FlatTree, dtype: DataType) -> Predictor:
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


def _blended(flat: FlatTree, classes: _Classes, dtype: DataType, record_counts: Array) -> Predictor:
    """weightedConfidence / aggregateNodes: rows with unknown splits blend several nodes."""
    ids = _ids(flat)
    walker = join([flat])
    weighted = flat.missing_strategy == "weightedConfidence"
    k = len(classes.categories)
    conf_table = classes.confidences if classes.confidences is not None else classes.probabilities

    def leaves(node: int, rows: IntArray, x: Array, frame: Frame) -> Array:
        """aggregateNodes: the summed leaf record counts reachable from an entered node."""
        if flat.is_leaf[node]:
            return np.repeat(classes.counts[node][None, :], len(rows), axis=0)
        out = np.zeros((len(rows), k))
        blocked = np.zeros(len(rows), dtype=bool)  # a true child was met: later ones are not candidates
        for kid in _kids(flat, node):
            truth, _ = flat.status(np.full(len(rows), kid, dtype=np.intp), rows, x, frame)
            cand = ~blocked & (truth != 0.0)
            if cand.any():
                out[cand] += leaves(kid, rows[cand], x, frame)
            blocked |= truth == 1.0
        return out

    def descend(node: int, rows: IntArray, x: Array, frame: Frame) -> tuple[IntArray, Array, Array]:
        """Final node (-1 blended or none), confidence (or count) and probability rows."""
        n = len(rows)
        if flat.is_leaf[node]:
            return (np.full(n, node, dtype=np.intp), np.repeat(conf_table[node][None, :], n, axis=0),
                    np.repeat(classes.probabilities[node][None, :], n, axis=0))
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
                out_nodes[sel], out_conf[sel], out_prob[sel] = descend(kid, rows[sel], x, frame)
        if unknown.any():
            sel = np.flatnonzero(unknown)
            if weighted:
                conf = np.zeros((len(sel), k))
                prob = np.zeros((len(sel), k))
                for j, kid in enumerate(kids):
                    part = np.flatnonzero(np.isnan(status[j, sel]))
                    if not len(part):
                        continue
                    _, c, p = descend(kid, rows[sel[part]], x, frame)
                    share = record_counts[kid] / record_counts[node]
                    conf[part] += share * np.nan_to_num(c)
                    prob[part] += share * np.nan_to_num(p)
                out_conf[sel], out_prob[sel] = conf, prob
            else:
                total = leaves(node, rows[sel], x, frame)
                out_conf[sel] = total
                with np.errstate(invalid="ignore", divide="ignore"):
                    out_prob[sel] = total / total.sum(axis=1, keepdims=True)
        dead = ~any_true & ~unknown
        if dead.any() and flat.return_last and flat.has_score[node]:
            sel = np.flatnonzero(dead)
            out_nodes[sel] = node
            out_conf[sel] = conf_table[node] if weighted else classes.counts[node]
            out_prob[sel] = classes.probabilities[node]
        return out_nodes, out_conf, out_prob

    def predict_tree_blended(frame: Frame) -> Prediction:
        n = frame.n
        nodes = np.full(n, -1, dtype=np.intp)
        conf = np.full((n, k), np.nan)
        prob = np.full((n, k), np.nan)
        if n:
            # The walker decides every record that meets no unknown predicate; the others blend.
            x = walker.inputs(frame)
            nodes, _, outcome = walker.walk(frame, x)
            one = np.flatnonzero(nodes >= 0)
            at = nodes[one]
            conf[one] = np.where(flat.is_leaf[at, None] | weighted, conf_table[at], classes.counts[at])
            prob[one] = classes.probabilities[at]
            go = np.flatnonzero(outcome == kt.BLEND)
            if len(go):
                nodes[go], conf[go], prob[go] = descend(0, go, x, frame)
        values = classes.values[nodes]
        single = nodes >= 0
        # A blended record predicts the category of highest confidence (count), the first on ties;
        # nothing when every one is zero.
        blended = ~single & ~np.isnan(conf).all(axis=1)
        confidence = np.full(n, np.nan)
        if blended.any():
            c = np.nan_to_num(conf[blended])
            best = np.argmax(c, axis=1)
            top = c[np.arange(len(best)), best]
            cats = np.empty(k, dtype=object if dtype.is_string else np.float64)
            cats[:] = list(classes.categories)
            picked = np.where(top > 0.0, cats[best], None if dtype.is_string else np.nan)
            values = values.copy()
            values[blended] = picked
            confidence[blended] = top if weighted else top / c.sum(axis=1)
            prob[np.flatnonzero(blended)[top <= 0.0]] = np.nan
        confs = None
        if classes.confidences is not None or not weighted:
            confs = np.full((n, k), np.nan)
            if classes.confidences is not None:
                confs[single] = classes.confidences[nodes[single]]
            else:
                confs[single] = classes.probabilities[nodes[single]]
        pred = Prediction(n, dtype, values, classes.categories, prob, confidences=None, entity_id=ids[nodes])
        # The confidence of the prediction: the node's confidence of its score, or the blend's.
        if confs is not None:
            own = _pick(confs, values, classes.categories, dtype)
            own[blended] = confidence[blended]
            pred.confidence = own
        pred.confidences = None
        return pred

    return predict_tree_blended


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
