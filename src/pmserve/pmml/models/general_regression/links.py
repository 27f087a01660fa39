"""Link functions (PMML 4.4 GeneralRegression ``linkFunction``: the inverse is applied) and the
per-record variables of generalised linear models (offset, trials)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from pmserve.pmml.compiler import ModelEnv
from pmserve.pmml.document import attributes as attribute
from pmserve.pmml.document.element import Element
from pmserve.pmml.expressions.vector_math import INVERSE_LINKS
from pmserve.pmml.fields.frame import Expr, Frame
from pmserve.pmml.fields.types import Array, is_missing

Link = Callable[[Array], Array]


# -- link functions (PMML 4.4 GeneralRegression "linkFunction": the inverse is applied) -----------


def _inverse_link(name: str, dist: float, power: float) -> Link:
    """The inverse of link ``name``, mapping the linear predictor to the mean (the links of
    :data:`INVERSE_LINKS` apart, which GeneralRegression shares with RegressionModel)."""
    own: dict[str, Link] = {
        "identity": lambda x: x,
        "log": np.exp,
        "logc": lambda x: 1.0 - np.exp(x),
        "negbin": lambda x: 1.0 / (dist * (np.exp(-x) - 1.0)),
        "oddspower": (INVERSE_LINKS["logit"] if power == 0.0
                      else lambda x: 1.0 / (1.0 + np.power(1.0 + power * x, -1.0 / power))),
        "power": np.exp if power == 0.0 else lambda x: np.power(x, 1.0 / power),
    }
    return own[name] if name in own else INVERSE_LINKS[name]


_LINK_NAMES = ("cloglog", "identity", "log", "logc", "logit", "loglog", "negbin", "oddspower", "power",
               "probit", "cauchit")


# -- per-record variables ----------------------------------------------------------------------------


def read_variable(el: Element, attr: str, env: ModelEnv) -> Expr | None:
    name = el.get(attr)
    if name is None:
        return None
    expr = env.compiler.ref(name, el)
    if expr is not None and expr.dtype.is_string and attr != "baselineStrataVariable":
        env.problems.invalid(f"{attr} {name!r} must be a numeric field, got dataType string", el)
        return None
    return expr


def required_value(expr: Expr, name: str, role: str, frame: Frame, rows: npt.NDArray[np.bool_]) -> Array:
    """The values of a variable the model cannot do without; records where it is missing fail."""
    x = expr.fn(frame)
    miss = is_missing(x) & rows
    if miss.any():
        frame.fail_message(miss, f"{role} field {name!r} has a missing value; the model needs one", field=name)
    return x


@dataclass(frozen=True)
class Adjust:
    """offset (added before the link) and trials (multiplied after it) of a generalised model."""

    offset_expr: Expr | None
    offset_name: str
    offset_value: float | None
    trials_expr: Expr | None
    trials_name: str
    trials_value: float | None

    def offset(self, frame: Frame, rows: npt.NDArray[np.bool_]) -> Array | float | None:
        if self.offset_expr is not None:
            return required_value(self.offset_expr, self.offset_name, "offsetVariable", frame, rows)
        return self.offset_value

    def trials(self, frame: Frame, rows: npt.NDArray[np.bool_]) -> Array | float | None:
        if self.trials_expr is not None:
            x = required_value(self.trials_expr, self.trials_name, "trialsVariable", frame, rows)
            frac = rows & ~np.isnan(x) & (x != np.floor(x))
            if frac.any():
                frame.fail_message(frac, f"trialsVariable field {self.trials_name!r} must hold a whole number "
                                         f"of trials", field=self.trials_name)
                x = np.where(frac, np.nan, x)
            return x
        return self.trials_value


def parse_adjust(el: Element, env: ModelEnv) -> Adjust | None:
    offset_expr = read_variable(el, "offsetVariable", env)
    trials_expr = read_variable(el, "trialsVariable", env)
    # A variable named but not readable has been reported.
    ok = (offset_expr is not None or el.get("offsetVariable") is None) and \
        (trials_expr is not None or el.get("trialsVariable") is None)
    offset_value = attribute.number(el, "offsetValue", env.problems)
    trials_value = attribute.number(el, "trialsValue", env.problems)
    if trials_value is not None and not trials_value.is_integer():
        env.problems.invalid(f"trialsValue must be a whole number, got {el.get('trialsValue')!r}", el)
        ok = False
    if not ok:
        return None
    return Adjust(offset_expr, el.get("offsetVariable") or "", offset_value, trials_expr,
                   el.get("trialsVariable") or "", trials_value)


def parse_link(el: Element, env: ModelEnv) -> Link | None:
    name = attribute.choice(el, "linkFunction", _LINK_NAMES, env.problems, required=True)
    if name is None:
        return None
    dist = attribute.number(el, "distParameter", env.problems, required=name == "negbin")
    power = attribute.number(el, "linkParameter", env.problems, required=name in ("oddspower", "power"))
    if (name == "negbin" and dist is None) or (name in ("oddspower", "power") and power is None):
        return None
    # Both are given where the link reads them (checked above).
    return _inverse_link(name, 0.0 if dist is None else dist, 0.0 if power is None else power)
