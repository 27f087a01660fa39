"""The engine's Limits: each bound refuses a document past it, with the same rule on every path."""

from __future__ import annotations

import time

import pytest

from pmserve import pmml
from pmserve.errors import DocumentError, InvalidMarkupError
from pmserve.pmml import DeadlineExceeded, Limits
from pmserve.pmml.document.parse import parse

HEAD = """<PMML xmlns="http://www.dmg.org/PMML-4_4" version="4.4">
<Header/>
<DataDictionary>
<DataField name="x" optype="continuous" dataType="double"/>
<DataField name="y" optype="continuous" dataType="double"/>
</DataDictionary>
"""


def regression(body: str = "", predictor: str = "x") -> bytes:
    return (HEAD + body + f"""<RegressionModel functionName="regression"><MiningSchema><MiningField name="x"/>
<MiningField name="y" usageType="target"/></MiningSchema><RegressionTable intercept="1">
<NumericPredictor name="{predictor}" coefficient="1"/></RegressionTable></RegressionModel></PMML>""").encode()


def tree(depth: int) -> bytes:
    """Nodes nested ``depth`` deep, one tag a line (the shape read in bulk)."""
    inner = "".join(f'<Node id="{i}" score="{i}">\n<SimplePredicate field="x" operator="lessThan" value="{i}"/>\n'
                    for i in range(1, depth))
    return (HEAD + """<TreeModel functionName="regression">
<MiningSchema>
<MiningField name="x"/>
<MiningField name="y" usageType="target"/>
</MiningSchema>
<Node id="0" score="0">
<True/>
""" + inner + "</Node>\n" * depth + "</TreeModel>\n</PMML>\n").encode()


def chain(n: int) -> bytes:
    fields = "".join(f'<DerivedField name="d{i}" optype="continuous" dataType="double">'
                     f'<FieldRef field="{"x" if i == 0 else f"d{i - 1}"}"/></DerivedField>' for i in range(n))
    return regression(f"<TransformationDictionary>{fields}</TransformationDictionary>", predictor=f"d{n - 1}")


def nested_apply(n: int) -> bytes:
    expr = '<FieldRef field="x"/>'
    for _ in range(n):
        expr = f'<Apply function="+">{expr}<Constant>1</Constant></Apply>'
    return regression('<TransformationDictionary><DerivedField name="d" optype="continuous" dataType="double">'
                      f'{expr}</DerivedField></TransformationDictionary>', predictor="d")


@pytest.mark.parametrize("bulk", [True, False], ids=["bulk", "lxml"])
def test_tree_depth_is_bounded_alike_when_read_in_bulk_or_by_lxml(bulk: bool) -> None:
    """The document's nesting, tree Nodes included, has one limit on both parse paths."""
    limits = Limits(max_depth=40)
    parse(tree(30), bulk=bulk, limits=limits)
    with pytest.raises(InvalidMarkupError, match=r"nests elements \d+ deep; the limit is 40 \(PMSERVE_MAX_XML_DEPTH\)"):
        parse(tree(40), bulk=bulk, limits=limits)


@pytest.mark.parametrize("bulk", [True, False], ids=["bulk", "lxml"])
def test_elements_are_counted_on_both_parse_paths(bulk: bool) -> None:
    """A bulk-read Node table counts its rows against the element limit too."""
    parse(tree(30), bulk=bulk, limits=Limits(max_elements=200))
    with pytest.raises(InvalidMarkupError, match="PMSERVE_MAX_XML_ELEMENTS"):
        parse(tree(30), bulk=bulk, limits=Limits(max_elements=60))


def test_attributes_per_element_are_counted_before_they_are_read() -> None:
    """An element over the attribute limit is refused naming it, its count and its line."""
    def doc(n: int) -> bytes:
        attrs = " ".join(f'a{i}="1"' for i in range(n))
        return regression().replace(b"<Header/>", f"<Header {attrs}/>".encode())
    parse(doc(16), limits=Limits(max_attributes=16))
    with pytest.raises(InvalidMarkupError, match=r"Header \(line \d+\): 17 attributes; the limit is 16") as info:
        parse(doc(17), limits=Limits(max_attributes=16))
    assert info.value.line == 2


def test_expression_nesting_is_bounded_at_compile_time() -> None:
    """Apply in Apply past the limit is a document error; at the limit the model scores."""
    model = pmml.load(nested_apply(9), Limits(max_expression_depth=10))
    assert model.score({"x": [1.0]})["y"][0] == pytest.approx(11.0)
    with pytest.raises(DocumentError, match="PMSERVE_MAX_EXPRESSION_DEPTH"):
        pmml.load(nested_apply(10), Limits(max_expression_depth=10))


def test_a_derived_field_chain_is_bounded_once_and_clearly() -> None:
    """A chain past the limit is reported once, naming the first field too deep."""
    model = pmml.load(chain(10), Limits(max_derived_depth=10))
    assert model.score({"x": [1.0]})["y"][0] == pytest.approx(2.0)
    with pytest.raises(DocumentError, match=r"^DerivedField \(line \d+\): DerivedField 'd10' is computed through 11 "):
        pmml.load(chain(30), Limits(max_derived_depth=10))


def test_a_spent_time_budget_stops_loading() -> None:
    """Past its deadline a load stops with an error naming PMSERVE_DEPLOY_TIMEOUT_S."""
    with pytest.raises(DeadlineExceeded, match="PMSERVE_DEPLOY_TIMEOUT_S"):
        pmml.load(regression(), Limits(deadline=time.monotonic() - 1))


def test_a_field_the_mining_schema_does_not_list_is_a_load_error() -> None:
    """Reading a DataField outside the MiningSchema is refused at load, not a KeyError when scoring."""
    doc = regression().replace(b'<MiningField name="x"/>', b"")
    with pytest.raises(DocumentError, match="field 'x' is a DataField that the model's MiningSchema does not list"):
        pmml.load(doc)


@pytest.mark.parametrize(("field", "value"), [("max_depth", 4096), ("max_attributes", 0)])
def test_limits_refuse_impossible_values(field: str, value: int) -> None:
    """A limit below 1, or a depth beyond libxml2's own, is a programming error."""
    with pytest.raises(ValueError, match=field):
        Limits(**{field: value})
