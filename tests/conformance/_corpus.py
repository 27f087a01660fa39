"""The shared PMML conformance corpus: its cases, how to read them, and how to run one.

The corpus lives outside the repository, at ``<repo root>/../shared/conformance`` (part of it is
AGPL-licensed, so it is never copied in).  Everything here degrades to "no cases" when it is
absent.  A second source of expected outputs is ``tests/conformance/reference/<folder>/<case>/``,
holding JPMML-generated ``expected.csv`` files (and ``input.csv`` where the corpus case has none)
for corpus cases that ship without expected outputs.

Both the pytest suite (``test_corpus.py``) and ``scripts/conformance_report.py`` use this module.
"""

from __future__ import annotations

import csv
import functools
import json
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._compare import ColumnComparison, Tolerance, compare_column
from ._tables import Convention, Table, convention_of, read_table

if TYPE_CHECKING:
    from pmserve.pmml import Model

REPO_ROOT = Path(__file__).resolve().parents[2]
CORPUS_ROOT = REPO_ROOT.parent / "shared" / "conformance"
REFERENCE_ROOT = Path(__file__).resolve().parent / "reference"

#: JPMML's integration tests compare with PMMLEquivalence(1e-13, 1e-13) unless a case says otherwise.
JPMML_DEFAULT = Tolerance(1e-13, 1e-13)
#: Cases whose expected values the producing tool printed (see parse_notes).
OLDER_CASES = Tolerance(1e-9, 1e-9)
#: pmml4s's BaseModelTest compares doubles with TolerantNumerics.tolerantDoubleEquality(1e-6).
PMML4S_DEFAULT = Tolerance(1e-6, 1e-6)
#: Reference outputs written by the JPMML generator, unless its README says otherwise.
REFERENCE_DEFAULT = Tolerance(1e-9, 1e-9)

#: Spark's JPMML converter also emits 'prediction'-type output fields; JPMML's test skipped them.
SPARK_PREDICTION_FIELDS = frozenset({"prediction", "pmml(prediction)"})

#: Reference files: JPMML's per-row error message, and its synthetic (unnamed) target field.
REFERENCE_ERROR_COLUMN = "error"
REFERENCE_TARGET_COLUMN = "_target"

#: Cases the harness cannot run yet, with the reason (reported as "not supported").
HARNESS_UNSUPPORTED: dict[str, str] = {}

#: Cases whose corpus expected outputs come from pmml4s where pmml4s departs from JPMML, the
#: implementation pmserve follows.  tools/jpmml_reference scores their corpus input with JPMML,
#: and the harness compares with that reference instead of the corpus expected file.
PMML4S_DIVERGES: dict[str, str] = {
    "dmg-pmml4s/dmg_general_cox": (
        "pmml4s treats the covariate educ as a factor, never searches the baseline cells past the "
        "first, and returns the survival instead of the cumulative hazard"
    ),
    "dmg-pmml4s/dmg_general_cox_strata": (
        "pmml4s treats the covariate educ as a factor, never searches the baseline cells past the "
        "first, and returns the survival instead of the cumulative hazard"
    ),
    "dmg-pmml4s/dmg_scorecard_example": (
        "pmml4s repeats the last valid reason code for the remaining ranks; JPMML leaves them empty"
    ),
}

#: Fix-ups JPMML's own tests applied to a document before loading it, keyed by the MANIFEST notes
#: that say so.  They correct a producer's invalid markup; the engine never special-cases a producer.
SAS_EXPRESSION_CORRECTOR = "sas-expression-corrector"
DOCUMENT_FIXUP_NOTES = {"jpmml applied ExpressionCorrector visitor": SAS_EXPRESSION_CORRECTOR}

#: Transactional inputs: one (group, item) row per item, one expected row per group.  The rows of
#: a group become one basket (a JSON array cell of the item column, groups in order of first
#: appearance), which is what the engine's collection field takes.
TRANSACTIONAL_INPUTS = {
    "jpmml-rattle/AssociationRulesShopping": ("transaction", "item"),
}


class HarnessError(Exception):
    """The corpus data cannot be lined up with the model (not an engine failure)."""


# -- notes ----------------------------------------------------------------------------------------

_PMML_EQUIVALENCE = re.compile(r"PMMLEquivalence\(\s*([-+0-9.eE]+)\s*,\s*([-+0-9.eE]+)\s*\)")
_FLOAT_EQUIVALENCE = re.compile(r"FloatEquivalence\(\s*(\d+)\s*ULP\s*\)")
_CPMML_RELATIVE = re.compile(r"relative error < ([-+0-9.eE]+)")
_EXCLUDED_LIST = re.compile(r"excluded columns? ([^;'\s]+)")
_EXCLUDED_QUOTED = re.compile(r"excluded the \w+ '([^']+)'")
_SAS_MAPPING = re.compile(r"compare expected ([^;]+)")
_ROWS = re.compile(r"input rows=(\d+)")


@dataclass(frozen=True)
class Notes:
    """What the MANIFEST notes of one case say about comparing it."""

    tolerance: Tolerance | None  # None: the folder default
    excluded: frozenset[str] = frozenset()
    column_map: tuple[tuple[str, str], ...] = ()  # expected column -> result name (SAS)
    input_rows: int | None = None


def parse_notes(notes: str) -> Notes:
    """Read tolerance, excluded columns, SAS column mapping and row count from a notes cell."""
    tolerance: Tolerance | None = None
    if m := _FLOAT_EQUIVALENCE.search(notes):
        tolerance = Tolerance(ulps=int(m.group(1)))
    elif m := _PMML_EQUIVALENCE.search(notes):
        tolerance = Tolerance(float(m.group(1)), float(m.group(2)))
    elif m := _CPMML_RELATIVE.search(notes):
        # cPMML accepted a relative error below the bound; zero stays tight.
        tolerance = Tolerance(float(m.group(1)), JPMML_DEFAULT.zero_threshold)
    excluded: set[str] = set()
    for m in _EXCLUDED_LIST.finditer(notes):
        excluded.update(c.strip() for c in m.group(1).split(",") if c.strip())
    for m in _EXCLUDED_QUOTED.finditer(notes):
        excluded.add(m.group(1))
    if "excluded Spark 'prediction'-type fields" in notes:
        excluded |= SPARK_PREDICTION_FIELDS
    mapping: list[tuple[str, str]] = []
    if m := _SAS_MAPPING.search(notes):
        for pair in m.group(1).split(","):
            if "->" not in pair:
                raise ValueError(
                    f"MANIFEST notes: expected 'COLUMN->[target|output] NAME', got {pair.strip()!r}"
                )
            source, target = (s.strip() for s in pair.split("->", 1))
            target = re.sub(r"^(target|output)\s+", "", target)
            mapping.append((source, target))
    if tolerance is None and "older case, later removed from jpmml-evaluator" in notes:
        # These expected files were printed by the producing tool (R, KNIME, RapidMiner) with 15
        # significant digits; a linear predictor that cancels terms of magnitude ~20 down to ~0.1
        # cannot be reproduced to 1e-13 from 15 printed digits, whatever the summation order.
        tolerance = OLDER_CASES
    rows = int(m.group(1)) if (m := _ROWS.search(notes)) else None
    return Notes(tolerance, frozenset(excluded), tuple(mapping), rows)


def folder_default_tolerance(folder: str) -> Tolerance:
    return PMML4S_DEFAULT if folder == "dmg-pmml4s" else JPMML_DEFAULT


def reference_tolerance(case_dir: Path) -> Tolerance:
    """The tolerance stated by the nearest reference README (case, folder, root), else 1e-9."""
    for directory in (case_dir, case_dir.parent, REFERENCE_ROOT):
        readme = directory / "README.md"
        if not readme.is_file():
            continue
        text = readme.read_text(encoding="utf-8")
        if m := _FLOAT_EQUIVALENCE.search(text):
            return Tolerance(ulps=int(m.group(1)))
        if m := _PMML_EQUIVALENCE.search(text):
            return Tolerance(float(m.group(1)), float(m.group(2)))
    return REFERENCE_DEFAULT


# -- cases ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    """One corpus case: a model document, maybe an input table, maybe expected outputs."""

    case_id: str
    folder: str
    model_path: Path
    input_path: Path | None
    expected_path: Path | None
    model_type: str
    producer: str
    notes: str
    tolerance: Tolerance
    excluded: frozenset[str] = frozenset()
    column_map: tuple[tuple[str, str], ...] = ()
    expected_source: str = "corpus"  # "corpus" or "reference"
    input_convention: Convention = field(default_factory=lambda: convention_of(""))
    expected_convention: Convention = field(default_factory=lambda: convention_of(""))
    collection_fields: frozenset[str] = frozenset()  # reference inputs: cells holding JSON arrays
    jpmml_refusal: str | None = None  # reference generator: JPMML could not load or feed the case
    pmml4s_divergence: str | None = None  # set: the JPMML reference replaces pmml4s's expected file
    document_fixup: str | None = None  # set: the harness corrects the document before loading it
    extra_inputs: frozenset[str] = frozenset()  # fields passed where the input has them (supplementary)

    @property
    def has_expected(self) -> bool:
        return self.expected_path is not None

    @property
    def harness_unsupported(self) -> str | None:
        return HARNESS_UNSUPPORTED.get(self.case_id)

    def __str__(self) -> str:
        return self.case_id


def corpus_available() -> bool:
    return (CORPUS_ROOT / "MANIFEST.csv").is_file()


def load_cases(corpus: Path = CORPUS_ROOT, reference: Path = REFERENCE_ROOT) -> list[Case]:
    """Every case of MANIFEST.csv, with reference outputs attached where the corpus has none."""
    manifest = corpus / "MANIFEST.csv"
    if not manifest.is_file():
        return []
    cases = []
    with manifest.open(encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f):
            cases.append(_case_of(row, corpus, reference))
    return cases


def _case_of(row: dict[str, str], corpus: Path, reference: Path) -> Case:
    folder = row["folder"]
    notes = parse_notes(row["notes"])
    input_path = corpus / row["input_csv"] if row["input_csv"] else None
    expected_path = corpus / row["expected_csv"] if row["expected_csv"] else None
    tolerance = notes.tolerance or folder_default_tolerance(folder)
    source = "corpus"
    input_convention = expected_convention = convention_of(folder)
    ref_dir = reference / row["case_id"]
    collection_fields: frozenset[str] = frozenset()
    refusal = None
    divergence = PMML4S_DIVERGES.get(row["case_id"])
    if divergence is not None and not (ref_dir / "expected.csv").is_file():
        raise HarnessError(
            f"{row['case_id']}: PMML4S_DIVERGES lists it, but {ref_dir / 'expected.csv'} is absent; "
            f"run python3 tools/jpmml_reference/generate.py --case {row['case_id']}"
        )
    if (expected_path is None or divergence is not None) and (ref_dir / "expected.csv").is_file():
        source = "reference"
        expected_path = ref_dir / "expected.csv"
        # tools/jpmml_reference writes a missing value as an empty cell and nothing else.
        expected_convention = Convention(frozenset({""}), why="reference output: empty cell = missing")
        tolerance = reference_tolerance(ref_dir)
        meta = _read_json(ref_dir / "meta.json")
        given = meta.get("input", {}) if isinstance(meta.get("input"), dict) else {}
        collection_fields = frozenset(given.get("collection_fields", {}) or {})
        if (ref_dir / "input.csv").is_file():
            input_path = ref_dir / "input.csv"
            input_convention = expected_convention
    elif expected_path is None and (ref_dir / "status.json").is_file():
        status = _read_json(ref_dir / "status.json")
        refusal = f"{status.get('status', 'failed')}: {status.get('message', '')}".strip()
    if row["case_id"] in TRANSACTIONAL_INPUTS:
        collection_fields |= {TRANSACTIONAL_INPUTS[row["case_id"]][1]}
    return Case(
        case_id=row["case_id"],
        folder=folder,
        model_path=corpus / row["pmml_file"],
        input_path=input_path,
        expected_path=expected_path,
        model_type=row["model_type"],
        producer=row["producer"],
        notes=row["notes"],
        tolerance=tolerance,
        excluded=notes.excluded,
        column_map=notes.column_map,
        expected_source=source,
        input_convention=input_convention,
        expected_convention=expected_convention,
        collection_fields=collection_fields,
        jpmml_refusal=refusal,
        pmml4s_divergence=divergence,
        document_fixup=next((fix for note, fix in DOCUMENT_FIXUP_NOTES.items() if note in row["notes"]), None),
    )


def _read_json(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    data = json.loads(path.read_text(encoding="utf-8"))
    return data if isinstance(data, dict) else {}


# -- what the document itself says (read with lxml; the harness must not trust the engine) -------


@dataclass(frozen=True)
class DocumentFacts:
    data_fields: tuple[str, ...]  # DataDictionary order (spark-mllib inputs are positional)
    output_features: tuple[tuple[str, str], ...]  # (OutputField name, feature) of every Output
    has_verification: bool


@functools.cache
def document_facts(path: Path) -> DocumentFacts:
    from lxml import etree

    data_fields: list[str] = []
    outputs: list[tuple[str, str]] = []
    verification = False
    # iterparse with huge_tree: some corpus documents are tens of MB of nested trees.
    for _, element in etree.iterparse(str(path), events=("end",), huge_tree=True):
        tag = etree.QName(element).localname if isinstance(element.tag, str) else ""
        if tag == "DataField":
            data_fields.append(element.get("name", ""))
        elif tag == "OutputField":
            outputs.append((element.get("name", ""), element.get("feature", "predictedValue")))
        elif tag == "ModelVerification":
            verification = True
        if tag not in ("DataDictionary",):
            element.clear(keep_tail=False)
    return DocumentFacts(tuple(data_fields), tuple(outputs), verification)


# -- loading models once per process ---------------------------------------------------------------


@dataclass(frozen=True)
class LoadOutcome:
    """What ``pmml.load`` did with a document: a model, or the error it raised."""

    model: Model | None
    error: BaseException | None
    seconds: float

    @property
    def unsupported(self) -> bool:
        """The engine refused the document only for markup it does not support (yet)."""
        from pmserve.errors import DocumentProblems

        return isinstance(self.error, DocumentProblems) and self.error.unsupported

    @property
    def engine_missing(self) -> bool:
        return isinstance(self.error, ImportError)

    def summary(self, limit: int = 3) -> str:
        """One line: the first few problems of a refusal, or the error."""
        from pmserve.errors import DocumentProblems

        err = self.error
        if err is None:
            return "loads"
        if isinstance(err, DocumentProblems):
            messages = [p.message.replace("\n", " ") for p in err.problems]
            more = f" (+{len(messages) - limit} more)" if len(messages) > limit else ""
            return "; ".join(messages[:limit]) + more
        return f"{type(err).__name__}: {err}".replace("\n", " ")


def load_case_model(case: Case) -> LoadOutcome:
    """The case's document loaded once per process, after the case's document fix-up if any."""
    return load_model(case.model_path, case.document_fixup)


@functools.cache
def load_model(path: Path, fixup: str | None = None) -> LoadOutcome:
    """Load a document once per process; the outcome (model or error) is cached."""
    start = time.perf_counter()
    try:
        from pmserve import pmml

        model = pmml.load(path if fixup is None else fixed_document(path.read_bytes(), fixup))
    except Exception as err:  # the caller decides which errors are acceptable
        return LoadOutcome(None, err, time.perf_counter() - start)
    return LoadOutcome(model, None, time.perf_counter() - start)


def fixed_document(document: bytes, fixup: str) -> bytes:
    """The document with a named fix-up applied, as JPMML's test of the same case applied it."""
    if fixup != SAS_EXPRESSION_CORRECTOR:
        raise ValueError(f"document fix-up must be one of {[SAS_EXPRESSION_CORRECTOR]}; got {fixup!r}")
    return sas_expression_corrector(document)


def sas_expression_corrector(document: bytes) -> bytes:
    """Replace every ``<Constant>FMTWIDTH</Constant>`` with ``<FieldRef field="FMTWIDTH"/>``.

    SAS Enterprise Miner writes its format functions (SAS-EM-String-Normalize, SAS-FORMAT-BESTw,
    SAS-FORMAT-$CHARw) with the width as the string constant "FMTWIDTH" where it means the
    function's ParameterField FMTWIDTH.  JPMML's pmml-sas ExpressionCorrector visitor makes exactly
    this replacement (a Constant whose value equals "FMTWIDTH"), and its ClassificationTest applies
    it before evaluating these documents.  Attributes of the Constant (dataType) are dropped, as a
    FieldRef has none of them; lines are kept, so problems still name the original line.
    """
    from lxml import etree

    root = etree.fromstring(document, etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=True))
    for constant in list(root.iter("{*}Constant")):
        if constant.text != "FMTWIDTH":
            continue
        field_ref = etree.Element(etree.QName(etree.QName(constant).namespace, "FieldRef"), field="FMTWIDTH")
        field_ref.tail = constant.tail
        parent = constant.getparent()
        if parent is not None:
            parent.replace(constant, field_ref)
    # The whole tree keeps what precedes the root (comments); UTF-8 with a declaration, as read.
    return bytes(etree.tostring(root.getroottree(), xml_declaration=True, encoding="UTF-8"))


# -- lining data up with the model ---------------------------------------------------------------


@functools.cache
def input_table(case: Case) -> Table | None:
    if case.input_path is None:
        return None
    table = read_table(case.input_path, case.input_convention)
    if case.case_id in TRANSACTIONAL_INPUTS:
        table = grouped_baskets(table, *TRANSACTIONAL_INPUTS[case.case_id])
    return table


def grouped_baskets(table: Table, group: str, item: str) -> Table:
    """(group, item) rows as one row per group whose item cell is a JSON array of its items."""
    baskets: dict[str | None, list[str]] = {}
    for key, value in zip(table.columns[group], table.columns[item], strict=True):
        basket = baskets.setdefault(key, [])
        if value is not None:
            basket.append(value)
    columns: dict[str, list[str | None]] = {group: list(baskets), item: [json.dumps(b) for b in baskets.values()]}
    return Table((group, item), columns, len(baskets))


@functools.cache
def expected_table(case: Case) -> Table | None:
    return read_table(case.expected_path, case.expected_convention) if case.expected_path else None


def _normalized(name: str) -> str:
    # Statistica's training data spells field names with other case and separators.
    return re.sub(r"[^0-9a-z]", "", name.lower())


def _collection(cell: str | None) -> Any:
    # The reference generator writes a collection-valued input (association items) as a JSON array.
    return None if cell is None else json.loads(cell)


def input_columns(case: Case, model: Model, table: Table) -> dict[str, list[Any]]:
    """The columns to pass to ``model.score``: one per input field, raw cells as read.

    Target fields present in the input are passed too (residual outputs need the actual value),
    except for cPMML, whose input holds a ground-truth label that is no model input.
    """
    wanted = [f.name for f in model.input_fields]
    optional = [] if case.folder == "cpmml" else [f.name for f in model.target_fields]
    optional += sorted(case.extra_inputs)
    positional: dict[str, str] = {}
    if not case.input_convention.header:
        names = document_facts(case.model_path).data_fields
        positional = {name: f"field_{i}" for i, name in enumerate(names)}
    by_normal: dict[str, list[str]] = {}
    for column in table.header:
        by_normal.setdefault(_normalized(column), []).append(column)
    columns: dict[str, list[Any]] = {}
    unmatched = []
    for name in [*wanted, *optional]:
        if name in columns:
            continue
        source = name if name in table.columns else positional.get(name)
        if source is None and len(by_normal.get(_normalized(name), [])) == 1:
            source = by_normal[_normalized(name)][0]
        if source is not None and source in table.columns:
            cells = table.columns[source]
            columns[name] = [_collection(c) for c in cells] if name in case.collection_fields else cells
        elif name in wanted:
            unmatched.append(name)
    if unmatched:
        raise HarnessError(
            f"{case.case_id}: the input table has no column for input field(s) "
            f"{', '.join(map(repr, unmatched))}; its columns are {list(table.header)}"
        )
    return columns


@dataclass(frozen=True)
class ColumnPlan:
    """Which result an expected column is compared with, or why it is not compared."""

    column: str
    result: str | None
    skip: str | None = None  # set: not compared, for this reason (not a failure)

    @property
    def absent(self) -> bool:
        """Neither compared nor excused: the model lacks this result (a failure)."""
        return self.result is None and self.skip is None


def plan_columns(
    case: Case,
    expected_header: Sequence[str],
    result_names: Sequence[str],
    target_names: Sequence[str],
    output_features: Sequence[tuple[str, str]] = (),
) -> list[ColumnPlan]:
    """Map every expected column to a result column, per the folder's conventions."""
    results = set(result_names)
    mapping = dict(case.column_map)
    plans = []
    for column in expected_header:
        if column in case.excluded:
            plans.append(ColumnPlan(column, None, "excluded by the original test harness"))
        elif case.expected_source == "reference" and column == REFERENCE_ERROR_COLUMN:
            plans.append(ColumnPlan(column, None, "JPMML's error message for the row"))
        elif case.expected_source == "reference" and column == REFERENCE_TARGET_COLUMN:
            plans.append(ColumnPlan(column, _default_target(result_names, target_names, output_features)))
        elif mapping:
            # SAS: the expected file is SAS's whole scoring table; only the mapped columns are outputs.
            if column in mapping:
                plans.append(ColumnPlan(column, mapping[column]))
            else:
                plans.append(ColumnPlan(column, None, "SAS scoring-table column with no PMML counterpart"))
        elif column in results:
            plans.append(ColumnPlan(column, column))
        elif case.folder == "cpmml" and column == "prediction":
            plans.append(ColumnPlan(column, target_names[0] if target_names else None))
        elif column.startswith("Probability_") and f"probability({column[12:]})" in results:
            plans.append(ColumnPlan(column, f"probability({column[12:]})"))
        elif case.folder == "dmg-pmml4s":
            plans.append(_pmml4s_plan(column, result_names, target_names, output_features))
        else:
            plans.append(ColumnPlan(column, None))
    return plans


def _default_target(
    result_names: Sequence[str], target_names: Sequence[str], output_features: Sequence[tuple[str, str]]
) -> str | None:
    """The result holding the prediction of a model whose target field is synthetic (clustering)."""
    if target_names:
        return target_names[0]
    outputs = {name for name, _ in output_features}
    return next((name for name in result_names if name not in outputs), None)


def _pmml4s_plan(
    column: str,
    result_names: Sequence[str],
    target_names: Sequence[str],
    output_features: Sequence[tuple[str, str]],
) -> ColumnPlan:
    """pmml4s adds outputs of its own when a document has no Output element."""
    if column == "confidence":
        named = [n for n, feature in output_features if feature == "confidence" and n in result_names]
        if named:
            return ColumnPlan(column, named[0])
        return ColumnPlan(column, None, "pmml4s-only output: the document asks for no confidence")
    if column == "cluster":
        # pmml4s's cluster id is the clustering model's predicted value.
        name = target_names[0] if target_names else (result_names[0] if result_names else None)
        return ColumnPlan(column, name)
    if column in ("clusterName", "distance"):
        return ColumnPlan(column, None, "pmml4s-only output: the document asks for no such result")
    return ColumnPlan(column, None)


# -- running a case -------------------------------------------------------------------------------


@dataclass
class CaseRun:
    """The outcome of scoring one case's input and comparing with its expected outputs."""

    case: Case
    n_rows: int
    comparisons: list[ColumnComparison]
    absent: list[str]  # expected columns the model does not produce
    skipped: list[ColumnPlan]
    row_errors: dict[int, str]
    jpmml_failed_rows: list[int] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.absent and all(c.ok for c in self.comparisons)

    def describe(self, max_errors: int = 3) -> str:
        lines = []
        if self.absent:
            lines.append(f"expected column(s) absent from the model's results: {self.absent}")
        lines.extend(c.describe(self.case.tolerance) for c in self.comparisons if not c.ok)
        if self.jpmml_failed_rows:
            lines.append(f"{len(self.jpmml_failed_rows)} row(s) not compared: JPMML raised on them")
        if self.row_errors:
            shown = "; ".join(f"row {r}: {m}" for r, m in list(self.row_errors.items())[:max_errors])
            lines.append(f"{len(self.row_errors)} row(s) raised data errors: {shown}")
        return "\n".join(lines) if lines else "all expected columns match"


def run_case(case: Case, model: Model, max_rows: int | None = None) -> CaseRun:
    """Score a case's input and compare every expected column.

    With ``max_rows`` only that many rows, spread over the table, are scored and compared (the
    test suite's time budget); row numbers in the outcome are always those of the whole table.
    """
    inputs, expected = input_table(case), expected_table(case)
    if inputs is None and expected is not None and not model.input_fields:
        # A model without input fields has no input table: JPMML scored empty records.
        inputs = Table((), {}, expected.n_rows)
    if inputs is None or expected is None:
        raise HarnessError(f"{case.case_id}: needs both an input and an expected table")
    inputs = aligned_input(case, inputs, expected)
    n = expected.n_rows
    chosen = list(range(n)) if max_rows is None or n <= max_rows else sample_rows(n, max_rows)
    columns = input_columns(case, model, inputs.take(chosen))
    # No columns at all say nothing about the row count; empty records do.
    scored = model.score(columns if columns else [{}] * len(chosen), errors="collect")
    values = scored.to_lists()
    # Rows on which JPMML itself raised hold no reference values: they are not compared.
    errors = expected.columns.get(REFERENCE_ERROR_COLUMN, []) if case.expected_source == "reference" else []
    jpmml_failed = sorted(row for row in chosen if errors and errors[row])
    keep = [i for i, row in enumerate(chosen) if not (errors and errors[row])]
    plans = plan_columns(
        case,
        expected.header,
        list(values),
        [f.name for f in model.target_fields],
        document_facts(case.model_path).output_features,
    )
    comparisons = []
    absent = []
    for plan in plans:
        if plan.absent or (plan.result is not None and plan.result not in values):
            renamed = plan.result not in (None, plan.column)
            absent.append(f"{plan.column} -> {plan.result}" if renamed else plan.column)
        elif plan.result is not None:
            want, got = expected.columns[plan.column], values[plan.result]
            comparisons.append(compare_column(
                plan.column, plan.result, [want[chosen[i]] for i in keep], [got[i] for i in keep],
                case.tolerance, rows=[chosen[i] for i in keep],
            ))
    return CaseRun(
        case,
        len(chosen),
        comparisons,
        absent,
        [p for p in plans if p.skip],
        {chosen[row]: str(err) for row, err in scored.errors.items()},
        jpmml_failed,
    )


def aligned_input(case: Case, inputs: Table, expected: Table) -> Table:
    """The input rows the expected table was computed from.

    The reference generator scores at most the first 200 rows of a corpus input; every other
    expected table is aligned row by row with its whole input.
    """
    if inputs.n_rows == expected.n_rows:
        return inputs
    if case.expected_source == "reference" and inputs.n_rows > expected.n_rows:
        return inputs.take(range(expected.n_rows))
    raise HarnessError(f"{case.case_id}: input has {inputs.n_rows} rows, expected has {expected.n_rows}")


def sample_rows(n_rows: int, limit: int = 20) -> list[int]:
    """Up to ``limit`` rows spread over the table (first and last included), for row-wise checks."""
    if n_rows <= limit:
        return list(range(n_rows))
    step = (n_rows - 1) / (limit - 1)
    return sorted({round(i * step) for i in range(limit)})


def plain(values: dict[str, list[Any]]) -> dict[str, list[Any]]:
    """Result lists with NaN turned into None, so that equal results compare equal."""
    return {k: [None if isinstance(v, float) and v != v else v for v in col] for k, col in values.items()}
