"""The attribute readers: one message shape naming element, line and attribute."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from pmserve.errors import DocumentProblems, InvalidMarkupError
from pmserve.pmml.document import attributes as attribute
from pmserve.pmml.document.element import Element
from pmserve.pmml.document.problems import Problems


def _el(**attrs: str) -> Element:
    return Element("NeuralLayer", attrs, (), "", 7)


Read = Callable[[Element, Problems], Any]


@pytest.mark.parametrize(("read", "attrs", "expected"), [
    (lambda el, p: attribute.number(el, "x", p), {"x": "2.5"}, 2.5),
    (lambda el, p: attribute.number(el, "x", p, 1.0), {}, 1.0),
    (lambda el, p: attribute.number(el, "x", p, 1.0), {"x": " "}, 1.0),
    (lambda el, p: attribute.number(el, "x", p, minimum=0.0), {"x": "0"}, 0.0),
    (lambda el, p: attribute.number(el, "x", p), {"x": "-INF"}, float("-inf")),
    (lambda el, p: attribute.integer(el, "n", p, 1), {"n": "12"}, 12),
    (lambda el, p: attribute.integer(el, "n", p, 1), {}, 1),
    (lambda el, p: attribute.boolean(el, "b", p, False), {"b": "1"}, True),
    (lambda el, p: attribute.boolean(el, "b", p, True), {}, True),
    (lambda el, p: attribute.choice(el, "k", ("a", "b"), p, "a"), {}, "a"),
    (lambda el, p: attribute.choice(el, "k", ("a", "b"), p), {"k": "b"}, "b"),
    (lambda el, p: attribute.text(el, "t", p, "d"), {}, "d"),
    (lambda el, p: attribute.parsed(el, "v", int, p), {"v": "3"}, 3),
    (lambda el, p: attribute.parsed(el, "v", int, p), {}, None),
    (lambda el, p: attribute.text(el, "t", p, "d"), {"t": ""}, ""),
    (lambda el, p: attribute.given(el, "t"), {"t": " "}, False),
    (lambda el, p: attribute.given(el, "t"), {"t": "0"}, True),
])
def test_a_valid_or_absent_attribute_reads_as_its_value_or_default(read: Read, attrs: dict[str, str],
                                                                   expected: Any) -> None:
    """Present and valid: its value; absent or empty: the default; no problem either way."""
    problems = Problems()
    assert read(_el(**attrs), problems) == expected
    assert not problems


@pytest.mark.parametrize(("read", "attrs", "message"), [
    (lambda el, p: attribute.number(el, "x", p, required=True), {}, "attribute x is required"),
    (lambda el, p: attribute.number(el, "x", p), {"x": "abc"}, "attribute x must be a number, got 'abc'"),
    (lambda el, p: attribute.number(el, "x", p, above=0.0), {"x": "0"},
     "attribute x must be a number above 0, got '0'"),
    (lambda el, p: attribute.number(el, "x", p, minimum=0.0, maximum=1.0), {"x": "1.5"},
     "attribute x must be a number from 0 to 1, got '1.5'"),
    (lambda el, p: attribute.number(el, "x", p, finite=True), {"x": "INF"},
     "attribute x must be a finite number, got 'INF'"),
    (lambda el, p: attribute.integer(el, "n", p), {"n": "2.5"}, "attribute n must be an integer, got '2.5'"),
    (lambda el, p: attribute.integer(el, "n", p, minimum=1), {"n": "0"},
     "attribute n must be an integer of at least 1, got '0'"),
    (lambda el, p: attribute.boolean(el, "b", p, False), {"b": "yes"}, "attribute b must be true or false, got 'yes'"),
    (lambda el, p: attribute.choice(el, "k", ("a", "b"), p), {"k": "c"}, "attribute k must be one of a, b, got 'c'"),
    (lambda el, p: attribute.choice(el, "k", ("a", "b"), p, required=True), {}, "attribute k is required"),
    (lambda el, p: attribute.text(el, "t", p, required=True), {}, "attribute t is required"),
    (lambda el, p: attribute.parsed(el, "v", float, p, required=True), {}, "attribute v is required"),
    (lambda el, p: attribute.parsed(el, "v", float, p), {"v": "x"},
     "attribute v: could not convert string to float: 'x'"),
    (lambda el, p: attribute.text(el, "t", p, required=True, empty=False), {"t": ""}, "attribute t is required"),
])
def test_a_bad_attribute_is_one_problem_naming_element_line_and_attribute(read: Read, attrs: dict[str, str],
                                                                          message: str) -> None:
    """A bad attribute reads as None and is recorded as invalid markup of the one shape."""
    problems = Problems()
    assert read(_el(**attrs), problems) is None
    with pytest.raises(DocumentProblems) as caught:
        problems.raise_if_any()
    (problem,) = caught.value.problems
    assert isinstance(problem, InvalidMarkupError)
    assert (problem.element, problem.line) == ("NeuralLayer", 7)
    assert problem.message == f"NeuralLayer (line 7): {message}"
