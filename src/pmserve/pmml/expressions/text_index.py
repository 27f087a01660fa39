"""TextIndex: how often a term occurs in a text field (PMML 4.4 "Transformations", TextIndex).

The text is normalised (TextIndexNormalization tables of literal or regex replacements, applied
in order, repeated while they change the text when ``recursive``), then cut into tokens; the term
is tokenised only.  Tokens come from ``wordSeparatorCharacterRE`` (text between separators, with
leading and trailing punctuation trimmed) or, when the JPMML extension ``x-wordRE`` is given,
from the matches of that expression.  Matching follows JPMML-Evaluator: case-insensitive unless
``isCaseSensitive``, a window of the text matches the term when the summed Levenshtein distance
of its tokens is at most ``maxLevenshteinDistance``, ``countHits="bestHits"`` counts only windows
at the smallest distance.

Regular expressions are Java's (PMML producers and JPMML use ``java.util.regex``); the one
translation to Python's syntax is :mod:`pmserve.pmml.expressions.java_regex`.

Scoring is batched: a model such as a tf-idf vectoriser holds hundreds of TextIndex expressions
over one text column, so each distinct text of a batch is normalised and tokenised once per
normalisation settings (:func:`indexed`, cached on the text column itself) and exact term counts
are dictionary look-ups in an inverted index of the texts' n-grams.
"""

from __future__ import annotations

import functools
import re
import threading
import unicodedata
import weakref
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from pmserve.errors import EvaluationError
from pmserve.pmml.document import attributes as attribute
from pmserve.pmml.document.element import Element
from pmserve.pmml.expressions.casting import cast_fn
from pmserve.pmml.expressions.java_regex import UntranslatableRegex, translate
from pmserve.pmml.expressions.java_regex import replacement as java_replacement
from pmserve.pmml.expressions.normalization import read_table
from pmserve.pmml.fields.frame import Expr, Frame
from pmserve.pmml.fields.types import Array, DataType

if TYPE_CHECKING:
    from pmserve.pmml.expressions.transformations import ExpressionCompiler

#: Recursive normalisation stops after this many passes: a table whose rules keep changing the
#: text (say "a" -> "aa") would otherwise loop forever; such a record gets a missing value.
MAX_PASSES = 1000

# -- tokens ------------------------------------------------------------------------------------

_PUNCTUATION = frozenset({"Pd", "Pe", "Ps", "Pc", "Po", "Pi", "Pf"})
_ASCII_PUNCTUATION = "".join(c for c in map(chr, range(128)) if unicodedata.category(c) in _PUNCTUATION)


def trim_punctuation(token: str) -> str:
    """The token without leading and trailing punctuation (Unicode categories P*), as JPMML."""
    token = token.strip(_ASCII_PUNCTUATION)
    if token and not (token[0].isascii() and token[-1].isascii()):
        begin, end = 0, len(token)
        while begin < end and unicodedata.category(token[begin]) in _PUNCTUATION:
            begin += 1
        while end > begin and unicodedata.category(token[end - 1]) in _PUNCTUATION:
            end -= 1
        token = token[begin:end]
    return token


def fold_case(token: str) -> str:
    """A key under which tokens equal by Java's ``equalsIgnoreCase`` are equal."""
    if token.isascii():
        return token.lower()
    return "".join(_fold_char(c) for c in token)


def _fold_char(c: str) -> str:
    # Java maps char by char; a Python mapping to several characters (ß -> SS) is no match there.
    upper = c.upper()
    if len(upper) != 1:
        upper = c
    lower = upper.lower()
    return lower if len(lower) == 1 else upper


@dataclass(frozen=True)
class Tokenizer:
    """Words of a text: matches of ``wordRE``, or the text between ``wordSeparatorCharacterRE``."""

    pattern: re.Pattern[str]
    matches_words: bool

    def __call__(self, text: str) -> list[str]:
        if not text:
            return []
        if self.matches_words:
            return [m.group() for m in self.pattern.finditer(text)]
        tokens: list[str] = []
        start = 0
        for m in self.pattern.finditer(text):
            token = trim_punctuation(text[start:m.start()])
            if token:
                tokens.append(token)
            start = m.end()
        token = trim_punctuation(text[start:])
        if token:
            tokens.append(token)
        return tokens


@dataclass(frozen=True)
class Normalization:
    """One TextIndexNormalization table: (pattern, Python template) rows applied in order."""

    rows: tuple[tuple[re.Pattern[str], str], ...]
    recursive: bool

    def apply(self, text: str) -> str | None:
        for _ in range(MAX_PASSES):
            new = text
            for pattern, template in self.rows:
                new = pattern.sub(template, new)
            if not self.recursive or new == text:
                return new
            text = new
        return None


@dataclass(frozen=True)
class TextSettings:
    """What turns a text into its tokens: the cache key of :func:`indexed`."""

    normalizations: tuple[Normalization, ...]
    tokenizer: Tokenizer
    case_sensitive: bool

    def tokens(self, text: str) -> tuple[str, ...] | None:
        for norm in self.normalizations:
            normalized = norm.apply(text)
            if normalized is None:
                return None
            text = normalized
        return self.term_tokens(text)

    def term_tokens(self, term: str) -> tuple[str, ...]:
        """The tokens of a term (a text once normalised)."""
        words = self.tokenizer(term)
        return tuple(words if self.case_sensitive else map(fold_case, words))


@functools.lru_cache(maxsize=256)
def compile_pattern(pattern: str, case_sensitive: bool, literal: bool) -> re.Pattern[str]:
    """A Java pattern (or literal text) compiled once; raises ``ValueError`` / ``re.error``."""
    flags = 0 if case_sensitive else re.IGNORECASE
    return re.compile(re.escape(pattern) if literal else translate(pattern), flags)


# -- the batch index ---------------------------------------------------------------------------


@dataclass
class IndexedTexts:
    """The distinct texts of one column, tokenised, with an inverted index of their n-grams."""

    #: Per row: index into ``tokens``; -1 where the text is missing or cannot be normalised.
    inverse: Array
    tokens: list[tuple[str, ...]]
    failed: Array
    _grams: dict[int, dict[tuple[str, ...], list[tuple[int, int]]]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def grams(self, k: int) -> dict[tuple[str, ...], list[tuple[int, int]]]:
        """n-gram of ``k`` tokens -> [(distinct text, occurrences)]."""
        got = self._grams.get(k)
        if got is None:
            with self._lock:
                got = self._grams.get(k)
                if got is None:
                    got = {}
                    for u, toks in enumerate(self.tokens):
                        counts = Counter(toks[i:i + k] for i in range(len(toks) - k + 1))
                        for gram, c in counts.items():
                            got.setdefault(gram, []).append((u, c))
                    self._grams[k] = got
        return got


# Cache of IndexedTexts by (id of the text column, settings).  The column belongs to one frame
# (derived fields are computed once per frame and kept there), so the entry lives as long as
# the frame's column does and is dropped with it: a per-batch cache that needs no frame hook.
_CACHE: dict[tuple[int, TextSettings], tuple[weakref.ref[Array], IndexedTexts]] = {}
_CACHE_LOCK = threading.Lock()


def indexed(texts: Array, settings: TextSettings) -> IndexedTexts:
    """The texts of a string column (None = missing) tokenised under ``settings``, cached."""
    key = (id(texts), settings)
    hit = _CACHE.get(key)
    if hit is not None and hit[0]() is texts:
        return hit[1]
    got = _index(texts, settings)
    try:
        ref = weakref.ref(texts, lambda _r, k=key: _CACHE.pop(k, None))  # type: ignore[misc]
    except TypeError:  # pragma: no cover - numpy arrays support weak references
        return got
    with _CACHE_LOCK:
        _CACHE[key] = (ref, got)
    return got


def _index(texts: Array, settings: TextSettings) -> IndexedTexts:
    n = len(texts)
    inverse = np.full(n, -1, dtype=np.intp)
    failed = np.zeros(n, dtype=bool)
    seen: dict[str, int] = {}
    tokens: list[tuple[str, ...]] = []
    for i, t in enumerate(texts.tolist()):
        if t is None:
            continue
        u = seen.get(t)
        if u is None:
            toks = settings.tokens(t)
            if toks is None:
                seen[t] = u = -2
            else:
                seen[t] = u = len(tokens)
                tokens.append(toks)
        if u == -2:
            failed[i] = True
        else:
            inverse[i] = u
    return IndexedTexts(inverse, tokens, failed)


# -- counting ----------------------------------------------------------------------------------


def term_counts(index: IndexedTexts, term: tuple[str, ...], max_distance: int, best_hits: bool,
                cap: int) -> Array:
    """Frequency of ``term`` in every distinct text of ``index`` (float array), capped at ``cap``."""
    u_count = len(index.tokens)
    counts = np.zeros(u_count)
    if not term:
        return counts
    if max_distance == 0:
        for u, c in index.grams(len(term)).get(term, ()):
            counts[u] = min(c, cap)
        return counts
    for u, toks in enumerate(index.tokens):
        counts[u] = _fuzzy_frequency(toks, term, max_distance, best_hits, cap)
    return counts


def _fuzzy_frequency(text: Sequence[str], term: Sequence[str], max_distance: int, best_hits: bool,
                     cap: int) -> int:
    k = len(term)
    frequency = 0
    best = max_distance + 1
    for i in range(len(text) - k + 1):
        distance = 0
        for j in range(k):
            d = limited_levenshtein(text[i + j], term[j], max_distance - distance)
            if d < 0:
                break
            distance += d
        else:
            if best_hits:
                if distance < best:
                    frequency, best = 1, distance
                elif distance == best:
                    frequency += 1
                else:
                    continue
                if best == 0 and frequency >= cap:
                    return frequency
            else:
                frequency += 1
                if frequency >= cap:
                    return frequency
    return min(cap, frequency)


def limited_levenshtein(a: str, b: str, threshold: int) -> int:
    """Levenshtein distance of ``a`` and ``b`` when at most ``threshold``, else -1."""
    if a == b:
        return 0
    if threshold <= 0 or abs(len(a) - len(b)) > threshold:
        return -1
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        row_min = i
        for j, cb in enumerate(b, 1):
            v = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb))
            cur.append(v)
            row_min = min(row_min, v)
        if row_min > threshold:
            return -1
        prev = cur
    return prev[-1] if prev[-1] <= threshold else -1


def frequencies(
    texts: Array, terms: list[Any], settings: TextSettings, max_distance: int, best_hits: bool,
    cap: int,
) -> tuple[Array, Array]:
    """Term frequency per row (NaN where text or term is missing) and the rows that failed."""
    index = indexed(texts, settings)
    out = np.full(len(texts), np.nan)
    ok = index.inverse >= 0
    groups: dict[str, Array] = {}
    if terms and terms[0] is not None and terms.count(terms[0]) == len(terms):
        # The usual case: a constant term (one TextIndex per vocabulary entry).
        groups[terms[0]] = np.flatnonzero(ok)
    else:
        rows: dict[str, list[int]] = {}
        for i, (term, good) in enumerate(zip(terms, ok.tolist(), strict=True)):
            if term is not None and good:
                rows.setdefault(term, []).append(i)
        groups = {term: np.asarray(r, dtype=np.intp) for term, r in rows.items()}
    for term, sel in groups.items():
        counts = term_counts(index, settings.term_tokens(term), max_distance, best_hits, cap)
        out[sel] = counts[index.inverse[sel]]
    return out, index.failed


# -- the TextIndex element ---------------------------------------------------------------------


def compile_text_index(c: ExpressionCompiler, el: Element) -> Expr | None:
    """TextIndex (PMML 4.4 Transformations): see :mod:`pmserve.pmml.expressions.text_index`."""
    field_name = attribute.text(el, "textField", c.problems, required=True)
    text_field = c.ref(field_name, el) if field_name else None
    term_expr = c.expression_of(el)
    settings = _text_settings(c, el)
    weights = attribute.choice(el, "localTermWeights", ("termFrequency", "binary", "logarithmic",
                                                         "augmentedNormalizedTermFrequency"), c.problems,
                               "termFrequency")
    if weights == "augmentedNormalizedTermFrequency":
        # It divides by the largest frequency of any term in the text: not a function of
        # one term (JPMML refuses it too).
        c.problems.unsupported("localTermWeights augmentedNormalizedTermFrequency is not supported; "
                                  "expected termFrequency, binary or logarithmic", el)
        return None
    count_hits = attribute.choice(el, "countHits", ("allHits", "bestHits"), c.problems, "allHits")
    max_lev = attribute.integer(el, "maxLevenshteinDistance", c.problems, 0, minimum=0)
    if weights is None or count_hits is None:
        return None
    if text_field is None or term_expr is None or settings is None or max_lev is None:
        return None
    best_hits = count_hits == "bestHits"
    cap = 1 if weights == "binary" else 2**31 - 1
    # JPMML reads the text and the term as strings (asString).
    text_fn = cast_fn(text_field, DataType.STRING)
    term_fn = cast_fn(term_expr, DataType.STRING)

    def fn(frame: Frame) -> Array:
        counts, failed = frequencies(text_fn(frame), term_fn(frame).tolist(), settings, max_lev,
                                           best_hits, cap)
        if failed.any():
            frame.fail(failed, lambda r: EvaluationError(
                f"TextIndex: the normalization of field {el.get('textField')!r} does not converge",
                row=r))
        return np.log10(1.0 + counts) if weights == "logarithmic" else counts

    return Expr(DataType.DOUBLE if weights == "logarithmic" else DataType.INTEGER, "continuous", fn)


def _text_settings(c: ExpressionCompiler, el: Element) -> TextSettings | None:
    """Normalisation and tokenisation of a TextIndex, or None (problems reported)."""
    case = el.get("isCaseSensitive", "false") == "true"
    if el.get("tokenize", "true") != "true":
        c.problems.unsupported("tokenize=\"false\" is not supported; expected texts cut into words", el)
        return None
    word_re = el.get("x-wordRE") or el.get("wordRE")
    sep = el.get("wordSeparatorCharacterRE", r"\s+")
    try:
        tokenizer = Tokenizer(compile_pattern(word_re or sep, True, False), word_re is not None)
    except UntranslatableRegex as exc:
        c.problems.unsupported(str(exc), el)
        return None
    except (ValueError, re.error) as exc:
        attr = "x-wordRE" if word_re is not None else "wordSeparatorCharacterRE"
        c.problems.invalid(f"{attr} is not a usable regular expression: {word_re or sep!r} ({exc})", el)
        return None
    norms = [_text_normalization(c, n, case) for n in el.findall("TextIndexNormalization")]
    if any(n is None for n in norms):
        return None
    return TextSettings(tuple(n for n in norms if n is not None), tokenizer, case)


def _text_normalization(c: ExpressionCompiler, el: Element, index_case: bool) -> Normalization | None:
    if attribute.integer(el, "maxLevenshteinDistance", c.problems, 0, minimum=0) is None:
        return None
    case = el.get("isCaseSensitive", "true" if index_case else "false") == "true"
    in_col = el.get("inField", "string")
    out_col = el.get("outField", "stem")
    regex_col = el.get("regexField", "regex")
    table = read_table(el, c.problems)
    if table is None:
        return None
    rows: list[tuple[re.Pattern[str], str]] = []
    for i, row in enumerate(table, 1):
        pattern, replacement = row.get(in_col), row.get(out_col)
        if pattern is None or replacement is None:
            c.problems.invalid(f"row {i} of the InlineTable has no {in_col if pattern is None else out_col!r}"
                                  f" cell; expected the columns inField={in_col!r} and outField={out_col!r}", el)
            return None
        is_regex = (row.get(regex_col) or "").strip().lower() == "true"
        try:
            compiled = compile_pattern(pattern, case, not is_regex)
            rows.append((compiled, java_replacement(replacement, compiled.groups, compiled.groupindex)))
        except UntranslatableRegex as exc:
            c.problems.unsupported(f"row {i} of the InlineTable: {exc}", el)
            return None
        except (ValueError, re.error) as exc:
            c.problems.invalid(f"row {i} of the InlineTable: {pattern!r} is not a usable regular "
                                  f"expression ({exc})", el)
            return None
    return Normalization(tuple(rows), el.get("recursive", "false") == "true")
