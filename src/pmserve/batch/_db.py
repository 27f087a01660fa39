"""Connections to the databases a job names, and what differs between them.

PostgreSQL through psycopg 3 (identifiers quoted by ``psycopg.sql.Identifier``), MySQL and
MariaDB through PyMySQL, SQLite through the standard library.  MySQL and SQLite identifiers are
quoted only after the job definition's check (``_spec``) has limited them to letters, digits,
``_`` and ``$``, so no quote character can reach the SQL text.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pyarrow as pa

from pmserve.batch._spec import Database, TableRef
from pmserve.errors import ConfigurationError, DataError
from pmserve.settings import Settings

try:
    import psycopg
    from psycopg import sql as pgsql
except ImportError:  # pragma: no cover - the postgres extra is not installed
    psycopg = None  # type: ignore[assignment]
    pgsql = None  # type: ignore[assignment]

try:
    import pymysql
except ImportError:  # pragma: no cover - the batch extra is not installed
    pymysql = None  # type: ignore[assignment]

__all__ = ["SQL_TYPES", "connect", "missing_table", "pg_ident", "pgsql", "psycopg", "pymysql",
           "quoted", "sqlite_path"]

CONNECT_TIMEOUT_SECONDS = 10
#: The column types pmserve writes, per database, for each Arrow type of an output batch.
SQL_TYPES: dict[str, dict[pa.DataType, str]] = {
    "postgresql": {pa.int64(): "BIGINT", pa.float64(): "DOUBLE PRECISION", pa.bool_(): "BOOLEAN",
                   pa.string(): "TEXT"},
    "mysql": {pa.int64(): "BIGINT", pa.float64(): "DOUBLE", pa.bool_(): "BOOLEAN", pa.string(): "TEXT"},
    "sqlite": {pa.int64(): "INTEGER", pa.float64(): "REAL", pa.bool_(): "INTEGER", pa.string(): "TEXT"},
}


def connect(db: Database, settings: Settings) -> Any:
    """A new connection (not autocommit) to a job's database; DataError when it cannot be reached."""
    where = f"database {db.ref!r} ({db.kind} {db.host}:{db.port or 'default port'}/{db.db})"
    if db.kind == "postgresql":
        if psycopg is None:
            raise ConfigurationError("a job names a PostgreSQL database but psycopg is not installed; "
                                     "install pmserve[postgres]")
        try:
            return psycopg.connect(host=db.host, port=db.port or 5432, dbname=db.db, user=db.username,
                                   password=db.password, connect_timeout=CONNECT_TIMEOUT_SECONDS)
        except psycopg.Error as exc:
            raise DataError(f"cannot connect to {where}: {exc}".strip(), field=db.ref) from exc
    if db.kind == "mysql":
        if pymysql is None:
            raise ConfigurationError("a job names a MySQL database but PyMySQL is not installed; "
                                     "install pmserve[batch]")
        try:
            return pymysql.connect(host=db.host, port=db.port or 3306, user=db.username or "",
                                   password=db.password or "", database=db.db, charset="utf8mb4",
                                   connect_timeout=CONNECT_TIMEOUT_SECONDS, autocommit=False)
        except pymysql.MySQLError as exc:
            raise DataError(f"cannot connect to {where}: {exc}", field=db.ref) from exc
    return sqlite3.connect(sqlite_path(db, settings), isolation_level=None, timeout=30.0)


def sqlite_path(db: Database, settings: Settings) -> Path:
    """A job's SQLite database: a file inside PMSERVE_JOB_SQLITE_DIR, never elsewhere."""
    if settings.job_sqlite_dir is None:
        raise DataError(f"database {db.ref!r} is SQLite, which jobs may use only when PMSERVE_JOB_SQLITE_DIR "
                        f"names the directory holding such databases", field=db.ref)
    root = settings.job_sqlite_dir.resolve()
    path = (root / db.db).resolve()
    if not path.is_relative_to(root) or path == root:
        raise DataError(f"SQLite database {db.db!r} of {db.ref!r} is outside PMSERVE_JOB_SQLITE_DIR ({root})",
                        field=db.ref, value=db.db)
    return path


def quoted(kind: str, parts: tuple[str, ...]) -> str:
    """A checked MySQL or SQLite identifier, quoted (see the module note)."""
    mark = "`" if kind == "mysql" else '"'
    return ".".join(f"{mark}{p}{mark}" for p in parts)


def pg_ident(parts: tuple[str, ...]) -> Any:
    return pgsql.Identifier(*parts)


def missing_table(ref: TableRef, exc: Exception) -> DataError:
    return DataError(f"table {ref.name!r} of database {ref.database.ref!r} cannot be read: {exc}".strip(),
                     field=ref.name)
