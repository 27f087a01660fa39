"""One structured log line per request: method, path (never the query, which holds the key),
status, duration in ms and the context id."""

from __future__ import annotations

import logging
import re
import time

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("pmserve.access")

_CONTEXT_ID = re.compile(r"^/pm/v1/(?:model|score|metadata)/([^/]+)")


class AccessLog:
    """Pure ASGI middleware (no per-request objects beyond what the line needs)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500  # what the client sees if the app dies before answering

        async def send_and_note(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            if log.isEnabledFor(logging.INFO):
                path: str = scope["path"]
                match = _CONTEXT_ID.match(path)
                log.info(orjson.dumps({
                    "method": scope["method"],
                    "path": path,
                    "status": status,
                    "ms": round((time.perf_counter() - start) * 1000, 3),
                    "context_id": match.group(1) if match else None,
                }).decode())
