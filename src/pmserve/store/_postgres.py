"""The shared store: metadata *and* model bytes in PostgreSQL (psycopg 3).

Keeping the bytes in the database lets stateless replicas share one store.  Every write is one
transaction, so readers see the old version or the new one, never a half.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from pmserve.errors import ConfigurationError, ConflictError, StoreUnavailableError
from pmserve.store._base import KeyRecord, ModelVersion, NewVersion, SQLStore, models_schema, sha256_hex
from pmserve.store._connections import PerThread
from pmserve.store._postgres_files import FILES_SCHEMA, PostgresBatchFiles
from pmserve.store._postgres_watch import LOCK_COUNTER_SQL, ChangeWatcher, schema_sql

try:
    import psycopg
except ImportError:  # pragma: no cover - depends on the installed extras
    psycopg = None  # type: ignore[assignment]

# Model bytes live in the database (``blobs``), so that replicas share them.
_SCHEMA = """
CREATE TABLE IF NOT EXISTS blobs (
    sha256 TEXT PRIMARY KEY,
    content BYTEA NOT NULL
);
""" + models_schema(version_key="BIGSERIAL PRIMARY KEY", integer="BIGINT", blob_ref=" REFERENCES blobs (sha256)")


class PostgresStore(PostgresBatchFiles, SQLStore):
    """A store in one PostgreSQL schema (``?schema=NAME`` in the URL; default ``pmserve``).

    ``stale_s`` bounds how long a change made elsewhere may go unseen (PMSERVE_STORE_STALE_S;
    see :mod:`pmserve.store._postgres_watch`).
    """

    marker = "%s"

    def __init__(self, url: str, *, stale_s: float = 1.0) -> None:
        if psycopg is None:
            raise ConfigurationError("PMSERVE_STORE_URL names PostgreSQL but psycopg is not installed; "
                                     "install pmserve[postgres]")
        self.conninfo, self.schema = _split_schema(url)
        self._connections: PerThread[Any] = PerThread(self._connect, alive=lambda db: not db.closed)
        with self._write() as cur:
            cur.execute(f'CREATE SCHEMA IF NOT EXISTS "{self.schema}"')
            cur.execute(f'SET LOCAL search_path TO "{self.schema}"')
            # Several processes may start at once: serialise the DDL.
            cur.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (self.schema,))
            cur.execute(_SCHEMA)
            cur.execute(FILES_SCHEMA)  # batch files and jobs
            cur.execute(schema_sql(self.schema))  # change counting for the replicas' caches
        self._watcher = ChangeWatcher(self._connect, self.schema, stale_s)
        self._watcher.wait_confirmed(min(stale_s, 5.0))

    def _connect(self) -> Any:
        try:
            return psycopg.connect(self.conninfo, autocommit=True,
                                   options=f"-c search_path={self.schema}", connect_timeout=10)
        except psycopg.Error as exc:
            raise StoreUnavailableError(f"cannot connect to the PostgreSQL store: {exc}") from exc

    def _db(self) -> Any:
        return self._connections.get()

    @contextlib.contextmanager
    def _write(self) -> Iterator[Any]:
        db = self._db()
        try:
            with db.transaction(), db.cursor() as cur:
                yield cur
        except psycopg.Error as exc:
            raise StoreUnavailableError(f"the PostgreSQL store failed: {exc}") from exc

    @contextlib.contextmanager
    def _write_catalog(self) -> Iterator[Any]:
        """A write of keys or models: the change counter locked first (the trigger updates it at
        the end of a statement; taken later, a writer holding other locks could deadlock), and
        this process's own caches invalidated at once."""
        try:
            with self._write() as cur:
                cur.execute(LOCK_COUNTER_SQL)
                yield cur
        finally:
            self._watcher.bump()

    # -- change detection -------------------------------------------------------------------
    def generation(self) -> int | None:
        """What the change watcher has seen (memory only: never a query on the request path)."""
        return self._watcher.generation()

    def _query(self, sql: str, params: tuple[object, ...] = ()) -> list[tuple[Any, ...]]:
        try:
            with self._db().cursor() as cur:
                cur.execute(sql, params)
                return list(cur.fetchall())
        except psycopg.OperationalError as exc:
            # A dropped connection: forget it so the next call reconnects.
            self._connections.forget()
            raise StoreUnavailableError(f"the PostgreSQL store failed: {exc}") from exc
        except psycopg.Error as exc:
            raise StoreUnavailableError(f"the PostgreSQL store failed: {exc}") from exc

    # -- keys -------------------------------------------------------------------------------
    def add_key(self, record: KeyRecord) -> None:
        with self._write_catalog() as cur:
            cur.execute("SELECT 1 FROM keys WHERE name = %s", (record.name,))
            if cur.fetchone():
                raise ConflictError(f"an access key named {record.name!r} exists already")
            cur.execute("INSERT INTO keys VALUES (%s, %s, %s, %s, %s)",
                        (record.name, record.tenant, record.key_hash, record.created_at, record.revoked_at))

    def revoke_key(self, name: str, when: str) -> bool:
        with self._write_catalog() as cur:
            cur.execute("UPDATE keys SET revoked_at = %s WHERE name = %s AND revoked_at IS NULL",
                        (when, name))
            return bool(cur.rowcount > 0)

    # -- models -----------------------------------------------------------------------------
    def put_model(self, tenant: str, model_id: str, content: bytes, new: NewVersion,
                  created_at: str, keep_previous: int) -> tuple[ModelVersion, bool]:
        sha = sha256_hex(content)
        with self._write_catalog() as cur:
            # Refreshes of one model are serialised (until commit), so version numbers are handed
            # out in commit order and the last refresh to commit is the current one, highest too.
            cur.execute("SELECT pg_advisory_xact_lock(hashtext(%s), hashtext(%s))", (tenant, model_id))
            cur.execute("INSERT INTO blobs VALUES (%s, %s) ON CONFLICT (sha256) DO NOTHING", (sha, content))
            cur.execute(
                "INSERT INTO versions (tenant, model_id, filename, tablename, format, size, sha256, "
                "created_by, created_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING version",
                (tenant, model_id, new.filename, new.tablename, new.format, len(content), sha,
                 new.created_by, created_at))
            version = int(cur.fetchone()[0])
            cur.execute("INSERT INTO models VALUES (%s, %s, %s) ON CONFLICT (tenant, model_id) "
                        "DO UPDATE SET current = excluded.current RETURNING (xmax = 0)",
                        (tenant, model_id, version))
            created = bool(cur.fetchone()[0])
            cur.execute("DELETE FROM versions WHERE version IN (SELECT version FROM versions "
                        "WHERE tenant = %s AND model_id = %s ORDER BY version DESC OFFSET %s)",
                        (tenant, model_id, keep_previous + 1))
            if cur.rowcount:
                _delete_unused_blobs(cur)
        record = ModelVersion(tenant, model_id, version, new.filename, new.tablename, new.format,
                              len(content), sha, new.created_by, created_at)
        return record, created

    def read(self, version: ModelVersion) -> bytes:
        rows = self._query("SELECT content FROM blobs WHERE sha256 = %s", (version.sha256,))
        if not rows:
            raise StoreUnavailableError(
                f"the file of model {version.model_id!r} version {version.version} is missing from the store")
        return bytes(rows[0][0])

    def delete_model(self, tenant: str, model_id: str) -> bool:
        with self._write_catalog() as cur:
            cur.execute("DELETE FROM models WHERE tenant = %s AND model_id = %s", (tenant, model_id))
            existed = bool(cur.rowcount > 0)
            cur.execute("DELETE FROM versions WHERE tenant = %s AND model_id = %s", (tenant, model_id))
            _delete_unused_blobs(cur)
        return existed

    # -- life cycle -------------------------------------------------------------------------
    def ping(self) -> None:
        self._query("SELECT 1")

    def close(self) -> None:
        self._watcher.close()
        self._connections.close_all()

    def drop_schema(self) -> None:
        """Remove the whole schema (used by tests that make a throwaway one)."""
        with self._write() as cur:
            cur.execute(f'DROP SCHEMA IF EXISTS "{self.schema}" CASCADE')


def _delete_unused_blobs(cur: Any) -> None:
    cur.execute("DELETE FROM blobs b WHERE NOT EXISTS (SELECT 1 FROM versions v WHERE v.sha256 = b.sha256)")


def _split_schema(url: str) -> tuple[str, str]:
    """Take pmserve's own ``schema`` query parameter out of a PostgreSQL URL."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    schema = next((v for k, v in query if k == "schema"), "pmserve")
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,62}", schema):
        raise ConfigurationError(
            f"the schema in PMSERVE_STORE_URL must be a plain SQL identifier; got {schema!r}")
    rest = urlencode([(k, v) for k, v in query if k != "schema"])
    return urlunsplit((parts.scheme, parts.netloc, parts.path, rest, parts.fragment)), schema
