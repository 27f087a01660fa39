"""The node registry and the nodes that change metadata or columns but no values: Type, Filter,
Table and Balance."""

from __future__ import annotations

import pickle

import pytest

from pmserve.errors import DocumentError, InvalidValueError, UnsupportedMarkupError
from pmserve.formats.spss._model import Node
from pmserve.formats.spss.nodes import NODE_COMPILERS, compile_node
from pmserve.formats.spss.nodes._registry import merge_compilers
from pmserve.formats.spss.nodes._type import compile_type

from ._node_xml import CONTEXT, fields, make_node, table, values

FILTER_XML = """<filterTable><defaultDrop>false</defaultDrop><rows>
<row><name>Drug</name><drop>true</drop></row>
<row><name>Na</name><drop>false</drop><newName>Sodium</newName></row>
<row><name>absent</name><drop>true</drop></row>
</rows><fieldGroups><newNames/><droppedNames/><groups/></fieldGroups></filterTable>"""


def test_an_unknown_node_class_is_refused_naming_label_class_and_id() -> None:
    """A node no module registers is refused with its label, class and diagram id."""
    node = make_node("MergeNode", "", label="join them", node_id="12")
    with pytest.raises(UnsupportedMarkupError, match=r"'join them'.*MergeNode.*id 12"):
        compile_node(node, [fields(a="real")], CONTEXT)


def test_registering_a_node_class_twice_is_an_error() -> None:
    """Two modules registering one class fail at import, not silently."""
    with pytest.raises(ValueError, match="TypeNode is registered twice"):
        merge_compilers([{"TypeNode": compile_type}, {"TypeNode": compile_type}])


def test_the_registry_is_keyed_by_class_without_package() -> None:
    """Keys are bare class names, and the registry cannot be changed by a caller."""
    assert {"TypeNode", "FilterNode", "TableNode", "BalanceNode"} <= set(NODE_COMPILERS)
    with pytest.raises(ValueError, match="without its package"):
        merge_compilers([{"com.spss.X": compile_type}])
    with pytest.raises(TypeError):
        NODE_COMPILERS["X"] = compile_type  # type: ignore[index]


def test_filter_drops_and_renames_and_ignores_rows_for_absent_fields() -> None:
    """Dropped fields leave, renamed ones keep their column, rows for absent fields change nothing."""
    node = make_node("FilterNode", FILTER_XML)
    f = fields(Age="integer", Na="real", Drug="string")
    compiled = compile_node(node, [f], CONTEXT)
    assert [x.name for x in compiled.output_fields] == ["Age", "Sodium"]
    assert compiled.output_fields[1].storage == "real"
    out = compiled.run([table(f, {"Age": [20, 30], "Na": [0.5, None], "Drug": ["a", "b"]})])
    assert list(out.columns) == ["Age", "Sodium"]
    assert values(out, "Sodium") == [0.5, None]


def test_filter_with_default_drop_keeps_only_fields_it_names_as_kept() -> None:
    """``defaultDrop`` true drops every field the table does not keep explicitly."""
    xml = ("<filterTable><defaultDrop>true</defaultDrop><rows>"
           "<row><name>K</name><drop>false</drop></row></rows></filterTable>")
    compiled = compile_node(make_node("FilterNode", xml), [fields(Age="integer", K="real")], CONTEXT)
    assert [x.name for x in compiled.output_fields] == ["K"]


def test_filter_refuses_two_fields_renamed_to_one_name() -> None:
    """A rename onto a kept field's name is a document error naming the node."""
    xml = "<filterTable><rows><row><name>a</name><newName>b</newName></row></rows></filterTable>"
    with pytest.raises(DocumentError, match=r"node 'Filter' \(FilterNode, id 7\) gives two fields the name 'b'"):
        compile_node(make_node("FilterNode", xml), [fields(a="real", b="real")], CONTEXT)


TYPE_XML = """<typeTable><defaultValueMode>read</defaultValueMode><rows>
<row><name>Age</name><valueMode>computed</valueMode><type><storage>integer</storage><measure>range</measure>
<values><value type="J">15</value><value type="J">74</value></values></type>{age_check}</row>
<row><name>Sex</name><valueMode>computed</valueMode><type><storage>string</storage><measure>flag</measure>
<values><value type="A">F</value><value type="A">M</value></values></type><direction>in</direction>{sex_check}</row>
<row><name>Drug</name><type><storage>string</storage><measure>set</measure><values/></type>
<direction>out</direction></row>
<row><name>Class</name><measure>flag</measure><valueMode>local</valueMode><type><storage>integer</storage>
<measure>range</measure><values><value type="J">0</value><value type="J">1</value></values></type></row>
</rows></typeTable>"""


def _type_node(age_check: str = "", sex_check: str = "") -> Node:
    return make_node("TypeNode", TYPE_XML.format(
        age_check=f"<check>{age_check}</check>" if age_check else "",
        sex_check=f"<check>{sex_check}</check>" if sex_check else "",
    ))


def test_type_sets_measure_role_and_values_of_real_fields_only() -> None:
    """Rows naming absent fields are ignored; storage stays as it came; a row-level measure wins."""
    f = fields(Age="integer", Sex="string", Class="integer", Na="real")
    compiled = compile_node(_type_node(), [f], CONTEXT)
    by_name = {x.name: x for x in compiled.output_fields}
    assert list(by_name) == ["Age", "Sex", "Class", "Na"]
    assert (by_name["Age"].measure, by_name["Age"].values) == ("range", (15.0, 74.0))
    assert (by_name["Sex"].measure, by_name["Sex"].role, by_name["Sex"].values) == ("flag", "in", ("F", "M"))
    assert by_name["Class"].measure == "flag"
    assert by_name["Na"] == f[3]
    data = table(f, {"Age": [10, 80], "Sex": ["F", "X"], "Class": [0, 1], "Na": [1.0, 2.0]})
    out = compiled.run([data])
    assert values(out, "Age") == [10.0, 80.0]  # no check asked: values pass unchanged


@pytest.mark.parametrize(
    ("check", "ages", "sexes", "n_rows"),
    [
        ("Nullify", [None, 30.0, None], ["F", "M", "X"], 3),
        ("Coerce", [15.0, 30.0, 74.0], ["F", "M", "X"], 3),
        ("Discard", [30.0], ["M"], 1),
        ("Warn", [10.0, 30.0, 80.0], ["F", "M", "X"], 3),
        ("None", [10.0, 30.0, 80.0], ["F", "M", "X"], 3),
    ],
)
def test_type_value_checks_on_a_range(check: str, ages: list[float | None], sexes: list[str], n_rows: int) -> None:
    """Out-of-range values are nulled, clipped to the bounds, or their records dropped."""
    f = fields(Age="integer", Sex="string")
    compiled = compile_node(_type_node(age_check=check), [f], CONTEXT)
    out = compiled.run([table(f, {"Age": [10, 30, 80], "Sex": ["F", "M", "X"]})])
    assert out.n_rows == n_rows
    assert values(out, "Age") == ages
    assert values(out, "Sex") == sexes


def test_type_coerce_gives_a_flag_its_false_value_and_keeps_nulls() -> None:
    """A value outside a flag's two values becomes the false (first) value; nulls are left alone."""
    f = fields(Sex="string")
    compiled = compile_node(_type_node(sex_check="Coerce"), [f], CONTEXT)
    out = compiled.run([table(f, {"Sex": ["M", "X", None]})])
    assert values(out, "Sex") == ["M", "F", None]


def test_type_abort_check_fails_the_request_naming_field_and_row() -> None:
    """Abort raises a data error with the field, value and row."""
    f = fields(Age="integer")
    compiled = compile_node(_type_node(age_check="Abort"), [f], CONTEXT)
    with pytest.raises(InvalidValueError, match=r"value 80\.0 of field 'Age'") as info:
        compiled.run([table(f, {"Age": [30, 80]})])
    assert info.value.row == 1


def test_type_refuses_an_unknown_check() -> None:
    """A check name Modeler does not have is a document error naming node and field."""
    with pytest.raises(DocumentError, match="field 'Age' asks for the value check 'explode'"):
        compile_node(_type_node(age_check="Explode"), [fields(Age="integer")], CONTEXT)


@pytest.mark.parametrize("class_name", ["TableNode", "BalanceNode", "PartitionNode"])
def test_pass_through_nodes_change_nothing(class_name: str) -> None:
    """Table, Balance and Partition pass every record and every field as they came."""
    f = fields(a="real", b="string")
    compiled = compile_node(make_node(class_name, ""), [f], CONTEXT)
    data = table(f, {"a": [1.0, None], "b": ["x", None]})
    out = compiled.run([data])
    assert compiled.output_fields == f
    assert out.n_rows == 2
    assert values(out, "a") == [1.0, None]
    assert values(out, "b") == ["x", None]


def test_a_one_input_node_refuses_two_inputs() -> None:
    """Fan-in into a node that takes one input is a document error naming the node."""
    with pytest.raises(DocumentError, match=r"node 'Table' \(TableNode, id 7\) takes exactly one input"):
        compile_node(make_node("TableNode", ""), [fields(a="real"), fields(a="real")], CONTEXT)


def test_compiled_nodes_pickle() -> None:
    """A compiled node survives a pickle round trip and still runs."""
    f = fields(Age="integer", Na="real", Drug="string")
    compiled = compile_node(make_node("FilterNode", FILTER_XML), [f], CONTEXT)
    again = pickle.loads(pickle.dumps(compiled))
    out = again.run([table(f, {"Age": [1], "Na": [2.0], "Drug": ["x"]})])
    assert list(out.columns) == ["Age", "Sodium"]
