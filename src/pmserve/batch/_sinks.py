"""Where a job's scored rows go: a file of the file store or a database table.

No export is ever left half written:

* a file is written to the job's scratch directory and stored (atomically) only at the end;
* PostgreSQL and SQLite exports run in one transaction (their DDL is transactional): a crash or a
  failure rolls everything back, a killed server's connection included;
* MySQL's DDL commits on its own, so rows go to a staging table named after the job, which the
  end of the job renames or copies into the target and drops; a resumed or failed job drops a
  staging table left by a crash before it does anything else.

``insertMode``: Create (the table must not exist), Drop (replace the table), Append and Refresh
(create the table when missing; Refresh empties it first).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import os
from typing import Any, Protocol

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from pmserve.batch import _db, _pgbinary, _text
from pmserve.batch._service import now_ms
from pmserve.batch._sources import Context, pg_resolve
from pmserve.batch._spec import FileRef, TableRef
from pmserve.errors import DataError

_WRITE_TYPES = (pa.int64(), pa.float64(), pa.bool_(), pa.string())
#: Bytes a file export writes before it waits for them to reach the disk.
_SYNC_BYTES = 32 << 20
#: Bytes of a Parquet export's rows written as one row group: a job's chunk is a few MiB, and a
#: row group per chunk would make readers of the export pay per group (about 90,000 rows of the
#: benchmark's 23 numeric columns; memory: one group being gathered).
_ROW_GROUP_BYTES = 16 << 20


class Sink(Protocol):
    def open(self, schema: pa.Schema) -> None: ...

    def write(self, batch: pa.RecordBatch) -> None: ...

    def commit(self) -> str | None:
        """Make the export visible; the stored file's id for a file export."""

    def abort(self) -> None:
        """Remove whatever was written (also what a crashed earlier attempt left)."""


def open_sink(ref: FileRef | TableRef, ctx: Context) -> Sink:
    if isinstance(ref, FileRef):
        return FileSink(ref, ctx)
    if ref.database.kind == "postgresql":
        return PostgresSink(ref, ctx)
    if ref.database.kind == "mysql":
        return MySQLSink(ref, ctx)
    return SQLiteSink(ref, ctx)


def writable(schema: pa.Schema) -> pa.Schema:
    """The schema as written to a table: types other than number, boolean and text become text."""
    return pa.schema([f if f.type in _WRITE_TYPES else pa.field(f.name, pa.string()) for f in schema])


# -- files ----------------------------------------------------------------------------------------

class FileSink:
    """CSV, TAB (tab-separated, CRLF, header line, as IBM's TAB reports) or Parquet, stored at commit."""

    def __init__(self, ref: FileRef, ctx: Context) -> None:
        self.ref, self.ctx = ref, ctx
        #: The text export's dialect, in which rows of an input in the same one are echoed (see _text).
        self.dialect: _text.Dialect | None = _text.DIALECTS.get(ref.format)
        self.path = ctx.work_dir / f"output-{hashlib.sha256(ref.file_id.encode()).hexdigest()[:16]}.part"
        self._writer: Any = None
        self._file: _HashingFile | None = None
        self._group: list[pa.RecordBatch] = []  # a Parquet export's rows not written yet
        self._group_bytes = 0

    def open(self, schema: pa.Schema) -> None:
        self.abort()
        self.schema = schema
        self._file = _HashingFile(self.path)
        if self.ref.format == "PARQUET":
            self._writer = pq.ParquetWriter(self._file, schema)
            return
        # No quotes (as IBM's TAB reports) unless a chunk holds a value with a delimiter, a quote or a
        # line end: Arrow refuses to write such a chunk unquoted, and it is written quoted instead.
        dialect = _text.DIALECTS[self.ref.format]
        delimiter, eol = dialect.delimiter, dialect.eol
        self._eol = eol.encode()
        self._options = [pacsv.WriteOptions(include_header=False, delimiter=delimiter, eol=eol, quoting_style=style)
                         for style in ("none", "needed")]
        for style in ("none", "needed"):
            try:
                header = pacsv.WriteOptions(delimiter=delimiter, eol=eol, quoting_header=style, quoting_style=style)
                pacsv.write_csv(schema.empty_table(), self._file, header)
                break
            except pa.ArrowInvalid:
                continue

    def write(self, batch: pa.RecordBatch) -> None:
        if self._writer is not None:
            # Each Parquet write is a row group of its own: a job's chunks are gathered into row
            # groups of about _ROW_GROUP_BYTES, which readers of the export read faster.
            self._group.append(batch)
            self._group_bytes += batch.nbytes
            if self._group_bytes >= _ROW_GROUP_BYTES:
                self._write_group()
            return
        for i, options in enumerate(self._options):
            # Into memory first: Arrow writes 1,024 rows at a time, and finds a value that needs
            # quoting only when it reaches it.
            text = pa.BufferOutputStream()
            try:
                pacsv.write_csv(batch, text, options)
            except pa.ArrowInvalid:
                if i == len(self._options) - 1:
                    raise
                continue
            self._put(text.getvalue())
            return

    def write_echoed(self, lines: pa.StringArray, results: list[pa.Array]) -> None:
        """Rows of an input in this export's dialect: their text as read, then their results."""
        self.write_echo(lines, results, self.echo(lines, results))

    def echo(self, lines: pa.StringArray, results: list[pa.Array]) -> pa.Buffer | None:
        """The text :meth:`write_echo` writes (any thread may make it), or None where a result
        needs quoting."""
        return _text.echo(lines, results, _text.DIALECTS[self.ref.format])

    def write_echo(self, lines: pa.StringArray, results: list[pa.Array], text: pa.Buffer | None) -> None:
        """Write the rows' :meth:`echo`; with None, the chunk is written as every other."""
        if text is None:
            dialect = _text.DIALECTS[self.ref.format]
            passthrough = _text.parse_lines(lines, dialect, self.schema.names[:len(self.schema) - len(results)])
            self.write(pa.RecordBatch.from_arrays([*passthrough.columns, *results], schema=self.schema))
            return
        self._put(text)
        self._put(self._eol)

    def _put(self, data: Any) -> None:
        if self._file is None:
            raise RuntimeError("the export is not open")
        self._file.write(data)

    def _write_group(self) -> None:
        if self._group:
            self._writer.write_table(pa.Table.from_batches(self._group, self.schema))
        self._group, self._group_bytes = [], 0

    def commit(self) -> str:
        if self._writer is not None:
            self._write_group()
        digest = self._close()
        self.ctx.store.adopt_file(self.ctx.tenant, self.ref.file_id, self.path, _iso(now_ms()), digest)
        self.path.unlink(missing_ok=True)
        return self.ref.file_id

    def abort(self) -> None:
        with contextlib.suppress(Exception):
            self._close()
        self.path.unlink(missing_ok=True)

    def _close(self) -> tuple[str, int] | None:
        """Close the export; the sha256 and size of what was written."""
        self._group, self._group_bytes = [], 0
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        if self._file is None:
            return None
        self._file.close()
        digest = self._file.digest()
        self._file = None
        return digest


class _HashingFile:
    """A file being written that hashes what is written (so the store need not read it again to
    address it) and, every ``_SYNC_BYTES``, waits for the disk (in the writer's thread, GIL
    released), so that the store's fsync at commit, which the job waits for, finds little left."""

    def __init__(self, path: Any) -> None:
        self._raw = open(path, "wb", buffering=0)  # noqa: SIM115 - closed by close()
        self._sha = hashlib.sha256()
        self._size = self._unsynced = 0
        self.closed = False

    def write(self, data: Any) -> int:
        view = memoryview(data).cast("B")
        self._sha.update(view)
        written = 0
        while written < view.nbytes:  # a raw file's write may take less than it is given
            written += self._raw.write(view[written:])
        self._size += written
        self._unsynced += written
        if self._unsynced >= _SYNC_BYTES:
            os.fdatasync(self._raw.fileno())
            self._unsynced = 0
        return written

    def tell(self) -> int:
        return self._size

    def flush(self) -> None:
        pass  # unbuffered

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self._raw.close()

    def digest(self) -> tuple[str, int]:
        return self._sha.hexdigest(), self._size


def _iso(ms: int) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC).isoformat(timespec="milliseconds")


# -- PostgreSQL: one transaction, rows by binary COPY FROM STDIN----------------------------------------

class PostgresSink:
    def __init__(self, ref: TableRef, ctx: Context) -> None:
        self.ref, self.ctx = ref, ctx
        self.conn: Any = None
        self.copy_options = pacsv.WriteOptions(include_header=False, quoting_style="all_valid")

    def open(self, schema: pa.Schema) -> None:
        sql, ident = _db.pgsql, _db.pg_ident
        self.schema = writable(schema)
        self.conn = _db.connect(self.ref.database, self.ctx.settings)
        conn = self.conn
        target = self._existing()
        mode = self.ref.insert_mode
        if target is not None and mode == "Create":
            raise DataError(f"table {self.ref.name!r} exists already (insertMode Create); use Drop, Append or "
                            f"Refresh", field=self.ref.name)
        if target is not None and mode == "Drop":
            conn.execute(sql.SQL("DROP TABLE {}").format(ident(target)))
            target = None
        if target is None:
            target = self.ref.table
            columns = sql.SQL(", ").join(
                sql.SQL("{} {}").format(sql.Identifier(f.name), sql.SQL(_db.SQL_TYPES["postgresql"][f.type]))
                for f in self.schema)
            conn.execute(sql.SQL("CREATE TABLE {} ({})").format(ident(target), columns))
        elif mode == "Refresh":
            conn.execute(sql.SQL("DELETE FROM {}").format(ident(target)))
        names = sql.SQL(", ").join(sql.Identifier(f.name) for f in self.schema)
        self._cursor = conn.cursor()
        # Writes already run in the job's writer thread (see _pipeline.ThreadedSink): the next chunk
        # is read and scored while this one goes to PostgreSQL.  psycopg's queued writer on top
        # added a thread whose queue (1,024 pieces of 128 KiB) grew to 128 MiB when the server
        # ingested slower than the job produced; without it memory stays a few chunks.
        # Binary COPY: rows encoded a column at a time by numpy (_pgbinary), no number formatted as
        # text on this side nor parsed from text on the server's.
        self._binary = _pgbinary.writable(self.schema)
        statement = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT {})").format(
            ident(target), names, sql.SQL("BINARY" if self._binary else "CSV"))
        self._copy_cm = self._cursor.copy(statement)
        self._copy = self._copy_cm.__enter__()
        if self._binary:
            self._copy.write(_pgbinary.HEADER)

    def _existing(self) -> tuple[str, ...] | None:
        try:
            return pg_resolve(self.conn, self.ref)
        except DataError:
            return None

    def write(self, batch: pa.RecordBatch) -> None:
        batch = batch.cast(self.schema) if batch.schema != self.schema else batch
        if self._binary:
            self._copy.write(_pgbinary.encode(batch))
            return
        buf = pa.BufferOutputStream()
        pacsv.write_csv(batch, buf, self.copy_options)
        self._copy.write(memoryview(buf.getvalue()))

    def commit(self) -> None:
        if self._binary:
            self._copy.write(_pgbinary.TRAILER)
        self._copy_cm.__exit__(None, None, None)
        self.conn.commit()
        self.conn.close()
        self.conn = None

    def abort(self) -> None:
        if self.conn is not None:
            with contextlib.suppress(Exception):
                self.conn.close()  # closing without commit rolls the whole export back
            self.conn = None


# -- SQLite: one transaction, executemany ---------------------------------------------------------

class SQLiteSink:
    def __init__(self, ref: TableRef, ctx: Context) -> None:
        self.ref, self.ctx = ref, ctx
        self.conn: Any = None

    def open(self, schema: pa.Schema) -> None:
        self.schema = writable(schema)
        self.conn = _db.connect(self.ref.database, self.ctx.settings)
        conn, table = self.conn, _db.quoted("sqlite", self.ref.table)
        conn.execute("BEGIN IMMEDIATE")
        exists = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?",
                              (self.ref.table[-1],)).fetchone() is not None
        mode = self.ref.insert_mode
        if exists and mode == "Create":
            raise DataError(f"table {self.ref.name!r} exists already (insertMode Create); use Drop, Append or "
                            f"Refresh", field=self.ref.name)
        if exists and mode == "Drop":
            conn.execute(f"DROP TABLE {table}")
            exists = False
        if not exists:
            columns = ", ".join(f'{_db.quoted("sqlite", (f.name,))} {_db.SQL_TYPES["sqlite"][f.type]}'
                                for f in self.schema)
            conn.execute(f"CREATE TABLE {table} ({columns})")
        elif mode == "Refresh":
            conn.execute(f"DELETE FROM {table}")
        names = ", ".join(_db.quoted("sqlite", (f.name,)) for f in self.schema)
        self.insert = f"INSERT INTO {table} ({names}) VALUES ({', '.join('?' * len(self.schema))})"

    def write(self, batch: pa.RecordBatch) -> None:
        batch = batch.cast(self.schema) if batch.schema != self.schema else batch
        columns = [c.to_pylist() for c in batch.columns]
        self.conn.executemany(self.insert, zip(*columns, strict=True))

    def commit(self) -> None:
        self.conn.execute("COMMIT")
        self.conn.close()
        self.conn = None

    def abort(self) -> None:
        if self.conn is not None:
            with contextlib.suppress(Exception):
                self.conn.execute("ROLLBACK")
            with contextlib.suppress(Exception):
                self.conn.close()
            self.conn = None


# -- MySQL / MariaDB: a staging table, executemany ------------------------------------------------

class MySQLSink:
    def __init__(self, ref: TableRef, ctx: Context) -> None:
        self.ref, self.ctx = ref, ctx
        self.conn: Any = None
        tag = hashlib.sha256(f"{ctx.tenant}/{ctx.job_id}".encode()).hexdigest()[:16]
        self.staging = (*ref.table[:-1], f"pmserve_stage_{tag}")

    def open(self, schema: pa.Schema) -> None:
        self.schema = writable(schema)
        self.conn = _db.connect(self.ref.database, self.ctx.settings)
        q = _db.quoted
        mode = self.ref.insert_mode
        with self.conn.cursor() as cur:
            cur.execute(f"DROP TABLE IF EXISTS {q('mysql', self.staging)}")
            if mode == "Create" and self._exists(cur):
                raise DataError(f"table {self.ref.name!r} exists already (insertMode Create); use Drop, Append "
                                f"or Refresh", field=self.ref.name)
            columns = ", ".join(f"{q('mysql', (f.name,))} {_db.SQL_TYPES['mysql'][f.type]}" for f in self.schema)
            cur.execute(f"CREATE TABLE {q('mysql', self.staging)} ({columns})")
        names = ", ".join(q("mysql", (f.name,)) for f in self.schema)
        markers = ", ".join(["%s"] * len(self.schema))
        self.insert = f"INSERT INTO {q('mysql', self.staging)} ({names}) VALUES ({markers})"

    def _exists(self, cur: Any) -> bool:
        cur.execute("SELECT 1 FROM information_schema.tables WHERE table_schema = COALESCE(%s, DATABASE()) "
                    "AND table_name = %s", (self.ref.table[0] if len(self.ref.table) > 1 else None, self.ref.table[-1]))
        return cur.fetchone() is not None

    def write(self, batch: pa.RecordBatch) -> None:
        batch = batch.cast(self.schema) if batch.schema != self.schema else batch
        columns = [c.to_pylist() for c in batch.columns]
        with self.conn.cursor() as cur:
            cur.executemany(self.insert, list(zip(*columns, strict=True)))

    def commit(self) -> None:
        q = _db.quoted
        stage, target = q("mysql", self.staging), q("mysql", self.ref.table)
        mode = self.ref.insert_mode
        with self.conn.cursor() as cur:
            self.conn.commit()
            exists = self._exists(cur)
            if mode == "Create" and exists:
                raise DataError(f"table {self.ref.name!r} was created while the job ran (insertMode Create)",
                                field=self.ref.name)
            if mode == "Drop" and exists:
                cur.execute(f"DROP TABLE {target}")
                exists = False
            if not exists:
                cur.execute(f"RENAME TABLE {stage} TO {target}")
            else:
                if mode == "Refresh":
                    cur.execute(f"DELETE FROM {target}")
                names = ", ".join(q("mysql", (f.name,)) for f in self.schema)
                cur.execute(f"INSERT INTO {target} ({names}) SELECT {names} FROM {stage}")
                self.conn.commit()
                cur.execute(f"DROP TABLE {stage}")
        self.conn.close()
        self.conn = None

    def abort(self) -> None:
        with contextlib.suppress(Exception):
            if self.conn is None:
                self.conn = _db.connect(self.ref.database, self.ctx.settings)
            self.conn.rollback()
            with self.conn.cursor() as cur:
                cur.execute(f"DROP TABLE IF EXISTS {_db.quoted('mysql', self.staging)}")
        with contextlib.suppress(Exception):
            self.conn.close()
        self.conn = None


__all__ = ["FileSink", "MySQLSink", "PostgresSink", "SQLiteSink", "Sink", "open_sink", "writable"]
