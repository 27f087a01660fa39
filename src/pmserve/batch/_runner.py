"""The job runner: claims jobs from the store and runs them on a bounded pool of threads.

One runner per server process.  A background thread heartbeats every job this runner runs
(recording its progress and learning of cancel requests or deletions) and claims new jobs while
a worker is free.  Jobs live in the store, so nothing is lost with the process:

* a job whose runner stops heartbeating (the process was killed) is claimed again after
  ``PMSERVE_JOB_STALE_SECONDS`` and run from its first row - its earlier attempt's export was
  rolled back or is removed first (see ``_sinks``) - until ``PMSERVE_JOB_MAX_ATTEMPTS``, after
  which it is marked FAILED with the reason;
* a server shutting down hands its running jobs back (PENDING) for the next runner.

A job's failure is recorded in its status; it never stops the runner or the server.  Scoring
runs in the pool's threads, never on the event loop that serves online requests.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import shutil
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa

from pmserve.batch import _columns, _spec
from pmserve.batch._pipeline import ThreadedSink, prefetched, use_chunk_memory_pool
from pmserve.batch._service import now_ms
from pmserve.batch._sinks import FileSink, PostgresSink, Sink, open_sink
from pmserve.batch._sources import Context, Source, open_source
from pmserve.batch._spark import run_on_spark
from pmserve.batch._text import Chunk, Dialect
from pmserve.errors import DataError, PmserveError, RecordError
from pmserve.formats import Scorable, load_model
from pmserve.pmml import Scored
from pmserve.settings import Settings
from pmserve.store import CANCELED, FAILED, PENDING, RUNNING, SUCCESS, JobRecord, Store

log = logging.getLogger("pmserve.batch")

HEARTBEAT_SECONDS = 0.5  # also how soon a cancel request is seen: well within a second
POLL_SECONDS = 0.5  # how often a runner with a free worker looks for a job
PIPELINE_DEPTH = 1  # chunks read ahead, and chunks waiting to be written, beside the one being scored


class Stopped(Exception):
    """The job was canceled, deleted, taken over, or the server is shutting down."""


@dataclass
class Progress:
    """What a running job shares with the heartbeat thread."""

    record: JobRecord
    rows_done: int = 0
    rows_failed: int = 0
    samples: list[str] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)
    why: str = ""  # "canceled", "gone", "shutdown"

    def check(self) -> None:
        if self.stop.is_set():
            raise Stopped(self.why)


class JobRunner:
    def __init__(self, settings: Settings, store: Store, *, owner: str | None = None) -> None:
        self.settings = settings
        self.store = store
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.work_root = Path(settings.data_dir) / "job-work"
        self._pool = ThreadPoolExecutor(max_workers=max(settings.job_workers, 1), thread_name_prefix="pmserve-job")
        self._running: dict[tuple[str, str], Progress] = {}
        self._lock = threading.Lock()
        self._halt = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="pmserve-job-runner", daemon=True)

    # -- life cycle ---------------------------------------------------------------------------
    def start(self) -> None:
        """Start claiming jobs (PMSERVE_JOB_WORKERS=0: this process serves the API and runs none)."""
        if self.settings.job_workers == 0:
            return
        use_chunk_memory_pool()
        self.work_root.mkdir(parents=True, exist_ok=True)
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Stop claiming, hand running jobs back (PENDING) and wait for the workers to notice."""
        self._halt.set()
        with self._lock:
            for progress in self._running.values():
                progress.why = "shutdown"
                progress.stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)
        self._pool.shutdown(wait=True, cancel_futures=True)

    @property
    def running(self) -> int:
        with self._lock:
            return len(self._running)

    # -- the loop -----------------------------------------------------------------------------
    def _loop(self) -> None:
        next_claim = 0.0
        while not self._halt.is_set():
            try:
                self._heartbeat()
                if time.monotonic() >= next_claim:
                    next_claim = time.monotonic() + POLL_SECONDS
                    self._claim()
            except PmserveError as exc:  # the store is down: keep trying, jobs resume when it is back
                log.warning("job runner: %s", exc.message)
            except Exception:
                log.exception("job runner: unexpected error")
            self._halt.wait(HEARTBEAT_SECONDS)

    def _heartbeat(self) -> None:
        with self._lock:
            running = list(self._running.values())
        for p in running:
            status = self.store.heartbeat_job(p.record.tenant, p.record.job_id, self.owner, now_ms(),
                                              p.rows_done, p.rows_failed)
            if status is None:
                p.why = "gone"
                p.stop.set()
            elif status != RUNNING:
                p.why = "canceled"
                p.stop.set()

    def _claim(self) -> None:
        while self.running < self.settings.job_workers and not self._halt.is_set():
            stale = now_ms() - int(self.settings.job_stale_seconds * 1000)
            record = self.store.claim_job(self.owner, now_ms(), stale)
            if record is None:
                return
            progress = Progress(record)
            with self._lock:
                self._running[(record.tenant, record.job_id)] = progress
            log.info("job %r of tenant %r: attempt %d started by %s", record.job_id, record.tenant,
                     record.attempts, self.owner)
            self._pool.submit(self._run, progress)

    # -- one job ------------------------------------------------------------------------------
    def _run(self, progress: Progress) -> None:
        record = progress.record
        # One scratch directory per job, not per attempt: a resumed attempt first removes what an
        # interrupted one left (a half-written output file).
        work_dir = self.work_root / hashlib.sha256(f"{record.tenant}/{record.job_id}".encode()).hexdigest()[:24]
        status, message, result_file = FAILED, None, None
        try:
            shutil.rmtree(work_dir, ignore_errors=True)
            work_dir.mkdir(parents=True)
            status, message, result_file = self._execute(progress, work_dir)
        except Stopped:
            status = {"shutdown": PENDING, "gone": ""}.get(progress.why, CANCELED)
        except PmserveError as exc:
            message = exc.message
        except Exception as exc:  # a bug must not take the server down: the job records it
            log.exception("job %r of tenant %r failed", record.job_id, record.tenant)
            message = f"internal error: {type(exc).__name__}: {exc}; see the server log"
        finally:
            shutil.rmtree(work_dir, ignore_errors=True)
            with self._lock:
                self._running.pop((record.tenant, record.job_id), None)
        if status:
            with contextlib.suppress(PmserveError):
                self.store.finish_job(record.tenant, record.job_id, self.owner, status, now_ms(),
                                      rows_done=progress.rows_done, rows_failed=progress.rows_failed,
                                      failure_msg=message, result_file=result_file)
        log.info("job %r of tenant %r: %s after %d rows (%d failed)%s", record.job_id, record.tenant,
                 status or "deleted", progress.rows_done, progress.rows_failed, f": {message}" if message else "")

    def _execute(self, progress: Progress, work_dir: Path) -> tuple[str, str | None, str | None]:
        record = progress.record
        spec = _spec.parse(record.job_id, orjson.loads(record.definition))
        ctx = Context(self.store, record.tenant, record.job_id, self.settings, work_dir)
        if record.attempts > self.settings.job_max_attempts:
            return self._give_up(spec, ctx, record.attempts)
        content = self._model_file(spec, record.tenant)
        if spec.engine == "spark" or self.settings.spark_master is not None:
            outcome = run_on_spark(spec, content, ctx, self.settings.spark_master)
            progress.rows_done, progress.rows_failed = outcome.rows, outcome.failed
            return SUCCESS, _row_failures(progress), outcome.result_file
        model = load_model(spec.model_name, content)
        progress.check()
        result_file = self._run_locally(model, spec, ctx, progress)
        return SUCCESS, _row_failures(progress), result_file

    def _give_up(self, spec: _spec.JobSpec, ctx: Context, attempts: int) -> tuple[str, str, None]:
        """A job whose runners stopped too often: its partial output removed, FAILED with the reason."""
        if spec.engine == "local" and self.settings.spark_master is None:
            open_sink(spec.sink, ctx).abort()  # what the last interrupted attempt left
        return FAILED, (f"the server running this job stopped {attempts - 1} times before it ended "
                        f"(PMSERVE_JOB_MAX_ATTEMPTS={self.settings.job_max_attempts}); its partial output "
                        f"was removed"), None

    def _model_file(self, spec: _spec.JobSpec, tenant: str) -> bytes:
        """The job's model document, read from the file store."""
        model_file = self.store.file_info(tenant, spec.model_id)
        if model_file is None:
            raise DataError(f"model file {spec.model_id!r} is not in the file store (upload it with "
                            f"PUT /pm/v1/file/{spec.model_id})", field=spec.model_id)
        if model_file.size > self.settings.max_upload_bytes:
            raise DataError(f"model file {spec.model_id!r} is {model_file.size} bytes; models may be at most "
                            f"{self.settings.max_upload_bytes} bytes (PMSERVE_MAX_UPLOAD_MB)", field=spec.model_id)
        return b"".join(self.store.iter_file(model_file))

    def _run_locally(self, model: Scorable, spec: _spec.JobSpec, ctx: Context, progress: Progress) -> str | None:
        """Every row of the source scored into the sink, committed; the export's file id, if a file."""
        sink: Sink = open_sink(spec.sink, ctx)
        dialect = sink.dialect if isinstance(sink, FileSink) else None
        threaded: ThreadedSink | None = None
        if isinstance(sink, FileSink | PostgresSink):  # their writes may run in a thread of their own
            sink = threaded = ThreadedSink(sink, PIPELINE_DEPTH)
        try:
            with open_source(spec.source, ctx) as source:
                plan = _columns.layout(model, source.schema)
                sink.open(plan.schema)
                echo = threaded is not None and dialect is not None and source.text is not None \
                    and plan.keep == tuple(range(len(source.schema)))
                chunks = _chunks(source, dialect if echo else None, _columns.input_types(model),
                                 self.settings.job_chunk_rows)
                self._score_chunks(model, chunks, source.threadsafe, progress, spec.fail_on_row_errors,
                                   lambda chunk, scored: _write(model, chunk, scored, plan, sink, threaded))
            progress.check()
            return sink.commit()
        except BaseException:
            sink.abort()
            raise

    def _score_chunks(self, model: Scorable, chunks: Iterator[Chunk], threadsafe: bool, progress: Progress,
                      fail_on_row_errors: bool, write: Callable[[Chunk, Scored], None]) -> None:
        """Score every chunk and hand it to ``write``.  Sources that may be read from another thread
        are read (and their model inputs converted) a chunk ahead while this thread scores (see
        _pipeline)."""

        def convert(chunk: Chunk) -> tuple[Chunk, dict[str, Any]]:
            return chunk, _columns.model_inputs(model, chunk.batch)

        with (prefetched(chunks, convert, PIPELINE_DEPTH) if threadsafe
              else contextlib.nullcontext(map(convert, chunks))) as ready:
            for chunk, inputs in ready:
                progress.check()
                write(chunk, self._score(model, inputs, progress, fail_on_row_errors))
                progress.rows_done += chunk.batch.num_rows
                # Chunks are allocated by one thread and freed by another: without this,
                # Arrow's allocator keeps freed pages and memory creeps up with input size.
                pa.default_memory_pool().release_unused()
                time.sleep(0)  # let online requests have the interpreter between chunks

    def _score(self, model: Scorable, inputs: dict[str, Any], progress: Progress,
               fail_on_row_errors: bool) -> Scored:
        scored = model.score(inputs, errors="collect")
        errors = _columns.row_errors(scored, progress.rows_done)
        if errors:
            progress.rows_failed += len(errors)
            room = self.settings.job_error_samples - len(progress.samples)
            progress.samples += [f"row {row + 1}: {err.render(None)}" for row, err in errors[:max(room, 0)]]
            if fail_on_row_errors:
                row, err = errors[0]
                raise RecordError(f"cannot be scored (setting.failOnRowErrors): {err.render(None)}", row=row)
        return scored


def _write(model: Scorable, chunk: Chunk, scored: Scored, plan: _columns.Layout, sink: Sink,
           threaded: ThreadedSink | None) -> None:
    """A scored chunk to the sink: its rows' text echoed with the results' (see _text), or a batch."""
    if chunk.lines is not None and threaded is not None:
        threaded.write_echoed(chunk.lines, _columns.result_arrays(model, scored))
    else:
        sink.write(_columns.output_batch(model, chunk.batch, scored, plan))


def _chunks(source: Source, echo: Dialect | None, model_types: dict[str, pa.DataType], rows: int) -> Iterator[Chunk]:
    """The source's rows, at most ``rows`` at a time (readers of text files cut blocks by bytes;
    slices copy nothing); with ``echo``, the dialect of a text export that holds the input's
    columns unchanged, a text file's rows come with their text, to be echoed (see _text)."""
    chunks = source.echoed(echo, model_types, rows) if echo else (Chunk(batch) for batch in source.batches)
    for chunk in chunks:
        if chunk.lines is not None:
            yield chunk
            continue
        for offset in range(0, chunk.batch.num_rows, rows):
            yield Chunk(chunk.batch.slice(offset, rows))



def _row_failures(progress: Progress) -> str | None:
    if not progress.rows_failed:
        return None
    more = progress.rows_failed - len(progress.samples)
    tail = f"; and {more} more" if more > 0 else ""
    return (f"{progress.rows_failed} of {progress.rows_done} rows could not be scored (their result cells are "
            f"empty): {'; '.join(progress.samples)}{tail}")
