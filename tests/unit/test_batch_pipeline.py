"""The reader and writer threads of a batch job (pmserve.batch._pipeline)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pyarrow as pa
import pytest

from pmserve.batch._pipeline import WriterThread, prefetched, use_chunk_memory_pool
from pmserve.errors import DataError


def test_prefetched_items_come_in_order_with_their_work_done() -> None:
    with prefetched(range(100), lambda i: i * i, depth=2) as ready:
        assert list(ready) == [i * i for i in range(100)]


def test_an_error_while_reading_is_raised_in_the_consumer_after_the_items_before_it() -> None:
    def items() -> Iterator[int]:
        yield 1
        yield 2
        raise DataError("the input cannot be read: row 3")

    got = []
    with pytest.raises(DataError, match="row 3"), prefetched(items(), lambda i: i, depth=1) as ready:
        got.extend(ready)
    assert got == [1, 2]


def test_a_consumer_that_stops_early_stops_the_reader_which_reads_no_more_than_depth_ahead() -> None:
    read = []

    def items() -> Iterator[int]:
        for i in range(1_000_000):
            read.append(i)
            yield i

    with prefetched(items(), lambda i: i, depth=2) as ready:
        assert next(ready) == 0
        time.sleep(0.3)
    assert len(read) <= 5  # the one taken, two queued, one in hand, one being read
    assert not [t for t in threading.enumerate() if t.name == "pmserve-job-reader"]


def test_writer_writes_everything_in_order_before_finish_returns() -> None:
    written: list[int] = []
    writer: WriterThread[int] = WriterThread(written.append, depth=2)
    for i in range(50):
        writer.put(i)
    writer.finish()
    assert written == list(range(50))


def test_a_write_error_is_raised_by_finish_and_later_items_are_not_written() -> None:
    written: list[int] = []

    def write(i: int) -> None:
        if i == 3:
            raise DataError("disk full at item 3")
        written.append(i)

    def put_all(writer: WriterThread[int]) -> None:
        for i in range(10):
            writer.put(i)
        writer.finish()

    writer: WriterThread[int] = WriterThread(write, depth=1)
    with pytest.raises(DataError, match="disk full at item 3"):
        put_all(writer)
    writer.cancel()  # what the sink's abort does
    assert written == [0, 1, 2]


def test_cancel_drops_what_is_queued_and_ends_the_thread() -> None:
    gate = threading.Event()
    written: list[int] = []

    def write(i: int) -> None:
        gate.wait(5)
        written.append(i)

    writer: WriterThread[int] = WriterThread(write, depth=3)
    for i in range(3):
        writer.put(i)
    gate.set()
    writer.cancel()
    assert len(written) <= 1
    assert not [t for t in threading.enumerate() if t.name == "pmserve-job-writer"]


@pytest.fixture
def arrow_pool() -> Iterator[None]:
    before = pa.default_memory_pool()
    yield
    pa.set_memory_pool(before)


def test_jobs_use_arrows_jemalloc_pool_when_the_build_has_it(monkeypatch: pytest.MonkeyPatch,
                                                              arrow_pool: None) -> None:
    try:
        pa.jemalloc_memory_pool()
    except NotImplementedError:
        pytest.skip("this pyarrow is built without jemalloc")
    monkeypatch.delenv("ARROW_DEFAULT_MEMORY_POOL", raising=False)
    pa.set_memory_pool(pa.system_memory_pool())
    use_chunk_memory_pool()
    assert pa.default_memory_pool().backend_name == "jemalloc"


def test_a_pool_named_by_arrows_own_variable_is_left_alone(monkeypatch: pytest.MonkeyPatch,
                                                            arrow_pool: None) -> None:
    monkeypatch.setenv("ARROW_DEFAULT_MEMORY_POOL", "system")
    pa.set_memory_pool(pa.system_memory_pool())
    use_chunk_memory_pool()
    assert pa.default_memory_pool().backend_name == "system"
