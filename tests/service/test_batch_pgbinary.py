"""PostgreSQL's binary COPY format as batch jobs read and write it (pmserve.batch._pgbinary)."""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterator
from typing import Any

import pyarrow as pa
import pytest
from tests.service.conftest import POSTGRES_DSN

from pmserve.batch import _pgbinary
from pmserve.errors import DataError

COLUMNS = ("b", "s", "i", "l", "d", "t", "v", "c")
DDL = "b BOOLEAN, s SMALLINT, i INTEGER, l BIGINT, d DOUBLE PRECISION, t TEXT, v VARCHAR(10), c CHAR(4)"
OIDS = (16, 21, 23, 20, 701, 25, 1043, 1042)
# Extremes of every type, NULL in every column, text needing CSV quoting, a 100,000-character value.
ROWS = [
    (True, -32768, -2147483648, -9223372036854775808, 1e308, "héllo", "", "ab"),
    (None, None, None, None, None, None, None, None),
    (False, 32767, 2147483647, 9223372036854775807, float("nan"), 'x,"y"\n', "z", "abcd"),
    (True, 0, 0, 0, float("-inf"), "w" * 100_000, None, None),
    (None, 7, None, 8, 5e-324, None, "é", "e"),
]


@pytest.fixture
def pg() -> Iterator[tuple[Any, str]]:
    psycopg = pytest.importorskip("psycopg")
    try:
        conn = psycopg.connect(POSTGRES_DSN, autocommit=True, connect_timeout=3)
    except psycopg.Error as exc:
        pytest.skip(f"PostgreSQL at {POSTGRES_DSN} is unreachable: {exc}")
    table = f"t{uuid.uuid4().hex[:10]}"
    yield conn, table
    conn.execute(f'DROP TABLE IF EXISTS "{table}"')
    conn.close()


def copy_out(conn: Any, table: str) -> list[bytes]:
    with conn.cursor().copy(f'COPY "{table}" TO STDOUT (FORMAT BINARY)') as copy:
        return [bytes(m) for m in copy]


def decode(messages: list[bytes], chunk: int = 1000) -> list[dict[str, Any]]:
    decoder = _pgbinary.CopyDecoder(COLUMNS, OIDS)
    rows: list[dict[str, Any]] = []
    for m in messages:
        decoder.feed(m)
        if decoder.pending >= chunk:
            rows += decoder.take().to_pylist()
    rows += decoder.take().to_pylist()
    assert decoder.ended
    return rows


def same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return a == b or (math.isnan(a) and math.isnan(b))
    return bool(a == b)


def assert_rows(got: list[dict[str, Any]], expected: list[tuple[Any, ...]]) -> None:
    assert len(got) == len(expected)
    for g, e in zip(got, expected, strict=True):
        for name, want in zip(COLUMNS, e, strict=True):
            if name == "c" and want is not None:
                want = want.ljust(4)  # char(4) is padded, as text COPY shows it too
            assert same(g[name], want), (name, g[name], want)


@pytest.mark.postgres
def test_every_supported_type_with_nulls_and_extremes_reads_as_postgres_stored_it(pg: tuple[Any, str]) -> None:
    conn, table = pg
    conn.execute(f'CREATE TABLE "{table}" ({DDL})')
    with conn.cursor().copy(f'COPY "{table}" FROM STDIN') as copy:
        for r in ROWS:
            copy.write_row(r)
    messages = copy_out(conn, table)
    assert_rows(decode(messages), ROWS)
    assert_rows(decode(messages, chunk=2), ROWS)  # in several takes
    decoder = _pgbinary.CopyDecoder(COLUMNS, OIDS)
    assert decoder.schema.types == [pa.bool_(), pa.int64(), pa.int64(), pa.int64(), pa.float64(),
                                    pa.string(), pa.string(), pa.string()]


@pytest.mark.postgres
def test_rows_without_nulls_read_through_the_same_size_path_equal_the_general_path(pg: tuple[Any, str]) -> None:
    conn, table = pg
    conn.execute(f'CREATE TABLE "{table}" (b BOOLEAN, s SMALLINT, i INTEGER, l BIGINT, d DOUBLE PRECISION)')
    rows = [(k % 3 == 0, k - 500, k * 1000, k * 10**12, k / 7) for k in range(1000)]
    with conn.cursor().copy(f'COPY "{table}" FROM STDIN') as copy:
        for r in rows:
            copy.write_row(r)
    decoder = _pgbinary.CopyDecoder(COLUMNS[:5], OIDS[:5])
    for m in copy_out(conn, table):
        decoder.feed(m)
    got = decoder.take().to_pylist()
    assert [tuple(g.values()) for g in got] == rows


@pytest.mark.postgres
def test_encoded_batches_copy_into_postgres_and_read_back_equal(pg: tuple[Any, str]) -> None:
    conn, table = pg
    conn.execute(f'CREATE TABLE "{table}" (l BIGINT, d DOUBLE PRECISION, b BOOLEAN, t TEXT)')
    with_nulls = pa.record_batch({"l": pa.array([1, None, -(2**63)], pa.int64()),
                                  "d": pa.array([0.1, float("inf"), None], pa.float64()),
                                  "b": pa.array([None, True, False]),
                                  "t": pa.array(["a\tb", None, "é" * 70_000])})
    dense = pa.record_batch({"l": pa.array(range(500), pa.int64()), "d": pa.array([k / 3 for k in range(500)]),
                             "b": pa.array([k % 2 == 0 for k in range(500)]),
                             "t": pa.array([str(k) for k in range(500)])})
    fixed = dense.select(["l", "d", "b"])
    with conn.cursor().copy(f'COPY "{table}" (l, d, b, t) FROM STDIN (FORMAT BINARY)') as copy:
        copy.write(_pgbinary.HEADER)
        copy.write(_pgbinary.encode(with_nulls))
        copy.write(_pgbinary.encode(dense.slice(100, 50)))  # a slice: offsets into shared buffers
        copy.write(_pgbinary.TRAILER)
    with conn.cursor().copy(f'COPY "{table}" (l, d, b) FROM STDIN (FORMAT BINARY)') as copy:
        copy.write(_pgbinary.HEADER + _pgbinary.encode(fixed.slice(10, 5)) + _pgbinary.TRAILER)
    got = conn.execute(f'SELECT l, d, b, t FROM "{table}"').fetchall()
    expected = [tuple(r.values()) for r in with_nulls.to_pylist() + dense.slice(100, 50).to_pylist()]
    expected += [(*tuple(r.values()), None) for r in fixed.slice(10, 5).to_pylist()]
    assert got == expected


def stream(rows: list[bytes]) -> list[bytes]:
    """A binary COPY stream as psycopg hands it out: the header with the first row, then a row a message."""
    return [_pgbinary.HEADER + rows[0], *rows[1:], _pgbinary.TRAILER]


def row(*fields: bytes | None) -> bytes:
    out = len(fields).to_bytes(2, "big")
    for f in fields:
        out += (-1).to_bytes(4, "big", signed=True) if f is None else len(f).to_bytes(4, "big") + f
    return out


def take(messages: list[bytes], names: tuple[str, ...] = ("l", "t"), oids: tuple[int, ...] = (20, 25)) -> Any:
    decoder = _pgbinary.CopyDecoder(names, oids)
    for m in messages:
        decoder.feed(m)
    return decoder.take()


GOOD = row((5).to_bytes(8, "big"), b"x")


def test_a_well_formed_stream_decodes() -> None:
    assert take(stream([GOOD, row(None, None)])).to_pylist() == [{"l": 5, "t": "x"}, {"l": None, "t": None}]


@pytest.mark.parametrize(("messages", "why"), [
    ([b"PGCOPY\nXX" + GOOD], "signature"),
    (stream([GOOD, row((5).to_bytes(8, "big"))]), r"near this row: a row of 1 fields, the table has 2 \(row 2\)"),
    (stream([GOOD, row((5).to_bytes(4, "big"), b"x")]), r"near this row: field 'l' is not 8 bytes long \(row 2\)"),
    (stream([GOOD, GOOD[:-1]]), r"near this row: field 't' runs past the end of its row \(row 2\)"),
    (stream([GOOD + b"!"]), r"near this row: a row longer than its fields \(row 1\)"),
    (stream([GOOD, GOOD[:8]]), r"near this row: field 'l' runs past the end of its row \(row 2\)"),
    (stream([GOOD, GOOD[:14]]), r"near this row: field 't' cut short \(row 2\)"),
    (stream([GOOD, b"\x00"]), r"near this row: a row shorter than its field count \(row 2\)"),
    (stream([row((5).to_bytes(8, "big")).replace(b"\x00\x01", b"\x00\x02", 1) + (-7).to_bytes(4, "big", signed=True)]),
     r"near this row: field 't' has a negative length \(row 1\)"),
])
def test_a_corrupt_stream_is_refused_naming_the_row(messages: list[bytes], why: str) -> None:
    with pytest.raises(DataError, match=why):
        take(messages)


def test_text_that_is_not_utf8_is_refused() -> None:
    with pytest.raises(DataError, match="not UTF-8 in column 't'"):
        take(stream([row((1).to_bytes(8, "big"), b"\xff\xfe")]))


def test_data_after_the_end_marker_is_refused() -> None:
    with pytest.raises(DataError, match="after the end-of-data marker"):
        take([*stream([GOOD]), GOOD])


def test_same_size_rows_with_a_wrong_length_are_refused_not_misread() -> None:
    # Two rows of one size whose first field claims 4 bytes and the second 12: the fast path
    # declines and the general parse refuses them.
    bad = row((1).to_bytes(4, "big"), (2).to_bytes(12, "big"))
    with pytest.raises(DataError, match=r"near this row: field 'a' is not 8 bytes long \(row 1\)"):
        take(stream([bad, bad]), ("a", "b"), (20, 20))


def test_only_plain_types_are_read_in_binary() -> None:
    assert _pgbinary.supported([16, 21, 23, 20, 701, 25, 1043, 1042])
    assert not _pgbinary.supported([701, 1700])  # numeric: read as text COPY
    assert not _pgbinary.supported([700])  # real: its text is what online clients read
    with pytest.raises(ValueError, match="no binary reader"):
        _pgbinary.CopyDecoder(["n"], [1700])


def test_an_empty_table_is_a_header_and_the_end_marker() -> None:
    decoder = _pgbinary.CopyDecoder(("l",), (20,))
    decoder.feed(_pgbinary.HEADER + _pgbinary.TRAILER)
    assert decoder.ended
    assert decoder.take().num_rows == 0
