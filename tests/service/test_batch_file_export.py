"""A file export is stored under the hash of the bytes it wrote (pmserve.batch._sinks.FileSink)."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pmserve.batch import _sinks
from pmserve.batch._sources import Context
from pmserve.batch._spec import FileRef
from pmserve.settings import Settings
from pmserve.store import SQLiteStore


@pytest.mark.parametrize("fmt", ["CSV", "TAB", "PARQUET"])
def test_file_export_is_stored_under_the_hash_of_what_it_wrote(fmt: str, settings: Settings, tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """The digest computed while writing (with waits for the disk on the way) addresses the stored file."""
    monkeypatch.setattr(_sinks, "_SYNC_BYTES", 4096)  # wait for the disk many times
    store = SQLiteStore(settings.data_dir)
    work = tmp_path / "work"
    work.mkdir()
    sink = _sinks.FileSink(FileRef("out", fmt), Context(store, "t", "job", settings, work))
    batch = pa.record_batch({"x": pa.array([i / 7 for i in range(5000)]), "y": pa.array([str(i) for i in range(5000)])})
    sink.open(batch.schema)
    sink.write(batch)
    sink.write(batch.slice(10, 100))
    assert sink.commit() == "out"
    record = store.file_info("t", "out")
    assert record is not None
    content = b"".join(store.iter_file(record))  # the store checks the bytes against the record's hash
    assert (record.sha256, record.size) == (hashlib.sha256(content).hexdigest(), len(content))
    if fmt == "PARQUET":
        assert pq.read_table(io.BytesIO(content)).num_rows == 5100
    else:
        assert content.count(b"\n") == 5101
    assert not list(work.iterdir())  # nothing left in the job's scratch space
