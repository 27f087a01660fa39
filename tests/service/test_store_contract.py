"""One contract every store satisfies, run against SQLite and PostgreSQL."""

from __future__ import annotations

import io
import threading
import time
from pathlib import Path

import pytest

from pmserve.errors import ConflictError, StoreUnavailableError
from pmserve.store import JobRecord, KeyRecord, NewVersion, SQLiteStore, Store, sha256_hex


def new(filename: str = "m.pmml", by: str = "alice") -> NewVersion:
    return NewVersion(filename=filename, tablename=None, format="pmml", created_by=by)


def test_put_then_read_round_trips_bytes_and_facts(store: Store) -> None:
    """A stored model reads back byte for byte with who/when/size/checksum recorded."""
    record, created = store.put_model("t", "m", b"<PMML/>", new(), "2024-01-01T00:00:00Z", keep_previous=5)
    assert created
    assert (record.size, record.sha256, record.created_by, record.created_at) == \
        (7, sha256_hex(b"<PMML/>"), "alice", "2024-01-01T00:00:00Z")
    assert store.current("t", "m") == record
    assert store.current_version("t", "m") == record.version
    assert store.read(record) == b"<PMML/>"


def test_refresh_keeps_previous_versions_up_to_the_limit(store: Store) -> None:
    """A refresh makes a new current version and keeps at most keep_previous older ones."""
    versions = [store.put_model("t", "m", f"v{i}".encode(), new(by=f"k{i}"), f"2024-01-0{i + 1}", 2)
                for i in range(5)]
    assert [created for _, created in versions] == [True, False, False, False, False]
    history = store.history("t", "m")
    assert [store.read(v) for v in history] == [b"v4", b"v3", b"v2"]
    assert history[0] == store.current("t", "m")
    assert len({v.version for v, _ in versions}) == 5


def test_versions_are_never_reused_after_delete(store: Store) -> None:
    """Re-deploying a deleted id gets a fresh version number (so caches cannot confuse them)."""
    first, _ = store.put_model("t", "m", b"a", new(), "now", 5)
    assert store.delete_model("t", "m")
    second, created = store.put_model("t", "m", b"a", new(), "now", 5)
    assert created
    assert second.version > first.version


def test_models_are_separated_by_tenant(store: Store) -> None:
    """The same context id in two tenants are two models."""
    store.put_model("alice", "m", b"a", new(), "now", 5)
    store.put_model("bob", "m", b"b", new(), "now", 5)
    assert [m.model_id for m in store.list_models("alice")] == ["m"]
    assert store.read(store.current("bob", "m")) == b"b"  # type: ignore[arg-type]
    assert store.delete_model("alice", "m")
    assert store.current("alice", "m") is None
    assert store.current("bob", "m") is not None
    assert [(m.tenant, m.model_id) for m in store.all_models()] == [("bob", "m")]


def test_delete_unknown_model_is_false(store: Store) -> None:
    """Deleting what is not there reports False and changes nothing."""
    assert store.delete_model("t", "nope") is False
    assert store.current_version("t", "nope") is None
    assert store.history("t", "nope") == []


def test_keys_are_found_by_hash_until_revoked(store: Store) -> None:
    """An active key is found by its hash; a revoked one is not; names are unique."""
    store.add_key(KeyRecord("app", "tenant-a", "hash-1", "now"))
    found = store.find_key("hash-1")
    assert found is not None
    assert (found.name, found.tenant, found.active) == ("app", "tenant-a", True)
    with pytest.raises(ConflictError, match="'app' exists already"):
        store.add_key(KeyRecord("app", "tenant-b", "hash-2", "now"))
    assert store.revoke_key("app", "later")
    assert store.find_key("hash-1") is None
    assert store.revoke_key("app", "later") is False
    assert [(k.name, k.revoked_at) for k in store.list_keys()] == [("app", "later")]


def test_concurrent_refreshes_leave_one_consistent_current_version(store: Store) -> None:
    """Refreshes from several threads all land, and the current version is the highest."""
    def refresh(i: int) -> None:
        for j in range(5):
            store.put_model("t", "m", f"{i}-{j}".encode(), new(), "now", 5)

    threads = [threading.Thread(target=refresh, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    history = store.history("t", "m")
    assert len(history) == 6
    assert store.current_version("t", "m") == max(v.version for v in history)


def test_sqlite_store_detects_a_corrupt_model_file(tmp_path: Path) -> None:
    """A model file changed on disk is refused by its checksum instead of served."""
    store = SQLiteStore(tmp_path)
    record, _ = store.put_model("t", "m", b"<PMML/>", new(), "now", 5)
    path = tmp_path / "blobs" / record.sha256[:2] / record.sha256
    path.write_bytes(b"<PMML>tampered</PMML>")
    with pytest.raises(StoreUnavailableError, match="corrupt"):
        store.read(record)
    store.close()


def test_sqlite_store_keeps_files_content_addressed(tmp_path: Path) -> None:
    """Model bytes live in blobs/<sha[:2]>/<sha>; identical uploads share one file."""
    store = SQLiteStore(tmp_path)
    a, _ = store.put_model("t", "a", b"same", new(), "now", 5)
    b, _ = store.put_model("t", "b", b"same", new(), "now", 5)
    assert a.sha256 == b.sha256
    assert [p.name for p in (tmp_path / "blobs").glob("*/*")] == [a.sha256]
    store.close()


def test_sqlite_generation_changes_with_writes_of_this_or_another_connection(tmp_path: Path) -> None:
    """Another process's commit (another store on the same file), or one's own, moves the generation."""
    mine, other = SQLiteStore(tmp_path), SQLiteStore(tmp_path)
    first = mine.generation()
    assert mine.generation() == first
    other.add_key(KeyRecord("app", "t", "hash-1", "now"))
    second = mine.generation()
    assert second != first
    assert mine.generation() == second
    mine.revoke_key("app", "later")
    assert mine.generation() != second
    # A thread's first look counts as a change: its connection has no earlier reading to compare.
    seen: list[int] = []
    worker = threading.Thread(target=lambda: seen.append(mine.generation()))
    worker.start()
    worker.join()
    assert seen[0] != second
    mine.close()
    other.close()


def test_sqlite_generation_sees_another_process_within_the_stale_bound_and_its_own_writes_at_once(
        tmp_path: Path) -> None:
    """With PMSERVE_STORE_STALE_S, SQLite is asked at most once per bound: another connection's commit
    shows after it, this store's own write at once."""
    mine, other = SQLiteStore(tmp_path, stale_s=0.05), SQLiteStore(tmp_path)
    first = mine.generation()
    other.add_key(KeyRecord("app", "t", "hash-1", "now"))
    time.sleep(0.06)  # past the bound: the next call asks SQLite again
    second = mine.generation()
    assert second != first
    mine.revoke_key("app", "later")
    assert mine.generation() != second
    mine.close()
    other.close()


def test_sqlite_generation_is_not_asked_again_within_the_stale_bound(tmp_path: Path) -> None:
    """Within the bound the number is kept: another connection's commit is not looked for yet."""
    mine, other = SQLiteStore(tmp_path, stale_s=3600), SQLiteStore(tmp_path)
    first = mine.generation()
    other.add_key(KeyRecord("app", "t", "hash-1", "now"))
    assert mine.generation() == first
    assert mine.find_key("hash-1") is not None  # the data itself is read fresh
    mine.close()
    other.close()


# -- batch files ----------------------------------------------------------------------------------

def test_file_put_then_read_round_trips_large_content_in_chunks(store: Store) -> None:
    """A file bigger than one chunk reads back byte for byte, with its size and checksum."""
    content = bytes(range(256)) * (5 * 1024 * 1024 // 256 + 3)
    record, created = store.put_file("t", "data.csv", io.BytesIO(content), "now")
    assert created
    assert (record.size, record.sha256) == (len(content), sha256_hex(content))
    assert store.file_info("t", "data.csv") == record
    chunks = list(store.iter_file(record))
    assert len(chunks) > 1
    assert b"".join(chunks) == content


def test_file_replace_is_atomic_and_reports_not_new(store: Store) -> None:
    """Putting an existing id replaces its bytes; an empty file is a file too."""
    store.put_file("t", "f", io.BytesIO(b"old"), "now")
    record, created = store.put_file("t", "f", io.BytesIO(b""), "later")
    assert not created
    assert record.size == 0
    assert b"".join(store.iter_file(record)) == b""
    assert [f.file_id for f in store.list_files("t")] == ["f"]


def test_files_are_separated_by_tenant_and_deleted(store: Store) -> None:
    """Each tenant sees only its files; deleting reports whether the file existed."""
    store.put_file("alice", "b", io.BytesIO(b"1"), "now")
    store.put_file("alice", "a", io.BytesIO(b"2"), "now")
    store.put_file("bob", "a", io.BytesIO(b"3"), "now")
    assert [f.file_id for f in store.list_files("alice")] == ["a", "b"]
    assert store.delete_file("alice", "a")
    assert store.delete_file("alice", "a") is False
    assert store.file_info("alice", "a") is None
    bob = store.file_info("bob", "a")
    assert bob is not None
    assert b"".join(store.iter_file(bob)) == b"3"


def test_file_store_does_not_disturb_model_files(store: Store) -> None:
    """A model and a file with the same bytes live and die independently."""
    model, _ = store.put_model("t", "m", b"same", new(), "now", 5)
    store.put_file("t", "f", io.BytesIO(b"same"), "now")
    assert store.delete_file("t", "f")
    assert store.read(model) == b"same"


# -- jobs -----------------------------------------------------------------------------------------

def job(job_id: str = "j", tenant: str = "t", created_at: int = 1000) -> JobRecord:
    return JobRecord(tenant=tenant, job_id=job_id, definition='{"action": "BATCH_SCORE"}', status="PENDING",
                     created_at=created_at)


def test_job_ids_are_unique_unless_replaced(store: Store) -> None:
    """A second put of an id conflicts; replace resubmits it as a new PENDING job."""
    assert store.put_job(job(), replace=False)
    with pytest.raises(ConflictError, match="exists already"):
        store.put_job(job(), replace=False)
    assert store.put_job(job(created_at=2000), replace=True) is False
    got = store.get_job("t", "j")
    assert got is not None
    assert (got.status, got.created_at, got.attempts) == ("PENDING", 2000, 0)


def test_running_job_cannot_be_replaced(store: Store) -> None:
    """A job being run refuses a resubmission until it ends."""
    store.put_job(job(), replace=False)
    assert store.claim_job("runner-1", now=5000, stale_before=0) is not None
    with pytest.raises(ConflictError, match="RUNNING"):
        store.put_job(job(), replace=True)


def test_claim_takes_oldest_pending_job_once(store: Store) -> None:
    """Claims hand out each pending job to one runner, oldest first, counting attempts."""
    store.put_job(job("late", created_at=2000), replace=False)
    store.put_job(job("early", created_at=1000), replace=False)
    first = store.claim_job("a", now=5000, stale_before=0)
    second = store.claim_job("b", now=5000, stale_before=0)
    assert first is not None
    assert second is not None
    assert (first.job_id, first.owner, first.status, first.attempts, first.started_at) == \
        ("early", "a", "RUNNING", 1, 5000)
    assert second.job_id == "late"
    assert store.claim_job("c", now=5000, stale_before=0) is None


def test_concurrent_claims_never_share_a_job(store: Store) -> None:
    """Many runners claiming at once get distinct jobs, and every job is claimed."""
    for i in range(12):
        store.put_job(job(f"j{i:02}", created_at=i), replace=False)
    got: list[str] = []
    lock = threading.Lock()

    def runner(name: str) -> None:
        while (claimed := store.claim_job(name, now=10_000, stale_before=0)) is not None:
            with lock:
                got.append(claimed.job_id)

    threads = [threading.Thread(target=runner, args=(f"r{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(got) == [f"j{i:02}" for i in range(12)]


def test_silent_runner_loses_its_job_to_another(store: Store) -> None:
    """A running job whose heartbeat is older than the stale mark is claimed again, attempt 2."""
    store.put_job(job(), replace=False)
    store.claim_job("dead", now=1000, stale_before=0)
    assert store.claim_job("alive", now=1500, stale_before=500) is None  # heartbeat 1000 is fresh
    taken = store.claim_job("alive", now=9000, stale_before=2000)
    assert taken is not None
    assert (taken.owner, taken.attempts) == ("alive", 2)
    # The old runner finds out at its next heartbeat and cannot finish the job.
    assert store.heartbeat_job("t", "j", "dead", 9100, 5, 0) is None
    assert store.finish_job("t", "j", "dead", "SUCCESS", 9100, rows_done=5, rows_failed=0) is False


def test_heartbeat_records_progress_and_reports_cancel(store: Store) -> None:
    """Progress lands in the record; a cancel request shows up as CANCELING to the runner."""
    store.put_job(job(), replace=False)
    store.claim_job("r", now=1000, stale_before=0)
    assert store.heartbeat_job("t", "j", "r", 1200, 300, 2) == "RUNNING"
    got = store.get_job("t", "j")
    assert got is not None
    assert (got.rows_done, got.rows_failed, got.heartbeat_at) == (300, 2, 1200)
    canceled = store.cancel_job("t", "j", 1300)
    assert canceled is not None
    assert canceled.status == "CANCELING"
    assert store.heartbeat_job("t", "j", "r", 1400, 400, 2) == "CANCELING"
    assert store.finish_job("t", "j", "r", "CANCELED", 1500, rows_done=400, rows_failed=2)
    done = store.get_job("t", "j")
    assert done is not None
    assert (done.status, done.finished_at, done.owner) == ("CANCELED", 1500, None)


def test_cancel_of_pending_job_is_immediate(store: Store) -> None:
    """A job nobody runs yet is canceled at once and never claimed."""
    store.put_job(job(), replace=False)
    canceled = store.cancel_job("t", "j", 1300)
    assert canceled is not None
    assert (canceled.status, canceled.finished_at) == ("CANCELED", 1300)
    assert store.claim_job("r", now=2000, stale_before=0) is None
    assert store.cancel_job("t", "nope", 1) is None


def test_finish_records_result_and_handing_back_makes_job_pending(store: Store) -> None:
    """A finished job keeps its outcome; a job handed back (shutdown) is PENDING and claimable."""
    store.put_job(job("a"), replace=False)
    store.put_job(job("b", created_at=2000), replace=False)
    store.claim_job("r", now=1000, stale_before=0)
    assert store.finish_job("t", "a", "r", "FAILED", 1100, rows_done=10, rows_failed=3,
                            failure_msg="boom", result_file="a_result.txt")
    a = store.get_job("t", "a")
    assert a is not None
    assert (a.status, a.failure_msg, a.result_file, a.rows_failed) == ("FAILED", "boom", "a_result.txt", 3)
    store.claim_job("r", now=1200, stale_before=0)
    assert store.finish_job("t", "b", "r", "PENDING", 1300, rows_done=0, rows_failed=0)
    again = store.claim_job("r2", now=1400, stale_before=0)
    assert again is not None
    assert (again.job_id, again.attempts) == ("b", 1)  # a hand-back is not a crash: not counted


def test_delete_jobs_counts_and_separates_tenants(store: Store) -> None:
    """Deleting a list of ids counts those that existed, for the caller's tenant only."""
    store.put_job(job("a"), replace=False)
    store.put_job(job("b"), replace=False)
    store.put_job(job("a", tenant="other"), replace=False)
    assert store.delete_jobs("t", ["a", "b", "zz", "a"]) == 2
    assert store.list_jobs("t") == []
    assert [j.job_id for j in store.list_jobs("other")] == ["a"]


def test_adopted_local_file_reads_back(store: Store, tmp_path: Path) -> None:
    """A job's finished output file handed to the store reads back byte for byte under its id."""
    path = tmp_path / "out.part"
    path.write_bytes(b"a\tb\r\n1\t2\r\n")
    record, created = store.adopt_file("t", "out.txt", path, "now")
    assert created
    assert (record.size, record.sha256) == (10, sha256_hex(b"a\tb\r\n1\t2\r\n"))
    assert b"".join(store.iter_file(record)) == b"a\tb\r\n1\t2\r\n"
    assert store.file_info("t", "out.txt") == record


def test_adopted_file_with_its_writers_digest_reads_back(store: Store, tmp_path: Path) -> None:
    """A file handed over with the sha256 and size its writer computed is stored under that hash."""
    content = b"x,y\n" + b"1,2\n" * 100_000
    path = tmp_path / "out.part"
    path.write_bytes(content)
    record, _ = store.adopt_file("t", "out.csv", path, "now", (sha256_hex(content), len(content)))
    assert (record.size, record.sha256) == (len(content), sha256_hex(content))
    assert b"".join(store.iter_file(record)) == content
