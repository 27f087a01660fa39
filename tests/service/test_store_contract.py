"""One contract every store satisfies, run against SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from pmserve.errors import ConflictError, StoreUnavailableError
from pmserve.store import KeyRecord, NewVersion, SQLiteStore, Store, sha256_hex


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
