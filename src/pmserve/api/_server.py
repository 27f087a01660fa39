"""Running the app under uvicorn with the transport limits of the settings.

uvicorn closes idle keep-alive connections (``timeout_keep_alive``) and answers 503 past a number
of connections (``limit_concurrency``), but it waits forever for the headers of a request that
trickles in: a thousand slow-header connections then hold every slot and new clients get 503.
The protocols here close, at that many connections, the ones waiting longest for their headers
(a connection with a request in progress is never closed), and add a deadline for each request's
headers (PMSERVE_REQUEST_TIMEOUT_S; a body may not stall longer, see
:func:`pmserve.api._bodies.read_body`).  The httptools protocol (uvicorn's fast one, used when
installed) also bounds the size of a request head, which h11 does through uvicorn's own option,
and sends each response's head and body in one write (:class:`_HeadHeld`).
"""

from __future__ import annotations

import asyncio
import functools
import os
from typing import Any, cast

import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from pmserve.pmml import kernels
from pmserve.settings import Settings


class _Deadline:
    """The header deadline of one connection: armed when it opens and after each response."""

    def __init__(self, proto: Any, timeout_s: float) -> None:
        self.proto = proto
        self.timeout_s = timeout_s
        self.timer: asyncio.TimerHandle | None = None
        self.armed_at = 0.0

    def arm(self) -> None:
        self.disarm()
        self.armed_at = self.proto.loop.time()
        self.timer = self.proto.loop.call_later(self.timeout_s, self._overdue, self.proto.cycle)

    @property
    def waiting(self) -> bool:
        """Waiting for a request's headers (no request in progress)."""
        cycle = self.proto.cycle
        return self.timer is not None and (cycle is None or cycle.response_complete)

    def make_room(self, limit: int) -> None:
        """At ``limit`` connections, close the ones waiting longest for their headers: a flood of
        slow or idle connections then gives way to new clients instead of locking them out."""
        connections = self.proto.connections
        if len(connections) < limit:
            return
        waiting = sorted((p for p in connections if p is not self.proto and _waiting(p)),
                         key=lambda p: p._deadline.armed_at)
        for p in waiting[:len(connections) - limit + 1]:
            p._deadline.disarm()
            p.transport.close()
            connections.discard(p)  # now, not when the loop reports it lost: it no longer counts

    def disarm(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None

    def _overdue(self, cycle_when_armed: Any) -> None:
        # No request has started since the timer was armed: its headers are overdue.
        cycle = self.proto.cycle
        idle = cycle is None or cycle.response_complete
        if cycle is cycle_when_armed and idle and not self.proto.transport.is_closing():
            self.proto.transport.close()


def _waiting(proto: Any) -> bool:
    deadline = getattr(proto, "_deadline", None)
    return isinstance(deadline, _Deadline) and deadline.waiting and not proto.transport.is_closing()


class _HeaderDeadline(asyncio.Protocol):
    """Arms the header deadline when a connection opens and after each response.

    Mixed in before either of uvicorn's protocols, whose methods of these names it wraps.
    """

    header_timeout_s: float | None = None  # None: read from the PMSERVE_* settings (worker processes)
    max_connections: int | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self._deadline = _Deadline(self, _timeout(self.header_timeout_s))
        self._deadline.arm()
        self._deadline.make_room(self.max_connections or _env_settings().limit_concurrency)

    def on_response_complete(self) -> None:
        super().on_response_complete()  # type: ignore[misc]  # uvicorn's protocol, next in the MRO
        self._deadline.arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._deadline.disarm()
        super().connection_lost(exc)


class HeaderDeadlineH11Protocol(_HeaderDeadline, H11Protocol):
    """uvicorn's h11 protocol, closing a connection whose next request's headers are overdue."""


class _HeadHeld:
    """A connection's transport that holds a response's head until the first piece of its body,
    so that both leave in one write: one send, and one wake-up of the client, instead of two.

    uvicorn writes the head (the status line and headers) and then the body, each at once.  What
    is held goes out, in order, with the next write, when the response is complete (a response
    without a body: HEAD, 204) or when the connection closes.  ``100 Continue`` is never held: the
    client waits for it before it sends the body.
    """

    def __init__(self, transport: asyncio.Transport) -> None:
        self.transport = transport
        self.held = b""

    def write(self, data: bytes) -> None:
        if self.held:
            held, self.held = self.held, b""
            self.transport.writelines((held, data))  # one send (writev), no copy of the body
            return
        if data.startswith(b"HTTP/1.1 ") and not data.startswith(b"HTTP/1.1 1"):
            self.held = data
            return
        self.transport.write(data)

    def flush(self) -> None:
        if self.held:
            data, self.held = self.held, b""
            self.transport.write(data)

    def close(self) -> None:
        self.flush()
        self.transport.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.transport, name)


class HeaderDeadlineHttpToolsProtocol(_HeaderDeadline, HttpToolsProtocol):
    """uvicorn's httptools protocol with the header deadline and a bound on the request head, whose
    responses leave in one write (:class:`_HeadHeld`)."""

    max_head_bytes: int | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self.transport = cast(asyncio.Transport, _HeadHeld(self.transport))
        self._head_bytes = 0
        self._max_head = self.max_head_bytes or _env_settings().max_header_kb * 1024

    def on_response_complete(self) -> None:
        flush = getattr(self.transport, "flush", None)
        if flush is not None:
            flush()
        super().on_response_complete()

    def on_url(self, url: bytes) -> None:
        self._head_bytes += len(url)
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._head_bytes += len(name) + len(value) + 4  # ": " and CR LF
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        if self._head_bytes > self._max_head:
            self.send_400_response("Request head too large.")
            return
        super().on_headers_complete()

    def on_message_begin(self) -> None:
        self._head_bytes = 0
        super().on_message_begin()


def _timeout(configured: float | None) -> float:
    return configured if configured is not None else _env_settings().request_timeout_s


@functools.cache
def _env_settings() -> Settings:
    return Settings.from_env()


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """The uvicorn options that bound the transport (documented in README "Limits")."""
    return {
        "timeout_keep_alive": settings.timeout_keep_alive_s,
        "limit_concurrency": settings.limit_concurrency,
        "h11_max_incomplete_event_size": settings.max_header_kb * 1024,
    }


def protocol_for(settings: Settings, kind: str = "httptools") -> type[Any]:
    """The HTTP protocol class ("httptools" or "h11") with these settings' limits."""
    limits = {"header_timeout_s": settings.request_timeout_s, "max_connections": settings.limit_concurrency}
    if kind == "h11":
        return type("PmserveH11", (HeaderDeadlineH11Protocol,), limits)
    return type("PmserveHttpTools", (HeaderDeadlineHttpToolsProtocol,),
                {**limits, "max_head_bytes": settings.max_header_kb * 1024})


def run(settings: Settings, app: Any) -> None:
    """Serve ``app`` (an app, or with several workers the factory's import path) until stopped."""
    common: dict[str, Any] = {"host": settings.host, "port": settings.port, "access_log": False,
                              "log_level": settings.log_level, **uvicorn_options(settings)}
    if settings.workers > 1:
        # Compile the engine's kernels into numba's disk cache once, here: a worker compiling them
        # itself at start-up could miss uvicorn's health checks and be restarted again and again.
        kernels.warm_up()
        # Worker processes rebuild the app from the environment; hand them the final settings.
        # The protocol class travels by name, so it reads its limits from the same environment.
        os.environ.update(settings.to_env())
        uvicorn.run(app, factory=True, workers=settings.workers, http=HeaderDeadlineHttpToolsProtocol, **common)
    else:
        uvicorn.run(app, http=protocol_for(settings), **common)
