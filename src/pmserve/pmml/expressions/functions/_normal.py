"""The error function and the normal distribution (CDF, PDF, quantile)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from pmserve.pmml.expressions.functions._args import Bools, _num
from pmserve.pmml.fields.types import Array, DataType

# -- error function and the normal distribution ---------------------------------------------------
# erf/erfc follow Sun's fdlibm s_erf.c (|error| < 1 ulp); the quantile is Wichura's AS 241.

_ERX = 8.45062911510467529297e-01
_PP = (1.28379167095512558561e-01, -3.25042107247001499370e-01, -2.84817495755985104766e-02,
       -5.77027029648944159157e-03, -2.37630166566501626084e-05)
_QQ = (1.0, 3.97917223959155352819e-01, 6.50222499887672944485e-02, 5.08130628187576562776e-03,
       1.32494738004321644526e-04, -3.96022827877536812320e-06)
_PA = (-2.36211856075265944077e-03, 4.14856118683748331666e-01, -3.72207876035701323847e-01,
       3.18346619901161753674e-01, -1.10894694282396677476e-01, 3.54783043256182359371e-02,
       -2.16637559486879084300e-03)
_QA = (1.0, 1.06420880400844228286e-01, 5.40397917702171048937e-01, 7.18286544141962662868e-02,
       1.26171219808761642112e-01, 1.36370839120290507362e-02, 1.19844998467991074170e-02)
_RA = (-9.86494403484714822705e-03, -6.93858572707181764372e-01, -1.05586262253232909814e01,
       -6.23753324503260060396e01, -1.62396669462573470355e02, -1.84605092906711035994e02,
       -8.12874355063065934246e01, -9.81432934416914548592e00)
_SA = (1.0, 1.96512716674392571292e01, 1.37657754143519042600e02, 4.34565877475229228821e02,
       6.45387271733267880336e02, 4.29008140027567833386e02, 1.08635005541779435134e02,
       6.57024977031928170135e00, -6.04244152148580987438e-02)
_RB = (-9.86494292470009928597e-03, -7.99283237680523006574e-01, -1.77579549177547519889e01,
       -1.60636384855821916062e02, -6.37566443368389627722e02, -1.02509513161107724954e03,
       -4.83519191608651397019e02)
_SB = (1.0, 3.03380607434824582924e01, 3.25792512996573918826e02, 1.53672958608443695994e03,
       3.19985821950859553908e03, 2.55305040643316442583e03, 4.74528541206955367215e02,
       -2.24409524465858183362e01)


def _poly(coefficients: Sequence[float], x: Array) -> Array:
    """Horner's rule; coefficients from the constant term up."""
    out = np.full_like(x, coefficients[-1])
    for c in reversed(coefficients[:-1]):
        out = out * x + c
    return out


def _erfc_tail(ax: Array) -> Array:
    """erfc(|x|) for 1.25 <= |x| < 28 (fdlibm, with the low word of |x| cleared for exp)."""
    s = 1.0 / (ax * ax)
    inner = ax < 1.0 / 0.35
    r = np.where(inner, _poly(_RA, s), _poly(_RB, s))
    q = np.where(inner, _poly(_SA, s), _poly(_SB, s))
    hi = (ax.view(np.uint64) & np.uint64(0xFFFFFFFF00000000)).view(np.float64)
    out: Array = np.exp(-hi * hi - 0.5625) * np.exp((hi - ax) * (hi + ax) + r / q) / ax
    return out


def _erf_regions(x: Array) -> tuple[Array, Bools, Bools, Bools]:
    """|x| and fdlibm's regions: |x| < 0.84375, < 1.25, < 28 (each region evaluated on its own rows)."""
    ax = np.abs(x)
    return ax, ax < 0.84375, (ax >= 0.84375) & (ax < 1.25), (ax >= 1.25) & (ax < 28.0)


def _erf_small(x: Array) -> Array:
    z = x * x
    out: Array = x * (_poly(_PP, z) / _poly(_QQ, z))
    return out


def _erf_near_one(ax: Array) -> Array:
    s = ax - 1.0
    out: Array = _poly(_PA, s) / _poly(_QA, s)
    return out


def erf(x: Array) -> Array:
    """The error function, vectorised (fdlibm's algorithm, error below 1 ulp)."""
    x = np.asarray(x, dtype=np.float64)
    ax, small, near_one, tail = _erf_regions(x)
    out = np.sign(x)  # |x| >= 6 (and every tail row past 6) rounds to +-1; NaN stays NaN
    with np.errstate(all="ignore"):
        out[small] = x[small] + _erf_small(x[small])
        out[near_one] = np.sign(x[near_one]) * (_ERX + _erf_near_one(ax[near_one]))
        tail &= ax < 6.0
        out[tail] = np.sign(x[tail]) * (1.0 - _erfc_tail(ax[tail]))
    return out


def erfc(x: Array) -> Array:
    """The complementary error function, vectorised (fdlibm's algorithm)."""
    x = np.asarray(x, dtype=np.float64)
    ax, small, near_one, tail = _erf_regions(x)
    out = np.where(x > 0, 0.0, 2.0)  # |x| >= 28
    out[np.isnan(x)] = np.nan
    with np.errstate(all="ignore"):
        xs = x[small]
        y = _erf_small(xs)
        out[small] = np.where(xs < 0.25, 1.0 - (xs + y), 0.5 - (xs - 0.5 + y))
        pq = _erf_near_one(ax[near_one])
        out[near_one] = np.where(x[near_one] > 0, 1.0 - _ERX - pq, 1.0 + _ERX + pq)
        t = _erfc_tail(ax[tail])
        out[tail] = np.where(x[tail] > 0, t, 2.0 - t)
    return out


_AS241_A = (3.3871328727963666080e0, 1.3314166789178437745e2, 1.9715909503065514427e3,
            1.3731693765509461125e4, 4.5921953931549871457e4, 6.7265770927008700853e4,
            3.3430575583588128105e4, 2.5090809287301226727e3)
_AS241_B = (1.0, 4.2313330701600911252e1, 6.8718700749205790830e2, 5.3941960214247511077e3,
            2.1213794301586595867e4, 3.9307895800092710610e4, 2.8729085735721942674e4,
            5.2264952788528545610e3)
_AS241_C = (1.42343711074968357734e0, 4.63033784615654529590e0, 5.76949722146069140550e0,
            3.64784832476320460504e0, 1.27045825245236838258e0, 2.41780725177450611770e-1,
            2.27238449892691845833e-2, 7.74545014278341407640e-4)
_AS241_D = (1.0, 2.05319162663775882187e0, 1.67638483018380384940e0, 6.89767334985100004550e-1,
            1.48103976427480074590e-1, 1.51986665636164571966e-2, 5.47593808499534494600e-4,
            1.05075007164441684324e-9)
_AS241_E = (6.65790464350110377720e0, 5.46378491116411436990e0, 1.78482653991729133580e0,
            2.96560571828504891230e-1, 2.65321895265761230930e-2, 1.24266094738807843860e-3,
            2.71155556874348757815e-5, 2.01033439929228813265e-7)
_AS241_F = (1.0, 5.99832206555887937690e-1, 1.36929880922735805310e-1, 1.48753612908506148525e-2,
            7.86869131145613259100e-4, 1.84631831751005468180e-5, 1.42151175831644588870e-7,
            2.04426310338993978564e-15)


def std_normal_idf(p: Array) -> Array:
    """The standard normal quantile (AS 241, ~1e-16 relative); 0 -> -inf, 1 -> inf, else NaN."""
    p = np.asarray(p, dtype=np.float64)
    with np.errstate(all="ignore"):
        q = p - 0.5
        r = 0.180625 - q * q
        central = q * _poly(_AS241_A, r) / _poly(_AS241_B, r)
        r = np.sqrt(-np.log(np.where(q < 0, p, 1.0 - p)))
        near = _poly(_AS241_C, r - 1.6) / _poly(_AS241_D, r - 1.6)
        far = _poly(_AS241_E, r - 5.0) / _poly(_AS241_F, r - 5.0)
        tail = np.where(r <= 5.0, near, far)
        out = np.where(np.abs(q) <= 0.425, central, np.where(q < 0, -tail, tail))
    out = np.where(p == 0.0, -np.inf, np.where(p == 1.0, np.inf, out))
    return np.where((p >= 0.0) & (p <= 1.0), out, np.nan)


_SQRT2 = math.sqrt(2.0)
_SQRT2PI = math.sqrt(2.0 * math.pi)


def _std_cdf(z: Array) -> Array:
    return 0.5 * erfc(-z / _SQRT2)


def _std_pdf(z: Array) -> Array:
    with np.errstate(all="ignore"):
        return np.exp(-0.5 * z * z) / _SQRT2PI


def _normal(kind: str, args: Sequence[Array], types: Sequence[DataType]) -> Array:
    x = _num(args[0], types[0])
    if len(args) == 1:
        mu, sigma = np.zeros_like(x), np.ones_like(x)
    else:
        mu, sigma = _num(args[1], types[1]), _num(args[2], types[2])
    with np.errstate(all="ignore"):
        if kind == "cdf":
            out = _std_cdf((x - mu) / sigma)
        elif kind == "pdf":
            out = _std_pdf((x - mu) / sigma) / sigma
        else:
            out = mu + sigma * std_normal_idf(x)
    # JPMML rejects a sigma that is not positive.
    return np.where(sigma > 0.0, out, np.nan)


def _erf(args: Sequence[Array], types: Sequence[DataType]) -> Array:
    return erf(_num(args[0], types[0]))
