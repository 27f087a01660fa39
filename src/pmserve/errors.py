"""The one error hierarchy of pmserve, split by who is at fault.

* :class:`DocumentError` - the model file is at fault (invalid or unsupported markup).
* :class:`DataError` - the data sent for scoring is at fault (type, missing field, invalid value).
* :class:`RequestError` - the request is at fault (unknown model, bad key, bad body).
* :class:`PlatformError` - pmserve or its environment is at fault (store unavailable).

Errors carry structured context (element, line, field, value, row, ...) as attributes, and their
text says only what was expected and what came: the location is data, rendered once by
:meth:`PmserveError.render` (a data error's row is appended as "(row N)", numbered from the edge's
first row, or left out where the message sits on its row).  Nothing here knows about
HTTP: the web layer maps these classes to status codes in one table (``pmserve.api.errors``).
"""

from __future__ import annotations

import reprlib
from collections.abc import Sequence
from typing import Any

#: How much of a bad value an error message quotes (a cell may be megabytes long).
EXCERPT_CHARS = 60
_EXCERPT = reprlib.Repr()
_EXCERPT.maxstring = _EXCERPT.maxother = EXCERPT_CHARS
_EXCERPT.maxlist = _EXCERPT.maxtuple = _EXCERPT.maxdict = 4
_EXCERPT.maxlevel = 2


def excerpt(value: Any) -> str:
    """``repr`` of a value for an error message, cut to a short prefix, with its full length if cut."""
    if isinstance(value, (str, bytes)) and len(value) > EXCERPT_CHARS:
        return f"{value[:EXCERPT_CHARS]!r}... ({len(value)} characters)"
    return _EXCERPT.repr(value)


class PmserveError(Exception):
    """Base class of every error pmserve raises on purpose."""

    def __init__(self, message: str, **context: Any) -> None:
        super().__init__(message)
        #: What went wrong, without the location the attributes carry.
        self.text = message
        self.context: dict[str, Any] = {k: v for k, v in context.items() if v is not None}

    def render(self, first_row: int | None = 0) -> str:
        """The message with its location. ``first_row``: the number, from 0, of the scored batch's
        first row in the input the reader knows (0: the batch is the input); None when the reader
        sees the message on its row already (a scored table's ``error`` column of a Spark partition)."""
        return self.text

    @property
    def message(self) -> str:
        """The message as every adapter shows it, rows numbered within the scored batch."""
        return self.render()

    def __str__(self) -> str:
        return self.render()


# -- the document ---------------------------------------------------------------------------------


class DocumentError(PmserveError):
    """The model document is at fault."""

    def __init__(
        self, message: str, *, element: str | None = None, line: int | None = None, **context: Any
    ) -> None:
        super().__init__(message, element=element, line=line, **context)
        self.element = element
        self.line = line

    def render(self, first_row: int | None = 0) -> str:
        if self.element is None or self.line is None:
            return self.text
        return f"{self.element} (line {self.line}): {self.text}"


class InvalidMarkupError(DocumentError):
    """The document is not well-formed, not PMML, or breaks a rule of the PMML schema."""


class UnsupportedMarkupError(DocumentError):
    """The document is valid PMML but uses an element, attribute or function pmserve cannot score."""


class UnsupportedFormatError(DocumentError):
    """The uploaded file is of a model format pmserve does not accept."""


class DocumentProblems(DocumentError):
    """Several document problems found at load time, reported together."""

    def __init__(self, problems: Sequence[DocumentError]) -> None:
        self.problems = list(problems)
        if len(self.problems) == 1:
            text = self.problems[0].message
        else:
            text = f"{len(self.problems)} problems in the model document:\n" + "\n".join(
                f"- {p.message}" for p in self.problems
            )
        super().__init__(text)

    @property
    def unsupported(self) -> bool:
        """True when every problem is unsupported markup (the document itself is valid)."""
        return all(isinstance(p, UnsupportedMarkupError) for p in self.problems)


class VerificationError(DocumentError):
    """The document's own ModelVerification rows do not reproduce."""


# -- the data -------------------------------------------------------------------------------------


class DataError(PmserveError):
    """The data sent for scoring is at fault."""

    def __init__(
        self,
        message: str,
        *,
        field: str | None = None,
        value: Any = None,
        row: int | None = None,
        **context: Any,
    ) -> None:
        super().__init__(message, field=field, value=value, row=row, **context)
        self.field = field
        self.value = value
        #: The record at fault, numbered from 0 within the batch scored.
        self.row = row

    def render(self, first_row: int | None = 0) -> str:
        if self.row is None or first_row is None:
            return self.text
        return f"{self.text} (row {first_row + self.row + 1})"


class RecordError(DataError):
    """A record of the input is at fault as a whole (its shape, or it cannot be scored): the message
    leads with its row, e.g. "row 2 has 3 values but the header names 5 fields"."""

    def __init__(self, message: str, *, row: int, **context: Any) -> None:
        super().__init__(message, row=row, **context)

    def render(self, first_row: int | None = 0) -> str:
        if self.row is None or first_row is None:
            return f"a row {self.text}"
        return f"row {first_row + self.row + 1} {self.text}"


class MissingFieldError(DataError):
    """A column the model needs is absent from the input."""


class InvalidValueError(DataError):
    """A value cannot be coerced to the field's type, or is invalid under ``returnInvalid``."""


class EvaluationError(DataError):
    """A record could not be evaluated (e.g. a function's argument out of its domain)."""


# -- the request ----------------------------------------------------------------------------------


class RequestError(PmserveError):
    """The request is at fault."""


class BadRequestError(RequestError):
    """The request body or parameters are malformed."""


class MissingBodyError(BadRequestError):
    """The request carries no body where one is required."""


class UnauthorizedError(RequestError):
    """The access key is missing, unknown or revoked."""


class NotFoundError(RequestError):
    """The named model, file or job does not exist for this tenant."""

    def __init__(self, message: str, *, kind: str, ident: str) -> None:
        super().__init__(message, kind=kind, ident=ident)
        self.kind = kind
        self.ident = ident


class ConflictError(RequestError):
    """The resource exists already, or is in a state that forbids the change."""


class PayloadTooLargeError(RequestError):
    """The upload is larger than the configured limit."""


# -- the platform ---------------------------------------------------------------------------------


class PlatformError(PmserveError):
    """pmserve or its environment is at fault."""


class StoreUnavailableError(PlatformError):
    """The metadata store or the file store cannot be reached."""


class ConfigurationError(PlatformError):
    """A setting has a bad value."""
