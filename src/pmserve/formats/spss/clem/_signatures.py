"""The signature side of a CLEM function: how many arguments, the type rule checked at deploy
time, and the whole-column implementation; plus the kind sets type rules are written with.

Each family module (``_fn_numeric``, ``_fn_strings``, ``_fn_dates``, ``_fn_lists``) fills its own
table (a :class:`FunctionTable`); :mod:`pmserve.formats.spss.clem._functions` merges them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from pmserve.formats.spss.clem._values import (
    BOOLEAN,
    DATE,
    INTEGER,
    NULL,
    NUMBERS,
    REAL,
    STRING,
    TIME,
    TIMESTAMP,
    ClemTypeError,
    Env,
)

Impl = Callable[[Sequence[Any], Sequence[str], Env], np.ndarray]
Typer = Callable[[Sequence[str]], str]


@dataclass(frozen=True)
class Function:
    name: str
    min_args: int
    max_args: int
    typer: Typer
    impl: Impl


class FunctionTable(dict[str, Function]):
    """A module's CLEM functions by name; a name registered twice is an error."""

    def register(self, name: str, min_args: int, max_args: int, typer: Typer) -> Callable[[Impl], Impl]:
        """A decorator adding ``impl`` as the function ``name``."""
        def add(impl: Impl) -> Impl:
            if name in self:
                raise ValueError(f"CLEM function {name} is registered twice")
            self[name] = Function(name, min_args, max_args, typer, impl)
            return impl

        return add


# -- type rules -----------------------------------------------------------------------------------


def need(kinds: Sequence[str], allowed: frozenset[str] | set[str], what: str) -> None:
    for i, k in enumerate(kinds):
        if k != NULL and k not in allowed:
            raise ClemTypeError(f"argument {i + 1} must be {what}, got {kind_name(k)}")


def kind_name(kind: str) -> str:
    return "a list" if kind.startswith("list") else f"a {kind}" if kind != INTEGER else "an integer"


def numeric_same(kinds: Sequence[str]) -> str:
    """Numbers in; integer out when every argument is an integer, else real."""
    need(kinds, NUMBERS, "a number")
    return INTEGER if all(k in (INTEGER, NULL) for k in kinds) else REAL


def returns(kind: str, *params: frozenset[str] | set[str]) -> Typer:
    """Fixed parameter kinds (the last one repeats for optional arguments) and a fixed result."""

    def typer(kinds: Sequence[str]) -> str:
        for i, k in enumerate(kinds):
            allowed = params[min(i, len(params) - 1)] if params else frozenset()
            if k != NULL and k not in allowed:
                raise ClemTypeError(f"argument {i + 1} must be {_describe(allowed)}, got {kind_name(k)}")
        return kind

    return typer


def list_typer(result: str | None, item_kinds: frozenset[str] | None = None) -> Typer:
    """``f(LIST)`` or ``f(ITEM, LIST)``; ``result`` None means "the list's item kind"."""

    def typer(kinds: Sequence[str]) -> str:
        list_kind = kinds[-1]
        if list_kind not in LISTS:
            raise ClemTypeError(f"the last argument must be a list such as [a, b, c], got {kind_name(list_kind)}")
        if item_kinds is not None and list_kind not in item_kinds:
            raise ClemTypeError(f"the list must hold numbers, got {list_kind.split(':')[1]} values")
        if result is not None:
            return result
        item = list_kind.split(":")[1]
        return REAL if item == NULL else item

    return typer


def _describe(allowed: frozenset[str] | set[str]) -> str:
    if allowed == NUMBERS:
        return "a number"
    if allowed == {STRING}:
        return "a string"
    if allowed == DATEISH:
        return "a date or timestamp"
    if allowed == ANY:
        return "a value"
    return " or ".join(sorted(allowed))


NUM = NUMBERS
STR = frozenset({STRING})
DATEISH = frozenset({DATE, TIMESTAMP})
TIMEISH = frozenset({TIME, TIMESTAMP})
ANY = frozenset({INTEGER, REAL, STRING, DATE, TIME, TIMESTAMP, BOOLEAN})
LISTS = frozenset({"list:integer", "list:real", "list:string", "list:mixed", "list:date", "list:time",
                   "list:timestamp", "list:boolean", "list:null"})
NUM_LISTS = frozenset({"list:integer", "list:real", "list:null"})
