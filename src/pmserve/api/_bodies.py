"""Request bodies read with bounds, and heavy work kept off the event loop (for every endpoint).

* :func:`read_body` - the whole body, refused past a byte limit (announced or streamed) and when
  it stalls, before anything is decoded.
* :func:`read_form` - a multipart/form-data body read with :func:`read_body`, then parsed with
  part and field counts bounded; malformed multipart is a :class:`BadRequestError`, never a 500.
* :func:`run_heavy` - run a blocking call (parse, compile, a big decode, a big score) on a small
  bounded set of threads, so ``/health`` and other tenants' small requests keep their latency.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable
from typing import ParamSpec, TypeVar

import anyio
import anyio.to_thread
from starlette.datastructures import FormData, State
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException
from starlette.requests import ClientDisconnect, Request
from starlette.types import Message, Receive

from pmserve.errors import BadRequestError, PayloadTooLargeError
from pmserve.settings import Settings

_P = ParamSpec("_P")
_T = TypeVar("_T")

#: Room for the multipart framing (boundaries, part headers) around an uploaded file.
MULTIPART_SLACK = 64 * 1024


async def read_body(request: Request, limit: int, setting: str, what: str) -> bytes:
    """The request body, at most ``limit`` bytes (``setting`` names the limit in the message)."""
    settings: Settings = request.app.state.settings
    return await receive_body(request.receive, request.headers.get("content-length"), limit,
                              settings.request_timeout_s, setting, what)


async def receive_body(receive: Receive, declared: str | None, limit: int, timeout: float, setting: str,
                       what: str) -> bytes:
    """:func:`read_body` on the ASGI ``receive`` itself (``declared``: the Content-Length header)."""
    if declared and declared.isdigit() and int(declared) > limit:
        raise too_large(what, int(declared), limit, setting)
    loop = asyncio.get_running_loop()
    chunks: list[bytes] = []
    size = 0
    try:
        # Each piece must come within the timeout (a slow but steady upload is fine; a stalled
        # or trickling one is not): one timeout whose deadline moves on with every piece.  An
        # asyncio timeout read message by message, not anyio's cancel scope over the request's
        # stream: a small body is one message, and this costs it a timer rather than ~30 µs.
        async with asyncio.timeout(timeout) as scope:
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    raise ClientDisconnect()
                chunk: bytes = message.get("body", b"")
                chunks.append(chunk)
                size += len(chunk)
                if size > limit:
                    raise too_large(what, size, limit, setting)
                if not message.get("more_body", False):
                    break
                scope.reschedule(loop.time() + timeout)
    except TimeoutError:
        raise BadRequestError(f"the {what} stalled: no data for {timeout:g} s "
                              f"(PMSERVE_REQUEST_TIMEOUT_S)") from None
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def too_large(what: str, size: int, limit: int, setting: str) -> PayloadTooLargeError:
    return PayloadTooLargeError(f"the {what} is {size} bytes; the limit is {limit} bytes ({setting})")


async def read_form(request: Request, limit: int, setting: str, what: str, *, expected: str = "",
                    max_files: int = 8, max_fields: int = 16) -> FormData:
    """A multipart/form-data body of at most ``limit`` bytes (plus framing), parsed with bounds.

    ``expected`` says what the body should hold, for the error messages.
    """
    body = await read_body(request, limit + MULTIPART_SLACK, setting, what)
    if not body:
        raise BadRequestError(f"the {what} has no body; send {expected or 'a multipart/form-data body'}")
    content_type = request.headers.get("content-type", "")
    if not content_type.startswith("multipart/form-data"):
        raise BadRequestError(f"the {what} must be multipart/form-data{' with ' + expected if expected else ''}; "
                              f"got content type {content_type[:100] or 'none'!r}")
    try:
        return await Request(request.scope, _replay(body)).form(max_files=max_files, max_fields=max_fields)
    except (MultiPartException, HTTPException, ValueError, KeyError, IndexError, UnicodeError) as exc:
        detail = exc.detail if isinstance(exc, HTTPException) else str(exc)
        raise BadRequestError(f"the {what} is not valid multipart/form-data: {str(detail)[:200]}") from None


def _replay(body: bytes) -> Callable[[], Awaitable[Message]]:
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}
    return receive


async def run_heavy(request: Request, fn: Callable[_P, _T], *args: _P.args, **kwargs: _P.kwargs) -> _T:
    """``fn(*args, **kwargs)`` on the bounded pool of heavy-work threads (PMSERVE_HEAVY_THREADS)."""
    return await run_heavy_on(request.app.state, fn, *args, **kwargs)


async def run_heavy_on(state: State, fn: Callable[_P, _T], *args: _P.args, **kwargs: _P.kwargs) -> _T:
    """:func:`run_heavy` with the app's state (what holds the settings and the threads' limiter)."""
    limiter: anyio.CapacityLimiter | None = getattr(state, "heavy_limiter", None)
    if limiter is None:
        settings: Settings = state.settings
        limiter = anyio.CapacityLimiter(settings.heavy_threads)
        state.heavy_limiter = limiter
    return await anyio.to_thread.run_sync(functools.partial(fn, *args, **kwargs), limiter=limiter)
