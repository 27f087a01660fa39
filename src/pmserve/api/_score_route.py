"""The app: Starlette's, answering ``POST /pm/v1/score/{context_id}`` itself.

Scoring is most of the traffic, and a one-record request costs the engine some tens of µs:
Starlette's middleware stack, router, request and response objects would add as much again.  The
app therefore answers that one route directly with the same parts its Starlette route uses
(:func:`pmserve.api._pmv1.score_reply`, the error table, the access log and metrics), so the wire
is the same byte for byte: status, headers, bodies.  Every other request, and a score request
under a ``root_path`` (a mounted app), goes through Starlette as before.
"""

from __future__ import annotations

import time

from starlette.applications import Starlette
from starlette.datastructures import QueryParams
from starlette.types import Receive, Scope, Send

from pmserve.api._access_log import record
from pmserve.api._pmv1 import refusal_reason, score, score_reply
from pmserve.api.errors import JSON_UTF8, error_response

_PREFIX = "/pm/v1/score/"
_KEY = b"accesskey="
_CONTENT_TYPE = (b"content-type", JSON_UTF8.encode("latin-1"))
_ENDPOINT = score.__name__  # what the metrics and the log call the route: as Starlette's does


class PmserveApp(Starlette):
    """Starlette, with ``POST /pm/v1/score/{context_id}`` answered without its stack."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST" and not scope.get("root_path"):
            path: str = scope["path"]
            # Starlette's route is /pm/v1/score/{context_id}: an id of one or more characters, no '/'.
            if path.startswith(_PREFIX) and len(path) > len(_PREFIX) and "/" not in path[len(_PREFIX):]:
                await self._score(scope, receive, send, path[len(_PREFIX):])
                return
        await super().__call__(scope, receive, send)

    async def _score(self, scope: Scope, receive: Receive, send: Send, model_id: str) -> None:
        start = time.perf_counter()
        status = 500  # what the client sees if the app dies before answering
        outcome: tuple[bool | None, str | None] = (None, None)
        try:
            status, headers, body, outcome = await self._reply(scope, receive, model_id)
            await send({"type": "http.response.start", "status": status, "headers": headers})
            await send({"type": "http.response.body", "body": body})
        finally:
            record(_ENDPOINT, "POST", scope["path"], status, *outcome, time.perf_counter() - start)

    async def _reply(self, scope: Scope, receive: Receive,
                     model_id: str) -> tuple[int, list[tuple[bytes, bytes]], bytes, tuple[bool, str | None]]:
        """Status, headers, body and (flag, reason) for the log: as the Starlette route answers."""
        state = self.state
        try:
            reply = await score_reply(state.service, state, access_key(scope["query_string"]), model_id, receive,
                                      _content_length(scope))
        except Exception as exc:  # as the Starlette route's wrapper: the error table's reply
            response = error_response(exc, "score")
            return response.status_code, response.raw_headers, bytes(response.body), (False, refusal_reason(exc))
        return 200, [(b"content-length", str(len(reply)).encode()), _CONTENT_TYPE], reply, (True, None)


def access_key(query: bytes) -> str | None:
    """The ``accesskey`` query parameter, as Starlette's ``request.query_params`` reads it.

    The usual query, ``accesskey=<key>`` alone with nothing escaped, is read as it stands.
    """
    if query.startswith(_KEY) and b"&" not in query and b"%" not in query and b"+" not in query:
        return query[len(_KEY):].decode("latin-1")
    return QueryParams(query).get("accesskey")


def _content_length(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            return str(value.decode("latin-1"))
    return None
