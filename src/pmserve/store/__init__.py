"""Where pmserve keeps access keys, deployed models, batch files and jobs: one :class:`Store` interface, two stores.

* :class:`SQLiteStore` - embedded: SQLite metadata plus content-addressed files in the data dir.
* :class:`PostgresStore` - shared: everything in PostgreSQL, for stateless replicas.
"""

from __future__ import annotations

from pmserve.settings import Settings
from pmserve.store._base import KeyRecord, ModelVersion, NewVersion, Store, sha256_hex
from pmserve.store._batch import (
    CANCELED,
    CANCELING,
    FAILED,
    PENDING,
    RUNNING,
    SUCCESS,
    FileRecord,
    JobRecord,
)
from pmserve.store._sqlite import SQLiteStore

__all__ = ["CANCELED", "CANCELING", "FAILED", "PENDING", "RUNNING", "SUCCESS", "FileRecord", "JobRecord", "KeyRecord",
           "ModelVersion", "NewVersion", "SQLiteStore", "Store", "open_store", "sha256_hex"]


def open_store(settings: Settings) -> Store:
    """The store the settings name: PostgreSQL when ``store_url`` is set, else SQLite in ``data_dir``."""
    if settings.store_url:
        from pmserve.store._postgres import PostgresStore

        return PostgresStore(settings.store_url, stale_s=settings.store_stale_s)
    return SQLiteStore(settings.data_dir, stale_s=settings.store_stale_s)
