"""Stage 1: read a PMML document into small immutable :class:`~pmserve.pmml.document.element.Element`
nodes (:func:`parse`), within a size limit (:func:`read_bytes`).

Large tree ensembles hold hundreds of thousands of Nodes, and one Python object per element costs
more than everything else in loading them.  So a TreeModel's Node hierarchy written in the plain
shape every producer uses (Node, True, False, SimplePredicate, ScoreDistribution; attributes in
double quotes, no entities, one tag a line) is read in bulk: numpy scans the bytes, checks them
against that strict subset of XML, and records every element's kind, owner, line and attribute
spans in a ``NodeTable`` (:mod:`~pmserve.pmml.document.node_table`).  The rest of the document is
parsed by lxml as before, with each such hierarchy cut out, and the TreeModel gets a
``NodeHierarchy`` element in its place whose children are built (by lxml) only when something asks
for them.  Anything outside the subset is left to lxml, so what is accepted, refused and reported
is unchanged.  (One difference: a bulk-read element's line is exact, where libxml2 may report
elements past line 65535 one line late, depending on the whitespace around them.)
"""

from __future__ import annotations

import gzip
import io
import os
from pathlib import Path
from typing import IO, Any

from pmserve.errors import InvalidMarkupError
from pmserve.pmml.document.element import STAND_IN_TAG, Element, convert, local_name, parse_xml
from pmserve.pmml.document.limits import DEFAULT_LIMITS, Limits, too_deep, too_many_elements
from pmserve.pmml.document.node_table import NodeHierarchy, NodeTable, find_node_tables

#: Largest document accepted (uncompressed), in bytes.
MAX_DOCUMENT_BYTES = 512 * 1024 * 1024


_GZIP_MAGIC = b"\x1f\x8b"


#: The model elements of PMML 4.4, supported or not (a document holds one or more of them).
MODEL_TAGS = (
    "AnomalyDetectionModel", "AssociationModel", "BayesianNetworkModel", "BaselineModel",
    "ClusteringModel", "GaussianProcessModel", "GeneralRegressionModel", "MiningModel", "NaiveBayesModel",
    "NearestNeighborModel", "NeuralNetwork", "RegressionModel", "RuleSetModel", "SequenceModel", "Scorecard",
    "SupportVectorMachineModel", "TextModel", "TimeSeriesModel", "TreeModel",
)


def read_bytes(source: bytes | str | os.PathLike[str] | IO[bytes], limits: Limits = DEFAULT_LIMITS) -> bytes:
    """The document's bytes from bytes, a path or a binary file object; gzip is undone.

    The decompressed size is bounded by ``limits.max_document_bytes`` while it is inflated.
    """
    cap = min(MAX_DOCUMENT_BYTES, limits.max_document_bytes)
    if isinstance(source, bytes):
        data = source
    elif isinstance(source, (str, os.PathLike)):
        data = Path(source).read_bytes()
    elif hasattr(source, "read"):
        data = source.read()
        if not isinstance(data, bytes):
            raise InvalidMarkupError("expected a binary file object, got one that reads text")
    else:
        raise InvalidMarkupError(f"expected bytes, a path or a binary file object, got {type(source).__name__}")
    if data[:2] == _GZIP_MAGIC:
        try:
            with gzip.GzipFile(fileobj=io.BytesIO(data)) as gz:
                data = gz.read(cap + 1)
        except (OSError, EOFError) as exc:
            raise InvalidMarkupError(f"the gzip-compressed document cannot be decompressed: {exc}") from None
    if len(data) > cap:
        raise InvalidMarkupError(f"the document is larger than {cap} bytes (PMSERVE_MAX_UPLOAD_MB)")
    return data


def parse(source: bytes | str | os.PathLike[str] | IO[bytes], *, bulk: bool = True,
          limits: Limits = DEFAULT_LIMITS) -> Element:
    """Parse a PMML document (plain or gzip-compressed) into its root :class:`Element`.

    ``bulk=False`` reads every element with lxml (the reference the bulk path is tested against).
    Nesting depth, attributes per element and elements per document are bounded by ``limits``
    (one rule whatever the document's size), each checked before the element is converted.
    """
    data = read_bytes(source, limits)
    if not data or data.isspace():  # (strip() would copy the whole document)
        raise InvalidMarkupError("the document is empty; expected a PMML XML document")
    tables = find_node_tables(data, limits.max_depth) if bulk else []
    if tables:
        root = _parse_skeleton(data, tables, limits)
        if root is not None:
            return root
    limits.check_deadline("parsing")
    return convert(parse_xml(data, limits), limits=limits)


def _parse_skeleton(data: bytes, tables: list[NodeTable], limits: Limits = DEFAULT_LIMITS) -> Element | None:
    """The document with each bulk-read hierarchy replaced by a stand-in; None: read it all with lxml."""
    pieces: list[bytes] = []
    prev = 0
    for k, t in enumerate(tables):
        # The stand-in keeps the hierarchy's newlines, so every later element keeps its line.
        pieces += [data[prev:t.start], b'<%s n="%d"/>' % (STAND_IN_TAG.encode(), k),
                   b"\n" * data.count(b"\n", t.start, t.end)]
        prev = t.end
    pieces.append(data[prev:])
    try:
        root = parse_xml(b"".join(pieces), limits)
    except InvalidMarkupError:
        return None  # lxml reports the document's own error, with its line
    used: set[int] = set()
    try:
        out = convert(root, limits=limits,
                      stand_in=lambda el, depth, budget: _hierarchy(el, tables, used, depth, limits, budget))
    except _NotBulk:
        return None
    return out if len(used) == len(tables) else None


class _NotBulk(Exception):
    """A stand-in ended up somewhere a TreeModel's root Node cannot be (in a comment, an Extension)."""


def _hierarchy(el: Any, tables: list[NodeTable] | None, used: set[int], depth: int = 1,
               limits: Limits = DEFAULT_LIMITS, budget: list[int] | None = None) -> Element:
    parent = el.getparent()
    text = el.get("n") or ""
    if tables is None or parent is None or local_name(parent.tag) != "TreeModel" or not text.isdigit():
        raise _NotBulk
    k = int(text)
    if k >= len(tables) or k in used or len(el) or len(el.attrib) != 1:
        raise _NotBulk
    used.add(k)
    t = tables[k]
    if depth + t.depth - 1 > limits.max_depth:
        raise too_deep(depth + t.depth - 1, limits, line=t.line)
    if budget is not None:  # every row of the table is an element of the document
        budget[0] -= len(t.kind)
        if budget[0] < 0:
            raise too_many_elements(limits)
    out = NodeHierarchy("Node", dict(t.root_attrs), (), t.root_text, t.line)
    out.__dict__["table"] = t
    return out
