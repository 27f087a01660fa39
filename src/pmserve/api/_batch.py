"""The ``/pm/v1/file`` and ``/pm/v1/jobs`` adapters: IBM's batch endpoints (reference §1.2, §2.8).

Uploads are parsed by Starlette's multipart parser, which spools file parts to disk past 1 MiB,
and handed to the store as a file: memory does not grow with the file's size.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any
from urllib.parse import quote

import orjson
from starlette.concurrency import iterate_in_threadpool, run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route
from starlette.types import Message, Receive

from pmserve.api.errors import JSON, Endpoint, error_response
from pmserve.batch import BatchService, job_json, job_status
from pmserve.errors import MissingBodyError, PayloadTooLargeError
from pmserve.service import Service, Tenant
from pmserve.store import JobRecord

TEXT = "text/plain"
Handler = Callable[[Request], Awaitable[Response]]


def _endpoint(name: Endpoint) -> Callable[[Callable[[Request, BatchService, Tenant], Awaitable[Response]]], Handler]:
    """Wrap a handler: authenticate, hand it the batch service, turn errors into the table's replies."""
    def wrap(handler: Callable[[Request, BatchService, Tenant], Awaitable[Response]]) -> Handler:
        async def endpoint(request: Request) -> Response:
            try:
                service: Service = request.app.state.service
                tenant = await run_in_threadpool(service.authenticate, request.query_params.get("accesskey"))
                return await handler(request, request.app.state.batch, tenant)
            except Exception as exc:
                return error_response(exc, name)
        endpoint.__name__ = handler.__name__
        return endpoint
    return wrap


def _file_base(request: Request) -> str:
    return f"{str(request.base_url).rstrip('/')}/pm/v1/file"


# -- files ----------------------------------------------------------------------------------------

@_endpoint("file")
async def put_file(request: Request, batch: BatchService, tenant: Tenant) -> Response:
    file_id = request.path_params["file_id"]
    limit = batch.settings.max_file_bytes
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit + 64 * 1024:
        raise PayloadTooLargeError(f"the upload is {declared} bytes; the limit is {limit} bytes (PMSERVE_MAX_FILE_MB)")
    content_type = request.headers.get("content-type", "")
    if not content_type.startswith("multipart/form-data"):
        # IBM answered 500 to an upload without a multipart body (reference §1.2 #9).
        raise MissingBodyError(f"the upload must be multipart/form-data with one file part; "
                               f"got content type {content_type or 'none'!r}")
    counted = Request(request.scope, _counting(request.receive, limit + 64 * 1024))
    form = await counted.form(max_files=1, max_fields=16)
    try:
        files = [v for _, v in form.multi_items() if isinstance(v, UploadFile)]
        if not files:
            raise MissingBodyError("the upload has no file part; send the file as one multipart part "
                                   "(any name: IBM's docs say 'model_file', its notebook sent 'file')")
        await run_in_threadpool(batch.put_file, tenant, file_id, files[0].file)
    finally:
        await form.close()
    return Response(f"{_file_base(request)}/{quote(file_id, safe='')}", media_type=TEXT)


@_endpoint("file")
async def list_files(request: Request, batch: BatchService, tenant: Tenant) -> Response:
    files = await run_in_threadpool(batch.list_files, tenant)
    return Response(orjson.dumps([f.file_id for f in files]), media_type=JSON)


@_endpoint("file")
async def get_file(request: Request, batch: BatchService, tenant: Tenant) -> Response:
    file_id = request.path_params["file_id"]
    record, chunks = await run_in_threadpool(batch.read_file, tenant, file_id)
    return StreamingResponse(_stream(chunks), media_type="application/octet-stream",
                             headers={"Content-Length": str(record.size),
                                      "Content-Disposition": f"attachment; filename*=UTF-8''{quote(file_id, safe='')}"})


@_endpoint("file")
async def delete_file(request: Request, batch: BatchService, tenant: Tenant) -> Response:
    await run_in_threadpool(batch.delete_file, tenant, request.path_params["file_id"])
    return Response("1", media_type=TEXT)


# -- jobs -----------------------------------------------------------------------------------------

@_endpoint("jobs_submit")
async def submit_job(request: Request, batch: BatchService, tenant: Tenant) -> Response:
    record, _ = await run_in_threadpool(batch.submit, tenant, request.path_params["job_id"], await request.body(),
                                        replace=False)
    return _json(job_json(record, _file_base(request)))


@_endpoint("jobs")
async def put_job(request: Request, batch: BatchService, tenant: Tenant) -> Response:
    record, created = await run_in_threadpool(batch.submit, tenant, request.path_params["job_id"],
                                              await request.body(), replace=True)
    return _json(job_json(record, _file_base(request)), 201 if created else 200)


@_endpoint("jobs")
async def list_jobs(request: Request, batch: BatchService, tenant: Tenant) -> Response:
    records = await run_in_threadpool(batch.jobs, tenant)
    base = _file_base(request)
    return _json([job_json(r, base) for r in records])


@_endpoint("jobs")
async def get_job(request: Request, batch: BatchService, tenant: Tenant) -> Response:
    return await _one_job(request, batch.job, tenant, job_json)


@_endpoint("jobs")
async def get_status(request: Request, batch: BatchService, tenant: Tenant) -> Response:
    return await _one_job(request, batch.job, tenant, job_status)


@_endpoint("jobs")
async def cancel_job(request: Request, batch: BatchService, tenant: Tenant) -> Response:
    """An extension: stop a job but keep its record (DELETE stops it and forgets it)."""
    return await _one_job(request, batch.cancel, tenant, job_status)


async def _one_job(request: Request, action: Callable[[Tenant, str], JobRecord], tenant: Tenant,
                   render: Callable[[JobRecord, str], dict[str, Any]]) -> Response:
    """The job named in the path, after ``action``, rendered with links to its files."""
    record = await run_in_threadpool(action, tenant, request.path_params["job_id"])
    return _json(render(record, _file_base(request)))


@_endpoint("jobs")
async def delete_jobs(request: Request, batch: BatchService, tenant: Tenant) -> Response:
    ids = request.path_params["job_ids"].split(",")
    count = await run_in_threadpool(batch.delete_jobs, tenant, ids)
    return Response(str(count), media_type=TEXT)


def routes() -> list[Route]:
    one_file = "/pm/v1/file/{file_id}"
    return [
        Route("/pm/v1/file", list_files, methods=["GET"]),
        Route("/pm/v1/file/", list_files, methods=["GET"]),
        Route(one_file, put_file, methods=["PUT"]),
        Route(one_file, get_file, methods=["GET"]),
        Route(one_file, delete_file, methods=["DELETE"]),
        Route("/pm/v1/jobs", list_jobs, methods=["GET"]),
        Route("/pm/v1/jobs/", list_jobs, methods=["GET"]),
        Route("/pm/v1/jobs/{job_id}/status", get_status, methods=["GET"]),
        Route("/pm/v1/jobs/{job_id}/cancel", cancel_job, methods=["POST"]),
        Route("/pm/v1/jobs/{job_id}", submit_job, methods=["POST"]),
        Route("/pm/v1/jobs/{job_id}", put_job, methods=["PUT"]),
        Route("/pm/v1/jobs/{job_id}", get_job, methods=["GET"]),
        Route("/pm/v1/jobs/{job_ids}", delete_jobs, methods=["DELETE"]),
    ]


def _json(body: object, status: int = 200) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type=JSON)


async def _stream(chunks: Iterator[bytes]) -> AsyncIterator[bytes]:
    async for chunk in iterate_in_threadpool(chunks):
        yield chunk


def _counting(receive: Receive, limit: int) -> Receive:
    """A receive channel that refuses a body longer than ``limit`` (one sent without Content-Length)."""
    seen = 0

    async def counted() -> Message:
        nonlocal seen
        message = await receive()
        seen += len(message.get("body", b""))
        if seen > limit:
            raise PayloadTooLargeError(f"the upload is over the limit of {limit} bytes (PMSERVE_MAX_FILE_MB)")
        return message
    return counted


__all__ = ["routes"]
