"""Collects every invalid or unsupported piece of a document found while compiling it."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TypeVar

from pmserve.errors import DocumentError, DocumentProblems, InvalidMarkupError, UnsupportedMarkupError
from pmserve.pmml.document.element import Element

T = TypeVar("T")


class Problems:
    """Problems found at load time; :meth:`raise_if_any` reports them all at once."""

    def __init__(self) -> None:
        self.items: list[DocumentError] = []
        self.warnings: list[str] = []

    def warn(self, message: str, el: Element | None) -> None:
        """Something JPMML-Evaluator tolerates too: loaded, but worth telling the deployer."""
        self.warnings.append(DocumentError(_cut(message), element=_tag(el), line=_line(el)).message)

    def invalid(self, message: str, el: Element | None) -> None:
        self.items.append(InvalidMarkupError(_cut(message), element=_tag(el), line=_line(el)))

    def unsupported(self, message: str, el: Element | None) -> None:
        self.items.append(UnsupportedMarkupError(_cut(message), element=_tag(el), line=_line(el)))

    def add(self, error: DocumentError) -> None:
        self.items.append(error)

    def __bool__(self) -> bool:
        return bool(self.items)

    def raise_if_any(self) -> None:
        if self.items:
            raise DocumentProblems(self.items)


def every(values: Iterable[T | None]) -> list[T] | None:
    """All the values read from a list of elements, or None when any of them failed (each failure
    recorded its own problem, so the whole list is read to report them all)."""
    out = list(values)
    return None if any(v is None for v in out) else [v for v in out if v is not None]


def _tag(el: Element | None) -> str | None:
    return el.tag if el is not None else None


def _line(el: Element | None) -> int | None:
    return el.line if el is not None else None


#: A document problem's message is cut here: it may quote an attribute megabytes long.
_MESSAGE_CHARS = 1000


def _cut(message: str) -> str:
    if len(message) > _MESSAGE_CHARS:
        return f"{message[:_MESSAGE_CHARS]}... ({len(message)} characters)"
    return message
