"""Tree ensembles walked as one forest (``trees.ensemble``): the same results as the segment-by-segment path."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pytest
from tests.conformance._tree_reference import reference_walk

from pmserve.errors import EvaluationError
from pmserve.pmml import Model, load
from pmserve.pmml.fields.frame import Frame
from pmserve.pmml.kernels.trees import BLOCK
from pmserve.pmml.trees.ensemble import FusedTrees

FIELDS = ("x1", "x2", "x3", "x4")  # x4 is a float field
GRID = (-1.0, -0.5, 0.0, 0.5, 1.0)
OPS = ("lessThan", "lessOrEqual", "greaterThan", "greaterOrEqual")
COMPLEMENT = {"lessThan": "greaterOrEqual", "lessOrEqual": "greaterThan", "greaterThan": "lessOrEqual",
              "greaterOrEqual": "lessThan"}
CLASSES = ("a", "b", "c")


def document(trees: list[str], method: str, function: str, *, weights: list[float] | None = None,
             model_attrs: str = "", targets: str = "") -> bytes:
    segments = "".join(
        f'<Segment id="{i + 1}" weight="{weights[i] if weights else 1}"><True/>{tree}</Segment>'
        for i, tree in enumerate(trees))
    target = ('<DataField name="y" optype="categorical" dataType="string">'
              + "".join(f'<Value value="{c}"/>' for c in CLASSES) + "</DataField>"
              if function == "classification" else '<DataField name="y" optype="continuous" dataType="double"/>')
    return f"""<PMML xmlns="http://www.dmg.org/PMML-4_4" version="4.4">
<DataDictionary>
  <DataField name="x1" optype="continuous" dataType="double"/>
  <DataField name="x2" optype="continuous" dataType="double"/>
  <DataField name="x3" optype="continuous" dataType="double"/>
  <DataField name="x4" optype="continuous" dataType="float"/>
  {target}
</DataDictionary>
<MiningModel functionName="{function}" {model_attrs}>
  <MiningSchema>{''.join(f'<MiningField name="{f}"/>' for f in FIELDS)}
    <MiningField name="y" usageType="target"/></MiningSchema>
  {targets}
  <Segmentation multipleModelMethod="{method}">{segments}</Segmentation>
</MiningModel>
</PMML>""".encode()


def tree(body: str, function: str, strategy: str = "nullPrediction", no_true: str = "returnNullPrediction") -> str:
    return f"""<TreeModel functionName="{function}" missingValueStrategy="{strategy}" noTrueChildStrategy="{no_true}">
      <MiningSchema>{''.join(f'<MiningField name="{f}"/>' for f in FIELDS)}</MiningSchema>{body}</TreeModel>"""


class RandomTree:
    """A random tree of numeric splits: binary (the second child True or the complement) or
    compact (several independent tests per node, as XGBoost and LightGBM exports write)."""

    def __init__(self, rng: np.random.Generator, function: str, compact: bool, default_child: bool,
                 fields: tuple[str, ...] = FIELDS, grid: tuple[float, ...] = GRID) -> None:
        self.rng, self.function, self.compact, self.default_child = rng, function, compact, default_child
        self.fields, self.grid = fields, grid
        self.next_id = 0

    def predicate(self) -> tuple[str, str, str]:
        return (str(self.rng.choice(self.fields)), str(self.rng.choice(OPS)), str(self.rng.choice(self.grid)))

    def result(self) -> str:
        if self.function == "regression":
            return f' score="{self.rng.normal():.6f}"'
        counts = self.rng.integers(0, 4, len(CLASSES))
        counts[self.rng.integers(len(CLASSES))] += 1
        winner = CLASSES[int(np.argmax(counts))]
        dist = "".join(f'<ScoreDistribution value="{c}" recordCount="{n}"/>' for c, n in zip(CLASSES, counts,
                                                                                          strict=True))
        return f' score="{winner}">{dist}<!--'

    def node(self, predicate: str, depth: int) -> str:
        self.next_id += 1
        nid = f"n{self.next_id}"
        head = self.result()
        # A classification node's ScoreDistributions follow its predicate: stitch them in below.
        own, _, dist = head.partition(">")
        dist = dist.removesuffix("<!--")
        if depth == 0 or self.rng.random() < 0.2:
            return f'<Node id="{nid}"{own}>{predicate}{dist}</Node>'
        field, op, value = self.predicate()
        kids: list[str] = []
        if self.compact:
            previous = None
            for _ in range(int(self.rng.integers(1, 4))):
                f, o, v = self.predicate()
                while previous is not None and (f, v) == (previous[0], previous[2]) and o == COMPLEMENT[previous[1]]:
                    f, o, v = self.predicate()  # a complement would be a binary split's second child
                previous = (f, o, v)
                kids.append(self.node(f'<SimplePredicate field="{f}" operator="{o}" value="{v}"/>', depth - 1))
            if self.rng.random() < 0.3:
                kids.append(self.node("<True/>", depth - 1))
        else:
            kids.append(self.node(f'<SimplePredicate field="{field}" operator="{op}" value="{value}"/>', depth - 1))
            second = ("<True/>" if self.rng.random() < 0.5 else
                      f'<SimplePredicate field="{field}" operator="{COMPLEMENT[op]}" value="{value}"/>')
            kids.append(self.node(second, depth - 1))
        first_kid = kids[0].split('"', 2)[1]
        default = f' defaultChild="{first_kid}"' if self.default_child and self.rng.random() < 0.9 else ""
        return f'<Node id="{nid}"{own}{default}>{predicate}{dist}{"".join(kids)}</Node>'


def assert_walks_as_reference(predictor: Any, data: dict[str, Any]) -> None:
    values = {k: np.asarray(v, dtype=float) for k, v in data.items()}
    n = len(values[FIELDS[0]])
    nodes, levels, _ = predictor.walker.walk(Frame(n, dict(values), {}))
    want_nodes, want_levels = reference_walk(predictor.flat, Frame(n, dict(values), {}))
    np.testing.assert_array_equal(nodes, want_nodes)
    np.testing.assert_array_equal(levels[nodes >= 0], want_levels[nodes >= 0])


def random_data(rng: np.random.Generator, n: int) -> dict[str, Any]:
    data: dict[str, Any] = {}
    for f in FIELDS:
        values = rng.choice(GRID, n) + rng.choice([0.0, 1e-9, -1e-9], n)
        values[rng.random(n) < 0.08] = np.nan
        data[f] = values
    return data


def general(model: Model) -> Model:
    """The same model scored segment by segment (the path the forest falls back on)."""
    plan = model._doc.model
    assert isinstance(plan.predictor, FusedTrees)
    return Model(dataclasses.replace(model._doc, model=dataclasses.replace(plan, predictor=plan.predictor.general)))


def assert_same(model: Model, data: dict[str, Any]) -> None:
    fused = model.score(data, errors="collect")
    slow = general(model).score(data, errors="collect")
    assert {r: str(e) for r, e in fused.errors.items()} == {r: str(e) for r, e in slow.errors.items()}
    assert list(fused) == list(slow)
    for name in fused:
        a, b = np.asarray(fused[name]), np.asarray(slow[name])
        if a.dtype == object:
            assert a.tolist() == b.tolist(), name
        else:
            np.testing.assert_allclose(a.astype(float), b.astype(float), rtol=1e-12, atol=0, equal_nan=True)


SHAPES = [
    ("classification", "average", "nullPrediction", "returnNullPrediction", False),
    ("classification", "weightedAverage", "none", "returnLastPrediction", True),
    ("classification", "majorityVote", "defaultChild", "returnLastPrediction", True),
    ("classification", "weightedMajorityVote", "none", "returnNullPrediction", False),
    ("classification", "average", "lastPrediction", "returnLastPrediction", True),
    ("regression", "sum", "defaultChild", "returnLastPrediction", True),
    ("regression", "weightedSum", "none", "returnLastPrediction", False),
    ("regression", "average", "nullPrediction", "returnNullPrediction", False),
    ("regression", "weightedAverage", "defaultChild", "returnNullPrediction", False),
]


@pytest.mark.parametrize(("function", "method", "strategy", "no_true", "compact"), SHAPES)
def test_forest_agrees_with_the_segment_by_segment_path_on_random_trees_and_missing_values(
        function: str, method: str, strategy: str, no_true: str, compact: bool) -> None:
    """Random trees, random data with missing values: every result and every error as the general path."""
    rng = np.random.default_rng(len(method) * 7 + len(strategy))
    trees = [tree(RandomTree(rng, function, compact, strategy == "defaultChild").node("<True/>", 5), function,
                  strategy, no_true) for _ in range(12)]
    weights = [float(w) for w in rng.uniform(0.5, 2.0, len(trees))]
    model = load(document(trees, method, function, weights=weights))
    assert_same(model, random_data(rng, 3000))


def test_float_math_context_sums_in_single_precision_from_the_rescale_constant() -> None:
    """x-mathContext="float": float32 sums starting at the Target's constant, as the general path."""
    rng = np.random.default_rng(3)
    trees = [tree(RandomTree(rng, "regression", True, True).node("<True/>", 4), "regression", "defaultChild",
                  "returnLastPrediction") for _ in range(30)]
    model = load(document(trees, "sum", "regression", model_attrs='x-mathContext="float"',
                          targets='<Targets><Target field="y" rescaleConstant="0.3141"/></Targets>'))
    assert_same(model, random_data(rng, 2000))


def test_a_forest_of_float_fields_compares_in_float32_as_the_general_path() -> None:
    """Splits on a float field only: thresholds like 0.1 and values a hair from them agree."""
    rng = np.random.default_rng(5)
    grid = (0.1, 0.2, 0.3, -0.7)
    trees = [tree(RandomTree(rng, "regression", True, True, ("x4",), grid).node("<True/>", 4), "regression",
                  "defaultChild", "returnLastPrediction") for _ in range(10)]
    model = load(document(trees, "sum", "regression", model_attrs='x-mathContext="float"'))
    assert isinstance(model._doc.model.predictor, FusedTrees)
    data = random_data(rng, 2000)
    data["x4"] = rng.choice(grid, 2000) + rng.choice([0.0, 1e-9, -1e-9, 1e-7, -1e-7], 2000)
    assert_same(model, data)


def test_many_rows_in_several_chunks_equal_the_rows_scored_one_by_one() -> None:
    """Rows walked in chunks give each row what it gets alone."""
    rng = np.random.default_rng(11)
    trees = [tree(RandomTree(rng, "classification", False, False).node("<True/>", 4), "classification")
             for _ in range(3)]
    model = load(document(trees, "average", "classification"))
    chunk = BLOCK + 3
    data = random_data(rng, 2 * chunk + 10)
    together = model.score(data, errors="collect")
    for i in (0, chunk - 1, chunk, 2 * chunk + 9):
        alone = model.score({f: data[f][i:i + 1] for f in FIELDS}, errors="collect")
        assert alone["y"].tolist() == together["y"][i:i + 1].tolist()
        np.testing.assert_allclose(alone["probability(b)"], together["probability(b)"][i:i + 1], rtol=1e-15)


def leaf_tree(function: str, below: str, above: str, field: str = "x1", value: str = "0") -> str:
    """A stump: ``below`` when field <= value, else ``above`` (class labels or scores)."""
    def leaf(result: str, pred: str) -> str:
        if function == "regression":
            return f'<Node score="{result}">{pred}</Node>'
        return f'<Node score="{result}">{pred}<ScoreDistribution value="{result}" recordCount="1"/></Node>'
    return tree(f"""<Node><True/>
        {leaf(below, f'<SimplePredicate field="{field}" operator="lessOrEqual" value="{value}"/>')}
        {leaf(above, '<True/>')}</Node>""", function)


def test_a_vote_tie_goes_to_the_category_voted_for_first() -> None:
    """Two votes each: the category of the earliest segment wins."""
    trees = [leaf_tree("classification", "c", "b"), leaf_tree("classification", "a", "c"),
             leaf_tree("classification", "a", "b"), leaf_tree("classification", "c", "a")]
    model = load(document(trees, "majorityVote", "classification"))
    out = model.score({"x1": [-1.0, 1.0], "x2": [0.0] * 2, "x3": [0.0] * 2, "x4": [0.0] * 2})
    assert out["y"].tolist() == ["c", "b"]
    np.testing.assert_allclose(out["probability(c)"], [0.5, 0.25])
    assert isinstance(model._doc.model.predictor, FusedTrees)


def test_an_averaged_probability_tie_goes_to_the_first_category_of_the_target() -> None:
    """0.5 / 0.5 between b and a: a, the target's first category, wins."""
    trees = [leaf_tree("classification", "b", "b"), leaf_tree("classification", "a", "a")]
    model = load(document(trees, "average", "classification"))
    out = model.score({"x1": [0.0], "x2": [0.0], "x3": [0.0], "x4": [0.0]})
    assert out["y"].tolist() == ["a"]
    np.testing.assert_allclose([out["probability(a)"][0], out["probability(b)"][0]], [0.5, 0.5])


def test_weighted_methods_weigh_each_tree_by_its_segment_weight() -> None:
    """weightedAverage of 1 (weight 3) and 5 (weight 1) is 2; weightedSum is 8."""
    trees = [leaf_tree("regression", "1", "1"), leaf_tree("regression", "5", "5")]
    data = {"x1": [0.0], "x2": [0.0], "x3": [0.0], "x4": [0.0]}
    for method, expected in (("weightedAverage", 2.0), ("weightedSum", 8.0)):
        out = load(document(trees, method, "regression", weights=[3.0, 1.0])).score(data)
        assert out["y"][0] == pytest.approx(expected, rel=1e-15)


@pytest.mark.parametrize(("operator", "below"), [("lessOrEqual", True), ("lessThan", False)])
def test_a_float_field_compares_at_float32_precision(operator: str, below: bool) -> None:
    """0.1000000001 is 0.1f as a float: equal to the float threshold 0.1, unlike the doubles."""
    stump = tree(f"""<Node><True/>
        <Node score="1"><SimplePredicate field="x4" operator="{operator}" value="0.1"/></Node>
        <Node score="2"><True/></Node></Node>""", "regression")
    model = load(document([stump, stump], "average", "regression"))
    assert isinstance(model._doc.model.predictor, FusedTrees)
    out = model.score({"x1": [0.0], "x2": [0.0], "x3": [0.0], "x4": [0.1000000001]})
    assert out["y"][0] == pytest.approx(1.0 if below else 2.0)


def test_a_record_ending_without_a_score_is_the_general_paths_data_error() -> None:
    """The forest hands the record to the general path, which reports it with its row."""
    stump = tree("""<Node score="0"><True/>
        <Node><SimplePredicate field="x1" operator="lessThan" value="0"/></Node>
        <Node score="2"><True/></Node></Node>""", "regression")
    model = load(document([stump, stump], "sum", "regression"))
    assert isinstance(model._doc.model.predictor, FusedTrees)
    data = {"x1": [1.0, -1.0], "x2": [0.0] * 2, "x3": [0.0] * 2, "x4": [0.0] * 2}
    with pytest.raises(EvaluationError, match=r"without a score attribute \(row 2\)"):
        model.score(data)
    assert model.score(data, errors="collect")["y"][0] == pytest.approx(4.0)


@pytest.mark.parametrize(("change", "method", "expected", "fused"), [
    (lambda t: t.replace('operator="lessOrEqual" value="0"', 'operator="equal" value="0"'), "sum", [5.0, 7.0], True),
    (lambda t: t.replace("<Node><True/>", '<Node><SimplePredicate field="x2" operator="lessThan" value="5"/>'),
     "sum", [3.0, 7.0], True),
    (lambda t: t, "median", [1.5, 3.5], False),
])
def test_any_split_is_walked_as_a_forest_and_other_combinations_keep_the_general_path(
        change: Any, method: str, expected: list[float], fused: bool) -> None:
    """An equality split, a root that is not True: fused; a median: not fused; all scored."""
    trees = [change(leaf_tree("regression", "1", "3")), leaf_tree("regression", "2", "4")]
    model = load(document(trees, method, "regression"))
    assert isinstance(model._doc.model.predictor, FusedTrees) == fused
    out = model.score({"x1": [-1.0, 1.0], "x2": [0.0] * 2, "x3": [0.0] * 2, "x4": [0.0] * 2})
    assert out["y"].tolist() == pytest.approx(expected)


def single_tree_document(body: str, function: str, strategy: str, no_true: str) -> bytes:
    """The document's own model is one TreeModel (no MiningModel)."""
    doc = document([tree(body, function, strategy, no_true)], "sum", function).decode()
    head, rest = doc.split("<MiningModel", 1)
    model = rest.split("<Segment ", 1)[1].split("<True/>", 1)[1].rsplit("</Segment>", 1)[0]
    fields = "".join(f'<MiningField name="{f}"/>' for f in FIELDS)
    model = model.replace(f"<MiningSchema>{fields}</MiningSchema>",
                          f'<MiningSchema>{fields}<MiningField name="y" usageType="target"/></MiningSchema>', 1)
    return (head + model + "</PMML>").encode()


@pytest.mark.parametrize(("function", "strategy", "no_true", "compact"), [
    ("classification", "defaultChild", "returnLastPrediction", True),
    ("classification", "nullPrediction", "returnNullPrediction", False),
    ("regression", "none", "returnLastPrediction", True),
    ("regression", "lastPrediction", "returnNullPrediction", False),
])
def test_a_tree_on_its_own_walks_as_the_reference_walk_node_by_node(
        function: str, strategy: str, no_true: str, compact: bool) -> None:
    """A lone TreeModel: the compiled walk gives every record the reference walk's node, levels and errors."""
    rng = np.random.default_rng(len(strategy) + len(function))
    body = RandomTree(rng, function, compact, strategy == "defaultChild").node("<True/>", 7)
    model = load(single_tree_document(body, function, strategy, no_true))
    assert_walks_as_reference(model._doc.model.predictor, random_data(rng, 600))
