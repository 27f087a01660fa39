"""Auto Data Prep: the PMML transformations its analysis stored, run by pmserve's engine.

The node keeps its analysis inline, as a PMML document in its ``analysisPmml`` attribute
(format §8.2): a DataDictionary of the fields it read and a TransformationDictionary of the
fields it makes (``tenure_transformed`` = z-score, ``gender_transformed`` = MapValues, …), each
marked with Modeler's ``Extension/UsageType``.  At scoring time the node appends every enabled
DerivedField and drops the fields the analysis disabled (the originals it replaced); fields it
did not analyse pass through, as the Filter downstream of the sample's node expects
(db2-customer-satisfaction-prediction.str).

The derived fields are computed by wrapping the TransformationDictionary into a document whose
model is a constant regression and whose Output asks for each field's ``transformedValue``;
input values outside the analysis' valid values are taken as they are (``asIs``), so a MapValues
gives its default or missing value as PMML says.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from lxml import etree

from pmserve import pmml
from pmserve.errors import DocumentError, UnsupportedMarkupError
from pmserve.formats.spss._model import Node, NodeCompiler, SpssField, StreamContext
from pmserve.formats.spss.nodes._nugget import ScoresPmml

_STORAGE = {"string": "string", "integer": "integer", "double": "real", "float": "real", "boolean": "string",
            "date": "date", "dateTime": "timestamp", "time": "time"}
_TARGET = "__pmserve_adp_constant"


@dataclass(eq=False)
class AutoDataPrep(ScoresPmml):
    """A compiled Auto Data Prep node: its analysis PMML's derived fields are its ``outputs``."""


def compile_auto_data_prep(node: Node, inputs: Sequence[tuple[SpssField, ...]],
                           context: StreamContext) -> AutoDataPrep:
    if len(inputs) != 1:
        raise DocumentError(f"{node.describe()} takes exactly one input, the stream links {len(inputs)} to it",
                            node=node.describe())
    text = node.element.get("analysisPmml", "")
    if not text.strip():
        raise UnsupportedMarkupError(f"{node.describe()} holds no analysis (analysisPmml is empty): run the node "
                                     f"in Modeler before deploying", node=node.describe(), element=node.class_name)
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, remove_comments=True,
                             remove_pis=True)
    try:
        root = etree.fromstring(text.encode("utf-8"), parser=parser)
    except etree.XMLSyntaxError as exc:
        raise DocumentError(f"{node.describe()}: its analysis PMML is not well-formed: {exc.msg}",
                            node=node.describe()) from None
    namespace = etree.QName(root).namespace or ""

    def tag(local: str) -> str:
        return f"{{{namespace}}}{local}" if namespace else local

    dictionary = root.find(tag("DataDictionary"))
    transformations = root.find(tag("TransformationDictionary"))
    if dictionary is None or transformations is None:
        raise DocumentError(f"{node.describe()}: its analysis PMML lacks a DataDictionary or "
                            f"TransformationDictionary", node=node.describe())
    disabled = {f.get("name", "") for f in dictionary.iterfind(tag("DataField")) if _usage(f, tag) == "disable"}
    enabled = [d for d in transformations.iterfind(tag("DerivedField")) if _usage(d, tag) == "enable"]
    incoming = inputs[0]
    present = {f.name for f in incoming}
    derived = tuple(SpssField(d.get("name", ""), _STORAGE.get(d.get("dataType", ""), "real"),
                              "range" if d.get("optype") == "continuous" else "set", "in") for d in enabled)
    document = _document(root, dictionary, transformations, enabled, present, tag)
    try:
        model = pmml.load(document)
    except DocumentError as exc:
        raise type(exc)(f"{node.describe()}: its analysis cannot be run: {exc.message}",
                        node=node.describe()) from None
    missing = [f.name for f in model.input_fields if f.name not in present]
    if missing:
        raise DocumentError(f"{node.describe()}: its analysis reads field(s) {', '.join(map(repr, missing))}, "
                            f"which do not reach it", node=node.describe(), field=missing[0])
    names = {f.name for f in derived}
    kept = tuple(f for f in incoming if f.name not in disabled and f.name not in names)
    return AutoDataPrep(node, (*kept, *derived), derived, model)


def _usage(element: etree._Element, tag: Callable[[str], str]) -> str:
    for extension in element:
        if not isinstance(extension.tag, str) or etree.QName(extension).localname != "Extension":
            continue
        for child in extension:
            if isinstance(child.tag, str) and etree.QName(child).localname == "UsageType":
                return child.get("value", "")
    return ""


def _document(root: etree._Element, dictionary: etree._Element, transformations: etree._Element,
              enabled: Sequence[etree._Element], present: set[str], tag: Callable[[str], str]) -> bytes:
    """The analysis as a scorable document: a constant model whose outputs are the derived fields."""
    doc = etree.Element(root.tag, {"version": root.get("version", "4.2")})
    doc.append(etree.Element(tag("Header")))
    new_dictionary = etree.SubElement(doc, tag("DataDictionary"))
    inputs = [f for f in dictionary.iterfind(tag("DataField")) if f.get("name") in present]
    for field in inputs:
        new_dictionary.append(_copy(field))
    etree.SubElement(new_dictionary, tag("DataField"), name=_TARGET, optype="continuous", dataType="double")
    doc.append(_copy(transformations))
    model = etree.SubElement(doc, tag("RegressionModel"), functionName="regression")
    schema = etree.SubElement(model, tag("MiningSchema"))
    for field in inputs:
        etree.SubElement(schema, tag("MiningField"), name=field.get("name", ""), invalidValueTreatment="asIs")
    etree.SubElement(schema, tag("MiningField"), name=_TARGET, usageType="predicted")
    output = etree.SubElement(model, tag("Output"))
    for derived in enabled:
        out = etree.SubElement(output, tag("OutputField"), name=derived.get("name", ""), feature="transformedValue",
                               dataType=derived.get("dataType", "double"), optype=derived.get("optype", "continuous"))
        etree.SubElement(out, tag("FieldRef"), field=derived.get("name", ""))
    etree.SubElement(model, tag("RegressionTable"), intercept="0")
    return etree.tostring(doc, xml_declaration=True, encoding="UTF-8")


def _copy(element: etree._Element) -> etree._Element:
    return etree.fromstring(etree.tostring(element))


_COMPILER: NodeCompiler = compile_auto_data_prep
COMPILERS: Mapping[str, NodeCompiler] = {"AutoDataPrepNode": _COMPILER}
