"""How much work one document may ask of the engine: the limits :func:`pmserve.pmml.load` enforces.

Each limit is checked before the step it protects (an element's attributes are counted before
they are converted, a nesting level before it is compiled), so a hostile document is refused in
time and memory proportional to its size.  The server passes its settings in; each message names
the ``PMSERVE_*`` setting that raises the limit, the engine itself reads no settings.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from pmserve.errors import InvalidMarkupError

#: libxml2 refuses documents nested deeper than this even with its ``huge`` option.
LIBXML2_MAX_DEPTH = 2048


class DeadlineExceeded(InvalidMarkupError):
    """Loading the document took longer than its time budget."""


@dataclass(frozen=True)
class Limits:
    """Bounds on one document (defaults suit real models: large forests, deep trees)."""

    #: Largest document, in bytes, after gzip decompression.
    max_document_bytes: int = 512 * 1024 * 1024
    #: Deepest element nesting of the whole document, tree Nodes included (PMSERVE_MAX_XML_DEPTH).
    max_depth: int = 1000
    #: Most attributes on one element (PMSERVE_MAX_XML_ATTRIBUTES).
    max_attributes: int = 256
    #: Most elements in one document (PMSERVE_MAX_XML_ELEMENTS).
    max_elements: int = 20_000_000
    #: Deepest nesting of expressions (Apply in Apply ...) (PMSERVE_MAX_EXPRESSION_DEPTH).
    max_expression_depth: int = 100
    #: Longest chain of DerivedFields each reading the previous one (PMSERVE_MAX_DERIVED_DEPTH).
    max_derived_depth: int = 100
    #: ``time.monotonic()`` after which loading stops (None: no budget) (PMSERVE_DEPLOY_TIMEOUT_S).
    deadline: float | None = None

    def __post_init__(self) -> None:
        for name in ("max_document_bytes", "max_depth", "max_attributes", "max_elements",
                     "max_expression_depth", "max_derived_depth"):
            if getattr(self, name) < 1:
                raise ValueError(f"Limits.{name} must be at least 1; got {getattr(self, name)!r}")
        if self.max_depth > LIBXML2_MAX_DEPTH:
            raise ValueError(f"Limits.max_depth must be at most {LIBXML2_MAX_DEPTH} (libxml2's own limit); "
                             f"got {self.max_depth!r}")

    def check_deadline(self, step: str) -> None:
        """Stop loading once the time budget is spent (checked between steps)."""
        if self.deadline is not None and time.monotonic() > self.deadline:
            raise DeadlineExceeded(f"loading the document took longer than its time budget (while {step}); "
                                   f"the budget is set by PMSERVE_DEPLOY_TIMEOUT_S")


DEFAULT_LIMITS = Limits()


def too_deep(depth: int, limits: Limits, *, line: int | None = None, what: str = "elements") -> InvalidMarkupError:
    return InvalidMarkupError(
        f"the document nests {what} {depth} deep; the limit is {limits.max_depth} (PMSERVE_MAX_XML_DEPTH)",
        line=line)


def too_many_attributes(count: int, tag: str, limits: Limits, line: int | None) -> InvalidMarkupError:
    return InvalidMarkupError(
        f"{count} attributes; the limit is {limits.max_attributes} "
        f"(PMSERVE_MAX_XML_ATTRIBUTES)", element=tag, line=line)


def too_many_elements(limits: Limits) -> InvalidMarkupError:
    return InvalidMarkupError(
        f"the document has more than {limits.max_elements} elements; the limit is {limits.max_elements} "
        f"(PMSERVE_MAX_XML_ELEMENTS)")
