"""The batch half of the core, with no transport: the file store and the jobs of each tenant.

The ``/pm/v1/file`` and ``/pm/v1/jobs`` adapters and the job runner call one :class:`BatchService`.
Jobs live in the store; this object only checks and records them - the runner runs them.
"""

from __future__ import annotations

import datetime as _dt
import time
from collections.abc import Iterator, Sequence
from typing import Any, BinaryIO

import orjson

from pmserve.batch import _spec
from pmserve.errors import BadRequestError, MissingBodyError, NotFoundError, PayloadTooLargeError
from pmserve.service import Tenant
from pmserve.settings import Settings
from pmserve.store import PENDING, FileRecord, JobRecord, Store


class BatchService:
    """Files and jobs, for every adapter.  Thread-safe (the store is)."""

    def __init__(self, settings: Settings, store: Store) -> None:
        self.settings = settings
        self.store = store

    # -- files --------------------------------------------------------------------------------
    def put_file(self, tenant: Tenant, file_id: str, source: BinaryIO) -> tuple[FileRecord, bool]:
        _spec.check_file_id(file_id)
        limited = _Limited(source, self.settings.max_file_bytes)
        return self.store.put_file(tenant.name, file_id, limited, _now_iso())

    def list_files(self, tenant: Tenant) -> list[FileRecord]:
        return self.store.list_files(tenant.name)

    def file(self, tenant: Tenant, file_id: str) -> FileRecord:
        record = self.store.file_info(tenant.name, file_id)
        if record is None:
            raise NotFoundError(f"no file with id {file_id!r} in the file store", kind="file", ident=file_id)
        return record

    def read_file(self, tenant: Tenant, file_id: str) -> tuple[FileRecord, Iterator[bytes]]:
        record = self.file(tenant, file_id)
        return record, self.store.iter_file(record)

    def delete_file(self, tenant: Tenant, file_id: str) -> None:
        if not self.store.delete_file(tenant.name, file_id):
            raise NotFoundError(f"no file with id {file_id!r} in the file store", kind="file", ident=file_id)

    # -- jobs ---------------------------------------------------------------------------------
    def submit(self, tenant: Tenant, job_id: str, body: bytes, *, replace: bool) -> tuple[JobRecord, bool]:
        """Check and record a job definition as PENDING; True when the id was new.

        ``replace`` is PUT (create or resubmit), otherwise POST (a duplicate id is a ConflictError).
        """
        _spec.check_job_id(job_id)
        if not body.strip():
            raise MissingBodyError("the job request has no body; expected a JSON job definition (reference §2.8)")
        try:
            decoded = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise BadRequestError(f"the job definition is not valid JSON: {exc}") from None
        definition = _spec.normalise(decoded)
        _spec.parse(job_id, definition)
        record = JobRecord(tenant=tenant.name, job_id=job_id, definition=orjson.dumps(definition).decode(),
                           status=PENDING, created_at=now_ms())
        created = self.store.put_job(record, replace=replace)
        return record, created

    def job(self, tenant: Tenant, job_id: str) -> JobRecord:
        record = self.store.get_job(tenant.name, job_id)
        if record is None:
            raise NotFoundError(f"no job with id {job_id!r}", kind="job", ident=job_id)
        return record

    def jobs(self, tenant: Tenant) -> list[JobRecord]:
        return self.store.list_jobs(tenant.name)

    def delete_jobs(self, tenant: Tenant, job_ids: Sequence[str]) -> int:
        """Delete jobs (running ones stop within a second: their runner finds them gone)."""
        return self.store.delete_jobs(tenant.name, [j for j in job_ids if j])

    def cancel(self, tenant: Tenant, job_id: str) -> JobRecord:
        record = self.store.cancel_job(tenant.name, job_id, now_ms())
        if record is None:
            raise NotFoundError(f"no job with id {job_id!r}", kind="job", ident=job_id)
        return record


# -- the job JSON (reference §2.8) ---------------------------------------------------------------

def job_status(record: JobRecord, file_url: str) -> dict[str, Any]:
    """``GET /pm/v1/jobs/{id}/status``: jobId, jobStatus, dataUrl on success, failureMsg, progress.

    ``file_url`` is the ``/pm/v1/file`` base URL the job's output is served from.
    """
    status: dict[str, Any] = {"jobId": record.job_id, "jobStatus": record.status}
    if record.result_file is not None and record.status == "SUCCESS":
        status["dataUrl"] = f"{file_url}/{record.result_file}"
    if record.failure_msg:
        status["failureMsg"] = record.failure_msg
    status["rowsDone"] = record.rows_done
    status["rowsFailed"] = record.rows_failed
    return status


def job_json(record: JobRecord, file_url: str) -> dict[str, Any]:
    """The job JSON IBM returned from POST/PUT/GET: the definition echoed plus the job's state."""
    definition = orjson.loads(record.definition)
    body: dict[str, Any] = {"id": record.job_id, **definition, "status": record.status}
    if record.status != PENDING:
        body["result"] = job_status(record, file_url)
    body["namespace"] = record.tenant
    body["storageId"] = f"{record.tenant}/{record.job_id}"
    body["createdAt"] = record.created_at
    if record.started_at is not None:
        body["startedAt"] = record.started_at
    if record.finished_at is not None and record.final:
        body["finishedAt"] = record.finished_at
    # IBM's field is a Java toString() of its tenant object, misspelt; clients only display it.
    body["creater"] = f"Tenant [instanceId={record.tenant}, planId=pmserve, appId=null, enable=true]"
    body["progress"] = {"rowsDone": record.rows_done, "rowsFailed": record.rows_failed,
                        "attempts": record.attempts}
    return body


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def _now_iso() -> str:
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="milliseconds")


class _Limited:
    """A binary reader that refuses to yield more than ``limit`` bytes (PMSERVE_MAX_FILE_MB)."""

    def __init__(self, source: BinaryIO, limit: int) -> None:
        self.source, self.limit, self.seen = source, limit, 0

    def read(self, size: int = -1) -> bytes:
        chunk = self.source.read(size)
        self.seen += len(chunk)
        if self.seen > self.limit:
            raise PayloadTooLargeError(f"the file is larger than the limit of {self.limit} bytes "
                                       f"(PMSERVE_MAX_FILE_MB)")
        return chunk
