"""Shared vectorised math: link/normalisation functions used by several model types."""

from __future__ import annotations

import math

import numpy as np

from pmserve.pmml.fields.types import Array

_erfc = np.frompyfunc(math.erfc, 1, 1)


def std_normal_cdf(x: Array) -> Array:
    # 0.5 * erfc(-x / sqrt(2)) keeps precision in the lower tail, where 1 + erf(x) cancels.
    out = np.full(x.shape, np.nan)
    ok = ~np.isnan(x)
    out[ok] = 0.5 * np.asarray(_erfc(-x[ok] / math.sqrt(2.0)), dtype=np.float64)
    return out


def logit_inverse(x: Array) -> Array:
    with np.errstate(over="ignore"):
        return 1.0 / (1.0 + np.exp(-x))


def cloglog_inverse(x: Array) -> Array:
    with np.errstate(over="ignore"):
        return 1.0 - np.exp(-np.exp(x))


def loglog_inverse(x: Array) -> Array:
    with np.errstate(over="ignore"):
        return np.exp(-np.exp(-x))


def cauchit_inverse(x: Array) -> Array:
    return 0.5 + np.arctan(x) / math.pi


INVERSE_LINKS = {
    "logit": logit_inverse,
    "probit": std_normal_cdf,
    "cloglog": cloglog_inverse,
    "loglog": loglog_inverse,
    "cauchit": cauchit_inverse,
}


def softmax_rows(values: Array) -> Array:
    """exp(v - max v) / sum(exp(v - max v)) per row, as JPMML-Evaluator 1.7 computes it
    (``ValueUtil.normalizeSoftMax``): the shift keeps linear predictors beyond exp's range
    (about 709) from overflowing to inf / inf."""
    with np.errstate(over="ignore", invalid="ignore"):
        e = np.exp(values - values.max(axis=1, keepdims=True))
        out: Array = e / e.sum(axis=1, keepdims=True)
        return out


#: The largest argument whose exp is a finite double (math.log(sys.float_info.max) is 709.78).
EXP_LIMIT = 709.0


def exp_normalized_rows(values: Array) -> Array:
    """exp(v) / sum(exp(v)) per row, JPMML's order of operations (GeneralRegressionModel's
    multinomialLogistic: exp, then normalizeSimpleMax); rows where exp would overflow are
    shifted by their maximum first, so they keep finite probabilities where JPMML's
    inf / inf gives NaN."""
    with np.errstate(over="ignore", invalid="ignore"):
        top = values.max(axis=1, keepdims=True)
        shift = np.where(top > EXP_LIMIT, top, 0.0)
        e = np.exp(values - shift)
        out: Array = e / e.sum(axis=1, keepdims=True)
        return out


def simplemax_rows(values: Array) -> Array:
    with np.errstate(invalid="ignore", divide="ignore"):
        out: Array = values / values.sum(axis=1, keepdims=True)
        return out
