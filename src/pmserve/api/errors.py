"""The one table from pmserve errors to HTTP replies, per endpoint.

IBM's service answered most failures with HTTP 200 and ``{"flag": false, "message": ...}``; a few
endpoints had their own odd codes, which clients depend on (wire reference §2, §7.3).  They are
all here, in one place; the rest of pmserve never thinks about HTTP.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Literal

import orjson
from starlette.responses import Response

from pmserve.errors import (
    ConflictError,
    MissingBodyError,
    NotFoundError,
    PayloadTooLargeError,
    PmserveError,
    StoreUnavailableError,
    UnauthorizedError,
)

log = logging.getLogger("pmserve.api")

Endpoint = Literal["deploy", "list", "download", "delete", "score", "metadata", "wadl", "health",
                   "file", "jobs", "jobs_submit", "console"]

JSON = "application/json"
JSON_UTF8 = "application/json;charset=UTF-8"


@dataclass(frozen=True)
class Rule:
    error: type[PmserveError]
    endpoint: Endpoint | None  # None: every endpoint
    status: int
    body: Literal["flag", "not-found-text"] = "flag"


# First match wins, so endpoint-specific rows come before general ones.
RULES: tuple[Rule, ...] = (
    Rule(UnauthorizedError, None, 401),  # reference §7.2 (IBM's Node-RED node has a 401 branch)
    Rule(NotFoundError, "download", 404),  # §2.3: 404 with a JSON flag:false body
    Rule(NotFoundError, "delete", 404, "not-found-text"),  # §2.4: plain "Not Found Model:<id>"
    Rule(MissingBodyError, "score", 500),  # §2.5: no request body at all -> 500
    Rule(NotFoundError, "file", 404),  # §1.2 #11, #12: unknown file id -> 404
    Rule(NotFoundError, "jobs", 404),  # §1.2 #16, #17: unknown job id -> 404
    Rule(PayloadTooLargeError, "file", 413),
    Rule(ConflictError, "jobs_submit", 409),  # §1.2 #13: POST of an existing job id -> 409
    Rule(ConflictError, "jobs", 409),  # PUT of a job that is running (IBM: "must not be running")
    Rule(NotFoundError, "console", 404),  # pmserve's own console view: a plain 404
    Rule(StoreUnavailableError, None, 503),
    Rule(PmserveError, "file", 500),  # §1.2: the batch endpoints failed with 500, not 200 flag:false
    Rule(PmserveError, "jobs", 500),
    Rule(PmserveError, "jobs_submit", 500),
    Rule(PmserveError, None, 200),  # §7.3: everything else is 200 flag:false
)


def flag_response(flag: bool, message: str, status: int = 200, **extra: str) -> Response:
    return Response(orjson.dumps({"flag": flag, "message": message, **extra}), status_code=status,
                    media_type=JSON)


def error_response(exc: Exception, endpoint: Endpoint) -> Response:
    """The reply for an error raised while serving ``endpoint``."""
    if not isinstance(exc, PmserveError):
        log.exception("internal error while serving %s", endpoint, exc_info=exc)
        return flag_response(False, f"internal error: {type(exc).__name__}; see the server log", 500)
    for rule in RULES:
        if isinstance(exc, rule.error) and rule.endpoint in (None, endpoint):
            if rule.body == "not-found-text" and isinstance(exc, NotFoundError):
                # IBM sent this text under a JSON content type; clients only check the status.
                return Response(f"Not Found Model:{exc.ident}", status_code=rule.status, media_type=JSON)
            return flag_response(False, exc.message, rule.status)
    raise AssertionError("unreachable: the last rule matches every PmserveError")  # pragma: no cover
