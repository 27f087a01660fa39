"""The conformance harness itself: CSV conventions, MANIFEST notes, column mapping, equivalence."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ._compare import Tolerance, compare_column, float32_ulp_distance, numbers_equivalent, values_equivalent
from ._corpus import (
    JPMML_DEFAULT,
    PMML4S_DEFAULT,
    PMML4S_DIVERGES,
    REFERENCE_DEFAULT,
    SAS_EXPRESSION_CORRECTOR,
    Case,
    ColumnPlan,
    HarnessError,
    fixed_document,
    load_cases,
    parse_notes,
    plan_columns,
    run_case,
    sample_rows,
    sas_expression_corrector,
)
from ._tables import convention_of, parse_table

# -- reading CSV ----------------------------------------------------------------------------------


def test_jpmml_folders_read_na_and_n_a_and_empty_as_missing() -> None:
    """JPMML's convention turns 'N/A', 'NA' and empty cells into missing values."""
    table = parse_table("a,b,c\nN/A,NA,\nx,1,2\n", convention_of("jpmml-rattle"))
    assert table.columns == {"a": [None, "x"], "b": [None, "1"], "c": [None, "2"]}
    assert table.n_rows == 2


def test_pmml4s_folder_keeps_na_as_a_value() -> None:
    """In hand-transcribed pmml4s data only an empty cell is missing; 'NA' may be a category."""
    table = parse_table("a,b\nNA,\n", convention_of("dmg-pmml4s"))
    assert table.columns == {"a": ["NA"], "b": [None]}


def test_cpmml_reads_r_na_as_missing() -> None:
    """cPMML's R-written CSVs mark a missing value with NA."""
    table = parse_table("Age,Employment\n31,NA\n", convention_of("cpmml"))
    assert table.columns["Employment"] == [None]


def test_headerless_semicolon_file_with_cr_endings_gets_positional_names() -> None:
    """Spark's wine data: no header, ';' separated, bare CR line endings."""
    table = parse_table("7.4;0.7;5\r7.8;0.88;5\r", convention_of("spark-mllib"))
    assert table.header == ("field_0", "field_1", "field_2")
    assert table.columns["field_1"] == ["0.7", "0.88"]


def test_empty_line_is_a_missing_cell_in_a_one_column_table() -> None:
    """A one-column file writes a missing value as an empty line; it is still a record."""
    table = parse_table("x\n1\n\n2\n", convention_of("jpmml-unit"))
    assert table.columns == {"x": ["1", None, "2"]}


def test_blank_line_in_a_wide_table_is_not_a_record() -> None:
    """A stray blank line between records of a multi-column file is skipped."""
    table = parse_table("a,b\n1,2\n\n3,4\n", convention_of("jpmml-rattle"))
    assert table.columns == {"a": ["1", "3"], "b": ["2", "4"]}


def test_quoted_empty_cell_and_trailing_blank_in_header_are_kept() -> None:
    """A quoted empty cell is missing; a header's trailing blank is part of the name (SAS)."""
    table = parse_table('R_x ,y\n1.0,a\n"",b\n', convention_of("dmg-pmml4s"))
    assert table.columns["R_x "] == ["1.0", None]


def test_row_with_wrong_cell_count_is_reported_with_its_line() -> None:
    """A ragged row names the file and line instead of shifting columns."""
    with pytest.raises(ValueError, match=r"t\.csv: expected 2 cells, got 3 \(line 3\)"):
        parse_table("a,b\n1,2\n1,2,3\n", convention_of("cpmml"), source="t.csv")


def test_duplicate_column_names_are_refused() -> None:
    """Two columns with one name could not be told apart."""
    with pytest.raises(ValueError, match=r"duplicates \['a'\]"):
        parse_table("a,a\n1,2\n", convention_of("cpmml"))


def test_take_keeps_the_requested_rows_in_order() -> None:
    """Selecting rows keeps every column aligned."""
    table = parse_table("a,b\n1,x\n2,y\n3,z\n", convention_of("cpmml")).take([2, 0])
    assert table.columns == {"a": ["3", "1"], "b": ["z", "x"]}
    assert table.n_rows == 2


# -- MANIFEST notes -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("notes", "tolerance"),
    [
        ("input rows=392; PMMLEquivalence(1e-7,1e-7); jpmml test excluded columns mpg",
         Tolerance(1e-7, 1e-7)),
        ("PMMLEquivalence(3e-13,3e-13)", Tolerance(3e-13, 3e-13)),
        ("PMMLEquivalence->FloatEquivalence(12 ULP); jpmml test excluded column probability(0)",
         Tolerance(ulps=12)),
        ("FloatEquivalence(2 ULP)", Tolerance(ulps=2)),
        ("cPMML test: string equality of 'prediction', or relative error < 1e-3 for regression",
         Tolerance(1e-3, 1e-13)),
        ("older case, later removed from jpmml-evaluator; tolerance as module default", Tolerance(1e-9, 1e-9)),
        ("input rows=330; tolerance as module default", None),
    ],
)
def test_notes_give_the_case_tolerance(notes: str, tolerance: Tolerance | None) -> None:
    """Relative, ULP and cPMML tolerances are read from the notes; none means the folder default.

    Older cases, whose expected values the producing tool printed with 15 digits, get 1e-9.
    """
    assert parse_notes(notes).tolerance == tolerance


@pytest.mark.parametrize(
    ("notes", "excluded"),
    [
        ("PMMLEquivalence(1e-7,1e-7); jpmml test excluded columns mpg,Predicted_mpg",
         {"mpg", "Predicted_mpg"}),
        ("FloatEquivalence(12 ULP); jpmml test excluded column probability(0)", {"probability(0)"}),
        ("PMMLEquivalence(1e-13,1e-13); jpmml test excluded the sklearn 'outlier' predict column",
         {"outlier"}),
        ("PMMLEquivalence(1e-14,1e-14); jpmml test excluded Spark 'prediction'-type fields",
         {"prediction", "pmml(prediction)"}),
        ("PMMLEquivalence(1e-13,1e-13)", set()),
    ],
)
def test_notes_give_the_excluded_columns(notes: str, excluded: set[str]) -> None:
    """Every way the notes name excluded columns is understood."""
    assert parse_notes(notes).excluded == excluded


def test_sas_notes_give_the_column_mapping_and_row_count() -> None:
    """SAS notes map scoring-table columns onto the target and output fields."""
    notes = parse_notes(
        "input rows=1899; expected rows=1899; PMMLEquivalence(1e-5,1e-5); compare expected "
        "EM_CLASSIFICATION->target Adjusted, EM_EVENTPROBABILITY->output P_Adjusted1; jpmml applied X"
    )
    assert notes.column_map == (("EM_CLASSIFICATION", "Adjusted"), ("EM_EVENTPROBABILITY", "P_Adjusted1"))
    assert notes.input_rows == 1899
    assert notes.tolerance == Tolerance(1e-5, 1e-5)


def test_sas_mapping_without_arrow_is_refused() -> None:
    """A mapping the harness cannot read is an error, not a silently empty mapping."""
    with pytest.raises(ValueError, match=r"expected 'COLUMN->\[target\|output\] NAME', got 'EM_X'"):
        parse_notes("compare expected EM_X; other")


# -- cases from a synthetic corpus ----------------------------------------------------------------

_MANIFEST_HEADER = "case_id,folder,pmml_file,input_csv,expected_csv,model_type,pmml_version,producer,notes\n"


def _corpus(tmp_path: Path, rows: str) -> tuple[Path, Path]:
    corpus, reference = tmp_path / "corpus", tmp_path / "reference"
    corpus.mkdir()
    reference.mkdir()
    (corpus / "MANIFEST.csv").write_text(_MANIFEST_HEADER + rows, encoding="utf-8")
    return corpus, reference


def test_cases_take_folder_defaults_and_note_tolerances(tmp_path: Path) -> None:
    """JPMML folders default to 1e-13, pmml4s to its own 1e-6; notes override both."""
    corpus, reference = _corpus(tmp_path, (
        "a/X,jpmml-rattle,a/X/model.pmml,a/X/input.csv,a/X/expected.csv,TreeModel,4.4,R,input rows=3\n"
        "b/Y,dmg-pmml4s,b/Y/model.pmml,b/Y/input.csv,b/Y/expected.csv,TreeModel,4.4,,\n"
        'c/Z,jpmml-knime,c/Z/model.pmml,,,TreeModel,4.4,K,"PMMLEquivalence(1e-15,1e-15)"\n'
    ))
    x, y, z = load_cases(corpus, reference)
    assert (x.tolerance, y.tolerance, z.tolerance) == (JPMML_DEFAULT, PMML4S_DEFAULT, Tolerance(1e-15, 1e-15))
    assert x.has_expected
    assert not z.has_expected
    assert x.model_path == corpus / "a/X/model.pmml"


def test_reference_outputs_fill_in_cases_without_expected(tmp_path: Path) -> None:
    """A generated reference expected.csv (and input.csv) is picked up with the 1e-9 default."""
    corpus, reference = _corpus(tmp_path, "u/T,jpmml-unit,u/T/model.pmml,,,TreeModel,4.4,,model only\n")
    case_dir = reference / "u" / "T"
    case_dir.mkdir(parents=True)
    (case_dir / "expected.csv").write_text("y\n1\n", encoding="utf-8")
    (case_dir / "input.csv").write_text("x\n2\n", encoding="utf-8")
    (case_dir / "meta.json").write_text('{"input": {"collection_fields": {"x": "JSON"}}}', encoding="utf-8")
    (case,) = load_cases(corpus, reference)
    assert case.expected_source == "reference"
    assert case.expected_path == case_dir / "expected.csv"
    assert case.input_path == case_dir / "input.csv"
    assert case.tolerance == REFERENCE_DEFAULT
    assert case.collection_fields == {"x"}


def test_reference_readme_overrides_the_reference_tolerance(tmp_path: Path) -> None:
    """The generator's README may state another tolerance for its outputs."""
    corpus, reference = _corpus(tmp_path, "u/T,jpmml-unit,u/T/model.pmml,,,TreeModel,4.4,,model only\n")
    (reference / "u" / "T").mkdir(parents=True)
    (reference / "u" / "T" / "expected.csv").write_text("y\n1\n", encoding="utf-8")
    readme = reference / "u" / "README.md"
    readme.write_text("Compare with PMMLEquivalence(1e-6, 1e-8).\n", encoding="utf-8")
    (case,) = load_cases(corpus, reference)
    assert case.tolerance == Tolerance(1e-6, 1e-8)


def test_reference_status_records_jpmml_refusal(tmp_path: Path) -> None:
    """When JPMML could not load a document, the generator's status is kept as the refusal."""
    corpus, reference = _corpus(tmp_path, "u/T,jpmml-unit,u/T/model.pmml,,,TreeModel,4.4,,model only\n")
    (reference / "u" / "T").mkdir(parents=True)
    (reference / "u" / "T" / "status.json").write_text(
        '{"status": "load_failed", "message": "bad element"}', encoding="utf-8"
    )
    (case,) = load_cases(corpus, reference)
    assert not case.has_expected
    assert case.jpmml_refusal == "load_failed: bad element"


def test_pmml4s_divergent_case_compares_with_the_jpmml_reference_on_the_corpus_input(tmp_path: Path) -> None:
    """A case listed in PMML4S_DIVERGES takes JPMML's outputs but keeps its corpus input rows."""
    case_id = "dmg-pmml4s/dmg_scorecard_example"
    corpus, reference = _corpus(tmp_path, (
        f"{case_id},dmg-pmml4s,{case_id}/model.pmml,{case_id}/input.csv,{case_id}/expected.csv,"
        "Scorecard,4.3,,input rows=1\n"
    ))
    (reference / case_id).mkdir(parents=True)
    (reference / case_id / "expected.csv").write_text("Final Score\n29.0\n", encoding="utf-8")
    (case,) = load_cases(corpus, reference)
    assert case.expected_source == "reference"
    assert case.expected_path == reference / case_id / "expected.csv"
    assert case.input_path == corpus / case_id / "input.csv"
    assert case.tolerance == REFERENCE_DEFAULT
    assert case.pmml4s_divergence == PMML4S_DIVERGES[case_id]


def test_pmml4s_divergent_case_without_its_reference_is_refused(tmp_path: Path) -> None:
    """Falling back to pmml4s's outputs silently would compare with values known to be wrong."""
    case_id = "dmg-pmml4s/dmg_general_cox"
    corpus, reference = _corpus(tmp_path, (
        f"{case_id},dmg-pmml4s,{case_id}/model.pmml,{case_id}/input.csv,{case_id}/expected.csv,"
        "GeneralRegressionModel,4.3,,input rows=1\n"
    ))
    with pytest.raises(HarnessError, match=r"dmg_general_cox: PMML4S_DIVERGES lists it, but .*expected\.csv"):
        load_cases(corpus, reference)


def test_sas_cases_whose_notes_name_the_expression_corrector_get_the_fixup(tmp_path: Path) -> None:
    """The MANIFEST note 'jpmml applied ExpressionCorrector visitor' selects the SAS fix-up."""
    corpus, reference = _corpus(tmp_path, (
        "s/A,jpmml-sas,s/A/model.pmml,s/A/input.csv,s/A/expected.csv,RegressionModel,4.1,SAS,"
        '"PMMLEquivalence(1e-5,1e-5); jpmml applied ExpressionCorrector visitor"\n'
        "s/B,jpmml-sas,s/B/model.pmml,s/B/input.csv,s/B/expected.csv,RegressionModel,4.1,SAS,\n"
    ))
    corrected, plain_case = load_cases(corpus, reference)
    assert corrected.document_fixup == SAS_EXPRESSION_CORRECTOR
    assert plain_case.document_fixup is None


_SAS_FUNCTION = b"""<?xml version="1.0" encoding="utf-8"?>
<PMML xmlns="http://www.dmg.org/PMML-4_1" version="4.1">
  <TransformationDictionary>
    <DefineFunction name="SAS-FORMAT-$CHARw" optype="categorical" dataType="string">
      <ParameterField name="FMTWIDTH" optype="continuous"/>
      <ParameterField name="AnyCInput" optype="continuous"/>
      <Apply function="substring">
        <FieldRef field="AnyCInput"/>
        <Constant>1</Constant>
        <Constant dataType="string">FMTWIDTH</Constant>
      </Apply>
    </DefineFunction>
  </TransformationDictionary>
  <Constant>FMTWIDTH </Constant>
</PMML>
"""


def test_sas_expression_corrector_turns_the_fmtwidth_constant_into_a_field_reference() -> None:
    """Only a Constant whose value is exactly FMTWIDTH becomes a FieldRef, on the same line."""
    from lxml import etree

    text = sas_expression_corrector(_SAS_FUNCTION)
    assert text.decode().splitlines()[9].strip() == '<FieldRef field="FMTWIDTH"/>'
    fixed = etree.fromstring(text)
    ns = {"p": "http://www.dmg.org/PMML-4_1"}
    apply = fixed.find(".//p:Apply", ns)
    assert apply is not None
    assert [etree.QName(child).localname for child in apply] == ["FieldRef", "Constant", "FieldRef"]
    width = list(apply)[2]
    assert (list(width.keys()), width.get("field")) == (["field"], "FMTWIDTH")
    assert [c.text for c in fixed.iterfind(".//p:Constant", ns)] == ["1", "FMTWIDTH "]


def test_unknown_document_fixup_is_refused() -> None:
    """A misspelt fix-up name must not load the document uncorrected."""
    with pytest.raises(ValueError, match=r"document fix-up must be one of .*; got 'sas'"):
        fixed_document(_SAS_FUNCTION, "sas")


def test_missing_corpus_gives_no_cases(tmp_path: Path) -> None:
    """Without the shared corpus the suite has nothing to run (and skips)."""
    assert load_cases(tmp_path / "absent", tmp_path) == []


# -- column mapping -------------------------------------------------------------------------------


def _case(folder: str, notes: str = "", source: str = "corpus") -> Case:
    parsed = parse_notes(notes)
    return Case(
        case_id=f"{folder}/T", folder=folder, model_path=Path("m.pmml"), input_path=None,
        expected_path=Path("e.csv"), model_type="TreeModel", producer="", notes=notes,
        tolerance=parsed.tolerance or JPMML_DEFAULT, excluded=parsed.excluded,
        column_map=parsed.column_map, expected_source=source,
    )


def test_cpmml_prediction_maps_to_the_target_and_probabilities_by_name() -> None:
    """cPMML's 'prediction' is the target's predicted value; Probability_x falls back to probability(x)."""
    plans = plan_columns(
        _case("cpmml"), ["prediction", "Probability_0", "Probability_1"],
        ["TARGET_Adjusted", "Probability_0", "probability(1)"], ["TARGET_Adjusted"],
    )
    assert plans == [
        ColumnPlan("prediction", "TARGET_Adjusted"),
        ColumnPlan("Probability_0", "Probability_0"),
        ColumnPlan("Probability_1", "probability(1)"),
    ]


def test_expected_column_missing_from_results_is_absent_unless_excluded() -> None:
    """A column the model does not produce fails, unless the notes excluded it."""
    case = _case("jpmml-sklearn2pmml", "jpmml test excluded column probability(0)")
    plans = plan_columns(case, ["Adjusted", "probability(0)", "probability(1)"], ["Adjusted"], ["Adjusted"])
    assert [p.absent for p in plans] == [False, False, True]
    assert plans[1].skip == "excluded by the original test harness"


def test_sas_compares_only_the_mapped_columns() -> None:
    """SAS's scoring table is compared through the notes' mapping; other columns are skipped."""
    case = _case("jpmml-sas", "compare expected EM_CLASSIFICATION->target Species, U_Species->U_Species")
    plans = plan_columns(case, ["Species", "U_Species", "EM_CLASSIFICATION"], ["Species", "U_Species"],
                         ["Species"])
    assert [(p.column, p.result, p.skip is None) for p in plans] == [
        ("Species", None, False), ("U_Species", "U_Species", True), ("EM_CLASSIFICATION", "Species", True),
    ]


def test_pmml4s_confidence_maps_to_a_confidence_output_or_is_skipped() -> None:
    """pmml4s's confidence is compared only when the document asks for a confidence output."""
    case = _case("dmg-pmml4s")
    with_output = plan_columns(
        case, ["confidence"], ["whatIdo", "conf"], ["whatIdo"], [("conf", "confidence")]
    )
    without = plan_columns(case, ["confidence", "cluster"], ["predicted"], [])
    assert with_output == [ColumnPlan("confidence", "conf")]
    assert without[0].result is None
    assert without[0].skip is not None
    assert without[1] == ColumnPlan("cluster", "predicted")


def test_reference_target_and_error_columns_are_understood() -> None:
    """'_target' is the synthetic target's prediction; 'error' is JPMML's message, not a result."""
    case = _case("jpmml-unit", source="reference")
    plans = plan_columns(case, ["_target", "affinity", "error"], ["cluster", "affinity"], [],
                         [("affinity", "affinity")])
    assert plans[0] == ColumnPlan("_target", "cluster")
    assert plans[1] == ColumnPlan("affinity", "affinity")
    assert plans[2].skip == "JPMML's error message for the row"


def test_sample_rows_spread_over_the_table_and_include_both_ends() -> None:
    """The row-by-row check uses at most 20 rows, first and last included."""
    rows = sample_rows(1899)
    assert len(rows) == 20
    assert (rows[0], rows[-1]) == (0, 1898)
    assert sample_rows(3) == [0, 1, 2]


# -- equivalence ----------------------------------------------------------------------------------

TIGHT = Tolerance(1e-13, 1e-13)


@pytest.mark.parametrize(
    ("expected", "actual", "tol", "equal"),
    [
        (1.0, 1.0 + 1e-14, TIGHT, True),
        (1.0, 1.0 + 1e-12, TIGHT, False),
        (-2.0, -2.0 * (1 + 5e-14), TIGHT, True),
        (-2.0, 2.0, TIGHT, False),
        (0.0, 5e-14, TIGHT, True),  # both within the zero threshold
        (1e-14, -1e-14, TIGHT, True),
        (0.0, 1e-12, TIGHT, False),
        (1e6, 1e6 + 0.5, Tolerance(1e-6, 1e-6), True),  # the band is relative to the expected value
        (1e6, 1e6 + 2.0, Tolerance(1e-6, 1e-6), False),
        (float("nan"), float("nan"), TIGHT, True),
        (1.0, float("nan"), TIGHT, False),
    ],
)
def test_numbers_follow_pmml_equivalence(expected: float, actual: float, tol: Tolerance, equal: bool) -> None:
    """Relative precision with an absolute zero threshold, as jpmml's VerificationUtil.acceptable."""
    assert numbers_equivalent(expected, actual, tol) is equal


def test_float32_ulp_distance_counts_across_zero() -> None:
    """Neighbouring float32 values are 1 ULP apart; +x and -x are twice x's distance from zero."""
    one_up = float(np.nextafter(np.float32(1.0), np.float32(2.0)))
    assert float32_ulp_distance(1.0, one_up) == 1
    assert float32_ulp_distance(0.0, -0.0) == 0
    tiny = 1.401298464324817e-45  # the smallest float32 subnormal
    assert float32_ulp_distance(tiny, -tiny) == 2


def test_ulp_tolerance_accepts_float32_rounding_only() -> None:
    """FloatEquivalence(2) accepts a value rounded to float32, not a larger error."""
    two_ulp = Tolerance(ulps=2)
    assert numbers_equivalent(0.1, float(np.float32(0.1)), two_ulp)
    assert not numbers_equivalent(0.1, 0.1 * (1 + 1e-6), two_ulp)


@pytest.mark.parametrize(
    ("expected", "actual", "equal"),
    [
        ("1", 1.0, True),  # numeric-looking expected vs numeric result
        ("1", 1, True),
        ("1.0", "1", True),  # numeric-looking categories compare as numbers
        ("setosa", "setosa", True),
        ("setosa", "Setosa", False),
        ("true", True, True),
        ("FALSE", False, True),
        ("true", 1.0, True),  # a boolean result stored as 1.0
        ("false", "false", True),
        ("TRUE", "true", True),
        ("abc", 1.0, False),
        (None, None, True),
        (None, float("nan"), True),
        (None, 0.0, False),
        ("0.5", None, False),
        ("NaN", None, True),  # pmml4s reports an undefined double as NaN
        ("", "", True),
        ('["a", "", "b"]', ["a", None, "b"], True),  # the generator writes a missing item as ""
        ('["a", "", "b"]', ["a", "c", "b"], False),
        ('["a", "b"]', ["a", None], False),
        ('[1.5, 2]', (1.5, 2.0), True),
    ],
)
def test_cells_compare_by_kind(expected: str | None, actual: object, equal: bool) -> None:
    """Strings by equality, numbers by tolerance, booleans by truth, missing only with missing."""
    assert values_equivalent(expected, actual, TIGHT) is equal


def test_column_comparison_reports_first_mismatching_rows() -> None:
    """A column comparison counts every mismatch and keeps the first few with row numbers."""
    result = compare_column(
        "y", "y", ["1", "2", "3", "4"], [1.0, 2.5, 3.0, 5.0], TIGHT, rows=[10, 11, 12, 13]
    )
    assert not result.ok
    assert result.n_mismatches == 2
    assert [m.row for m in result.mismatches] == [11, 13]
    assert "2 of 4 rows differ beyond PMMLEquivalence(1e-13, 1e-13)" in result.describe(TIGHT)


def test_column_comparison_refuses_columns_of_different_length() -> None:
    """Misaligned expected and actual columns are a harness error, not a pass."""
    with pytest.raises(ValueError, match=r"column 'y': expected 2 values, got 1 results"):
        compare_column("y", "y", ["1", "2"], [1.0], TIGHT)


def test_negative_tolerance_is_refused() -> None:
    """A negative precision makes no sense and is rejected."""
    with pytest.raises(ValueError, match="must not be negative"):
        Tolerance(-1e-13, 0.0)


# -- running a case -------------------------------------------------------------------------------

_CONSTANT_MODEL = """<PMML xmlns="http://www.dmg.org/PMML-4_4" version="4.4">
  <Header/>
  <DataDictionary>
    <DataField name="y" optype="continuous" dataType="double"/>
  </DataDictionary>
  <RegressionModel functionName="regression">
    <MiningSchema>
      <MiningField name="y" usageType="target"/>
    </MiningSchema>
    <RegressionTable intercept="2.5"/>
  </RegressionModel>
</PMML>
"""


@pytest.mark.parametrize(("expected", "ok"), [("2.5", True), ("2.6", False)])
def test_model_without_inputs_is_scored_on_one_empty_record_per_expected_row(
    tmp_path: Path, expected: str, ok: bool
) -> None:
    """No input table is needed when the model has no input fields: each expected row is compared."""
    from pmserve import pmml

    (tmp_path / "model.pmml").write_text(_CONSTANT_MODEL, encoding="utf-8")
    (tmp_path / "expected.csv").write_text(f"y\n2.5\n{expected}\n", encoding="utf-8")
    case = Case(
        case_id="u/NoInputs", folder="jpmml-unit", model_path=tmp_path / "model.pmml", input_path=None,
        expected_path=tmp_path / "expected.csv", model_type="RegressionModel", producer="", notes="",
        tolerance=REFERENCE_DEFAULT, expected_source="reference",
    )
    run = run_case(case, pmml.load(case.model_path))
    assert run.n_rows == 2
    assert [c.n_rows for c in run.comparisons] == [2]
    assert run.ok is ok
