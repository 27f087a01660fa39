"""The SPSS metadata XML that ``GET /pm/v1/metadata/{id}`` returns, built from a model's fields.

Shapes follow the wire reference §2.6: namespace ``http://spss.ibm.com/meta/internal``, one
``<table>`` per input table, storage types and measurement levels in SPSS's vocabulary.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from xml.sax.saxutils import escape

from pmserve.pmml import DataType, Field

NAMESPACE = "http://spss.ibm.com/meta/internal"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
INPUT_LABEL = "Model Score Input Metadata: "
OUTPUT_LABEL = " Model Score Output Metadata: "
OUTPUT_TABLE = "Table"
_DECLARATION = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'

_STORAGE = {
    DataType.STRING: "STRING",
    DataType.INTEGER: "LONG",
    DataType.FLOAT: "DOUBLE",
    DataType.DOUBLE: "DOUBLE",
    # SPSS has no boolean storage: flags are stored as strings ("T"/"F", "true"/"false").
    DataType.BOOLEAN: "STRING",
    DataType.DATE: "DATE",
    DataType.TIME: "TIME",
    DataType.DATE_TIME: "TIMESTAMP",
    DataType.TIME_SECONDS: "TIME",
}


def storage_type(data_type: DataType) -> str:
    if data_type in _STORAGE:
        return _STORAGE[data_type]
    # dateDaysSince[Y] / dateTimeSecondsSince[Y] are dates and timestamps counted from year Y.
    return "DATE" if data_type.value.startswith("dateDaysSince") else "TIMESTAMP"


def measurement_level(field: Field) -> str:
    if field.optype == "continuous":
        return "CONTINUOUS"
    if field.optype == "ordinal":
        return "ORDINAL"
    # A categorical field with exactly two valid values is what SPSS calls a flag.
    return "FLAG" if len(field.values) == 2 else "NOMINAL"


def tables_document(tablename: str, inputs: Sequence[Field],
                    tables: Sequence[tuple[str, Sequence[Field]]] = ()) -> str:
    """The plain metadata document: one table of the model's input fields, or one per stream source."""
    body = "".join(_table(name, fields) for name, fields in (tables or [(tablename, inputs)]))
    return f'{_DECLARATION}<metadata xmlns="{NAMESPACE}">{body}</metadata>'


def _table(tablename: str, inputs: Sequence[Field]) -> str:
    fields = "".join(
        f"<field name={quoteattr(f.name)} storageType=\"{storage_type(f.data_type)}\" "
        f"measurementLevel=\"{measurement_level(f)}\"/>" for f in inputs)
    return f"<table name={quoteattr(tablename)}>{fields}</table>"


def score_document(model_id: str, tablename: str, inputs: Sequence[Field], outputs: Sequence[Field],
                   reply: Sequence[Field] | None = None) -> str:
    """The ``metadatatype=score`` text: input and output documents glued with IBM's labels.

    The output table is the inputs then the results, or ``reply`` (what a stream's terminal shows).
    """
    shown = [*inputs, *outputs] if reply is None else reply
    return (INPUT_LABEL + _node_document(model_id, "input", tablename, inputs)
            + OUTPUT_LABEL + _node_document(model_id, "output", OUTPUT_TABLE, shown))


def _node_document(model_id: str, role: str, tablename: str, fields: Sequence[Field]) -> str:
    body = "".join(
        f"<field measurementLevel=\"{measurement_level(f)}\" storageType=\"{storage_type(f.data_type)}\" "
        f"name={quoteattr(f.name)}/>" for f in fields)
    return (f'{_DECLARATION}<metadata xmlns="{NAMESPACE}">'
            f'<table xsi:type="nodeImpl" tag="{_node_tag(model_id, role)}" name={quoteattr(tablename)} '
            f'xmlns:xsi="{XSI}">{body}</table></metadata>')


def quoteattr(value: str) -> str:
    """Always double-quoted (as SPSS writes it), with every special escaped."""
    return '"' + escape(value, {'"': "&quot;"}) + '"'


def _node_tag(model_id: str, role: str) -> str:
    """A stable Modeler-style node id ("id" + 9 characters) for the model's input/output node."""
    digest = hashlib.sha256(f"{model_id}\0{role}".encode()).hexdigest().upper()
    return "id" + digest[:9]
