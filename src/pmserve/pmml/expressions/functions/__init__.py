"""The PMML built-in function library, vectorised over engine columns.

``BUILTINS`` maps a PMML function name (``Apply/@function``) to a :class:`Builtin`: its arity,
the static type of its result and a numpy implementation that maps whole argument columns to
a result column (see ``_types`` for the column representation).

Rules every implementation keeps (PMML 4.4 "Built-in Functions", and JPMML-Evaluator where
the specification is silent):

* Functions never raise on data.  An undefined result (``ln(-1)``, ``substring`` with a start
  before 1, a regular expression that does not compile, ...) is a missing value.
* With ``propagate_missing`` the caller sets the result to missing wherever an argument is
  missing, so such implementations may compute anything on those rows, but never warn.
* Arguments of an unexpected kind are converted as JPMML converts them (a string where a number
  is expected is parsed, a number where a string is expected is printed as Java prints it).
* A ``float`` result is rounded to float32 precision like every ``float`` column.

``if``, ``isValid`` and ``isNotValid`` are not here: ``if`` evaluates each branch on the records
that take it only (see :mod:`pmserve.pmml.expressions.apply`), and the validity functions need
the validity facts of a field, which only the expression compiler knows.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from types import MappingProxyType

import numpy as np

from pmserve.pmml.expressions.functions._args import (
    Impl,
    ResultType,
    _rt_boolean,
    _rt_common,
    _rt_double,
    _rt_integer,
    _rt_real,
    _rt_string,
)
from pmserve.pmml.expressions.functions._dates import (
    _date_days_since_year,
    _date_seconds_since_midnight,
    _date_seconds_since_year,
    _format_datetime,
)
from pmserve.pmml.expressions.functions._format import _format_number
from pmserve.pmml.expressions.functions._normal import _erf, _normal
from pmserve.pmml.expressions.functions._numeric import (
    _aggregate,
    _and,
    _binary,
    _compare,
    _is_in,
    _is_missing,
    _is_not_in,
    _is_not_missing,
    _modulo,
    _not,
    _or,
    _round,
    _threshold,
    _unary,
)
from pmserve.pmml.expressions.functions._strings import (
    _concat,
    _java_trim,
    _matches,
    _replace,
    _string_fn,
    _string_length,
    _substring,
)
from pmserve.pmml.fields.types import Array, DataType, to_float32


@dataclass(frozen=True)
class Builtin:
    """One built-in function: arity, result type and a vectorised implementation."""

    name: str
    min_args: int
    max_args: int | None
    result_type: ResultType
    impl: Impl
    propagate_missing: bool = True


# -- the registry ---------------------------------------------------------------------------------


def _run(impl: Impl, result_type: ResultType, args: Sequence[Array], types: Sequence[DataType]) -> Array:
    out = impl(args, types)
    if result_type(types) is DataType.FLOAT:
        out = to_float32(out)  # PMML float is single precision
    return out


_REGISTRY: dict[str, Builtin] = {}


def _register(
    name: str,
    min_args: int,
    max_args: int | None,
    result_type: ResultType,
    impl: Impl,
    *,
    propagate_missing: bool = True,
    aliases: Sequence[str] = (),
) -> None:
    builtin = Builtin(name, min_args, max_args, result_type,
                      partial(_run, impl, result_type), propagate_missing)
    for key in (name, *aliases):
        if key in _REGISTRY:
            raise ValueError(f"built-in function {key!r} is registered twice")
        _REGISTRY[key] = dataclasses.replace(builtin, name=key)


# Implementations take their leading parameters bound with partial (picklable, unlike a lambda).

# Arithmetic (PMML 4.4 "Arithmetic Functions"); "/" of integers is real division as in XQuery.
_register("+", 2, 2, _rt_common, partial(_binary, np.add))
_register("-", 2, 2, _rt_common, partial(_binary, np.subtract))
_register("*", 2, 2, _rt_common, partial(_binary, np.multiply))
_register("/", 2, 2, _rt_real, partial(_binary, np.divide))
for _kind in ("min", "max", "sum", "product"):
    _register(_kind, 1, None, _rt_common, partial(_aggregate, _kind), propagate_missing=False)
for _kind in ("avg", "median"):
    _register(_kind, 1, None, _rt_real, partial(_aggregate, _kind), propagate_missing=False)

# Mathematical functions.
_math: tuple[tuple[str, np.ufunc], ...] = (
    ("log10", np.log10), ("ln", np.log), ("sqrt", np.sqrt), ("exp", np.exp),
    ("sin", np.sin), ("cos", np.cos), ("tan", np.tan), ("asin", np.arcsin), ("acos", np.arccos),
    ("atan", np.arctan), ("sinh", np.sinh), ("cosh", np.cosh), ("tanh", np.tanh),
    ("expm1", np.expm1), ("ln1p", np.log1p),
)
for _name, _ufunc in _math:
    _register(_name, 1, 1, _rt_double, partial(_unary, _ufunc),
              aliases=() if _name in ("log10", "ln", "sqrt", "exp") else (f"x-{_name}",))
_register("abs", 1, 1, _rt_common, partial(_unary, np.abs))
_register("rint", 1, 1, _rt_common, partial(_unary, np.rint), aliases=("x-rint",))
_register("floor", 1, 1, _rt_integer, partial(_unary, np.floor))
_register("ceil", 1, 1, _rt_integer, partial(_unary, np.ceil))
_register("round", 1, 1, _rt_integer, _round)
_register("pow", 2, 2, _rt_real, partial(_binary, np.power))
_register("threshold", 2, 2, _rt_integer, _threshold)
_register("modulo", 2, 2, _rt_common, _modulo, aliases=("x-modulo",))
_register("hypot", 2, 2, _rt_double, partial(_binary, np.hypot), aliases=("x-hypot",))
# atan2 is no PMML 4.4 function; JPMML offers it as x-atan2.
_register("atan2", 2, 2, _rt_double, partial(_binary, np.arctan2), aliases=("x-atan2",))
_register("erf", 1, 1, _rt_double, _erf)
for _kind in ("CDF", "PDF", "IDF"):
    _register(f"normal{_kind}", 3, 3, _rt_double, partial(_normal, _kind.lower()))
    _register(f"stdNormal{_kind}", 1, 1, _rt_double, partial(_normal, _kind.lower()))

# Missing values, comparisons and boolean logic.
_register("isMissing", 1, 1, _rt_boolean, _is_missing, propagate_missing=False)
_register("isNotMissing", 1, 1, _rt_boolean, _is_not_missing, propagate_missing=False)
_comparisons: tuple[tuple[str, np.ufunc], ...] = (
    ("equal", np.equal), ("notEqual", np.not_equal), ("lessThan", np.less),
    ("lessOrEqual", np.less_equal), ("greaterThan", np.greater), ("greaterOrEqual", np.greater_equal),
)
for _name, _ufunc in _comparisons:
    _register(_name, 2, 2, _rt_boolean, partial(_compare, _ufunc))
# JPMML: a missing argument of and/or makes the result missing (no three-valued logic here).
_register("and", 2, None, _rt_boolean, _and)
_register("or", 2, None, _rt_boolean, _or)
_register("not", 1, 1, _rt_boolean, _not)
_register("isIn", 2, None, _rt_boolean, _is_in, propagate_missing=False)
_register("isNotIn", 2, None, _rt_boolean, _is_not_in, propagate_missing=False)

# Strings.
_register("uppercase", 1, 1, _rt_string, partial(_string_fn, str.upper))
_register("lowercase", 1, 1, _rt_string, partial(_string_fn, str.lower))
_register("trimBlanks", 1, 1, _rt_string, partial(_string_fn, _java_trim))
_register("stringLength", 1, 1, _rt_integer, _string_length)
_register("substring", 3, 3, _rt_string, _substring)
_register("concat", 2, None, _rt_string, _concat, propagate_missing=False)
_register("replace", 3, 3, _rt_string, _replace)
_register("matches", 2, 2, _rt_boolean, _matches)
_register("formatNumber", 2, 2, _rt_string, _format_number)
_register("formatDatetime", 2, 2, _rt_string, _format_datetime)

# Dates and times.
_register("dateDaysSinceYear", 2, 2, _rt_integer, _date_days_since_year)
_register("dateSecondsSinceYear", 2, 2, _rt_integer, _date_seconds_since_year)
_register("dateSecondsSinceMidnight", 1, 1, _rt_integer, _date_seconds_since_midnight)

BUILTINS: Mapping[str, Builtin] = MappingProxyType(_REGISTRY)
