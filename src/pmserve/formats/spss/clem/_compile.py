"""From a CLEM syntax tree to a plan of whole-column operations, typed at deploy time.

Compiling resolves every field, checks every operator's and function's argument kinds, and
refuses unknown or unsupported functions, so evaluation never fails on the expression, only on
the data.  The plan is made of small picklable records; evaluation walks it once per table
(recursion depth is bounded by the parser's nesting limit, and runs of one operator are loops).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from pmserve.errors import DocumentError, UnsupportedMarkupError
from pmserve.formats.spss._model import SpssField
from pmserve.formats.spss.clem._ast import Binary, Call, Chain, Expr, If, ListExpr, Literal, Name, Unary
from pmserve.formats.spss.clem._functions import FUNCTIONS
from pmserve.formats.spss.clem._values import (
    BOOLEAN,
    DATE,
    DATE_FORMATS,
    INTEGER,
    LIST,
    NULL,
    NUMBERS,
    REAL,
    STRING,
    TIME,
    TIME_FORMATS,
    TIMESTAMP,
    ClemSettings,
    ClemTypeError,
    Env,
    as_bool,
    from_bool,
    full,
    is_null,
    kind_of_storage,
    map_rows,
    nulls,
    to_text,
)

#: CLEM functions IBM documents that pmserve refuses by name (rather than as unknown).
KNOWN_UNSUPPORTED = frozenset({
    "random", "random0", "oneof", "@MEAN", "@SUM", "@MAX", "@MIN", "@SDEV", "@SINCE", "@SINCE0", "@THIS",
    "@PREDICTED", "@TARGET", "@PARTITION_FIELD", "@TRAINING_PARTITION",
    "@TESTING_PARTITION", "@VALIDATION_PARTITION", "@GLOBAL_MAX", "@GLOBAL_MIN", "@GLOBAL_SUM",
    "@GLOBAL_MEAN", "@GLOBAL_SDEV", "@MULTI_RESPONSE_SET", "@OFFSETS", "replicate",
    "cdf_chisq", "cdf_f", "cdf_t", "to_geohash", "count_substring_lim", "issubstring_lim",
    "issubstring_count", "datetime_timestamp", "datetime_time", "datetime_in_seconds",
    "time_hours_difference", "time_in_hours",
    "time_in_mins", "time_in_secs", "time_mins_difference", "time_secs_difference", "time_before",
    "date_weeks_difference_iso", "strlength", "soundex", "soundex_difference", "jaro", "jaro_winkler",
})

#: Functions whose string argument is read in the stream's date/time formats.
_DATE_PARSERS = frozenset({"to_date", "to_timestamp", "to_datetime", "datetime_date"})
_TIME_PARSERS = frozenset({"to_time", "to_timestamp", "to_datetime"})


# -- the plan -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Op:
    kind: str

    def evaluate(self, env: Env) -> Any:
        raise NotImplementedError


@dataclass(frozen=True)
class Const(Op):
    value: Any

    def evaluate(self, env: Env) -> np.ndarray:
        return full(self.kind, self.value, env.n) if self.kind != NULL else nulls(REAL, env.n)


@dataclass(frozen=True)
class Column(Op):
    name: str

    def evaluate(self, env: Env) -> np.ndarray:
        return env.columns[self.name]


@dataclass(frozen=True)
class FlagTruth(Op):
    """A flag field used as a condition: true where it holds its true value."""

    name: str
    true_value: Any
    string: bool

    def evaluate(self, env: Env) -> np.ndarray:
        col = env.columns[self.name]
        null = is_null(STRING if self.string else REAL, col)
        if self.string:
            true = np.fromiter((v == self.true_value for v in col), dtype=bool, count=len(col))
        else:
            true = col == float(self.true_value)
        return from_bool(true, null)


@dataclass(frozen=True)
class Truthy(Op):
    """A number used as a condition: non-zero is true [pmserve: IBM's flag functions return 0 for false]."""

    operand: Op

    def evaluate(self, env: Env) -> np.ndarray:
        x = self.operand.evaluate(env)
        return from_bool(x != 0.0, np.isnan(x))


@dataclass(frozen=True)
class ListOp(Op):
    items: tuple[Op, ...]

    def evaluate(self, env: Env) -> list[np.ndarray]:
        return [item.evaluate(env) for item in self.items]


@dataclass(frozen=True)
class Apply(Op):
    function: str
    args: tuple[Op, ...]
    arg_kinds: tuple[str, ...]

    def evaluate(self, env: Env) -> np.ndarray:
        if self.args and all(isinstance(a, Const) for a in self.args) and env.n > 1:
            # constant arguments (to_date("2020-01-01")): compute once, then repeat
            one = Env(env.columns, 1, env.settings)
            value = FUNCTIONS[self.function].impl([a.evaluate(one) for a in self.args], self.arg_kinds, one)
            return np.repeat(value, env.n)
        values = [a.evaluate(env) for a in self.args]
        return FUNCTIONS[self.function].impl(values, self.arg_kinds, env)


@dataclass(frozen=True)
class Negate(Op):
    operand: Op

    def evaluate(self, env: Env) -> np.ndarray:
        out: np.ndarray = -self.operand.evaluate(env)
        return out


@dataclass(frozen=True)
class Not(Op):
    operand: Op

    def evaluate(self, env: Env) -> np.ndarray:
        true, null = as_bool(self.operand.evaluate(env))
        return from_bool(~true, null)


@dataclass(frozen=True)
class BitNot(Op):
    operand: Op

    def evaluate(self, env: Env) -> np.ndarray:
        x = self.operand.evaluate(env)
        null = ~np.isfinite(x)
        with np.errstate(invalid="ignore"):
            out: np.ndarray = (~np.where(null, 0.0, x).astype(np.int64)).astype(float)
        out[null] = np.nan
        return out


@dataclass(frozen=True)
class Step:
    op: str
    operand: Op
    left_kind: str  # the kind of the running value before this step
    right_kind: str


@dataclass(frozen=True)
class ChainOp(Op):
    first: Op
    steps: tuple[Step, ...]

    def evaluate(self, env: Env) -> np.ndarray:
        acc: np.ndarray = self.first.evaluate(env)
        for step in self.steps:
            acc = _binary(step.op, acc, step.operand.evaluate(env), step.left_kind, step.right_kind, env)
        return acc


@dataclass(frozen=True)
class IfOp(Op):
    conditions: tuple[Op, ...]
    values: tuple[Op, ...]
    otherwise: Op | None

    def evaluate(self, env: Env) -> np.ndarray:
        out: np.ndarray = nulls(self.kind, env.n)
        decided = np.zeros(env.n, dtype=bool)
        for cond, value in zip(self.conditions, self.values, strict=True):
            true, _ = as_bool(cond.evaluate(env))  # a $null$ condition is not true: on to the next branch
            take = true & ~decided
            if take.any():
                out[take] = _as_kind(value.evaluate(env), value.kind, self.kind)[take]
            decided |= take
        if self.otherwise is not None and not decided.all():
            rest = ~decided
            out[rest] = _as_kind(self.otherwise.evaluate(env), self.otherwise.kind, self.kind)[rest]
        return out


@dataclass(frozen=True)
class Offset(Op):
    """@OFFSET(FIELD, N): FIELD's value N records earlier in the table; $null$ before the first."""

    name: str
    lag: int
    string: bool

    def evaluate(self, env: Env) -> np.ndarray:
        col = env.columns[self.name]
        out = nulls(STRING if self.string else REAL, env.n)
        if self.lag < env.n:
            out[self.lag:] = col[: env.n - self.lag]
        return out


@dataclass(frozen=True)
class LastPresent(Op):
    """@LAST_NON_BLANK(FIELD): the field's last value that is not blank, up to and including this
    record; $null$ before the first (blank is $null$, as for @BLANK)."""

    name: str
    string: bool

    def evaluate(self, env: Env) -> np.ndarray:
        col = env.columns[self.name]
        present = ~is_null(STRING if self.string else REAL, col)
        last = np.maximum.accumulate(np.where(present, np.arange(env.n), -1)) if env.n else np.empty(0, int)
        out = nulls(STRING if self.string else REAL, env.n)
        seen = last >= 0
        out[seen] = col[last[seen]]
        return out


@dataclass(frozen=True)
class RecordIndex(Op):
    """@INDEX: the record's position in the table, from 1."""

    def evaluate(self, env: Env) -> np.ndarray:
        return np.arange(1, env.n + 1, dtype=float)


def _as_kind(values: np.ndarray, kind: str, target: str) -> np.ndarray:
    if kind == NULL:
        return nulls(target, len(values))
    return values


# -- operators on columns -------------------------------------------------------------------------


def _binary(op: str, a: np.ndarray, b: np.ndarray, ka: str, kb: str, env: Env) -> np.ndarray:
    if op in ("and", "or"):
        ta, na = as_bool(a)
        tb, nb = as_bool(b)
        fa, fb = ~ta & ~na, ~tb & ~nb
        if op == "and":  # Kleene: false wins, then $null$
            false = fa | fb
            return from_bool(ta & tb, ~false & (na | nb))
        true = ta | tb
        return from_bool(true, ~true & (na | nb))
    if op == "><":
        return map_rows(lambda x, y: to_text(ka, x, env.settings) + to_text(kb, y, env.settings),
                        [a, b], [ka, kb], STRING)
    if op in _COMPARISONS:
        return _compare(op, a, b, ka, kb)
    with np.errstate(all="ignore"):
        if op == "+":
            out = a + b
        elif op == "-":
            out = a - b
        elif op == "*":
            out = a * b
        elif op == "/":
            out = np.where(b != 0.0, a / np.where(b != 0.0, b, 1.0), np.nan)
        elif op == "div":
            out = np.where(b != 0.0, np.trunc(a / np.where(b != 0.0, b, 1.0)), np.nan)
        elif op in ("rem", "mod"):  # INT1 - (INT1 div INT2) * INT2: the sign of the dividend
            out = np.where(b != 0.0, np.fmod(a, np.where(b != 0.0, b, 1.0)), np.nan)
        elif op == "**":
            out = np.power(a, b)
        else:
            out = _bitwise(op, a, b)
    result: np.ndarray = np.where(np.isfinite(out), out, np.nan)
    return result


_COMPARISONS = frozenset({"=", "==", "/=", "/==", ">", ">=", "<", "<="})


def _compare(op: str, a: np.ndarray, b: np.ndarray, ka: str, kb: str) -> np.ndarray:
    null = is_null(ka, a) | is_null(kb, b)
    if ka == STRING or kb == STRING:
        # element-wise on object arrays, with $null$ made "" first so that ordering never meets None
        x = np.where(null, "", a) if ka == STRING else a
        y = np.where(null, "", b) if kb == STRING else b
        true = np.asarray(_STRING_TESTS[op](x, y), dtype=bool)
        return from_bool(true & ~null, null)
    with np.errstate(invalid="ignore"):
        if op in ("=", "=="):
            true = a == b
        elif op in ("/=", "/=="):
            true = a != b
        elif op == ">":
            true = a > b
        elif op == ">=":
            true = a >= b
        elif op == "<":
            true = a < b
        else:
            true = a <= b
    return from_bool(true & ~null, null)


_STRING_TESTS = {
    "=": np.equal, "==": np.equal, "/=": np.not_equal, "/==": np.not_equal,
    ">": np.greater, ">=": np.greater_equal, "<": np.less, "<=": np.less_equal,
}


def _bitwise(op: str, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    null = ~np.isfinite(a) | ~np.isfinite(b)
    with np.errstate(invalid="ignore"):  # values beyond 64 bits: numpy's cast, no error
        x, y = np.where(null, 0.0, a).astype(np.int64), np.where(null, 0.0, b).astype(np.int64)
    if op == "&&":
        r = x & y
    elif op == "&&~~":
        r = x & ~y
    elif op == "||":
        r = x | y
    elif op == "||/&":
        r = x ^ y
    elif op == "<<":
        r = np.left_shift(x, np.clip(y, 0, 62))
    elif op == ">>":
        r = np.right_shift(x, np.clip(y, 0, 62))
    elif op == "&&=_0":
        return from_bool((x & y) == 0, null)
    else:  # "&&/=_0"
        return from_bool((x & y) != 0, null)
    out: np.ndarray = r.astype(float)
    out[null] = np.nan
    return out


# -- typing ---------------------------------------------------------------------------------------


def _arith_kind(op: str, ka: str, kb: str) -> str:
    if op == "><":
        return STRING
    if op in ("and", "or"):
        return BOOLEAN
    if op in _COMPARISONS:
        known = {k for k in (ka, kb) if k != NULL}
        if len(known) == 2 and not known <= NUMBERS:
            raise ClemTypeError(f"cannot compare {_a(ka)} with {_a(kb)}")
        return BOOLEAN
    for k in (ka, kb):
        if k not in NUMBERS and k != NULL:
            hint = " (join strings with ><)" if k == STRING and op == "+" else ""
            raise ClemTypeError(f"operator {op!r} needs numbers, got {_a(k)}{hint}")
    ints = ka in (INTEGER, NULL) and kb in (INTEGER, NULL)
    if op in ("&&", "&&~~", "||", "||/&", "<<", ">>"):
        if not ints:
            raise ClemTypeError(f"operator {op!r} needs integers")
        return INTEGER
    if op in ("&&=_0", "&&/=_0"):
        if not ints:
            raise ClemTypeError(f"operator {op!r} needs integers")
        return BOOLEAN
    if op == "/":
        return REAL
    if op == "div":
        return INTEGER
    return INTEGER if ints else REAL  # + - * rem mod **


def _a(kind: str) -> str:
    return f"an {kind}" if kind == INTEGER else f"a {kind}" if not kind.startswith(LIST) else "a list"


def _unify(kinds: Sequence[str]) -> str:
    known = {k for k in kinds if k != NULL}
    if not known:
        return NULL
    if known <= NUMBERS:
        return INTEGER if known == {INTEGER} else REAL
    if len(known) == 1:
        return next(iter(known))
    raise ClemTypeError(f"the branches give values of different kinds: {', '.join(sorted(known))}")


# -- the compiler ---------------------------------------------------------------------------------


class _Compiler:
    def __init__(self, text: str, fields: Sequence[SpssField], where: str, settings: ClemSettings,
                 current_field: str | None) -> None:
        self.text = text
        self.fields = {f.name: f for f in fields}
        self.order = [f.name for f in fields]
        self.where = where
        self.settings = settings
        self.current_field = current_field
        self.reads: list[str] = []

    def fail(self, message: str, expr: Expr, *, field: str | None = None) -> DocumentError:
        return DocumentError(
            f"{self.where}: {message} (at offset {expr.pos} of CLEM expression {self.text!r})",
            node=self.where, expression=self.text, position=expr.pos, field=field,
        )

    def compile(self, expr: Expr) -> Op:
        try:
            return self._compile(expr)
        except ClemTypeError as err:
            raise self.fail(err.message, expr) from None

    def condition(self, expr: Expr) -> Op:
        """Compile an expression used as a condition (flag fields and numbers become booleans)."""
        op = self.compile(expr)
        return self._as_condition(op, expr)

    def _as_condition(self, op: Op, expr: Expr) -> Op:
        if op.kind in (BOOLEAN, NULL):
            return op
        if isinstance(op, Column):
            f = self.fields[op.name]
            if f.measure == "flag" and len(f.values) == 2:
                return FlagTruth(BOOLEAN, op.name, f.values[1], op.kind == STRING)
        if op.kind in NUMBERS:
            return Truthy(BOOLEAN, op)
        raise self.fail(f"a condition must be true or false, got {_a(op.kind)}", expr)

    def _compile(self, expr: Expr) -> Op:
        if isinstance(expr, Literal):
            if expr.kind == "char":
                return Const(STRING, expr.value)
            if expr.kind == "boolean":
                return Const(BOOLEAN, 1.0 if expr.value else 0.0)
            return Const(expr.kind, expr.value)
        if isinstance(expr, Name):
            return self._name(expr)
        if isinstance(expr, ListExpr):
            items = tuple(self.compile(i) for i in expr.items)
            return ListOp(_list_kind([i.kind for i in items]), items)
        if isinstance(expr, Unary):
            return self._unary(expr)
        if isinstance(expr, Chain):
            return self._chain(expr.operands, expr.ops, expr)
        if isinstance(expr, Binary):
            return self._chain((expr.left, expr.right), (expr.op,), expr)
        if isinstance(expr, If):
            conditions = tuple(self.condition(c) for c in expr.conditions)
            values = tuple(self.compile(v) for v in expr.values)
            otherwise = self.compile(expr.otherwise) if expr.otherwise is not None else None
            kinds = [v.kind for v in values] + ([otherwise.kind] if otherwise else [])
            kind = _unify(kinds)
            for v in (*values, *((otherwise,) if otherwise else ())):
                if v.kind.startswith(LIST):
                    raise self.fail("a list can only be a function's argument", expr)
            return IfOp(REAL if kind == NULL else kind, conditions, values, otherwise)
        if isinstance(expr, Call):
            return self._call(expr)
        raise self.fail(f"cannot compile {type(expr).__name__}", expr)

    def _name(self, expr: Name) -> Op:
        f = self.fields.get(expr.name)
        if f is None and not expr.quoted and expr.name.lower() in FUNCTIONS:
            function = FUNCTIONS[expr.name.lower()]
            if function.min_args == 0:  # pi
                return Apply(function.typer(()), function.name, (), ())
        if f is None:
            if expr.name.startswith("$P-"):
                raise UnsupportedMarkupError(
                    f"{self.where}: stream parameter {expr.name!r} in CLEM expression {self.text!r} "
                    f"is not supported", node=self.where, expression=self.text,
                )
            if expr.quoted:
                # 'drugC' names no field: CLEM reads it as a string (IBM: Drug = 'drugC')
                return Const(STRING, expr.name)
            raise self.fail(f"field {expr.name!r} does not reach this node", expr, field=expr.name)
        kind = kind_of_storage(f.storage)
        if kind is None:
            raise self.fail(f"field {expr.name!r} has storage {f.storage!r}, which CLEM cannot read", expr,
                            field=expr.name)
        self.reads.append(expr.name)
        return Column(kind, expr.name)

    def _unary(self, expr: Unary) -> Op:
        if expr.op == "not":
            return Not(BOOLEAN, self.condition(expr.operand))
        operand = self.compile(expr.operand)
        if operand.kind not in NUMBERS and operand.kind != NULL:
            raise self.fail(f"{expr.op!r} needs a number, got {_a(operand.kind)}", expr)
        if expr.op == "~~":
            if operand.kind == REAL:
                raise self.fail("'~~' needs an integer", expr)
            return BitNot(INTEGER, operand)
        return operand if expr.op == "+" else Negate(operand.kind, operand)

    def _chain(self, operands: Sequence[Expr], ops: Sequence[str], expr: Expr) -> Op:
        boolean_ops = ops[0] in ("and", "or")
        first = self.condition(operands[0]) if boolean_ops else self.compile(operands[0])
        kind = first.kind
        steps = []
        for op, operand_expr in zip(ops, operands[1:], strict=True):
            operand = self.condition(operand_expr) if boolean_ops else self.compile(operand_expr)
            if kind.startswith(LIST) or operand.kind.startswith(LIST):
                raise self.fail("a list can only be a function's argument", operand_expr)
            try:
                new_kind = _arith_kind(op, kind, operand.kind)
            except ClemTypeError as err:
                raise self.fail(err.message, operand_expr) from None
            if op == "**" and not (kind == INTEGER and operand.kind == INTEGER):
                new_kind = REAL
            steps.append(Step(op, operand, kind, operand.kind))
            kind = new_kind
        return ChainOp(kind, first, tuple(steps))

    def _call(self, expr: Call) -> Op:
        name = expr.name
        special = self._special(expr)
        if special is not None:
            return special
        function = FUNCTIONS.get(name)
        if function is None:
            known = name in KNOWN_UNSUPPORTED
            raise UnsupportedMarkupError(
                f"{self.where}: CLEM function {name!r} "
                + ("is not supported by pmserve" if known else "is not a CLEM function pmserve knows")
                + f" (at offset {expr.pos} of CLEM expression {self.text!r})",
                node=self.where, function=name, expression=self.text, position=expr.pos,
            )
        args = expr.args or ()
        if expr.args is None and function.min_args > 0:
            raise self.fail(f"{name} needs arguments", expr)
        if not function.min_args <= len(args) <= function.max_args:
            count = (str(function.min_args) if function.min_args == function.max_args
                     else f"{function.min_args} to {function.max_args}")
            raise self.fail(f"{name} takes {count} arguments, got {len(args)}", expr)
        ops = tuple(self.compile(a) for a in args)
        kinds = tuple(op.kind for op in ops)
        self._check_formats(name, kinds, expr)
        try:
            kind = function.typer(kinds)
        except ClemTypeError as err:
            raise self.fail(f"{name}: {err.message}", expr) from None
        return Apply(kind, name, ops, kinds)

    def _check_formats(self, name: str, kinds: Sequence[str], expr: Expr) -> None:
        """Conversions between strings and dates need a stream date/time format pmserve knows."""
        from_string = kinds and kinds[0] == STRING and (name in _DATE_PARSERS or name in _TIME_PARSERS)
        to_string = name == "to_string" and kinds and kinds[0] in (DATE, TIME, TIMESTAMP)
        if not (from_string or to_string or name == "@TODAY"):
            return
        needs_date = name in _DATE_PARSERS or name == "@TODAY" or (to_string and kinds[0] in (DATE, TIMESTAMP))
        needs_time = (name in _TIME_PARSERS and name != "to_date") or (to_string and kinds[0] in (TIME, TIMESTAMP))
        if needs_date and self.settings.date_format not in DATE_FORMATS:
            raise UnsupportedMarkupError(
                f"{self.where}: {name} reads or writes dates in the stream's date format "
                f"{self.settings.date_format!r}, which pmserve does not know (known: {', '.join(DATE_FORMATS)})",
                node=self.where, function=name, expression=self.text,
            )
        if needs_time and self.settings.time_format not in TIME_FORMATS:
            raise UnsupportedMarkupError(
                f"{self.where}: {name} reads or writes times in the stream's time format "
                f"{self.settings.time_format!r}, which pmserve does not know (known: {', '.join(TIME_FORMATS)})",
                node=self.where, function=name, expression=self.text,
            )

    def _special(self, expr: Call) -> Op | None:
        name = expr.name
        if name == "@FIELD":
            if expr.args is not None:
                raise self.fail("@FIELD takes no arguments", expr)
            if self.current_field is None:
                raise self.fail("@FIELD is only meaningful in a Filler node or a multiple-mode Derive node", expr)
            return self._name(Name(expr.pos, self.current_field, True))
        if name == "@INDEX":
            return RecordIndex(INTEGER)
        if name in ("@FIELDS_MATCHING", "@FIELDS_BETWEEN"):
            return self._field_list(expr)
        if name in ("@OFFSET", "@DIFF1", "@DIFF2", "@LAST_NON_BLANK"):
            return self._sequence(expr)
        return None

    def _field_list(self, expr: Call) -> Op:
        args = expr.args or ()
        texts = []
        for a in args:
            if not (isinstance(a, Literal) and a.kind == "string") and not (isinstance(a, Name)):
                raise self.fail(f"{expr.name} takes field names or patterns", expr)
            texts.append(a.value if isinstance(a, Literal) else a.name)
        if expr.name == "@FIELDS_MATCHING":
            if len(texts) != 1:
                raise self.fail("@FIELDS_MATCHING takes one pattern", expr)
            names = [n for n in self.order if fnmatch.fnmatchcase(n, texts[0])]
        else:
            if len(texts) != 2:
                raise self.fail("@FIELDS_BETWEEN takes two field names", expr)
            for t in texts:
                if t not in self.fields:
                    raise self.fail(f"field {t!r} does not reach this node", expr, field=t)
            i, j = self.order.index(texts[0]), self.order.index(texts[1])
            names = self.order[min(i, j): max(i, j) + 1]
        items = tuple(self._name(Name(expr.pos, n, True)) for n in names)
        return ListOp(_list_kind([i.kind for i in items]), items)

    def _sequence(self, expr: Call) -> Op:
        """@OFFSET, @DIFF1, @DIFF2 and @LAST_NON_BLANK: a field's earlier records, in table order."""
        args = expr.args or ()
        want = 2 if expr.name == "@OFFSET" else 1
        if len(args) != want or not isinstance(args[0], Name):
            raise self.fail(f"{expr.name} takes a field name" + (" and a record count" if want == 2 else ""), expr)
        lag = 1
        if want == 2:
            count = args[1]
            if not (isinstance(count, Literal) and count.kind == INTEGER and count.value >= 0):
                raise UnsupportedMarkupError(
                    f"{self.where}: @OFFSET with a record count other than a non-negative integer constant "
                    f"is not supported (CLEM expression {self.text!r})", node=self.where, function="@OFFSET",
                )
            lag = int(count.value)
        column = self._name(args[0])
        if not isinstance(column, Column):
            raise self.fail(f"{expr.name} needs a field", expr)
        string = column.kind == STRING
        if expr.name == "@OFFSET":
            return Offset(column.kind, column.name, lag, string)
        if expr.name == "@LAST_NON_BLANK":
            return LastPresent(column.kind, column.name, string)
        if column.kind not in NUMBERS:
            raise self.fail(f"{expr.name} needs a numeric field", expr)
        k = column.kind
        previous = Offset(k, column.name, 1, False)
        diff1 = ChainOp(k, column, (Step("-", previous, k, k),))
        if expr.name == "@DIFF1":
            return diff1
        # @DIFF2: the difference of successive @DIFF1 values, (x - x[-1]) - (x[-1] - x[-2])
        before = ChainOp(k, previous, (Step("-", Offset(k, column.name, 2, False), k, k),))
        return ChainOp(k, diff1, (Step("-", before, k, k),))


def _list_kind(kinds: Sequence[str]) -> str:
    known = {k for k in kinds if k != NULL}
    if any(k.startswith(LIST) for k in known):
        return f"{LIST}:mixed"
    if not known:
        return f"{LIST}:null"
    if known <= NUMBERS:
        return f"{LIST}:{INTEGER if known == {INTEGER} else REAL}"
    if len(known) == 1:
        return f"{LIST}:{next(iter(known))}"
    return f"{LIST}:mixed"


def compile_tree(expr: Expr, text: str, fields: Sequence[SpssField], where: str, settings: ClemSettings,
                 current_field: str | None, condition: bool) -> tuple[Op, tuple[str, ...]]:
    """The plan of one expression and the fields it reads."""
    compiler = _Compiler(text, fields, where, settings, current_field)
    op = compiler.condition(expr) if condition else compiler.compile(expr)
    if op.kind.startswith(LIST):
        raise compiler.fail("a list can only be a function's argument", expr)
    return op, tuple(dict.fromkeys(compiler.reads))

