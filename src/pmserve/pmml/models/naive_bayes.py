"""NaiveBayesModel: class probabilities from counts and continuous distributions (PMML 4.4
"Naive Bayes").

As in JPMML-Evaluator, probabilities are accumulated in log space: the log of each category's
prior count, plus per BayesInput the log of P(input value | category), then a softmax turns the
sums back into probabilities.  A missing input, or a value no PairCounts names, adds nothing.
A zero count, or a density below the model's ``threshold``, counts as ``threshold``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property, partial
from typing import Any

import numpy as np

from pmserve.pmml.compiler import CompiledModel, ModelEnv, Predictor, register
from pmserve.pmml.document import attributes as attribute
from pmserve.pmml.document.element import Element
from pmserve.pmml.document.problems import Problems, every
from pmserve.pmml.expressions.casting import cast_fn
from pmserve.pmml.expressions.vector_math import softmax_rows
from pmserve.pmml.fields.frame import Frame
from pmserve.pmml.fields.schema import parse_dtype
from pmserve.pmml.fields.types import Array, DataType, parse_scalar
from pmserve.pmml.kernels import naive_bayes as nb_kernel
from pmserve.pmml.results.prediction import Prediction, classification

#: Counts below this are zero (JPMML compares with commons-math's Precision.EPSILON).
_ZERO_COUNT = 2.0 ** -53
_HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)

class _Categories:
    """Target categories in JPMML's order: BayesOutput's, then any new one in order of appearance."""

    def __init__(self, dtype: DataType, problems: Problems, target: str) -> None:
        self.dtype = dtype
        self.problems = problems
        self.target = target
        self.values: dict[Any, int] = {}  # category -> column

    def index(self, el: Element) -> int | None:
        """The column of the target category ``el`` (a TargetValueCount or TargetValueStat) names
        in its value; None, and a problem, when it names none of the target's type."""
        value = attribute.parsed(el, "value", partial(parse_scalar, self.dtype), self.problems, required=True,
                                 field=self.target)
        if value is None:
            return None
        return self.values.setdefault(value, len(self.values))


def _category_counts(el: Element, env: ModelEnv, cats: _Categories) -> list[tuple[int, float]] | None:
    """(category index, count) of every TargetValueCount of a TargetValueCounts element."""
    out: list[tuple[int, float]] = []
    for tvc in el.findall("TargetValueCount"):
        column = cats.index(tvc)
        count = attribute.number(tvc, "count", env.problems, required=True)
        if column is None or count is None:
            return None
        out.append((column, count))
    return out


@dataclass(frozen=True)
class _Discrete:
    """A BayesInput with PairCounts: a table of log P(value | category)."""

    read: Callable[[Frame], Array]
    lookup: dict[Any, int]  # input value -> row of ``logs``
    logs: Array  # pair values x categories (NaN: no TargetValueCount for that category)

    def __call__(self, frame: Frame, acc: Array) -> None:
        x = self.read(frame)
        idx = np.fromiter((self.lookup.get(v, -1) for v in x.tolist()), dtype=np.intp, count=frame.n)
        hit = idx >= 0
        if hit.any():
            add = self.logs[idx[hit]]
            acc[hit] += np.where(np.isnan(add), 0.0, add)


@dataclass(frozen=True)
class _Continuous:
    """A BayesInput with TargetValueStats: a Gaussian or Poisson density per category."""

    read: Callable[[Frame], Array]
    columns: Array  # category index of each stat
    kinds: tuple[str, ...]
    means: Array
    sds: Array  # Gaussian: standard deviation
    threshold: float

    @cached_property
    def log_norms(self) -> Array:
        """Per Gaussian stat, log(sd) + log(2 pi) / 2: the density's normalising term."""
        return np.array([math.log(sd) + _HALF_LOG_2PI for sd in self.sds.tolist()], dtype=np.float64)

    def __call__(self, frame: Frame, acc: Array) -> None:
        x = self.read(frame)
        if all(kind == "gauss" for kind in self.kinds):
            nb_kernel.add_gaussian_logs(np.ascontiguousarray(x, dtype=np.float64), self.columns, self.means, self.sds,
                                        self.log_norms, self.threshold, acc)
            return
        ok = ~np.isnan(x)
        if not ok.any():
            return
        xs = x[ok]
        with np.errstate(all="ignore"):
            for j, kind in enumerate(self.kinds):
                if kind == "gauss":
                    # commons-math NormalDistribution.density, as JPMML computes it.
                    z = (xs - self.means[j]) / self.sds[j]
                    p = np.exp(-0.5 * z * z - (math.log(self.sds[j]) + _HALF_LOG_2PI))
                else:
                    p = _poisson(xs, self.means[j])
                p = np.where(p < self.threshold, self.threshold, p)
                acc[ok, self.columns[j]] += np.log(p)


_lgamma = np.frompyfunc(math.lgamma, 1, 1)


def _poisson(x: Array, mean: float) -> Array:
    """P(k; mean) at k = the integer part of x (JPMML's intValue()); no mass below zero."""
    k = np.trunc(x)
    out = np.zeros(len(x))
    ok = k >= 0
    if ok.any():
        kk = k[ok]
        lg = np.asarray(_lgamma(kk + 1.0), dtype=np.float64)
        with np.errstate(all="ignore"):
            out[ok] = np.exp(kk * math.log(mean) - mean - lg) if mean > 0 else np.where(kk == 0, 1.0, 0.0)
    return out


def _input_field(bi: Element, env: ModelEnv) -> tuple[str, Callable[[Frame], Array], DataType] | None:
    """The BayesInput's field, through its DerivedField (a Discretize) when it has one."""
    name = attribute.text(bi, "fieldName", env.problems, required=True)
    if name is None:
        return None
    df = bi.find("DerivedField")
    if df is None:
        src = env.compiler.ref(name, bi)
        if src is None:
            return None
        return name, src.fn, src.dtype
    expr = env.compiler.expression_of(df)
    if expr is None:
        return None
    dtype = parse_dtype(df, env.problems, default=expr.dtype)
    return name, cast_fn(expr, dtype), dtype


def _discrete(bi: Element, env: ModelEnv, cats: _Categories, threshold: float) -> _Discrete | None:
    got = _input_field(bi, env)
    if got is None:
        return None
    _, read, dtype = got
    pairs: list[tuple[Any, list[tuple[int, float]]]] = []
    for pc in bi.findall("PairCounts"):
        typed = attribute.parsed(pc, "value", partial(parse_scalar, dtype), env.problems, required=True)
        tvcs = pc.find("TargetValueCounts")
        if tvcs is None:
            env.problems.invalid("a PairCounts needs a TargetValueCounts element", pc)
        if typed is None or tvcs is None:
            return None
        counts = _category_counts(tvcs, env, cats)
        if counts is None:
            return None
        pairs.append((typed, counts))
    # P(value | category) = count / the category's count summed over all values of the field.
    sums: dict[int, float] = {}
    for _, counts in pairs:
        for c, n in counts:
            sums[c] = sums.get(c, 0.0) + n
    lookup: dict[Any, int] = {}
    rows: list[dict[int, float]] = []
    for value, counts in pairs:
        lookup.setdefault(value, len(rows))
        rows.append({c: threshold if abs(n) < _ZERO_COUNT else n / sums[c] for c, n in counts})
    return _Discrete(read, lookup, _log_table(rows, cats))


def _log_table(rows: list[dict[int, float]], cats: _Categories) -> Array:
    # Categories may still grow while later inputs compile; the table is widened in _widen.
    table = np.full((len(rows), max(len(cats.values), 1)), np.nan)
    with np.errstate(divide="ignore"):
        for i, probs in enumerate(rows):
            for c, p in probs.items():
                table[i, c] = math.log(p) if p > 0 else -math.inf
    return table


def _continuous(bi: Element, tvs: Element, env: ModelEnv, cats: _Categories, threshold: float) -> _Continuous | None:
    got = _input_field(bi, env)
    if got is None:
        return None
    name, read, dtype = got
    if dtype.is_string:
        env.problems.invalid(f"TargetValueStats need a numeric field; {name!r} is of dataType string", tvs)
        return None
    columns: list[int] = []
    kinds: list[str] = []
    means: list[float] = []
    sds: list[float] = []
    for tv in tvs.findall("TargetValueStat"):
        column = cats.index(tv)
        if column is None:
            return None
        dist = next((c for c in tv.children if c.tag.endswith("Distribution")), None)
        if dist is None:
            env.problems.invalid("a TargetValueStat needs a GaussianDistribution or PoissonDistribution", tv)
            return None
        if dist.tag not in ("GaussianDistribution", "PoissonDistribution"):
            env.problems.invalid(f"Naive Bayes continuous inputs use a GaussianDistribution or PoissonDistribution, "
                                 f"got {dist.tag}", dist)
            return None
        gauss = dist.tag == "GaussianDistribution"
        mean = attribute.number(dist, "mean", env.problems, required=True)
        variance = attribute.number(dist, "variance", env.problems, required=True) if gauss else 0.0
        if mean is None or variance is None:
            return None
        if gauss and variance <= 0.0:
            continue  # JPMML: a Gaussian without spread contributes nothing
        kinds.append("gauss" if gauss else "poisson")
        sds.append(math.sqrt(variance) if gauss else math.nan)
        columns.append(column)
        means.append(mean)
    return _Continuous(read, np.array(columns, dtype=np.intp), tuple(kinds), np.array(means), np.array(sds),
                       threshold)


def _bayes_inputs(el: Element) -> list[Element]:
    # R's pmml package wraps continuous BayesInputs of pre-4.2 documents in an Extension.
    out: list[Element] = []
    for c in el.children:
        if c.tag == "BayesInput":
            out.append(c)
        elif c.tag == "Extension":
            out.extend(c.findall("BayesInput"))
    return out


@register("NaiveBayesModel")
def compile_naive_bayes(el: Element, env: ModelEnv) -> CompiledModel | None:
    if not env.function_is("classification"):
        return None
    target = env.target
    if target is None:
        env.problems.invalid("a NaiveBayesModel needs a target field in its MiningSchema", el)
        return None
    threshold = attribute.number(el, "threshold", env.problems, required=True)
    if threshold is None:
        return None
    output = el.find("BayesOutput")
    inputs_el = el.find("BayesInputs")
    if output is None or inputs_el is None:
        env.problems.invalid("a NaiveBayesModel needs BayesInputs and a BayesOutput", el)
        return None
    out_field = output.get("fieldName")
    if out_field is not None and out_field != target.name:
        env.problems.invalid(f"BayesOutput fieldName {out_field!r} is not the target field {target.name!r}", output)
        return None
    cats = _Categories(target.dtype, env.problems, target.name)
    prior_el = output.find("TargetValueCounts")
    if prior_el is None:
        env.problems.invalid("a BayesOutput needs a TargetValueCounts element", output)
        return None
    priors = _category_counts(prior_el, env, cats)
    if priors is None:
        return None
    terms: list[_Discrete | _Continuous] | None = every(_term(bi, env, cats, threshold)
                                                        for bi in _bayes_inputs(inputs_el))
    if terms is None:
        return None
    return CompiledModel(_predictor(priors, terms, cats), tuple(cats.values))


def _term(bi: Element, env: ModelEnv, cats: _Categories, threshold: float) -> _Discrete | _Continuous | None:
    """A BayesInput: continuous with TargetValueStats, else discrete with PairCounts."""
    tvs = bi.find("TargetValueStats")
    return _continuous(bi, tvs, env, cats, threshold) if tvs is not None else _discrete(bi, env, cats, threshold)


def _predictor(priors: list[tuple[int, float]], terms: list[_Discrete | _Continuous], cats: _Categories) -> Predictor:
    """The classifier: prior logs plus every input's logs, back from log space by a softmax."""
    k = len(cats.values)
    prior_logs = np.zeros(k)
    with np.errstate(divide="ignore"):
        for c, n in priors:
            prior_logs[c] += math.log(n) if n > 0 else -math.inf
    wide = [_widen(t, k) for t in terms]
    categories = tuple(cats.values)
    dtype = cats.dtype

    def predict(frame: Frame) -> Prediction:
        acc = np.tile(prior_logs, (frame.n, 1))
        for term in wide:
            term(frame, acc)
        # Shifted by the row maximum, as JPMML does.
        return classification(frame.n, dtype, categories, softmax_rows(acc))

    return predict


def _widen(term: _Discrete | _Continuous, k: int) -> _Discrete | _Continuous:
    if isinstance(term, _Discrete) and term.logs.shape[1] < k:
        logs = np.full((term.logs.shape[0], k), np.nan)
        logs[:, : term.logs.shape[1]] = term.logs
        return _Discrete(term.read, term.lookup, logs)
    return term
