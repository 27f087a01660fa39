"""The ``/pm/v1`` adapter: IBM Predictive Analytics' online endpoints on top of the service core."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from urllib.parse import quote

import numpy as np
import orjson
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import State, UploadFile
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Receive

from pmserve.api import _metadata, _wadl
from pmserve.api._access_log import note_outcome
from pmserve.api._bodies import read_form, receive_body, run_heavy, run_heavy_on, too_large
from pmserve.api.errors import JSON, JSON_UTF8, Endpoint, error_response, flag_response
from pmserve.errors import BadRequestError, MissingBodyError, PmserveError, excerpt
from pmserve.service import Deployed, ScoreTable, Service, Tenant, parse_score_request

MODEL_PARTS = ("model_file", "file")  # the docs say model_file; IBM's own notebook sent file
# Bodies above this size are decoded off the event loop (small ones cost microseconds).
_INLINE_BYTES = 64 * 1024

Handler = Callable[[Request], Awaitable[Response]]


def _endpoint(name: Endpoint) -> Callable[[Callable[[Request, Service], Awaitable[Response]]], Handler]:
    """Wrap a handler: hand it the service, turn every error into the reply the table says."""
    def wrap(handler: Callable[[Request, Service], Awaitable[Response]]) -> Handler:
        async def endpoint(request: Request) -> Response:
            try:
                response = await handler(request, request.app.state.service)
            except Exception as exc:
                note_outcome(request.scope, False, refusal_reason(exc))
                return error_response(exc, name)
            note_outcome(request.scope, True)
            return response
        endpoint.__name__ = handler.__name__
        return endpoint
    return wrap


def refusal_reason(exc: Exception) -> str:
    """What the access log says of a refused request: our error's message, else the error's type."""
    return str(exc) if isinstance(exc, PmserveError) else type(exc).__name__


async def _tenant(request: Request, service: Service) -> Tenant:
    """The caller's tenant, looked up off the event loop (the store may be asked)."""
    return await run_in_threadpool(service.authenticate, request.query_params.get("accesskey"))


@_endpoint("deploy")
async def deploy(request: Request, service: Service) -> Response:
    tenant = await _tenant(request, service)
    model_id = request.path_params["context_id"]
    filename, content, tablename = await _read_upload(request, service.settings.max_upload_bytes)
    result = await run_heavy(request, service.deploy, tenant, model_id, filename, content, tablename=tablename)
    verb = "upload" if result.created else "update"
    # IBM's reply put the access key in this URL; no client reads it, and a key in a reply ends up
    # in logs and screenshots, so pmserve leaves it out.
    url = f"{str(request.base_url).rstrip('/')}/pm/v1/model/{quote(model_id, safe='')}"
    return flag_response(True, f"success to {verb} stream with given context id {model_id}", url=url)


@_endpoint("list")
async def list_models(request: Request, service: Service) -> Response:
    tenant = await _tenant(request, service)
    models = await run_in_threadpool(service.list_models, tenant)
    return Response(orjson.dumps([{"stream": m.filename, "id": m.model_id} for m in models]), media_type=JSON)


@_endpoint("download")
async def download(request: Request, service: Service) -> Response:
    tenant = await _tenant(request, service)
    record, content = await run_in_threadpool(service.download, tenant, request.path_params["context_id"])
    return Response(content, media_type="application/octet-stream",
                    headers={"Content-Disposition": _attachment(record.filename)})


@_endpoint("delete")
async def delete(request: Request, service: Service) -> Response:
    tenant = await _tenant(request, service)
    model_id = request.path_params["context_id"]
    await run_in_threadpool(service.delete, tenant, model_id)
    return flag_response(True, f"success to delete stream with specified id {model_id}")


@_endpoint("score")
async def score(request: Request, service: Service) -> Response:
    """The route of ``/pm/v1/score`` for Starlette (the app answers it itself, see
    :mod:`pmserve.api._score_route`; this route serves the OpenAPI document and a mounted app)."""
    reply = await score_reply(service, request.app.state, request.query_params.get("accesskey"),
                              request.path_params["context_id"], request.receive,
                              request.headers.get("content-length"))
    return Response(reply, media_type=JSON_UTF8)


async def score_reply(service: Service, state: State, raw_key: str | None, model_id: str, receive: Receive,
                      declared: str | None) -> bytes:
    """The reply of a score request: its key, the context id, its body's ``receive`` and the
    Content-Length header (``declared``).

    Nothing blocks the event loop: the key and the model come from memory (else a thread asks
    the store and compiles), and only a request cheaper than a thread hop is scored in place."""
    hit = service.cached(raw_key, model_id)
    tenant = hit[0] if hit is not None else await run_heavy_on(state, service.authenticate, raw_key)
    settings = service.settings
    body = await receive_body(receive, declared, settings.max_score_body_bytes, settings.request_timeout_s,
                              "PMSERVE_MAX_SCORE_BODY_MB", "score request")
    if not body or body.isspace():
        raise MissingBodyError("the score request has no body; "
                               "expected {\"header\": [...], \"data\": [[...]]}")
    if hit is None or len(body) > _INLINE_BYTES:
        # A lookup in the store, a compile, or decoding a big request: off the event loop.
        return await run_heavy_on(state, _decode_score_encode, service, tenant, model_id, body)
    deployed = hit[1]
    tables = _decode(service, body)
    if service.inline(deployed, sum(len(t.data) for t in tables)):
        return _encode(service.score_with(tenant, model_id, deployed, tables))
    return await run_heavy_on(state, _score_encode, service, tenant, model_id, deployed, tables)


def _decode(service: Service, body: bytes) -> list[ScoreTable]:
    try:
        decoded = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise BadRequestError(f"the score request body is not valid JSON: {exc}") from None
    settings = service.settings
    return parse_score_request(decoded, max_rows=settings.max_score_rows, max_cells=settings.max_score_cells,
                               no_booleans=_no_booleans(body), owned=True)


#: Past this many candidate bytes, :func:`_no_booleans` searches for the words themselves.
_CANDIDATES = 64


def _no_booleans(body: bytes) -> bool:
    """Whether the JSON text holds neither ``true`` nor ``false`` (so no cell is a boolean).

    ``b"true" in body`` runs at about 1 GB/s over digits (their bytes defeat the search's skip
    table); numbers never hold a ``u`` or an ``l``, so a big body is searched for those bytes with
    numpy, and each one found is looked at in place - the same answer, a few times faster.
    """
    if len(body) <= _INLINE_BYTES:
        return b"true" not in body and b"false" not in body
    text = np.frombuffer(body, dtype=np.uint8)
    for byte, word in ((ord("u"), b"true"), (ord("l"), b"false")):
        found = np.flatnonzero(text == byte)
        if found.size > _CANDIDATES:
            return b"true" not in body and b"false" not in body
        # The byte is the third of either word: a word starting at p - 2 holds it at p.
        if any(body[p - 2:p - 2 + len(word)] == word for p in found.tolist() if p >= 2):
            return False
    return True


def _encode(replies: list[ScoreTable]) -> bytes:
    return orjson.dumps([{"header": r.header, "data": r.data} for r in replies], option=orjson.OPT_SERIALIZE_NUMPY)


def _decode_score_encode(service: Service, tenant: Tenant, model_id: str, body: bytes) -> bytes:
    return _encode(service.score_tables(tenant, model_id, _decode(service, body)))


def _score_encode(service: Service, tenant: Tenant, model_id: str, deployed: Deployed,
                  tables: list[ScoreTable]) -> bytes:
    return _encode(service.score_with(tenant, model_id, deployed, tables))


@_endpoint("metadata")
async def metadata(request: Request, service: Service) -> Response:
    tenant = await _tenant(request, service)
    model_id = request.path_params["context_id"]
    kind = request.query_params.get("metadatatype")
    if kind not in (None, "", "score"):
        raise BadRequestError(f"metadatatype must be 'score' or left out; got {excerpt(kind)}")
    meta = await run_heavy(request, service.metadata, tenant, model_id)  # may compile
    if kind == "score":
        text = _metadata.score_document(model_id, meta.tablename, meta.inputs, meta.outputs, reply=meta.reply)
    else:
        text = _metadata.tables_document(meta.tablename, meta.inputs, tables=meta.tables)
    return Response(orjson.dumps({"flag": True, "message": text}), media_type=JSON_UTF8)


@_endpoint("wadl")
async def wadl(request: Request, service: Service) -> Response:
    base = f"{str(request.base_url).rstrip('/')}/pm/v1/"
    return Response(_wadl.document(base), media_type="application/vnd.sun.wadl+xml")


def routes() -> list[Route]:
    one = "/pm/v1/model/{context_id}"
    return [
        # First: Starlette tries the routes in order, and scoring is most of the traffic.
        Route("/pm/v1/score/{context_id}", score, methods=["POST"]),
        Route("/pm/v1/model", list_models, methods=["GET"]),
        Route("/pm/v1/model/", list_models, methods=["GET"]),
        Route(one, deploy, methods=["PUT"], name="deploy"),
        Route(one, download, methods=["GET"], name="download"),
        Route(one, delete, methods=["DELETE"], name="delete"),
        Route("/pm/v1/metadata/{context_id}", metadata, methods=["GET"]),
        Route("/pm/v1/wadl", wadl, methods=["OPTIONS", "GET"]),
    ]


# -- uploads --------------------------------------------------------------------------------------

async def _read_upload(request: Request, limit: int) -> tuple[str, bytes, str | None]:
    """The model file of a multipart deploy request: (file name, bytes, optional tablename)."""
    form = await read_form(request, limit, "PMSERVE_MAX_UPLOAD_MB", "deploy request",
                           expected="the model file as multipart form part 'model_file' (or 'file')")
    try:
        files = {k: v for k, v in form.multi_items() if isinstance(v, UploadFile)}
        part = next((files[p] for p in MODEL_PARTS if p in files), None)
        if part is None:
            got = ", ".join(excerpt(k) for k in files) or "none"
            raise BadRequestError(f"expected the model file in multipart form part 'model_file' (or 'file'); "
                                  f"got file part(s) {got}")
        content = await part.read()
        if len(content) > limit:
            raise too_large("upload", len(content), limit, "PMSERVE_MAX_UPLOAD_MB")
        table = form.get("tablename")
        tablename = table if isinstance(table, str) and table.strip() else None
        filename = part.filename or f"{request.path_params['context_id']}.pmml"
        return filename.replace("\\", "/").rsplit("/", 1)[-1], content, tablename
    finally:
        await form.close()


#: Characters a plain ``filename=`` parameter may hold unquoted (RFC 6266 token).
_TOKEN = re.compile(r"[A-Za-z0-9._-]+")
_NOT_PLAIN = re.compile(r"[^\x20-\x7e]|[\"\\]")


def _attachment(filename: str) -> str:
    """A Content-Disposition value for any stored name: an ASCII fallback, and RFC 6266
    ``filename*`` (UTF-8, percent-encoded) whenever the name is not a plain token."""
    if _TOKEN.fullmatch(filename):
        return f"attachment; filename={filename}"
    fallback = _NOT_PLAIN.sub("_", filename)
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"
