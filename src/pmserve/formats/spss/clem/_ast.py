"""The syntax tree of a CLEM expression: small immutable records, each with the character offset
where it starts in the expression (for messages).

Runs of one left-associative operator level (``a + b - c``, ``x and y and z``) are one
:class:`Chain` rather than a left-deep tree, so a long sum or conjunction is as shallow as a
short one and nothing that walks the tree recurses once per operand.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Expr:
    pos: int


@dataclass(frozen=True)
class Literal(Expr):
    """A constant; ``kind`` is integer, real, string, char, boolean or null (``undef``/``$null$``)."""

    value: Any
    kind: str


@dataclass(frozen=True)
class Name(Expr):
    """A field reference: ``Age`` (bare) or ``'Field name'`` (single-quoted)."""

    name: str
    quoted: bool


@dataclass(frozen=True)
class Call(Expr):
    """A function call; ``name`` is lower case for ordinary functions, ``@NAME`` for special ones.
    ``args`` is ``None`` for a special name used without brackets (``@TODAY``, ``@FIELD``, ``pi``)."""

    name: str
    args: tuple[Expr, ...] | None


@dataclass(frozen=True)
class Unary(Expr):
    op: str  # "-", "+", "not", "~~"
    operand: Expr


@dataclass(frozen=True)
class Chain(Expr):
    """``operands[0] ops[0] operands[1] ops[1] …`` evaluated left to right."""

    operands: tuple[Expr, ...]
    ops: tuple[str, ...]


@dataclass(frozen=True)
class Binary(Expr):
    """A non-associative or right-associative operator (comparisons, ``**``)."""

    op: str
    left: Expr
    right: Expr


@dataclass(frozen=True)
class If(Expr):
    """``if c1 then v1 elseif c2 then v2 … else v endif``; ``otherwise`` is None without ``else``."""

    conditions: tuple[Expr, ...]
    values: tuple[Expr, ...]
    otherwise: Expr | None


@dataclass(frozen=True)
class ListExpr(Expr):
    """``[a, b, c]`` (commas optional, as Modeler writes ``['a' 'b']``)."""

    items: tuple[Expr, ...]
