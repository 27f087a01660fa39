"""Stage 2: compile a parsed document into a plan of numpy functions (:func:`compile_document`).

Every model element is compiled by the one compiler registered for its tag (see :data:`REGISTRY`):
a model module registers ``compile(el, env) -> CompiledModel | None`` with ``@register(tag)``.
The compiler reads its element and the read-only :class:`ModelEnv` and returns what it built; it
reports problems to ``env.problems`` and returns None when it cannot compile.  The parts every
model shares (MiningSchema, LocalTransformations, Targets, Output) are compiled here.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pmserve.errors import DataError, InvalidMarkupError
from pmserve.pmml.document import attributes as attribute
from pmserve.pmml.document.element import Element
from pmserve.pmml.document.limits import DEFAULT_LIMITS, Limits
from pmserve.pmml.document.parse import MODEL_TAGS
from pmserve.pmml.document.problems import Problems
from pmserve.pmml.expressions.transformations import ExpressionCompiler, Nesting
from pmserve.pmml.fields.field import Field
from pmserve.pmml.fields.frame import Deferred, Expr, Frame, RowErrors
from pmserve.pmml.fields.schema import (
    FieldInfo,
    MiningField,
    Scope,
    parse_data_field,
    parse_mining_schema,
    treatment_exprs,
)
from pmserve.pmml.fields.types import Array, DataType, empty
from pmserve.pmml.results.output import Feature, OutputField, OutputPlan, compile_output
from pmserve.pmml.results.prediction import Prediction
from pmserve.pmml.results.targets import TargetPlan, apply_targets, parse_targets

Predictor = Callable[[Frame], Prediction]
#: Output features a model type computes beyond the standard ones (an OutputField element and the
#: feature it asks for -> how to compute it, or None when the feature is not one of them).
OutputFeatures = Callable[[Element, str], Feature | None]


#: Key of ``Prediction.extras`` holding the values of a model's ``nested_results`` (name -> column).
NESTED_RESULTS = "nested_results"

#: Result column of the prediction of a model whose MiningSchema names no target field.
SYNTHETIC_TARGET = "prediction"
#: Result column of the cluster of a clustering model (which has no target field).
SYNTHETIC_CLUSTER = "cluster"


# -- the registry ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ModelCompiler:
    """The compiler of one model element, and the extra Output features its models compute."""

    tag: str
    compile: Callable[[Element, ModelEnv], CompiledModel | None]
    output_features: OutputFeatures | None = None


class Registry:
    """Model element tag -> its compiler.  Registering a tag twice is an error."""

    def __init__(self) -> None:
        self._by_tag: dict[str, ModelCompiler] = {}

    def add(self, entry: ModelCompiler) -> None:
        known = self._by_tag.get(entry.tag)
        if known is not None:
            raise ValueError(f"{entry.tag} has a compiler already ({known.compile.__module__}."
                             f"{known.compile.__qualname__}); refusing {entry.compile.__module__}."
                             f"{entry.compile.__qualname__}")
        self._by_tag[entry.tag] = entry

    def get(self, tag: str) -> ModelCompiler | None:
        return self._by_tag.get(tag)

    @property
    def tags(self) -> tuple[str, ...]:
        """The model elements with a compiler, in registration order."""
        return tuple(self._by_tag)


#: Every model compiler, filled by the modules of :mod:`pmserve.pmml.models` as they are imported.
REGISTRY = Registry()

ModelCompilerFn = Callable[[Element, "ModelEnv"], "CompiledModel | None"]


def register(tag: str, *, output_features: OutputFeatures | None = None,
             registry: Registry = REGISTRY) -> Callable[[ModelCompilerFn], ModelCompilerFn]:
    """Register the decorated function as the compiler of ``tag`` model elements."""

    def deco(fn: ModelCompilerFn) -> ModelCompilerFn:
        registry.add(ModelCompiler(tag, fn, output_features))
        return fn

    return deco


# -- per-model environment -------------------------------------------------------------------------


@dataclass(frozen=True)
class ModelEnv:
    """What a model compiler reads: its element's shared parts already compiled (read-only)."""

    element: Element
    function_name: str
    compiler: ExpressionCompiler  # expressions in the model's scope (MiningSchema + LocalTransformations)
    mining_fields: list[MiningField]
    target: FieldInfo | None
    problems: Problems
    #: Every target field of the MiningSchema, in order (``target`` is the first).
    targets: tuple[FieldInfo, ...] = ()

    @property
    def scope(self) -> Scope:
        return self.compiler.scope

    @property
    def active_fields(self) -> list[MiningField]:
        return [m for m in self.mining_fields if m.usage == "active"]

    def function_is(self, *names: str, unsupported: bool = False) -> bool:
        """Whether the model's functionName is one of ``names``; a problem (of invalid markup, or of
        markup pmserve does not support) if not."""
        if self.function_name in names:
            return True
        expected, el = " or ".join(names), self.element
        if unsupported:
            self.problems.unsupported(f"functionName {self.function_name!r} is not supported for a {el.tag}; "
                                      f"expected {expected}", el)
        else:
            self.problems.invalid(f"functionName must be {expected} for a {el.tag}, got {self.function_name!r}", el)
        return False

    def compile_nested(self, el: Element, parent_scope: Scope | None = None) -> ModelPlan | None:
        """Compile a nested model (a Segment's) within this model's scope."""
        return compile_model(el, self.compiler.with_scope(parent_scope or self.scope))


@dataclass(frozen=True)
class CompiledModel:
    """What a model compiler returns: its predictor and the facts about it the shared parts need."""

    predictor: Predictor
    #: The categories a classifier predicts (its probability columns).
    categories: tuple[Any, ...] = ()
    #: False for classifiers that give no probabilities (JPMML: RuleSet, OneAgainstAll SVM):
    #: without an Output element they then get no probability(<class>) result columns.
    has_probabilities: bool = True
    #: The predictor predicts every target field, the first in ``Prediction.value`` and the others
    #: in ``Prediction.targets``; a model with several targets whose compiler does not is refused.
    predicts_every_target: bool = False
    #: The predicted value is a list per record (a selectAll MiningModel): an object column of
    #: tuples of plain values, None where there is no prediction.
    list_valued: bool = False
    #: The predictor already added the Target's rescaleConstant.
    folded_rescale_constant: bool = False
    #: Input fields whose cells are collections (an AssociationModel's basket), kept whole by score().
    collection_fields: frozenset[str] = frozenset()
    #: Output fields of nested models that are results of this model too (JPMML: a MiningModel's
    #: selectFirst/modelChain segments); their values come in ``Prediction.extras[NESTED_RESULTS]``.
    nested_results: tuple[OutputField, ...] = ()
    #: Fields the model defines for its Output to read (a chain's segments hand theirs on).
    defines: tuple[FieldInfo, ...] = ()


@dataclass(frozen=True)
class ModelPlan:
    """A model element ready to score: the shared parts compiled here plus its compiler's predictor."""

    tag: str
    name: str | None
    function_name: str
    target: FieldInfo | None
    derived: Mapping[str, Expr]
    predictor: Predictor
    targets: TargetPlan | None
    output: OutputPlan | None
    mining_fields: tuple[MiningField, ...]
    categories: tuple[Any, ...] = ()
    collection_fields: frozenset[str] = frozenset()
    nested_results: tuple[OutputField, ...] = ()
    #: Target fields after the first, each with its Targets/Target (models with several targets).
    more_targets: tuple[tuple[FieldInfo, TargetPlan | None], ...] = ()
    list_valued: bool = False

    def evaluate(self, parent: Frame, rows: Any = None) -> tuple[Prediction, dict[str, Array]]:
        """Run the model over the parent's rows (or the given subset of them)."""
        frame = parent.child(self.derived) if rows is None else parent.subset(rows, self.derived)
        pred = self.predictor(frame)
        pred = apply_targets(self.targets, pred, self.function_name)
        if self.more_targets:
            pred.targets = {info.name: apply_targets(plan, pred.targets[info.name],
                                                     target_function(self.function_name, info))
                            for info, plan in self.more_targets}
        outputs = self.output.evaluate(pred, frame) if self.output is not None else {}
        return pred, outputs


def compile_model(el: Element, outer: ExpressionCompiler) -> ModelPlan | None:
    """Compile one model element: MiningSchema, LocalTransformations, Targets, the model, Output."""
    problems = outer.problems
    outer.nesting.limits.check_deadline(f"compiling {el.tag} at line {el.line}")  # once per (nested) model
    fn_name = attribute.text(el, "functionName", problems, required=True) or "regression"
    if attribute.boolean(el, "isScorable", problems, True) is False:
        problems.unsupported("the model says it is not scorable (isScorable=\"false\")", el)
    mining = parse_mining_schema(el.find("MiningSchema"), outer.scope, problems)
    if el.find("MiningSchema") is None:
        problems.invalid("a model needs a MiningSchema", el)
    c, derived = _model_fields(el, outer, mining)
    targets = tuple(m.info for m in mining if m.usage in ("target", "predicted"))
    target = targets[0] if targets else _synthetic_target(fn_name)
    env = ModelEnv(el, fn_name, c, mining, target, problems, targets)
    entry = REGISTRY.get(el.tag)
    if entry is None:
        problems.unsupported(f"{el.tag} models are not supported", el)
        return None
    compiled = entry.compile(el, env)
    several = len(targets) > 1 and el.tag != "MiningModel"
    if several and (compiled is None or not compiled.predicts_every_target):
        problems.unsupported(f"{len(targets)} target fields; a {el.tag} with more than one target is not "
                             f"supported (NearestNeighborModel is)", el)
    if compiled is None:
        return None
    for info in compiled.defines:
        c.scope.add(info)
    target_plan = parse_targets(el.find("Targets"), target, problems)
    if compiled.folded_rescale_constant and target_plan is not None:
        target_plan = dataclasses.replace(target_plan, rescale_constant=0.0)
    more = tuple((t, parse_targets(el.find("Targets"), t, problems)) for t in targets[1:]) \
        if compiled.predicts_every_target else ()
    output = compile_output(el.find("Output"), c, target, entry.output_features, {t.name: t for t, _ in more})
    categories = compiled.categories if compiled.has_probabilities else ()
    return ModelPlan(el.tag, el.get("modelName"), fn_name, target, derived, compiled.predictor, target_plan, output,
                     tuple(mining), categories, compiled.collection_fields, compiled.nested_results, more,
                     compiled.list_valued)


def _model_fields(el: Element, outer: ExpressionCompiler,
                  mining: list[MiningField]) -> tuple[ExpressionCompiler, dict[str, Expr]]:
    """The model's expression compiler (its MiningFields and LocalTransformations in scope) and the
    fields its frame derives: treated inputs, document fields it re-evaluates, local DerivedFields."""
    model_scope = Scope(outer.scope)
    derived: dict[str, Expr] = {}
    if outer.scope.parent is None or any(mf.alters_values for mf in mining):
        # A document-level DerivedField read inside this model sees the model's treated inputs:
        # JPMML evaluates it in the context of the outermost model (checking the values it reads
        # against the MiningSchema) and again in a nested one whose MiningSchema changes them.
        derived.update(outer.document_fields)
    derived.update(treatment_exprs(mining, outer.scope))
    for mf in mining:
        model_scope.add(mf.info)
    c = outer.with_scope(model_scope)
    lt = el.find("LocalTransformations")
    for df in lt.findall("DerivedField") if lt is not None else []:
        got = c.derived_field(df)
        if got is not None:
            info, expr = got
            model_scope.add(info)
            derived[info.name] = expr
    return c, derived


def target_function(function_name: str, target: FieldInfo) -> str:
    """The function a model performs for one target: a mixed model regresses a continuous one."""
    if function_name != "mixed":
        return function_name
    return "regression" if target.optype == "continuous" else "classification"


def _synthetic_target(function_name: str) -> FieldInfo | None:
    """A model without a target field still predicts (JPMML: an unnamed target); we name it."""
    return _SYNTHETIC_TARGETS.get(function_name)


_SYNTHETIC_TARGETS = {
    "regression": FieldInfo(SYNTHETIC_TARGET, DataType.DOUBLE, "continuous"),
    "classification": FieldInfo(SYNTHETIC_TARGET, DataType.STRING, "categorical"),
    "clustering": FieldInfo(SYNTHETIC_CLUSTER, DataType.STRING, "categorical"),
}


# -- the document ------------------------------------------------------------------------------------


@dataclass
class CompiledDocument:
    """A whole PMML document compiled: what :class:`pmserve.pmml.Model` wraps."""

    source: bytes
    pmml_version: str
    model: ModelPlan
    data_fields: dict[str, FieldInfo]
    doc_derived: dict[str, Expr]
    input_fields: tuple[Field, ...]
    target_fields: tuple[Field, ...]
    result_fields: tuple[Field, ...]
    root: Element
    #: Fields read where given but not required: supplementary MiningFields (e.g. a time
    #: series' horizon written the R pmml way).
    optional_fields: tuple[Field, ...] = field(default=())
    warnings: tuple[str, ...] = field(default=())
    _probability_columns: tuple[tuple[str, Any], ...] = ()
    #: The document-level fields of the root frame: every DataField a record does not carry reads
    #: as missing (a nested model may list a field the top-level MiningSchema does not), then the
    #: TransformationDictionary's fields.
    _root_fields: Mapping[str, Expr] = field(default_factory=dict)

    def evaluate(
        self, batch: dict[str, Array], n: int, unreadable: Mapping[str, Deferred] | None = None,
    ) -> tuple[dict[str, Array], dict[int, DataError]]:
        """Score ``batch``; ``unreadable`` are input values that could not be read as their field's
        type (missing in ``batch``): invalid values, failing a record only where it reads them."""
        errors = RowErrors()
        root = Frame(n, dict(batch), self._root_fields or self.doc_derived, errors=errors)
        for name, (mask, make) in (unreadable or {}).items():
            root.defer(name, mask, make)
        pred, outputs = self.model.evaluate(root)
        results: dict[str, Array] = {}
        if self.model.target is not None:
            results[self.model.target.name] = pred.value
        for info, _ in self.model.more_targets:
            results[info.name] = pred.targets[info.name].value
        nested = pred.extras.get(NESTED_RESULTS, {})
        for f in self.model.nested_results:
            if f.name not in results:
                results[f.name] = nested[f.name] if f.name in nested else empty(f.dtype, n)
        if self.model.output is not None:
            for f in self.model.output.fields:
                results[f.name] = outputs[f.name]
        for name, cat in self._probability_columns:
            results[name] = pred.probability_of(cat)
        return results, errors.errors


def compile_document(root: Element, source: bytes, limits: Limits = DEFAULT_LIMITS) -> CompiledDocument:
    """Compile a parsed document: DataDictionary, TransformationDictionary, its (first scorable)
    model, and the list of result fields; every problem found is raised together."""
    problems = Problems()
    data_fields, scope = _data_dictionary(root, problems)
    c, doc_derived = _transformation_dictionary(root, scope, problems, limits)
    plan = _scorable_model(root, c, problems)
    inputs = tuple(data_fields[m.name].public() if m.name in data_fields else m.info.public()
                   for m in plan.mining_fields if m.usage == "active")
    targets = tuple(t.public() for t in (plan.target, *(t for t, _ in plan.more_targets))
                    if t is not None and t.name in data_fields)
    optional = tuple(data_fields[m.name].public() for m in plan.mining_fields
                     if m.usage == "supplementary" and m.name in data_fields)
    results, prob_cols = _result_fields(plan)
    root_fields = {**{name: _missing_column(info.dtype, info.optype) for name, info in data_fields.items()},
                   **doc_derived}
    return CompiledDocument(source, root.get("version") or "", plan, data_fields, doc_derived, inputs, targets,
                            tuple(results), root, optional, tuple(problems.warnings), tuple(prob_cols), root_fields)


def _data_dictionary(root: Element, problems: Problems) -> tuple[dict[str, FieldInfo], Scope]:
    """The DataFields by name, and the document scope that holds them."""
    dd = root.find("DataDictionary")
    scope = Scope()
    data_fields: dict[str, FieldInfo] = {}
    if dd is None:
        problems.invalid("a PMML document needs a DataDictionary", root)
        return data_fields, scope
    for df in dd.findall("DataField"):
        info = parse_data_field(df, problems)
        if info.name in data_fields:
            problems.invalid(f"DataField {info.name!r} is defined twice", df)
        data_fields[info.name] = info
        scope.add(info)
    return data_fields, scope


def _transformation_dictionary(root: Element, scope: Scope, problems: Problems,
                               limits: Limits) -> tuple[ExpressionCompiler, dict[str, Expr]]:
    """The document's expression compiler (its user functions and DerivedFields in scope) and the
    TransformationDictionary's DerivedFields by name."""
    functions: dict[str, Element] = {}
    doc_derived: dict[str, Expr] = {}
    doc_elements: dict[str, Element] = {}
    c = ExpressionCompiler(scope, problems, functions, document_fields=doc_derived,
                           document_elements=doc_elements, nesting=Nesting(limits))
    td = root.find("TransformationDictionary")
    if td is None:
        return c, doc_derived
    for f in td.findall("DefineFunction"):
        fname = f.get("name")
        if fname:
            functions[fname] = f
    for df in td.findall("DerivedField"):
        got = c.derived_field(df)
        if got is not None:
            info, expr = got
            scope.add(info)
            doc_derived[info.name] = expr
            doc_elements[info.name] = df
    return c, doc_derived


def _scorable_model(root: Element, c: ExpressionCompiler, problems: Problems) -> ModelPlan:
    """The document's first scorable model element compiled; raises the problems found, if any."""
    models = [e for e in root.children if e.tag in MODEL_TAGS]
    if not models:
        problems.invalid("the document holds no model element", root)
        problems.raise_if_any()
    scorable = [m for m in models if m.get("isScorable") != "false"] or models
    plan = compile_model(scorable[0], c)
    if plan is None and not problems.items:  # pragma: no cover - compile_model reports why
        problems.unsupported("the model could not be compiled", scorable[0])
    problems.raise_if_any()
    if plan is None:  # pragma: no cover - raise_if_any raised
        raise InvalidMarkupError("the model could not be compiled")
    return plan


def _result_fields(plan: ModelPlan) -> tuple[list[Field], list[tuple[str, Any]]]:
    """The result fields in order, and the probability columns added where there is no Output."""
    results: list[Field] = []
    prob_cols: list[tuple[str, Any]] = []
    if plan.target is not None:
        results.append(Field(plan.target.name, _result_type(plan.function_name, plan.target, plan.targets),
                             plan.target.optype, plan.target.value_texts, plan.target.intervals,
                             collection=plan.list_valued))
    for t, tplan in plan.more_targets:
        results.append(Field(t.name, _result_type(target_function(plan.function_name, t), t, tplan), t.optype,
                             t.value_texts, t.intervals))
    # Nested models' results come first (JPMML's depth-first order); this model's own win a name.
    own = {f.name for f in plan.output.fields} if plan.output is not None else set()
    taken = {r.name for r in results} | own
    for nf in plan.nested_results:
        if nf.name not in taken:
            taken.add(nf.name)
            results.append(Field(nf.name, nf.dtype, nf.optype))
    if plan.output is not None:
        # Like JPMML-Evaluator, every OutputField is a result, isFinalResult="false" ones included.
        # One named like a target takes the target's place: JPMML's result map keeps a name's first
        # position and the last value put under it, so no result name is listed twice.
        at = {r.name: i for i, r in enumerate(results)}
        for out in plan.output.fields:
            if out.name in at:
                results[at[out.name]] = Field(out.name, out.dtype, out.optype)
            else:
                at[out.name] = len(results)
                results.append(Field(out.name, out.dtype, out.optype))
    elif plan.function_name == "classification" and plan.target is not None:
        for cat in plan.categories:
            label = cat if isinstance(cat, str) else _label(cat, plan.target.dtype)
            name = f"probability({label})"
            if name in taken:
                continue
            prob_cols.append((name, cat))
            results.append(Field(name, DataType.DOUBLE, "continuous"))
    return results, prob_cols


def _missing_column(dtype: DataType, optype: str) -> Expr:
    return Expr(dtype, optype, lambda frame: empty(dtype, frame.n))


def _result_type(function_name: str, target: FieldInfo, target_plan: TargetPlan | None) -> DataType:
    """The type of the predicted value: a regression predicts a double (JPMML), unless cast."""
    dtype = target.dtype
    if function_name == "regression" and dtype.is_number:
        if target_plan is not None and target_plan.cast_integer is not None:
            return DataType.INTEGER
        return DataType.FLOAT if dtype is DataType.FLOAT else DataType.DOUBLE
    return dtype


def _label(cat: Any, dtype: DataType) -> str:
    if dtype in (DataType.INTEGER,) and float(cat).is_integer():
        return str(int(cat))
    if isinstance(cat, float) and cat.is_integer():
        return str(int(cat)) if dtype is not DataType.DOUBLE else repr(cat)
    return str(cat)


__all__ = [
    "MODEL_TAGS", "REGISTRY", "CompiledDocument", "CompiledModel", "ModelEnv", "ModelPlan", "compile_model",
    "register",
]
