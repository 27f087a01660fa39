"""Java regular expressions (``java.util.regex``) rewritten for Python's ``re``.

PMML producers and JPMML-Evaluator write and read Java's syntax: ``replace``/``matches`` patterns,
TextIndex separators and normalisation tables (JPMML-SparkML's StopWordsRemover writes
``\\p{Punct}``).  This module is the one place that knows the two dialects apart:

* ``\\w \\d \\s`` and the POSIX classes (``\\p{Punct}``, ``\\p{Alpha}`` ...) are ASCII-only in Java
  unless ``(?U)`` (UNICODE_CHARACTER_CLASS) starts the pattern;
* Unicode general categories (``\\p{L}``, ``\\pL``, ``\\p{IsLu}``, ``\\p{gc=Nd}``) become explicit
  code point ranges (Python's ``unicodedata``);
* ``\\Q...\\E`` quotes, ``\\h \\v \\R`` and ``\\e \\cX \\0oct \\x{h...}`` escapes, ``(?<name>...)`` and
  ``\\k<name>``, nested class unions (``[a-c[x-z]]``) and flags set mid-pattern (``a(?i)b``) are
  rewritten; possessive quantifiers and atomic groups are the same in Python 3.11.

What Python cannot express (class intersection ``&&``, a negated nested class, Unicode scripts and
blocks, ``\\G``, ``\\X``, the ``java...`` properties ...) raises :class:`UntranslatableRegex`
naming the construct and its position.
"""

from __future__ import annotations

import functools
import re
import sys
import unicodedata
from collections.abc import Iterable, Mapping

Ranges = tuple[tuple[int, int], ...]


class UntranslatableRegex(ValueError):
    """A Java construct that Python's ``re`` has no equivalent for."""


class InvalidJavaRegex(ValueError):
    """A pattern that is not a Java regular expression at all (Java's PatternSyntaxException)."""


def _merged(ranges: Iterable[tuple[int, int]]) -> Ranges:
    """Disjoint code point ranges in order, adjacent ones joined."""
    out: list[tuple[int, int]] = []
    for lo, hi in sorted(ranges):
        if out and out[-1][1] + 1 == lo:
            out[-1] = (out[-1][0], hi)
        else:
            out.append((lo, hi))
    return tuple(out)


def _ranges(chars: str) -> Ranges:
    return _merged((ord(c), ord(c)) for c in set(chars))


def _span(lo: str, hi: str) -> str:
    return "".join(map(chr, range(ord(lo), ord(hi) + 1)))


_LOWER, _UPPER, _DIGIT = _span("a", "z"), _span("A", "Z"), _span("0", "9")
_PUNCT = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"
_SPACE = " \t\n\x0b\f\r"
# Java's POSIX character classes (US-ASCII only): java.util.regex.Pattern, "POSIX character classes".
_POSIX: Mapping[str, Ranges] = {
    "Lower": _ranges(_LOWER),
    "Upper": _ranges(_UPPER),
    "ASCII": ((0, 0x7F),),
    "Alpha": _ranges(_LOWER + _UPPER),
    "Digit": _ranges(_DIGIT),
    "Alnum": _ranges(_LOWER + _UPPER + _DIGIT),
    "Punct": _ranges(_PUNCT),
    "Graph": _ranges(_LOWER + _UPPER + _DIGIT + _PUNCT),
    "Print": _ranges(_LOWER + _UPPER + _DIGIT + _PUNCT + " "),
    "Blank": _ranges(" \t"),
    "Cntrl": ((0, 0x1F), (0x7F, 0x7F)),
    "XDigit": _ranges(_DIGIT + "abcdefABCDEF"),
    "Space": _ranges(_SPACE),
}
# The predefined classes without UNICODE_CHARACTER_CLASS, and Java 8's \h and \v.
_PREDEFINED: Mapping[str, Ranges] = {
    "w": _ranges(_LOWER + _UPPER + _DIGIT + "_"),
    "d": _POSIX["Digit"],
    "s": _POSIX["Space"],
    "h": _ranges(" \t\xa0\u1680\u180e\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
                 "\u202f\u205f\u3000"),
    "v": _ranges("\n\x0b\f\r\x85\u2028\u2029"),
}
_CATEGORIES = frozenset({
    "Lu", "Ll", "Lt", "Lm", "Lo", "Mn", "Mc", "Me", "Nd", "Nl", "No", "Pc", "Pd", "Ps", "Pe", "Pi", "Pf",
    "Po", "Sm", "Sc", "Sk", "So", "Zs", "Zl", "Zp", "Cc", "Cf", "Cs", "Co", "Cn",
})
# Java's binary properties that are exactly a set of general categories.
_BINARY_AS_CATEGORY = {"LETTER": "L", "DIGIT": "Nd", "PUNCTUATION": "P", "CONTROL": "Cc",
                       "ASSIGNED": "!Cn"}
_FLAGS_PY = frozenset("imsx")
_FLAGS_DROPPED = frozenset("du")  # UNIX_LINES, UNICODE_CASE: no Python counterpart changes a match here


@functools.lru_cache(maxsize=1)
def _subcategories() -> Mapping[str, Ranges]:
    """Every general subcategory's code point ranges, found in one pass over Unicode."""
    out: dict[str, list[tuple[int, int]]] = {c: [] for c in _CATEGORIES}
    start, current = 0, unicodedata.category("\0")
    for cp in range(1, sys.maxunicode + 2):
        cat = unicodedata.category(chr(cp)) if cp <= sys.maxunicode else ""
        if cat != current:
            out[current].append((start, cp - 1))
            start, current = cp, cat
    return {c: tuple(r) for c, r in out.items()}


@functools.lru_cache(maxsize=64)
def _category(name: str) -> Ranges:
    """The code points of one general category (``L``) or subcategory (``Lu``), or all but ``!Cn``."""
    wanted = name.lstrip("!")
    keep = {"Lu", "Ll", "Lt"} if wanted == "LC" else {c for c in _CATEGORIES if c.startswith(wanted)}
    table = _subcategories()
    merged = _merged(r for c in keep for r in table[c])
    return _complement(merged) if name.startswith("!") else merged


def _complement(ranges: Ranges) -> Ranges:
    out: list[tuple[int, int]] = []
    nxt = 0
    for lo, hi in sorted(ranges):
        if lo > nxt:
            out.append((nxt, lo - 1))
        nxt = max(nxt, hi + 1)
    if nxt <= sys.maxunicode:
        out.append((nxt, sys.maxunicode))
    return tuple(out)


def _class_body(ranges: Ranges) -> str:
    """Ranges as the inside of a Python character class (every character escaped)."""
    parts = []
    for lo, hi in ranges:
        first = _escape_cp(lo)
        parts.append(first if lo == hi else f"{first}-{_escape_cp(hi)}")
    return "".join(parts)


def _escape_cp(cp: int) -> str:
    if cp < 0x80 and chr(cp).isalnum():
        return chr(cp)
    return f"\\x{cp:02x}" if cp <= 0xFF else (f"\\u{cp:04x}" if cp <= 0xFFFF else f"\\U{cp:08x}")


def _property(name: str, pattern: str, pos: int, unicode_classes: bool) -> Ranges:
    """The code points of ``\\p{name}``."""
    if name in _POSIX:
        if unicode_classes:
            raise UntranslatableRegex(f"{_where(pattern, pos)}: \\p{{{name}}} under (?U) (Unicode POSIX "
                                      "classes) has no Python equivalent")
        return _POSIX[name]
    bare = name
    for prefix in ("general_category=", "gc=", "Is"):
        if bare.startswith(prefix):
            bare = bare[len(prefix):]
            break
    if bare in _CATEGORIES or bare in {"L", "M", "N", "P", "S", "Z", "C", "LC"}:
        return _category(bare)
    if name.startswith("Is") and name[2:].upper() in _BINARY_AS_CATEGORY:
        return _category(_BINARY_AS_CATEGORY[name[2:].upper()])
    raise UntranslatableRegex(f"{_where(pattern, pos)}: the character property \\p{{{name}}} (a Unicode script, "
                              "block, binary property or java.lang.Character method) has no Python equivalent; "
                              "expected a POSIX class such as \\p{Punct} or a general category such as \\p{L}")


def _where(pattern: str, pos: int) -> str:
    return f"Java regular expression {pattern!r} at position {pos}"


#: Escapes whose Python text is fixed (Java ignores a stray \E).
_FIXED_ESCAPES = {"E": "", "z": "\\Z", "Z": "(?=\\n?\\Z)", "e": "\\x1b"}


class _Translator:
    """One left-to-right pass over a Java pattern."""

    def __init__(self, pattern: str) -> None:
        self.p = pattern
        self.i = 0
        self.unicode_classes = False
        self.out: list[str] = []
        # One entry per open group: how many flag scopes "(?i:" were opened inside it.
        self.scopes: list[int] = [0]

    def fail(self, what: str, pos: int | None = None) -> UntranslatableRegex:
        return UntranslatableRegex(f"{_where(self.p, self.i if pos is None else pos)}: {what}")

    def invalid(self, what: str, pos: int | None = None) -> InvalidJavaRegex:
        return InvalidJavaRegex(f"{_where(self.p, self.i if pos is None else pos)}: {what}")

    def run(self) -> str:
        p = self.p
        if p.startswith("(?U)"):
            self.unicode_classes = True
            self.i = 4
        while self.i < len(p):
            c = p[self.i]
            if c == "\\":
                self.out.append(self.escape(in_class=False))
            elif c == "[":
                self.out.append("[" + self.char_class() + "]")
            elif c == "(":
                self.group()
            elif c == ")":
                self.out.append(")" * (self.scopes.pop() + 1) if len(self.scopes) > 1 else ")")
                self.i += 1
            else:
                self.out.append(c)
                self.i += 1
        self.out.append(")" * self.scopes[0])
        return "".join(self.out)

    def group(self) -> None:
        p, i = self.p, self.i
        m = re.compile(r"\(\?([a-zA-Z]*)(?:-([a-zA-Z]*))?([:)])").match(p, i)
        if m is not None and (m.group(1) or m.group(2) is not None):
            on, off = m.group(1), m.group(2) or ""
            if "U" in on + off:
                raise self.fail("(?U) (UNICODE_CHARACTER_CLASS) anywhere but at the start has no Python equivalent")
            bad = set(on + off) - _FLAGS_PY - _FLAGS_DROPPED
            if bad:
                raise self.invalid(f"the inline flag(s) {''.join(sorted(bad))!r} are not Java flags")
            on = "".join(f for f in on if f in _FLAGS_PY)
            off = "".join(f for f in off if f in _FLAGS_PY)
            spec = on + (f"-{off}" if off else "")
            self.i = m.end()
            if m.group(3) == ":":
                self.scopes.append(0)
                self.out.append(f"(?{spec}:" if spec else "(?:")
            elif spec:
                # Java: the flags hold to the end of the enclosing group; Python only takes
                # global flags at the very start, so open a scoped group closed with it.
                self.out.append(f"(?{spec}:")
                self.scopes[-1] += 1
            return
        self.scopes.append(0)
        if p.startswith("(?<", i) and i + 3 < len(p) and p[i + 3] not in "=!":
            self.out.append("(?P<")
            self.i += 3
        else:
            self.out.append("(")
            self.i += 1

    def escape(self, in_class: bool) -> str:
        """The Python text for the escape at ``self.i`` (a backslash), advancing past it."""
        p, i = self.p, self.i
        if i + 1 >= len(p):
            raise self.invalid("a trailing backslash")
        d = p[i + 1]
        self.i = i + 2
        if d == "Q":
            return self.quoted(in_class)
        if d in "pP":
            ranges = _property(self.property_name(), p, i, self.unicode_classes)
            return self.ranges(ranges if d == "p" else _complement(ranges), in_class)
        if d.lower() in _PREDEFINED and not (self.unicode_classes and d.lower() in "wds"):
            ranges = _PREDEFINED[d.lower()]
            return self.ranges(ranges if d.islower() else _complement(ranges), in_class)
        if d == "R" and not in_class:
            return "(?:\\r\\n|[\\n\\x0b\\f\\r\\x85\\u2028\\u2029])"
        if d in "GXR" or (d == "b" and p.startswith("{", i + 2)):
            raise self.fail(f"\\{d} has no Python equivalent", i)
        if d in _FIXED_ESCAPES:
            return _FIXED_ESCAPES[d]
        cp = self.code_point(d)
        if cp is not None:
            return _escape_cp(cp)
        if d == "k" and p.startswith("<", i + 2):
            end = p.find(">", i + 3)
            if end < 0:
                raise self.invalid("an unclosed \\k<name>")
            self.i = end + 1
            return f"(?P={p[i + 3:end]})"
        return "\\" + d

    def quoted(self, in_class: bool) -> str:
        """The literal text of the \\Q...\\E quote whose text starts at ``self.i``, advancing past it."""
        p, start = self.p, self.i
        end = p.find("\\E", start)
        literal = p[start:] if end < 0 else p[start:end]
        self.i = len(p) if end < 0 else end + 2
        return "".join(_escape_cp(ord(ch)) if in_class else re.escape(ch) for ch in literal)

    def property_name(self) -> str:
        """The name of the \\p or \\P escape whose name starts at ``self.i``, advancing past it."""
        p, i = self.p, self.i
        if p.startswith("{", i):
            end = p.find("}", i + 1)
            if end < 0:
                raise self.invalid("an unclosed \\p{...}")
            self.i = end + 1
            return p[i + 1:end]
        if i < len(p):
            self.i = i + 1
            return p[i]
        raise self.invalid("\\p without a property name")

    def code_point(self, d: str) -> int | None:
        """The code point of the \\cX, \\0ooo or \\x{h...h} escape whose letter ``d`` is just before
        ``self.i``, advancing past it; None for any other escape."""
        p, i = self.p, self.i
        if d == "c":
            if i >= len(p):
                raise self.invalid("\\c without a control letter")
            self.i = i + 1
            return ord(p[i]) ^ 64
        if d == "0":
            m = re.compile(r"[0-3][0-7]{0,2}|[0-7]{1,2}").match(p, i)
            if m is None:
                raise self.invalid("\\0 without an octal value")
            self.i = m.end()
            return int(m.group(), 8)
        if d != "x" or not p.startswith("{", i):
            return None
        end = p.find("}", i + 1)
        try:
            cp = int(p[i + 1:end], 16) if end > 0 else -1
        except ValueError:
            cp = -1
        if not 0 <= cp <= sys.maxunicode:
            raise self.invalid("\\x{...} is not a code point")
        self.i = end + 1
        return cp

    def ranges(self, ranges: Ranges, in_class: bool) -> str:
        body = _class_body(ranges)
        return body if in_class else f"[{body}]"

    def char_class(self) -> str:
        """The inside of the class whose ``[`` is at ``self.i``, advancing past its ``]``."""
        p = self.p
        start = self.i
        self.i += 1
        parts: list[str] = []
        if self.i < len(p) and p[self.i] == "^":
            parts.append("^")
            self.i += 1
        first = True
        while True:
            if self.i >= len(p):
                raise self.invalid("an unclosed character class", start)
            c = p[self.i]
            if c == "]" and not first:
                self.i += 1
                return "".join(parts)
            first = False
            if c == "\\":
                parts.append(self.escape(in_class=True))
            elif c == "[":
                if p.startswith("[^", self.i):
                    raise self.fail("a negated nested character class has no Python equivalent")
                parts.append(self.char_class())  # a union: its members join this class
            elif c == "&" and p.startswith("&&", self.i):
                raise self.fail("character class intersection '&&' has no Python equivalent")
            elif c in "&~|" or (c == "-" and parts and parts[-1] == "-"):
                parts.append("\\" + c)  # literal in both; escaped so Python never reads a set operation
                self.i += 1
            else:
                parts.append("\\]" if c == "]" else c)
                self.i += 1


@functools.lru_cache(maxsize=512)
def translate(pattern: str) -> str:
    """A Java regular expression rewritten for Python's ``re`` with the same meaning.

    Raises :class:`UntranslatableRegex` naming the first construct Python cannot express, and
    :class:`InvalidJavaRegex` for a pattern Java itself would reject.
    """
    return _Translator(pattern).run()


def compile_java(pattern: str, flags: int = 0) -> re.Pattern[str]:
    """Compile a Java pattern; raises :class:`UntranslatableRegex` or ``re.error``."""
    return re.compile(translate(pattern), flags)


def replacement(text: str, groups: int, names: Mapping[str, int]) -> str:
    """Java's ``Matcher.replaceAll`` replacement (``$n``, ``${name}``, ``\\x``) as a ``re.sub`` template.

    Raises ``ValueError`` for a reference to a group the pattern does not have, as Java does.
    """
    parts: list[str | int] = []
    literal: list[str] = []
    i = 0
    while i < len(text):
        c = text[i]
        if c == "\\":
            if i + 1 >= len(text):
                raise ValueError(f"replacement {text!r} ends with a lone backslash")
            literal.append(text[i + 1])
            i += 2
            continue
        if c != "$":
            literal.append(c)
            i += 1
            continue
        if text.startswith("${", i):
            end = text.find("}", i)
            if end < 0 or text[i + 2:end] not in names:
                raise ValueError(f"replacement {text!r} names a group the pattern does not have")
            group = names[text[i + 2:end]]
            i = end + 1
        elif i + 1 < len(text) and text[i + 1].isdigit():
            # Java reads further digits only while they still name an existing group.
            group = int(text[i + 1])
            i += 2
            while i < len(text) and text[i].isdigit() and group * 10 + int(text[i]) <= groups:
                group = group * 10 + int(text[i])
                i += 1
            if group > groups:
                raise ValueError(f"replacement {text!r} refers to group {group}; the pattern has {groups}")
        else:
            raise ValueError(f"illegal group reference in replacement {text!r}")
        if literal:
            parts.append("".join(literal))
            literal = []
        parts.append(group)
    if literal:
        parts.append("".join(literal))
    # re's template: backslashes escaped, groups as \g<n> (an unmatched group gives "", as in Java).
    return "".join(p.replace("\\", "\\\\") if isinstance(p, str) else f"\\g<{p}>" for p in parts)
