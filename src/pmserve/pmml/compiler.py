"""Stage 2: compile a parsed document into a plan of numpy functions; ``load`` is the entry point.

Every model element is compiled by the compilers registered for its tag (see :data:`REGISTRY`):
a model module registers ``compile(el, env) -> Predictor``.  Compilers are tried in order; a
fast specialised one may decline with :class:`Decline` and the next one takes over.  The parts
every model shares (MiningSchema, LocalTransformations, Targets, Output) are compiled here.
"""

from __future__ import annotations

import dataclasses
import importlib
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import IO, Any

import numpy as np

from pmserve.errors import DataError, InvalidMarkupError, excerpt
from pmserve.pmml._api import Field, Model
from pmserve.pmml._expressions import Compiler, Nesting
from pmserve.pmml._fields import (
    FieldInfo,
    MiningField,
    Scope,
    parse_data_field,
    parse_mining_schema,
    treatment_exprs,
)
from pmserve.pmml._frame import Deferred, Expr, Frame, RowErrors
from pmserve.pmml._limits import DEFAULT_LIMITS, Limits
from pmserve.pmml._output import OutputField, OutputPlan, compile_output
from pmserve.pmml._parse import Element, parse, read_bytes
from pmserve.pmml._prediction import Prediction
from pmserve.pmml._problems import Problems
from pmserve.pmml._targets import TargetPlan, apply_targets, parse_targets
from pmserve.pmml._types import Array, DataType, empty

Predictor = Callable[[Frame], Prediction]
ModelCompilerFn = Callable[[Element, "ModelEnv"], Predictor | None]

MODEL_TAGS = (
    "AnomalyDetectionModel", "AssociationModel", "BayesianNetworkModel", "BaselineModel",
    "ClusteringModel", "GaussianProcessModel", "GeneralRegressionModel", "MiningModel", "NaiveBayesModel",
    "NearestNeighborModel", "NeuralNetwork", "RegressionModel", "RuleSetModel", "SequenceModel", "Scorecard",
    "SupportVectorMachineModel", "TextModel", "TimeSeriesModel", "TreeModel",
)


#: Key of ``Prediction.extras`` holding the values of a model's ``nested_results`` (name -> column).
NESTED_RESULTS = "nested_results"

#: Result column of the prediction of a model whose MiningSchema names no target field.
SYNTHETIC_TARGET = "prediction"
#: Result column of the cluster of a clustering model (which has no target field).
SYNTHETIC_CLUSTER = "cluster"


class Decline(Exception):
    """Raised by a specialised compiler that leaves the element to the next one in the registry."""


class Registry:
    """Model element tag -> ordered compilers.  Registering the same compiler twice is an error."""

    def __init__(self) -> None:
        self._compilers: dict[str, list[ModelCompilerFn]] = {}
        self._modules = {
            "RegressionModel": "pmserve.pmml.regression",
            "TreeModel": "pmserve.pmml.trees.model",
            "MiningModel": "pmserve.pmml.mining",
            "GeneralRegressionModel": "pmserve.pmml.general_regression",
            "NeuralNetwork": "pmserve.pmml.neural_network",
            "NaiveBayesModel": "pmserve.pmml.naive_bayes",
            "SupportVectorMachineModel": "pmserve.pmml.svm",
            "NearestNeighborModel": "pmserve.pmml.nearest_neighbor",
            "ClusteringModel": "pmserve.pmml.clustering",
            "RuleSetModel": "pmserve.pmml.ruleset",
            "Scorecard": "pmserve.pmml.scorecard",
            "AssociationModel": "pmserve.pmml.association",
            "AnomalyDetectionModel": "pmserve.pmml.anomaly_detection",
            "TimeSeriesModel": "pmserve.pmml.time_series",
        }
        self._loaded: set[str] = set()

    def register(self, tag: str, fn: ModelCompilerFn) -> None:
        lst = self._compilers.setdefault(tag, [])
        if fn in lst:
            raise ValueError(f"a compiler for {tag} is registered twice: {fn!r}")
        lst.append(fn)

    def compilers(self, tag: str) -> list[ModelCompilerFn]:
        mod = self._modules.get(tag)
        if mod is not None and mod not in self._loaded:
            self._loaded.add(mod)
            try:
                importlib.import_module(mod)
            except ModuleNotFoundError as exc:
                if exc.name != mod:
                    raise
        return self._compilers.get(tag, [])


REGISTRY = Registry()


def register(tag: str) -> Callable[[ModelCompilerFn], ModelCompilerFn]:
    def deco(fn: ModelCompilerFn) -> ModelCompilerFn:
        REGISTRY.register(tag, fn)
        return fn

    return deco


# -- per-model environment -------------------------------------------------------------------------


@dataclass
class ModelEnv:
    """What a model compiler gets: its element's shared parts already compiled."""

    element: Element
    function_name: str
    compiler: Compiler  # expressions in the model's scope (MiningSchema + LocalTransformations)
    mining_fields: list[MiningField]
    target: FieldInfo | None
    problems: Problems
    #: Every target field of the MiningSchema, in order (``target`` is the first).
    targets: tuple[FieldInfo, ...] = ()
    #: Set by a compiler whose predictor predicts every target field, the first in
    #: ``Prediction.value`` and the others in ``Prediction.targets``; a model with several
    #: targets whose compiler does not set it is refused.
    predicts_every_target: bool = False
    #: Set by a compiler whose predicted value is a list per record (a selectAll MiningModel):
    #: an object column of tuples of plain values, None where there is no prediction.
    list_valued: bool = False
    #: The categories a classifier predicts, declared by its compiler (probability columns).
    categories: tuple[Any, ...] = ()
    #: False for classifiers that give no probabilities (JPMML: RuleSet, OneAgainstAll SVM):
    #: without an Output element they then get no probability(<class>) result columns.
    has_probabilities: bool = True
    #: Set by a compiler whose predictor already added the Target's rescaleConstant.
    folded_rescale_constant: bool = False
    #: Input fields whose cells are collections (an AssociationModel's basket), kept whole by score().
    collection_fields: set[str] = field(default_factory=set)
    #: Output fields of nested models that are results of this model too (JPMML: a MiningModel's
    #: selectFirst/modelChain segments); their values come in ``Prediction.extras[NESTED_RESULTS]``.
    nested_results: list[OutputField] = field(default_factory=list)

    @property
    def scope(self) -> Scope:
        return self.compiler.scope

    @property
    def active_fields(self) -> list[MiningField]:
        return [m for m in self.mining_fields if m.usage == "active"]

    def compile_nested(self, el: Element, parent_scope: Scope | None = None) -> ModelPlan | None:
        """Compile a nested model (a Segment's) within this model's scope."""
        return compile_model(el, self.compiler.with_scope(parent_scope or self.scope))


@dataclass(frozen=True)
class ModelPlan:
    """A compiled model element: shared parts plus its type-specific predictor."""

    tag: str
    name: str | None
    function_name: str
    target: FieldInfo | None
    derived: Mapping[str, Expr]
    predictor: Predictor
    targets: TargetPlan | None
    output: OutputPlan | None
    output_scope: Scope
    mining_fields: tuple[MiningField, ...]
    categories: tuple[Any, ...] = ()
    collection_fields: frozenset[str] = frozenset()
    nested_results: tuple[OutputField, ...] = ()
    #: Target fields after the first, each with its Targets/Target (models with several targets).
    more_targets: tuple[tuple[FieldInfo, TargetPlan | None], ...] = ()
    list_valued: bool = False

    def evaluate(self, parent: Frame, rows: Any = None) -> tuple[Prediction, dict[str, Array], Frame]:
        """Run the model over the parent's rows (or the given subset of them)."""
        frame = parent.child(self.derived) if rows is None else parent.subset(rows, self.derived)
        pred = self.predictor(frame)
        pred = apply_targets(self.targets, pred, self.function_name)
        if self.more_targets:
            pred.targets = {info.name: apply_targets(plan, pred.targets[info.name],
                                                     target_function(self.function_name, info))
                            for info, plan in self.more_targets}
        outputs = self.output.evaluate(pred, frame) if self.output is not None else {}
        return pred, outputs, frame


def compile_model(el: Element, outer: Compiler) -> ModelPlan | None:
    """Compile one model element: MiningSchema, LocalTransformations, Targets, the model, Output."""
    problems = outer.problems
    outer.nesting.limits.check_deadline(f"compiling {el.tag} at line {el.line}")  # once per (nested) model
    fn_name = el.get("functionName")
    if fn_name is None:
        problems.invalid("attribute functionName is required", el)
        fn_name = "regression"
    if el.get("isScorable") == "false":
        problems.unsupported("the model says it is not scorable (isScorable=\"false\")", el)
    mining = parse_mining_schema(el.find("MiningSchema"), outer.scope, problems)
    if el.find("MiningSchema") is None:
        problems.invalid("a model needs a MiningSchema", el)
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
    if lt is not None:
        for df in lt.findall("DerivedField"):
            got = c.derived_field(df)
            if got is not None:
                info, expr = got
                model_scope.add(info)
                derived[info.name] = expr
    targets = tuple(m.info for m in mining if m.usage in ("target", "predicted"))
    target = targets[0] if targets else _synthetic_target(fn_name)
    env = ModelEnv(el, fn_name, c, mining, target, problems, targets)
    compilers = REGISTRY.compilers(el.tag)
    if not compilers:
        problems.unsupported(f"{el.tag} models are not supported", el)
        return None
    predictor: Predictor | None = None
    for comp in compilers:
        try:
            predictor = comp(el, env)
            break
        except Decline:
            continue
    several = len(targets) > 1 and el.tag != "MiningModel"
    if several and not env.predicts_every_target:
        problems.unsupported(f"{len(targets)} target fields; a {el.tag} with more than one target is not "
                             f"supported (NearestNeighborModel is)", el)
    if predictor is None:
        return None
    target_plan = parse_targets(el.find("Targets"), target, problems)
    if env.folded_rescale_constant and target_plan is not None:
        target_plan = dataclasses.replace(target_plan, rescale_constant=0.0)
    more = tuple((t, parse_targets(el.find("Targets"), t, problems)) for t in targets[1:]) \
        if env.predicts_every_target else ()
    output, out_scope = compile_output(el.find("Output"), c, target, fn_name, _extra_features(el.tag),
                                       {t.name: t for t, _ in more})
    categories = env.categories if env.has_probabilities else ()
    return ModelPlan(el.tag, el.get("modelName"), fn_name, target, derived, predictor, target_plan, output,
                     out_scope, tuple(mining), categories, frozenset(env.collection_fields),
                     tuple(env.nested_results), more, env.list_valued)


def target_function(function_name: str, target: FieldInfo) -> str:
    """The function a model performs for one target: a mixed model regresses a continuous one."""
    if function_name != "mixed":
        return function_name
    return "regression" if target.optype == "continuous" else "classification"


def _synthetic_target(function_name: str) -> FieldInfo | None:
    """A model without a target field still predicts (JPMML: an unnamed target); we name it."""
    if function_name == "regression":
        return FieldInfo(SYNTHETIC_TARGET, DataType.DOUBLE, "continuous")
    if function_name == "classification":
        return FieldInfo(SYNTHETIC_TARGET, DataType.STRING, "categorical")
    if function_name == "clustering":
        return FieldInfo(SYNTHETIC_CLUSTER, DataType.STRING, "categorical")
    return None


def _extra_features(tag: str) -> Any:
    mod = REGISTRY._modules.get(tag)
    if mod is None:
        return None
    m = importlib.import_module(mod)
    return getattr(m, "output_feature", None)


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

    @property
    def model_type(self) -> str:
        return self.model.tag

    @property
    def collection_fields(self) -> frozenset[str]:
        """Input fields whose cells are collections of items, passed to the model as they are."""
        return self.model.collection_fields

    @property
    def function_name(self) -> str:
        return self.model.function_name

    @property
    def model_name(self) -> str | None:
        return self.model.name

    def evaluate(
        self, batch: dict[str, Array], n: int, unreadable: Mapping[str, Deferred] | None = None,
    ) -> tuple[dict[str, Array], dict[int, DataError]]:
        """Score ``batch``; ``unreadable`` are input values that could not be read as their field's
        type (missing in ``batch``): invalid values, failing a record only where it reads them."""
        errors = RowErrors()
        root = Frame(n, dict(batch), self._root_fields or self.doc_derived, errors=errors)
        for name, (mask, make) in (unreadable or {}).items():
            root.defer(name, mask, make)
        pred, outputs, _ = self.model.evaluate(root)
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
    problems = Problems()
    version = root.get("version") or ""
    header = root.find("Header")
    del header
    dd = root.find("DataDictionary")
    scope = Scope()
    data_fields: dict[str, FieldInfo] = {}
    if dd is None:
        problems.invalid("a PMML document needs a DataDictionary", root)
    else:
        for df in dd.findall("DataField"):
            info = parse_data_field(df, problems)
            if info.name in data_fields:
                problems.invalid(f"DataField {info.name!r} is defined twice", df)
            data_fields[info.name] = info
            scope.add(info)
    functions: dict[str, Element] = {}
    td = root.find("TransformationDictionary")
    doc_derived: dict[str, Expr] = {}
    doc_elements: dict[str, Element] = {}
    c = Compiler(scope, problems, functions, document_fields=doc_derived, document_elements=doc_elements,
                 nesting=Nesting(limits))
    if td is not None:
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
    models = [e for e in root.children if e.tag in MODEL_TAGS]
    if not models:
        problems.invalid("the document holds no model element", root)
        problems.raise_if_any()
    scorable = [m for m in models if m.get("isScorable") != "false"] or models
    plan = compile_model(scorable[0], c)
    problems.raise_if_any()
    if plan is None:  # pragma: no cover - compile_model reported why
        problems.unsupported("the model could not be compiled", scorable[0])
        problems.raise_if_any()
    assert plan is not None
    inputs = tuple(data_fields[m.name].public() if m.name in data_fields else m.info.public()
                   for m in plan.mining_fields if m.usage == "active")
    targets = tuple(t.public() for t in (plan.target, *(t for t, _ in plan.more_targets))
                    if t is not None and t.name in data_fields)
    optional = tuple(data_fields[m.name].public() for m in plan.mining_fields
                     if m.usage == "supplementary" and m.name in data_fields)
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
        cats = plan.categories
        for cat in cats:
            label = cat if isinstance(cat, str) else _label(cat, plan.target.dtype)
            name = f"probability({label})"
            if name in taken:
                continue
            prob_cols.append((name, cat))
            results.append(Field(name, DataType.DOUBLE, "continuous"))
    root_fields = {**{name: _missing_column(info.dtype, info.optype) for name, info in data_fields.items()},
                   **doc_derived}
    return CompiledDocument(source, version, plan, data_fields, doc_derived, inputs, targets, tuple(results),
                            root, optional, tuple(problems.warnings), tuple(prob_cols), root_fields)


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


def load(source: bytes | str | os.PathLike[str] | IO[bytes], limits: Limits = DEFAULT_LIMITS) -> Model:
    """Parse and compile a PMML document (bytes, a path or a binary file object; gzip accepted).

    ``limits`` bounds the work the document may ask for (see :class:`Limits`); a document past
    one of them is refused with an :class:`~pmserve.errors.InvalidMarkupError` naming it.
    """
    data = read_bytes(source, limits)
    root = parse(data, limits=limits)
    limits.check_deadline("parsing")
    try:
        document = compile_document(root, data, limits)
    except RecursionError:
        # The limits keep real documents well inside Python's stack; this is the backstop.
        raise InvalidMarkupError("the document nests too deeply to compile; lower nesting below "
                                 "PMSERVE_MAX_EXPRESSION_DEPTH / PMSERVE_MAX_DERIVED_DEPTH") from None
    except (ArithmeticError, LookupError, TypeError, ValueError) as exc:
        # A value the compiler did not check (each one found is fixed where it is read): still the
        # document's fault, and a refusal rather than a crash.
        raise InvalidMarkupError(f"the document cannot be compiled: {type(exc).__name__}: "
                                 f"{excerpt(str(exc))}") from None
    limits.check_deadline("compiling")
    return Model(document)


def _reload(source: bytes) -> Model:
    return load(source)


def _model_reduce(self: Model) -> tuple[Any, tuple[bytes]]:
    # Compiled plans are closures; a model travels as its document and compiles again on arrival.
    return (_reload, (self._doc.source,))


Model.__reduce__ = _model_reduce  # type: ignore[method-assign,assignment]

__all__ = [
    "REGISTRY", "CompiledDocument", "Decline", "ModelEnv", "ModelPlan", "compile_model", "load", "register",
]

_ = np  # numpy is used by model modules importing from here
