"""Model nuggets whose model is PMML, scored by pmserve's engine (format §3.7, §4, §8.2).

The model is the nugget's own (never a builder's copy, ``modelBuilderContainer``): the blob its
``properties/model/@pmml`` names, its ``container`` blobs, its Modeler 18 ``contentContainers``,
or PMML inline in a property.  The fields it appends are its ``model/outputs`` exactly
(``$N-Drug``, ``$NC-Drug``, numbered prefixes when a stream holds several nuggets): each output
becomes an ``OutputField`` of the document (role ``predictedValue`` → the prediction,
``probability`` → the confidence or a category's probability), so the engine computes precisely
those columns.  Nuggets whose model is not PMML (Spark MLlib containers, Python/R extensions,
time-series component XML) are refused by name.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from lxml import etree

from pmserve import pmml
from pmserve.errors import (
    DocumentError,
    DocumentProblems,
    InvalidMarkupError,
    PmserveError,
    UnsupportedMarkupError,
)
from pmserve.formats.spss._containers import Entry, InflateBudget, looks_like_pmml, open_container
from pmserve.formats.spss._model import Node, NodeCompiler, SpssField, StreamContext, Table
from pmserve.formats.spss.nodes._common import column_of, only_table
from pmserve.formats.spss.nodes._source import python_value, spss_field

# ExtensionApplyModelNode (Modeler 18) is claimed by the time-series module (spss.ts); its other
# extension nuggets whose content is PMML can be compiled with compile_pmml_nugget.
NUGGET_CLASSES = ("CFApplyModelNode", "ApplyC5RuleNode", "ApplyC5Node",
                  "ApplyTreeNode", "ApplyCHAIDNode", "ApplyQUESTNode", "ApplyNeuralNetworkNode",
                  "ApplyNeuralNetNode", "ApplyRegressionNode", "ApplyLogRegNode", "ApplyGeneralizedLinearNode",
                  "ApplyLinearNode", "ApplyKMeansNode", "ApplyTwoStepNode", "ApplySVMNode", "ApplyBayesNetNode",
                  "ApplyDiscriminantNode", "ApplyKNNNode", "ApplyDecisionListNode", "ApplyFactorNode",
                  "ApplyRuleNode", "ApplyKohonenNode", "ApplyAnomalyNode")
_MODEL_TAGS = frozenset({
    "AssociationModel", "AnomalyDetectionModel", "BayesianNetworkModel", "BaselineModel", "ClusteringModel",
    "GaussianProcessModel", "GeneralRegressionModel", "MiningModel", "NaiveBayesModel", "NearestNeighborModel",
    "NeuralNetwork", "RegressionModel", "RuleSetModel", "SequenceModel", "Scorecard", "SupportVectorMachineModel",
    "TextModel", "TimeSeriesModel", "TreeModel"})
# Models whose confidence is their own figure (a leaf's or a rule's), not the winning probability.
_CONFIDENCE_MODELS = frozenset({"TreeModel", "RuleSetModel", "MiningModel"})
_DATA_TYPES = {"string": "string", "integer": "integer", "real": "double", "date": "date", "time": "time",
               "timestamp": "dateTime"}
_NOT_PMML = (
    ("spark", "a Spark MLlib model container"),
    ("python", "a Python extension model"),
    ("vnd.spss.r", "an R extension model"),
    ("tscxml", "time-series component XML (TSCXML)"),
)


@dataclass(eq=False)
class ScoresPmml:
    """A node that scores a PMML model over its input and appends the model's results.

    ``fields`` are the incoming fields it keeps followed by ``outputs``, the result columns.
    """

    node: Node
    fields: tuple[SpssField, ...]
    outputs: tuple[SpssField, ...]
    model: pmml.Model

    @property
    def output_fields(self) -> tuple[SpssField, ...]:
        return self.fields

    def run(self, inputs: Sequence[Table]) -> Table:
        table = only_table(self.node, inputs)
        incoming = {f.name: f for f in table.fields}
        columns = {f.name: _engine_column(incoming[f.name], table.columns[f.name])
                   for f in self.model.input_fields if f.name in table.columns}
        try:
            scored = self.model.score(columns, errors="raise")
        except PmserveError as exc:
            exc.context.setdefault("node", self.node.describe())
            raise
        out = {f.name: table.columns[f.name] for f in self.fields if f.name in table.columns}
        for f in self.outputs:
            out[f.name] = _stream_column(f, scored[f.name])
        return Table(self.fields, out, table.n_rows)


@dataclass(eq=False)
class PmmlNugget(ScoresPmml):
    """A compiled nugget: the PMML model with the nugget's outputs as its result columns."""

    document: bytes  # the PMML as scored (the nugget's document with its outputs as OutputFields)


def _engine_column(f: SpssField, column: np.ndarray) -> np.ndarray | list[object]:
    """Dates and times travel to the engine as text it parses by the document's dataType."""
    if f.storage in ("date", "time", "timestamp"):
        return [python_value(f, v) for v in column.tolist()]
    return column


def _stream_column(f: SpssField, column: np.ndarray) -> np.ndarray:
    if f.storage in ("integer", "real"):
        if column.dtype == object:
            return column_of(f.storage, column.tolist())
        return column.astype(np.float64, copy=False)
    if f.storage == "string" and column.dtype != object:
        out = np.empty(len(column), dtype=object)
        for i, v in enumerate(column.tolist()):
            out[i] = None if v is None or (isinstance(v, float) and v != v) else _text(v)
        return out
    return column


def _text(value: object) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def nugget_documents(node: Node, context: StreamContext) -> list[Entry]:
    """Every document stored with the nugget itself (builder copies are never read)."""
    budget = InflateBudget(context.max_inflated_bytes)
    paths: list[str] = []
    model = node.element.find("properties/model")
    if model is not None and model.get("pmml"):
        paths.append(model.get("pmml", ""))
    paths += [c.get("containerData", "") for c in node.element.iterfind("container")]
    paths += [c.get("content", "") for c in node.element.iterfind("contentContainers/containers/container/content")]
    entries: list[Entry] = []
    for path in paths:
        if path and path in context.blobs:
            entries += open_container(context.blobs[path], budget, where=f"{node.describe()} blob {path}")
    props = node.element.find("properties")
    if props is not None:
        for element in props.iter():
            text = element.text or ""
            if isinstance(element.tag, str) and len(text) > 20 and looks_like_pmml(text.encode()):
                entries.append(Entry(f"property {element.tag}", "application/vnd.pmml+xml", text.encode()))
    return entries


def refusal(node: Node, entries: Sequence[Entry]) -> str | None:
    """Why a nugget's model is not PMML pmserve can score, or None when it holds PMML."""
    if _time_series(entries):
        return ("its model is a PMML TimeSeriesModel, a time-series nugget that needs the stream's time "
                "handling, which pmserve's PMML nugget does not do")
    if any(_is_pmml_entry(e) for e in entries):
        return None
    hints = " ".join([node.element.get("extensionID", ""), node.element.get("extensionObjectID", ""),
                      *(e.mime_type for e in entries)]).lower()
    for marker, what in _NOT_PMML:
        if marker in hints:
            return f"its model is {what}, not PMML"
    if any(e.content.lstrip()[:200].find(b"<TSCXML") >= 0 for e in entries):
        return "its model is time-series component XML (TSCXML), not PMML"
    return "it holds no PMML model (pmserve scores PMML nuggets)"


def _time_series(entries: Sequence[Entry]) -> bool:
    return any(b"<TimeSeriesModel" in e.content for e in entries if _is_pmml_entry(e))


def _is_pmml_entry(entry: Entry) -> bool:
    return "stat+xml" not in entry.mime_type and _root_tag(entry.content) == "PMML"


def _root_tag(content: bytes) -> str:
    if not looks_like_pmml(content):
        return ""
    try:
        for _, element in etree.iterparse(_Reader(content), events=("start",), resolve_entities=False,
                                          no_network=True, load_dtd=False):
            return str(etree.QName(element).localname)
    except etree.XMLSyntaxError:
        return ""
    return ""


class _Reader:
    """A file-like view of bytes for ``iterparse`` (which stops at the first start tag here)."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def read(self, size: int = -1) -> bytes:
        end = len(self.data) if size < 0 else self.pos + size
        chunk = self.data[self.pos:end]
        self.pos = end
        return chunk


def compile_pmml_nugget(node: Node, inputs: Sequence[tuple[SpssField, ...]],
                        context: StreamContext) -> PmmlNugget:
    if len(inputs) != 1:
        raise DocumentError(f"{node.describe()} takes exactly one input, the stream links {len(inputs)} to it",
                            node=node.describe())
    incoming = inputs[0]
    entries = nugget_documents(node, context)
    reason = refusal(node, entries)
    if reason is not None:
        raise UnsupportedMarkupError(f"{node.describe()} cannot be scored: {reason}",
                                     element=node.class_name, node=node.describe())
    pmml_entries = [e for e in entries if _is_pmml_entry(e)]
    document = pmml_entries[0].content
    outputs = tuple(spss_field(o) for o in node.element.iterfind("properties/model/outputs/output"))
    roles = [o.find("modelFieldInfo") for o in node.element.iterfind("properties/model/outputs/output")]
    try:
        rewritten = _with_outputs(document, outputs, roles, node)
        model = pmml.load(rewritten)
    except DocumentError as exc:
        raise with_message(exc, f"{node.describe()}: its PMML model cannot be loaded: {exc.message}",
                           node=node.describe()) from None
    if not outputs:
        outputs = tuple(_from_pmml(f) for f in model.output_fields)
    present = {f.name for f in incoming}
    missing = [f.name for f in model.input_fields if f.name not in present]
    if missing:
        raise DocumentError(
            f"{node.describe()}: its model reads field(s) {', '.join(repr(m) for m in missing)}, which do not reach "
            f"it; the fields there are {', '.join(repr(f.name) for f in incoming)}",
            node=node.describe(), field=missing[0])
    kept = tuple(f for f in incoming if f.name not in {o.name for o in outputs})
    return PmmlNugget(node, (*kept, *outputs), outputs, model, rewritten)


def with_message(exc: DocumentError, message: str, **context: Any) -> DocumentError:
    """The same kind of document error with a message that says where (several problems: one error)."""
    if isinstance(exc, DocumentProblems):
        kind: type[DocumentError] = UnsupportedMarkupError if exc.unsupported else InvalidMarkupError
        return kind(message, **{**exc.context, **context})
    return type(exc)(message, **{**exc.context, **context})


def _from_pmml(f: pmml.Field) -> SpssField:
    storage = {"string": "string", "integer": "integer", "boolean": "string"}.get(f.data_type.value, "real")
    if f.data_type.value.startswith("date"):
        storage = "date" if f.data_type.value.startswith("dateDays") or f.data_type.value == "date" else "timestamp"
    measure = "range" if f.optype == "continuous" else "set"
    return SpssField(f.name, storage, measure, "out", tuple(f.values))


def _with_outputs(document: bytes, outputs: Sequence[SpssField], roles: Sequence[etree._Element | None],
                  node: Node) -> bytes:
    """The document with its model's ``Output`` replaced by the nugget's outputs (none: unchanged)."""
    root, model = _the_model(document, node)
    if not outputs:
        return document
    namespace = etree.QName(root).namespace

    def tag(local: str) -> str:
        return f"{{{namespace}}}{local}" if namespace else local

    targets = [m.get("name", "") for m in model.iterfind(tag("MiningSchema") + "/" + tag("MiningField"))
               if m.get("usageType") in ("predicted", "target")]
    output = etree.Element(tag("Output"))
    for f, info in zip(outputs, roles, strict=True):
        attributes = _output_field(f, info, etree.QName(model).localname, node)
        target = "" if info is None else info.get("targetField", "")
        if target and len(targets) > 1:
            attributes["targetField"] = target
        output.append(etree.Element(tag("OutputField"), attributes))
    for old in model.findall(tag("Output")):
        model.remove(old)
    schema = model.find(tag("MiningSchema"))
    if schema is None:
        raise DocumentError(f"{node.describe()}: its PMML model has no MiningSchema", node=node.describe())
    schema.addnext(output)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def _the_model(document: bytes, node: Node) -> tuple[etree._Element, etree._Element]:
    """The parsed PMML (no DTD, no entities) and its one model element."""
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=True,
                             remove_comments=True, remove_pis=True)
    try:
        root = etree.fromstring(document, parser=parser)
    except etree.XMLSyntaxError as exc:
        raise DocumentError(f"{node.describe()}: its PMML is not well-formed XML: {exc.msg}",
                            node=node.describe()) from None
    tree = root.getroottree()
    if tree.docinfo.internalDTD is not None or tree.docinfo.doctype:
        raise DocumentError(f"{node.describe()}: its PMML declares a DTD (entities are refused)", node=node.describe())
    models = [c for c in root if isinstance(c.tag, str) and etree.QName(c).localname in _MODEL_TAGS]
    if len(models) != 1:
        raise DocumentError(f"{node.describe()}: its PMML holds {len(models)} model elements; expected one",
                            node=node.describe())
    return root, models[0]


def _output_field(f: SpssField, info: etree._Element | None, model_tag: str, node: Node) -> dict[str, str]:
    """The attributes of the ``OutputField`` computing a nugget output, by its ``modelFieldInfo`` role."""
    role = "predictedValue" if info is None else info.get("role", "predictedValue")
    attributes = {"name": f.name, "optype": "continuous" if f.measure == "range" else "categorical",
                  "dataType": _DATA_TYPES.get(f.storage, "string")}
    if role == "predictedValue":
        attributes["feature"] = "predictedValue"
    elif role == "probability":
        value = None if info is None else info.get("value")
        if value is not None:
            attributes.update(feature="probability", value=value)
        elif model_tag in _CONFIDENCE_MODELS and (info is None or info.get("tag") == "confidence"):
            attributes["feature"] = "confidence"
        else:
            attributes["feature"] = "probability"
    elif role in ("standardError", "residual", "clusterId", "entityId", "affinity"):
        attributes["feature"] = role
    else:
        raise UnsupportedMarkupError(
            f"{node.describe()}: output {f.name!r} has role {role!r}, which pmserve cannot compute from PMML",
            element="modelFieldInfo", node=node.describe(), field=f.name)
    return attributes


_COMPILER: NodeCompiler = compile_pmml_nugget
COMPILERS: Mapping[str, NodeCompiler] = dict.fromkeys(NUGGET_CLASSES, _COMPILER)
