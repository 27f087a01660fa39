"""SupportVectorMachineModel: kernel machines over a VectorDictionary (PMML 4.4 "Support Vector
Machine").

The kernel is computed for blocks of rows against every support vector at once (vectors x rows,
small enough to stay in cache), field by field in the document's order, and each machine sums
``coefficient * kernel`` over its support vectors in order, then adds ``absoluteValue`` - the
order of additions JPMML-Evaluator uses, so results agree to the last bits and a record's
results do not depend on the records scored with it (a BLAS product would break both).  A
missing input makes the record fail, as in JPMML.

Classification follows JPMML: OneAgainstAll picks the machine with the smallest value (the
largest with ``maxWins="true"``, PMML 4.4); OneAgainstOne votes ``targetCategory`` when the value
is below ``threshold``, else ``alternateTargetCategory``, the probability of a category is its
share of the votes, and ties go to the category voted for first.  With
``alternateBinaryTargetCategory`` the one machine's rounded value picks the category (1: target,
0: alternate).  A missing ``classificationMethod`` is inferred from the machines as JPMML does.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np

from pmserve.errors import EvaluationError
from pmserve.pmml.compiler import CompiledModel, ModelEnv, register
from pmserve.pmml.document import attributes as attribute
from pmserve.pmml.document.element import Element
from pmserve.pmml.expressions.casting import equal_to
from pmserve.pmml.fields.frame import Frame
from pmserve.pmml.fields.types import Array, DataType, empty, is_missing, parse_scalar
from pmserve.pmml.kernels import svm as svm_kernel
from pmserve.pmml.results.prediction import Prediction, classification

#: The kernel elements and their codes in :mod:`pmserve.pmml.kernels.svm`.
_KERNELS = {"LinearKernelType": svm_kernel.LINEAR, "PolynomialKernelType": svm_kernel.POLYNOMIAL,
            "RadialBasisKernelType": svm_kernel.RADIAL_BASIS, "SigmoidKernelType": svm_kernel.SIGMOID}


@dataclass(frozen=True)
class _Kernel:
    """The model's kernel element: its tag and its gamma, coef0 and degree (each 1 when absent)."""

    kind: str
    gamma: float
    coef0: float
    degree: float


@dataclass(frozen=True)
class _Machine:
    columns: Array  # kernel-matrix column of each support vector, in order
    coefficients: Array
    intercept: float  # Coefficients/@absoluteValue
    target: Any
    alternate: Any
    threshold: float


def _kernel(el: Element, env: ModelEnv) -> _Kernel | None:
    found = [c for c in el.children if c.tag in _KERNELS]
    if len(found) != 1:
        env.problems.invalid(f"a SupportVectorMachineModel needs one kernel element ({', '.join(_KERNELS)}), "
                             f"got {len(found)}", el)
        return None
    k = found[0]
    gamma, coef0, degree = (attribute.number(k, attr, env.problems, 1.0) for attr in ("gamma", "coef0", "degree"))
    if gamma is None or coef0 is None or degree is None:
        return None
    return _Kernel(k.tag, gamma, coef0, degree)


def _numbers(el: Element, env: ModelEnv) -> list[float] | None:
    try:
        return [float(t) for t in el.text.split()]
    except ValueError:
        env.problems.invalid(f"expected numbers, got {el.text.strip()[:60]!r}", el)
        return None


def _vector(vi: Element, n_fields: int, env: ModelEnv) -> list[float] | None:
    dense = vi.find("Array")
    sparse = vi.find("REAL-SparseArray")
    if (dense is None) == (sparse is None):
        env.problems.invalid("a VectorInstance needs either an Array or a REAL-SparseArray", vi)
        return None
    values: list[float] | None = None
    if dense is not None:
        values = _numbers(dense, env)
    elif sparse is not None:
        size = attribute.number(sparse, "n", env.problems, float(n_fields))
        idx_el, ent_el = sparse.find("Indices"), sparse.find("REAL-Entries")
        indices = _numbers(idx_el, env) if idx_el is not None else []
        entries = _numbers(ent_el, env) if ent_el is not None else []
        if size is None or indices is None or entries is None:
            return None
        if len(indices) != len(entries):
            env.problems.invalid(f"REAL-SparseArray has {len(indices)} Indices but {len(entries)} REAL-Entries",
                                 sparse)
            return None
        if size != n_fields:  # checked before the vector is made: n may be any number
            env.problems.invalid(f"REAL-SparseArray n={size:g} does not match the {n_fields} VectorFields", sparse)
            return None
        values = [0.0] * n_fields
        for i, v in zip(indices, entries, strict=True):
            if not 1 <= i <= size or i != int(i):
                env.problems.invalid(f"REAL-SparseArray index {i!r} is outside 1..{int(size)}", sparse)
                return None
            values[int(i) - 1] = v
    if values is None:
        return None
    if len(values) != n_fields:
        env.problems.invalid(f"VectorInstance {vi.get('id')!r} has {len(values)} values, the VectorFields "
                             f"{n_fields}", vi)
        return None
    return values


def _inputs(fields_el: Element, env: ModelEnv) -> list[tuple[str, Callable[[Frame], Array]]] | None:
    """One function per VectorField giving its number per row (NaN where the input is missing)."""
    out: list[tuple[str, Callable[[Frame], Array]]] = []
    for f in fields_el.children:
        if f.tag == "FieldRef":
            expr = env.compiler.compile(f)
            if expr is None:
                return None
            if expr.dtype.is_string:
                env.problems.invalid(f"VectorFields FieldRef {f.get('field')!r} must be numeric, it is of "
                                     "dataType string", f)
                return None
            out.append((f.get("field") or "", expr.fn))
        elif f.tag == "CategoricalPredictor":
            name = f.get("name") or ""
            src = env.compiler.ref(name, f)
            coef = attribute.number(f, "coefficient", env.problems, 1.0)
            if src is None or coef is None:
                return None
            if coef != 1.0:
                env.problems.invalid(f"a VectorFields CategoricalPredictor has coefficient 1, got {coef!r}", f)
                return None
            value = attribute.parsed(f, "value", partial(parse_scalar, src.dtype), env.problems, required=True)
            if value is None:
                return None
            read = src.fn

            def indicator(frame: Frame, read: Callable[[Frame], Array] = read, value: Any = value) -> Array:
                x = read(frame)
                out_col = equal_to(x, value).astype(np.float64)
                out_col[is_missing(x)] = np.nan
                return out_col

            out.append((name, indicator))
        elif f.tag != "Extension":
            env.problems.invalid(f"VectorFields hold FieldRef and CategoricalPredictor elements, got {f.tag}", f)
            return None
    if not out:
        env.problems.invalid("VectorFields needs at least one FieldRef or CategoricalPredictor", fields_el)
        return None
    return out


def _method(el: Element, env: ModelEnv, machines: list[Element]) -> str | None:
    if el.get("classificationMethod") is not None:
        return attribute.choice(el, "classificationMethod", ("OneAgainstAll", "OneAgainstOne"), env.problems)
    # Producers often omit it; JPMML infers it from the machines instead of the schema default.
    if el.get("alternateBinaryTargetCategory") is not None:
        return "OneAgainstOne"
    first = machines[0]
    if first.get("targetCategory") is None:
        env.problems.invalid("a classification SupportVectorMachine needs a targetCategory", first)
        return None
    return "OneAgainstOne" if first.get("alternateTargetCategory") is not None else "OneAgainstAll"


@register("SupportVectorMachineModel")
def compile_svm(el: Element, env: ModelEnv) -> CompiledModel | None:
    # Problems found elsewhere in the document are not this model's.
    found_before = len(env.problems.items)
    for attr, only in (("svmRepresentation", "SupportVectors"), ("mathContext", "double")):
        if el.get(attr, only) != only:
            env.problems.unsupported(f"{attr} {el.get(attr)!r} is not supported; only {only}", el)
            return None
    kernel = _kernel(el, env)
    vd = el.find("VectorDictionary")
    fields_el = vd.find("VectorFields") if vd is not None else None
    if vd is None or fields_el is None:
        env.problems.invalid("a SupportVectorMachineModel needs a VectorDictionary with VectorFields", el)
        return None
    inputs = _inputs(fields_el, env)
    if inputs is None or kernel is None:
        return None
    vectors = _support_vectors(vd, len(inputs), env)
    machine_els = el.findall("SupportVectorMachine")
    if not machine_els:
        env.problems.invalid("a SupportVectorMachineModel needs at least one SupportVectorMachine", el)
        return None
    if len(env.problems.items) > found_before:
        return None
    column = {vid: j for j, vid in enumerate(vectors)}
    matrix = np.array(list(vectors.values()), dtype=np.float64).reshape(len(vectors), len(inputs))
    target = env.target
    tdtype = target.dtype if target is not None else DataType.STRING
    model_threshold = attribute.number(el, "threshold", env.problems, 0.0)
    read = (_machine(m_el, env, column, tdtype, model_threshold) for m_el in machine_els)
    machines = [m for m in read if m is not None]
    if len(env.problems.items) > found_before:
        return None
    kernel_values = _kernel_values(kernel, machines, inputs, matrix)
    if env.function_name == "regression":
        return _regression(el, env, machines, kernel_values, tdtype)
    if env.function_name != "classification" or target is None:
        env.problems.invalid("a SupportVectorMachineModel is a regression, or a classification with a target field",
                             el)
        return None
    method = _method(el, env, machine_els)
    if method is None:
        return None
    if method == "OneAgainstAll":
        return _one_against_all(el, env, machines, kernel_values, tdtype)
    return _one_against_one(el, env, machines, kernel_values, tdtype)


def _support_vectors(vd: Element, n_inputs: int, env: ModelEnv) -> dict[str, list[float]]:
    """The VectorInstances by id (those that could be read)."""
    vectors: dict[str, list[float]] = {}
    for vi in vd.findall("VectorInstance"):
        vec = _vector(vi, n_inputs, env)
        vid = attribute.text(vi, "id", env.problems, required=True)
        if vid is not None and vec is not None:
            vectors[vid] = vec
    return vectors


KernelValues = Callable[[Frame], tuple[Array, Array]]


def _kernel_values(kernel: _Kernel, machines: list[_Machine], inputs: list[tuple[str, Callable[[Frame], Array]]],
                   matrix: Array) -> KernelValues:
    """The function giving every machine's decision value for each row, and which rows miss a field."""
    names = [n for n, _ in inputs]
    reads = [fn for _, fn in inputs]
    vector_cols = np.ascontiguousarray(matrix.T)
    compiled = _compiled_kernel(kernel, machines)

    def kernel_values(frame: Frame) -> tuple[Array, Array]:
        x = np.column_stack([fn(frame) for fn in reads]) if frame.n else np.zeros((0, len(reads)))
        missing = np.isnan(x).any(axis=1)
        if missing.any():
            first = np.argmax(np.isnan(x), axis=1)
            field_of = dict(zip(frame.rows[missing].tolist(), first[missing].tolist(), strict=True))
            frame.fail(missing, lambda r: EvaluationError(
                f"field {names[field_of[r]]!r} of the support vector machine is missing; "
                f"every VectorField needs a value", field=names[field_of[r]], row=r))
        values = np.empty((frame.n, len(machines)))
        svm_kernel.decision_values(np.ascontiguousarray(x, dtype=np.float64), vector_cols, *compiled, values)
        return values, missing

    return kernel_values


def _regression(el: Element, env: ModelEnv, machines: list[_Machine], kernel_values: KernelValues,
                tdtype: DataType) -> CompiledModel | None:
    if len(machines) != 1:
        env.problems.invalid(f"a regression SupportVectorMachineModel needs one SupportVectorMachine, got "
                             f"{len(machines)}", el)
        return None
    dtype = tdtype if tdtype.is_numeric else DataType.DOUBLE

    def predict_regression(frame: Frame) -> Prediction:
        values, missing = kernel_values(frame)
        v = values[:, 0]
        v[missing] = np.nan
        return Prediction(frame.n, dtype, v)

    return CompiledModel(predict_regression)


def _compiled_kernel(
    kernel: _Kernel, machines: list[_Machine],
) -> tuple[int, float, float, float, Array, Array, Array, Array]:
    """The kernel and machines as :func:`pmserve.pmml.kernels.svm.decision_values` reads them."""
    starts = np.cumsum([0] + [len(m.columns) for m in machines]).astype(np.intp)
    columns = np.concatenate([m.columns for m in machines]).astype(np.intp)
    coefficients = np.concatenate([m.coefficients for m in machines]).astype(np.float64)
    intercepts = np.array([m.intercept for m in machines], dtype=np.float64)
    return (_KERNELS[kernel.kind], float(kernel.gamma), float(kernel.coef0), float(kernel.degree), starts, columns,
            coefficients, intercepts)


def _machine(m: Element, env: ModelEnv, column: dict[str, int], tdtype: DataType,
             model_threshold: float | None) -> _Machine | None:
    sv_el = m.find("SupportVectors")
    co_el = m.find("Coefficients")
    if co_el is None:
        env.problems.invalid("a SupportVectorMachine needs Coefficients", m)
        return None
    svs = sv_el.findall("SupportVector") if sv_el is not None else []
    coefs = co_el.findall("Coefficient")
    if len(svs) != len(coefs):
        env.problems.invalid(f"a SupportVectorMachine needs one Coefficient per SupportVector, got {len(coefs)} "
                             f"for {len(svs)}", m)
        return None
    cols: list[int] = []
    values: list[float] = []
    for sv, co in zip(svs, coefs, strict=True):
        vid = sv.get("vectorId")
        if vid is None or vid not in column:
            env.problems.invalid(f"vectorId {vid!r} names no VectorInstance of the VectorDictionary", sv)
            return None
        c = attribute.number(co, "value", env.problems, 0.0)
        if c is None:
            return None
        cols.append(column[vid])
        values.append(c)
    intercept = attribute.number(co_el, "absoluteValue", env.problems, 0.0)
    threshold = attribute.number(m, "threshold", env.problems, model_threshold if model_threshold is not None else 0.0)
    # A category that is not of the target's type is a problem, which stops compile_svm.
    target, alternate = (attribute.parsed(m, attr, partial(parse_scalar, tdtype), env.problems)
                         for attr in ("targetCategory", "alternateTargetCategory"))
    if intercept is None or threshold is None:
        return None
    return _Machine(np.array(cols, dtype=np.intp), np.array(values), intercept, target, alternate, threshold)


def _one_against_all(el: Element, env: ModelEnv, machines: list[_Machine],
                     kernel_values: KernelValues, dtype: DataType) -> CompiledModel | None:
    cats: list[Any] = []
    for m, m_el in zip(machines, el.findall("SupportVectorMachine"), strict=True):
        if m.target is None or m.alternate is not None:
            env.problems.invalid("OneAgainstAll machines have a targetCategory and no alternateTargetCategory", m_el)
            return None
        if m.target in cats:
            env.problems.invalid(f"targetCategory {m.target!r} has two machines", m_el)
            return None
        cats.append(m.target)
    categories = tuple(cats)
    max_wins = el.get("maxWins", "false") == "true"

    def predict(frame: Frame) -> Prediction:
        values, missing = kernel_values(frame)
        values[missing] = np.nan
        # The machine values are distances (smallest wins) unless maxWins; first machine on ties.
        pick = np.where(np.isnan(values), -np.inf, values if max_wins else -values)
        value = empty(dtype, frame.n)
        ok = ~missing
        if ok.any():
            cat_arr = np.array(categories, dtype=object if dtype.is_string else np.float64)
            value[ok] = cat_arr[np.argmax(pick[ok], axis=1)]
        return Prediction(frame.n, dtype, value, categories, None, extras={"svm_values": values})

    # OneAgainstAll gives decision values only (JPMML).
    return CompiledModel(predict, categories, has_probabilities=False)


def _one_against_one(el: Element, env: ModelEnv, machines: list[_Machine],
                     kernel_values: KernelValues, dtype: DataType) -> CompiledModel | None:
    binary: Any = attribute.parsed(el, "alternateBinaryTargetCategory", partial(parse_scalar, dtype), env.problems)
    if binary is None and el.get("alternateBinaryTargetCategory") is not None:
        return None
    index: dict[Any, int] = {}  # category -> column, in the order the machines name them
    for m, m_el in zip(machines, el.findall("SupportVectorMachine"), strict=True):
        if m.target is None:
            env.problems.invalid("attribute targetCategory is required", m_el)
            return None
        if binary is not None and m.alternate is not None:
            env.problems.invalid("alternateTargetCategory is not allowed with the model's "
                                 "alternateBinaryTargetCategory", m_el)
            return None
        if binary is None and m.alternate is None:
            env.problems.invalid("OneAgainstOne machines need an alternateTargetCategory", m_el)
            return None
        for c in (m.target, m.alternate if binary is None else binary):
            index.setdefault(c, len(index))
    categories = tuple(index)
    k_cats = len(categories)

    thresholds = np.array([m.threshold for m in machines], dtype=np.float64)
    targets = np.array([index[m.target] for m in machines], dtype=np.intp)
    alternates = np.array([index[binary if binary is not None else m.alternate] for m in machines], dtype=np.intp)

    def predict(frame: Frame) -> Prediction:
        machine_values, missing = kernel_values(frame)
        n = frame.n
        probs, score = np.empty((n, k_cats)), np.empty((n, k_cats))
        bad = np.empty(n, dtype=bool)
        svm_kernel.one_against_one(machine_values, missing, thresholds, targets, alternates, binary is not None,
                                   probs, score, bad)
        if bad.any():
            frame.fail(bad, lambda r: EvaluationError(
                "the support vector machine's value must round to 0 or 1 to pick a category", row=r))
        pred = classification(n, dtype, categories, score)
        pred.probabilities = probs
        return pred

    return CompiledModel(predict, categories)
