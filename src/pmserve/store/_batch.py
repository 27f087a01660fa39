"""The store's batch half: files uploaded for batch jobs, and the jobs themselves.

Both SQL stores share the job queries (the same schema; only the parameter marker and the row
lock differ).  Files are kept per store: the embedded store writes content-addressed files under
``<data_dir>/files``, PostgreSQL keeps them as numbered chunk rows (see ``_postgres_files``).

A job row carries its whole life: the definition as submitted, its status, who runs it (the
``owner``, one runner of one process of one replica), when that runner last said it was alive
(``heartbeat_at``), how many attempts were made and how far the current one got.  A runner
claims a job with one conditional update, so with several replicas each job runs on one.
"""

from __future__ import annotations

import abc
import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from pmserve.errors import ConflictError

#: Job statuses (reference §2.8): a job starts PENDING, runs, and ends in one of the final ones.
PENDING, RUNNING, SUCCESS, FAILED, CANCELING, CANCELED = (
    "PENDING", "RUNNING", "SUCCESS", "FAILED", "CANCELING", "CANCELED")
FINAL_STATUSES = (SUCCESS, FAILED, CANCELED)
ACTIVE_STATUSES = (RUNNING, CANCELING)

#: How much of a file is read or written at once (SQLite files, PostgreSQL chunk rows).
FILE_CHUNK_BYTES = 1024 * 1024
FILE_COLUMNS = "tenant, file_id, size, sha256, created_at"


class Readable(Protocol):
    """Where an upload's bytes come from: a binary file, or anything with ``read(size)``."""

    def read(self, size: int = -1, /) -> bytes: ...


@dataclass(frozen=True)
class FileRecord:
    """A file in a tenant's batch file store (``/pm/v1/file``)."""

    tenant: str
    file_id: str
    size: int
    sha256: str
    created_at: str  # ISO 8601, UTC


@dataclass(frozen=True)
class JobRecord:
    """A batch job and its state.  Times are epoch milliseconds, as in IBM's job JSON."""

    tenant: str
    job_id: str
    definition: str  # the job definition as JSON text
    status: str
    created_at: int
    started_at: int | None = None
    finished_at: int | None = None
    heartbeat_at: int | None = None
    owner: str | None = None
    attempts: int = 0
    rows_done: int = 0
    rows_failed: int = 0
    failure_msg: str | None = None
    result_file: str | None = None  # the file id of the job's output in the file store

    @property
    def final(self) -> bool:
        return self.status in FINAL_STATUSES


JOB_COLUMNS = ("tenant, job_id, definition, status, created_at, started_at, finished_at, heartbeat_at, "
               "owner, attempts, rows_done, rows_failed, failure_msg, result_file")

JOBS_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    tenant TEXT NOT NULL,
    job_id TEXT NOT NULL,
    definition TEXT NOT NULL,
    status TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    started_at BIGINT,
    finished_at BIGINT,
    heartbeat_at BIGINT,
    owner TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    rows_done BIGINT NOT NULL DEFAULT 0,
    rows_failed BIGINT NOT NULL DEFAULT 0,
    failure_msg TEXT,
    result_file TEXT,
    PRIMARY KEY (tenant, job_id)
);
CREATE INDEX IF NOT EXISTS jobs_by_status ON jobs (status, created_at);
"""


class BatchStore(abc.ABC):
    """What the batch service and the job runner need from a store."""

    # -- files --------------------------------------------------------------------------------
    @abc.abstractmethod
    def put_file(self, tenant: str, file_id: str, source: Readable, created_at: str) -> tuple[FileRecord, bool]:
        """Store the bytes read from ``source`` (streamed, never whole in memory) under ``file_id``.

        Atomic: readers see the old file or the new one.  Returns the record and whether the id was new.
        """

    def adopt_file(self, tenant: str, file_id: str, path: Path, created_at: str,
                   digest: tuple[str, int] | None = None) -> tuple[FileRecord, bool]:
        """Like ``put_file`` from a local file that the store may take over (move) instead of copying.

        ``digest``: the file's sha256 (hex) and size as its writer computed them while writing it,
        if it did; a store that moves the file then need not read it again to address it.
        """
        with open(path, "rb") as f:
            return self.put_file(tenant, file_id, f, created_at)

    @abc.abstractmethod
    def file_info(self, tenant: str, file_id: str) -> FileRecord | None: ...

    @abc.abstractmethod
    def list_files(self, tenant: str) -> list[FileRecord]:
        """The tenant's files, by id."""

    @abc.abstractmethod
    def iter_file(self, record: FileRecord) -> Iterator[bytes]:
        """The file's bytes in chunks (raises StoreUnavailableError when they are gone or corrupt)."""

    @abc.abstractmethod
    def delete_file(self, tenant: str, file_id: str) -> bool:
        """Delete a file; False when it did not exist."""

    def local_file(self, record: FileRecord) -> Path | None:
        """A path on this machine holding the file's bytes, when the store keeps files as files."""
        return None

    # -- jobs ---------------------------------------------------------------------------------
    @abc.abstractmethod
    def put_job(self, record: JobRecord, *, replace: bool) -> bool:
        """Add a job (True) or, with ``replace``, resubmit an existing one (False).

        ConflictError when the id exists and ``replace`` is false, or when the existing job is running.
        """

    @abc.abstractmethod
    def get_job(self, tenant: str, job_id: str) -> JobRecord | None: ...

    @abc.abstractmethod
    def list_jobs(self, tenant: str) -> list[JobRecord]:
        """The tenant's jobs, oldest first."""

    @abc.abstractmethod
    def delete_jobs(self, tenant: str, job_ids: Sequence[str]) -> int:
        """Delete jobs (a running one is stopped by its runner, which finds it gone); the count deleted."""

    @abc.abstractmethod
    def cancel_job(self, tenant: str, job_id: str, now: int) -> JobRecord | None:
        """PENDING becomes CANCELED, RUNNING becomes CANCELING (its runner finishes it); None if unknown."""

    @abc.abstractmethod
    def claim_job(self, owner: str, now: int, stale_before: int) -> JobRecord | None:
        """Take the oldest PENDING job, or a running one whose runner fell silent before ``stale_before``.

        The claimed job is RUNNING, owned by ``owner``, with ``attempts`` counted up and progress
        reset.  Exactly one caller gets a given job, whatever the number of processes or replicas.
        """

    @abc.abstractmethod
    def heartbeat_job(self, tenant: str, job_id: str, owner: str, now: int,
                      rows_done: int, rows_failed: int) -> str | None:
        """Record progress of a job ``owner`` runs; its status now, or None when it is gone or not ours."""

    @abc.abstractmethod
    def finish_job(self, tenant: str, job_id: str, owner: str, status: str, now: int, *,
                   rows_done: int, rows_failed: int, failure_msg: str | None = None,
                   result_file: str | None = None) -> bool:
        """End (or, with PENDING, hand back uncounted) a job ``owner`` runs; False when it is gone or not ours."""


class SQLBatchStore(BatchStore):
    """The job queries of both SQL stores."""

    marker: str = "?"
    #: Appended to the claim's SELECT: PostgreSQL lets competing replicas skip each other's rows.
    claim_lock: str = ""

    @abc.abstractmethod
    def _query(self, sql: str, params: tuple[object, ...] = ()) -> list[tuple[Any, ...]]: ...

    @abc.abstractmethod
    def _write(self) -> contextlib.AbstractContextManager[Any]:
        """A transaction; what it yields has ``execute(sql, params)`` returning a cursor."""

    def _j(self, sql: str) -> str:
        return sql.replace("?", self.marker)

    def file_info(self, tenant: str, file_id: str) -> FileRecord | None:
        rows = self._query(self._j(f"SELECT {FILE_COLUMNS} FROM files WHERE tenant = ? AND file_id = ?"),
                           (tenant, file_id))
        return FileRecord(*rows[0]) if rows else None

    def list_files(self, tenant: str) -> list[FileRecord]:
        rows = self._query(self._j(f"SELECT {FILE_COLUMNS} FROM files WHERE tenant = ? ORDER BY file_id"), (tenant,))
        return [FileRecord(*r) for r in rows]

    def put_job(self, record: JobRecord, *, replace: bool) -> bool:
        with self._write() as db:
            rows = db.execute(self._j("SELECT status FROM jobs WHERE tenant = ? AND job_id = ?"
                                      + self.claim_lock.replace(" SKIP LOCKED", "")),
                              (record.tenant, record.job_id)).fetchall()
            if rows and not replace:
                raise ConflictError(f"a job with id {record.job_id!r} exists already", ident=record.job_id)
            if rows and rows[0][0] in ACTIVE_STATUSES:
                raise ConflictError(f"job {record.job_id!r} is {rows[0][0]}; cancel it or wait until it ends "
                                    f"before resubmitting it", ident=record.job_id)
            if rows:
                db.execute(self._j("DELETE FROM jobs WHERE tenant = ? AND job_id = ?"),
                           (record.tenant, record.job_id))
            db.execute(self._j(f"INSERT INTO jobs ({JOB_COLUMNS}) VALUES ({', '.join(['?'] * 14)})"),
                       _job_values(record))
            return not rows

    def get_job(self, tenant: str, job_id: str) -> JobRecord | None:
        rows = self._query(self._j(f"SELECT {JOB_COLUMNS} FROM jobs WHERE tenant = ? AND job_id = ?"),
                           (tenant, job_id))
        return JobRecord(*rows[0]) if rows else None

    def list_jobs(self, tenant: str) -> list[JobRecord]:
        rows = self._query(self._j(f"SELECT {JOB_COLUMNS} FROM jobs WHERE tenant = ? "
                                   "ORDER BY created_at, job_id"), (tenant,))
        return [JobRecord(*r) for r in rows]

    def delete_jobs(self, tenant: str, job_ids: Sequence[str]) -> int:
        count = 0
        with self._write() as db:
            for job_id in dict.fromkeys(job_ids):
                cur = db.execute(self._j("DELETE FROM jobs WHERE tenant = ? AND job_id = ?"), (tenant, job_id))
                count += max(cur.rowcount, 0)
        return count

    def cancel_job(self, tenant: str, job_id: str, now: int) -> JobRecord | None:
        with self._write() as db:
            db.execute(self._j("UPDATE jobs SET status = ?, finished_at = ? "
                               "WHERE tenant = ? AND job_id = ? AND status = ?"),
                       (CANCELED, now, tenant, job_id, PENDING))
            db.execute(self._j("UPDATE jobs SET status = ? WHERE tenant = ? AND job_id = ? AND status = ?"),
                       (CANCELING, tenant, job_id, RUNNING))
        return self.get_job(tenant, job_id)

    def claim_job(self, owner: str, now: int, stale_before: int) -> JobRecord | None:
        with self._write() as db:
            rows = db.execute(self._j(
                "SELECT tenant, job_id FROM jobs WHERE status = ? "
                "OR (status IN (?, ?) AND (heartbeat_at IS NULL OR heartbeat_at < ?)) "
                f"ORDER BY created_at, job_id LIMIT 1{self.claim_lock}"),
                (PENDING, RUNNING, CANCELING, stale_before)).fetchall()
            if not rows:
                return None
            tenant, job_id = rows[0]
            # A CANCELING job whose runner died is canceled, not run again.
            db.execute(self._j("UPDATE jobs SET status = ?, finished_at = ?, owner = NULL "
                               "WHERE tenant = ? AND job_id = ? AND status = ?"),
                       (CANCELED, now, tenant, job_id, CANCELING))
            db.execute(self._j(
                "UPDATE jobs SET status = ?, owner = ?, heartbeat_at = ?, attempts = attempts + 1, "
                "started_at = COALESCE(started_at, ?), rows_done = 0, rows_failed = 0 "
                "WHERE tenant = ? AND job_id = ? AND status IN (?, ?)"),
                (RUNNING, owner, now, now, tenant, job_id, PENDING, RUNNING))
            got = db.execute(self._j(f"SELECT {JOB_COLUMNS} FROM jobs WHERE tenant = ? AND job_id = ?"),
                             (tenant, job_id)).fetchall()
        record = JobRecord(*got[0]) if got else None
        return record if record is not None and record.status == RUNNING and record.owner == owner else None

    def heartbeat_job(self, tenant: str, job_id: str, owner: str, now: int,
                      rows_done: int, rows_failed: int) -> str | None:
        with self._write() as db:
            db.execute(self._j("UPDATE jobs SET heartbeat_at = ?, rows_done = ?, rows_failed = ? "
                               "WHERE tenant = ? AND job_id = ? AND owner = ? AND status IN (?, ?)"),
                       (now, rows_done, rows_failed, tenant, job_id, owner, RUNNING, CANCELING))
            rows = db.execute(self._j("SELECT status FROM jobs WHERE tenant = ? AND job_id = ? AND owner = ?"),
                              (tenant, job_id, owner)).fetchall()
        return str(rows[0][0]) if rows else None

    def finish_job(self, tenant: str, job_id: str, owner: str, status: str, now: int, *,
                   rows_done: int, rows_failed: int, failure_msg: str | None = None,
                   result_file: str | None = None) -> bool:
        # A job handed back (its server is shutting down) was not interrupted by a crash: its
        # attempt does not count towards the limit.
        handing_back = status == PENDING
        with self._write() as db:
            cur = db.execute(self._j(
                "UPDATE jobs SET status = ?, finished_at = ?, heartbeat_at = ?, owner = ?, rows_done = ?, "
                "rows_failed = ?, failure_msg = ?, result_file = ?, attempts = attempts - ? "
                "WHERE tenant = ? AND job_id = ? AND owner = ? AND status IN (?, ?)"),
                (status, None if handing_back else now, now, None, rows_done, rows_failed, failure_msg,
                 result_file, 1 if handing_back else 0, tenant, job_id, owner, RUNNING, CANCELING))
            return bool(cur.rowcount > 0)


def _job_values(r: JobRecord) -> tuple[object, ...]:
    return (r.tenant, r.job_id, r.definition, r.status, r.created_at, r.started_at, r.finished_at,
            r.heartbeat_at, r.owner, r.attempts, r.rows_done, r.rows_failed, r.failure_msg, r.result_file)
