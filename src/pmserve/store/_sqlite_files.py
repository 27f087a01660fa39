"""The embedded store's batch files: content-addressed files under ``<data_dir>/files``.

An upload is streamed to a temporary file (hashed on the way), fsynced and renamed to
``files/<sha[:2]>/<sha>`` before the one transaction that points the file id at it, like model
files: a crash leaves the old file or the new one.  Batch files live apart from model blobs so
that each kind's garbage collection only ever looks at its own files.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from pmserve.errors import StoreUnavailableError
from pmserve.store._batch import FILE_CHUNK_BYTES, FILE_COLUMNS, JOBS_SCHEMA, FileRecord, Readable, SQLBatchStore
from pmserve.store._fs import fsync_dir

FILES_SCHEMA = """
CREATE TABLE IF NOT EXISTS files (
    tenant TEXT NOT NULL,
    file_id TEXT NOT NULL,
    size INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (tenant, file_id)
);
CREATE INDEX IF NOT EXISTS files_by_blob ON files (sha256);
""" + JOBS_SCHEMA

# A blob younger than this may belong to an upload that has not committed yet: never collect it.
_FRESH_SECONDS = 60


class SQLiteBatchFiles(SQLBatchStore):
    """Files and jobs of :class:`~pmserve.store.SQLiteStore` (mixed into it)."""

    data_dir: Path

    @property
    def files_dir(self) -> Path:
        return self.data_dir / "files"

    def _file_path(self, sha: str) -> Path:
        return self.files_dir / sha[:2] / sha

    def put_file(self, tenant: str, file_id: str, source: Readable, created_at: str) -> tuple[FileRecord, bool]:
        sha, size = self._write_file_blob(source)
        return self._name_file(tenant, file_id, sha, size, created_at)

    def _name_file(self, tenant: str, file_id: str, sha: str, size: int, created_at: str) -> tuple[FileRecord, bool]:
        """Point ``file_id`` at the blob ``sha`` (written already) in one transaction."""
        with self._write() as db:
            old = db.execute("SELECT sha256 FROM files WHERE tenant = ? AND file_id = ?", (tenant, file_id)).fetchall()
            db.execute(f"INSERT INTO files ({FILE_COLUMNS}) VALUES (?, ?, ?, ?, ?) "
                       "ON CONFLICT (tenant, file_id) DO UPDATE SET size = excluded.size, "
                       "sha256 = excluded.sha256, created_at = excluded.created_at",
                       (tenant, file_id, size, sha, created_at))
        if old and old[0][0] != sha:
            self._collect_file(str(old[0][0]))
        return FileRecord(tenant, file_id, size, sha, created_at), not old

    def adopt_file(self, tenant: str, file_id: str, path: Path, created_at: str,
                   digest: tuple[str, int] | None = None) -> tuple[FileRecord, bool]:
        """A job's finished output: renamed into place, not copied (same file system); hashed
        here unless its writer gives the ``digest`` it computed while writing.  Fsynced either
        way before it is named: durable before the job can end SUCCESS."""
        try:
            with open(path, "rb") as f:
                sha, size = digest if digest is not None else _sha256(f)
                os.fsync(f.fileno())
            target = self._file_path(sha)
            target.parent.mkdir(parents=True, exist_ok=True)
            if target.exists():
                os.utime(target)
                path.unlink()
            else:
                os.replace(path, target)
                fsync_dir(target.parent)
        except OSError as exc:
            if exc.errno != errno.EXDEV:
                raise StoreUnavailableError(f"cannot store file {file_id!r}: {exc}") from exc
            return super().adopt_file(tenant, file_id, path, created_at)  # another file system: copy it
        return self._name_file(tenant, file_id, sha, size, created_at)

    def local_file(self, record: FileRecord) -> Path | None:
        return self._file_path(record.sha256)

    def iter_file(self, record: FileRecord) -> Iterator[bytes]:
        digest = hashlib.sha256()
        try:
            with open(self._file_path(record.sha256), "rb") as f:
                while chunk := f.read(FILE_CHUNK_BYTES):
                    digest.update(chunk)
                    yield chunk
        except OSError as exc:
            raise StoreUnavailableError(f"file {record.file_id!r} cannot be read: {exc}") from exc
        if digest.hexdigest() != record.sha256:
            raise StoreUnavailableError(
                f"file {record.file_id!r} is corrupt (checksum {digest.hexdigest()}, expected {record.sha256})")

    def delete_file(self, tenant: str, file_id: str) -> bool:
        with self._write() as db:
            old = db.execute("SELECT sha256 FROM files WHERE tenant = ? AND file_id = ?", (tenant, file_id)).fetchall()
            db.execute("DELETE FROM files WHERE tenant = ? AND file_id = ?", (tenant, file_id))
        if old:
            self._collect_file(str(old[0][0]))
        return bool(old)

    def _write_file_blob(self, source: Readable) -> tuple[str, int]:
        digest, size = hashlib.sha256(), 0
        try:
            self.files_dir.mkdir(exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.files_dir, prefix=".tmp-")
            try:
                with os.fdopen(fd, "wb") as f:
                    while chunk := source.read(FILE_CHUNK_BYTES):
                        digest.update(chunk)
                        size += len(chunk)
                        f.write(chunk)
                    f.flush()
                    os.fsync(f.fileno())
                path = self._file_path(digest.hexdigest())
                path.parent.mkdir(exist_ok=True)
                if path.exists():
                    os.utime(path)  # the same bytes are there: keep them fresh for the collector
                    os.unlink(tmp)
                else:
                    os.replace(tmp, path)
                    fsync_dir(path.parent)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
                raise
        except OSError as exc:
            raise StoreUnavailableError(f"cannot write the file under {str(self.files_dir)!r}: {exc}") from exc
        return digest.hexdigest(), size

    def _collect_file(self, sha: str) -> None:
        """Remove a file blob no file id refers to any more (unless an upload may be about to)."""
        try:
            if self._query("SELECT 1 FROM files WHERE sha256 = ? LIMIT 1", (sha,)):
                return
        except StoreUnavailableError:
            return
        path = self._file_path(sha)
        with contextlib.suppress(OSError):
            if time.time() - path.stat().st_mtime > _FRESH_SECONDS:
                path.unlink()


def _sha256(f: BinaryIO) -> tuple[str, int]:
    """The sha256 (hex) and size of what is left to read of ``f``."""
    digest, size = hashlib.sha256(), 0
    while chunk := f.read(FILE_CHUNK_BYTES):
        digest.update(chunk)
        size += len(chunk)
    return digest.hexdigest(), size
