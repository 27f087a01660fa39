"""From a CLEM syntax tree to a plan of whole-column operations (``_plan``), typed at deploy time.

Compiling resolves every field, checks every operator's and function's argument kinds, and
refuses unknown or unsupported functions, so evaluation never fails on the expression, only on
the data.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence

from pmserve.errors import DocumentError, UnsupportedMarkupError
from pmserve.formats.spss._model import SpssField
from pmserve.formats.spss.clem._ast import Binary, Call, Chain, Expr, If, ListExpr, Literal, Name, Unary
from pmserve.formats.spss.clem._functions import FUNCTIONS
from pmserve.formats.spss.clem._plan import (
    COMPARISONS,
    Apply,
    BitNot,
    ChainOp,
    Column,
    Const,
    FlagTruth,
    IfOp,
    LastPresent,
    ListOp,
    Negate,
    Not,
    Offset,
    Op,
    RecordIndex,
    Step,
    Truthy,
)
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
    kind_of_storage,
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

# -- typing ---------------------------------------------------------------------------------------


def _arith_kind(op: str, ka: str, kb: str) -> str:
    if op == "><":
        return STRING
    if op in ("and", "or"):
        return BOOLEAN
    if op in COMPARISONS:
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
                return FlagTruth(BOOLEAN, op.name, op.kind == STRING, true_value=f.values[1])
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
            return Offset(column.kind, column.name, string, lag=lag)
        if expr.name == "@LAST_NON_BLANK":
            return LastPresent(column.kind, column.name, string)
        if column.kind not in NUMBERS:
            raise self.fail(f"{expr.name} needs a numeric field", expr)
        k = column.kind
        previous = Offset(k, column.name, False, lag=1)
        diff1 = ChainOp(k, column, (Step("-", previous, k, k),))
        if expr.name == "@DIFF1":
            return diff1
        # @DIFF2: the difference of successive @DIFF1 values, (x - x[-1]) - (x[-1] - x[-2])
        before = ChainOp(k, previous, (Step("-", Offset(k, column.name, False, lag=2), k, k),))
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

