"""The plan a CLEM expression compiles to: small picklable records of whole-column operations.

Evaluation walks the plan once per table; recursion depth is bounded by the parser's nesting
limit, and runs of one operator (``a + b + c``) are loops over :class:`Step` records.  The
operators on columns here are the runtime side of the type rules in ``_compile``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from pmserve.formats.spss.clem._functions import FUNCTIONS
from pmserve.formats.spss.clem._values import (
    NULL,
    REAL,
    STRING,
    Env,
    as_bool,
    from_bool,
    full,
    is_null,
    map_rows,
    nulls,
    to_text,
)

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
class FieldOp(Op):
    """An operation on one field's whole column, which holds strings or (as floats) anything else."""

    name: str
    string: bool

    @property
    def column_kind(self) -> str:
        return STRING if self.string else REAL


@dataclass(frozen=True)
class FlagTruth(FieldOp):
    """A flag field used as a condition: true where it holds its true value."""

    true_value: Any

    def evaluate(self, env: Env) -> np.ndarray:
        col = env.columns[self.name]
        null = is_null(self.column_kind, col)
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
class Offset(FieldOp):
    """@OFFSET(FIELD, N): FIELD's value N records earlier in the table; $null$ before the first."""

    lag: int

    def evaluate(self, env: Env) -> np.ndarray:
        col = env.columns[self.name]
        out = nulls(self.column_kind, env.n)
        if self.lag < env.n:
            out[self.lag:] = col[: env.n - self.lag]
        return out


@dataclass(frozen=True)
class LastPresent(FieldOp):
    """@LAST_NON_BLANK(FIELD): the field's last value that is not blank, up to and including this
    record; $null$ before the first (blank is $null$, as for @BLANK)."""

    def evaluate(self, env: Env) -> np.ndarray:
        col = env.columns[self.name]
        present = ~is_null(self.column_kind, col)
        last = np.maximum.accumulate(np.where(present, np.arange(env.n), -1)) if env.n else np.empty(0, int)
        out = nulls(self.column_kind, env.n)
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
    if op in COMPARISONS:
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


COMPARISONS = frozenset({"=", "==", "/=", "/==", ">", ">=", "<", "<="})


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
