"""Transformations: every PMML expression element compiled to a function over a frame.

PMML 4.4 "Transformations": Constant, FieldRef, NormContinuous, NormDiscrete, Discretize,
MapValues, TextIndex and Apply (built-in and user-defined functions), as DerivedFields of the
TransformationDictionary or of a model's LocalTransformations.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from pmserve.errors import EvaluationError, excerpt
from pmserve.pmml import _attributes as attribute
from pmserve.pmml import _text
from pmserve.pmml._categorical import equals
from pmserve.pmml._fields import FieldInfo, Scope, classify, in_intervals, parse_dtype, parse_interval
from pmserve.pmml._frame import Expr, Frame
from pmserve.pmml._java_regex import UntranslatableRegex
from pmserve.pmml._java_regex import replacement as java_replacement
from pmserve.pmml._limits import DEFAULT_LIMITS, Limits
from pmserve.pmml._parse import Element
from pmserve.pmml._problems import Problems
from pmserve.pmml._types import Array, DataType, empty, is_missing, parse_scalar, to_float32

EXPRESSION_TAGS = frozenset(
    {"Constant", "FieldRef", "NormContinuous", "NormDiscrete", "Discretize", "MapValues", "TextIndex",
     "Apply", "Aggregate", "Lag"}
)


@dataclass
class Nesting:
    """How deep the expressions being compiled nest, shared by every Compiler of one document.

    Compiling and evaluating an expression recurses once per level, and a DerivedField reading
    another one evaluates it first, so the depth that counts is the whole chain's, in expression
    levels: a field's depth is the deepest of its own nesting and, at every field it reads, the
    level of the reference plus that field's depth.
    """

    limits: Limits = DEFAULT_LIMITS
    level: int = 0  # nesting of the expression being compiled, here
    peak: int = 0  # deepest level reached by the DerivedField being compiled (its chain included)
    depth_of: dict[str, int] = field(default_factory=dict)  # DerivedField name -> its depth
    reported: bool = False  # a chain too deep was reported


@dataclass
class Compiler:
    """Compile-time context of expressions: names in scope, user functions, collected problems."""

    scope: Scope
    problems: Problems
    functions: Mapping[str, Element] = field(default_factory=dict)
    bindings: Mapping[str, Expr] = field(default_factory=dict)
    _depth: int = 0
    #: The TransformationDictionary's fields (a model re-evaluates them in its own scope when its
    #: MiningSchema changes the values they read).
    document_fields: Mapping[str, Expr] = field(default_factory=dict)
    #: The TransformationDictionary's DerivedField elements by name (a NeuralOutput's FieldRef
    #: names one of them: SPSS Modeler's NormDiscrete/NormContinuous of the target).
    document_elements: Mapping[str, Element] = field(default_factory=dict)
    nesting: Nesting = field(default_factory=Nesting)

    def with_scope(self, scope: Scope) -> Compiler:
        return Compiler(scope, self.problems, self.functions, self.bindings, self._depth, self.document_fields,
                        self.document_elements, self.nesting)

    # -- entry points -------------------------------------------------------------------------
    def expression_of(self, parent: Element) -> Expr | None:
        """Compile the one expression child of ``parent`` (DerivedField, Apply argument, ...)."""
        for c in parent.children:
            if c.tag in EXPRESSION_TAGS:
                return self.compile(c)
        self.problems.invalid("expected an expression child (Constant, FieldRef, Apply, ...)", parent)
        return None

    def compile(self, el: Element) -> Expr | None:
        method = _COMPILERS.get(el.tag)
        if method is None:
            if el.tag in ("Aggregate", "Lag"):
                self.problems.unsupported(
                    f"{el.tag} needs rows of other records and is not supported for scoring", el)
            else:
                self.problems.invalid(f"{el.tag} is not a PMML expression", el)
            return None
        n = self.nesting
        if n.level >= n.limits.max_expression_depth:
            self.problems.invalid(f"expressions nest more than {n.limits.max_expression_depth} deep; the limit is "
                                  f"{n.limits.max_expression_depth} (PMSERVE_MAX_EXPRESSION_DEPTH)", el)
            return None
        n.level += 1
        n.peak = max(n.peak, n.level)
        try:
            return method(self, el)
        finally:
            n.level -= 1

    def derived_field(self, el: Element) -> tuple[FieldInfo, Expr] | None:
        """A DerivedField (or OutputField-like element): its field facts and its expression."""
        name = attribute.text(el, "name", self.problems, required=True, empty=False)
        if name is None:
            return None
        n = self.nesting
        outer_peak, n.peak = n.peak, n.level
        try:
            expr = self.expression_of(el)
            depth = n.peak - n.level
        finally:
            n.peak = max(outer_peak, n.peak)
        if expr is None:
            return None
        if depth > n.limits.max_derived_depth and not n.reported:
            n.reported = True  # once: every field reading this one is too deep as well
            self.problems.invalid(
                f"DerivedField {name!r} is computed through {depth} levels of expressions and the DerivedFields "
                f"they read; the limit is {n.limits.max_derived_depth} (PMSERVE_MAX_DERIVED_DEPTH)", el)
        n.depth_of[name] = depth
        dtype = parse_dtype(el, self.problems, default=expr.dtype)
        optype = el.get("optype") or expr.optype
        valid: list[Any] = []
        for v in el.findall("Value"):
            if v.get("property", "valid") == "valid" and v.get("value") is not None:
                try:
                    valid.append(parse_scalar(dtype, v.get("value") or ""))
                except ValueError as exc:
                    self.problems.invalid(f"Value of {name!r}: {exc}", v)
        info = FieldInfo(name, dtype, optype, tuple(valid),
                         intervals=tuple(parse_interval(i, self.problems) for i in el.findall("Interval")))
        return info, Expr(dtype, optype, cast_fn(expr, dtype))

    # -- elements -----------------------------------------------------------------------------
    def _constant(self, el: Element) -> Expr:
        text = el.text.strip() if el.get("dataType") != "string" else el.text
        dt = el.get("dataType")
        if dt is not None:
            dtype = parse_dtype(el, self.problems)
        elif re.fullmatch(r"[+-]?\d+", text):
            dtype = DataType.INTEGER
        else:
            try:
                float(text)
                dtype = DataType.DOUBLE
            except ValueError:
                dtype = DataType.STRING
        optype = "categorical" if dtype.is_string else "continuous"
        if el.get("missing") == "true":
            return Expr(dtype, optype, lambda frame: empty(dtype, frame.n))
        try:
            value = parse_scalar(dtype, text)
        except ValueError as exc:
            return self._unreadable_constant(el, dtype, optype, text, exc)
        if dtype.is_string:
            return Expr(dtype, optype, lambda frame: np.full(frame.n, value, dtype=object))
        return Expr(dtype, optype, lambda frame: np.full(frame.n, value, dtype=np.float64))

    @staticmethod
    def _unreadable_constant(el: Element, dtype: DataType, optype: str, text: str, exc: ValueError) -> Expr:
        """A Constant whose text is not of its dataType (sklearn2pmml writes an imputer's mean
        ``2246.977`` as an ``integer``): JPMML loads the document and fails only the records that
        evaluate it, so a branch of ``if`` never taken costs nothing."""
        line = el.line

        def fn(frame: Frame) -> Array:
            frame.fail(np.ones(frame.n, dtype=bool), lambda r: EvaluationError(
                f"Constant {text!r} at line {line} cannot be read as {dtype.value}: {exc}",
                row=r, value=text))
            return empty(dtype, frame.n)

        return Expr(dtype, optype, fn)

    def _field_ref(self, el: Element) -> Expr | None:
        name = attribute.text(el, "field", self.problems, required=True, empty=False)
        if name is None:
            return None
        src = self.ref(name, el)
        if src is None:
            return None
        mm = el.get("mapMissingTo")
        if mm is None:
            return src
        repl = self._typed(mm, src.dtype, el, "mapMissingTo")
        return Expr(src.dtype, src.optype, _map_missing(src.fn, repl))

    def ref(self, name: str, el: Element) -> Expr | None:
        """An expression reading field ``name``, checked to be in scope at compile time."""
        bound = self.bindings.get(name)
        if bound is not None:
            return bound
        n = self.nesting
        n.peak = max(n.peak, n.level + n.depth_of.get(name, 0))
        info = self.scope.lookup(name)
        if info is None:
            self.problems.invalid(f"field {name!r} is not defined in this scope", el)
            return None
        if info.is_data_field and not _declared_by_a_model(self.scope, name):
            # PMML 4.4 MiningSchema: a model reads only the fields its MiningSchema lists; a
            # DataField it does not list would be no column of the records it is given.
            self.problems.invalid(f"field {name!r} is a DataField that the model's MiningSchema does not list",
                                  el)
            return None
        return Expr(info.dtype, info.optype, lambda frame: frame.get(name))

    def field_info(self, name: str) -> FieldInfo | None:
        return self.scope.lookup(name)

    def _norm_continuous(self, el: Element) -> Expr | None:
        name = el.get("field") or ""
        src = self.ref(name, el)
        if src is None:
            return None
        points = linear_norms(el, self.problems)
        if points is None:
            return None
        orig, norm = points
        if len(orig) > 1 and np.all(np.diff(orig) < 0):
            # Descending points (STATISTICA's inverse transform) draw the same piecewise-linear
            # function read in the other direction; JPMML-Evaluator accepts them.
            orig, norm = orig[::-1].copy(), norm[::-1].copy()
        if np.any(np.diff(orig) <= 0):
            self.problems.invalid("LinearNorm orig values must be strictly ascending", el)
            return None
        outliers = attribute.choice(el, "outliers", ("asIs", "asMissingValues", "asExtremeValues"), self.problems,
                                    "asIs")
        repl = attribute.number(el, "mapMissingTo", self.problems)
        if outliers is None:
            return None

        def fn(frame: Frame) -> Array:
            x = src.fn(frame)
            idx = np.clip(np.searchsorted(orig, x, side="right") - 1, 0, len(orig) - 2)
            x0, x1, y0, y1 = orig[idx], orig[idx + 1], norm[idx], norm[idx + 1]
            with np.errstate(invalid="ignore"):
                y = y0 + (x - x0) * (y1 - y0) / (x1 - x0)
                if outliers == "asMissingValues":
                    y[(x < orig[0]) | (x > orig[-1])] = np.nan
                elif outliers == "asExtremeValues":
                    y[x < orig[0]] = norm[0]
                    y[x > orig[-1]] = norm[-1]
            if repl is not None:
                y[np.isnan(x)] = repl
            out: Array = y
            return out

        return Expr(DataType.DOUBLE, "continuous", fn)

    def _norm_discrete(self, el: Element) -> Expr | None:
        name = el.get("field") or ""
        src = self.ref(name, el)
        if src is None:
            return None
        value = self._typed(el.get("value") or "", src.dtype, el, "value")
        mm_value = attribute.number(el, "mapMissingTo", self.problems)
        repl = mm_value if mm_value is not None else np.nan

        def fn(frame: Frame) -> Array:
            x = src.fn(frame)
            out = equal_to(x, value).astype(np.float64)
            out[is_missing(x)] = repl
            return out

        return Expr(DataType.DOUBLE, "continuous", fn)

    def _discretize(self, el: Element) -> Expr | None:
        src = self.ref(el.get("field") or "", el)
        if src is None:
            return None
        dtype = parse_dtype(el, self.problems, default=DataType.STRING)
        bins = []
        for b in el.findall("DiscretizeBin"):
            iv = b.find("Interval")
            if iv is None:
                self.problems.invalid("DiscretizeBin needs an Interval", b)
                continue
            bins.append((parse_interval(iv, self.problems), self._typed(b.get("binValue") or "", dtype, b, "binValue")))
        mm = el.get("mapMissingTo")
        repl = self._typed(mm, dtype, el, "mapMissingTo") if mm is not None else None
        dv = el.get("defaultValue")
        default = self._typed(dv, dtype, el, "defaultValue") if dv is not None else None

        def fn(frame: Frame) -> Array:
            x = src.fn(frame)
            out = empty(dtype, frame.n)
            done = np.zeros(frame.n, dtype=bool)
            for iv, val in bins:
                m = in_intervals(x, (iv,)) & ~done
                out[m] = val
                done |= m
            miss = np.isnan(x)
            if default is not None:
                out[~done & ~miss] = default
            if repl is not None:
                out[miss] = repl
            return out

        return Expr(dtype, "categorical" if dtype.is_string else "continuous", fn)

    def _map_values(self, el: Element) -> Expr | None:
        dtype = parse_dtype(el, self.problems, default=DataType.STRING)
        out_col = attribute.text(el, "outputColumn", self.problems, required=True)
        pairs = el.findall("FieldColumnPair")
        srcs: list[Expr] = []
        cols: list[str] = []
        for p in pairs:
            s = self.ref(p.get("field") or "", p)
            if s is None:
                return None
            srcs.append(s)
            cols.append(p.get("column") or "")
        table = read_table(el, self.problems)
        if table is None or out_col is None:
            return None
        lookup: dict[tuple[Any, ...], Any] = {}
        for row in table:
            try:
                key = tuple(parse_scalar(s.dtype, row[c]) for s, c in zip(srcs, cols, strict=True))
                val = parse_scalar(dtype, row[out_col])
            except (KeyError, ValueError):
                # Rows lacking a column or holding an unreadable key can never match an input.
                continue
            lookup.setdefault(key, val)
        mm = el.get("mapMissingTo")
        repl = self._typed(mm, dtype, el, "mapMissingTo") if mm is not None else None
        dv = el.get("defaultValue")
        default = self._typed(dv, dtype, el, "defaultValue") if dv is not None else None

        def fn(frame: Frame) -> Array:
            xs = [s.fn(frame) for s in srcs]
            miss = np.zeros(frame.n, dtype=bool)
            for x in xs:
                miss |= is_missing(x)
            out = empty(dtype, frame.n)
            keys = zip(*(x.tolist() for x in xs), strict=True)
            for i, k in enumerate(keys):
                if miss[i]:
                    continue
                v = lookup.get(k)
                if v is None:
                    v = default
                if v is not None:
                    out[i] = v
            if repl is not None:
                out[miss] = repl
            return out

        return Expr(dtype, "categorical" if dtype.is_string else "continuous", fn)

    def _text_index(self, el: Element) -> Expr | None:
        """TextIndex (PMML 4.4 Transformations): see :mod:`pmserve.pmml._text`."""
        field_name = attribute.text(el, "textField", self.problems, required=True)
        text_field = self.ref(field_name, el) if field_name else None
        term_expr = self.expression_of(el)
        settings = self._text_settings(el)
        weights = attribute.choice(el, "localTermWeights", ("termFrequency", "binary", "logarithmic",
                                                             "augmentedNormalizedTermFrequency"), self.problems,
                                   "termFrequency")
        if weights == "augmentedNormalizedTermFrequency":
            # It divides by the largest frequency of any term in the text: not a function of
            # one term (JPMML refuses it too).
            self.problems.unsupported("localTermWeights augmentedNormalizedTermFrequency is not supported; "
                                      "expected termFrequency, binary or logarithmic", el)
            return None
        count_hits = attribute.choice(el, "countHits", ("allHits", "bestHits"), self.problems, "allHits")
        max_lev = attribute.integer(el, "maxLevenshteinDistance", self.problems, 0, minimum=0)
        if weights is None or count_hits is None:
            return None
        if text_field is None or term_expr is None or settings is None or max_lev is None:
            return None
        best_hits = count_hits == "bestHits"
        cap = 1 if weights == "binary" else 2**31 - 1
        text_fn = _as_strings(text_field)
        term_fn = _as_strings(term_expr)

        def fn(frame: Frame) -> Array:
            counts, failed = _text.frequencies(text_fn(frame), term_fn(frame).tolist(), settings, max_lev,
                                               best_hits, cap)
            if failed.any():
                frame.fail(failed, lambda r: EvaluationError(
                    f"TextIndex: the normalization of field {el.get('textField')!r} does not converge "
                    "", row=r))
            return np.log10(1.0 + counts) if weights == "logarithmic" else counts

        return Expr(DataType.DOUBLE if weights == "logarithmic" else DataType.INTEGER, "continuous", fn)

    def _text_settings(self, el: Element) -> _text.TextSettings | None:
        """Normalisation and tokenisation of a TextIndex, or None (problems reported)."""
        case = el.get("isCaseSensitive", "false") == "true"
        if el.get("tokenize", "true") != "true":
            self.problems.unsupported("tokenize=\"false\" is not supported; expected texts cut into words", el)
            return None
        word_re = el.get("x-wordRE") or el.get("wordRE")
        sep = el.get("wordSeparatorCharacterRE", r"\s+")
        try:
            tokenizer = _text.Tokenizer(_text.compile_pattern(word_re or sep, True, False), word_re is not None)
        except UntranslatableRegex as exc:
            self.problems.unsupported(str(exc), el)
            return None
        except (ValueError, re.error) as exc:
            attr = "x-wordRE" if word_re is not None else "wordSeparatorCharacterRE"
            self.problems.invalid(f"{attr} is not a usable regular expression: {word_re or sep!r} ({exc})", el)
            return None
        norms: list[_text.Normalization] = []
        ok = True
        for n in el.findall("TextIndexNormalization"):
            got = self._text_normalization(n, case)
            if got is None:
                ok = False
            else:
                norms.append(got)
        return _text.TextSettings(tuple(norms), tokenizer, case) if ok else None

    def _text_normalization(self, el: Element, index_case: bool) -> _text.Normalization | None:
        if attribute.integer(el, "maxLevenshteinDistance", self.problems, 0, minimum=0) is None:
            return None
        case = el.get("isCaseSensitive", "true" if index_case else "false") == "true"
        in_col = el.get("inField", "string")
        out_col = el.get("outField", "stem")
        regex_col = el.get("regexField", "regex")
        table = read_table(el, self.problems)
        if table is None:
            return None
        rows: list[tuple[re.Pattern[str], str]] = []
        for i, row in enumerate(table, 1):
            pattern, replacement = row.get(in_col), row.get(out_col)
            if pattern is None or replacement is None:
                self.problems.invalid(f"row {i} of the InlineTable has no {in_col if pattern is None else out_col!r}"
                                      f" cell; expected the columns inField={in_col!r} and outField={out_col!r}", el)
                return None
            is_regex = (row.get(regex_col) or "").strip().lower() == "true"
            try:
                compiled = _text.compile_pattern(pattern, case, not is_regex)
                rows.append((compiled, java_replacement(replacement, compiled.groups, compiled.groupindex)))
            except UntranslatableRegex as exc:
                self.problems.unsupported(f"row {i} of the InlineTable: {exc}", el)
                return None
            except (ValueError, re.error) as exc:
                self.problems.invalid(f"row {i} of the InlineTable: {pattern!r} is not a usable regular "
                                      f"expression ({exc})", el)
                return None
        return _text.Normalization(tuple(rows), el.get("recursive", "false") == "true")

    def _apply(self, el: Element) -> Expr | None:
        from pmserve.pmml import _apply

        return _apply.compile_apply(self, el)

    # -- helpers ------------------------------------------------------------------------------
    def _typed(self, text: str | None, dtype: DataType, el: Element, attr: str) -> Any:
        if text is None:
            return None
        try:
            return parse_scalar(dtype, text)
        except ValueError as exc:
            self.problems.invalid(f"{attr}: {exc}", el)
            return None


_COMPILERS: dict[str, Callable[[Compiler, Element], Expr | None]] = {
    "Constant": Compiler._constant,
    "FieldRef": Compiler._field_ref,
    "NormContinuous": Compiler._norm_continuous,
    "NormDiscrete": Compiler._norm_discrete,
    "Discretize": Compiler._discretize,
    "MapValues": Compiler._map_values,
    "TextIndex": Compiler._text_index,
    "Apply": Compiler._apply,
}


def _declared_by_a_model(scope: Scope, name: str) -> bool:
    """Whether ``name`` is in a scope below the document's (or ``scope`` is the document's)."""
    if scope.parent is None:
        return True
    s: Scope | None = scope
    while s is not None and s.parent is not None:
        if name in s.fields:
            return True
        s = s.parent
    return False


def linear_norms(el: Element, problems: Problems) -> tuple[Array, Array] | None:
    """The (orig, norm) points of a NormContinuous; at least two, all numbers."""
    norms = el.findall("LinearNorm")
    if len(norms) < 2:
        problems.invalid("NormContinuous needs at least two LinearNorm elements", el)
        return None
    points = [(attribute.number(n, "orig", problems, required=True), attribute.number(n, "norm", problems,
                                                                                     required=True)) for n in norms]
    if any(orig is None or norm is None for orig, norm in points):
        return None
    table = np.array(points, dtype=np.float64)
    return table[:, 0].copy(), table[:, 1].copy()


def read_table(el: Element, problems: Problems) -> list[dict[str, str]] | None:
    """The rows of an element's InlineTable as dicts (TableLocator is refused)."""
    t = el.find("InlineTable")
    if t is None:
        if el.find("TableLocator") is not None:
            problems.unsupported("TableLocator (an external table) is not supported; use an InlineTable",
                                 el.find("TableLocator"))
        else:
            problems.invalid("expected an InlineTable", el)
        return None
    rows = []
    for r in t.findall("row"):
        rows.append({c.tag: c.text for c in r.children})
    return rows


def equal_to(x: Array, value: Any) -> npt.NDArray[np.bool_]:
    if x.dtype == object:
        return equals(x, value)
    with np.errstate(invalid="ignore"):
        return np.asarray(x == value)


def _map_missing(fn: Callable[[Frame], Array], repl: Any) -> Callable[[Frame], Array]:
    def mapped(frame: Frame) -> Array:
        x = fn(frame)
        m = is_missing(x)
        if m.any():
            x = x.copy()
            x[m] = repl
        return x

    return mapped


def cast_fn(expr: Expr, dtype: DataType) -> Callable[[Frame], Array]:
    """Convert an expression's values to a declared dataType (DerivedField/@dataType)."""
    src = expr.dtype
    fn = expr.fn
    if src == dtype or (src.is_numeric and dtype.is_numeric and dtype is not DataType.FLOAT
                        and dtype is not DataType.INTEGER):
        return fn
    if dtype is DataType.FLOAT and src.is_numeric:
        return lambda frame: to_float32(fn(frame))
    if dtype is DataType.INTEGER and src.is_numeric:
        def to_int(frame: Frame) -> Array:
            x = fn(frame)
            bad = np.isfinite(x) & (x != np.trunc(x))
            if bad.any():
                frame.fail(bad, lambda r: EvaluationError(
                    f"a value of dataType {src.value} is not an integer", row=r))
                x = x.copy()
                x[bad] = np.nan
            return x
        return to_int
    if dtype.is_string:
        def to_str(frame: Frame) -> Array:
            x = fn(frame)
            return np.array([None if v != v else format_number(v, src) for v in x.tolist()], dtype=object)
        return to_str

    def from_str(frame: Frame) -> Array:
        x = fn(frame)
        out = np.full(frame.n, np.nan)
        for i, v in enumerate(x.tolist()):
            if v is None:
                continue
            try:
                out[i] = parse_scalar(dtype, v)
            except ValueError:
                frame.fail(np.arange(frame.n) == i, _unreadable(v, dtype))
        return out

    return from_str


def _unreadable(v: Any, dtype: DataType) -> Callable[[int], EvaluationError]:
    return lambda r: EvaluationError(f"value {excerpt(v)} cannot be read as {dtype.value}",
                                     value=v, row=r)


def format_number(v: float, dtype: DataType) -> str:
    """A number as PMML/Java would print it in a string context: integers without a fraction."""
    if dtype is DataType.BOOLEAN:
        return "true" if v else "false"
    if not math.isfinite(v):
        return "NaN" if v != v else ("Infinity" if v > 0 else "-Infinity")  # Java's Double.toString
    if dtype is DataType.INTEGER:
        return str(int(v))
    return repr(float(v))


def validity(info: FieldInfo | None, x: Array) -> npt.NDArray[np.bool_]:
    """isValid: not missing and valid per the field's DataDictionary facts."""
    if info is None or not info.is_data_field:
        return ~is_missing(x)
    _, miss, inval = classify(info, x)
    return ~miss & ~inval


def _as_strings(expr: Expr) -> Callable[[Frame], Array]:
    """A TextIndex reads its text and term as strings (JPMML: asString)."""
    if expr.dtype.is_string:
        return expr.fn
    return cast_fn(expr, DataType.STRING)
