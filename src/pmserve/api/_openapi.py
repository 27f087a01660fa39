"""OpenAPI 3.1 for every route the app serves, and Swagger UI at ``/docs`` (its files come from the
``swagger-ui-py`` wheel: the page works offline).

The document is built from the app's own route table: each route's handler has an entry in
:data:`OPERATIONS` (summary, parameters, the real IBM status codes and bodies), and building fails
on a route without one or an entry without a route, so the description cannot drift from the code.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

Json = dict[str, Any]

def _parameter(name: str, where: str = "path", description: str = "") -> Json:
    """A required string parameter of the path (or query)."""
    param: Json = {"name": name, "in": where, "required": True, "schema": {"type": "string"}}
    return {**param, "description": description} if description else param


def _ref(name: str) -> Json:
    return {"$ref": f"#/components/schemas/{name}"}


_KEY = _parameter("accesskey", "query", "The access key (`pmserve keys create`). Quotes around it and '+' for "
                  "a space are tolerated, as IBM's clients send them.")
_CONTEXT_ID = _parameter("context_id", description="The model's context id, chosen by whoever deployed it.")
_FILE_ID, _JOB_ID = _parameter("file_id"), _parameter("job_id")
_JOB_DEFINITION = {"required": True, "content": {"application/json": {"schema": _ref("JobDefinition")}}}


def _json(schema: Json, description: str) -> Json:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


_UNAUTHORIZED = _json(_ref("Flag"), "No, an unknown or a revoked access key (`flag: false`).")
_UNAVAILABLE = _json(_ref("Flag"), "The store cannot be reached (`flag: false`).")
_REFUSED = "IBM's convention: a refusal is HTTP 200 with `flag: false` and the reason in `message`."

SCHEMAS: Json = {
    "Flag": {"type": "object", "required": ["flag", "message"], "properties": {
        "flag": {"type": "boolean"}, "message": {"type": "string"},
        "url": {"type": "string", "description": "The deployed model's URL (deploy only)."}}},
    "ModelList": {"type": "array", "items": {"type": "object", "required": ["stream", "id"], "properties": {
        "stream": {"type": "string", "description": "The uploaded file's name."},
        "id": {"type": "string", "description": "The context id."}}}},
    "ScoreTable": {"type": "object", "required": ["header", "data"], "properties": {
        "tablename": {"type": "string", "description": "The model's input table (a stream's source node)."},
        "header": {"type": "array", "items": {"type": "string"}},
        "data": {"type": "array", "items": {"type": "array", "items": {}}}}},
    "ScoreRequest": {"oneOf": [
        _ref("ScoreTable"),
        {"type": "array", "minItems": 1, "items": _ref("ScoreTable"),
         "description": "One table per source node of a stream with several sources."}]},
    "ScoreReply": {"type": "array", "items": {"type": "object", "required": ["header", "data"], "properties": {
        "header": {"type": "array", "items": {"type": "string"}},
        "data": {"type": "array", "items": {"type": "array", "items": {}}}}}},
    "ScoreOutcome": {"oneOf": [_ref("ScoreReply"), _ref("Flag")]},
    "ModelListOutcome": {"oneOf": [_ref("ModelList"), _ref("Flag")]},
    "Health": {"type": "object", "required": ["status"], "properties": {"status": {"const": "ok"}}},
    "Ready": {"type": "object", "required": ["status", "models", "failed"], "properties": {
        "status": {"enum": ["ready", "loading models", "warm-up failed", "store unavailable"]},
        "models": {"type": "integer", "description": "Compiled models in memory."},
        "failed": {"type": "array", "items": {"type": "string"},
                   "description": "Deployed models that cannot be loaded, with the reason."},
        "message": {"type": "string"}}},
    "ModelFields": {"type": "object", "required": ["id", "stream", "format", "tablename", "inputs", "outputs"],
                    "properties": {
                        "id": {"type": "string"}, "stream": {"type": "string"}, "format": {"type": "string"},
                        "tablename": {"type": "string"},
                        "inputs": {"type": "array", "items": _ref("FieldDescription")},
                        "outputs": {"type": "array", "items": _ref("FieldDescription")}}},
    "FileList": {"type": "array", "items": {"type": "string"}, "description": "File ids (`[]` when none)."},
    "JobStatus": {"type": "object", "required": ["jobId", "jobStatus"], "properties": {
        "jobId": {"type": "string"},
        "jobStatus": {"enum": ["PENDING", "RUNNING", "CANCELING", "SUCCESS", "FAILED", "CANCELED"]},
        "dataUrl": {"type": "string", "description": "The result file, on success of a job exporting to a file."},
        "failureMsg": {"type": "string"},
        "rowsDone": {"type": "integer"}, "rowsFailed": {"type": "integer"}}},
    "Job": {"type": "object", "required": ["id", "action", "status", "namespace", "storageId", "createdAt"],
            "description": "The job definition as submitted (reference §2.8), echoed with its state.",
            "properties": {
                "id": {"type": "string"}, "action": {"type": "string"},
                "model": {"type": "object", "properties": {"id": {"type": "string"}, "name": {"type": "string"}}},
                "status": {"type": "string"}, "namespace": {"type": "string"}, "storageId": {"type": "string"},
                "createdAt": {"type": "integer", "description": "Epoch milliseconds."},
                "startedAt": {"type": "integer"}, "finishedAt": {"type": "integer"},
                "result": _ref("JobStatus"),
                "progress": {"type": "object", "properties": {
                    "rowsDone": {"type": "integer"}, "rowsFailed": {"type": "integer"},
                    "attempts": {"type": "integer"}}}}},
    "JobDefinition": {"type": "object", "required": ["action", "model"], "properties": {
        "action": {"enum": ["TRAINING", "EVALUATION", "AUTO_REFRESH", "BATCH_SCORE", "RUN_STREAM"],
                   "description": "pmserve runs BATCH_SCORE and RUN_STREAM; the others are refused."},
        "model": {"type": "object", "required": ["id"], "properties": {
            "id": {"type": "string", "description": "The file-store id of the model (a .str stream or PMML)."},
            "name": {"type": "string"}}},
        "dbDefinitions": {"type": "object"}, "setting": {"type": "object"}, "engine": {"enum": ["local", "spark"]}},
                      "description": "IBM's job definition (reference §2.8): the model's file id, inputs from "
                                     "`dbDefinitions` tables or stored files, the export, `engine`."},
    "FieldDescription": {"type": "object", "required": ["name", "type", "measure", "values", "intervals", "list"],
                         "properties": {
                             "name": {"type": "string"}, "type": {"type": "string"},
                             "measure": {"enum": ["continuous", "categorical", "ordinal"]},
                             "values": {"type": "array", "items": {"type": "string"}},
                             "intervals": {"type": "array", "items": {"type": "object", "properties": {
                                 "closure": {"type": "string"}, "left": {"type": ["number", "null"]},
                                 "right": {"type": ["number", "null"]}}}},
                             "list": {"type": "boolean"}}},
}


@dataclass(frozen=True)
class Operation:
    """How one handler is described: the parts of an OpenAPI operation object."""

    summary: str
    tag: str
    responses: Mapping[str, Json]
    parameters: Sequence[Json] = (_KEY,)
    request_body: Json | None = None
    description: str = ""
    extra: Json = field(default_factory=dict)

    def document(self, path: str, method: str, operation_id: str) -> Json:
        params = [*self.parameters]
        if "{context_id}" in path and _CONTEXT_ID not in params:
            params.insert(0, _CONTEXT_ID)
        op: Json = {"operationId": operation_id, "summary": self.summary, "tags": [self.tag],
                    "responses": dict(self.responses)}
        if self.description:
            op["description"] = self.description
        if params:
            op["parameters"] = params
        if self.request_body is not None:
            op["requestBody"] = self.request_body
        op.update(self.extra)
        return op


_UPLOAD = {"required": True, "content": {"multipart/form-data": {"schema": {
    "type": "object", "properties": {
        "model_file": {"type": "string", "format": "binary",
                       "description": "PMML (.pmml, .xml, gzip) or an SPSS Modeler stream (.str); 'file' works too."},
        "tablename": {"type": "string", "description": "Fix the input table name score requests must use."}}}}}}

# Keyed by the handler's __name__ (what Starlette's route table holds).

def _job_write(summary: str, answers: Json, *, conflict: str, invalid: str) -> Operation:
    """An operation taking a job definition in its body and the job id in its path."""
    refusals = {"409": _json(_ref("Flag"), conflict), "500": _json(_ref("Flag"), invalid),
                "401": _UNAUTHORIZED, "503": _UNAVAILABLE}
    return Operation(summary, "jobs", {**answers, **refusals}, request_body=_JOB_DEFINITION,
                     parameters=(_KEY, _JOB_ID))


OPERATIONS: Mapping[str, Operation] = {
    "deploy": Operation(
        "Deploy or refresh a model under a context id", "models",
        {"200": _json(_ref("Flag"), "`flag: true` and IBM's upload/update wording; " + _REFUSED
                      + " The model in place before keeps serving."),
         "401": _UNAUTHORIZED, "503": _UNAVAILABLE},
        request_body=_UPLOAD),
    "list_models": Operation(
        "List the deployed models", "models",
        {"200": _json(_ref("ModelListOutcome"), "The models of the key's tenant (`[]` when none)."),
         "401": _UNAUTHORIZED, "503": _UNAVAILABLE}),
    "download": Operation(
        "Download the deployed file, byte for byte", "models",
        {"200": {"description": "The file as uploaded.",
                 "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}},
         "404": _json(_ref("Flag"), "No model with this context id."),
         "401": _UNAUTHORIZED, "503": _UNAVAILABLE}),
    "delete": Operation(
        "Undeploy a model", "models",
        {"200": _json(_ref("Flag"), "`flag: true`: deleted."),
         # No `content` here on purpose: IBM's body is the bare text `Not Found Model:<id>` under a JSON
         # content type, which no media type object can describe truthfully.
         "404": {"description": "No model with this context id: the bare text `Not Found Model:<id>`, sent as "
                                "IBM's service sent it, under `Content-Type: application/json` (not valid JSON; "
                                "clients check the status only)."},
         "401": _UNAUTHORIZED, "503": _UNAVAILABLE}),
    "score": Operation(
        "Score records", "scoring",
        {"200": _json(_ref("ScoreOutcome"), "The input columns and the model's results, one table per table "
                                            "sent; " + _REFUSED),
         "500": {"description": "The request had no body at all (IBM's status for it)."},
         "401": _UNAUTHORIZED, "503": _UNAVAILABLE},
        request_body={"required": True, "content": {"application/json": {"schema": _ref("ScoreRequest")}}},
        description="Numbers may be sent as JSON numbers or as strings; `null` or `\"\"` is a missing value."),
    "metadata": Operation(
        "The model's fields as SPSS metadata XML", "models",
        {"200": _json(_ref("Flag"), "`message` holds the XML (with `metadatatype=score`: the input and output "
                                    "documents, labelled as IBM's service did); " + _REFUSED),
         "401": _UNAUTHORIZED, "503": _UNAVAILABLE},
        parameters=(_KEY, {"name": "metadatatype", "in": "query", "required": False,
                           "schema": {"enum": ["score"]}})),
    "wadl": Operation(
        "The API's WADL description (IBM's service had one)", "models",
        {"200": {"description": "WADL.", "content": {"application/vnd.sun.wadl+xml": {"schema": {"type": "string"}}}}},
        parameters=()),
    "health": Operation(
        "Liveness", "operations", {"200": _json(_ref("Health"), "The process answers.")}, parameters=()),
    "ready": Operation(
        "Readiness: the store answers and every deployed model is compiled", "operations",
        {"200": _json(_ref("Ready"), "Ready."), "503": _json(_ref("Ready"), "Not ready yet, or the store is down.")},
        parameters=()),
    "metrics_endpoint": Operation(
        "Prometheus metrics", "operations",
        {"200": {"description": "Prometheus' text exposition format, summed over worker processes.",
                 "content": {"text/plain": {"schema": {"type": "string"}}}}},
        parameters=()),
    "model_fields": Operation(
        "A model's fields with types, measures and valid values (the web console's view)", "console",
        {"200": _json(_ref("ModelFields"), "The inputs and outputs."),
         "404": _json(_ref("Flag"), "No model with this context id."),
         "401": _UNAUTHORIZED, "503": _UNAVAILABLE}),
    "put_file": Operation(
        "Store a file (a stream, a model or job input) in the batch file store", "files",
        {"200": {"description": "The stored file's URL, as plain text.",
                 "content": {"text/plain": {"schema": {"type": "string"}}}},
         "413": _json(_ref("Flag"), "Larger than PMSERVE_MAX_FILE_MB."),
         "500": _json(_ref("Flag"), "No multipart body or no file part (IBM's status for it)."),
         "401": _UNAUTHORIZED, "503": _UNAVAILABLE},
        request_body={"required": True, "content": {"multipart/form-data": {"schema": {
            "type": "object", "properties": {"file": {"type": "string", "format": "binary",
                                                      "description": "One file part, any name."}}}}}},
        parameters=(_KEY, _FILE_ID)),
    "list_files": Operation(
        "List the stored files", "files",
        {"200": _json(_ref("FileList"), "File ids."), "500": _json(_ref("Flag"), "The store failed."),
         "401": _UNAUTHORIZED, "503": _UNAVAILABLE}),
    "get_file": Operation(
        "Download a stored file (also a job's result: its dataUrl)", "files",
        {"200": {"description": "The bytes.",
                 "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}},
         "404": _json(_ref("Flag"), "No such file."), "500": _json(_ref("Flag"), "The store failed."),
         "401": _UNAUTHORIZED, "503": _UNAVAILABLE},
        parameters=(_KEY, _FILE_ID)),
    "delete_file": Operation(
        "Delete a stored file", "files",
        {"200": {"description": "`1`, as plain text.", "content": {"text/plain": {"schema": {"type": "string"}}}},
         "404": _json(_ref("Flag"), "No such file."), "500": _json(_ref("Flag"), "The store failed."),
         "401": _UNAUTHORIZED, "503": _UNAVAILABLE},
        parameters=(_KEY, _FILE_ID)),
    "submit_job": _job_write(
        "Submit a new batch job",
        {"200": _json(_ref("Job"), "The job, PENDING (a missing input is accepted and fails later, as IBM did).")},
        conflict="A job with this id exists.", invalid="An empty or invalid job definition (IBM's status for it)."),
    "put_job": _job_write(
        "Create or resubmit a batch job (not while it runs)",
        {"201": _json(_ref("Job"), "Created."), "200": _json(_ref("Job"), "Resubmitted.")},
        conflict="The job is running.", invalid="An empty or invalid job definition."),
    "list_jobs": Operation(
        "List the batch jobs", "jobs",
        {"200": _json({"type": "array", "items": _ref("Job")}, "Every job of the key's tenant."),
         "500": _json(_ref("Flag"), "The store failed."), "401": _UNAUTHORIZED, "503": _UNAVAILABLE}),
    "get_job": Operation(
        "One batch job with its state and result", "jobs",
        {"200": _json(_ref("Job"), "The job."), "404": _json(_ref("Flag"), "No such job."),
         "500": _json(_ref("Flag"), "The store failed."), "401": _UNAUTHORIZED, "503": _UNAVAILABLE},
        parameters=(_KEY, _JOB_ID)),
    "get_status": Operation(
        "A batch job's status", "jobs",
        {"200": _json(_ref("JobStatus"), "The status."), "404": _json(_ref("Flag"), "No such job."),
         "500": _json(_ref("Flag"), "The store failed."), "401": _UNAUTHORIZED, "503": _UNAVAILABLE},
        parameters=(_KEY, _JOB_ID)),
    "cancel_job": Operation(
        "Cancel a batch job and keep its record (pmserve's extension; DELETE cancels and forgets)", "jobs",
        {"200": _json(_ref("JobStatus"), "The status after the request."),
         "404": _json(_ref("Flag"), "No such job."), "500": _json(_ref("Flag"), "The store failed."),
         "401": _UNAUTHORIZED, "503": _UNAVAILABLE},
        parameters=(_KEY, _JOB_ID)),
    "delete_jobs": Operation(
        "Delete (and cancel) one job or a comma-separated list", "jobs",
        {"200": {"description": "How many were deleted, as plain text (`0` for unknown ids).",
                 "content": {"text/plain": {"schema": {"type": "string"}}}},
         "500": _json(_ref("Flag"), "The store failed."), "401": _UNAUTHORIZED, "503": _UNAVAILABLE},
        parameters=(_KEY, _parameter("job_ids"))),
    "root": Operation("Redirect to the web console", "console",
                      {"307": {"description": "To `/console/`."}}, parameters=()),
    "page": Operation("The web console (HTML)", "console",
                      {"200": {"description": "The page.", "content": {"text/html": {"schema": {"type": "string"}}}}},
                      parameters=()),
    "openapi_json": Operation("This OpenAPI document", "operations",
                              {"200": {"description": "OpenAPI 3.1.",
                                       "content": {"application/json": {"schema": {"type": "object"}}}}},
                              parameters=()),
    "docs_page": Operation("Swagger UI for this API (works offline)", "operations",
                           {"200": {"description": "The page.",
                                    "content": {"text/html": {"schema": {"type": "string"}}}}},
                           parameters=()),
}


class UndocumentedRouteError(RuntimeError):
    """A route without an OpenAPI description, or a description without a route (a bug in pmserve)."""


def build(routes: Sequence[BaseRoute], version: str) -> Json:
    """The OpenAPI document for ``routes`` (static-file mounts are not part of the API)."""
    paths: dict[str, Json] = {}
    described: set[str] = set()
    ids: set[str] = set()
    for route in routes:
        if isinstance(route, Mount):
            continue
        if not isinstance(route, Route):
            raise UndocumentedRouteError(f"route {route!r} is neither a Route nor a static Mount")
        handler = route.endpoint.__name__
        if handler not in OPERATIONS:
            raise UndocumentedRouteError(f"route {route.path} ({handler}) has no entry in OPERATIONS")
        described.add(handler)
        for method in sorted((route.methods or set()) - {"HEAD"}):
            # A handler served at two paths (/pm/v1/model and /pm/v1/model/) gets numbered ids.
            operation_id = f"{handler}_{method.lower()}"
            while operation_id in ids:
                operation_id += "_"
            ids.add(operation_id)
            paths.setdefault(route.path, {})[method.lower()] = OPERATIONS[handler].document(
                route.path, method.lower(), operation_id)
    unused = set(OPERATIONS) - described
    if unused:
        raise UndocumentedRouteError(f"OPERATIONS describes handlers no route serves: {sorted(unused)}")
    return {
        "openapi": "3.1.0",
        "info": {"title": "pmserve", "version": version, "license": {"name": "Apache-2.0",
                                                                       "identifier": "Apache-2.0"},
                 "description": "Predictive-model deployment and scoring, wire-compatible with IBM Predictive "
                                "Analytics' `/pm/v1` API. Refusals follow IBM: HTTP 200 with `flag: false`."},
        "paths": paths,
        "components": {"schemas": SCHEMAS,
                       "securitySchemes": {"accesskey": {"type": "apiKey", "in": "query", "name": "accesskey"}}},
    }


_DOCS_PAGE = resources.files("pmserve.api").joinpath("docs", "index.html")


async def openapi_json(request: Request) -> Response:
    return Response(orjson.dumps(request.app.state.openapi), media_type="application/json")


async def docs_page(request: Request) -> Response:
    return Response(_DOCS_PAGE.read_bytes(), media_type="text/html; charset=utf-8",
                    headers={"Content-Security-Policy": "default-src 'self'; img-src 'self' data:; "
                                                        "style-src 'self' 'unsafe-inline'; frame-ancestors 'none'"})


def routes() -> list[BaseRoute]:
    return [
        Route("/openapi.json", openapi_json, methods=["GET"]),
        Route("/docs", docs_page, methods=["GET"]),
        # The swagger-ui-py wheel's copy of Swagger UI (found, not imported: its Python side is not used).
        Mount("/docs/static", StaticFiles(packages=[("swagger_ui", "static")]), name="swagger-ui"),
        Mount("/docs/app", StaticFiles(packages=[("pmserve.api", "docs")]), name="docs-app"),
    ]
