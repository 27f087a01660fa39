"""A hand-written tokenizer and Pratt parser for CLEM, bounded in length and nesting.

Why hand-written rather than a grammar library: CLEM's grammar is a dozen precedence levels plus
``if … endif`` and lists, which a Pratt parser states in one table; it needs no dependency, gives
exact character offsets in messages, and lets the nesting limit be checked where nesting happens,
so no expression can recurse deeper than ``max_depth`` levels (each level costs three Python
frames, and ``max_depth`` is capped far below the interpreter's recursion limit).

Operator precedence follows IBM's CLEM operator table (lower binds tighter there; here a higher
binding power binds tighter): ``or`` < ``and`` < ``not`` < ``= == /= /==`` < ``> >= < <=
&&=_0 &&/=_0`` < ``+ - ><`` < ``* / div rem mod && && ~~ || ||/& << >>`` < ``**`` < unary minus.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from pmserve.errors import DocumentError
from pmserve.formats.spss.clem._ast import Binary, Call, Chain, Expr, If, ListExpr, Literal, Name, Unary

#: Hard ceiling for the configurable depth limit: 3 frames per level stays far below Python's 1000.
DEPTH_CEILING = 200


class ClemSyntaxError(DocumentError):
    """A CLEM expression that does not parse; ``position`` is the 0-based character offset."""

    def __init__(self, message: str, *, expression: str, position: int, **context: Any) -> None:
        super().__init__(message, expression=expression, position=position, **context)
        self.expression = expression
        self.position = position


@dataclass(frozen=True)
class Token:
    kind: str  # num, str, quoted, char, name, special, op, eof
    text: str
    pos: int


# longest first, so that "/==" wins over "/=" and "&&/=_0" over "&&"
_OPERATORS = sorted(
    ["&&/=_0", "&&=_0", "&&~~", "||/&", "/==", "==", "/=", ">=", "<=", "><", "**", "&&", "||", "~~",
     "<<", ">>", "=", ">", "<", "+", "-", "*", "/", "(", ")", ",", "[", "]"],
    key=len, reverse=True,
)
_OPERATOR = re.compile("|".join(re.escape(op) for op in _OPERATORS))
_NUMBER = re.compile(r"(\d+\.\d*|\.\d+|\d+)([eE][+-]?\d+)?")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_SPECIAL = re.compile(r"@[A-Za-z_][A-Za-z0-9_]*")
_NULL = "$null$"
_KEYWORDS = frozenset({"and", "or", "not", "div", "rem", "mod", "if", "then", "elseif", "else", "endif",
                       "true", "false", "undef"})


def tokenize(text: str) -> list[Token]:
    tokens: list[Token] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c.isspace():
            i += 1
            continue
        if text.startswith(_NULL, i):
            tokens.append(Token("null", _NULL, i))
            i += len(_NULL)
            continue
        if c == '"' or c == "'":
            value, end = _quoted(text, i, c)
            tokens.append(Token("str" if c == '"' else "quoted", value, i))
            i = end
            continue
        if c == "`":
            end = text.find("`", i + 1)
            if end < 0:
                raise ClemSyntaxError(f"unterminated character constant at offset {i}", expression=text, position=i)
            tokens.append(Token("char", text[i + 1:end], i))
            i = end + 1
            continue
        m = _NUMBER.match(text, i)
        if m and (c.isdigit() or c == "."):
            tokens.append(Token("num", m.group(0), i))
            i = m.end()
            continue
        m = _SPECIAL.match(text, i)
        if m:
            tokens.append(Token("special", m.group(0).upper(), i))
            i = m.end()
            continue
        m = _NAME.match(text, i)
        if m:
            tokens.append(Token("name", m.group(0), i))
            i = m.end()
            continue
        m = _OPERATOR.match(text, i)
        if m is None:
            raise ClemSyntaxError(f"unexpected character {c!r} at offset {i}", expression=text, position=i)
        tokens.append(Token("op", m.group(0), i))
        i = m.end()
    tokens.append(Token("eof", "", n))
    return tokens


def _quoted(text: str, start: int, quote: str) -> tuple[str, int]:
    """The content of a quoted string or field name starting at ``start``; ``\\`` escapes a character."""
    out: list[str] = []
    i = start + 1
    while i < len(text):
        c = text[i]
        if c == "\\" and i + 1 < len(text):
            out.append(text[i + 1])
            i += 2
            continue
        if c == quote:
            return "".join(out), i + 1
        out.append(c)
        i += 1
    what = "string" if quote == '"' else "quoted field name"
    raise ClemSyntaxError(f"unterminated {what} starting at offset {start}", expression=text, position=start)


# binding powers of the infix operators
_OR, _AND, _NOT, _EQ, _CMP, _ADD, _MUL, _POW, _UNARY = 10, 20, 30, 40, 50, 60, 70, 80, 90
_INFIX: dict[str, int] = {
    "or": _OR, "and": _AND,
    "=": _EQ, "==": _EQ, "/=": _EQ, "/==": _EQ,
    ">": _CMP, ">=": _CMP, "<": _CMP, "<=": _CMP, "&&=_0": _CMP, "&&/=_0": _CMP,
    "+": _ADD, "-": _ADD, "><": _ADD,
    "*": _MUL, "/": _MUL, "div": _MUL, "rem": _MUL, "mod": _MUL, "&&": _MUL, "&&~~": _MUL, "||": _MUL,
    "||/&": _MUL, "<<": _MUL, ">>": _MUL,
    "**": _POW,
}
_NON_ASSOCIATIVE = frozenset({_EQ, _CMP})
_WORD_OPERATORS = frozenset({"and", "or", "div", "rem", "mod"})


class _Parser:
    def __init__(self, text: str, max_depth: int) -> None:
        self.text = text
        self.tokens = tokenize(text)
        self.i = 0
        self.depth = 0
        self.max_depth = max_depth

    # -- token helpers --------------------------------------------------------------------------

    def peek(self) -> Token:
        return self.tokens[self.i]

    def advance(self) -> Token:
        tok = self.tokens[self.i]
        self.i += 1
        return tok

    def at(self, kind: str, text: str | None = None) -> bool:
        tok = self.peek()
        if tok.kind != kind:
            return False
        if text is None:
            return True
        return tok.text.lower() == text if kind == "name" else tok.text == text

    def expect(self, kind: str, text: str) -> Token:
        if not self.at(kind, text):
            tok = self.peek()
            raise self.error(f"expected {text!r} at offset {tok.pos}, found {_describe(tok)}", tok.pos)
        return self.advance()

    def error(self, message: str, pos: int) -> ClemSyntaxError:
        return ClemSyntaxError(message, expression=self.text, position=pos)

    def infix_power(self, tok: Token) -> tuple[str, int] | None:
        if tok.kind == "op" and tok.text in _INFIX:
            return tok.text, _INFIX[tok.text]
        if tok.kind == "name" and tok.text.lower() in _WORD_OPERATORS:
            return tok.text.lower(), _INFIX[tok.text.lower()]
        return None

    # -- grammar --------------------------------------------------------------------------------

    def parse(self) -> Expr:
        expr = self.expression(0)
        tok = self.peek()
        if tok.kind != "eof":
            raise self.error(f"unexpected {_describe(tok)} at offset {tok.pos}", tok.pos)
        return expr

    def expression(self, min_power: int) -> Expr:
        self.depth += 1
        if self.depth > self.max_depth:
            pos = self.peek().pos
            raise self.error(
                f"expression nests deeper than {self.max_depth} levels (at offset {pos}); "
                f"raise PMSERVE_CLEM_MAX_DEPTH to allow it", pos
            )
        try:
            left = self.prefix()
            while True:
                found = self.infix_power(self.peek())
                if found is None or found[1] <= min_power:
                    return left
                op, power = found
                if power == _POW:  # right-associative
                    self.advance()
                    right = self.expression(power - 1)
                    left = Binary(left.pos, op, left, right)
                elif power in _NON_ASSOCIATIVE:
                    if isinstance(left, Binary) and _INFIX.get(left.op) == power:
                        tok = self.peek()
                        raise self.error(
                            f"comparison {tok.text!r} at offset {tok.pos} follows another comparison; "
                            f"join comparisons with 'and' or use brackets", tok.pos
                        )
                    self.advance()
                    right = self.expression(power)
                    left = Binary(left.pos, op, left, right)
                else:
                    left = self.chain(left, power)
        finally:
            self.depth -= 1

    def chain(self, first: Expr, power: int) -> Expr:
        """A run of left-associative operators of one binding power, collected in a loop."""
        operands = [first]
        ops: list[str] = []
        while True:
            found = self.infix_power(self.peek())
            if found is None or found[1] != power:
                break
            self.advance()
            ops.append(found[0])
            operands.append(self.expression(power))
        return Chain(first.pos, tuple(operands), tuple(ops))

    def prefix(self) -> Expr:
        tok = self.advance()
        if tok.kind == "num":
            is_real = any(c in tok.text for c in ".eE")
            return Literal(tok.pos, float(tok.text) if is_real else int(tok.text), "real" if is_real else "integer")
        if tok.kind == "str":
            return Literal(tok.pos, tok.text, "string")
        if tok.kind == "char":
            return Literal(tok.pos, tok.text, "char")
        if tok.kind == "null":
            return Literal(tok.pos, None, "null")
        if tok.kind == "quoted":
            return Name(tok.pos, tok.text, True)
        if tok.kind == "special":
            return Call(tok.pos, tok.text, self.arguments() if self.at("op", "(") else None)
        if tok.kind == "op":
            if tok.text == "(":
                inner = self.expression(0)
                self.expect("op", ")")
                return inner
            if tok.text == "[":
                return self.list_literal(tok)
            if tok.text in ("-", "+"):
                # IBM lists unary minus with binary minus: "- a * b" is "-(a * b)", "-2 ** 2" is -4
                return Unary(tok.pos, tok.text, self.expression(_ADD))
            if tok.text == "~~":
                return Unary(tok.pos, "~~", self.expression(_UNARY))
        if tok.kind == "name":
            word = tok.text.lower()
            if word == "if":
                return self.conditional(tok)
            if word == "not":
                return Unary(tok.pos, "not", self.expression(_NOT))
            if word in ("true", "false"):
                return Literal(tok.pos, word == "true", "boolean")
            if word == "undef":
                return Literal(tok.pos, None, "null")
            if word in _KEYWORDS:
                raise self.error(f"unexpected keyword {tok.text!r} at offset {tok.pos}", tok.pos)
            if self.at("op", "("):
                return Call(tok.pos, word, self.arguments())
            return Name(tok.pos, tok.text, False)
        raise self.error(f"expected a value at offset {tok.pos}, found {_describe(tok)}", tok.pos)

    def arguments(self) -> tuple[Expr, ...]:
        self.expect("op", "(")
        args: list[Expr] = []
        if self.at("op", ")"):
            self.advance()
            return ()
        while True:
            args.append(self.expression(0))
            if self.at("op", ","):
                self.advance()
                continue
            self.expect("op", ")")
            return tuple(args)

    def list_literal(self, open_tok: Token) -> Expr:
        items: list[Expr] = []
        while not self.at("op", "]"):
            if self.at("eof"):
                raise self.error(f"unterminated list starting at offset {open_tok.pos}", open_tok.pos)
            items.append(self.expression(0))
            if self.at("op", ","):
                self.advance()
        self.advance()
        return ListExpr(open_tok.pos, tuple(items))

    def conditional(self, if_tok: Token) -> Expr:
        conditions: list[Expr] = []
        values: list[Expr] = []
        otherwise: Expr | None = None
        conditions.append(self.expression(0))
        self.expect("name", "then")
        values.append(self.expression(0))
        while True:
            if self.at("name", "elseif"):
                self.advance()
                conditions.append(self.expression(0))
                self.expect("name", "then")
                values.append(self.expression(0))
                continue
            if self.at("name", "else"):
                self.advance()
                otherwise = self.expression(0)
            self.expect("name", "endif")
            return If(if_tok.pos, tuple(conditions), tuple(values), otherwise)


def parse(text: str, *, max_length: int, max_depth: int) -> Expr:
    """The syntax tree of one CLEM expression; a :class:`ClemSyntaxError` says where it breaks."""
    if len(text) > max_length:
        raise ClemSyntaxError(
            f"expression is {len(text)} characters long, more than the {max_length} allowed "
            f"(PMSERVE_CLEM_MAX_LENGTH)", expression=text[:200], position=max_length,
        )
    if not text.strip():
        raise ClemSyntaxError("expression is empty", expression=text, position=0)
    return _Parser(text, min(max_depth, DEPTH_CEILING)).parse()


def _describe(tok: Token) -> str:
    if tok.kind == "eof":
        return "the end of the expression"
    return repr(tok.text)
