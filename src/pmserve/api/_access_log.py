"""One structured log line per request: method, path (never the query, which holds the key),
status, the ``/pm/v1`` reply's ``flag``, duration in ms and the context id; a warning with the
reason for every refused deploy and score (IBM answers those with HTTP 200, so the status alone
hides them); and the request metrics.

The metrics are counted on the spot; the lines are written by a thread of their own
(:class:`_LineWriter`), so the event loop hands over a tuple instead of formatting and writing a
line between two requests.  A line's timestamp is when it was written: at most some milliseconds
after the reply, whose duration the line holds.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import MutableMapping
from queue import Empty, SimpleQueue
from typing import Any

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pmserve import metrics

log = logging.getLogger("pmserve.access")
refusals = logging.getLogger("pmserve.api")

_CONTEXT_ID = re.compile(r"^/pm/v1/(?:model|score|metadata|file|jobs)/([^/?]+)")
_OUTCOME = "pmserve.outcome"  # scope key: (flag, reason) noted by the endpoint that answered
_REASON_LOGGED = frozenset({"deploy", "score"})

#: What one request leaves for the writer: method, path, status, flag, reason, seconds, endpoint.
_Line = tuple[str, str, int, bool | None, str | None, float, str]


def note_outcome(scope: MutableMapping[str, Any], flag: bool, reason: str | None = None) -> None:
    """Record what a ``/pm/v1`` endpoint answered, for the access log and the metrics."""
    scope[_OUTCOME] = (flag, reason)


def record(endpoint: str, method: str, path: str, status: int, flag: bool | None, reason: str | None,
           seconds: float) -> None:
    """Count one answered request in the metrics and queue its log lines."""
    flag_text = "" if flag is None else "true" if flag else "false"
    metrics.child(metrics.REQUESTS, endpoint, method, str(status), flag_text).inc()
    metrics.child(metrics.REQUEST_SECONDS, endpoint).observe(seconds)
    refused = flag is False and endpoint in _REASON_LOGGED
    if refused or log.isEnabledFor(logging.INFO):
        _WRITER.put((method, path, status, flag, reason, seconds, endpoint))


def flush() -> None:
    """Write the lines queued so far, here and now (when the server stops)."""
    _WRITER.drain()


def _write(line: _Line) -> None:
    method, path, status, flag, reason, seconds, endpoint = line
    match = _CONTEXT_ID.match(path)
    context_id = match.group(1) if match else None
    if flag is False and endpoint in _REASON_LOGGED:
        refusals.warning("%s of %r refused: %s", endpoint, context_id, reason)
    if log.isEnabledFor(logging.INFO):
        log.info(orjson.dumps({"method": method, "path": path, "status": status, "flag": flag,
                               "ms": round(seconds * 1000, 3), "context_id": context_id}).decode())


class _LineWriter:
    """A daemon thread writing the queued lines: it wakes for the first line, then lets more
    arrive for a few milliseconds, so a busy server wakes it a hundred times a second at most
    and an idle one never."""

    #: How long the thread lets lines gather after writing some.
    PAUSE_S = 0.01

    def __init__(self) -> None:
        self._queue: SimpleQueue[_Line] = SimpleQueue()
        self._started = False
        self._start_lock = threading.Lock()

    def put(self, line: _Line) -> None:
        self._queue.put(line)
        if not self._started:
            self._start()

    def drain(self) -> None:
        while True:
            try:
                line = self._queue.get_nowait()
            except Empty:
                return
            _write(line)

    def _start(self) -> None:
        with self._start_lock:
            if not self._started:
                threading.Thread(target=self._run, name="pmserve-access-log", daemon=True).start()
                self._started = True

    def _run(self) -> None:
        while True:
            _write(self._queue.get())
            self.drain()
            time.sleep(self.PAUSE_S)


_WRITER = _LineWriter()


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
            endpoint = getattr(scope.get("endpoint"), "__name__", "unmatched")
            flag, reason = scope.get(_OUTCOME, (None, None))
            record(endpoint, scope["method"], scope["path"], status, flag, reason, time.perf_counter() - start)
