"""A batch job's definition (reference §2.8): parsed and checked at submit, echoed as IBM did.

What a job reads and writes is checked here for shape only; whether its model file or its tables
exist is found out when it runs (IBM accepted such jobs and failed them later in their status).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from pmserve.errors import BadRequestError

ACTIONS_RUN = ("BATCH_SCORE", "RUN_STREAM")
ACTIONS_IBM = ("TRAINING", "EVALUATION", "AUTO_REFRESH", *ACTIONS_RUN)
INSERT_MODES = ("Create", "Append", "Drop", "Refresh")
#: Database types pmserve reads and writes, by the lower-case name a job may use.
DB_KINDS: Mapping[str, Literal["postgresql", "mysql", "sqlite"]] = {
    "postgresql": "postgresql", "postgres": "postgresql", "mysql": "mysql", "mariadb": "mysql",
    "sqlite": "sqlite"}
DB_TYPES_IBM = ("ApacheHive", "DashDB", "DB2", "Greenplum", "Impala", "Informix", "MySQL", "Oracle", "PostgreSQL",
                "ProgressOpenEdge", "Salesforce", "SQLServer", "Sybase", "SybaseIQ", "Teradata")
FileFormat = Literal["CSV", "TAB", "PARQUET", "JSONL"]
FILE_FORMATS: tuple[FileFormat, ...] = ("CSV", "TAB", "PARQUET", "JSONL")
OUTPUT_FORMATS: tuple[FileFormat, ...] = ("TAB", "CSV", "PARQUET")
REPORT_FORMATS_IBM = ("HTML", "JPG", "PNG", "RTF", "SAV", "TAB", "XML")
_SUFFIXES: Mapping[str, FileFormat] = {
    ".csv": "CSV", ".tab": "TAB", ".tsv": "TAB", ".txt": "TAB", ".parquet": "PARQUET", ".pq": "PARQUET",
    ".jsonl": "JSONL", ".ndjson": "JSONL", ".json": "JSONL"}
#: File ids: no path separators, '?' or '#' (they are URL path segments), nor control characters.
FILE_ID = re.compile(r"[^\x00-\x1f\x7f/\\?#]{1,200}")
#: Job ids also exclude ',' (DELETE /pm/v1/jobs/a,b,c names several).
JOB_ID = re.compile(r"[^\x00-\x1f\x7f/\\?#,]{1,200}")
#: A table name: plain identifiers, optionally qualified by a schema ("SCHEMA.TABLE").
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_$]{0,62}")


@dataclass(frozen=True)
class Database:
    """One entry of ``dbDefinitions``."""

    ref: str
    kind: Literal["postgresql", "mysql", "sqlite"]
    host: str
    port: int | None
    db: str
    username: str | None
    password: str | None
    options: str | None


@dataclass(frozen=True)
class TableRef:
    database: Database
    table: tuple[str, ...]  # (table,) or (schema, table)
    insert_mode: str  # exports only; "Create" for inputs

    @property
    def name(self) -> str:
        return ".".join(self.table)


@dataclass(frozen=True)
class FileRef:
    file_id: str
    format: FileFormat


Endpoint = TableRef | FileRef


@dataclass(frozen=True)
class JobSpec:
    """What a job runs: a model file scored over one input into one export."""

    action: str
    model_id: str
    model_name: str
    source: Endpoint
    sink: Endpoint  # a FileRef with the generated result id when the job names no export
    engine: Literal["local", "spark"]
    fail_on_row_errors: bool


def check_file_id(file_id: str) -> None:
    if not FILE_ID.fullmatch(file_id):
        raise BadRequestError(f"file id must be 1-200 characters without '/', '\\', '?', '#' or control "
                              f"characters; got {file_id!r:.220}")


def check_job_id(job_id: str) -> None:
    if not JOB_ID.fullmatch(job_id):
        raise BadRequestError(f"job id must be 1-200 characters without '/', '\\', '?', '#', ',' or control "
                              f"characters; got {job_id!r:.220}")


def result_file_id(job_id: str, fmt: FileFormat) -> str:
    """The file id of a job's output when the job names no export (its status's dataUrl)."""
    return f"{job_id}_result.{ {'TAB': 'txt', 'CSV': 'csv', 'PARQUET': 'parquet', 'JSONL': 'jsonl'}[fmt]}"


def normalise(body: Any) -> dict[str, Any]:
    """The definition as echoed in the job JSON: ``setting.parameterOverride`` defaults to ``[]``."""
    if not isinstance(body, Mapping):
        raise BadRequestError(f"a job definition must be a JSON object; got {type(body).__name__}")
    echoed = dict(body)
    setting = echoed.get("setting")
    if isinstance(setting, Mapping):
        echoed["setting"] = {**setting, "parameterOverride": setting.get("parameterOverride", [])}
    return echoed


def parse(job_id: str, body: Mapping[str, Any]) -> JobSpec:
    """Check a definition's shape; raise BadRequestError naming the first thing that is wrong."""
    action = body.get("action")
    if action not in ACTIONS_IBM:
        raise BadRequestError(f"'action' must be one of {', '.join(ACTIONS_IBM)}; got {action!r:.100}")
    if action not in ACTIONS_RUN:
        raise BadRequestError(f"action {action} is not supported: pmserve runs {' and '.join(ACTIONS_RUN)} jobs "
                              f"(it scores models; it does not train or evaluate them)")
    model = body.get("model")
    if not isinstance(model, Mapping) or not isinstance(model.get("id"), str):
        raise BadRequestError(f"'model' must be an object with the file id of the model: "
                              f"{{\"id\": \"...\", \"name\": \"...\"}}; got {model!r:.200}")
    check_file_id(model["id"])
    name = model.get("name")
    model_name = name if isinstance(name, str) and name.strip() else model["id"]
    databases = _databases(body.get("dbDefinitions"))
    setting = body.get("setting", {})
    if not isinstance(setting, Mapping):
        raise BadRequestError(f"'setting' must be an object; got {setting!r:.200}")
    inputs = setting.get("inputs")
    if not isinstance(inputs, list) or len(inputs) != 1:
        raise BadRequestError(f"'setting.inputs' must name exactly one input (the scoring branch's source); "
                              f"got {inputs!r:.200}")
    source = _endpoint(inputs[0], databases, "setting.inputs[0]", export=False)
    exports = setting.get("exports", [])
    if not isinstance(exports, list) or len(exports) > 1:
        raise BadRequestError(f"'setting.exports' must be a list of at most one export; got {exports!r:.200}")
    report = setting.get("reportFormat", body.get("reportFormat", "TAB"))
    if report not in OUTPUT_FORMATS:
        what = "an IBM report format pmserve does not write" if report in REPORT_FORMATS_IBM else "unknown"
        raise BadRequestError(f"reportFormat {report!r:.50} is {what}; pmserve writes "
                              f"{', '.join(OUTPUT_FORMATS)}")
    if exports:
        sink = _endpoint(exports[0], databases, "setting.exports[0]", export=True)
    else:
        sink = FileRef(result_file_id(job_id, report), report)
    engine = body.get("engine", "local")
    if engine not in ("local", "spark"):
        raise BadRequestError(f"'engine' must be 'local' or 'spark'; got {engine!r:.50}")
    fail = setting.get("failOnRowErrors", False)
    if not isinstance(fail, bool):
        raise BadRequestError(f"'setting.failOnRowErrors' must be true or false; got {fail!r:.50}")
    return JobSpec(action, model["id"], model_name, source, sink, engine, fail)


def _databases(defs: Any) -> dict[str, Database]:
    if defs is None:
        return {}
    if not isinstance(defs, Mapping):
        raise BadRequestError(f"'dbDefinitions' must be an object of named databases; got {defs!r:.200}")
    out: dict[str, Database] = {}
    for ref, d in defs.items():
        if not isinstance(d, Mapping):
            raise BadRequestError(f"dbDefinitions.{ref} must be an object; got {d!r:.100}")
        kind = DB_KINDS.get(str(d.get("type", "")).lower())
        if kind is None:
            known = "an IBM database type pmserve cannot reach" if d.get("type") in DB_TYPES_IBM else "unknown"
            raise BadRequestError(f"dbDefinitions.{ref}: database type {d.get('type')!r:.50} is {known}; "
                                  f"pmserve reads and writes PostgreSQL, MySQL (or MariaDB) and SQLite")
        port = d.get("port")
        if isinstance(port, str) and port.strip().isdigit():
            port = int(port)  # IBM's clients sent the port as a number or a string
        if port is not None and (not isinstance(port, int) or isinstance(port, bool) or not 0 < port < 65536):
            raise BadRequestError(f"dbDefinitions.{ref}.port must be a port number; got {port!r:.50}")
        db = d.get("db")
        if not isinstance(db, str) or not db:
            raise BadRequestError(f"dbDefinitions.{ref}.db must name the database; got {db!r:.100}")
        out[ref] = Database(str(ref), kind, str(d.get("host") or "127.0.0.1"), port, db,
                            _opt_str(d.get("username")), _opt_str(d.get("password")), _opt_str(d.get("options")))
    return out


def _opt_str(value: Any) -> str | None:
    return None if value is None else str(value)


def _endpoint(item: Any, databases: Mapping[str, Database], where: str, *, export: bool) -> Endpoint:
    if not isinstance(item, Mapping):
        raise BadRequestError(f"{where} must be an object; got {item!r:.200}")
    if isinstance(item.get("odbc"), Mapping):
        odbc = item["odbc"]
        ref = odbc.get("dbRef")
        if ref not in databases:
            raise BadRequestError(f"{where}.odbc.dbRef {ref!r:.100} names no entry of dbDefinitions "
                                  f"(known: {', '.join(map(repr, databases)) or 'none'})")
        table = odbc.get("table") or item.get("node")
        if not isinstance(table, str) or not all(_IDENT.fullmatch(p) for p in table.split(".")) \
                or table.count(".") > 1:
            raise BadRequestError(f"{where}.odbc.table must be a table name (letters, digits, _ and $, "
                                  f"optionally SCHEMA.TABLE); got {table!r:.100}")
        mode = odbc.get("insertMode", "Create") if export else "Create"
        if mode not in INSERT_MODES:
            raise BadRequestError(f"{where}.odbc.insertMode must be one of {', '.join(INSERT_MODES)}; "
                                  f"got {mode!r:.50}")
        return TableRef(databases[ref], tuple(table.split(".")), mode)
    if isinstance(item.get("file"), Mapping):
        spec = item["file"]
        file_id = spec.get("id")
        if not isinstance(file_id, str):
            raise BadRequestError(f"{where}.file.id must be the id of a file in the file store; got {file_id!r:.100}")
        check_file_id(file_id)
        fmt = spec.get("format") or _SUFFIXES.get(_suffix(file_id), "CSV")
        allowed = OUTPUT_FORMATS if export else FILE_FORMATS
        if fmt not in allowed:
            raise BadRequestError(f"{where}.file.format must be one of {', '.join(allowed)}; got {fmt!r:.50}")
        return FileRef(file_id, fmt)
    raise BadRequestError(f"{where} must name a database table ({{\"odbc\": {{\"dbRef\", \"table\"}}}}) or a file "
                          f"of the file store ({{\"file\": {{\"id\", \"format\"}}}}); got {item!r:.200}")


def _suffix(file_id: str) -> str:
    dot = file_id.rfind(".")
    return file_id[dot:].lower() if dot > 0 else ""
