"""Reading, scoring and writing a job's chunks at the same time.

Arrow's readers and writers, numpy and the database drivers' I/O release the GIL, so a reader
thread that reads (and converts) the next chunks and a writer thread that formats and writes
the last ones keep both cores busy while the job's own thread scores.  Both hand chunks over
through queues of ``depth`` items, so memory stays bounded by a few chunks; an error in either
thread is raised in the job's thread, and a job that stops (canceled, failed) stops them and
waits for them before its source or sink is closed.
"""

from __future__ import annotations

import contextlib
import functools
import os
import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Generic, TypeVar

import pyarrow as pa

T = TypeVar("T")
U = TypeVar("U")

_END = object()
_POLL_SECONDS = 0.1


def use_chunk_memory_pool() -> None:
    """Make Arrow's jemalloc pool the process's default, unless ``ARROW_DEFAULT_MEMORY_POOL`` names
    one (Arrow's own variable) or this pyarrow was built without it (then Arrow's default stays).

    A job hands each chunk's memory back once it is written (``release_unused``), or memory would
    creep up with input size: chunks are allocated by one thread and freed by another.  pyarrow's
    default pool, mimalloc, then returns the freed pages to the system, and the next chunk faults
    in fresh huge pages that the kernel zeroes: 10 % of a CSV → CSV job's CPU.  jemalloc reuses
    them.  Measured: 1.2-1.4M rows/s against 1.0-1.2M for the logistic CSV → CSV job, peak RSS a
    few MiB lower (docs/performance.md).
    """
    if os.environ.get("ARROW_DEFAULT_MEMORY_POOL"):
        return
    try:
        pool = pa.jemalloc_memory_pool()
    except NotImplementedError:
        return
    pa.set_memory_pool(pool)


class _Failed:
    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


def _put(q: queue.Queue[Any], item: Any, stop: threading.Event) -> bool:
    """Put unless told to stop first; whether it was put."""
    while not stop.is_set():
        try:
            q.put(item, timeout=_POLL_SECONDS)
            return True
        except queue.Full:
            continue
    return False


@contextlib.contextmanager
def prefetched(items: Iterable[T], work: Callable[[T], U], depth: int) -> Iterator[Iterator[U]]:
    """``work(item)`` for every item, computed by a thread of its own up to ``depth`` items ahead."""
    q: queue.Queue[Any] = queue.Queue(maxsize=max(depth, 1))
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in items:
                if not _put(q, work(item), stop):
                    return
            _put(q, _END, stop)
        except BaseException as exc:  # handed to the consumer, which raises it
            _put(q, _Failed(exc), stop)

    thread = threading.Thread(target=produce, name="pmserve-job-reader", daemon=True)

    def consume() -> Iterator[U]:
        while True:
            got = q.get()
            if got is _END:
                return
            if isinstance(got, _Failed):
                raise got.exc
            yield got

    thread.start()
    try:
        yield consume()
    finally:
        stop.set()
        thread.join()


class WriterThread(Generic[T]):
    """Calls ``write`` for every item handed to :meth:`put`, in order, in a thread of its own."""

    def __init__(self, write: Callable[[T], None], depth: int) -> None:
        self._write = write
        self._q: queue.Queue[Any] = queue.Queue(maxsize=max(depth, 1))
        self._stop = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="pmserve-job-writer", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            item = self._q.get()
            if item is _END:
                return
            if self._error is None and not self._stop.is_set():
                try:
                    self._write(item)
                except BaseException as exc:  # raised by the next put or by finish
                    self._error = exc

    def put(self, item: T) -> None:
        self._raise()
        self._q.put(item)

    def behind(self) -> bool:
        """Whether items wait for the writer (it is the slower side right now)."""
        return not self._q.empty()

    def finish(self) -> None:
        """Wait until everything put is written; raise what writing raised."""
        self._q.put(_END)
        self._thread.join()
        self._raise()

    def cancel(self) -> None:
        """Drop what is not written yet and wait for the thread to end."""
        self._stop.set()
        while self._thread.is_alive():
            with contextlib.suppress(queue.Full):
                self._q.put(_END, timeout=_POLL_SECONDS)
            self._thread.join(_POLL_SECONDS)

    def _raise(self) -> None:
        if self._error is not None:
            raise self._error


class ThreadedSink:
    """A sink whose writes run in a writer thread (see :class:`WriterThread`); opened, committed
    and aborted in the job's thread, once the writer has finished."""

    def __init__(self, sink: Any, depth: int) -> None:
        self.sink = sink
        self.depth = depth
        self._writer: WriterThread[Callable[[], None]] | None = None

    def open(self, schema: pa.Schema) -> None:
        self.sink.open(schema)
        self._writer = WriterThread(_call, self.depth)

    def write(self, batch: pa.RecordBatch) -> None:
        self._put(functools.partial(self.sink.write, batch))

    def write_echoed(self, lines: pa.StringArray, results: list[pa.Array]) -> None:
        """The sink's ``write_echoed`` (a text file's, see _text), in the writer's thread.

        Formatting the rows' text is the larger part of it: when the writer is behind (a model
        that scores faster than its export is written, e.g. a regression), the calling thread
        formats the chunk and the writer only writes it; otherwise (a forest, whose scoring is the
        slower side) the writer formats as well.
        """
        if self._writer is not None and self._writer.behind():
            text = self.sink.echo(lines, results)
            self._put(functools.partial(self.sink.write_echo, lines, results, text))
        else:
            self._put(functools.partial(self.sink.write_echoed, lines, results))

    def _put(self, write: Callable[[], None]) -> None:
        if self._writer is None:
            raise RuntimeError("the sink is not open")
        self._writer.put(write)

    def commit(self) -> str | None:
        if self._writer is not None:
            self._writer.finish()
            self._writer = None
        result: str | None = self.sink.commit()
        return result

    def abort(self) -> None:
        if self._writer is not None:
            self._writer.cancel()
            self._writer = None
        self.sink.abort()


def _call(write: Callable[[], None]) -> None:
    write()


__all__ = ["ThreadedSink", "WriterThread", "prefetched", "use_chunk_memory_pool"]
