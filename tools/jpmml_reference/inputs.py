"""Input records for the JPMML reference run: read from the corpus, or drawn from the PMML document.

Standard library only, so the generator's input side does not depend on the peer virtualenv.
Every value handed to JPMML is a string (or a list of strings for a transactional item field),
exactly as it is written to a generated ``input.csv``; ``None`` is a missing value.
"""

from __future__ import annotations

import csv
import io
import json
import random
import xml.etree.ElementTree as ET
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

Value = str | list[str] | None

# Cells the corpus harnesses read as missing (JPMML's *NA datasets and R's write.csv).
MISSING_MARKERS = frozenset({"", "NA", "N/A"})

# Generated values of continuous fields are rounded so that the stored input.csv stays readable;
# JPMML parses exactly the rounded string that is stored.
DECIMALS = 4

# Most generated rows are complete, so that a reference output exists for them; the rest test
# missing-value handling one field at a time.
MISSING_ROW_RATE = 0.25
MISSING_TWO_RATE = 0.05


class InputProblem(Exception):
    """The case's input cannot be mapped onto the model's input fields."""


@dataclass(frozen=True)
class Records:
    """A batch of records in column form plus a description of where it came from (for meta.json)."""

    columns: tuple[str, ...]
    data: tuple[tuple[Value, ...], ...]  # one tuple per column
    source: dict[str, object]

    @property
    def row_count(self) -> int:
        return len(self.data[0]) if self.data else 0


@dataclass
class FieldInfo:
    """What the document says about one field: types, valid values, intervals, values it is tested on."""

    name: str
    data_type: str = "string"
    optype: str = "categorical"
    values: list[str] = field(default_factory=list)
    intervals: list[tuple[float | None, float | None]] = field(default_factory=list)
    anchors: list[float] = field(default_factory=list)
    seen: list[str] = field(default_factory=list)


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]


def _children(element: ET.Element, tag: str) -> Iterator[ET.Element]:
    return (child for child in element if _local(child.tag) == tag)


def _float(text: str | None) -> float | None:
    if text is None:
        return None
    try:
        number = float(text)
    except ValueError:
        return None
    return number if number == number and abs(number) != float("inf") else None


def _array_tokens(array: ET.Element) -> list[str]:
    # PMML Array content: whitespace-separated tokens, strings may be double-quoted (PMML 4.4, "Array").
    text = (array.text or "").strip()
    reader = csv.reader(io.StringIO(text), delimiter=" ", quotechar='"', skipinitialspace=True)
    return [token for row in reader for token in row if token != ""]


class Document:
    """The parts of a PMML document the input side needs: DataDictionary, top model, value hints."""

    def __init__(self, path: Path) -> None:
        self.root = ET.parse(path).getroot()
        self.fields: dict[str, FieldInfo] = {}
        self.field_order: list[str] = []
        for data_field in self._iter("DataField"):
            info = FieldInfo(
                name=data_field.get("name", ""),
                data_type=data_field.get("dataType", "string"),
                optype=data_field.get("optype", "categorical"),
            )
            for value in _children(data_field, "Value"):
                if value.get("property", "valid") == "valid" and value.get("value") is not None:
                    info.values.append(value.get("value", ""))
            for interval in _children(data_field, "Interval"):
                info.intervals.append(
                    (_float(interval.get("leftMargin")), _float(interval.get("rightMargin")))
                )
            self.fields[info.name] = info
            self.field_order.append(info.name)
        self._collect_hints()

    def _iter(self, tag: str) -> Iterator[ET.Element]:
        return (element for element in self.root.iter() if _local(element.tag) == tag)

    def top_model(self) -> ET.Element | None:
        skip = {"Header", "DataDictionary", "TransformationDictionary", "MiningBuildTask", "Extension"}
        return next((child for child in self.root if _local(child.tag) not in skip), None)

    def target_names(self) -> list[str]:
        model = self.top_model()
        if model is None:
            return []
        schema = next(_children(model, "MiningSchema"), None)
        if schema is None:
            return []
        return [
            mining_field.get("name", "")
            for mining_field in _children(schema, "MiningField")
            if mining_field.get("usageType") in ("target", "predicted")
        ]

    def transactional_item_field(self) -> tuple[str, list[str]] | None:
        """The item field of an AssociationModel with a group field, and the model's item values."""
        model = self.top_model()
        if model is None or _local(model.tag) != "AssociationModel":
            return None
        schema = next(_children(model, "MiningSchema"), None)
        if schema is None:
            return None
        usages = {
            mining_field.get("name", ""): mining_field.get("usageType", "active")
            for mining_field in _children(schema, "MiningField")
        }
        if "group" not in usages.values():
            return None
        active = [name for name, usage in usages.items() if usage == "active"]
        if len(active) != 1:
            return None
        items = [item.get("value", "") for item in _children(model, "Item")]
        return active[0], items

    def _hint(self, name: str | None, value: str | None) -> None:
        info = self.fields.get(name or "")
        if info is None or value is None:
            return
        number = _float(value)
        if number is not None:
            info.anchors.append(number)
        info.seen.append(value)

    def _collect_hints(self) -> None:
        # Values the document itself tests a field against: the edges where scoring changes.
        for predicate in self._iter("SimplePredicate"):
            self._hint(predicate.get("field"), predicate.get("value"))
        for predicate in self._iter("SimpleSetPredicate"):
            for array in _children(predicate, "Array"):
                for token in _array_tokens(array):
                    self._hint(predicate.get("field"), token)
        for norm in self._iter("NormDiscrete"):
            self._hint(norm.get("field"), norm.get("value"))
        for norm in self._iter("NormContinuous"):
            for linear in _children(norm, "LinearNorm"):
                self._hint(norm.get("field"), linear.get("orig"))
        for cell in self._iter("PPCell"):
            self._hint(cell.get("predictorName"), cell.get("value"))
        for bayes_input in self._iter("BayesInput"):
            for counts in _children(bayes_input, "PairCounts"):
                self._hint(bayes_input.get("fieldName"), counts.get("value"))
        for predictor in self._iter("CategoricalPredictor"):
            self._hint(predictor.get("name"), predictor.get("value"))
        self._collect_center_hints()
        self._collect_instance_hints()

    def _collect_center_hints(self) -> None:
        # Cluster centres (PMML 4.4, "ClusteringModel"): the Array is positional over ClusteringField.
        for model in self._iter("ClusteringModel"):
            names = [
                clustering_field.get("field") for clustering_field in _children(model, "ClusteringField")
            ]
            for cluster in _children(model, "Cluster"):
                for array in _children(cluster, "Array"):
                    for name, token in zip(names, _array_tokens(array), strict=False):
                        self._hint(name, token)

    def _collect_instance_hints(self) -> None:
        # KNN training instances (PMML 4.4, "KNN"): InstanceField maps a field to an InlineTable column.
        for model in self._iter("NearestNeighborModel"):
            columns: dict[str, str] = {}
            for instance_fields in self._iter("InstanceField"):
                columns[instance_fields.get("column", instance_fields.get("field", ""))] = (
                    instance_fields.get("field", "")
                )
            for row in (element for element in model.iter() if _local(element.tag) == "row"):
                for cell in row:
                    name = columns.get(_local(cell.tag))
                    if name is not None:
                        self._hint(name, (cell.text or "").strip())


def _format_number(number: float, data_type: str) -> str:
    if data_type == "integer":
        return str(round(number))
    rounded = round(number, DECIMALS)
    return repr(rounded + 0.0)  # + 0.0 turns -0.0 into 0.0


def _draw_continuous(rng: random.Random, info: FieldInfo) -> str:
    bounds = [bound for interval in info.intervals for bound in interval if bound is not None]
    anchors = sorted(set(info.anchors))
    points = anchors + bounds
    if not points:
        # Nothing to go by: half whole numbers, since documents often cast results to integer.
        number = rng.uniform(0.0, 100.0)
        return _format_number(round(number) if rng.random() < 0.5 else number, info.data_type)
    low, high = min(points), max(points)
    spread = (high - low) or max(abs(low), 1.0)
    choice = rng.random()
    if anchors and choice < 0.1:
        # Exactly on a split value: where <= and < disagree.
        number = rng.choice(anchors)
    elif anchors and choice < 0.55:
        number = rng.choice(anchors) + rng.uniform(-0.1, 0.1) * spread
    else:
        number = rng.uniform(low - 0.1 * spread, high + 0.1 * spread)
    text = _format_number(number, info.data_type)
    if bounds and not min(bounds) <= float(text) <= max(bounds):
        # Stay valid after rounding: a value outside the Interval is invalid, not what we test here.
        edge = min(bounds) if float(text) < min(bounds) else max(bounds)
        text = str(round(edge)) if info.data_type == "integer" else repr(edge)
    return text


def _fits_type(text: str, data_type: str) -> bool:
    if data_type == "integer":
        return text.lstrip("+-").isdigit()
    if data_type in ("double", "float"):
        return _float(text) is not None
    if data_type == "boolean":
        return text in ("true", "false")
    return True


def _draw_categorical(rng: random.Random, info: FieldInfo) -> str:
    # Seen values are what predicates compare the field with; keep only those valid for its type.
    candidates = info.values or sorted({text for text in info.seen if _fits_type(text, info.data_type)})
    if not candidates and info.data_type == "boolean":
        candidates = ["false", "true"]
    if not candidates and info.data_type in ("integer", "double", "float"):
        return _format_number(rng.uniform(0.0, 10.0), "integer")
    if not candidates:
        candidates = ["a", "b", "c"]
    return rng.choice(candidates)


def _missing_columns(rng: random.Random, row: int, width: int) -> set[int]:
    """Which cells of a row are missing: none in row 0, one in about a quarter of rows, rarely two."""
    if row == 0 or width == 0:
        return set()
    draw = rng.random()
    count = 2 if draw < MISSING_TWO_RATE else 1 if draw < MISSING_ROW_RATE else 0
    return set(rng.sample(range(width), min(count, width)))


def generate(document: Document, input_fields: Sequence[str], seed: str, rows: int) -> Records:
    """Draw ``rows`` records for the model's input fields from what its document says about them."""
    rng = random.Random(seed)
    transactional = document.transactional_item_field()
    columns: list[list[Value]] = [[] for _ in input_fields]
    for row in range(rows):
        missing = _missing_columns(rng, row, len(input_fields))
        for position, (column, name) in enumerate(zip(columns, input_fields, strict=True)):
            if position in missing:
                column.append(None)
                continue
            if transactional is not None and name == transactional[0]:
                items = transactional[1]
                column.append(sorted(rng.sample(items, rng.randint(1, min(4, len(items))))))
                continue
            info = document.fields.get(name, FieldInfo(name=name))
            if info.optype == "continuous" and info.data_type in ("double", "float", "integer"):
                column.append(_draw_continuous(rng, info))
            else:
                column.append(_draw_categorical(rng, info))
    source: dict[str, object] = {"source": "generated", "seed": seed, "rows": rows, "file": "input.csv"}
    if transactional is not None:
        source["collection_fields"] = {transactional[0]: "JSON array of items in one cell"}
    return Records(tuple(input_fields), tuple(tuple(column) for column in columns), source)


def _read_rows(path: Path, delimiter: str | None) -> list[list[str]]:
    # Some spark-mllib files end lines with a bare CR; normalise before csv sees them.
    text = path.read_text(encoding="utf-8-sig")
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if delimiter is None:
        first = text.split("\n", 1)[0]
        delimiter = ";" if first.count(";") > first.count(",") else ","
    return [row for row in csv.reader(io.StringIO(text), delimiter=delimiter) if row]


def _cell(text: str) -> str | None:
    return None if text.strip() in MISSING_MARKERS else text.strip()


def from_corpus_csv(path: Path, relative: str, input_fields: Sequence[str], max_rows: int) -> Records:
    """Records from a corpus input.csv with a header row, matched to the input fields by name."""
    rows = _read_rows(path, None)
    header, body = rows[0], rows[1:]
    absent = [name for name in input_fields if name not in header]
    if input_fields and len(absent) == len(input_fields):
        raise InputProblem(f"input.csv {relative} has no column for any input field {list(input_fields)}")
    used = body[:max_rows]
    # A field the file lacks (e.g. one the document declares only in its MiningSchema) is scored as missing.
    data = tuple(
        tuple(None if name in absent else _cell(row[header.index(name)]) for row in used)
        for name in input_fields
    )
    source: dict[str, object] = {
        "source": "corpus",
        "file": relative,
        "rows_in_file": len(body),
        "rows_used": len(used),
        "mapping": "by header name",
        "fields_absent_from_file_scored_as_missing": absent,
    }
    return Records(tuple(input_fields), data, source)


def from_positional_csv(
    path: Path, relative: str, document: Document, input_fields: Sequence[str], max_rows: int
) -> Records:
    """Records from a headerless corpus input.csv whose columns follow the DataDictionary order.

    The spark-mllib exporter names fields ``field_0``, ``field_1``, ... in DataDictionary order and
    appends the label as the last column, so the first columns are the active fields in that order.
    """
    targets = set(document.target_names())
    active = [name for name in document.field_order if name not in targets]
    if sorted(active) != sorted(input_fields):
        raise InputProblem(
            f"DataDictionary fields {active} (less targets {sorted(targets)}) are not the model's "
            f"input fields {list(input_fields)}, so positions cannot be mapped"
        )
    rows = _read_rows(path, None)
    widths = {len(row) for row in rows}
    expected = {len(active), len(active) + 1}
    if not widths <= expected:
        raise InputProblem(
            f"input.csv {relative} rows have {sorted(widths)} columns, expected {len(active)} active "
            f"fields, optionally followed by one label column"
        )
    for row in rows[:max_rows]:
        for text in row[: len(active)]:
            if _cell(text) is not None and _float(text) is None:
                raise InputProblem(
                    f"input.csv {relative} has non-numeric cell {text!r}: is there a header row?"
                )
    used = rows[:max_rows]
    data = tuple(tuple(_cell(row[position]) for row in used) for position in range(len(active)))
    source: dict[str, object] = {
        "source": "corpus",
        "file": relative,
        "rows_in_file": len(rows),
        "rows_used": len(used),
        "mapping": {f"column {position}": name for position, name in enumerate(active)},
        "ignored_columns": "last column (training label)" if max(widths) > len(active) else "none",
    }
    return Records(tuple(active), data, source)


def write_input_csv(path: Path, records: Records) -> None:
    """Store generated records: strings as they were scored, empty cell = missing, lists as JSON."""
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(records.columns)
        for row in range(records.row_count):
            cells = []
            for column in records.data:
                value = column[row]
                if value is None:
                    cells.append("")
                elif isinstance(value, list):
                    cells.append(json.dumps(value))
                else:
                    cells.append(value)
            writer.writerow(cells)
