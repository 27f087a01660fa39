"""Running the app under uvicorn with the transport limits of the settings.

uvicorn closes idle keep-alive connections (``timeout_keep_alive``) and answers 503 past a number
of connections (``limit_concurrency``), but it waits forever for the headers of a request that
trickles in: a few hundred slow-header connections then hold every slot.  The h11 protocol here
adds a deadline for each request's headers (PMSERVE_REQUEST_TIMEOUT_S); the body has the same
deadline in :func:`pmserve.api._bodies.read_body`.
"""

from __future__ import annotations

import asyncio
import functools
import os
from typing import Any

import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from pmserve.settings import Settings


class HeaderDeadlineH11Protocol(H11Protocol):
    """uvicorn's h11 protocol, closing a connection whose next request's headers are overdue."""

    header_timeout_s: float = Settings.request_timeout_s

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)  # type: ignore[arg-type]
        self._header_timer: asyncio.TimerHandle | None = None
        self._arm()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        self._disarm()
        self._header_timer = self.loop.call_later(self.timeout_s(), self._headers_overdue, self.cycle)

    def timeout_s(self) -> float:
        return self.header_timeout_s

    def _disarm(self) -> None:
        timer = getattr(self, "_header_timer", None)
        if timer is not None:
            timer.cancel()
            self._header_timer = None

    def _headers_overdue(self, cycle_when_armed: Any) -> None:
        # No request has started since the timer was armed: the headers are overdue.
        idle = self.cycle is None or self.cycle.response_complete
        if self.cycle is cycle_when_armed and idle and not self.transport.is_closing():
            self.transport.close()


class EnvHeaderDeadlineH11Protocol(HeaderDeadlineH11Protocol):
    """The same, for worker processes: the deadline comes from the ``PMSERVE_*`` settings."""

    def timeout_s(self) -> float:
        return _env_settings().request_timeout_s


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


def run(settings: Settings, app: Any) -> None:
    """Serve ``app`` (an app, or with several workers the factory's import path) until stopped."""
    common: dict[str, Any] = {"host": settings.host, "port": settings.port, "access_log": False,
                              "log_level": settings.log_level, **uvicorn_options(settings)}
    if settings.workers > 1:
        # Worker processes rebuild the app from the environment; hand them the final settings.
        os.environ.update(settings.to_env())
        uvicorn.run(app, factory=True, workers=settings.workers, http=EnvHeaderDeadlineH11Protocol, **common)
    else:
        uvicorn.run(app, http=protocol_for(settings), **common)


def protocol_for(settings: Settings) -> type[HeaderDeadlineH11Protocol]:
    """The h11 protocol class with this settings' header deadline."""
    return type("HeaderDeadlineH11", (HeaderDeadlineH11Protocol,), {"header_timeout_s": settings.request_timeout_s})
