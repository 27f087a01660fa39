"""Where a job's rows come from: files of the file store or database tables, as Arrow batches.

Every source streams: files are read block by block by Arrow's readers, PostgreSQL tables
through ``COPY ... TO STDOUT (FORMAT BINARY)`` parsed a chunk of rows at a time by numpy
(``_pgbinary``; text COPY parsed by Arrow's CSV reader for column types it does not read), MySQL and
SQLite tables through unbuffered cursors ``fetchmany`` at a time.  Memory is bounded by one
block (``PMSERVE_JOB_CHUNK_ROWS`` rows), whatever the size of the input.
"""

from __future__ import annotations

import contextlib
import select
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.json as pajson

from pmserve.arrow import open_parquet
from pmserve.batch import _db, _pgbinary, _text
from pmserve.batch._spec import FileRef, TableRef
from pmserve.errors import DataError
from pmserve.settings import Settings
from pmserve.store import Store

#: Bytes Arrow reads per block of a text file; roughly PMSERVE_JOB_CHUNK_ROWS rows of 64 bytes.
_BYTES_PER_ROW = 64


@dataclass(frozen=True)
class Context:
    """What sources and sinks need to reach files and databases on behalf of one job."""

    store: Store
    tenant: str
    job_id: str
    settings: Settings
    work_dir: Path  # scratch space for this job (spooled inputs, outputs being written)


@dataclass
class Source:
    schema: pa.Schema
    batches: Iterator[pa.RecordBatch]
    threadsafe: bool = False  # whether the batches may be read from a thread other than the opener's
    text: _text.TextFile | None = None  # a CSV or TAB file, whose rows an export may echo (see _text)
    block_bytes: int = 1 << 20  # what its reader reads at a time

    def echoed(self, dialect: _text.Dialect, model_types: Mapping[str, pa.DataType],
               rows: int) -> Iterator[_text.Chunk]:
        """The rows of a text file in chunks of ``rows``, with their text where an export in
        ``dialect`` can echo it (instead of :attr:`batches`, which are then never read)."""
        if self.text is None:
            raise ValueError("only a text file's rows can be echoed")
        return _closing_iter(_text.echoed_chunks(self.text, dialect, model_types, rows, self.block_bytes))


@contextlib.contextmanager
def open_source(ref: FileRef | TableRef, ctx: Context) -> Iterator[Source]:
    if isinstance(ref, FileRef):
        with local_copy(ref.file_id, ctx) as path:
            yield _file_source(path, ref, ctx)
    else:
        with contextlib.closing(_db.connect(ref.database, ctx.settings)) as conn:
            kind = ref.database.kind
            if kind == "postgresql":
                with _postgres_source(conn, ref, ctx) as source:
                    yield source
            else:
                source, cursor = _cursor_source(conn, ref, ctx)
                try:
                    yield source
                finally:
                    # Before the connection goes: PyMySQL reads what an unbuffered query left unread
                    # when its cursor closes (the protocol wants it), and fails if it cannot.
                    with contextlib.suppress(Exception):
                        cursor.close()


@contextlib.contextmanager
def local_copy(file_id: str, ctx: Context) -> Iterator[Path]:
    """A path holding a stored file: the store's own file, or a spooled copy (PostgreSQL store)."""
    record = ctx.store.file_info(ctx.tenant, file_id)
    if record is None:
        raise DataError(f"input file {file_id!r} is not in the file store", field=file_id)
    path = ctx.store.local_file(record)
    if path is not None:
        yield path
        return
    fd, name = tempfile.mkstemp(dir=ctx.work_dir, prefix="input-")
    try:
        with open(fd, "wb") as f:
            for chunk in ctx.store.iter_file(record):
                f.write(chunk)
        yield Path(name)
    finally:
        Path(name).unlink(missing_ok=True)


def _file_source(path: Path, ref: FileRef, ctx: Context) -> Source:
    rows = ctx.settings.job_chunk_rows
    try:
        if ref.format == "PARQUET":
            parquet = open_parquet(path)
            return Source(parquet.schema_arrow, _closing_iter(parquet.iter_batches(batch_size=rows), parquet), True)
        block = max(1 << 20, rows * _BYTES_PER_ROW)
        if ref.format == "JSONL":
            reader = pajson.open_json(path, read_options=pajson.ReadOptions(block_size=block))
            return Source(reader.schema, _closing_iter(reader), True)
        text = _text.text_file(path, "\t" if ref.format == "TAB" else ",")
        schema = pa.schema([pa.field(n, pa.string()) for n in text.names])
        # Every column as text: numbers are cast per batch (see _columns), other columns pass
        # through as written.
        return Source(schema, _closing_iter(text.batches(block)), True, text, block)
    except (pa.ArrowInvalid, OSError) as exc:
        raise DataError(f"input file {ref.file_id!r} cannot be read as {ref.format}: {exc}", field=ref.file_id) from exc


def _closing_iter(batches: Any, owner: Any = None) -> Iterator[Any]:
    """The batches of a reader, closed at the end; a malformed block is the data's fault."""
    try:
        yield from batches
    except (pa.ArrowInvalid, OSError) as exc:
        raise DataError(f"the input cannot be read: {exc}") from exc
    finally:
        (owner or batches).close()


# -- PostgreSQL: binary COPY parsed by numpy, or text COPY parsed by Arrow as it streams --------------

# Type OIDs read as Arrow numbers; everything else is read as text.
_PG_TYPES = {16: pa.bool_(), 20: pa.int64(), 21: pa.int64(), 23: pa.int64(), 700: pa.float64(),
             701: pa.float64(), 1700: pa.float64()}


@contextlib.contextmanager
def _postgres_source(conn: Any, ref: TableRef, ctx: Context) -> Iterator[Source]:
    table = pg_resolve(conn, ref)
    cur = conn.cursor()
    cur.execute(_db.pgsql.SQL("SELECT * FROM {} LIMIT 0").format(_db.pg_ident(table)))
    names = [d.name for d in cur.description]
    types = {n: _PG_TYPES.get(d.type_code, pa.string()) for n, d in zip(names, cur.description, strict=True)}
    oids = [d.type_code for d in cur.description]
    if _pgbinary.supported(oids):
        binary_sql = _db.pgsql.SQL("COPY (SELECT * FROM {}) TO STDOUT (FORMAT BINARY)").format(_db.pg_ident(table))
        decoder = _pgbinary.CopyDecoder(names, oids)
        # The connection is closed when the job is done with it, a COPY cut short included.
        yield Source(decoder.schema, _binary_batches(conn, binary_sql.as_bytes(conn), decoder,
                                                     ctx.settings.job_chunk_rows), True)
        return
    copy_sql = _db.pgsql.SQL("COPY (SELECT * FROM {}) TO STDOUT (FORMAT CSV)").format(_db.pg_ident(table))
    with cur.copy(copy_sql) as copy:
        stream = _CopyStream(copy)
        reader = pacsv.open_csv(
            stream,
            read_options=pacsv.ReadOptions(column_names=names, block_size=max(1 << 20, ctx.settings.job_chunk_rows
                                                                           * _BYTES_PER_ROW), use_threads=False),
            convert_options=pacsv.ConvertOptions(column_types=types, null_values=[""], strings_can_be_null=True,
                                                 quoted_strings_can_be_null=False,
                                                 true_values=["t"], false_values=["f"]))
        yield Source(reader.schema, _closing_iter(reader), True)
        # Whatever the consumer left unread is drained by the copy's exit, so the connection stays usable.


def _binary_batches(conn: Any, query: bytes, decoder: _pgbinary.CopyDecoder, rows: int) -> Iterator[pa.RecordBatch]:
    """Binary COPY rows gathered ``rows`` at a time and parsed a column at a time (see _pgbinary).

    PostgreSQL sends a message per row.  psycopg's ``Copy.read`` costs a few microseconds of
    Python per message, as much as the rest of a job; the messages are read here by libpq's own
    calls (psycopg's ``pgconn``, the documented way to libpq): one call per row, and a wait for
    the socket (GIL released) only when none is buffered.
    """
    pg = conn.pgconn
    poller = select.poll()
    poller.register(pg.socket, select.POLLIN)
    pg.send_query(query)
    result = _pg_result(pg, poller)
    if result is None or result.status != _db.psycopg.pq.ExecStatus.COPY_OUT:
        raise _pg_error(pg, result, "COPY ... TO STDOUT")
    get, messages = pg.get_copy_data, []
    while True:
        size, data = get(1)
        if size > 0:
            messages.append(bytes(data))  # a copy: holding 65,536 of libpq's buffers costs more
            if len(messages) >= _MESSAGES:
                decoder.feed_many(messages)
                messages = []
                if decoder.pending >= rows:
                    yield decoder.take()
        elif size == 0:  # nothing buffered: wait for the server
            poller.poll()
            pg.consume_input()
        elif size == -1:
            break
        else:
            raise _pg_error(pg, None, "COPY ... TO STDOUT")
    decoder.feed_many(messages)
    while decoder.pending:
        yield decoder.take()
    result = _pg_result(pg, poller)
    if result is None or result.status != _db.psycopg.pq.ExecStatus.COMMAND_OK:
        raise _pg_error(pg, result, "COPY ... TO STDOUT")
    while _pg_result(pg, poller) is not None:
        pass
    if not decoder.ended:
        raise DataError(f"the binary COPY stream from PostgreSQL ended without its end-of-data marker after "
                        f"{decoder.rows} rows")


#: Row messages handed to the decoder at a time.
_MESSAGES = 4096


def _pg_result(pg: Any, poller: select.poll) -> Any:
    """libpq's next result of the running query, once the server has sent it (None: no more)."""
    while True:
        pg.consume_input()  # raises when the connection failed
        if not pg.is_busy():
            return pg.get_result()
        poller.poll()


def _pg_error(pg: Any, result: Any, what: str) -> DataError:
    message = (result.get_error_message() if result is not None else "") or pg.get_error_message()
    return DataError(f"PostgreSQL failed {what}: {message.strip()}")


def pg_resolve(conn: Any, ref: TableRef) -> tuple[str, ...]:
    """The table's name as PostgreSQL knows it: as written, or folded to lower case (unquoted DDL)."""
    for parts in (ref.table, tuple(p.lower() for p in ref.table)):
        text = _db.pg_ident(parts).as_string(conn)
        if conn.execute("SELECT to_regclass(%s)", (text,)).fetchone()[0] is not None:
            return parts
    conn.rollback()
    raise DataError(f"table {ref.name!r} does not exist in database {ref.database.ref!r}", field=ref.name)


class _CopyStream:
    """psycopg's COPY output as a readable file for Arrow's streaming CSV reader.

    psycopg hands out one row per ``read()``; Arrow asks for a whole block per call, so rows are
    gathered until the block is full (a short answer per row would cost Arrow a block-sized
    buffer per row).
    """

    def __init__(self, copy: Any) -> None:
        self._copy = copy
        self._left = b""
        self.closed = False

    def read(self, size: int = -1) -> bytes:
        parts, total = [self._left], len(self._left)
        while size < 0 or total < size:
            data = self._copy.read()
            if not data:
                break
            parts.append(data)  # a memoryview: joined below without a copy of its own
            total += len(data)
        joined = b"".join(parts)
        if size < 0 or len(joined) <= size:
            self._left = b""
            return joined
        self._left = joined[size:]
        return joined[:size]

    def close(self) -> None:
        self.closed = True


# -- MySQL and SQLite: unbuffered cursors ---------------------------------------------------------

# PyMySQL's FIELD_TYPE codes read as numbers: DECIMAL, TINY, SHORT, LONG, FLOAT, DOUBLE, LONGLONG, INT24, NEWDECIMAL.
_MYSQL_TYPES = {0: pa.float64(), 1: pa.int64(), 2: pa.int64(), 3: pa.int64(), 4: pa.float64(), 5: pa.float64(),
                8: pa.int64(), 9: pa.int64(), 246: pa.float64()}


def _cursor_source(conn: Any, ref: TableRef, ctx: Context) -> tuple[Source, Any]:
    kind = ref.database.kind
    query = f"SELECT * FROM {_db.quoted(kind, ref.table)}"
    try:
        if kind == "mysql":
            cur = conn.cursor(_db.pymysql.cursors.SSCursor)
            cur.execute(query)
            types = [_MYSQL_TYPES.get(d[1], pa.string()) for d in cur.description]
        else:
            cur = conn.execute(query)
            info = conn.execute(f"PRAGMA table_info({_db.quoted(kind, ref.table)})")
            declared = {r[1]: str(r[2]).upper() for r in info}
            types = [_sqlite_type(declared.get(d[0], "")) for d in cur.description]
    except Exception as exc:
        raise _db.missing_table(ref, exc) from exc
    schema = pa.schema([pa.field(d[0], t) for d, t in zip(cur.description, types, strict=True)])
    return Source(schema, _fetch(cur, schema, ctx.settings.job_chunk_rows)), cur


def _sqlite_type(declared: str) -> pa.DataType:
    # SQLite's own affinity rules (https://www.sqlite.org/datatype3.html §3.1), numbers only.
    if "INT" in declared:
        return pa.int64()
    if any(k in declared for k in ("REAL", "FLOA", "DOUB", "NUMERIC", "DECIMAL")):
        return pa.float64()
    return pa.string()


def _fetch(cur: Any, schema: pa.Schema, rows: int) -> Iterator[pa.RecordBatch]:
    while chunk := cur.fetchmany(rows):
        columns = list(zip(*chunk, strict=True))
        arrays = [_array(col, f) for col, f in zip(columns, schema, strict=True)]
        yield pa.RecordBatch.from_arrays(arrays, schema=schema)


def _array(values: tuple[Any, ...], f: pa.Field) -> pa.Array:
    if f.type == pa.string():
        return pa.array([None if v is None else v if isinstance(v, str) else str(v) for v in values], pa.string())
    try:
        return pa.array(values, f.type, from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError):
        bad = next((v for v in values if v is not None and not isinstance(v, int | float)), None)
        raise DataError(f"column {f.name!r} holds {bad!r:.50}, not a number as its declared type says",
                        field=f.name, value=bad) from None


__all__ = ["Context", "Source", "local_copy", "open_source", "pg_resolve"]
