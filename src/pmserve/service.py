"""The core of pmserve, with no transport: keys, deploy/refresh, list, download, delete, score.

The ``/pm/v1`` HTTP adapter, the CLI and (later) batch runners all call one :class:`Service`.
It raises only :mod:`pmserve.errors`; each adapter renders them its own way.

Compiled models are cached in memory per (tenant, context id), and so are the access keys seen.
Both are trusted while the store's generation (see :meth:`pmserve.store.Store.generation`) stays
the same: SQLite asks ``PRAGMA data_version`` at most once per PMSERVE_STORE_STALE_S, PostgreSQL
hears it from a watcher thread that a trigger notifies (either way a change made elsewhere is seen
within PMSERVE_STORE_STALE_S; this process's own at once).  Otherwise a lookup asks
the store for the current version number - one indexed read - so several worker processes or
replicas sharing a store notice a refresh made through any of them.  A new model replaces the
cached one by a single dict assignment; a request that already holds the old model finishes on it.

:meth:`Service.cached` answers a score request's lookups from memory alone, so the HTTP adapter
can keep the event loop free of store queries and compiles; how long one record of a model takes
is measured when it is loaded (:attr:`Deployed.one_record_s`), so the adapter can tell whether a
small request is cheaper to score in place than to hand to a thread.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import logging
import re
import secrets
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from pmserve import metrics
from pmserve.errors import (
    BadRequestError,
    ConflictError,
    NotFoundError,
    PayloadTooLargeError,
    PmserveError,
    UnauthorizedError,
    UnsupportedFormatError,
    excerpt,
)
from pmserve.formats import StreamLimits, TableScorable, load_model
from pmserve.pmml import Field, Limits, kernels
from pmserve.scoring import (
    Deployed,
    ScoreTable,
    deployed_model,
    parse_score_request,
    probe,
    score_stream,
    score_table,
)
from pmserve.settings import Settings
from pmserve.store import KeyRecord, ModelVersion, NewVersion, Store, sha256_hex
from pmserve.tables import passthrough_columns

__all__ = [  # Deployed, ScoreTable, parse_score_request (pmserve.scoring) and passthrough_columns
    # (pmserve.tables) are re-exported: the adapters import them from here
    "DEFAULT_TABLENAME", "FILENAME_RULE", "ID_RULE", "DeployResult", "Deployed", "ModelMetadata", "ScoreTable",
    "Service", "Tenant", "check_filename", "check_id", "normalize_key", "parse_score_request",
    "passthrough_columns", "stream_limits",
]

log = logging.getLogger("pmserve.service")

DEFAULT_TABLENAME = "scoreInput"
#: Context ids, tenant names and file names: no control characters (C0, DEL, C1) - they break
#: headers, logs and PostgreSQL text (NUL) - and no path separators, '?' or '#' (URLs).
_ID = re.compile(r"[^\x00-\x1f\x7f-\x9f/\\?#]{1,200}")
_FILENAME = re.compile(r"[^\x00-\x1f\x7f-\x9f/\\]{1,255}")
ID_RULE = "1-200 characters without control characters, '/', '\\', '?' or '#', and not '.' or '..'"
FILENAME_RULE = "1-255 characters without control characters, '/' or '\\', and not '.' or '..'"
_KEY_NAME = re.compile(r"[A-Za-z0-9_.@-]{1,100}")


@dataclass(frozen=True)
class Tenant:
    """Who is calling: the tenant owning the models, and the key used."""

    name: str
    key_name: str


@dataclass(frozen=True)
class DeployResult:
    record: ModelVersion
    created: bool  # False: an existing context id was refreshed


@dataclass(frozen=True)
class ModelMetadata:
    tablename: str
    inputs: tuple[Field, ...]
    outputs: tuple[Field, ...]
    # Streams: every source node's table (scoring inputs first) and what the terminal shows.
    tables: tuple[tuple[str, tuple[Field, ...]], ...] = ()
    reply: tuple[Field, ...] | None = None


class Service:
    """Everything pmserve does, for every adapter.  Thread-safe."""

    def __init__(self, settings: Settings, store: Store) -> None:
        self.settings = settings
        self.store = store
        self._cache: dict[tuple[str, str], Deployed] = {}
        # What the store said at a generation (see Store.generation): trusted while it holds, so
        # a score request makes one cheap check instead of a key lookup and a version lookup.
        self._keys_seen: dict[str, tuple[int, KeyRecord]] = {}
        self._versions_seen: dict[tuple[str, str], int] = {}
        self._locks: dict[tuple[str, str], threading.Lock] = {}
        self._locks_lock = threading.Lock()
        self.warm = False
        self.failed_models: dict[tuple[str, str], str] = {}
        self.stream_limits = stream_limits(settings)

    # -- access keys --------------------------------------------------------------------------
    def create_key(self, name: str, tenant: str | None = None) -> str:
        """Make a new access key (returned once; only its hash is stored)."""
        if not _KEY_NAME.fullmatch(name):
            raise BadRequestError(f"key name must be 1-100 letters, digits or _ . @ -; got {name!r:.120}")
        if tenant is None:
            # A new key without an explicit tenant gets a tenant of its own: it must never join
            # (and read the models of) an existing tenant that happens to share its name.
            if any(r.tenant == name for r in self.store.list_keys()):
                raise ConflictError(f"a tenant named {name!r} exists already; name the key differently, or "
                                    f"pass the tenant explicitly (--tenant {name}) to share its models")
        else:
            check_id(tenant, "tenant name")
        key = secrets.token_urlsafe(32)  # 256 random bits, URL-safe: clients paste it into URLs
        self.store.add_key(KeyRecord(name=name, tenant=tenant or name, key_hash=_hash_key(key),
                                     created_at=_now()))
        return key

    def list_keys(self) -> list[KeyRecord]:
        return self.store.list_keys()

    def revoke_key(self, name: str) -> None:
        if not self.store.revoke_key(name, _now()):
            raise NotFoundError(f"no active access key named {name!r}", kind="key", ident=name)

    def key_is_active(self, key: str) -> bool:
        return self.store.find_key(_hash_key(normalize_key(key))) is not None

    def authenticate(self, raw_key: str | None) -> Tenant:
        """The tenant of an access key as sent by a client (quirks tolerated, see normalize_key)."""
        if raw_key is None or not raw_key.strip():
            raise UnauthorizedError("missing access key: pass it as the query parameter 'accesskey'")
        key_hash = _hash_key(normalize_key(raw_key))
        generation = self.store.generation()
        seen = self._keys_seen.get(key_hash)
        if seen is not None and seen[0] == generation:
            record: KeyRecord | None = seen[1]
        else:
            record = self.store.find_key(key_hash)
            if record is not None and generation is not None:
                if len(self._keys_seen) > 10_000:
                    self._keys_seen.clear()
                self._keys_seen[key_hash] = (generation, record)
        if record is None:
            raise UnauthorizedError("unknown or revoked access key")
        return Tenant(record.tenant, record.name)

    def tenant_of_key_name(self, name: str) -> Tenant:
        for record in self.store.list_keys():
            if record.name == name and record.active:
                return Tenant(record.tenant, record.name)
        raise NotFoundError(f"no active access key named {name!r}", kind="key", ident=name)

    # -- models -------------------------------------------------------------------------------
    def deploy(self, tenant: Tenant, model_id: str, filename: str, content: bytes, *,
               tablename: str | None = None) -> DeployResult:
        """Compile and verify a model file, then make it the live version of ``model_id``.

        Nothing changes unless every step succeeds: the previous version keeps serving.
        """
        check_id(model_id)
        check_filename(filename)
        deadline = time.monotonic() + self.settings.deploy_timeout_s
        if len(content) > self.settings.max_upload_bytes:
            raise PayloadTooLargeError(
                f"model file {filename!r} is {len(content)} bytes; the limit is "
                f"{self.settings.max_upload_bytes} bytes "
                f"(PMSERVE_MAX_UPLOAD_MB={self.settings.max_upload_mb:g})")
        if not content:
            raise UnsupportedFormatError(f"model file {filename!r} is empty")
        if tablename is not None and not tablename.strip():
            tablename = None
        limits = self.limits(deadline)
        try:
            model = load_model(filename, content, limits, stream_limits=self.stream_limits)
            model.verify()
            probe(model)
            limits.check_deadline("verifying")
        except PmserveError:
            metrics.DEPLOYS.labels("failed").inc()
            raise
        record, created = self.store.put_model(
            tenant.name, model_id, content,
            NewVersion(filename=filename, tablename=tablename, format=model.format,
                       created_by=tenant.key_name),
            created_at=_now(), keep_previous=self.settings.keep_versions)
        self._cache[(tenant.name, model_id)] = deployed_model(record, model)
        self.failed_models.pop((tenant.name, model_id), None)
        metrics.DEPLOYS.labels("success").inc()
        metrics.MODELS_LOADED.set(len(self._cache))
        log.info("deployed %r for tenant %r: version %d, %d bytes, sha256 %s",
                 model_id, tenant.name, record.version, record.size, record.sha256)
        return DeployResult(record, created)

    def limits(self, deadline: float | None = None) -> Limits:
        """The engine's limits from the settings (``deadline``: a deploy's time budget)."""
        st = self.settings
        return Limits(max_document_bytes=st.max_upload_bytes, max_depth=st.max_xml_depth,
                      max_attributes=st.max_xml_attributes, max_elements=st.max_xml_elements,
                      max_expression_depth=st.max_expression_depth, max_derived_depth=st.max_derived_depth,
                      deadline=deadline)

    def list_models(self, tenant: Tenant) -> list[ModelVersion]:
        return self.store.list_models(tenant.name)

    def history(self, tenant: Tenant, model_id: str) -> list[ModelVersion]:
        _check_lookup(model_id)
        versions = self.store.history(tenant.name, model_id)
        if not versions:
            raise _not_found(model_id)
        return versions

    def download(self, tenant: Tenant, model_id: str) -> tuple[ModelVersion, bytes]:
        _check_lookup(model_id)
        record = self.store.current(tenant.name, model_id)
        if record is None:
            raise _not_found(model_id)
        return record, self.store.read(record)

    def delete(self, tenant: Tenant, model_id: str) -> None:
        _check_lookup(model_id)
        if not self.store.delete_model(tenant.name, model_id):
            raise _not_found(model_id)
        self._cache.pop((tenant.name, model_id), None)

    def cached(self, raw_key: str | None, model_id: str) -> tuple[Tenant, Deployed] | None:
        """The caller's tenant and the live model when memory alone can tell, else None.

        No store query and no compile: what :meth:`authenticate` and :meth:`model` would return,
        when both found it cached at the store's current generation.
        """
        if not raw_key:
            return None
        generation = self.store.generation()
        if generation is None:
            return None
        seen = self._keys_seen.get(_hash_key(normalize_key(raw_key)))
        if seen is None or seen[0] != generation:
            return None
        key = (seen[1].tenant, model_id)
        deployed = self._cache.get(key)
        if deployed is None or self._versions_seen.get(key) != generation:
            return None
        return Tenant(seen[1].tenant, seen[1].name), deployed

    def inline(self, deployed: Deployed, rows: int) -> bool:
        """Whether scoring ``rows`` rows of the model costs less than handing them to a thread
        (PMSERVE_INLINE_SCORE_US: the time one record took at load, times the rows)."""
        return rows * deployed.one_record_s <= self.settings.inline_score_us * 1e-6

    def model(self, tenant: Tenant, model_id: str) -> Deployed:
        """The live compiled model (compiled from the store when the cache is missing or stale)."""
        _check_lookup(model_id)
        key = (tenant.name, model_id)
        with metrics.timed(metrics.STORE_SECONDS, "generation"):
            generation = self.store.generation()
        cached = self._cache.get(key)
        if cached is not None and generation is not None and self._versions_seen.get(key) == generation:
            return cached
        with metrics.timed(metrics.STORE_SECONDS, "current_version"):
            version = self.store.current_version(tenant.name, model_id)
        if version is None:
            self._cache.pop(key, None)
            raise _not_found(model_id)
        cached = self._cache.get(key)
        if cached is not None and cached.record.version == version:
            self._remember_version(key, generation)
            return cached
        with self._lock(key):
            cached = self._cache.get(key)
            if cached is not None and cached.record.version >= version:
                return cached
            record = self.store.current(tenant.name, model_id)
            if record is None:
                raise _not_found(model_id)
            deployed = deployed_model(record, load_model(record.filename, self.store.read(record), self.limits(),
                                                         stream_limits=self.stream_limits))
            self._cache[key] = deployed
            metrics.MODELS_LOADED.set(len(self._cache))
            if record.version == version:
                self._remember_version(key, generation)
            return deployed

    def _remember_version(self, key: tuple[str, str], generation: int | None) -> None:
        """The cached model of ``key`` was the store's current one at ``generation``."""
        if generation is not None:
            self._versions_seen[key] = generation

    def warm_up(self) -> None:
        """Load the engine's compiled kernels, then compile every deployed model (restart
        recovery), so that no request pays for either; failures are logged and kept for /ready."""
        started = time.perf_counter()
        kernels.warm_up()
        log.info("compiled kernels loaded in %.3f s", time.perf_counter() - started)
        for record in self.store.all_models():
            key = (record.tenant, record.model_id)
            try:
                deployed = deployed_model(record, load_model(record.filename, self.store.read(record),
                                                             self.limits(), stream_limits=self.stream_limits))
            except PmserveError as exc:
                self.failed_models[key] = exc.message
                log.error("model %r of tenant %r (version %d) cannot be loaded: %s",
                          record.model_id, record.tenant, record.version, exc.message)
                continue
            with self._lock(key):
                # Requests run while this thread warms up: one may have cached a refresh already.
                current = self._cache.get(key)
                if current is None or current.record.version < record.version:
                    self._cache[key] = deployed
        self.warm = True
        metrics.MODELS_LOADED.set(len(self._cache))

    @property
    def loaded_models(self) -> int:
        return len(self._cache)

    # -- scoring ------------------------------------------------------------------------------
    def score_tables(self, tenant: Tenant, model_id: str, tables: Sequence[ScoreTable]) -> list[ScoreTable]:
        """Score a request: a stream reads all its tables at once (one reply), other models each table."""
        with self._measured(tenant, model_id, sum(len(t.data) for t in tables)):
            return self._score_tables(model_id, self.model(tenant, model_id), tables)

    def score_with(self, tenant: Tenant, model_id: str, deployed: Deployed,
                   tables: Sequence[ScoreTable]) -> list[ScoreTable]:
        """:meth:`score_tables` with the live model already looked up (see :meth:`cached`)."""
        with self._measured(tenant, model_id, sum(len(t.data) for t in tables)):
            return self._score_tables(model_id, deployed, tables)

    def _score_tables(self, model_id: str, deployed: Deployed, tables: Sequence[ScoreTable]) -> list[ScoreTable]:
        if deployed.stream and isinstance(deployed.model, TableScorable):
            return [score_stream(deployed.model, tables)]
        return [score_table(model_id, deployed, t) for t in tables]

    def score(self, tenant: Tenant, model_id: str, table: ScoreTable) -> ScoreTable:
        """Score the rows of one table: the input columns, then the model's result columns."""
        with self._measured(tenant, model_id, len(table.data)):
            return self._score(tenant, model_id, table)

    @contextlib.contextmanager
    def _measured(self, tenant: Tenant, model_id: str, rows: int) -> Iterator[None]:
        """Score metrics: latency and rows when it succeeds, a refusal when it raises ours."""
        start = time.perf_counter()
        try:
            yield
        except PmserveError:
            metrics.child(metrics.SCORE_FAILURES, tenant.name, model_id).inc()
            raise
        metrics.child(metrics.SCORE_SECONDS, tenant.name, model_id).observe(time.perf_counter() - start)
        metrics.child(metrics.ROWS_SCORED, tenant.name, model_id).inc(rows)

    def _score(self, tenant: Tenant, model_id: str, table: ScoreTable) -> ScoreTable:
        deployed = self.model(tenant, model_id)
        if isinstance(deployed.model, TableScorable):
            return score_stream(deployed.model, [table])
        return score_table(model_id, deployed, table)

    def metadata(self, tenant: Tenant, model_id: str) -> ModelMetadata:
        deployed = self.model(tenant, model_id)
        model = deployed.model
        if isinstance(model, TableScorable):
            tables = model.input_tables
            return ModelMetadata(tables[0][0], tables[0][1], model.output_fields, tables=tables,
                                 reply=model.output_fields)
        return ModelMetadata(deployed.record.tablename or DEFAULT_TABLENAME,
                             model.input_fields, model.output_fields)

    # -- health -------------------------------------------------------------------------------
    def ping(self) -> None:
        self.store.ping()

    def close(self) -> None:
        self.store.close()

    def _lock(self, key: tuple[str, str]) -> threading.Lock:
        with self._locks_lock:
            return self._locks.setdefault(key, threading.Lock())


def stream_limits(settings: Settings) -> StreamLimits:
    """The bounds on reading one SPSS Modeler stream, from the ``PMSERVE_STR_*`` settings."""
    return StreamLimits(max_entries=settings.str_max_entries,
                        max_inflated_bytes=int(settings.str_max_inflated_mb * 1024 * 1024),
                        max_ratio=settings.str_max_ratio,
                        max_xml_chars=int(settings.str_max_xml_mb * 1024 * 1024),
                        max_depth=settings.str_max_depth, clem_max_length=settings.clem_max_length,
                        clem_max_depth=settings.clem_max_depth)


def normalize_key(raw: str) -> str:
    """Undo what clients do to keys (reference §4.3): one pair of surrounding quotes, '+' sent as space."""
    key = raw.strip()
    if len(key) >= 2 and key[0] == key[-1] and key[0] in "\"'":
        key = key[1:-1]
    return key.replace(" ", "+")


def _hash_key(key: str) -> str:
    # Keys carry >= 256 random bits, so a plain SHA-256 cannot be brute-forced; a slow KDF would
    # only add latency to every request.
    return sha256_hex(key.encode())


def check_id(value: str, what: str = "context id") -> None:
    """The one rule for ids (context ids, tenants; file and job ids too): see :data:`ID_RULE`."""
    if not _ID.fullmatch(value) or value in (".", ".."):
        raise BadRequestError(f"{what} must be {ID_RULE}; got {excerpt(value)}")


def check_filename(name: str) -> None:
    """The rule for uploaded file names (they end up in Content-Disposition headers)."""
    if not _FILENAME.fullmatch(name) or name in (".", ".."):
        raise BadRequestError(f"file name must be {FILENAME_RULE}; got {excerpt(name)}")


def _check_lookup(model_id: str) -> None:
    # An id outside the rule was never deployed; say so without asking the store (PostgreSQL
    # refuses a NUL in text and would look unavailable).
    if not _ID.fullmatch(model_id) or model_id in (".", ".."):
        raise NotFoundError(f"no model deployed with context id {excerpt(model_id)}", kind="model",
                            ident=model_id[:200])


def _not_found(model_id: str) -> NotFoundError:
    return NotFoundError(f"no model deployed with context id {model_id!r}", kind="model", ident=model_id)


def _now() -> str:
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="milliseconds")
