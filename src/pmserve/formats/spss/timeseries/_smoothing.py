"""Exponential smoothing as SPSS writes it: forecasts and their limits from the final states.

The seven models of SPSS's time-series procedures (TSMODEL, Modeler's Time Series node), in the
error-correction form their stored states follow (``e`` is the one-step error, ``s`` the season
length, ``t`` the last period of the estimation span)::

    simple             L' = L + a e                               X(h) = L
    holt               L' = L + T + a e,  T' = T + a g e          X(h) = L + h T
    brown              (Holt with g = a, the trend scaled)        X(h) = L + (h - 1 + 1/a) T
    damped             L' = L + p T + a e, T' = p T + a g e       X(h) = L + (p + ... + p^h) T
    simple_seasonal    L' = L + a e,  S' = S + d (1 - a) e        X(h) = L + S(t + h - s)
    winters_additive   Holt + S' = S + d (1 - a) e                X(h) = L + h T + S(t + h - s)
    winters_multiplicative                                        X(h) = (L + h T) S(t + h - s)

A forecast ``h`` steps ahead has the error variance ``v (1 + psi_1^2 + ... + psi_{h-1}^2)``, with
``v`` the stored error variance and the psi weights of the model's ARIMA form::

    simple  a            holt  a + j a g            brown  2 a + (j - 1) a^2
    damped  a + a g p (p^j - 1) / (p - 1)
    simple_seasonal   a + d (1 - a) [j mod s = 0]
    winters_additive  a + j a g + d (1 - a) [j mod s = 0]

and the limits are ``X(h) -/+ t_{(1 + c) / 2, df} sqrt(variance)`` with Student's t on the
estimation's degrees of freedom (the one-step limits this gives are the ones Modeler stores with
the fitted values).  Multiplicative Winters' has no such closed form: its limits are not
computed.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np

KINDS = (
    "simple", "holt", "brown", "damped", "simple_seasonal", "winters_additive", "winters_multiplicative",
)
SEASONAL = frozenset({"simple_seasonal", "winters_additive", "winters_multiplicative"})
TRENDED = frozenset({"holt", "brown", "damped", "winters_additive", "winters_multiplicative"})


@dataclass(frozen=True)
class Smoothing:
    """One fitted exponential-smoothing model, ready to forecast from the end of its estimation span.

    ``seasons[k]`` is the seasonal state that the forecast ``h = k + 1`` (and every ``h`` with
    ``(h - 1) mod s == k``) uses.
    """

    kind: str
    alpha: float
    level: float
    gamma: float = 0.0
    phi: float = 1.0
    delta: float = 0.0
    trend: float = 0.0
    seasons: tuple[float, ...] = ()
    error_variance: float | None = None
    degrees_of_freedom: int | None = None

    @property
    def has_limits(self) -> bool:
        """Whether forecast limits can be computed (a variance, degrees of freedom, a psi form)."""
        return (self.kind != "winters_multiplicative" and self.error_variance is not None
                and self.degrees_of_freedom is not None and self.degrees_of_freedom > 0)

    def forecast(self, h: np.ndarray) -> np.ndarray:
        """Point forecasts ``h`` steps after the end of the estimation span (h: positive integers)."""
        steps = np.asarray(h, dtype=np.float64)
        kind = self.kind
        if kind == "brown":
            base = self.level + (steps - 1.0 + 1.0 / self.alpha) * self.trend
        elif kind == "damped":
            base = self.level + _damped_sum(self.phi, steps) * self.trend
        elif kind in TRENDED:
            base = self.level + steps * self.trend
        else:
            base = np.full(steps.shape, self.level)
        if kind not in SEASONAL:
            return base
        season = np.asarray(self.seasons, dtype=np.float64)[(steps.astype(np.int64) - 1) % len(self.seasons)]
        return base * season if kind == "winters_multiplicative" else base + season

    def psi(self, j: np.ndarray) -> np.ndarray:
        """The psi weights ``psi_j`` (j >= 1) of the model's ARIMA form."""
        jj = np.asarray(j, dtype=np.float64)
        a, g, p, d = self.alpha, self.gamma, self.phi, self.delta
        if self.kind == "simple":
            return np.full(jj.shape, a)
        if self.kind == "holt":
            return a + jj * a * g
        if self.kind == "brown":
            return 2.0 * a + (jj - 1.0) * a * a
        if self.kind == "damped":
            return a + a * g * _damped_sum(p, jj)
        seasonal_step = (jj.astype(np.int64) % len(self.seasons) == 0) * (d * (1.0 - a))
        if self.kind == "simple_seasonal":
            return np.asarray(a + seasonal_step, dtype=np.float64)
        if self.kind == "winters_additive":
            return np.asarray(a + jj * a * g + seasonal_step, dtype=np.float64)
        raise ValueError(f"no psi weights for {self.kind}")

    def half_width(self, h: np.ndarray, confidence: float) -> np.ndarray:
        """Half the width of the forecast limits at ``confidence`` (0 < c < 1) for the horizons ``h``."""
        if not self.has_limits or self.error_variance is None or self.degrees_of_freedom is None:
            raise ValueError(f"{self.kind} has no forecast limits")
        steps = np.asarray(h, dtype=np.int64)
        longest = int(steps.max()) if steps.size else 1
        weights = self.psi(np.arange(1, longest, dtype=np.float64)) if longest > 1 else np.zeros(0)
        cumulative = np.concatenate(([1.0], 1.0 + np.cumsum(weights * weights)))
        quantile = student_t_quantile((1.0 + confidence) / 2.0, self.degrees_of_freedom)
        return np.asarray(quantile * np.sqrt(self.error_variance * cumulative[steps - 1]), dtype=np.float64)

    def limits(self, h: np.ndarray, confidence: float) -> tuple[np.ndarray, np.ndarray]:
        """Lower and upper forecast limits at ``confidence`` (0 < c < 1) for the horizons ``h``."""
        spread = self.half_width(h, confidence)
        point = self.forecast(h)
        return point - spread, point + spread


def replay(model: Smoothing, series: np.ndarray, level: float, trend: float,
           seasons: tuple[float, ...]) -> tuple[np.ndarray, Smoothing]:
    """Run the model's recursion over ``series`` from the initial states; the one-step fitted values
    and the model with the final states (ready to forecast after the series).

    ``seasons[k]`` is the initial seasonal state of the cases ``k, k + s, ...``.  A missing value
    (NaN) leaves the states to run on as forecasts (its error counts as zero).  The component form::

        L' = a (y - S | y / S) + (1 - a) (L + p T)      T' = g (L' - L) + (1 - g) p T
        S' = d (y - L' | y / L') + (1 - d) S
    """
    kind = model.kind
    a, g, d = model.alpha, model.gamma, model.delta
    p = model.phi if kind == "damped" else 1.0
    trended, seasonal, times = kind in TRENDED, kind in SEASONAL, kind == "winters_multiplicative"
    if kind == "brown":
        raise ValueError("Brown's model cannot be replayed from its stored form")
    season = list(seasons) if seasonal else [0.0]
    s = len(season)
    t = trend if trended else 0.0
    fits = np.empty(len(series))
    for i, y in enumerate(series.tolist()):
        k = i % s
        base = level + p * t
        fit = base * season[k] if times else base + season[k] if seasonal else base
        fits[i] = fit
        if y != y:  # missing: the states run on
            level, t = base, p * t
            continue
        new_level = a * (y / season[k] if times else y - season[k] if seasonal else y) + (1.0 - a) * base
        if trended:
            t = g * (new_level - level) + (1.0 - g) * p * t
        if seasonal:
            season[k] = d * (y / new_level if times else y - new_level) + (1.0 - d) * season[k]
        level = new_level
    n = len(series)
    ahead = tuple(season[(n + k) % s] for k in range(s)) if seasonal else ()
    return fits, replace(model, level=level, trend=t, seasons=ahead)


def _damped_sum(phi: float, steps: np.ndarray) -> np.ndarray:
    """``phi + phi^2 + ... + phi^h`` for each h."""
    if phi == 1.0:
        return np.asarray(steps, dtype=np.float64)
    return np.asarray(phi * (1.0 - np.power(phi, steps)) / (1.0 - phi), dtype=np.float64)


def student_t_cdf(t: float, dof: int) -> float:
    """P(T <= t) for Student's t with an integer number of degrees of freedom.

    The finite series of Abramowitz & Stegun 26.7.3-4 in theta = atan(t / sqrt(dof)); terms fall
    geometrically (by cos^2 theta), so the sum stops once they no longer change it.
    """
    if dof < 1:
        raise ValueError(f"degrees of freedom must be a positive integer, got {dof}")
    theta = math.atan(t / math.sqrt(dof))
    c2 = math.cos(theta) ** 2
    s = math.sin(theta)
    if dof % 2 == 1:
        total = 0.0
        if dof > 1:
            term = math.cos(theta)
            total = term
            for k in range(3, dof - 1, 2):  # cos^k theta * (2 4 ... (k-1)) / (1 3 ... k)
                term *= c2 * (k - 1) / k
                if term < 1e-18 * total:
                    break
                total += term
        a = 2.0 / math.pi * (theta + s * total)
    else:
        term = 1.0
        total = 1.0
        for k in range(2, dof - 1, 2):  # cos^k theta * (1 3 ... (k-1)) / (2 4 ... k)
            term *= c2 * (k - 1) / k
            if term < 1e-18 * total:
                break
            total += term
        a = s * total
    return 0.5 * (1.0 + a)


#: Above this many degrees of freedom the quantile comes from the expansion in the normal quantile
#: (its error, O(df^-5), is below 1e-12 there); the exact series needs df/2 terms.
_SERIES_MAX_DOF = 200


def student_t_quantile(p: float, dof: int) -> float:
    """The ``p`` quantile of Student's t (0 < p < 1): bisection on :func:`student_t_cdf` up to
    ``_SERIES_MAX_DOF`` degrees of freedom, Abramowitz & Stegun 26.7.5 beyond."""
    if not 0.0 < p < 1.0:
        raise ValueError(f"the probability must lie strictly between 0 and 1, got {p}")
    if dof < 1:
        raise ValueError(f"degrees of freedom must be a positive integer, got {dof}")
    if p < 0.5:
        return -student_t_quantile(1.0 - p, dof)
    if dof > _SERIES_MAX_DOF:
        x = _bisect(lambda z: 0.5 * math.erfc(-z / math.sqrt(2.0)), p)
        x2 = x * x
        terms = (
            (x2 + 1.0) * x / 4.0,
            ((5.0 * x2 + 16.0) * x2 + 3.0) * x / 96.0,
            (((3.0 * x2 + 19.0) * x2 + 17.0) * x2 - 15.0) * x / 384.0,
            ((((79.0 * x2 + 776.0) * x2 + 1482.0) * x2 - 1920.0) * x2 - 945.0) * x / 92160.0,
        )
        return x + math.fsum(g / float(dof) ** (k + 1) for k, g in enumerate(terms))
    return _bisect(lambda t: student_t_cdf(t, dof), p)


def _bisect(cdf: Callable[[float], float], p: float) -> float:
    """The x >= 0 with cdf(x) = p (p >= 0.5) by bisection."""
    lo, hi = 0.0, 1.0
    while cdf(hi) < p:
        hi *= 2.0
        if hi > 1e12:
            return math.inf
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if cdf(mid) < p:
            lo = mid
        else:
            hi = mid
        if hi - lo <= 1e-15 * max(1.0, hi):
            break
    return 0.5 * (lo + hi)
