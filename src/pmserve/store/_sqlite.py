"""The embedded store: metadata in SQLite, model bytes as content-addressed files.

A model file is written to ``blobs/<sha[:2]>/<sha>`` through a temporary file that is fsynced and
renamed into place (and the directory fsynced) *before* the one transaction that makes it the
current version.  A crash before the commit leaves the old version current and at worst an
unreferenced blob, which the next delete or prune removes; a crash after it leaves the new one.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from pmserve.errors import ConflictError, StoreUnavailableError
from pmserve.store._base import KeyRecord, ModelVersion, NewVersion, SQLStore, models_schema, sha256_hex
from pmserve.store._connections import PerThread
from pmserve.store._fs import fsync_dir
from pmserve.store._sqlite_files import FILES_SCHEMA, SQLiteBatchFiles

_SCHEMA = models_schema(version_key="INTEGER PRIMARY KEY AUTOINCREMENT", integer="INTEGER") + """
CREATE INDEX IF NOT EXISTS versions_by_blob ON versions (sha256);
"""


class SQLiteStore(SQLiteBatchFiles, SQLStore):
    """Metadata in ``<data_dir>/pmserve.sqlite3``, model files under ``<data_dir>/blobs``."""

    DB_FILE = "pmserve.sqlite3"

    @classmethod
    def exists_in(cls, data_dir: Path) -> bool:
        """Whether ``data_dir`` holds a store already (opening one creates it)."""
        return (Path(data_dir) / cls.DB_FILE).is_file()

    def __init__(self, data_dir: Path, *, stale_s: float = 0.0) -> None:
        self.data_dir = Path(data_dir)
        # How long a change made by another process may go unseen (PMSERVE_STORE_STALE_S); 0 asks
        # SQLite on every call.  This process's own writes are seen at once whatever the bound.
        self.stale_s = stale_s
        self._checked_at = -float("inf")
        self.blob_dir = self.data_dir / "blobs"
        try:
            self.blob_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreUnavailableError(
                f"cannot create the data directory {str(self.data_dir)!r}: {exc}") from exc
        self.db_path = self.data_dir / self.DB_FILE
        # One connection per thread: sqlite3 connections must not be shared between threads
        # without a lock, and a lock would serialise every score request's version check.
        self._connections = PerThread(self._connect)
        self._local = threading.local()  # the data_version each thread's connection saw last
        self._generation_lock = threading.Lock()
        self._generation = 0
        try:
            # executescript commits on its own, so it runs outside _write's transaction; every
            # statement is idempotent, which makes concurrent start-ups safe.
            self._db().executescript(_SCHEMA)
            self._db().executescript(FILES_SCHEMA)  # batch files and jobs
        except sqlite3.Error as exc:
            raise StoreUnavailableError(f"cannot set up the store {str(self.db_path)!r}: {exc}") from exc

    # -- connections ------------------------------------------------------------------------
    def _connect(self) -> sqlite3.Connection:
        try:
            db = sqlite3.connect(self.db_path, isolation_level=None, check_same_thread=False, timeout=30.0)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")
        except sqlite3.Error as exc:
            raise StoreUnavailableError(f"cannot open the store {str(self.db_path)!r}: {exc}") from exc
        return db

    def _db(self) -> sqlite3.Connection:
        return self._connections.get()

    @contextlib.contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        db = self._db()
        try:
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")
        except sqlite3.Error as exc:
            raise StoreUnavailableError(f"the store {str(self.db_path)!r} failed: {exc}") from exc
        finally:
            self._bump()

    # -- change detection -------------------------------------------------------------------
    def generation(self) -> int:
        """Bumped by this process's writes, and whenever SQLite reports another connection's.

        ``PRAGMA data_version`` changes when any *other* connection (another thread's, another
        process's: a replica or the CLI) has committed since this connection last looked; a
        connection's own commits go through ``_write``, which bumps the number itself.  SQLite is
        asked at most once per ``stale_s`` (by any thread): a score request then pays for a clock
        read, not a query, and another process's change is seen within the bound.
        """
        now = time.monotonic()
        if now - self._checked_at < self.stale_s:
            return self._generation
        try:
            row = self._db().execute("PRAGMA data_version").fetchone()
        except sqlite3.Error as exc:
            raise StoreUnavailableError(f"the store {str(self.db_path)!r} failed: {exc}") from exc
        if row[0] != getattr(self._local, "data_version", None):
            self._local.data_version = row[0]
            self._bump()
        self._checked_at = now
        return self._generation

    def _bump(self) -> None:
        with self._generation_lock:
            self._generation += 1

    def _query(self, sql: str, params: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
        try:
            return self._db().execute(sql, params).fetchall()
        except sqlite3.Error as exc:
            raise StoreUnavailableError(f"the store {str(self.db_path)!r} failed: {exc}") from exc

    # -- keys -------------------------------------------------------------------------------
    def add_key(self, record: KeyRecord) -> None:
        with self._write() as db:
            if db.execute("SELECT 1 FROM keys WHERE name = ?", (record.name,)).fetchone():
                raise ConflictError(f"an access key named {record.name!r} exists already")
            db.execute("INSERT INTO keys VALUES (?, ?, ?, ?, ?)",
                       (record.name, record.tenant, record.key_hash, record.created_at, record.revoked_at))

    def revoke_key(self, name: str, when: str) -> bool:
        with self._write() as db:
            cur = db.execute("UPDATE keys SET revoked_at = ? WHERE name = ? AND revoked_at IS NULL",
                             (when, name))
            return cur.rowcount > 0

    # -- models -----------------------------------------------------------------------------
    def put_model(self, tenant: str, model_id: str, content: bytes, new: NewVersion,
                  created_at: str, keep_previous: int) -> tuple[ModelVersion, bool]:
        sha = sha256_hex(content)
        self._write_blob(sha, content)
        with self._write() as db:
            cur = db.execute(
                "INSERT INTO versions (tenant, model_id, filename, tablename, format, size, sha256, "
                "created_by, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (tenant, model_id, new.filename, new.tablename, new.format, len(content), sha,
                 new.created_by, created_at))
            version = int(cur.lastrowid or 0)
            existed = db.execute("SELECT 1 FROM models WHERE tenant = ? AND model_id = ?",
                                 (tenant, model_id)).fetchone() is not None
            db.execute("INSERT INTO models VALUES (?, ?, ?) ON CONFLICT (tenant, model_id) "
                       "DO UPDATE SET current = excluded.current", (tenant, model_id, version))
            stale = db.execute(
                "SELECT version FROM versions WHERE tenant = ? AND model_id = ? ORDER BY version DESC "
                "LIMIT -1 OFFSET ?", (tenant, model_id, keep_previous + 1)).fetchall()
            db.executemany("DELETE FROM versions WHERE version = ?", stale)
        if stale:
            self._collect_garbage()
        record = ModelVersion(tenant, model_id, version, new.filename, new.tablename, new.format,
                              len(content), sha, new.created_by, created_at)
        return record, not existed

    def read(self, version: ModelVersion) -> bytes:
        path = self._blob_path(version.sha256)
        try:
            content = path.read_bytes()
        except OSError as exc:
            raise StoreUnavailableError(
                f"the file of model {version.model_id!r} version {version.version} cannot be read: {exc}"
            ) from exc
        if sha256_hex(content) != version.sha256:
            raise StoreUnavailableError(
                f"the file of model {version.model_id!r} version {version.version} is corrupt "
                f"(checksum {sha256_hex(content)}, expected {version.sha256})")
        return content

    def delete_model(self, tenant: str, model_id: str) -> bool:
        with self._write() as db:
            cur = db.execute("DELETE FROM models WHERE tenant = ? AND model_id = ?", (tenant, model_id))
            db.execute("DELETE FROM versions WHERE tenant = ? AND model_id = ?", (tenant, model_id))
            existed = cur.rowcount > 0
        self._collect_garbage()
        return existed

    # -- files ------------------------------------------------------------------------------
    def _blob_path(self, sha: str) -> Path:
        return self.blob_dir / sha[:2] / sha

    def _write_blob(self, sha: str, content: bytes) -> None:
        path = self._blob_path(sha)
        if path.exists():
            # Content-addressed: the same bytes are there already.  Touch them so that garbage
            # collection (which spares fresh files) cannot remove them before our commit.
            with contextlib.suppress(OSError):
                os.utime(path)
                return
        try:
            path.parent.mkdir(exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
            try:
                with os.fdopen(fd, "wb") as f:
                    f.write(content)
                    f.flush()
                    os.fsync(f.fileno())
                os.replace(tmp, path)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
                raise
            fsync_dir(path.parent)
        except OSError as exc:
            raise StoreUnavailableError(
                f"cannot write the model file under {str(self.blob_dir)!r}: {exc}") from exc

    def _collect_garbage(self) -> None:
        """Remove blob files no version refers to (and temp files of interrupted writes)."""
        used = {str(r[0]) for r in self._query("SELECT DISTINCT sha256 FROM versions")}
        for path in self.blob_dir.glob("*/*"):
            if path.name.startswith(".tmp-") or path.name not in used:
                # A concurrent put writes its blob before its transaction; leave fresh files alone.
                with contextlib.suppress(OSError):
                    if path.name not in used and _age_seconds(path) > 60:
                        path.unlink()

    # -- life cycle -------------------------------------------------------------------------
    def ping(self) -> None:
        self._query("SELECT 1")

    def close(self) -> None:
        self._connections.close_all()
        self._local = threading.local()


def _age_seconds(path: Path) -> float:
    return time.time() - path.stat().st_mtime
