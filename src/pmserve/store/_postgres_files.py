"""The PostgreSQL store's batch files: numbered chunk rows of 1 MiB in ``file_chunks``.

Why chunk rows and not large objects: rows live in the store's own schema (dropped, dumped and
replicated with it, no ``lo_unlink`` bookkeeping or orphaned objects after a crash), and a chunk
is an ordinary ``bytea`` value read and written with plain statements.  An upload inserts its
chunks one at a time (memory holds one chunk) and repoints the file id in the same transaction,
so readers see the old file or the new one; a download reads one chunk per query.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

from pmserve.errors import StoreUnavailableError
from pmserve.store._batch import FILE_CHUNK_BYTES, FILE_COLUMNS, JOBS_SCHEMA, FileRecord, Readable, SQLBatchStore

FILES_SCHEMA = """
CREATE SEQUENCE IF NOT EXISTS file_blob_ids;
CREATE TABLE IF NOT EXISTS files (
    tenant TEXT NOT NULL,
    file_id TEXT NOT NULL,
    size BIGINT NOT NULL,
    sha256 TEXT NOT NULL,
    created_at TEXT NOT NULL,
    blob_id BIGINT NOT NULL,
    PRIMARY KEY (tenant, file_id)
);
CREATE TABLE IF NOT EXISTS file_chunks (
    blob_id BIGINT NOT NULL,
    seq INTEGER NOT NULL,
    data BYTEA NOT NULL,
    PRIMARY KEY (blob_id, seq)
);
""" + JOBS_SCHEMA



class PostgresBatchFiles(SQLBatchStore):
    """Files and jobs of :class:`~pmserve.store._postgres.PostgresStore` (mixed into it)."""

    marker = "%s"
    claim_lock = " FOR UPDATE SKIP LOCKED"

    def put_file(self, tenant: str, file_id: str, source: Readable, created_at: str) -> tuple[FileRecord, bool]:
        return self._insert_file(tenant, file_id, source, created_at, None)

    def adopt_file(self, tenant: str, file_id: str, path: Path, created_at: str,
                   digest: tuple[str, int] | None = None) -> tuple[FileRecord, bool]:
        """A job's finished output, copied into chunk rows; the ``digest`` its writer computed while
        writing it is taken instead of hashing the file again."""
        with open(path, "rb") as f:
            return self._insert_file(tenant, file_id, f, created_at, digest)

    def _insert_file(self, tenant: str, file_id: str, source: Readable, created_at: str,
                     digest: tuple[str, int] | None) -> tuple[FileRecord, bool]:
        """The bytes of ``source`` as the file's chunk rows, hashed on the way unless ``digest``
        (sha256 and size) is known already; the file id repointed in the same transaction."""
        hasher, size, seq = hashlib.sha256(), 0, 0
        with self._write() as cur:
            cur.execute("SELECT pg_advisory_xact_lock(hashtext(%s), hashtext(%s))", (tenant, "file:" + file_id))
            cur.execute("SELECT nextval('file_blob_ids')")
            blob_id = int(cur.fetchone()[0])
            while chunk := source.read(FILE_CHUNK_BYTES):
                if digest is None:
                    hasher.update(chunk)
                size += len(chunk)
                cur.execute("INSERT INTO file_chunks VALUES (%s, %s, %s)", (blob_id, seq, chunk))
                seq += 1
            if digest is not None and size != digest[1]:
                raise StoreUnavailableError(f"file {file_id!r} has {size} bytes, its writer wrote {digest[1]}")
            sha = hasher.hexdigest() if digest is None else digest[0]
            cur.execute("SELECT blob_id FROM files WHERE tenant = %s AND file_id = %s", (tenant, file_id))
            old = cur.fetchall()
            cur.execute(f"INSERT INTO files ({FILE_COLUMNS}, blob_id) VALUES (%s, %s, %s, %s, %s, %s) "
                        "ON CONFLICT (tenant, file_id) DO UPDATE SET size = excluded.size, "
                        "sha256 = excluded.sha256, created_at = excluded.created_at, blob_id = excluded.blob_id",
                        (tenant, file_id, size, sha, created_at, blob_id))
            if old:
                cur.execute("DELETE FROM file_chunks WHERE blob_id = %s", (old[0][0],))
        return FileRecord(tenant, file_id, size, sha, created_at), not old

    def iter_file(self, record: FileRecord) -> Iterator[bytes]:
        digest, size, seq = hashlib.sha256(), 0, 0
        while True:
            rows = self._query(
                "SELECT c.data FROM file_chunks c JOIN files f ON f.blob_id = c.blob_id "
                "WHERE f.tenant = %s AND f.file_id = %s AND f.sha256 = %s AND c.seq = %s",
                (record.tenant, record.file_id, record.sha256, seq))
            if not rows:
                break
            chunk = bytes(rows[0][0])
            digest.update(chunk)
            size += len(chunk)
            seq += 1
            yield chunk
        if size != record.size or digest.hexdigest() != record.sha256:
            raise StoreUnavailableError(
                f"file {record.file_id!r} changed or vanished while it was read "
                f"({size} of {record.size} bytes read)")

    def delete_file(self, tenant: str, file_id: str) -> bool:
        with self._write() as cur:
            cur.execute("DELETE FROM files WHERE tenant = %s AND file_id = %s RETURNING blob_id", (tenant, file_id))
            old = cur.fetchall()
            if old:
                cur.execute("DELETE FROM file_chunks WHERE blob_id = %s", (old[0][0],))
        return bool(old)
