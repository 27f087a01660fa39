"""The web console: one static page (HTML, CSS and a small ES module shipped in the package, no
CDN) that drives the ``/pm/v1`` API from the browser, plus the one JSON view it needs that the IBM
API does not give: a model's fields with their types, measures and valid values.

The access key never reaches the server's pages: the page asks for it, keeps it in the tab's
``sessionStorage`` and sends it as ``?accesskey=`` like any other client.
"""

from __future__ import annotations

from importlib import resources

import orjson
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from pmserve.api.errors import JSON_UTF8, error_response
from pmserve.pmml import Field
from pmserve.service import Service

_PAGE = resources.files("pmserve.api").joinpath("console", "index.html")
# The page is static; its headers keep it from being framed or sniffed, and allow nothing remote.
_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data: blob:; object-src 'none'; "
                               "base-uri 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


async def root(request: Request) -> Response:
    return RedirectResponse(url="/console/", status_code=307)


async def page(request: Request) -> Response:
    return Response(_PAGE.read_bytes(), media_type="text/html; charset=utf-8", headers=_HEADERS)


async def model_fields(request: Request) -> Response:
    """``GET /console/api/models/{id}?accesskey=KEY``: the model's inputs and outputs as JSON."""
    service: Service = request.app.state.service
    try:
        tenant = service.authenticate(request.query_params.get("accesskey"))
        model_id = request.path_params["context_id"]
        deployed = service.model(tenant, model_id)
        meta = service.metadata(tenant, model_id)
    except Exception as exc:
        return error_response(exc, "console")
    body = {
        "id": model_id,
        "stream": deployed.record.filename,
        "format": deployed.model.format,
        "tablename": meta.tablename,
        "inputs": [describe(f) for f in meta.inputs],
        "outputs": [describe(f) for f in meta.outputs],
    }
    return Response(orjson.dumps(body), media_type=JSON_UTF8, headers={"Cache-Control": "no-store"})


def describe(field: Field) -> dict[str, object]:
    return {
        "name": field.name,
        "type": field.data_type.value,
        "measure": field.optype,
        "values": list(field.values),
        "intervals": [{"closure": i.closure, "left": i.left, "right": i.right} for i in field.intervals],
        "list": field.collection,
    }


def routes() -> list[BaseRoute]:
    return [
        Route("/", root, methods=["GET"]),
        Route("/console", root, methods=["GET"]),
        Route("/console/", page, methods=["GET"]),
        Route("/console/api/models/{context_id}", model_fields, methods=["GET"]),
        Mount("/console/static", StaticFiles(packages=[("pmserve.api", "console")]), name="console-static"),
    ]
