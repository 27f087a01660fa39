"""The PMML built-in function library (pmserve.pmml.expressions.functions)."""

from __future__ import annotations

import math
import pickle
import re
import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from pmserve.pmml.expressions.functions import BUILTINS, Builtin
from pmserve.pmml.expressions.functions._normal import erf, erfc, std_normal_idf
from pmserve.pmml.fields.types import DataType, is_missing

T = DataType
D, INT, F, S, B = T.DOUBLE, T.INTEGER, T.FLOAT, T.STRING, T.BOOLEAN
NA = None  # a missing value in the tables below

CONFORMANCE = Path(__file__).resolve().parents[2].parent / "shared" / "conformance"


def column(values: Sequence[Any], dtype: DataType) -> np.ndarray[Any, Any]:
    """An engine column: object/None for strings, float64/NaN for everything else."""
    if dtype.is_string:
        out = np.empty(len(values), dtype=object)
        out[:] = list(values)
        return out
    return np.array([np.nan if v is None else float(v) for v in values], dtype=np.float64)


def apply(name: str, args: Sequence[Any], types: Sequence[DataType]) -> list[Any]:
    """Call a built-in as the expression compiler does: broadcast constants, then mask missing rows."""
    builtin = BUILTINS[name]
    n = max((len(a) for a in args if isinstance(a, list)), default=1)
    cols = [column(a if isinstance(a, list) else [a] * n, t) for a, t in zip(args, types, strict=True)]
    out = builtin.impl(cols, types)
    assert len(out) == n
    if builtin.propagate_missing:
        out = out.copy()
        for col in cols:
            out[is_missing(col)] = None if out.dtype == object else np.nan
    if out.dtype == object:
        return list(out)
    return [None if math.isnan(v) else v for v in out.tolist()]


def check(actual: list[Any], expected: list[Any]) -> None:
    assert len(actual) == len(expected)
    for a, e in zip(actual, expected, strict=True):
        if e is None or isinstance(e, str):
            assert a == e
        else:
            assert a == pytest.approx(e, rel=1e-12, abs=1e-300)


# -- the registry ---------------------------------------------------------------------------------

PMML_44 = [
    "+", "-", "*", "/", "min", "max", "sum", "avg", "median", "product", "log10", "ln", "sqrt", "abs",
    "exp", "pow", "threshold", "floor", "ceil", "round", "modulo", "isMissing", "isNotMissing", "equal",
    "notEqual", "lessThan", "lessOrEqual", "greaterThan", "greaterOrEqual", "and", "or", "not", "isIn",
    "isNotIn", "uppercase", "lowercase", "stringLength", "substring", "trimBlanks", "concat",
    "replace", "matches", "formatNumber", "formatDatetime", "dateDaysSinceYear", "dateSecondsSinceYear",
    "dateSecondsSinceMidnight", "normalCDF", "normalPDF", "stdNormalCDF", "stdNormalPDF", "erf",
    "normalIDF", "stdNormalIDF", "expm1", "hypot", "ln1p", "rint", "sin", "asin", "sinh", "cos", "acos",
    "cosh", "tan", "atan", "tanh",
]

JPMML_EXTENSIONS = [
    "x-acos", "x-asin", "x-atan", "x-atan2", "x-cos", "x-cosh", "x-expm1", "x-hypot", "x-ln1p", "x-modulo",
    "x-rint", "x-sin", "x-sinh", "x-tan", "x-tanh",
]


@pytest.mark.parametrize("name", PMML_44 + JPMML_EXTENSIONS)
def test_every_pmml_44_function_and_jpmml_extension_is_registered_under_its_name(name: str) -> None:
    """Each PMML 4.4 built-in and JPMML x- function is in BUILTINS, named by its key."""
    assert isinstance(BUILTINS[name], Builtin)
    assert BUILTINS[name].name == name


@pytest.mark.parametrize("name", ["if", "isValid", "isNotValid"])
def test_if_and_validity_functions_are_left_to_the_expression_compiler(name: str) -> None:
    """if evaluates its branches lazily and isValid/isNotValid need field validity facts, so they
    are not plain built-ins."""
    assert name not in BUILTINS


def test_builtins_cannot_be_changed_at_run_time() -> None:
    """The registry is a read-only mapping."""
    with pytest.raises(TypeError, match="does not support item assignment"):
        BUILTINS["+"] = BUILTINS["-"]  # type: ignore[index]


@pytest.mark.parametrize("name", sorted(BUILTINS))
def test_every_builtin_survives_pickling(name: str) -> None:
    """Compiled models are pickled, so every Builtin and its impl must round-trip."""
    copy = pickle.loads(pickle.dumps(BUILTINS[name]))
    assert copy.name == name
    assert copy.impl([column([1.0, 2.0], D)] * copy.min_args, [D] * copy.min_args).shape == (2,)


@pytest.mark.parametrize(
    ("name", "min_args", "max_args"),
    [("+", 2, 2), ("sum", 1, None), ("isIn", 2, None), ("concat", 2, None),
     ("substring", 3, 3), ("normalCDF", 3, 3), ("and", 2, None), ("not", 1, 1)],
)
def test_arity_follows_the_specification(name: str, min_args: int, max_args: int | None) -> None:
    """min_args/max_args carry the PMML signature."""
    assert (BUILTINS[name].min_args, BUILTINS[name].max_args) == (min_args, max_args)


# -- result types ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "types", "expected"),
    [
        ("+", [INT, INT], INT), ("-", [INT, D], D), ("*", [INT, F], F), ("*", [F, D], D),
        ("/", [INT, INT], D), ("/", [F, INT], F), ("sum", [INT, INT, INT], INT), ("avg", [INT, INT], D),
        ("avg", [F, F], F), ("median", [INT, INT], D), ("min", [INT, D], D), ("product", [INT, INT], INT),
        ("round", [D], INT), ("floor", [D], INT), ("ceil", [F], INT), ("abs", [INT], INT), ("abs", [F], F),
        ("rint", [D], D), ("exp", [INT], D), ("ln", [F], D), ("pow", [INT, INT], D),
        ("threshold", [D, D], INT), ("modulo", [INT, INT], INT), ("x-modulo", [D, INT], D),
        ("equal", [S, S], B), ("and", [B, B, B], B), ("isMissing", [S], B),
        ("uppercase", [S], S), ("stringLength", [S], INT),
        ("formatNumber", [D, S], S), ("dateDaysSinceYear", [T.DATE, INT], INT),
        ("normalIDF", [D, D, D], D), ("hypot", [INT, INT], D),
    ],
)
def test_result_type_follows_the_arguments(name: str, types: list[DataType], expected: DataType) -> None:
    """Result types follow PMML 4.4 and JPMML's common-type rule."""
    assert BUILTINS[name].result_type(types) is expected


def test_float_results_are_rounded_to_single_precision() -> None:
    """A float-typed result is stored at float32 precision like every float column."""
    out = BUILTINS["+"].impl([column([0.1], F), column([0.2], F)], [F, F])
    assert out[0] == float(np.float32(0.1 + 0.2))
    assert out[0] != 0.1 + 0.2


# -- missing values -------------------------------------------------------------------------------

SAMPLE_TYPES: dict[str, list[DataType]] = {
    "isMissing": [S], "isNotMissing": [D], "isIn": [S, S, S], "isNotIn": [D, D],
    "uppercase": [S], "lowercase": [S], "trimBlanks": [S], "stringLength": [S], "substring": [S, INT, INT],
    "concat": [S, D, S], "replace": [S, S, S], "matches": [S, S], "formatNumber": [D, S],
    "formatDatetime": [T.DATE_TIME, S], "dateDaysSinceYear": [T.DATE, INT],
    "dateSecondsSinceYear": [T.DATE_TIME, INT], "dateSecondsSinceMidnight": [T.TIME],
    "equal": [S, S], "lessThan": [S, S],
}
SAMPLE_VALUES = {S: ["abc", None, "%.2f"], D: [1.5, None, 2.0], INT: [2, None, 1], B: [1, None, 0],
                 T.DATE: [15000, None, 0], T.DATE_TIME: [1e9, None, 0], T.TIME: [3600, None, 60]}


def _sample_types(name: str) -> list[DataType]:
    builtin = BUILTINS[name]
    return SAMPLE_TYPES.get(name, [D] * max(builtin.min_args, 2 if builtin.max_args is None else 1))


@pytest.mark.parametrize("name", sorted(BUILTINS))
def test_every_builtin_computes_over_missing_rows_without_raising_or_warning(name: str) -> None:
    """Missing rows never make an impl raise or warn (warnings are errors here)."""
    types = _sample_types(name)
    cols = [column(SAMPLE_VALUES[t], t) for t in types]
    out = BUILTINS[name].impl(cols, types)
    assert out.shape == (3,)
    assert (out.dtype == object) == BUILTINS[name].result_type(types).is_string


def test_only_functions_with_their_own_missing_value_rules_opt_out_of_propagation() -> None:
    """PMML: except as noted (aggregates, isMissing, isIn, concat), missing in gives missing out."""
    own_rules = {n for n, b in BUILTINS.items() if not b.propagate_missing}
    assert own_rules == {"min", "max", "sum", "avg", "median", "product", "isMissing", "isNotMissing",
                         "isIn", "isNotIn", "concat"}


@pytest.mark.parametrize(
    ("name", "args", "types", "expected"),
    [
        ("min", [[1, NA, NA], [3, 2, NA]], [D, D], [1, 2, NA]),
        ("max", [[1, NA, NA], [3, 2, NA]], [D, D], [3, 2, NA]),
        ("sum", [[1, NA, NA], [3, 2, NA], [1, 1, NA]], [D, D, D], [5, 3, NA]),
        ("product", [[2, NA, NA], [3, 2, NA]], [D, D], [6, 2, NA]),
        ("avg", [[1, NA, NA], [4, 2, NA], [NA, 5, NA]], [INT, INT, INT], [2.5, 3.5, NA]),
        ("median", [[1, NA, 7], [4, 2, NA], [9, 5, NA], [NA, 3, NA]], [D] * 4, [4, 3, 7]),
        ("isMissing", [["a", NA]], [S], [0, 1]),
        ("isNotMissing", [[1.0, NA]], [D], [1, 0]),
        ("isIn", [["a", NA, NA, "b"], "a", [NA, NA, "x", "c"]], [S, S, S], [1, 1, 0, 0]),
        ("isNotIn", [["a", NA, NA, "b"], "a", [NA, NA, "x", "c"]], [S, S, S], [0, 0, 1, 1]),
        ("isIn", [[1, 2, 3], 3, [2, NA, NA]], [INT, INT, INT], [0, 0, 1]),
        ("concat", [["a", NA, NA], ["b", "c", NA]], [S, S], ["ab", "c", ""]),
    ],
)
def test_functions_with_their_own_missing_value_rules(
    name: str, args: list[Any], types: list[DataType], expected: list[Any]
) -> None:
    """Aggregates ignore missing inputs; isIn and concat follow PMML/JPMML rules."""
    check(apply(name, args, types), expected)


# -- arithmetic and mathematics -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "args", "types", "expected"),
    [
        ("+", [[2.5, 1], [4, NA]], [D, D], [6.5, NA]),
        ("-", [2.5, 4], [D, D], [-1.5]),
        ("*", [[3, -2], 4], [INT, INT], [12, -8]),
        ("/", [[7, 1, -1, 0], [2, 0, 0, 0]], [INT, INT], [3.5, math.inf, -math.inf, NA]),
        ("pow", [[2, 2, 0, -8], [10, -1, -1, 1 / 3]], [D, D], [1024, 0.5, math.inf, NA]),
        ("threshold", [[1, 2, 3], 2], [D, D], [0, 0, 1]),
        ("floor", [[1.5, -1.5, 2]], [D], [1, -2, 2]),
        ("ceil", [[1.5, -1.5, 2]], [D], [2, -1, 2]),
        ("round", [[2.5, -2.5, 0.49999999999999994, 1.4, -1.6]], [D], [3, -2, 0, 1, -2]),
        ("rint", [[2.5, 3.5, -2.5, 1.4]], [D], [2, 4, -2, 1]),
        ("x-rint", [[0.5]], [D], [0]),
        ("modulo", [[7, -7, 7, -7, 5], [3, 3, -3, -3, 0]], [INT, INT], [1, 2, -2, -1, NA]),
        ("x-modulo", [[5.5], [2]], [D, D], [1.5]),
        ("abs", [[-1.5, 2, NA]], [D], [1.5, 2, NA]),
        ("log10", [[1000, 0, -1]], [D], [3, -math.inf, NA]),
        ("ln", [[math.e, 1, -1]], [D], [1, 0, NA]),
        ("sqrt", [[4, -1]], [D], [2, NA]),
        ("exp", [[0, 1, 1000]], [D], [1, math.e, math.inf]),
        ("expm1", [[1e-10]], [D], [1.00000000005e-10]),
        ("ln1p", [[1e-10, -2]], [D], [9.9999999995e-11, NA]),
        ("hypot", [[3, 1e300], [4, 1e300]], [D, D], [5, math.sqrt(2) * 1e300]),
        ("x-hypot", [3, 4], [INT, INT], [5]),
        ("sin", [[0, math.pi / 2]], [D], [0, 1]),
        ("asin", [[1, 2]], [D], [math.pi / 2, NA]),
        ("acos", [[1, -2]], [D], [0, NA]),
        ("atan", [[1]], [D], [math.pi / 4]),
        ("x-atan2", [[1, 0], [0, 0]], [D, D], [math.pi / 2, 0]),
        ("cos", [[0]], [D], [1]),
        ("tan", [[math.pi / 4]], [D], [math.tan(math.pi / 4)]),
        ("sinh", [[1]], [D], [math.sinh(1)]),
        ("cosh", [[1]], [D], [math.cosh(1)]),
        ("tanh", [[1, 1000]], [D], [math.tanh(1), 1]),
        ("+", [["1.5", "x"], 1], [S, D], [2.5, NA]),
    ],
)
def test_arithmetic_and_math_functions(
    name: str, args: list[Any], types: list[DataType], expected: list[Any]
) -> None:
    """Numeric built-ins, with domain errors as missing values and Java's infinities kept."""
    check(apply(name, args, types), expected)


# -- comparisons and boolean logic ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "args", "types", "expected"),
    [
        ("equal", [[1, 2, NA], 2], [D, INT], [0, 1, NA]),
        ("notEqual", [["a", "b"], "a"], [S, S], [0, 1]),
        ("equal", [["2", "x"], 2], [S, INT], [1, 0]),
        ("lessThan", [[1, 2, 3], 2], [D, D], [1, 0, 0]),
        ("lessOrEqual", [[1, 2, 3], 2], [D, D], [1, 1, 0]),
        ("greaterThan", [[1, 2, 3], 2], [D, D], [0, 0, 1]),
        ("greaterOrEqual", [[1, 2, 3], 2], [D, D], [0, 1, 1]),
        ("lessThan", [["apple", "pear", "Z"], "banana"], [S, S], [1, 0, 1]),
        ("and", [[1, 1, 0, NA], [1, 0, 0, 1], 1], [B, B, B], [1, 0, 0, NA]),
        ("or", [[1, 0, 0, NA], [0, 0, 1, 1]], [B, B], [1, 0, 1, NA]),
        ("not", [[1, 0, NA]], [B], [0, 1, NA]),
    ],
)
def test_comparisons_and_boolean_functions(
    name: str, args: list[Any], types: list[DataType], expected: list[Any]
) -> None:
    """Comparisons give booleans (1/0); and/or propagate missing values as JPMML does."""
    check(apply(name, args, types), expected)


# -- strings --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "args", "types", "expected"),
    [
        ("uppercase", [["abc", "ß", NA]], [S], ["ABC", "SS", NA]),
        ("lowercase", [["ABC", "Ä"]], [S], ["abc", "ä"]),
        ("trimBlanks", [["  a b \t", "\x01x\n", "\u00a0y"]], [S], ["a b", "x", "\u00a0y"]),
        ("stringLength", [["", "abc", NA]], [S], [0, 3, NA]),
        ("substring", [["aBc9x", "ab", "abc"], 2, 3], [S, INT, INT], ["Bc9", "b", "bc"]),
        ("substring", ["abc", [0, 1, 1, 5, 1.5], [1, -1, 0, 1, 1]], [S, INT, INT], [NA, NA, "", "", NA]),
        ("substring", [[12345.0], 1, 2], [INT, INT, INT], ["12"]),
        ("concat", ["a", 1, 2.5, 1e7, 1e-4, 0.001], [S, INT, D, D, D, D], ["a12.51.0E71.0E-40.001"]),
        ("concat", [["x"], [1.0], [0.1]], [S, B, F], ["xtrue0.1"]),
        ("replace", [["BBBB", "ab"], "B+", "c"], [S, S, S], ["c", "ab"]),
        ("replace", [["Iris-setosa"], "Iris-", ""], [S, S, S], ["setosa"]),
        ("replace", [["john smith"], r"(\w+) (\w+)", "$2, $1"], [S, S, S], ["smith, john"]),
        ("replace", [["a.b"], r"\.", r"\$\\"], [S, S, S], ["a$\\b"]),
        ("replace", [["ab"], "(?<first>a)", "${first}${first}"], [S, S, S], ["aab"]),
        ("replace", [["ab"], "(a)|(z)", "[$2]"], [S, S, S], ["[]b"]),
        ("replace", [["ab", "ab"], ["(", "a"], ["x", "$3"]], [S, S, S], [NA, NA]),
        ("matches", [["Iris-setosa", "x", "ab12"], "set|\\d+"], [S, S], [1, 0, 1]),
        ("matches", [["abc"], "["], [S, S], [NA]),
        ("matches", [["ab", "ab"], ["^a", "b$"]], [S, S], [1, 1]),
    ],
)
def test_string_functions(name: str, args: list[Any], types: list[DataType], expected: list[Any]) -> None:
    """String built-ins: 1-based substring, Java trim, Java regex and $n replacement syntax."""
    check(apply(name, args, types), expected)


@pytest.mark.parametrize(
    ("value", "dtype", "pattern", "expected"),
    [
        (3.14159, D, "%.2f", "3.14"),
        (3.14159, D, "%08.3f", "0003.142"),
        (-3.14159, D, "%+.1e", "-3.1e+00"),
        (42, INT, "%5d", "   42"),
        (42, INT, "%-5d|", "42   |"),
        (42, INT, "%x", "2a"),
        (-1, INT, "%x", "ffffffff"),
        (1234567, INT, "%,d", "1,234,567"),
        (42, INT, "%s", "42"),
        (2.5, D, "%s", "2.5"),
        (42, INT, "%%d=%d", "%d=42"),
        (42, INT, "12", "12"),
        (2.5, D, "%d", NA),
        (42, INT, "%q", NA),
        (42, INT, "%2$d", NA),
        (42, INT, "50%", NA),
    ],
)
def test_format_number_uses_printf_patterns(
    value: float, dtype: DataType, pattern: str, expected: Any
) -> None:
    """formatNumber follows C printf; an unusable pattern gives a missing value."""
    check(apply("formatNumber", [value, pattern], [dtype, S]), [expected])


def test_format_number_groups_rows_by_pattern() -> None:
    """Each row is formatted with its own pattern when patterns differ."""
    check(apply("formatNumber", [[1.25, 2.5, 3.0], ["%.1f", "%.3f", NA]], [D, S]), ["1.2", "2.500", NA])


@pytest.mark.parametrize(
    ("value", "dtype", "pattern", "expected"),
    [
        (12142, T.DATE, "%m/%d/%y", "03/31/03"),  # 2003-03-31
        (12142, T.DATE, "%Y-%j %A %B %b %a %e", "2003-090 Monday March Mar Mon 31"),
        (12142 * 86400 + 13 * 3600 + 5 * 60 + 7, T.DATE_TIME, "%H:%M:%S %I %p %l %k", "13:05:07 01 pm 1 13"),
        (12142 * 86400 + 7, T.DATE_TIME, "%F %T %D %R", "2003-03-31 00:00:07 03/31/03 00:00"),
        (15796, T.DATE_DAYS_SINCE_1960, "%Y-%m-%d", "2003-04-01"),
        (3600, T.TIME, "%H:%M %%", "01:00 %"),
        (0, T.DATE, "%K", NA),
        (0, T.DATE, "%", NA),
    ],
)
def test_format_datetime_uses_strftime_style_patterns(
    value: float, dtype: DataType, pattern: str, expected: Any
) -> None:
    """formatDatetime maps each %X to Java's date conversion, in English and UTC."""
    check(apply("formatDatetime", [value, pattern], [dtype, S]), [expected])


# -- dates ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "args", "types", "expected"),
    [
        # The examples of the PMML 4.4 specification.
        ("dateDaysSinceYear", [12143, 1960], [T.DATE, INT], [15796]),
        ("dateSecondsSinceYear", [-315619200 + 2 * 86400 + 12603, 1960], [T.DATE_TIME, INT], [185403]),
        ("dateSecondsSinceMidnight", [12143 * 86400 + 63], [T.DATE_TIME], [63]),
        ("dateDaysSinceYear", [["2003-04-01", "nonsense"], 1960], [S, INT], [15796, NA]),
        ("dateDaysSinceYear", [10, [1970, 1970.5, -1]], [T.DATE, INT], [10, NA, NA]),
        ("dateDaysSinceYear", [1, 1970], [T.DATE_DAYS_SINCE_1960, INT], [1 - 3653]),
        ("dateDaysSinceYear", [86399, 1970], [T.DATE_TIME, INT], [0]),
        ("dateDaysSinceYear", [-1, 1970], [T.DATE_TIME, INT], [-1]),
        ("dateSecondsSinceYear", [1, 1970], [T.DATE, INT], [86400]),
        ("dateSecondsSinceYear", [0, 1960], [T.DATE_TIME_SECONDS_SINCE_1960, INT], [0]),
        ("dateSecondsSinceMidnight", [[3723.5, 0]], [T.TIME], [3723, 0]),
        ("dateSecondsSinceMidnight", [-1], [T.DATE_TIME], [86399]),
        ("dateSecondsSinceMidnight", [["12:00:01", "2003-04-01T00:01:03"]], [S], [43201, 63]),
        ("dateSecondsSinceMidnight", [5], [T.DATE], [0]),
    ],
)
def test_date_functions(name: str, args: list[Any], types: list[DataType], expected: list[Any]) -> None:
    """Day/second counts from a reference year, for every date representation of the engine."""
    check(apply(name, args, types[: len(args)]), expected)


# -- error function and the normal distribution ---------------------------------------------------

GRID = np.concatenate([np.linspace(-40, 40, 8001), np.geomspace(1e-300, 1, 50), [0.0, -0.0]])


def test_erf_matches_the_c_library_to_double_precision() -> None:
    """The vectorised erf agrees with math.erf to 1e-15 everywhere."""
    expected = np.array([math.erf(x) for x in GRID])
    np.testing.assert_allclose(erf(GRID), expected, rtol=1e-15, atol=1e-300)


def test_erfc_keeps_relative_precision_in_the_far_tail() -> None:
    """erfc is accurate relative to its (tiny) value, where 1 - erf would lose everything."""
    expected = np.array([math.erfc(x) for x in GRID])
    np.testing.assert_allclose(erfc(GRID), expected, rtol=2e-15, atol=0)


@pytest.mark.parametrize(("x", "erf_x", "erfc_x"), [(math.inf, 1.0, 0.0), (-math.inf, -1.0, 2.0)])
def test_erf_limits_at_infinity(x: float, erf_x: float, erfc_x: float) -> None:
    """erf(+-inf) = +-1 and erfc(+-inf) = 0 or 2."""
    assert erf(np.array([x]))[0] == erf_x
    assert erfc(np.array([x]))[0] == erfc_x


def test_error_functions_keep_nan() -> None:
    """NaN (the engine's missing value) stays NaN."""
    assert np.isnan(erf(np.array([np.nan]))[0])
    assert np.isnan(erfc(np.array([np.nan]))[0])


def test_standard_normal_quantile_matches_the_standard_library() -> None:
    """stdNormalIDF agrees with statistics.NormalDist.inv_cdf over (0, 1)."""
    p = np.concatenate([np.linspace(1e-6, 1 - 1e-6, 2001), np.geomspace(1e-300, 1e-6, 60)])
    expected = np.array([statistics.NormalDist().inv_cdf(v) for v in p])
    np.testing.assert_allclose(std_normal_idf(p), expected, rtol=1e-14)


@pytest.mark.parametrize(("p", "expected"), [(0.0, -math.inf), (1.0, math.inf), (-0.1, NA), (1.5, NA)])
def test_standard_normal_quantile_edges(p: float, expected: Any) -> None:
    """IDF of 0 and 1 is -inf/inf (as commons-math); outside [0, 1] it is missing."""
    check(apply("stdNormalIDF", [p], [D]), [expected])


@pytest.mark.parametrize("x", [-37.5, -8.0, -1.96, -0.3, 0.0, 0.7, 1.96, 8.5])
@pytest.mark.parametrize(("mu", "sigma"), [(0.0, 1.0), (10.0, 2.5), (-3.0, 0.1)])
def test_normal_distribution_functions_match_the_standard_library(x: float, mu: float, sigma: float) -> None:
    """normalCDF/PDF/IDF and their standard forms agree with NormalDist and math.erfc."""
    z = (x - mu) / sigma
    cdf = 0.5 * math.erfc(-z / math.sqrt(2.0))
    pdf = statistics.NormalDist(mu, sigma).pdf(x)
    assert apply("normalCDF", [x, mu, sigma], [D, D, D])[0] == pytest.approx(cdf, rel=1e-13, abs=1e-300)
    # exp(-z^2/2) magnifies the rounding of z by z^2 (up to ~1e3 here), hence the wider tolerance.
    assert apply("normalPDF", [x, mu, sigma], [D, D, D])[0] == pytest.approx(pdf, rel=1e-12, abs=1e-300)
    assert apply("stdNormalCDF", [z], [D])[0] == pytest.approx(cdf, rel=1e-13, abs=1e-300)
    p = statistics.NormalDist().cdf(math.tanh(x))  # a probability well inside (0, 1)
    idf = statistics.NormalDist(mu, sigma).inv_cdf(p)
    assert apply("normalIDF", [p, mu, sigma], [D, D, D])[0] == pytest.approx(idf, rel=1e-13, abs=1e-13)


def test_standard_normal_pdf_and_erf_builtins() -> None:
    """stdNormalPDF and erf as built-ins over columns."""
    root = math.sqrt(2 * math.pi)
    check(apply("stdNormalPDF", [[0.0, 1.0]], [D]), [1 / root, math.exp(-0.5) / root])
    check(apply("erf", [[0.5, -2.0]], [D]), [math.erf(0.5), math.erf(-2.0)])


@pytest.mark.parametrize("name", ["normalCDF", "normalPDF", "normalIDF"])
def test_normal_functions_with_a_non_positive_sigma_give_missing(name: str) -> None:
    """sigma <= 0 is undefined (JPMML rejects it): the result is missing."""
    check(apply(name, [0.5, 0.0, [0.0, -1.0]], [D, D, D]), [NA, NA])


# -- the conformance corpus -----------------------------------------------------------------------


@pytest.mark.skipif(not CONFORMANCE.is_dir(), reason="the shared conformance corpus is absent")
def test_every_function_the_conformance_corpus_applies_is_built_in_or_user_defined() -> None:
    """Each Apply/@function in the corpus names a built-in, one the Apply expression compiles
    itself, or a DefineFunction of that document."""
    unknown: set[str] = set()
    for path in CONFORMANCE.rglob("*.pmml"):
        text = path.read_text(encoding="utf-8", errors="replace")
        defined = set(re.findall(r'<DefineFunction\s[^>]*name="([^"]+)"', text))
        used = set(re.findall(r'<Apply\s[^>]*function="([^"]+)"', text))
        unknown |= used - defined - set(BUILTINS) - {"if", "isValid", "isNotValid"}
    assert not unknown
