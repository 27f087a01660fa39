"""AssociationModel: association rules over the items of a record (PMML 4.4 "Association Rules").

A record's input itemset is found in one of two layouts, as JPMML-Evaluator reads them:

* **transactional** - the MiningSchema has one ``group`` field and one active field; the active
  field holds a *collection* of items per record (one basket).  An Item's ``value`` (or its
  ``category``) is matched against the collection's members.  ``Model.score`` passes such a
  field's cells through as collections: Python lists, tuples or sets of item strings, or a JSON
  array string (see :func:`pmserve.pmml.fields.types.coerce_collection`).  Rows of (transaction, item)
  pairs must be grouped into one collection per transaction by the caller.  A missing basket
  makes the record fail.
* **categorical** - no group field; an Item names a field whose true/false value says whether the
  item is present (``value="Water"``), or a field and a category (``value="Day=Weekday"``, or
  the ``field``/``category`` attributes).  Missing values mean "absent".

An Itemset is present when all its items are; a rule is selected by the Output field's
``algorithm``: ``recommendation`` (antecedent present), ``exclusiveRecommendation`` (antecedent
present, consequent not) or ``ruleAssociation`` (both present).  Selected rules are ranked by
``rankBasis`` in ``rankOrder`` (stable: equal values keep document order) and the ``rank``-th one
gives the ``ruleFeature`` (or, with ``isMultiValued="1"``, the first ``rank`` - all for 0 - as a
list).  Rules without an id are numbered from 1 in document order.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from pmserve.errors import EvaluationError, excerpt
from pmserve.pmml.compiler import CompiledModel, ModelEnv, register
from pmserve.pmml.document import attributes as attribute
from pmserve.pmml.document.element import Element
from pmserve.pmml.expressions.casting import equal_to
from pmserve.pmml.fields.frame import Frame
from pmserve.pmml.fields.types import Array, DataType, empty, parse_scalar
from pmserve.pmml.results.output import Feature
from pmserve.pmml.results.prediction import Prediction

ALGORITHMS = ("recommendation", "exclusiveRecommendation", "ruleAssociation")
RANK_BASES = ("confidence", "support", "lift", "leverage", "affinity")
RULE_FEATURES = ("antecedent", "consequent", "rule", "ruleId", "confidence", "support", "lift", "leverage",
                 "affinity")
#: Output features that read a rule of the model (PMML 4.2+ spells them as features of their own).
_RULE_OUTPUTS = frozenset({"ruleValue", "antecedent", "consequent", "rule", "ruleId", "confidence", "support",
                           "lift", "leverage", "affinity", "entityId"})
_TRUE = frozenset({"true", "t", "1", "yes", "y"})
_FALSE = frozenset({"false", "f", "0", "no", "n"})


@dataclass(frozen=True)
class _Rules:
    """The rules of a model, with everything an Output field may read of them."""

    ids: tuple[str, ...]
    antecedents: tuple[tuple[str, ...], ...]  # item values, in ItemRef order
    consequents: tuple[tuple[str, ...], ...]
    measures: dict[str, Array]  # rank basis -> value per rule (NaN: not given)
    orders: dict[tuple[str, str], Array]  # (rank basis, rank order) -> rule indices, best first

    def feature(self, name: str, rule: int) -> Any:
        if name == "antecedent":
            return list(self.antecedents[rule])
        if name == "consequent":
            return list(self.consequents[rule])
        if name == "rule":
            return "{" + ",".join(self.antecedents[rule]) + "}->{" + ",".join(self.consequents[rule]) + "}"
        if name == "ruleId":
            return self.ids[rule]
        value = float(self.measures[name][rule])
        return None if value != value else value


@dataclass(frozen=True)
class _Item:
    field: str
    category: Any  # None: the field's true/false value says whether the item is present


def output_feature(of: Element, feature: str) -> Feature | None:
    """Rule outputs of an AssociationModel (attributes were checked by the compiler)."""
    if feature not in _RULE_OUTPUTS:
        return None
    spec = _spec(of, feature)

    def compute(pred: Prediction, frame: Frame, values: dict[str, Array]) -> Array:
        rules: _Rules | None = pred.extras.get("association_rules")
        if rules is None:
            return np.full(pred.n, None, dtype=object)
        order = rules.orders[(spec.basis, spec.order)]
        chosen = selected(pred, spec.algorithm)[:, order]
        out = np.empty(pred.n, dtype=object)
        if spec.multi:
            for r in range(pred.n):
                picked = order[chosen[r]]
                if spec.rank:
                    picked = picked[: spec.rank]
                out[r] = [rules.feature(spec.feature, int(i)) for i in picked.tolist()]
            return out
        position = np.cumsum(chosen, axis=1)
        hit = chosen & (position == spec.rank)
        found = hit.any(axis=1)
        which = order[np.argmax(hit, axis=1)] if len(order) else np.zeros(pred.n, dtype=np.intp)
        for r in range(pred.n):
            out[r] = rules.feature(spec.feature, int(which[r])) if found[r] else None
        if spec.feature in RANK_BASES:
            return np.array([np.nan if v is None else v for v in out.tolist()], dtype=np.float64)
        return out

    return compute


@register("AssociationModel", output_features=output_feature)
def compile_association(el: Element, env: ModelEnv) -> CompiledModel | None:
    if not env.function_is("associationRules"):
        return None
    if el.find("Targets") is not None:
        env.problems.invalid("an AssociationModel has no target, so it takes no Targets element", el.find("Targets"))
    groups = [m for m in env.mining_fields if m.usage == "group"]
    active = env.active_fields
    if len(groups) > 1:
        env.problems.unsupported(f"expected at most one group field, got {len(groups)}", el)
        return None
    transactional = len(groups) == 1
    if transactional and len(active) != 1:
        env.problems.invalid(f"a transactional AssociationModel (with a group field) needs exactly one active "
                             f"field, the item field; got {len(active)}", el)
        return None
    items = _items(el, env, transactional, [m.name for m in active])
    itemsets = _itemsets(el, env, items)
    rules = _rules(el, env, items, itemsets)
    if items is None or itemsets is None or rules is None:
        return None
    _check_outputs(el.find("Output"), env, rules[0])
    if env.problems:
        return None
    rule_set, antecedent_sets, consequent_sets = rules
    item_ids = list(items)
    # Itemset membership as a matrix, so that presence of every itemset is one matrix product.
    members = np.zeros((len(item_ids), len(itemsets)), dtype=np.int64)
    set_ids = list(itemsets)
    for k, sid in enumerate(set_ids):
        for iid in itemsets[sid]:
            members[item_ids.index(iid), k] = 1
    sizes = members.sum(axis=0)
    ant = np.array([set_ids.index(a) for a in antecedent_sets], dtype=np.intp)
    cons = np.array([set_ids.index(c) for c in consequent_sets], dtype=np.intp)
    item_list = tuple(items.values())
    present: _TransactionalItems | _CategoricalItems = (
        _TransactionalItems(active[0].name, item_list) if transactional else _CategoricalItems(item_list))
    # The item field holds one basket per record: Model.score must keep its cells whole.
    baskets = frozenset({active[0].name}) if transactional else frozenset()
    return CompiledModel(_Scorer(present, members, sizes, ant, cons, rule_set), collection_fields=baskets)


def _items(el: Element, env: ModelEnv, transactional: bool, active: list[str]) -> dict[str, _Item] | None:
    out: dict[str, _Item] = {}
    ok = True
    for it in el.findall("Item"):
        iid = attribute.unique_id(it, out, env.problems, "Item")
        item = None if iid is None else _item(it, iid, env, transactional, active)
        if iid is None or item is None:
            ok = False
            continue
        out[iid] = item
    return out if ok else None


def _item(it: Element, iid: str, env: ModelEnv, transactional: bool, active: list[str]) -> _Item | None:
    """The field and category an Item stands for (``field=category`` in its value when no field is named)."""
    value = attribute.text(it, "value", env.problems, required=True)
    if value is None:
        return None
    name, category = it.get("field"), it.get("category")
    if name is not None:
        if category is None:
            env.problems.invalid(f"Item {iid!r} names field {name!r} but no category", it)
            return None
    elif transactional:
        name, category = active[0], value
    elif env.compiler.field_info(value) is not None:
        name = value
    elif "=" in value and env.compiler.field_info(value.split("=", 1)[0]) is not None:
        name, category = value.split("=", 1)
    else:
        env.problems.invalid(f"Item value {value!r} names no field and is no 'field=category' pair of a "
                             f"field in scope", it)
        return None
    info = env.compiler.field_info(name)
    if info is None:
        env.problems.invalid(f"Item {iid!r}: field {name!r} is not defined in this scope", it)
        return None
    if transactional and name != active[0]:
        env.problems.unsupported(f"Item {iid!r} reads field {name!r}; a transactional model's items must "
                                 f"be categories of its item field {active[0]!r}", it)
        return None
    if category is None or transactional:
        return _Item(name, category)
    try:
        return _Item(name, parse_scalar(info.dtype, category))
    except ValueError as exc:
        env.problems.invalid(f"Item {iid!r}: category of field {name!r}: {exc}", it)
        return None


def _itemsets(el: Element, env: ModelEnv, items: dict[str, _Item] | None) -> dict[str, tuple[str, ...]] | None:
    out: dict[str, tuple[str, ...]] = {}
    ok = True
    for s in el.findall("Itemset"):
        sid = attribute.unique_id(s, out, env.problems, "Itemset")
        if sid is None:
            ok = False
            continue
        refs = []
        for r in s.findall("ItemRef"):
            ref = r.get("itemRef")
            if ref is None or (items is not None and ref not in items):
                env.problems.invalid(f"ItemRef itemRef={ref!r} names no Item", r)
                ok = False
                continue
            refs.append(ref)
        out[sid] = tuple(refs)
    return out if ok else None


def _rules(
    el: Element, env: ModelEnv, items: dict[str, _Item] | None, itemsets: dict[str, tuple[str, ...]] | None,
) -> tuple[_Rules, list[str], list[str]] | None:
    ids: list[str] = []
    ants: list[str] = []
    conss: list[str] = []
    measures: dict[str, list[float]] = {b: [] for b in RANK_BASES}
    ok = True
    values = {it.get("id"): it.get("value") or "" for it in el.findall("Item")}
    for n, r in enumerate(el.findall("AssociationRule"), start=1):
        a, c = r.get("antecedent"), r.get("consequent")
        for attr, ref in (("antecedent", a), ("consequent", c)):
            if ref is None or (itemsets is not None and ref not in itemsets):
                env.problems.invalid(f"attribute {attr}={ref!r} names no Itemset", r)
                ok = False
        got = {b: attribute.number(r, b, env.problems, required=b in ("support", "confidence")) for b in RANK_BASES}
        if not ok or a is None or c is None:
            continue
        ids.append(r.get("id") or str(n))
        ants.append(a)
        conss.append(c)
        for b in RANK_BASES:
            v = got[b]
            measures[b].append(np.nan if v is None else v)
    if not ok or items is None or itemsets is None:
        return None
    arrays = {b: np.array(v, dtype=np.float64) for b, v in measures.items()}
    orders: dict[tuple[str, str], Array] = {}
    for b, col in arrays.items():
        # A stable sort: rules of equal value keep their document order in either direction.
        orders[(b, "descending")] = np.argsort(-col, kind="stable").astype(np.intp)
        orders[(b, "ascending")] = np.argsort(col, kind="stable").astype(np.intp)
    rules = _Rules(
        tuple(ids),
        tuple(tuple(values[i] for i in itemsets[a]) for a in ants),
        tuple(tuple(values[i] for i in itemsets[c]) for c in conss),
        arrays, orders,
    )
    return rules, ants, conss


@dataclass(frozen=True)
class _OutputSpec:
    feature: str  # the rule feature read
    algorithm: str
    rank: int
    basis: str
    order: str
    multi: bool


def _spec(of: Element, feature: str) -> _OutputSpec:
    rule_feature = of.get("ruleFeature", "consequent") if feature == "ruleValue" else \
        "ruleId" if feature == "entityId" else feature
    rank_text = of.get("rank", "1")
    return _OutputSpec(rule_feature, of.get("algorithm", "exclusiveRecommendation"),
                       int(rank_text) if rank_text.lstrip("-").isdigit() else 1,
                       of.get("rankBasis", "confidence"), of.get("rankOrder", "descending"),
                       of.get("isMultiValued", "0") == "1")


def _check_outputs(output: Element | None, env: ModelEnv, rules: _Rules) -> None:
    """Output attributes are checked here, where problems can be reported with their line."""
    if output is None:
        return
    for of in output.findall("OutputField"):
        feature = of.get("feature", "predictedValue")
        if feature not in _RULE_OUTPUTS:
            continue
        checks = (("algorithm", ALGORITHMS, "exclusiveRecommendation"), ("rankBasis", RANK_BASES, "confidence"),
                  ("rankOrder", ("descending", "ascending"), "descending"),
                  ("isMultiValued", ("0", "1"), "0"))
        for attr, allowed, default in checks:
            attribute.choice(of, attr, allowed, env.problems, default)
        if feature == "ruleValue":
            attribute.choice(of, "ruleFeature", RULE_FEATURES, env.problems, "consequent")
        multi = of.get("isMultiValued", "0") == "1"
        attribute.integer(of, "rank", env.problems, 1, minimum=0 if multi else 1)
        basis = of.get("rankBasis", "confidence")
        if basis in rules.measures and np.isnan(rules.measures[basis]).any():
            missing = int(np.flatnonzero(np.isnan(rules.measures[basis]))[0])
            env.problems.invalid(f"rankBasis {basis}: AssociationRule {rules.ids[missing]!r} has no {basis} "
                                 f"attribute to rank by", of)


class _TransactionalItems:
    """Which items are in each record's basket (a collection column)."""

    def __init__(self, field: str, items: tuple[_Item, ...]) -> None:
        self.field = field
        self.index: dict[str, list[int]] = {}
        for j, it in enumerate(items):
            self.index.setdefault(str(it.category), []).append(j)
        self.n_items = len(items)

    def __call__(self, frame: Frame) -> tuple[Array, Array]:
        baskets = frame.get(self.field)
        present = np.zeros((frame.n, self.n_items), dtype=bool)
        missing = np.zeros(frame.n, dtype=bool)
        index = self.index
        for r, basket in enumerate(baskets.tolist()):
            if basket is None:
                missing[r] = True
                continue
            for member in basket:
                cols = index.get(member)
                if cols is not None:
                    present[r, cols] = True
        if missing.any() and self.n_items:
            field = self.field
            frame.fail(missing, lambda r: EvaluationError(
                f"field {field!r} has no basket (collection of items) for this record",
                field=field, row=r))
        return present, missing


class _CategoricalItems:
    """Which items are present, from one true/false or categorical field per item."""

    def __init__(self, items: tuple[_Item, ...]) -> None:
        self.items = items

    def __call__(self, frame: Frame) -> tuple[Array, Array]:
        present = np.zeros((frame.n, len(self.items)), dtype=bool)
        bad = np.zeros(frame.n, dtype=bool)
        bad_value: dict[int, tuple[str, Any]] = {}
        for j, it in enumerate(self.items):
            x = frame.get(it.field)
            if it.category is not None:
                present[:, j] = equal_to(x, it.category)
                continue
            if x.dtype != object:
                # A boolean or number: 1 is present, 0 absent, missing absent, anything else wrong.
                with np.errstate(invalid="ignore"):
                    present[:, j] = x == 1.0
                    wrong = ~np.isnan(x) & (x != 1.0) & (x != 0.0)
            else:
                low = [None if v is None else str(v).strip().lower() for v in x.tolist()]
                present[:, j] = np.fromiter((v in _TRUE for v in low), bool, len(low))
                wrong = np.fromiter((v is not None and v not in _TRUE and v not in _FALSE for v in low), bool,
                                    len(low))
            for r in np.flatnonzero(wrong & ~bad).tolist():
                bad_value[r] = (it.field, x[r])
            bad |= wrong
        if bad.any():
            frame.fail(bad, lambda r: _not_boolean(r, frame, bad_value))
        return present, bad


def _not_boolean(row: int, frame: Frame, bad: dict[int, tuple[str, Any]]) -> EvaluationError:
    local = int(np.flatnonzero(frame.rows == row)[0])
    field, value = bad[local]
    return EvaluationError(f"field {field!r} says whether an item is present and expects true or false, got "
                           f"{excerpt(value)}", field=field, value=value, row=row)


@dataclass(frozen=True)
class _Scorer:
    present: _TransactionalItems | _CategoricalItems
    members: Array  # items x itemsets, 0/1
    sizes: Array  # items per itemset
    antecedent: Array  # itemset index per rule
    consequent: Array
    rules: _Rules

    def __call__(self, frame: Frame) -> Prediction:
        n = frame.n
        items, failed = self.present(frame)
        if self.members.shape[1]:
            sets = (items.astype(np.int64) @ self.members) == self.sizes
        else:
            sets = np.zeros((n, 0), dtype=bool)
        ant = sets[:, self.antecedent]
        cons = sets[:, self.consequent]
        ant[failed] = False
        cons[failed] = False
        return Prediction(n, DataType.STRING, empty(DataType.STRING, n), extras={
            "association_antecedent": ant, "association_consequent": cons, "association_rules": self.rules,
        })


def selected(pred: Prediction, algorithm: str) -> Array:
    """Rows x rules: the rules the algorithm selects for each record."""
    ant: Array = pred.extras["association_antecedent"]
    cons: Array = pred.extras["association_consequent"]
    if algorithm == "recommendation":
        return ant
    if algorithm == "exclusiveRecommendation":
        return ant & ~cons
    return ant & cons
