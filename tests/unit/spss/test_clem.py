"""CLEM: parsing, limits, and every operator and function family against values worked out by
hand from IBM's definitions (CLEM language reference, SPSS Modeler 18)."""

from __future__ import annotations

import datetime
import math
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from pmserve.errors import DocumentError, UnsupportedMarkupError
from pmserve.formats.spss._model import SpssField, Table
from pmserve.formats.spss.clem import ClemLimits, ClemSyntaxError, compile_expression, supported_functions
from pmserve.formats.spss.clem._parser import parse

FIELDS = (
    SpssField("i", "integer"), SpssField("j", "integer"), SpssField("x", "real"), SpssField("s", "string"),
    SpssField("d", "date"), SpssField("t", "time"), SpssField("ts", "timestamp"),
    SpssField("Sex", "string", "flag", values=("F", "M")), SpssField("Field name", "real"),
)
# three records; the last one is $null$ everywhere
COLUMNS = {
    "i": [7.0, -7.0, None], "j": [2.0, 2.0, None], "x": [2.5, -2.5, None], "s": ["hello world", "ab", None],
    "d": [0.0, 11016.0, None],  # 1970-01-01 (a Thursday), 2000-02-29
    "t": [3723.0, 0.0, None],  # 01:02:03, 00:00:00
    "ts": [86400.0 * 11016 + 3723.0, 0.0, None], "Sex": ["M", "F", None], "Field name": [1.0, 2.0, None],
}


def _table() -> Table:
    cols: dict[str, np.ndarray] = {}
    for f in FIELDS:
        raw = COLUMNS[f.name]
        cols[f.name] = (np.array(raw, dtype=object) if f.storage == "string"
                        else np.array([np.nan if v is None else v for v in raw], dtype=float))
    return Table(FIELDS, cols, 3)


DEFAULT_LIMITS = ClemLimits()


def compile_(text: str, *, condition: bool = False, properties: dict[str, str] | None = None,
             limits: ClemLimits = DEFAULT_LIMITS, current: str | None = None) -> Any:
    return compile_expression(text, FIELDS, where="node 'Derive' (DeriveNode, id 3)",
                              properties=properties or {}, limits=limits, current_field=current,
                              condition=condition)


def ev(text: str, **kw: Any) -> list[Any]:
    """The expression's value on the three records, None for $null$."""
    out = compile_(text, **kw).values(_table())
    return [None if (v is None or (isinstance(v, float) and math.isnan(v))) else v for v in out.tolist()]


def test_simple_expressions_parse_into_one_chain_per_operator_level() -> None:
    """A long sum is one flat chain, so it costs no recursion per operand."""
    tree = parse(" + ".join(f"f{k}" for k in range(2000)), max_length=100_000, max_depth=8)
    assert len(tree.operands) == 2000  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("i +", "expected a value at offset 3"),
        ("(i", "expected '\\)' at offset 2"),
        ("if i then j", "expected 'endif'"),
        ("i = j = 1", "follows another comparison"),
        ("'abc", "unterminated quoted field name"),
        ('"abc', "unterminated string"),
        ("i # j", "unexpected character '#' at offset 2"),
        ("", "empty"),
    ],
)
def test_syntax_errors_say_where(text: str, message: str) -> None:
    """A broken expression is a document error with the offset where it breaks."""
    with pytest.raises(ClemSyntaxError, match=message):
        compile_(text)


def test_nesting_and_length_are_bounded_by_the_limits() -> None:
    """Deep nesting and long text are refused before any work, naming the setting to raise."""
    with pytest.raises(ClemSyntaxError, match=r"nests deeper than 10 levels.*PMSERVE_CLEM_MAX_DEPTH"):
        compile_("(" * 11 + "i" + ")" * 11, limits=ClemLimits(max_depth=10))
    with pytest.raises(ClemSyntaxError, match=r"more than the 20 allowed.*PMSERVE_CLEM_MAX_LENGTH"):
        compile_("i + " * 10 + "i", limits=ClemLimits(max_length=20))
    # a hostile depth far past Python's recursion limit is refused the same way
    with pytest.raises(ClemSyntaxError, match=r"nests deeper"):
        compile_("-" * 50_000 + "i", limits=ClemLimits(max_length=100_000))
    with pytest.raises(ClemSyntaxError, match=r"nests deeper"):
        compile_("f(" * 5_000 + ")" * 5_000, limits=ClemLimits(max_length=100_000))


@pytest.mark.parametrize(
    ("text", "kind", "expected"),
    [
        ("i + j", "integer", [9.0, -5.0, None]),
        ("i - j * 2", "integer", [3.0, -11.0, None]),
        ("i / j", "real", [3.5, -3.5, None]),  # "/" is real division even for integers
        ("i div j", "integer", [3.0, -3.0, None]),  # truncates toward zero
        ("i rem j", "integer", [1.0, -1.0, None]),  # INT1 - (INT1 div INT2) * INT2
        ("i mod j", "integer", [1.0, -1.0, None]),
        ("i / 0", "real", [None, None, None]),  # division by zero gives $null$
        ("x * 2", "real", [5.0, -5.0, None]),
        ("j ** 3", "integer", [8.0, 8.0, None]),
        ("j ** 0.5", "real", [math.sqrt(2), math.sqrt(2), None]),
        ("-2 ** 2", "integer", [-4.0, -4.0, -4.0]),  # unary minus binds like binary minus
        ("-i * j", "integer", [-14.0, 14.0, None]),
        ("(i + j) * 2", "integer", [18.0, -10.0, None]),
        ("i && 3", "integer", [3.0, 1.0, None]),  # -7 is ...11111001 in two's complement
        ("i || 8", "integer", [15.0, -7.0, None]),
        ("i ||/& 1", "integer", [6.0, -8.0, None]),
        ("j << 2", "integer", [8.0, 8.0, None]),
        ("~~ j", "integer", [-3.0, -3.0, None]),
    ],
)
def test_arithmetic(text: str, kind: str, expected: list[Any]) -> None:
    """Integer and real arithmetic as CLEM types it; $null$ propagates."""
    assert compile_(text).kind == kind
    assert ev(text) == pytest.approx(expected, nan_ok=True) if None not in expected else ev(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("i > j", ["T", "F", None]),
        ("i = 7", ["T", "F", None]),
        ("i /= 7", ["F", "T", None]),
        ("s = \"ab\"", ["F", "T", None]),
        ("s < \"b\"", ["F", "T", None]),
        ("Sex = 'M'", ["T", "F", None]),  # 'M' names no field, so it is a string
        ("i > 0 and j > 0", ["T", "F", None]),
        ("i > 0 or j > 0", ["T", "T", None]),
        ("i > 100 and @NULL(i)", ["F", "F", None]),
        ("i < 100 or @NULL(i)", ["T", "T", "T"]),  # Kleene: true or $null$ is true
        ("i > 100 and x > 0", ["F", "F", None]),
        ("not(i > 0)", ["F", "T", None]),
        ("not Sex", ["F", "T", None]),  # a flag field reads as its true value
        ("i &&=_0 8", ["T", "F", None]),  # 7 & 8 is 0; -7 & 8 is 8
        ("j &&/=_0 2", ["T", "T", None]),
    ],
)
def test_comparisons_and_logic_are_three_valued(text: str, expected: list[Any]) -> None:
    """Comparisons with $null$ are $null$; a boolean field value is T or F."""
    assert ev(text) == expected


def test_conditional_takes_the_first_true_branch_and_a_null_condition_is_not_true() -> None:
    """if/elseif/else/endif; a $null$ condition falls through to the next branch."""
    text = 'if i > 5 then "big" elseif i < 0 then "negative" else "unknown" endif'
    assert ev(text) == ["big", "negative", "unknown"]
    assert ev("if i > 5 then 1 else 2.5 endif") == [1.0, 2.5, 2.5]
    assert compile_("if i > 5 then 1 else 2.5 endif").kind == "real"
    assert ev("if i > 5 then s endif") == ["hello world", None, None]
    assert ev("if i > 5 then undef else i endif") == [None, -7.0, None]
    with pytest.raises(DocumentError, match=r"different kinds: integer, string"):
        compile_('if i > 5 then 1 else "x" endif')


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("abs(i)", [7.0, 7.0, None]),
        ("negate(x)", [-2.5, 2.5, None]),
        ("sign(x)", [1.0, -1.0, None]),
        ("intof(x)", [2.0, -2.0, None]),
        ("fracof(x)", [0.5, -0.5, None]),
        ("round(x)", [3.0, -3.0, None]),  # intof(NUM + 0.5) / intof(NUM - 0.5)
        ("round(2.4)", [2.0, 2.0, 2.0]),
        ("sqrt(j)", [math.sqrt(2), math.sqrt(2), None]),
        ("sqrt(i)", [math.sqrt(7), None, None]),  # the square root of a negative number is $null$
        ("log(j)", [math.log(2), math.log(2), None]),
        ("log(0)", [None, None, None]),
        ("log10(100)", [2.0, 2.0, 2.0]),
        ("exp(1)", [math.e, math.e, math.e]),
        ("max(i, j)", [7.0, 2.0, None]),
        ("min(i, x)", [2.5, -7.0, None]),
        ("pi", [math.pi] * 3),
        ("sin(pi / 2)", [1.0] * 3),
        ("cos(0)", [1.0] * 3),
        ("arctan2(1, 1)", [math.pi / 4] * 3),
        ("arcsin(1)", [math.pi / 2] * 3),
        ("tanh(0)", [0.0] * 3),
        ("cdf_normal(0, 0, 1)", [0.5] * 3),
        ("cdf_normal(x, 0, 1)", [0.9937903346742238, 0.006209665325776159, None]),
        ("cdf_normal(1, 0, 0)", [None] * 3),
    ],
)
def test_numeric_and_trigonometric_functions(text: str, expected: list[Any]) -> None:
    """Numeric functions by IBM's definitions; angles in radians by default."""
    got = ev(text)
    assert [g is None for g in got] == [e is None for e in expected]
    assert [g for g in got if g is not None] == pytest.approx([e for e in expected if e is not None])


def test_trigonometry_follows_the_stream_angle_setting() -> None:
    """With anglesInRadians false, sin reads degrees and arcsin answers in degrees."""
    degrees = {"anglesInRadians": "false"}
    assert ev("sin(90)", properties=degrees) == pytest.approx([1.0] * 3)
    assert ev("arcsin(1)", properties=degrees) == pytest.approx([90.0] * 3)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("length(s)", [11.0, 2.0, None]),
        ("substring(2, 3, s)", ["ell", "b", None]),
        ("substring_between(2, 4, s)", ["ell", "b", None]),
        ("startstring(3, s)", ["hel", "ab", None]),
        ("endstring(3, s)", ["rld", "ab", None]),
        ("allbutfirst(6, s)", ["world", "", None]),
        ("allbutlast(6, s)", ["hello", "", None]),
        ("lowertoupper(s)", ["HELLO WORLD", "AB", None]),
        ("uppertolower(\"AbC\")", ["abc"] * 3),
        ("trim(\"  a b \")", ["a b"] * 3),
        ("trim_start(\"  a \")", ["a "] * 3),
        ("trimend(\"  a \")", ["  a"] * 3),
        ("hasstartstring(s, \"he\")", [1.0, 0.0, None]),
        ("isstartstring(\"ab\", s)", [0.0, 1.0, None]),
        ("isendstring(\"world\", s)", [7.0, 0.0, None]),
        ("ismidstring(\"lo w\", s)", [4.0, 0.0, None]),
        ("ismidstring(\"hello\", s)", [0.0, 0.0, None]),  # starts on the first character: 0
        ("issubstring(\"o\", s)", [5.0, 0.0, None]),
        ("issubstring(\"o\", 6, s)", [8.0, 0.0, None]),
        ("hassubstring(s, \"b\")", [0.0, 2.0, None]),
        ("count_substring(\"foooo.txt\", \"oo\")", [3.0] * 3),  # IBM's own example
        ("matches(s, \"h*o w?rld\")", ["T", "F", None]),
        ("matches(s, \"a[b]\")", ["F", "F", None]),  # only ? and * are wildcards
        ("locchar(`o`, 1, s)", [5.0, 0.0, None]),
        ("locchar(`o`, 6, s)", [8.0, None, None]),  # 6 is past the end of "ab": $null$
        ("locchar(`o`, 40, s)", [None, None, None]),  # an offset beyond the string is $null$
        ("locchar_back(`o`, 11, s)", [8.0, None, None]),
        ("locchar_back(`a`, 2, s)", [0.0, 1.0, None]),
        ("skipchar(`h`, s)", [2.0, 1.0, None]),
        ("stripchar(`l`, s)", ["heo word", "ab", None]),
        ("replace(\"o\", \"0\", s)", ["hell0 w0rld", "ab", None]),
        ("textsplit(s, 2, ` `)", ["world", None, None]),
        ("isalphacode(s)", ["T", "T", None]),
        ("isnumbercode(\"7a\")", ["T"] * 3),
        ("isuppercode(`a`)", ["F"] * 3),
        ("alphabefore(s, \"b\")", ["F", "T", None]),
        ("unicode_value(`A`)", [65.0] * 3),
        ("s >< \"!\"", ["hello world!", "ab!", None]),
        ("i >< j", ["72", "-72", None]),  # >< joins any values as strings
    ],
)
def test_string_functions(text: str, expected: list[Any]) -> None:
    """String functions count subscripts from 1; a $null$ argument gives $null$."""
    assert ev(text) == expected


@pytest.mark.parametrize(
    ("text", "kind", "expected"),
    [
        ("to_string(i)", "string", ["7", "-7", None]),
        ("to_string(x)", "string", ["2.500000", "-2.500000", None]),  # six digits after the point
        ("to_string(d)", "string", ["1970-01-01", "2000-02-29", None]),
        ("to_string(t)", "string", ["01:02:03", "00:00:00", None]),
        ("to_string(ts)", "string", ["2000-02-29 01:02:03", "1970-01-01 00:00:00", None]),
        ("to_integer(\"42\")", "integer", [42.0] * 3),
        ("to_integer(x)", "integer", [2.0, -2.0, None]),
        ("to_real(\"2.5e1\")", "real", [25.0] * 3),
        ("to_real(\"abc\")", "real", [None] * 3),
        ("to_number(i)", "real", [7.0, -7.0, None]),
        ("to_date(\"2000-02-29\")", "date", [11016.0] * 3),
        ("to_date(\"29/02/2000\")", "date", [None] * 3),  # not in the stream's date format
        ("to_time(\"01:02:03\")", "time", [3723.0] * 3),
        ("to_timestamp(d)", "timestamp", [0.0, 86400.0 * 11016, None]),
        ("to_timestamp(\"1970-01-02 00:00:01\")", "timestamp", [86401.0] * 3),
        ("to_datetime(d)", "date", [0.0, 11016.0, None]),
        ("to_datetime(\"1970-01-02\")", "timestamp", [86400.0] * 3),
        ("datetime_date(ts)", "date", [11016.0, 0.0, None]),
        ("datetime_date(86400 * 2)", "date", [-25567.0 + 2] * 3),  # seconds since the base date 1900-01-01
    ],
)
def test_conversions(text: str, kind: str, expected: list[Any]) -> None:
    """Conversions read and write dates in the stream's formats (format23 = YYYY-MM-DD)."""
    assert compile_(text).kind == kind
    assert ev(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("date_days_difference(d, to_date(\"1970-01-31\"))", [30.0, -10986.0, None]),
        ("date_weeks_difference(to_date(\"1970-01-01\"), to_date(\"1970-01-15\"))", [2.0] * 3),
        ("date_months_difference(to_date(\"1970-01-01\"), to_date(\"1970-03-02\"))", [60 / 30.4375] * 3),
        ("date_years_difference(d, to_date(\"1971-01-01\"))", [365 / 365.25, (365 - 11016) / 365.25, None]),
        ("date_in_days(to_date(\"1900-01-31\"))", [30.0] * 3),  # from the stream's base date 1900-01-01
        ("date_in_years(d)", [25567 / 365.25, (25567 + 11016) / 365.25, None]),
        ("datetime_year(d)", [1970.0, 2000.0, None]),
        ("datetime_month(d)", [1.0, 2.0, None]),
        ("datetime_day(d)", [1.0, 29.0, None]),
        ("datetime_weekday(d)", [5.0, 3.0, None]),  # 1 is Sunday: a Thursday is 5, a Tuesday 3
        ("date_iso_day(d)", [4.0, 2.0, None]),  # ISO: 1 is Monday
        ("date_iso_week(d)", [1.0, 9.0, None]),  # 1970-01-01 is a Thursday: week 1
        ("date_iso_year(to_date(\"2010-01-03\"))", [2009.0] * 3),  # a Sunday in 2009's week 53
        ("datetime_hour(t)", [1.0, 0.0, None]),
        ("datetime_minute(ts)", [2.0, 0.0, None]),
        ("datetime_second(t)", [3.0, 0.0, None]),
        ("date_add_days(3, d)", [3.0, 11019.0, None]),
        ("date_add_months(1, to_date(\"2000-01-31\"))", [11016.0] * 3),  # to the month's last day
        ("date_add_years(1, d)", [365.0, 11381.0, None]),  # 2000-02-29 + 1 year = 2001-02-28
    ],
)
def test_date_and_time_functions(text: str, expected: list[Any]) -> None:
    """Differences use IBM's 365.25-day year and 30.4375-day month."""
    got = ev(text)
    assert [g is None for g in got] == [e is None for e in expected]
    assert [g for g in got if g is not None] == pytest.approx([e for e in expected if e is not None])


def test_date_names() -> None:
    """Day and month names in English."""
    assert ev("datetime_day_name(d)") == ["Thursday", "Tuesday", None]
    assert ev("datetime_month_short_name(d)") == ["Jan", "Feb", None]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("@NULL(i)", ["F", "F", "T"]),
        ("@NULL(s)", ["F", "F", "T"]),
        ("@BLANK(x)", ["F", "F", "T"]),
        ("x = $null$", [None, None, None]),
        ("is_string(s)", ["T", "T", "F"]),
        ("is_integer(x)", ["F", "F", "F"]),
        ("sum_n([i, j, x])", [11.5, -7.5, None]),
        ("mean_n([i, j])", [4.5, -2.5, None]),
        ("sdev_n([i, j])", [math.sqrt(12.5), math.sqrt(40.5), None]),
        ("max_n([i, j])", [7.0, 2.0, None]),
        ("min_n([i, j, 0])", [0.0, -7.0, 0.0]),
        ("count_nulls([i, s, x])", [0.0, 0.0, 3.0]),
        ("count_non_nulls([i, s, 1])", [3.0, 3.0, 1.0]),
        ("count_equal(2, [i, j, 2])", [2.0, 2.0, 1.0]),
        ("count_greater_than(0, [i, j])", [2.0, 1.0, 0.0]),
        ("member(i, [7, 8])", ["T", "F", None]),
        ("member(s, ['ab' 'cd'])", ["F", "T", None]),  # Modeler also writes lists without commas
        ("first_index(2, [i, j, 2])", [2.0, 2.0, 3.0]),
        ("last_index(2, [i, j, 2])", [3.0, 3.0, 3.0]),
        ("first_non_null([x, i])", [2.5, -2.5, None]),
        ("value_at(2, [s, \"z\"])", ["z"] * 3),
    ],
)
def test_blank_null_and_list_functions(text: str, expected: list[Any]) -> None:
    """List functions ignore $null$ values; @NULL sees only the system-missing value."""
    got = ev(text)
    if any(isinstance(e, float) for e in expected):
        assert [g is None for g in got] == [e is None for e in expected]
        assert [g for g in got if g is not None] == pytest.approx([e for e in expected if e is not None])
    else:
        assert got == expected


def test_field_references_sequence_and_field_lists() -> None:
    """Quoted names, @FIELD, @OFFSET, @DIFF1, @INDEX, @FIELDS_MATCHING and @FIELDS_BETWEEN."""
    assert ev("'Field name' * 2") == [2.0, 4.0, None]
    assert ev("@FIELD + 1", current="i") == [8.0, -6.0, None]
    assert ev("@OFFSET(i, 1)") == [None, 7.0, -7.0]
    assert ev("@DIFF1(x)") == [None, -5.0, None]
    assert ev("@INDEX") == [1.0, 2.0, 3.0]
    assert ev("@LAST_NON_BLANK(x)") == [2.5, -2.5, -2.5]
    assert ev("@LAST_NON_BLANK(s)") == ["hello world", "ab", "ab"]
    assert ev("sum_n(@FIELDS_BETWEEN(i, x))") == [11.5, -7.5, None]  # i, j, x
    assert ev("sum_n(@FIELDS_MATCHING('Field*'))") == [1.0, 2.0, None]
    assert ev("count_nulls(@FIELDS_BETWEEN(i, x))") == [0.0, 0.0, 3.0]


@pytest.mark.parametrize(
    ("text", "error", "message"),
    [
        ("i + s", DocumentError, "operator '\\+' needs numbers, got a string \\(join strings with ><\\)"),
        ("s > 1", DocumentError, "cannot compare a string with an integer"),
        ("nosuch + 1", DocumentError, "field 'nosuch' does not reach this node"),
        ("substring(1, s)", DocumentError, "substring takes 3 arguments, got 2"),
        ("length(i)", DocumentError, "length: argument 1 must be a string, got an integer"),
        ("sum_n(i)", DocumentError, "the last argument must be a list"),
        ("if s then 1 else 2 endif", DocumentError, "a condition must be true or false, got a string"),
        ("[i, j] + 1", DocumentError, "a list can only be a function's argument"),
        ("[i, j]", DocumentError, "a list can only be a function's argument"),
        ("@FIELD", DocumentError, "@FIELD is only meaningful in a Filler node"),
        ("frobnicate(i)", UnsupportedMarkupError, "CLEM function 'frobnicate' is not a CLEM function pmserve knows"),
        ("random(10)", UnsupportedMarkupError, "CLEM function 'random' is not supported by pmserve"),
        ("@MEAN(i, 3)", UnsupportedMarkupError, "CLEM function '@MEAN' is not supported"),
        ("@OFFSET(i, j)", UnsupportedMarkupError, "non-negative integer constant"),
        ("'$P-limit' > i", UnsupportedMarkupError, "stream parameter '\\$P-limit'"),
    ],
)
def test_bad_expressions_are_refused_at_compile_naming_the_node(
    text: str, error: type[Exception], message: str
) -> None:
    """Type errors, unknown fields and unsupported functions fail at deploy, naming the node."""
    with pytest.raises(error, match=r"node 'Derive' \(DeriveNode, id 3\).*" + message):
        compile_(text)


def test_date_conversions_refuse_an_unknown_stream_date_format() -> None:
    """A string-to-date conversion under a date format pmserve does not know is refused by name."""
    with pytest.raises(UnsupportedMarkupError, match=r"to_date.*date format 'format7'"):
        compile_('to_date("01/02/2000")', properties={"dateFormat": "format7"})
    assert ev("datetime_year(d)", properties={"dateFormat": "format7"}) == [1970.0, 2000.0, None]


def test_a_compiled_expression_pickles_and_evaluates_the_same() -> None:
    """The compiled plan is plain data."""
    compiled = compile_('if i > 0 then lowertoupper(s) else s >< "!" endif')
    again = pickle.loads(pickle.dumps(compiled))
    assert list(again.values(_table())) == list(compiled.values(_table()))


def test_a_condition_has_true_and_null_masks() -> None:
    """Conditions give separate true and $null$ masks for the nodes."""
    true, null = compile_("i > 0", condition=True).truth(_table())
    assert true.tolist() == [True, False, False]
    assert null.tolist() == [False, False, True]


def test_the_nodes_page_lists_every_supported_function() -> None:
    """docs/spss-nodes.md names each function the compiler accepts, so the page stays true."""
    page = (Path(__file__).resolve().parents[3] / "docs" / "spss-nodes.md").read_text(encoding="utf-8")
    missing = [name for name in supported_functions() if f"`{name}`" not in page]
    assert missing == []


@pytest.mark.parametrize(
    "text",
    ["date_add_years(x * 1e300, d)", "datetime_year(date_add_days(1e300, d))",
     "to_string(date_add_days(1e300, d))", "value_at(x * 1e308 * 10, [i])", "i && (j ** 100)", "~~ (j ** 100)",
     "substring(x * 1e308 * 10, 2, s)", "unicode_char(i * 1e20)"],
)
def test_values_out_of_range_give_null_not_a_failure(text: str) -> None:
    """Huge or infinite values reaching date, string and bit functions give $null$ (or a value), never an error."""
    out = ev(text)
    assert len(out) == 3
    assert out[2] is None


def test_today_is_the_date_of_scoring_in_the_stream_format() -> None:
    """@TODAY is read when the records are scored, as a string in the stream's date format."""
    before = datetime.date.today().isoformat()
    got = ev("@TODAY")
    after = datetime.date.today().isoformat()
    assert got[0] in (before, after)
    assert got == [got[0]] * 3


def test_second_differences_read_two_records_back() -> None:
    """@DIFF2(FIELD) is (x - x[-1]) - (x[-1] - x[-2]); $null$ for the first two records."""
    f = (SpssField("x", "integer"),)
    t = Table(f, {"x": np.array([1.0, 4.0, 9.0, 16.0])}, 4)
    compiled = compile_expression("@DIFF2(x)", f, where="n", properties={}, limits=DEFAULT_LIMITS)
    out = compiled.values(t).tolist()
    assert [math.isnan(v) for v in out[:2]] == [True, True]
    assert out[2:] == [2.0, 2.0]
