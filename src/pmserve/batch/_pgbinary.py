"""PostgreSQL's binary COPY format, read and written column by column with numpy.

``COPY ... (FORMAT BINARY)`` (https://www.postgresql.org/docs/current/sql-copy.html, "Binary
Format") sends each row as a 16-bit field count, then per field a 32-bit length (-1: NULL) and
that many bytes, all big-endian.  Parsing it per row in Python (psycopg's ``read_row``) is slow,
and text COPY makes both PostgreSQL and pmserve format and parse every number as text.  Here a
chunk of rows is parsed one *column* at a time: every row's offset into the chunk is known, so a
field is one numpy gather for all rows, the offsets move on by the field's lengths, and a stream
that does not add up (a length past its row, a wrong field count, bytes left over) is refused.

Only types whose binary form is plain are handled: ``boolean``, ``smallint``, ``integer``,
``bigint``, ``double precision`` and text (``text``, ``varchar``, ``char``); a table with any
other column type is read as text COPY by the caller (:func:`supported`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pyarrow as pa

from pmserve.errors import DataError

SIGNATURE = b"PGCOPY\n\xff\r\n\x00"
HEADER = SIGNATURE + b"\x00\x00\x00\x00" + b"\x00\x00\x00\x00"  # no flags, no header extension
TRAILER = b"\xff\xff"

# Type OID: (bytes of the binary value or 0 for text, Arrow type read as, numpy big-endian dtype).
_TYPES: dict[int, tuple[int, pa.DataType, str]] = {
    16: (1, pa.bool_(), "u1"),  # boolean
    21: (2, pa.int64(), ">i2"),  # smallint
    23: (4, pa.int64(), ">i4"),  # integer
    20: (8, pa.int64(), ">i8"),  # bigint
    701: (8, pa.float64(), ">f8"),  # double precision
    25: (0, pa.string(), ""),  # text
    1043: (0, pa.string(), ""),  # varchar
    1042: (0, pa.string(), ""),  # char(n): padded, as text COPY shows it
}
# What each Arrow type of an output batch is written as (see _sinks.writable).
_WRITE = {pa.int64(): (8, ">i8"), pa.float64(): (8, ">f8"), pa.bool_(): (1, "u1")}


def supported(type_oids: Sequence[int]) -> bool:
    """Whether a table with columns of these types can be read in binary."""
    return all(oid in _TYPES for oid in type_oids)


class CopyDecoder:
    """Rows of a ``COPY ... TO STDOUT (FORMAT BINARY)`` stream, fed one message at a time (psycopg
    hands out one CopyData message per read: a row, the first one after the header), taken out
    as Arrow record batches."""

    def __init__(self, names: Sequence[str], type_oids: Sequence[int]) -> None:
        if not supported(type_oids):
            raise ValueError(f"no binary reader for the type OIDs {list(type_oids)}")
        self.schema = pa.schema([pa.field(n, _TYPES[oid][1]) for n, oid in zip(names, type_oids, strict=True)])
        self._oids = list(type_oids)
        self._parts: list[Any] = []  # rows' messages as psycopg gave them (bytes or memoryview)
        self._header = False
        self.ended = False
        self.rows = 0  # rows taken out so far, to say where a corrupt row is

    @property
    def pending(self) -> int:
        return len(self._parts)

    def feed(self, message: bytes | memoryview) -> None:
        if not self._header:
            message = self._strip_header(bytes(message))
        if self.ended:
            raise self._corrupt("data after the end-of-data marker", self.rows + self.pending)
        if len(message) == len(TRAILER) and bytes(message) == TRAILER:
            self.ended = True
            return
        self._parts.append(message)

    def feed_many(self, messages: list[Any]) -> None:
        """Messages as :meth:`feed` takes them, many at once: only the first and the last can be
        the header's and the trailer (a trailer elsewhere is a row of -1 fields to :meth:`take`)."""
        if not messages:
            return
        if not self._header or self.ended:
            self.feed(messages[0])
            messages = messages[1:]
        if messages and len(messages[-1]) == len(TRAILER) and bytes(messages[-1]) == TRAILER:
            self._parts += messages[:-1]
            self.ended = True
            return
        self._parts += messages

    def _strip_header(self, data: bytes) -> bytes:
        if len(data) < 19 or data[:11] != SIGNATURE:
            raise self._corrupt("it does not start with PostgreSQL's binary COPY signature", 0)
        extension = int.from_bytes(data[15:19], "big")
        if len(data) < 19 + extension:
            raise self._corrupt("its header extension is cut short", 0)
        self._header = True
        return data[19 + extension:]

    def _corrupt(self, why: str, row: int) -> DataError:
        return DataError(f"the binary COPY stream from PostgreSQL is corrupt near this row: {why}", row=row)

    def take(self) -> pa.RecordBatch:
        """The rows fed since the last take, as one record batch."""
        parts = self._parts
        self._parts = []
        first = self.rows
        n = len(parts)
        self.rows += n
        sizes = np.fromiter(map(len, parts), dtype=np.int64, count=n)
        buf = np.frombuffer(b"".join(parts), dtype=np.uint8)
        del parts
        if n and all(_TYPES[oid][0] for oid in self._oids) and np.all(sizes == sizes[0]):
            fast = self._same_size_rows(buf.reshape(n, int(sizes[0])))
            if fast is not None:
                return fast
        ends = np.cumsum(sizes)
        starts = ends - sizes
        if n and np.any(sizes < 2):
            raise self._corrupt("a row shorter than its field count", first + int(np.argmax(sizes < 2)))
        count = _gather(buf, starts, 2, ">i2").astype(np.int64)
        bad = count != len(self._oids)
        if np.any(bad):
            row = int(np.argmax(bad))
            raise self._corrupt(f"a row of {int(count[row])} fields, the table has {len(self._oids)}", first + row)
        pos = starts + 2
        arrays = []
        for f, oid in zip(self.schema, self._oids, strict=True):
            width, kind, dtype = _TYPES[oid]
            self._check(pos + 4 > ends, f"field {f.name!r} cut short", first)
            lengths = _gather(buf, pos, 4, ">i4").astype(np.int64)
            null = lengths == -1
            if width:
                self._check(~null & (lengths != width), f"field {f.name!r} is not {width} bytes long", first)
            else:
                self._check(lengths < -1, f"field {f.name!r} has a negative length", first)
            size = np.where(null, 0, lengths)
            self._check(pos + 4 + size > ends, f"field {f.name!r} runs past the end of its row", first)
            if width:
                arrays.append(_fixed(buf, np.where(null, 0, pos + 4), width, dtype, kind, null))
            else:
                arrays.append(_text(buf, pos + 4, size, null, f.name, first))
            pos = pos + 4 + size
        self._check(pos != ends, "a row longer than its fields", first)
        return pa.RecordBatch.from_arrays(arrays, schema=self.schema)

    def _same_size_rows(self, rows: np.ndarray) -> pa.RecordBatch | None:
        """Rows of fixed-width fields all of one size (no NULL, most likely): a structured view whose
        fields are the columns; None when the lengths say otherwise (the general parse decides)."""
        layout = _row_dtype([_TYPES[oid][2] for oid in self._oids])
        if layout.itemsize != rows.shape[1]:
            return None
        view = rows.reshape(-1).view(layout)
        if np.any(view["n"] != len(self._oids)):
            return None
        arrays = []
        for i, oid in enumerate(self._oids):
            width, kind, _ = _TYPES[oid]
            if np.any(view[f"l{i}"] != width):
                return None
            values = view[f"v{i}"]
            if kind == pa.bool_():
                arrays.append(pa.array(values != 0, type=kind))
            else:
                arrays.append(pa.array(values.astype(kind.to_pandas_dtype()), type=kind))
        return pa.RecordBatch.from_arrays(arrays, schema=self.schema)

    def _check(self, bad: np.ndarray, why: str, first: int) -> None:
        if np.any(bad):
            raise self._corrupt(why, first + int(np.argmax(bad)))


def _gather(buf: np.ndarray, pos: np.ndarray, width: int, dtype: str) -> np.ndarray:
    """The ``width``-byte big-endian values at each of ``pos``, in native byte order."""
    if not len(pos):
        return np.zeros(0, dtype=np.dtype(dtype).newbyteorder("="))
    raw = buf[pos[:, None] + np.arange(width)]
    return raw.view(dtype).ravel().astype(np.dtype(dtype).newbyteorder("="))


def _fixed(buf: np.ndarray, pos: np.ndarray, width: int, dtype: str, kind: pa.DataType,
           null: np.ndarray) -> pa.Array:
    # Rows whose field is NULL gather from offset 0 (inside the buffer) and are masked.
    values = _gather(buf, pos, width, dtype)
    mask = null if null.any() else None
    if kind == pa.bool_():
        return pa.array(values != 0, type=kind, mask=mask)
    return pa.array(values.astype(kind.to_pandas_dtype()), type=kind, mask=mask)


def _text(buf: np.ndarray, pos: np.ndarray, size: np.ndarray, null: np.ndarray, name: str, first: int) -> pa.Array:
    n = len(pos)
    offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(size, out=offsets[1:])
    total = int(offsets[-1])
    if total >= 2**31:
        raise DataError(f"column {name!r}: more than 2 GiB of text in one chunk; lower PMSERVE_JOB_CHUNK_ROWS",
                        field=name)
    within = np.arange(total, dtype=np.int64) - np.repeat(offsets[:-1], size)
    data = buf[np.repeat(pos, size) + within]
    validity = None if not null.any() else pa.py_buffer(np.packbits(~null, bitorder="little"))
    array = pa.Array.from_buffers(pa.string(), n, [validity, pa.py_buffer(offsets.astype(np.int32)),
                                                   pa.py_buffer(data)], null_count=int(null.sum()))
    try:
        array.validate(full=True)
    except pa.ArrowInvalid as exc:
        raise DataError(f"the binary COPY stream from PostgreSQL holds text that is not UTF-8 in column {name!r} "
                        f"(rows {first + 1}-{first + n}): {exc}", field=name) from exc
    return array


def writable(schema: pa.Schema) -> bool:
    """Whether batches of this schema can be written in binary."""
    return all(f.type in _WRITE or f.type == pa.string() for f in schema)


def encode(batch: pa.RecordBatch) -> memoryview:
    """The rows of a batch (int64, float64, boolean and string columns) in binary COPY format,
    without the header and the trailer."""
    n = batch.num_rows
    columns = list(batch.columns)
    if n and all(c.type in _WRITE and c.null_count == 0 for c in columns):
        return _encode_fixed(columns, n)
    sizes = np.full(n, 2, dtype=np.int64)
    fields: list[tuple[np.ndarray, np.ndarray]] = []  # per column: lengths (-1 NULL), bytes per row
    for col in columns:
        valid = _valid(col)
        if col.type == pa.string():
            offsets = np.frombuffer(col.buffers()[1], dtype=np.int32)[col.offset:col.offset + n + 1].astype(np.int64)
            lengths = np.where(valid, np.diff(offsets), -1)
        else:
            lengths = np.where(valid, _WRITE[col.type][0], -1).astype(np.int64)
        fields.append((lengths, valid))
        sizes += 4 + np.maximum(lengths, 0)
    ends = np.cumsum(sizes)
    starts = ends - sizes
    out = np.empty(int(ends[-1]) if n else 0, dtype=np.uint8)
    _scatter(out, starts, np.full(n, len(columns), dtype=">i2"))
    pos = starts + 2
    for col, (lengths, valid) in zip(columns, fields, strict=True):
        _scatter(out, pos, lengths.astype(">i4"))
        size = np.maximum(lengths, 0)
        if col.type == pa.string():
            offsets = np.frombuffer(col.buffers()[1], dtype=np.int32)[col.offset:col.offset + n + 1].astype(np.int64)
            data = np.frombuffer(col.buffers()[2], dtype=np.uint8) if col.buffers()[2] is not None \
                else np.zeros(0, np.uint8)
            total = int(size.sum())
            within = np.arange(total, dtype=np.int64) - np.repeat(np.cumsum(size) - size, size)
            out[np.repeat(pos + 4, size) + within] = data[np.repeat(offsets[:-1], size) + within]
        else:
            dtype = _WRITE[col.type][1]
            if col.type == pa.bool_():
                values = np.asarray(col.fill_null(False).to_numpy(zero_copy_only=False), dtype=np.uint8)
            else:
                values = col.fill_null(0).to_numpy(zero_copy_only=False).astype(dtype)
            _scatter(out[:], (pos + 4)[valid], values[valid].astype(dtype))
        pos = pos + 4 + size
    return out.data


def _row_dtype(dtypes: Sequence[str]) -> np.dtype:
    """A row of fixed-width fields as a numpy structured type: field count, then length and value."""
    fields: list[tuple[str, str]] = [("n", ">i2")]
    for i, dtype in enumerate(dtypes):
        fields += [(f"l{i}", ">i4"), (f"v{i}", dtype)]
    return np.dtype(fields)  # packed: no alignment padding, as on the wire


def _encode_fixed(columns: list[pa.Array], n: int) -> memoryview:
    """Rows of fixed-width fields without NULL are all of one size: filled a column at a time."""
    rows = np.empty(n, dtype=_row_dtype([_WRITE[c.type][1] for c in columns]))
    rows["n"] = len(columns)
    for i, col in enumerate(columns):
        rows[f"l{i}"] = _WRITE[col.type][0]
        rows[f"v{i}"] = col.to_numpy(zero_copy_only=False)
    return rows.view(np.uint8).data


def _valid(col: pa.Array) -> np.ndarray:
    if col.null_count == 0:
        return np.ones(len(col), dtype=bool)
    return np.asarray(col.is_valid().to_numpy(zero_copy_only=False), dtype=bool)


def _scatter(out: np.ndarray, pos: np.ndarray, values: np.ndarray) -> None:
    """Write each big-endian value at its position."""
    width = values.dtype.itemsize
    out[pos[:, None] + np.arange(width)] = values.view(np.uint8).reshape(-1, width)


__all__ = ["HEADER", "TRAILER", "CopyDecoder", "encode", "supported", "writable"]
