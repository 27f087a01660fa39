"""The Apply expression: built-in and user-defined (DefineFunction) functions.

PMML 4.4 "Apply": ``mapMissingTo`` replaces the result where an argument is missing,
``defaultValue`` where the function itself yields a missing value, and ``invalidValueTreatment``
says what an invalid result (an undefined value from defined arguments) becomes.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING

import numpy as np

from pmserve.pmml.document import attributes as attribute
from pmserve.pmml.document.element import Element
from pmserve.pmml.expressions.casting import EXPRESSION_TAGS, cast_fn, number_texts, validity
from pmserve.pmml.expressions.functions import BUILTINS
from pmserve.pmml.expressions.java_regex import UntranslatableRegex, translate
from pmserve.pmml.fields.frame import Expr, Frame
from pmserve.pmml.fields.schema import parse_dtype
from pmserve.pmml.fields.types import Array, DataType, any_missing, empty, is_missing, optype_of, parse_scalar

if TYPE_CHECKING:
    from pmserve.pmml.expressions.transformations import ExpressionCompiler

_MAX_FUNCTION_DEPTH = 32


def compile_apply(c: ExpressionCompiler, el: Element) -> Expr | None:
    name = attribute.text(el, "function", c.problems, required=True, empty=False)
    if name is None:
        return None
    arg_els = [a for a in el.children if a.tag in EXPRESSION_TAGS]
    args = [c.compile(a) for a in arg_els]
    if any(a is None for a in args):
        return None
    exprs: list[Expr] = [a for a in args if a is not None]
    if name in _PATTERN_ARGUMENT and name not in c.functions and not _pattern_translates(c, name, arg_els):
        return None
    if name in c.functions:
        core = _user_function(c, el, c.functions[name], exprs)
    elif name == "if":
        core = _if(c, el, exprs)
    elif name in ("isValid", "isNotValid"):
        core = _is_valid(c, el, name, arg_els, exprs)
    else:
        core = _builtin(c, el, name, exprs)
    if core is None:
        return None
    return _wrap(c, el, core, exprs)


#: Built-in functions whose argument at this position is a Java regular expression.
_PATTERN_ARGUMENT = {"replace": 1, "matches": 1}


def _pattern_translates(c: ExpressionCompiler, name: str, arg_els: list[Element]) -> bool:
    """A constant Java pattern Python cannot express is refused at load, naming the construct
    (a pattern computed per record that does not translate gives a missing value, as one that
    does not compile)."""
    position = _PATTERN_ARGUMENT[name]
    if len(arg_els) <= position or arg_els[position].tag != "Constant":
        return True
    try:
        translate(arg_els[position].text)
    except UntranslatableRegex as exc:
        c.problems.unsupported(f"function {name!r}: {exc}", arg_els[position])
        return False
    return True


def _builtin(c: ExpressionCompiler, el: Element, name: str, args: list[Expr]) -> Expr | None:
    fn = BUILTINS.get(name)
    if fn is None:
        c.problems.unsupported(f"function {name!r} is neither a PMML built-in function nor defined "
                               f"by a DefineFunction", el)
        return None
    if len(args) < fn.min_args or (fn.max_args is not None and len(args) > fn.max_args):
        want = (f"{fn.min_args}" if fn.max_args == fn.min_args
                else f"{fn.min_args} or more" if fn.max_args is None else f"{fn.min_args} to {fn.max_args}")
        c.problems.invalid(f"function {name!r} takes {want} arguments, got {len(args)}", el)
        return None
    types = [a.dtype for a in args]
    try:
        rtype = fn.result_type(types)
    except (ValueError, TypeError) as exc:
        c.problems.invalid(f"function {name!r}: {exc}", el)
        return None
    impl = fn.impl
    propagate = fn.propagate_missing

    def run(frame: Frame) -> Array:
        values = [a.fn(frame) for a in args]
        with np.errstate(all="ignore"):
            out = impl(values, types)
        if propagate and values:
            miss = any_missing(values, frame.n)
            if miss.any():
                out = out.copy() if out.dtype == object else out.astype(np.float64, copy=True)
                out[miss] = None if out.dtype == object else np.nan
        return out

    return Expr(rtype, optype_of(rtype), run)


def _if(c: ExpressionCompiler, el: Element, args: list[Expr]) -> Expr | None:
    if len(args) not in (2, 3):
        c.problems.invalid(f"function 'if' takes 2 or 3 arguments, got {len(args)}", el)
        return None
    cond, then = args[0], args[1]
    other = args[2] if len(args) == 3 else None
    rtype = then.dtype
    if other is not None and other.dtype != rtype:
        if rtype.is_numeric and other.dtype.is_numeric:
            rtype = DataType.DOUBLE
        elif rtype.is_string or other.dtype.is_string:
            rtype = DataType.STRING

    def run(frame: Frame) -> Array:
        # Branches are evaluated on the rows that take them only, so that an undefined value
        # in the branch not taken can never fail a record.
        k = cond.fn(frame)
        out = empty(rtype, frame.n)
        yes = np.flatnonzero(k == 1.0)
        no = np.flatnonzero(k == 0.0)
        if len(yes):
            out[yes] = _coerce(then.fn(frame.subset(yes, {})), then.dtype, rtype)
        if other is not None and len(no):
            out[no] = _coerce(other.fn(frame.subset(no, {})), other.dtype, rtype)
        return out

    return Expr(rtype, optype_of(rtype), run)


def _coerce(x: Array, src: DataType, dst: DataType) -> Array:
    return number_texts(x, src) if dst.is_string and not src.is_string else x


def _is_valid(c: ExpressionCompiler, el: Element, name: str, arg_els: list[Element], args: list[Expr]) -> Expr | None:
    if len(args) != 1:
        c.problems.invalid(f"function {name!r} takes 1 argument, got {len(args)}", el)
        return None
    info = c.field_info(arg_els[0].get("field") or "") if arg_els[0].tag == "FieldRef" else None
    arg = args[0]
    negate = name == "isNotValid"

    def run(frame: Frame) -> Array:
        ok = validity(info, arg.fn(frame))
        return (~ok if negate else ok).astype(np.float64)

    return Expr(DataType.BOOLEAN, "categorical", run)


def _user_function(c: ExpressionCompiler, el: Element, define: Element, args: list[Expr]) -> Expr | None:
    params = define.findall("ParameterField")
    if len(params) != len(args):
        c.problems.invalid(f"function {define.get('name')!r} takes {len(params)} arguments, got {len(args)}", el)
        return None
    if c.function_depth >= _MAX_FUNCTION_DEPTH:
        c.problems.invalid(f"function {define.get('name')!r} calls itself too deeply (recursion)", el)
        return None

    bindings: dict[str, Expr] = {}
    for p, a in zip(params, args, strict=True):
        pname = p.get("name") or ""
        ptype = parse_dtype(p, c.problems, default=a.dtype)
        bindings[pname] = Expr(ptype, p.get("optype") or a.optype, cast_fn(a, ptype))
    inner = c.for_function_body(bindings)
    body = inner.expression_of(define)
    if body is None:
        return None
    dtype = parse_dtype(define, c.problems, default=body.dtype)
    return Expr(dtype, define.get("optype") or body.optype, cast_fn(body, dtype))


def _wrap(c: ExpressionCompiler, el: Element, core: Expr, args: list[Expr]) -> Expr:
    """mapMissingTo, defaultValue and invalidValueTreatment around the function's result."""
    dtype = core.dtype
    mm = attribute.parsed(el, "mapMissingTo", partial(parse_scalar, dtype), c.problems)
    dv = attribute.parsed(el, "defaultValue", partial(parse_scalar, dtype), c.problems)
    # Checked only: the built-ins give a missing value for an undefined result, whatever the treatment.
    attribute.choice(el, "invalidValueTreatment", ("returnInvalid", "asIs", "asMissing"), c.problems)
    if mm is None and dv is None:
        return core
    fn = core.fn

    def run(frame: Frame) -> Array:
        out = fn(frame)
        arg_miss = any_missing((a.fn(frame) for a in args), frame.n)
        res_miss = is_missing(out)
        if dv is not None:
            m = res_miss & ~arg_miss
            if m.any():
                out = out.copy()
                out[m] = dv
        if mm is not None and arg_miss.any():
            out = out.copy()
            out[arg_miss] = mm
        return out

    return Expr(dtype, core.optype, run)
