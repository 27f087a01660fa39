"""TreeModel: predicates, missing value strategies, probabilities, entity ids, the flat walk."""

from __future__ import annotations

import numpy as np
import pytest

from pmserve.errors import DocumentProblems, EvaluationError
from pmserve.pmml import load
from pmserve.pmml.compiler import ModelEnv
from pmserve.pmml.document.parse import parse
from pmserve.pmml.document.problems import Problems
from pmserve.pmml.expressions.transformations import ExpressionCompiler
from pmserve.pmml.fields.frame import Frame
from pmserve.pmml.fields.schema import Scope, parse_data_field, parse_mining_schema
from pmserve.pmml.trees.nodes import compile_flat
from pmserve.pmml.trees.walk import NO_NODE, join

GOLF_FIELDS = """
  <DataField name="temperature" optype="continuous" dataType="double"/>
  <DataField name="humidity" optype="continuous" dataType="double"/>
  <DataField name="outlook" optype="categorical" dataType="string">
    <Value value="sunny"/><Value value="overcast"/><Value value="rain"/>
  </DataField>
  <DataField name="whatIdo" optype="categorical" dataType="string">
    <Value value="will play"/><Value value="may play"/><Value value="no play"/>
  </DataField>
"""

GOLF_OUTPUT = """
  <Output>
    <OutputField name="p_will" feature="probability" value="will play"/>
    <OutputField name="p_may" feature="probability" value="may play"/>
    <OutputField name="p_no" feature="probability" value="no play"/>
    <OutputField name="conf" feature="confidence"/>
    <OutputField name="node" feature="entityId"/>
  </Output>
"""


def golf_tree(attrs: str = "", output: str = GOLF_OUTPUT) -> bytes:
    """The spec's golfing tree: counts and confidences per node, surrogate splits."""
    return f"""<PMML xmlns="http://www.dmg.org/PMML-4_4" version="4.4">
<DataDictionary>{GOLF_FIELDS}</DataDictionary>
<TreeModel functionName="classification" {attrs}>
  <MiningSchema>
    <MiningField name="temperature"/><MiningField name="humidity"/><MiningField name="outlook"/>
    <MiningField name="whatIdo" usageType="target"/>
  </MiningSchema>
  {output}
  <Node id="root" score="will play" recordCount="100" defaultChild="sun">
    <True/>
    <ScoreDistribution value="will play" recordCount="60" confidence="0.6"/>
    <ScoreDistribution value="may play" recordCount="30" confidence="0.3"/>
    <ScoreDistribution value="no play" recordCount="10" confidence="0.1"/>
    <Node id="sun" score="will play" recordCount="50" defaultChild="warm">
      <SimplePredicate field="outlook" operator="equal" value="sunny"/>
      <ScoreDistribution value="will play" recordCount="40" confidence="0.8"/>
      <ScoreDistribution value="may play" recordCount="2" confidence="0.04"/>
      <ScoreDistribution value="no play" recordCount="8" confidence="0.16"/>
      <Node id="warm" score="will play" recordCount="40">
        <CompoundPredicate booleanOperator="surrogate">
          <SimplePredicate field="temperature" operator="greaterOrEqual" value="50"/>
          <SimplePredicate field="humidity" operator="lessThan" value="80"/>
        </CompoundPredicate>
        <ScoreDistribution value="will play" recordCount="36" confidence="0.9"/>
        <ScoreDistribution value="may play" recordCount="2" confidence="0.05"/>
        <ScoreDistribution value="no play" recordCount="2" confidence="0.05"/>
      </Node>
      <Node id="cold" score="no play" recordCount="10">
        <CompoundPredicate booleanOperator="surrogate">
          <SimplePredicate field="temperature" operator="lessThan" value="50"/>
          <SimplePredicate field="humidity" operator="greaterOrEqual" value="80"/>
        </CompoundPredicate>
        <ScoreDistribution value="will play" recordCount="4" confidence="0.4"/>
        <ScoreDistribution value="may play" recordCount="0" confidence="0.0"/>
        <ScoreDistribution value="no play" recordCount="6" confidence="0.6"/>
      </Node>
    </Node>
    <Node id="other" score="may play" recordCount="50">
      <SimpleSetPredicate field="outlook" booleanOperator="isIn">
        <Array n="2" type="string">overcast rain</Array>
      </SimpleSetPredicate>
      <ScoreDistribution value="will play" recordCount="20" confidence="0.4"/>
      <ScoreDistribution value="may play" recordCount="28" confidence="0.56"/>
      <ScoreDistribution value="no play" recordCount="2" confidence="0.04"/>
    </Node>
  </Node>
</TreeModel>
</PMML>""".encode()


def score_one(doc: bytes, **record: object) -> dict[str, object]:
    model = load(doc)
    out = model.score({k: [v] for k, v in record.items()}).to_lists()
    return {k: v[0] for k, v in out.items()}


def test_record_follows_true_predicates_to_a_leaf() -> None:
    """A complete record ends in the leaf whose predicates hold; probabilities are its counts."""
    got = score_one(golf_tree(), temperature=60.0, humidity=70.0, outlook="sunny")
    assert got["whatIdo"] == "will play"
    assert got["node"] == "warm"
    assert got["p_will"] == pytest.approx(0.9)
    assert got["p_no"] == pytest.approx(0.05)
    assert got["conf"] == pytest.approx(0.9)


def test_set_predicate_selects_its_members() -> None:
    """SimpleSetPredicate isIn routes overcast and rain to the same node."""
    model = load(golf_tree())
    out = model.score({"temperature": [1.0, 1.0], "humidity": [1.0, 1.0], "outlook": ["rain", "overcast"]})
    assert out.to_lists()["node"] == ["other", "other"]
    np.testing.assert_allclose(out["p_may"], [0.56, 0.56])


def test_missing_value_strategy_none_treats_unknown_as_false() -> None:
    """Under "none" an unknown child counts as false; with no true child there is no prediction."""
    got = score_one(golf_tree(), temperature=None, humidity=None, outlook=None)
    assert got["whatIdo"] is None
    assert got["node"] is None


def test_no_true_child_return_last_prediction_gives_the_parent() -> None:
    """returnLastPrediction returns the last node entered when none of its children is true."""
    got = score_one(golf_tree('noTrueChildStrategy="returnLastPrediction"'),
                    temperature=None, humidity=None, outlook="sunny")
    assert got["whatIdo"] == "will play"
    assert got["node"] == "sun"
    assert got["p_will"] == pytest.approx(0.8)


def test_unknown_category_matches_no_set() -> None:
    """A category no predicate names is false in every test (not unknown)."""
    body = """<Node score="root"><True/>
      <Node score="in"><SimpleSetPredicate field="s" booleanOperator="isIn">
        <Array type="string">"a b" c</Array></SimpleSetPredicate></Node>
      <Node score="is d"><SimplePredicate field="s" operator="equal" value="d"/></Node>
    </Node>"""
    doc = tree_doc(body, attrs='noTrueChildStrategy="returnLastPrediction"',
                   fields='<DataField name="s" optype="categorical" dataType="string"/>')
    out = load(doc).score({"s": ["a b", "c", "d", "zz", None]})
    assert out["y"].tolist() == ["in", "in", "is d", "root", "root"]


def test_null_prediction_stops_at_the_first_unknown() -> None:
    """nullPrediction gives no prediction as soon as a predicate is unknown."""
    got = score_one(golf_tree('missingValueStrategy="nullPrediction"'), temperature=None, humidity=None,
                    outlook="sunny")
    assert got["whatIdo"] is None
    assert got["conf"] is None


def test_last_prediction_returns_the_node_where_an_unknown_was_met() -> None:
    """lastPrediction predicts with the parent of the unknown child."""
    got = score_one(golf_tree('missingValueStrategy="lastPrediction"'), temperature=None, humidity=None,
                    outlook="sunny")
    assert got["whatIdo"] == "will play"
    assert got["conf"] == pytest.approx(0.8)
    assert got["node"] == "sun"


def test_default_child_is_followed_and_penalised() -> None:
    """defaultChild enters the named child; confidences shrink by the penalty per missing level."""
    doc = golf_tree('missingValueStrategy="defaultChild" missingValuePenalty="0.5"')
    got = score_one(doc, temperature=40.0, humidity=70.0, outlook=None)
    assert got["node"] == "cold"
    assert got["whatIdo"] == "no play"
    assert got["conf"] == pytest.approx(0.6 * 0.5)
    assert got["p_no"] == pytest.approx(0.6)


def test_surrogate_alternative_counts_as_a_missing_level() -> None:
    """Each surrogate decided by an alternative predicate is one missing level (JPMML)."""
    doc = golf_tree('missingValuePenalty="0.8"')
    got = score_one(doc, temperature=None, humidity=90.0, outlook="sunny")
    # "warm" is false and "cold" true, both by their humidity alternative: two levels.
    assert got["node"] == "cold"
    assert got["conf"] == pytest.approx(0.6 * 0.8**2)


def test_weighted_confidence_blends_unknown_children_by_record_share() -> None:
    """weightedConfidence weighs the unknown children's confidences by their share of records."""
    model = load(golf_tree('missingValueStrategy="weightedConfidence"'))
    out = model.score({"temperature": [45.0, None, None], "humidity": [60.0, None, None],
                       "outlook": ["sunny", "sunny", None]}).to_lists()
    assert out["whatIdo"] == ["no play", "will play", "will play"]
    np.testing.assert_allclose(out["conf"], [0.6, (40 * 0.9 + 10 * 0.4) / 50, 0.5 * 0.8 + 0.5 * 0.4])
    assert out["node"] == ["cold", None, None]


def test_aggregate_nodes_sums_the_counts_of_reachable_leaves() -> None:
    """aggregateNodes predicts the category with most records over every leaf the record may reach."""
    got = score_one(golf_tree('missingValueStrategy="aggregateNodes"'), temperature=45.0, humidity=90.0,
                    outlook=None)
    # Leaves reached: "cold" (4, 0, 6) and "other" (20, 28, 2).
    assert got["whatIdo"] == "may play"
    assert got["conf"] == pytest.approx(28 / 60)
    assert got["p_will"] == pytest.approx(24 / 60)


def tree_doc(body: str, *, function: str = "classification", attrs: str = "", target_type: str = "string",
             fields: str = "", output: str = "") -> bytes:
    extra = fields or '<DataField name="x" optype="continuous" dataType="double"/>'
    names = [part.split('"')[1] for part in extra.split("<DataField name=")[1:]]
    mining = "".join(f'<MiningField name="{n}"/>' for n in names)
    optype = "categorical" if function == "classification" else "continuous"
    return f"""<PMML xmlns="http://www.dmg.org/PMML-4_4" version="4.4">
<DataDictionary>{extra}<DataField name="y" optype="{optype}" dataType="{target_type}"/></DataDictionary>
<TreeModel functionName="{function}" {attrs}>
  <MiningSchema>{mining}<MiningField name="y" usageType="target"/></MiningSchema>
  {output}
  {body}
</TreeModel>
</PMML>""".encode()


def test_regression_tree_predicts_leaf_scores_as_doubles() -> None:
    """A regression tree predicts its leaf's numeric score; entity ids default to preorder positions."""
    body = """<Node score="0"><True/>
      <Node score="1.5"><SimplePredicate field="x" operator="lessThan" value="2"/></Node>
      <Node score="-3.25"><SimplePredicate field="x" operator="greaterOrEqual" value="2"/></Node>
    </Node>"""
    doc = tree_doc(body, function="regression", target_type="double",
                   output='<Output><OutputField name="id" feature="entityId"/></Output>')
    out = load(doc).score({"x": [1.0, 2.0, None]}).to_lists()
    assert out["y"][:2] == [pytest.approx(1.5), pytest.approx(-3.25)]
    assert out["y"][2] is None
    assert out["id"] == ["2", "3", None]


def test_probability_attributes_take_precedence_over_record_counts() -> None:
    """ScoreDistribution/@probability is used as given when the first distribution has one."""
    body = """<Node score="a"><True/>
      <ScoreDistribution value="a" recordCount="1" probability="0.25"/>
      <ScoreDistribution value="b" recordCount="1" probability="0.75"/>
    </Node>"""
    out = load(tree_doc(body)).score({"x": [0.0]})
    assert out["y"].tolist() == ["a"]
    np.testing.assert_allclose(out["probability(a)"], [0.25])
    np.testing.assert_allclose(out["probability(b)"], [0.75])


def test_float_fields_compare_at_float32_precision() -> None:
    """A float field's value and threshold are both rounded to float32 before comparing."""
    body = """<Node score="0"><True/>
      <Node score="1"><SimplePredicate field="x" operator="lessOrEqual" value="0.1"/></Node>
      <Node score="2"><SimplePredicate field="x" operator="greaterThan" value="0.1"/></Node>
    </Node>"""
    doc = tree_doc(body, function="regression", target_type="double",
                   fields='<DataField name="x" optype="continuous" dataType="float"/>')
    # 0.1000000001 rounds to the same float32 as 0.1, so it is not greater.
    out = load(doc).score({"x": [0.1000000001, 0.1001]})
    np.testing.assert_allclose(out["y"], [1.0, 2.0])


def test_string_ordering_and_is_missing_use_the_general_predicates() -> None:
    """Predicates without a flat test (string ordering) agree with isMissing on the same tree."""
    body = """<Node score="none"><True/>
      <Node score="missing"><SimplePredicate field="s" operator="isMissing"/></Node>
      <Node score="early"><SimplePredicate field="s" operator="lessThan" value="m"/></Node>
      <Node score="late"><True/></Node>
    </Node>"""
    doc = tree_doc(body, fields='<DataField name="s" optype="categorical" dataType="string"/>')
    out = load(doc).score({"s": [None, "apple", "zebra"]})
    assert out["y"].tolist() == ["missing", "early", "late"]


def test_integer_split_points_between_values_are_numbers() -> None:
    """A threshold of 2.5 on an integer field compares numerically, in simple and compound predicates."""
    body = """<Node score="0"><True/>
      <Node score="1"><CompoundPredicate booleanOperator="or">
          <SimplePredicate field="k" operator="lessOrEqual" value="2.5"/>
          <SimplePredicate field="k" operator="isMissing"/>
      </CompoundPredicate></Node>
      <Node score="2"><SimplePredicate field="k" operator="greaterThan" value="2.5"/></Node>
    </Node>"""
    doc = tree_doc(body, function="regression", target_type="double",
                   fields='<DataField name="k" optype="continuous" dataType="integer"/>')
    np.testing.assert_allclose(load(doc).score({"k": [2, 3, None]})["y"], [1.0, 2.0, 1.0])


def random_tree(rng: np.random.Generator, depth: int, wrap: bool) -> str:
    """A random binary tree on x0..x2; ``wrap`` writes each split as a CompoundPredicate."""
    def node(d: int, pred: str) -> str:
        score = f'{rng.normal():.6f}'
        if d == depth:
            return f'<Node score="{score}">{pred}</Node>'
        f, t = rng.integers(3), round(float(rng.random()), 4)
        left = f'<SimplePredicate field="x{f}" operator="lessOrEqual" value="{t}"/>'
        right = f'<SimplePredicate field="x{f}" operator="greaterThan" value="{t}"/>'
        if wrap:
            left = f'<CompoundPredicate booleanOperator="and">{left}<True/></CompoundPredicate>'
            right = f'<CompoundPredicate booleanOperator="or">{right}<False/></CompoundPredicate>'
        return f'<Node score="{score}">{pred}{node(d + 1, left)}{node(d + 1, right)}</Node>'

    return node(0, "<True/>")


FIELDS3 = "".join(f'<DataField name="x{i}" optype="continuous" dataType="double"/>' for i in range(3))


@pytest.mark.parametrize("strategy", ["none", "nullPrediction", "lastPrediction"])
def test_flat_tests_agree_with_general_predicates(strategy: str) -> None:
    """The flat walk and predicates evaluated per node give the same results, missing values included."""
    attrs = f'missingValueStrategy="{strategy}" noTrueChildStrategy="returnLastPrediction"'
    flat = load(tree_doc(random_tree(np.random.default_rng(7), 6, False), function="regression",
                         target_type="double", fields=FIELDS3, attrs=attrs))
    general = load(tree_doc(random_tree(np.random.default_rng(7), 6, True), function="regression",
                            target_type="double", fields=FIELDS3, attrs=attrs))
    rng = np.random.default_rng(1)
    data = {f"x{i}": np.where(rng.random(500) < 0.1, np.nan, rng.random(500)) for i in range(3)}
    np.testing.assert_allclose(flat.score(data)["y"], general.score(data)["y"], equal_nan=True)


def test_rows_scored_together_equal_rows_scored_one_by_one() -> None:
    """Scoring a batch gives each row the result it gets alone."""
    model = load(golf_tree('missingValueStrategy="defaultChild"'))
    data = {"temperature": [60.0, None, 40.0, None], "humidity": [70.0, 90.0, None, None],
            "outlook": ["sunny", "sunny", None, "rain"]}
    batch = model.score(data).to_lists()
    for i in range(4):
        one = model.score({k: v[i:i + 1] for k, v in data.items()}).to_lists()
        for name, values in batch.items():
            assert one[name][0] == (pytest.approx(values[i]) if isinstance(values[i], float) else values[i])


def test_the_walker_gives_each_rows_final_node_of_a_compiled_tree() -> None:
    """compile_flat's node arrays, walked: each row's final node and the node scores."""
    doc = tree_doc(random_tree(np.random.default_rng(3), 3, False), function="regression", target_type="double",
                   fields=FIELDS3)
    root = parse(doc)
    problems = Problems()
    scope = Scope()
    dictionary = root.find("DataDictionary")
    tree_el = root.find("TreeModel")
    assert dictionary is not None
    assert tree_el is not None
    for df in dictionary.findall("DataField"):
        scope.add(parse_data_field(df, problems))
    mining = parse_mining_schema(tree_el.find("MiningSchema"), scope, problems)
    env = ModelEnv(tree_el, "regression", ExpressionCompiler(scope, problems), mining, None, problems)
    flat = compile_flat(tree_el, env)
    assert flat is not None
    assert not problems
    rng = np.random.default_rng(5)
    data = {f"x{i}": rng.random(50) for i in range(3)}
    leaves, _, _ = join([flat]).walk(Frame(50, dict(data), {}))
    assert (leaves != NO_NODE).all()
    assert flat.is_leaf[leaves].all()
    np.testing.assert_allclose(flat.scores[leaves], load(doc).score(data)["y"])


@pytest.mark.parametrize(
    ("body", "attrs", "match"),
    [
        ('<Node score="a"><True/><Regression functionName="regression"/></Node>', "",
         "embedded model"),
        ('<Node score="a"><True/></Node>', 'missingValueStrategy="sometimes"', "missingValueStrategy must be"),
        ('<Node score="a"><True/></Node>', 'noTrueChildStrategy="guess"', "noTrueChildStrategy must be"),
        ('<Node score="a"><True/></Node>', 'missingValuePenalty="2"', "missingValuePenalty must be"),
        ('<Node score="a" defaultChild="9"><True/><Node id="1" score="b"><True/></Node></Node>', "",
         "defaultChild '9' is not the id of a child"),
        ('<Node score="a"><True/><ScoreDistribution value="a" probability="0.5"/>'
         '<ScoreDistribution value="b" recordCount="3"/></Node>', "", "probability is required"),
        ('<Node score="a"><True/><ScoreDistribution value="a"/></Node>', "", "recordCount is required"),
        ('<Node score="a"><SimplePredicate field="nope" operator="equal" value="1"/></Node>', "",
         "field 'nope' is not defined"),
        ('<Node score="a"><SimplePredicate field="x" operator="about" value="1"/></Node>', "",
         "operator must be one of"),
        ('<Node score="a"><SimplePredicate field="x" operator="lessThan" value="abc"/></Node>', "",
         "expected a number, got 'abc'"),
        ('<Node score="a"/>', "", "a Node needs a predicate"),
        ('<Node score="a"><True/><Node score="b"><True/></Node></Node>', 'splitCharacteristic="binarySplit"',
         "binarySplit needs 0 or 2 child Nodes"),
    ],
)
def test_invalid_or_unsupported_markup_is_refused_at_load(body: str, attrs: str, match: str) -> None:
    """Every bad piece of a tree is reported at load, naming the element and what was expected."""
    with pytest.raises(DocumentProblems, match=match):
        load(tree_doc(body, attrs=attrs))


def test_tree_without_nodes_is_refused() -> None:
    """A TreeModel needs a root Node."""
    with pytest.raises(DocumentProblems, match="needs a root Node"):
        load(tree_doc(""))


def test_regression_tree_with_a_category_score_is_refused() -> None:
    """A regression tree's scores must be numbers."""
    with pytest.raises(DocumentProblems, match="score of a regression tree must be a number, got 'high'"):
        load(tree_doc('<Node score="high"><True/></Node>', function="regression", target_type="double"))


def test_record_ending_in_a_node_without_score_is_a_data_error() -> None:
    """Ending in a node without a score fails that record (JPMML), not the document."""
    body = """<Node score="0"><True/>
      <Node><SimplePredicate field="x" operator="lessThan" value="0"/></Node>
      <Node score="1"><True/></Node>
    </Node>"""
    model = load(tree_doc(body, function="regression", target_type="double"))
    with pytest.raises(EvaluationError, match=r"without a score attribute \(row 1\)"):
        model.score({"x": [-1.0, 1.0]})
    out = model.score({"x": [-1.0, 1.0]}, errors="collect")
    assert list(out.errors) == [0]
    assert out["y"][1] == pytest.approx(1.0)


BINARY_TREE = """<PMML xmlns="http://www.dmg.org/PMML-4_4" version="4.4">
<DataDictionary>
  <DataField name="a" optype="continuous" dataType="double"/>
  <DataField name="b" optype="continuous" dataType="double"/>
  <DataField name="y" optype="continuous" dataType="double"/>
</DataDictionary>
<TreeModel functionName="regression" missingValueStrategy="{strategy}" noTrueChildStrategy="returnLastPrediction">
  <MiningSchema><MiningField name="a"/><MiningField name="b"/><MiningField name="y" usageType="target"/></MiningSchema>
  <Node id="0" score="0.5" defaultChild="1"><True/>
    <Node id="1" score="1.5" defaultChild="3"><SimplePredicate field="a" operator="lessOrEqual" value="2"/>
      <Node id="3" score="3"><SimplePredicate field="b" operator="lessThan" value="10"/></Node>
      <Node id="4" score="4"><SimplePredicate field="b" operator="greaterOrEqual" value="10"/></Node>
    </Node>
    <Node id="2" score="2"><SimplePredicate field="a" operator="greaterThan" value="2"/></Node>
  </Node>
</TreeModel>
</PMML>"""


@pytest.mark.parametrize(
    ("strategy", "expected"),
    [
        ("defaultChild", [3.0, 4.0, 2.0, 3.0, 3.0, 3.0]),
        ("lastPrediction", [3.0, 4.0, 2.0, 0.5, 1.5, 1.5]),
        ("nullPrediction", [3.0, 4.0, 2.0, None, None, None]),
    ],
)
def test_binary_tree_rows_with_missing_values_leave_the_one_comparison_path(strategy: str,
                                                                             expected: list[float | None]) -> None:
    """Complete rows take one comparison per level; rows meeting a missing value follow the strategy."""
    model = load(BINARY_TREE.format(strategy=strategy).encode())
    a = [1.0, 2.0, 2.5, None, 1.0, 2.0]
    b = [5.0, 10.0, None, 5.0, None, float("nan")]
    got = model.score({"a": a, "b": b})["y"]
    np.testing.assert_allclose(got.astype(float), np.array(expected, dtype=float), equal_nan=True)


def random_multiway_tree(rng: np.random.Generator, depth: int) -> str:
    """A random tree whose nodes test their children in turn (sklearn2pmml's compacted trees)."""
    ops = ["lessOrEqual", "lessThan", "greaterThan", "greaterOrEqual", "equal", "notEqual"]

    def node(d: int, pred: str) -> str:
        score = f'{rng.normal():.6f}'
        if d == depth:
            return f'<Node score="{score}">{pred}</Node>'
        kids = []
        for _ in range(int(rng.integers(1, 4))):
            f, t = rng.integers(3), round(float(rng.integers(0, 5)) / 4, 2)
            kids.append(node(d + 1, f'<SimplePredicate field="x{f}" operator="{rng.choice(ops)}" value="{t}"/>'))
        if rng.random() < 0.7:
            kids.append(node(d + 1, "<True/>"))
        return f'<Node score="{score}">{pred}{"".join(kids)}</Node>'

    return node(0, "<True/>")


@pytest.mark.parametrize("attrs", ['missingValueStrategy="nullPrediction"',
                                   'missingValueStrategy="lastPrediction" noTrueChildStrategy="returnLastPrediction"'])
def test_a_few_records_walk_the_tree_as_a_large_batch_does(attrs: str) -> None:
    """Records scored alone (a walk per record) end where a batch of hundreds (the vectorised walk) ends."""
    model = load(tree_doc(random_multiway_tree(np.random.default_rng(5), 5), function="regression",
                          target_type="double", fields=FIELDS3, attrs=attrs))
    rng = np.random.default_rng(2)
    # Values on the split points test equality; some are missing.
    data = {f"x{i}": np.where(rng.random(300) < 0.05, np.nan, rng.integers(0, 5, 300) / 4) for i in range(3)}
    batch = model.score(data)["y"]
    for i in range(0, 300, 3):
        few = model.score({k: v[i:i + 3] for k, v in data.items()})["y"]
        np.testing.assert_allclose(few, batch[i:i + 3], equal_nan=True)


def _one_split_tree(op: str, value: str) -> bytes:
    return f"""<PMML xmlns="http://www.dmg.org/PMML-4_4" version="4.4">
<DataDictionary><DataField name="x" optype="continuous" dataType="double"/>
  <DataField name="y" optype="continuous" dataType="double"/></DataDictionary>
<TreeModel functionName="regression">
  <MiningSchema><MiningField name="x"/><MiningField name="y" usageType="target"/></MiningSchema>
  <Node score="0"><True/>
    <Node score="1"><SimplePredicate field="x" operator="{op}" value="{value}"/></Node>
    <Node score="2"><True/></Node>
  </Node>
</TreeModel></PMML>""".encode()


@pytest.mark.parametrize("op", ["lessThan", "lessOrEqual", "greaterThan", "greaterOrEqual", "equal", "notEqual"])
@pytest.mark.parametrize("value", ["0.5", "INF", "-INF", "1.7976931348623157e308"])
def test_a_split_is_decided_exactly_at_its_threshold_and_the_infinities(op: str, value: str) -> None:
    """Each operator as the walk's ``value < bound`` tests answers as the comparison itself."""
    t = float(value)
    with np.errstate(over="ignore"):  # the largest double's next is +inf
        xs = [t, np.nextafter(t, np.inf), np.nextafter(t, -np.inf), np.inf, -np.inf, 0.0, 1e308]
    compare = {"lessThan": np.less, "lessOrEqual": np.less_equal, "greaterThan": np.greater,
               "greaterOrEqual": np.greater_equal, "equal": np.equal, "notEqual": np.not_equal}[op]
    out = load(_one_split_tree(op, value)).score({"x": xs}).to_lists()
    assert out["y"] == [1.0 if compare(x, t) else 2.0 for x in xs]
