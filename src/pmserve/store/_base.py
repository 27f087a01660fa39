"""The storage contract: what the service needs from any store, and the records it gets back."""

from __future__ import annotations

import abc
import hashlib
from dataclasses import dataclass
from typing import Any

from pmserve.store._batch import BatchStore


@dataclass(frozen=True)
class KeyRecord:
    """An access key: only its hash is kept.  Its tenant owns every model deployed with it."""

    name: str
    tenant: str
    key_hash: str
    created_at: str
    revoked_at: str | None = None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


@dataclass(frozen=True)
class ModelVersion:
    """One stored version of a deployed model file."""

    tenant: str
    model_id: str
    version: int  # unique across the store and never reused, so a cached copy can be checked cheaply
    filename: str
    tablename: str | None  # the input table name fixed at deploy, if any
    format: str  # e.g. "pmml"
    size: int
    sha256: str
    created_by: str  # the key name (or "cli") that deployed it
    created_at: str  # ISO 8601, UTC


@dataclass(frozen=True)
class NewVersion:
    """What the service hands the store to deploy or refresh a model."""

    filename: str
    tablename: str | None
    format: str
    created_by: str


def models_schema(*, version_key: str, integer: str, blob_ref: str = "") -> str:
    """The keys, versions and models tables of both SQL stores, in the database's own column types.

    ``blob_ref`` is the constraint tying a version's checksum to its stored bytes (PostgreSQL
    keeps them in a table; SQLite keeps them as files).
    """
    return f"""
CREATE TABLE IF NOT EXISTS keys (
    name TEXT PRIMARY KEY,
    tenant TEXT NOT NULL,
    key_hash TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL,
    revoked_at TEXT
);
CREATE TABLE IF NOT EXISTS versions (
    version {version_key},
    tenant TEXT NOT NULL,
    model_id TEXT NOT NULL,
    filename TEXT NOT NULL,
    tablename TEXT,
    format TEXT NOT NULL,
    size {integer} NOT NULL,
    sha256 TEXT NOT NULL{blob_ref},
    created_by TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS versions_by_model ON versions (tenant, model_id, version);
CREATE TABLE IF NOT EXISTS models (
    tenant TEXT NOT NULL,
    model_id TEXT NOT NULL,
    current {integer} NOT NULL REFERENCES versions (version),
    PRIMARY KEY (tenant, model_id)
);
"""


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class Store(BatchStore):
    """Keys, deployed models and their version history, batch files and jobs, for every tenant.

    Implementations are safe to call from several threads and, through the database, from
    several processes.  ``put_model`` is atomic: readers see either the old or the new version.
    """

    # -- access keys --------------------------------------------------------------------------
    @abc.abstractmethod
    def add_key(self, record: KeyRecord) -> None:
        """Add a key; a key of the same name raises ConflictError."""

    @abc.abstractmethod
    def find_key(self, key_hash: str) -> KeyRecord | None:
        """The active key with this hash, or None."""

    @abc.abstractmethod
    def list_keys(self) -> list[KeyRecord]: ...

    @abc.abstractmethod
    def revoke_key(self, name: str, when: str) -> bool:
        """Revoke the active key ``name``; False when there is none."""

    # -- models -------------------------------------------------------------------------------
    @abc.abstractmethod
    def put_model(self, tenant: str, model_id: str, content: bytes, new: NewVersion,
                  created_at: str, keep_previous: int) -> tuple[ModelVersion, bool]:
        """Store ``content`` as the current version; returns it and whether the id was new.

        At most ``keep_previous`` earlier versions are kept.
        """

    @abc.abstractmethod
    def current(self, tenant: str, model_id: str) -> ModelVersion | None: ...

    @abc.abstractmethod
    def current_version(self, tenant: str, model_id: str) -> int | None:
        """Only the current version number: the cheap check made on every score request."""

    @abc.abstractmethod
    def history(self, tenant: str, model_id: str) -> list[ModelVersion]:
        """Every kept version, newest first (the current one included)."""

    @abc.abstractmethod
    def list_models(self, tenant: str) -> list[ModelVersion]:
        """The current version of each of the tenant's models, by model id."""

    @abc.abstractmethod
    def all_models(self) -> list[ModelVersion]:
        """The current version of every model of every tenant (start-up warm-up)."""

    @abc.abstractmethod
    def read(self, version: ModelVersion) -> bytes:
        """The bytes of a stored version (checked against its checksum)."""

    @abc.abstractmethod
    def delete_model(self, tenant: str, model_id: str) -> bool:
        """Delete a model and all its versions; False when it did not exist."""

    # -- change detection ---------------------------------------------------------------------
    def generation(self) -> int | None:
        """A number that changes whenever keys or models may have changed, by any process.

        Cheaper than the lookups it guards: a caller may keep what it read while the number
        stays the same.  None (the default) means the store cannot tell, so nothing is kept.
        """
        return None

    # -- life cycle ---------------------------------------------------------------------------
    @abc.abstractmethod
    def ping(self) -> None:
        """Raise StoreUnavailableError unless the store answers."""

    @abc.abstractmethod
    def close(self) -> None: ...


KEY_COLUMNS = "name, tenant, key_hash, created_at, revoked_at"
VERSION_COLUMNS = ("v.tenant, v.model_id, v.version, v.filename, v.tablename, v.format, v.size, "
                   "v.sha256, v.created_by, v.created_at")
CURRENT_SQL = f"SELECT {VERSION_COLUMNS} FROM models m JOIN versions v ON v.version = m.current"


class SQLStore(Store):
    """The read queries both SQL stores share (same schema; only the parameter marker differs)."""

    #: The driver's parameter marker: "?" for sqlite3, "%s" for psycopg.
    marker: str = "?"

    @abc.abstractmethod
    def _query(self, sql: str, params: tuple[object, ...] = ()) -> list[tuple[Any, ...]]: ...

    def _sql(self, sql: str) -> str:
        return sql.replace("?", self.marker)

    def find_key(self, key_hash: str) -> KeyRecord | None:
        rows = self._query(self._sql(f"SELECT {KEY_COLUMNS} FROM keys WHERE key_hash = ? AND revoked_at IS NULL"),
                           (key_hash,))
        return KeyRecord(*rows[0]) if rows else None

    def list_keys(self) -> list[KeyRecord]:
        return [KeyRecord(*r) for r in self._query(f"SELECT {KEY_COLUMNS} FROM keys ORDER BY name")]

    def current(self, tenant: str, model_id: str) -> ModelVersion | None:
        rows = self._query(self._sql(f"{CURRENT_SQL} WHERE m.tenant = ? AND m.model_id = ?"), (tenant, model_id))
        return ModelVersion(*rows[0]) if rows else None

    def current_version(self, tenant: str, model_id: str) -> int | None:
        rows = self._query(self._sql("SELECT current FROM models WHERE tenant = ? AND model_id = ?"),
                           (tenant, model_id))
        return int(rows[0][0]) if rows else None

    def history(self, tenant: str, model_id: str) -> list[ModelVersion]:
        rows = self._query(self._sql(f"SELECT {VERSION_COLUMNS} FROM versions v "
                                     "WHERE v.tenant = ? AND v.model_id = ? ORDER BY v.version DESC"),
                           (tenant, model_id))
        return [ModelVersion(*r) for r in rows]

    def list_models(self, tenant: str) -> list[ModelVersion]:
        rows = self._query(self._sql(f"{CURRENT_SQL} WHERE m.tenant = ? ORDER BY m.model_id"), (tenant,))
        return [ModelVersion(*r) for r in rows]

    def all_models(self) -> list[ModelVersion]:
        rows = self._query(f"{CURRENT_SQL} ORDER BY m.tenant, m.model_id")
        return [ModelVersion(*r) for r in rows]
