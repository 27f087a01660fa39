"""One structured log line per request: method, path (never the query, which holds the key),
status, the ``/pm/v1`` reply's ``flag``, duration in ms and the context id; a warning with the
reason for every refused deploy and score (IBM answers those with HTTP 200, so the status alone
hides them); and the request metrics."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import MutableMapping
from typing import Any

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pmserve import metrics

log = logging.getLogger("pmserve.access")
refusals = logging.getLogger("pmserve.api")

_CONTEXT_ID = re.compile(r"^/pm/v1/(?:model|score|metadata|file|jobs)/([^/?]+)")
_OUTCOME = "pmserve.outcome"  # scope key: (flag, reason) noted by the endpoint that answered
_REASON_LOGGED = frozenset({"deploy", "score"})


def note_outcome(scope: MutableMapping[str, Any], flag: bool, reason: str | None = None) -> None:
    """Record what a ``/pm/v1`` endpoint answered, for the access log and the metrics."""
    scope[_OUTCOME] = (flag, reason)


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
            seconds = time.perf_counter() - start
            endpoint = getattr(scope.get("endpoint"), "__name__", "unmatched")
            flag, reason = scope.get(_OUTCOME, (None, None))
            flag_text = "" if flag is None else str(flag).lower()
            metrics.child(metrics.REQUESTS, endpoint, scope["method"], str(status), flag_text).inc()
            metrics.child(metrics.REQUEST_SECONDS, endpoint).observe(seconds)
            path: str = scope["path"]
            match = _CONTEXT_ID.match(path)
            context_id = match.group(1) if match else None
            if flag is False and endpoint in _REASON_LOGGED:
                refusals.warning("%s of %r refused: %s", endpoint, context_id, reason)
            if log.isEnabledFor(logging.INFO):
                log.info(orjson.dumps({
                    "method": scope["method"],
                    "path": path,
                    "status": status,
                    "flag": flag,
                    "ms": round(seconds * 1000, 3),
                    "context_id": context_id,
                }).decode())
