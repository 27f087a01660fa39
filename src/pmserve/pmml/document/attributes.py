"""Typed readers for the attributes of PMML elements: the one place that turns attribute text into
numbers, integers, booleans and enumerated names.

Each reader is declarative: it names the attribute, whether it is required, its default, and the
values or the range it allows.  What breaks a rule becomes an :class:`~pmserve.errors.InvalidMarkupError`
of one shape, naming the element, its line and the attribute::

    RegressionTable (line 12): attribute intercept must be a number, got 'abc'
    NeuralLayer (line 30): attribute numberOfNeurons must be an integer of at least 1, got '0'
    ComparisonMeasure (line 8): attribute kind must be one of distance, similarity, got 'near'

A reader that records a problem returns None (the caller skips what it cannot build; the problems
are raised together at the end of the load).  An absent or empty attribute is the default, as
JPMML-Evaluator reads it (STATISTICA writes ``mapMissingTo=""``), except a string attribute, where
empty is a value.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Container, Sequence
from typing import TypeVar

from pmserve.pmml.document.element import Element
from pmserve.pmml.document.problems import Problems

T = TypeVar("T")

#: An item of an Array: double-quoted (with \" inside) or up to the next space.
_ARRAY_ITEM = re.compile(r'"((?:[^"\\]|\\.)*)"|(\S+)')

#: How PMML writes a boolean (xs:boolean).
_BOOLEANS = {"true": True, "1": True, "false": False, "0": False}


def _absent(el: Element, attr: str, problems: Problems, required: bool) -> str | None:
    """The attribute's text, or None when it is absent or empty (a problem if ``required``)."""
    text = el.get(attr)
    if text is None or not text.strip():
        if required:
            problems.invalid(f"attribute {attr} is required", el)
        return None
    return text


def _bad(el: Element, attr: str, problems: Problems, expected: str, text: str) -> None:
    problems.invalid(f"attribute {attr} must be {expected}, got {text!r}", el)


def _range(minimum: float | None, maximum: float | None, above: float | None) -> str:
    if above is not None:
        return f" above {above:g}" + (f" and at most {maximum:g}" if maximum is not None else "")
    if minimum is not None and maximum is not None:
        return f" from {minimum:g} to {maximum:g}"
    if minimum is not None:
        return f" of at least {minimum:g}"
    if maximum is not None:
        return f" of at most {maximum:g}"
    return ""


def _in_range(v: float, minimum: float | None, maximum: float | None, above: float | None) -> bool:
    return ((minimum is None or v >= minimum) and (maximum is None or v <= maximum)
            and (above is None or v > above))


def text(el: Element, attr: str, problems: Problems, default: str | None = None, *,
         required: bool = False, empty: bool = True) -> str | None:
    """A string attribute: ``default`` when absent (a problem if ``required``); an empty string is a
    value (a category may be ""), unless not ``empty`` (a name): then it is absent."""
    found = el.get(attr)
    if found is None or not (empty or found):
        if required:
            problems.invalid(f"attribute {attr} is required", el)
        return default
    return found


def unique_id(el: Element, seen: Container[str], problems: Problems, what: str) -> str | None:
    """The required ``id`` attribute of one of several entities, None (and a problem) if another
    of them in ``seen`` has it already."""
    found = text(el, "id", problems, required=True)
    if found is not None and found in seen:
        problems.invalid(f"{what} id {found!r} is used twice", el)
        return None
    return found


def given(el: Element, attr: str) -> bool:
    """Whether the attribute is written (not absent, not empty): tells an optional attribute a
    reader returned None for because it is bad from one that is not there."""
    text = el.get(attr)
    return text is not None and bool(text.strip())


def number(el: Element, attr: str, problems: Problems, default: float | None = None, *, required: bool = False,
           minimum: float | None = None, maximum: float | None = None, above: float | None = None,
           finite: bool = False) -> float | None:
    """A numeric attribute (xs:double): ``default`` when absent or empty (a problem if ``required``);
    None, and a problem, when it is no number, not finite where ``finite``, or out of the range."""
    found = _absent(el, attr, problems, required)
    if found is None:
        return default
    expected = f"a {'finite ' if finite else ''}number{_range(minimum, maximum, above)}"
    try:
        value = float(found)
    except ValueError:
        _bad(el, attr, problems, expected, found)
        return None
    if (finite and not math.isfinite(value)) or not _in_range(value, minimum, maximum, above):
        _bad(el, attr, problems, expected, found)
        return None
    return value


def integer(el: Element, attr: str, problems: Problems, default: int | None = None, *, required: bool = False,
            minimum: int | None = None, maximum: int | None = None) -> int | None:
    """An integer attribute (xs:integer): ``default`` when absent or empty (a problem if ``required``);
    None, and a problem, when it is no integer or out of the range."""
    found = _absent(el, attr, problems, required)
    if found is None:
        return default
    try:
        value = int(found.strip())
    except ValueError:
        _bad(el, attr, problems, f"an integer{_range(minimum, maximum, None)}", found)
        return None
    if not _in_range(value, minimum, maximum, None):
        _bad(el, attr, problems, f"an integer{_range(minimum, maximum, None)}", found)
        return None
    return value


def boolean(el: Element, attr: str, problems: Problems, default: bool) -> bool | None:
    """A boolean attribute (xs:boolean: true, false, 1, 0): ``default`` when absent; None, and a
    problem, when it is none of those."""
    found = _absent(el, attr, problems, False)
    if found is None:
        return default
    value = _BOOLEANS.get(found.strip())
    if value is None:
        _bad(el, attr, problems, "true or false", found)
    return value


def choice(el: Element, attr: str, allowed: Sequence[str], problems: Problems, default: str | None = None,
           *, required: bool = False) -> str | None:
    """An enumerated attribute: ``default`` when absent or empty; None, and a problem, when it is
    required and absent, or not one of ``allowed``."""
    found = _absent(el, attr, problems, required)
    if found is None:
        return default
    if found not in allowed:
        _bad(el, attr, problems, f"one of {', '.join(allowed)}", found)
        return None
    return found


def parsed(el: Element, attr: str, parse: Callable[[str], T], problems: Problems, *,
           required: bool = False, default: str | None = None, field: str | None = None) -> T | None:
    """An attribute whose text ``parse`` reads (a value of a field's dataType, say): None when absent
    (a problem if ``required``) unless a ``default`` text stands in for it; None, and a problem
    quoting ``parse``'s ValueError (and naming the ``field`` the value is of), when it fails."""
    found = el.get(attr)
    if found is None:
        found = default
    if found is None:
        if required:
            problems.invalid(f"attribute {attr} is required", el)
        return None
    try:
        return parse(found)
    except ValueError as exc:
        problems.invalid(f"attribute {attr}{'' if field is None else f' of field {field!r}'}: {exc}", el)
        return None


def array_items(el: Element, problems: Problems) -> list[str] | None:
    """The items of an Array element (space separated, double quotes around items with spaces);
    None, and a problem, when its ``n`` is no count, and a problem when it says another count."""
    items = [m.group(1).replace('\\"', '"') if m.group(1) is not None else m.group(2)
             for m in _ARRAY_ITEM.finditer(el.text)]
    count = integer(el, "n", problems, len(items))
    if count is None:
        return None
    if count != len(items):
        problems.invalid(f"Array n={count} but it holds {len(items)} values", el)
    return items


def numbers(parent: Element | None, problems: Problems, missing: str, at: Element | None = None) -> list[float] | None:
    """The numbers of ``parent``'s Array child; None, and a problem, when there is none (``missing``
    says what was expected, at ``at`` or the parent) or it holds anything but numbers."""
    array = None if parent is None else parent.find("Array")
    if array is None:
        problems.invalid(missing, at if at is not None else parent)
        return None
    items = array_items(array, problems)
    if items is None:
        return None
    try:
        return [float(v) for v in items]
    except ValueError:
        problems.invalid(f"expected an Array of numbers, got {array.text.strip()[:60]!r}", array)
        return None
