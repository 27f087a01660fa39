"""Transformations: every PMML expression element compiled to a function over a frame.

PMML 4.4 "Transformations": Constant, FieldRef, NormContinuous, NormDiscrete, Discretize,
MapValues, TextIndex and Apply (built-in and user-defined functions), as DerivedFields of the
TransformationDictionary or of a model's LocalTransformations.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import numpy as np

from pmserve.errors import EvaluationError
from pmserve.pmml.document import attributes as attribute
from pmserve.pmml.document.element import Element
from pmserve.pmml.document.limits import DEFAULT_LIMITS, Limits
from pmserve.pmml.document.problems import Problems
from pmserve.pmml.expressions.apply import compile_apply
from pmserve.pmml.expressions.casting import EXPRESSION_TAGS, cast_fn, map_missing
from pmserve.pmml.expressions.normalization import discretize, map_values, norm_continuous, norm_discrete
from pmserve.pmml.expressions.text_index import compile_text_index
from pmserve.pmml.fields.frame import Expr, Frame
from pmserve.pmml.fields.schema import FieldInfo, Scope, parse_dtype, parse_interval
from pmserve.pmml.fields.types import Array, DataType, empty, optype_of, parse_scalar


@dataclass
class Nesting:
    """How deep the expressions being compiled nest, shared by every ExpressionCompiler of one document.

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
class ExpressionCompiler:
    """Compile-time context of expressions: names in scope, user functions, collected problems."""

    scope: Scope
    problems: Problems
    functions: Mapping[str, Element] = field(default_factory=dict)
    bindings: Mapping[str, Expr] = field(default_factory=dict)
    #: How many user-defined function calls deep this compiler is (a DefineFunction body).
    function_depth: int = 0
    #: The TransformationDictionary's fields (a model re-evaluates them in its own scope when its
    #: MiningSchema changes the values they read).
    document_fields: Mapping[str, Expr] = field(default_factory=dict)
    #: The TransformationDictionary's DerivedField elements by name (a NeuralOutput's FieldRef
    #: names one of them: SPSS Modeler's NormDiscrete/NormContinuous of the target).
    document_elements: Mapping[str, Element] = field(default_factory=dict)
    nesting: Nesting = field(default_factory=Nesting)

    def with_scope(self, scope: Scope) -> ExpressionCompiler:
        return ExpressionCompiler(scope, self.problems, self.functions, self.bindings, self.function_depth,
                                  self.document_fields, self.document_elements, self.nesting)

    def for_function_body(self, bindings: Mapping[str, Expr]) -> ExpressionCompiler:
        """The compiler of a DefineFunction body: it sees its parameters only (PMML 4.4
        DefineFunction), plus the other functions."""
        return ExpressionCompiler(Scope(), self.problems, self.functions, bindings, self.function_depth + 1,
                                  nesting=self.nesting)

    # -- entry points -------------------------------------------------------------------------
    def expression_of(self, parent: Element) -> Expr | None:
        """Compile the one expression child of ``parent`` (DerivedField, Apply argument, ...)."""
        child = parent.find_any(EXPRESSION_TAGS)
        if child is not None:
            return self.compile(child)
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
        optype = optype_of(dtype)
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

    def field_of(self, el: Element) -> Expr | None:
        """The field that ``el``'s required ``field`` attribute names (a FieldRef, a normalization, a
        FieldColumnPair, a ClusteringField...), checked to be in scope."""
        name = attribute.text(el, "field", self.problems, required=True, empty=False)
        return None if name is None else self.ref(name, el)

    def _field_ref(self, el: Element) -> Expr | None:
        src = self.field_of(el)
        if src is None:
            return None
        mm = el.get("mapMissingTo")
        if mm is None:
            return src
        repl = attribute.parsed(el, "mapMissingTo", partial(parse_scalar, src.dtype), self.problems)
        return Expr(src.dtype, src.optype, map_missing(src.fn, repl))

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


_COMPILERS: dict[str, Callable[[ExpressionCompiler, Element], Expr | None]] = {
    "Constant": ExpressionCompiler._constant,
    "FieldRef": ExpressionCompiler._field_ref,
    "NormContinuous": norm_continuous,
    "NormDiscrete": norm_discrete,
    "Discretize": discretize,
    "MapValues": map_values,
    "TextIndex": compile_text_index,
    "Apply": compile_apply,
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
