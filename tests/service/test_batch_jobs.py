"""Batch jobs run end to end: files and tables in, scored rows out, as online scoring gives them."""

from __future__ import annotations

import contextlib
import csv
import io
import sqlite3
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from starlette.testclient import TestClient
from tests.service.conftest import IRIS_HEADER, POSTGRES_DSN

from pmserve.api import create_app
from pmserve.batch import _spark
from pmserve.service import Service
from pmserve.settings import Settings
from pmserve.store import SQLiteStore
from pmserve.store._postgres import PostgresStore

FINAL = ("SUCCESS", "FAILED", "CANCELED")


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    (tmp_path / "dbs").mkdir()
    return Settings(data_dir=tmp_path / "data", job_sqlite_dir=tmp_path / "dbs", job_chunk_rows=1000,
                    job_workers=2)


class Batch:
    """A running app with the iris model both deployed (online) and in the file store (batch)."""

    def __init__(self, client: TestClient, key: str, iris: bytes) -> None:
        self.client, self.key = client, key
        self.params = {"accesskey": key}
        self.put_file("iris.pmml", iris)
        deployed = client.put("/pm/v1/model/iris", params=self.params, files={"model_file": ("iris.pmml", iris)})
        assert deployed.json()["flag"]

    def put_file(self, file_id: str, content: bytes) -> None:
        reply = self.client.put(f"/pm/v1/file/{file_id}", params=self.params, files={"file": (file_id, content)})
        assert reply.status_code == 200

    def get_file(self, file_id: str) -> bytes:
        reply = self.client.get(f"/pm/v1/file/{file_id}", params=self.params)
        assert reply.status_code == 200, reply.text
        return reply.content

    def submit(self, job_id: str, inputs: Any, exports: Any = None, **extra: Any) -> None:
        setting: dict[str, Any] = {"inputs": [inputs], **extra.pop("setting", {})}
        if exports is not None:
            setting["exports"] = [exports]
        body = {"action": "BATCH_SCORE", "model": {"id": "iris.pmml", "name": "iris.pmml"}, "setting": setting,
                **extra}
        reply = self.client.post(f"/pm/v1/jobs/{job_id}", params=self.params, content=orjson.dumps(body))
        assert reply.status_code == 200, reply.text

    def status(self, job_id: str) -> dict[str, Any]:
        reply = self.client.get(f"/pm/v1/jobs/{job_id}/status", params=self.params)
        assert reply.status_code == 200
        result: dict[str, Any] = reply.json()
        return result

    def wait(self, job_id: str, until: tuple[str, ...] = FINAL, timeout: float = 60) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while (status := self.status(job_id))["jobStatus"] not in until:
            assert time.monotonic() < deadline, f"job {job_id} still {status} after {timeout} s"
            time.sleep(0.05)
        return status

    def online(self, rows: list[list[Any]]) -> list[list[Any]]:
        reply = self.client.post("/pm/v1/score/iris", params=self.params,
                                 json={"header": IRIS_HEADER, "data": rows})
        data: list[list[Any]] = reply.json()[0]["data"]
        return data


@contextlib.contextmanager
def running_app(settings: Settings, iris_pmml: bytes) -> Iterator[Batch]:
    service = Service(settings, SQLiteStore(settings.data_dir))
    key = service.create_key("alice")
    with TestClient(create_app(settings, service)) as client:
        yield Batch(client, key, iris_pmml)


@pytest.fixture
def batch(settings: Settings, iris_pmml: bytes) -> Iterator[Batch]:
    with running_app(settings, iris_pmml) as made:
        yield made


@pytest.fixture
def slow_batch(settings: Settings, iris_pmml: bytes) -> Iterator[Batch]:
    """Jobs read 16 rows at a time: long enough to be caught running."""
    with running_app(settings.replace(job_chunk_rows=16), iris_pmml) as made:
        yield made


def iris_rows(n: int) -> list[list[float]]:
    return [[4.3 + (i % 37) / 10, 2.0 + (i % 23) / 10, 1.0 + (i % 59) / 10, 0.1 + (i % 25) / 10] for i in range(n)]


def csv_bytes(header: list[str], rows: list[list[Any]], delimiter: str = ",") -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue().encode()


def assert_same_results(got: list[list[Any]], expected: list[list[Any]]) -> None:
    """Rows of scored values equal: text exactly, numbers within a relative 1e-12."""
    assert len(got) == len(expected)
    for g_row, e_row in zip(got, expected, strict=True):
        assert len(g_row) == len(e_row)
        for g, e in zip(g_row, e_row, strict=True):
            if isinstance(e, float):
                assert float(g) == pytest.approx(e, rel=1e-12, abs=1e-300)
            else:
                assert g == e


# -- files ----------------------------------------------------------------------------------------

def test_csv_job_writes_tab_report_equal_to_online_scoring(batch: Batch) -> None:
    """No export named: a TAB report (tab-separated, CRLF, header) at the status's dataUrl."""
    rows = iris_rows(2500)
    batch.put_file("in.csv", csv_bytes(IRIS_HEADER, rows))
    batch.submit("j", {"node": "in", "file": {"id": "in.csv"}})
    status = batch.wait("j")
    assert status["jobStatus"] == "SUCCESS", status
    assert status["dataUrl"].endswith("/pm/v1/file/j_result.txt")
    assert (status["rowsDone"], status["rowsFailed"]) == (2500, 0)
    text = batch.get_file("j_result.txt").decode()
    lines = text.split("\r\n")
    assert lines[-1] == ""
    assert lines[0].split("\t") == [*IRIS_HEADER, "species", "predicted_species", "probability_setosa",
                                    "probability_versicolor", "probability_virginica"]
    got = [line.split("\t") for line in lines[1:-1]]
    expected = batch.online(rows)
    assert_same_results([r[4:] for r in got], [r[4:] for r in expected])
    job = batch.client.get("/pm/v1/jobs/j", params=batch.params).json()
    assert job["status"] == "SUCCESS"
    assert job["finishedAt"] >= job["createdAt"]
    assert job["progress"] == {"rowsDone": 2500, "rowsFailed": 0, "attempts": 1}


def test_run_stream_action_scores_like_batch_score(batch: Batch) -> None:
    """RUN_STREAM (IBM's other action for scoring streams) runs the same way."""
    batch.put_file("in.csv", csv_bytes(IRIS_HEADER, iris_rows(10)))
    body = {"action": "RUN_STREAM", "model": {"id": "iris.pmml"}, "setting": {"inputs": [{"file": {"id": "in.csv"}}]}}
    assert batch.client.post("/pm/v1/jobs/rs", params=batch.params, content=orjson.dumps(body)).status_code == 200
    status = batch.wait("rs")
    assert (status["jobStatus"], status["rowsDone"]) == ("SUCCESS", 10)


def test_parquet_job_writes_parquet_with_typed_results(batch: Batch) -> None:
    """Parquet in, Parquet out (a named file export): results typed as the model says."""
    rows = iris_rows(3000)
    table = pa.table({name: [r[i] for r in rows] for i, name in enumerate(IRIS_HEADER)})
    sink = io.BytesIO()
    pq.write_table(table, sink)
    batch.put_file("in.parquet", sink.getvalue())
    batch.submit("p", {"file": {"id": "in.parquet"}}, {"file": {"id": "out.parquet"}})
    assert batch.wait("p")["jobStatus"] == "SUCCESS"
    exported = pq.ParquetFile(io.BytesIO(batch.get_file("out.parquet")))
    assert exported.num_row_groups == 1  # three chunks of 1,000 rows, gathered
    out = exported.read()
    assert out.schema.field("probability_setosa").type == pa.float64()
    assert out.schema.field("predicted_species").type == pa.string()
    expected = batch.online(rows)
    assert_same_results([list(r.values())[4:] for r in out.to_pylist()], [r[4:] for r in expected])


def test_json_lines_job_writes_csv(batch: Batch) -> None:
    """JSON lines in, CSV out; a missing value scores as online scoring scores null."""
    lines = [orjson.dumps(dict(zip(IRIS_HEADER, r, strict=True))) for r in iris_rows(50)]
    lines.append(orjson.dumps({"sepal_length": None, "sepal_width": 3.0, "petal_length": 1.2, "petal_width": 0.3}))
    batch.put_file("in.jsonl", b"\n".join(lines) + b"\n")
    batch.submit("js", {"file": {"id": "in.jsonl"}}, {"file": {"id": "out.csv", "format": "CSV"}})
    assert batch.wait("js")["jobStatus"] == "SUCCESS"
    got = list(csv.reader(io.StringIO(batch.get_file("out.csv").decode())))
    expected = batch.online([*iris_rows(50), [None, 3.0, 1.2, 0.3]])
    assert_same_results([r[4:] for r in got[1:]], [[("" if v is None else v) for v in r[4:]] for r in expected])


def test_bad_rows_are_counted_and_sampled_unless_the_job_fails_on_them(batch: Batch) -> None:
    """Rows that cannot be scored are counted and quoted in failureMsg; failOnRowErrors fails the job."""
    rows: list[list[Any]] = iris_rows(30)
    rows[7][0] = "abc"
    rows[25][1] = "x"
    batch.put_file("bad.csv", csv_bytes(IRIS_HEADER, rows))
    batch.submit("lenient", {"file": {"id": "bad.csv"}})
    status = batch.wait("lenient")
    assert (status["jobStatus"], status["rowsDone"], status["rowsFailed"]) == ("SUCCESS", 30, 2)
    assert "2 of 30 rows could not be scored" in status["failureMsg"]
    assert "row 8: field 'sepal_length' expects a number, got 'abc'" in status["failureMsg"]
    batch.submit("strict", {"file": {"id": "bad.csv"}}, setting={"failOnRowErrors": True})
    status = batch.wait("strict")
    assert status["jobStatus"] == "FAILED"
    assert "row 8 cannot be scored (setting.failOnRowErrors)" in status["failureMsg"]
    assert "dataUrl" not in status
    assert batch.client.get("/pm/v1/file/strict_result.txt", params=batch.params).status_code == 404


def test_missing_model_or_input_fails_later_in_the_status(batch: Batch) -> None:
    """Jobs naming a file that is not there are accepted, then FAILED saying what is missing."""
    body = {"action": "BATCH_SCORE", "model": {"id": "nope.pmml"}, "setting": {"inputs": [{"file": {"id": "x"}}]}}
    assert batch.client.post("/pm/v1/jobs/m", params=batch.params, content=orjson.dumps(body)).status_code == 200
    batch.submit("i", {"file": {"id": "no-such-input.csv"}})
    assert batch.wait("m") == {"jobId": "m", "jobStatus": "FAILED", "rowsDone": 0, "rowsFailed": 0,
                               "failureMsg": "model file 'nope.pmml' is not in the file store (upload it with "
                                             "PUT /pm/v1/file/nope.pmml)"}
    assert batch.wait("i")["failureMsg"] == "input file 'no-such-input.csv' is not in the file store"
    # ...and the runner goes on running the next job.
    batch.put_file("ok.csv", csv_bytes(IRIS_HEADER, iris_rows(3)))
    batch.submit("ok", {"file": {"id": "ok.csv"}})
    assert batch.wait("ok")["jobStatus"] == "SUCCESS"


def test_model_missing_a_field_fails_the_job_naming_it(batch: Batch) -> None:
    """An input without the model's fields fails with a message naming them."""
    batch.put_file("other.csv", b"a,b\n1,2\n")
    batch.submit("f", {"file": {"id": "other.csv"}})
    status = batch.wait("f")
    assert status["jobStatus"] == "FAILED"
    assert "sepal_length" in status["failureMsg"]


def big_input(batch: Batch, rows: int) -> None:
    batch.put_file("big.csv", csv_bytes(IRIS_HEADER, iris_rows(rows)))


def test_cancel_stops_a_running_job_and_keeps_no_output(slow_batch: Batch) -> None:
    """Cancel of a running job ends it CANCELED, with no result file."""
    big_input(slow_batch, 200_000)
    slow_batch.submit("long", {"file": {"id": "big.csv"}})
    slow_batch.wait("long", until=("RUNNING", *FINAL))
    reply = slow_batch.client.post("/pm/v1/jobs/long/cancel", params=slow_batch.params)
    assert reply.json()["jobStatus"] in ("CANCELING", "CANCELED")
    status = slow_batch.wait("long", timeout=10)
    assert status["jobStatus"] == "CANCELED"
    assert status["rowsDone"] < 200_000
    assert slow_batch.client.get("/pm/v1/file", params=slow_batch.params).json() == ["big.csv", "iris.pmml"]


def test_deleting_a_running_job_stops_it(slow_batch: Batch) -> None:
    """DELETE of a running job answers 1; the job stops and leaves no output."""
    big_input(slow_batch, 200_000)
    slow_batch.submit("long", {"file": {"id": "big.csv"}})
    slow_batch.wait("long", until=("RUNNING", *FINAL))
    assert slow_batch.client.delete("/pm/v1/jobs/long", params=slow_batch.params).text == "1"
    deadline = time.monotonic() + 10
    while slow_batch.client.app.state.runner.running:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert slow_batch.client.get("/pm/v1/file", params=slow_batch.params).json() == ["big.csv", "iris.pmml"]


def test_spark_job_fails_clearly_without_the_spark_engine(batch: Batch) -> None:
    """engine=spark without pmserve.spark installed: FAILED, saying the engine is not installed."""
    if _spark.load_spark()[0] is not None:
        pytest.skip("pmserve.spark is installed")
    batch.put_file("in.csv", csv_bytes(IRIS_HEADER, iris_rows(3)))
    batch.submit("s", {"file": {"id": "in.csv"}}, engine="spark")
    status = batch.wait("s")
    assert status["jobStatus"] == "FAILED"
    assert status["failureMsg"].startswith("Spark engine not installed")


# -- databases ------------------------------------------------------------------------------------

def sqlite_db(settings: Settings, name: str = "w.db") -> dict[str, Any]:
    return {"w": {"type": "SQLite", "db": name}}


def test_sqlite_table_to_table_with_every_insert_mode(batch: Batch, settings: Settings) -> None:
    """Create makes the table (typed), Append adds, Refresh replaces rows, Drop replaces the table."""
    assert settings.job_sqlite_dir is not None
    path = settings.job_sqlite_dir / "w.db"
    rows = iris_rows(1500)
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE flowers (sepal_length REAL, sepal_width REAL, petal_length REAL, "
                   "petal_width REAL, label TEXT)")
        db.executemany("INSERT INTO flowers VALUES (?, ?, ?, ?, ?)", [(*r, f"n{i}") for i, r in enumerate(rows)])

    def run(job_id: str, mode: str) -> dict[str, Any]:
        batch.submit(job_id, {"odbc": {"dbRef": "w", "table": "flowers"}},
                     {"odbc": {"dbRef": "w", "table": "scored", "insertMode": mode}}, dbDefinitions=sqlite_db(settings))
        return batch.wait(job_id)

    def count() -> int:
        with sqlite3.connect(path) as db:
            return int(db.execute("SELECT COUNT(*) FROM scored").fetchone()[0])

    assert run("c1", "Create")["jobStatus"] == "SUCCESS"
    with sqlite3.connect(path) as db:
        types = {r[1]: r[2] for r in db.execute("PRAGMA table_info(scored)")}
        got = [list(r) for r in db.execute("SELECT species, predicted_species, probability_setosa, "
                                           "probability_versicolor, probability_virginica, label FROM scored")]
    assert types["probability_setosa"] == "REAL"
    assert types["predicted_species"] == "TEXT"
    assert_same_results([r[:5] for r in got], [r[4:] for r in batch.online(rows)])
    assert [r[5] for r in got] == [f"n{i}" for i in range(1500)]
    failed = run("c2", "Create")
    assert failed["jobStatus"] == "FAILED"
    assert "exists already (insertMode Create)" in failed["failureMsg"]
    assert run("a", "Append")["jobStatus"] == "SUCCESS"
    assert count() == 3000
    assert run("r", "Refresh")["jobStatus"] == "SUCCESS"
    assert count() == 1500
    assert run("d", "Drop")["jobStatus"] == "SUCCESS"
    assert count() == 1500


def test_sqlite_database_outside_the_allowed_directory_is_refused(batch: Batch, settings: Settings) -> None:
    """A job cannot point SQLite at a file outside PMSERVE_JOB_SQLITE_DIR."""
    batch.submit("x", {"odbc": {"dbRef": "w", "table": "t"}}, dbDefinitions=sqlite_db(settings, "../data/x.db"))
    status = batch.wait("x")
    assert status["jobStatus"] == "FAILED"
    assert "outside PMSERVE_JOB_SQLITE_DIR" in status["failureMsg"]


@pytest.fixture
def pg_tables() -> Iterator[tuple[Any, str]]:
    """A connection to the test PostgreSQL database and a unique table-name prefix (dropped after)."""
    psycopg = pytest.importorskip("psycopg")
    try:
        conn = psycopg.connect(POSTGRES_DSN, autocommit=True, connect_timeout=3)
    except psycopg.Error as exc:
        pytest.skip(f"PostgreSQL at {POSTGRES_DSN} is unreachable: {exc}")
    prefix = f"t{uuid.uuid4().hex[:10]}"
    yield conn, prefix
    for (name,) in conn.execute("SELECT tablename FROM pg_tables WHERE tablename LIKE %s", (prefix + "%",)):
        conn.execute(f'DROP TABLE "{name}"')
    conn.close()


def pg_definition() -> dict[str, Any]:
    parts = urlsplit(POSTGRES_DSN)
    return {"pg": {"type": "PostgreSQL", "host": parts.hostname, "port": parts.port or 5432,
                   "db": parts.path.lstrip("/"), "username": parts.username, "password": parts.password}}


@pytest.mark.postgres
def test_postgres_table_to_new_table_equals_online_scoring(batch: Batch, pg_tables: tuple[Any, str]) -> None:
    """PostgreSQL -> PostgreSQL (COPY both ways): the created table holds exactly the online results."""
    conn, prefix = pg_tables
    rows = iris_rows(4000)
    conn.execute(f'CREATE TABLE "{prefix}_in" (id INTEGER, sepal_length DOUBLE PRECISION, '
                 "sepal_width DOUBLE PRECISION, petal_length NUMERIC, petal_width REAL, note TEXT)")
    with conn.cursor().copy(f'COPY "{prefix}_in" FROM STDIN') as copy:
        for i, r in enumerate(rows):
            copy.write_row((i, r[0], r[1], r[2], r[3], "" if i % 2 else None))
    batch.submit("pg", {"odbc": {"dbRef": "pg", "table": f"{prefix}_in"}},
                 {"odbc": {"dbRef": "pg", "table": f"{prefix}_out", "insertMode": "Create"}},
                 dbDefinitions=pg_definition())
    status = batch.wait("pg")
    assert status["jobStatus"] == "SUCCESS", status
    types = dict(conn.execute("SELECT column_name, data_type FROM information_schema.columns "
                              "WHERE table_name = %s", (f"{prefix}_out",)).fetchall())
    assert types["probability_setosa"] == "double precision"
    assert types["predicted_species"] == "text"
    assert types["id"] == "bigint"
    got = conn.execute(f'SELECT id, note, species, predicted_species, probability_setosa, probability_versicolor, '
                       f'probability_virginica FROM "{prefix}_out" ORDER BY id').fetchall()
    # Online scoring of the rows as a client reads them from the table (NUMERIC and REAL as their text).
    stored = conn.execute(f'SELECT sepal_length, sepal_width, petal_length, petal_width '
                          f'FROM "{prefix}_in" ORDER BY id').fetchall()
    expected = batch.online([[float(v) for v in r] for r in stored])
    assert_same_results([list(r[2:]) for r in got], [r[4:] for r in expected])
    assert [r[1] for r in got[:4]] == [None, "", None, ""]


@pytest.mark.postgres
def test_a_million_row_postgres_job_creates_a_table_of_exactly_the_online_results(
        batch: Batch, pg_tables: tuple[Any, str]) -> None:
    """Issue 11's acceptance: 1,000,000 rows from a PostgreSQL table into a table the job creates
    hold exactly (no tolerance) what online scoring of the same rows answers."""
    conn, prefix = pg_tables
    rows = 1_000_000
    rng = np.random.default_rng(11)
    values = np.round(rng.uniform([4.0, 2.0, 1.0, 0.1], [8.0, 4.5, 7.0, 2.5], size=(rows, 4)), 3)
    text = io.BytesIO()
    np.savetxt(text, np.column_stack([np.arange(rows), values]), fmt=["%d", "%.3f", "%.3f", "%.3f", "%.3f"],
               delimiter=",")
    conn.execute(f'CREATE TABLE "{prefix}_in" (id BIGINT, {", ".join(f"{n} DOUBLE PRECISION" for n in IRIS_HEADER)})')
    with conn.cursor().copy(f'COPY "{prefix}_in" FROM STDIN (FORMAT CSV)') as copy:
        copy.write(text.getvalue())
    batch.submit("million", {"odbc": {"dbRef": "pg", "table": f"{prefix}_in"}},
                 {"odbc": {"dbRef": "pg", "table": f"{prefix}_out", "insertMode": "Create"}},
                 dbDefinitions=pg_definition())
    status = batch.wait("million", timeout=600)
    assert (status["jobStatus"], status["rowsDone"]) == ("SUCCESS", rows), status
    got = [list(r) for r in conn.execute(
        f'SELECT species, predicted_species, probability_setosa, probability_versicolor, probability_virginica '
        f'FROM "{prefix}_out" ORDER BY id')]
    expected = [r[4:] for start in range(0, rows, 100_000)
                for r in batch.online(values[start:start + 100_000].tolist())]
    assert len(got) == len(expected) == rows
    assert len({r[1] for r in got}) == 3  # every class predicted somewhere
    assert all(p is not None for r in got for p in r[2:])
    differ = next((i for i, (g, e) in enumerate(zip(got, expected, strict=True)) if g != e), None)
    assert differ is None, f"row {differ}: job {got[differ]}, online {expected[differ]}"


@pytest.mark.postgres
def test_postgres_table_of_plain_types_read_in_binary_equals_online_scoring(batch: Batch,
                                                                            pg_tables: tuple[Any, str]) -> None:
    """Columns that binary COPY carries (integers, doubles, text, with NULLs): the created table holds
    exactly the online results, the passthrough columns as stored."""
    conn, prefix = pg_tables
    rows = iris_rows(3000)
    conn.execute(f'CREATE TABLE "{prefix}_in" (id BIGINT, sepal_length DOUBLE PRECISION, sepal_width DOUBLE PRECISION, '
                 "petal_length DOUBLE PRECISION, petal_width DOUBLE PRECISION, note TEXT, flag BOOLEAN)")
    with conn.cursor().copy(f'COPY "{prefix}_in" FROM STDIN') as copy:
        for i, r in enumerate(rows):
            width = None if i % 97 == 5 else r[3]  # a missing input: scored as online scoring does
            copy.write_row((i, r[0], r[1], r[2], width, None if i % 3 else f"n,{i}", i % 2 == 0))
    batch.submit("pgbin", {"odbc": {"dbRef": "pg", "table": f"{prefix}_in"}},
                 {"odbc": {"dbRef": "pg", "table": f"{prefix}_out", "insertMode": "Create"}},
                 dbDefinitions=pg_definition())
    status = batch.wait("pgbin")
    assert status["jobStatus"] == "SUCCESS", status
    got = conn.execute(f'SELECT id, note, flag, petal_width, predicted_species, probability_setosa, '
                       f'probability_versicolor, probability_virginica FROM "{prefix}_out" ORDER BY id').fetchall()
    stored = conn.execute(f'SELECT sepal_length, sepal_width, petal_length, petal_width '
                          f'FROM "{prefix}_in" ORDER BY id').fetchall()
    expected = batch.online([list(r) for r in stored])
    assert len(got) == len(rows)
    assert_same_results([list(r[4:]) for r in got], [r[5:] for r in expected])
    assert [r[1:4] for r in got[:6]] == [("n,0", True, rows[0][3]), (None, False, rows[1][3]), (None, True, rows[2][3]),
                                         ("n,3", False, rows[3][3]), (None, True, rows[4][3]), (None, False, None)]


@pytest.mark.postgres
def test_postgres_export_to_missing_input_table_fails_and_creates_nothing(batch: Batch,
                                                                         pg_tables: tuple[Any, str]) -> None:
    """A job reading a table that does not exist fails later, naming it, and writes no table."""
    conn, prefix = pg_tables
    batch.submit("pg", {"odbc": {"dbRef": "pg", "table": f"{prefix}_nope"}},
                 {"odbc": {"dbRef": "pg", "table": f"{prefix}_out"}}, dbDefinitions=pg_definition())
    status = batch.wait("pg")
    assert status["jobStatus"] == "FAILED"
    assert f"table '{prefix}_nope' does not exist" in status["failureMsg"]
    assert conn.execute("SELECT to_regclass(%s)", (f"{prefix}_out",)).fetchone()[0] is None


@pytest.fixture
def mariadb() -> Iterator[tuple[Any, str]]:
    pymysql = pytest.importorskip("pymysql")
    try:
        conn = pymysql.connect(host="127.0.0.1", port=3306, user="root", password="", database="test",
                               connect_timeout=3, autocommit=True)
    except pymysql.MySQLError as exc:
        pytest.skip(f"MariaDB at 127.0.0.1:3306 is unreachable: {exc}")
    prefix = f"t{uuid.uuid4().hex[:10]}"
    yield conn, prefix
    with conn.cursor() as cur:
        cur.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = 'test' "
                    "AND (table_name LIKE %s OR table_name LIKE 'pmserve_stage_%%')", (prefix + "%",))
        for (name,) in cur.fetchall():
            cur.execute(f"DROP TABLE `{name}`")
    conn.close()


def test_mariadb_table_to_table_equals_online_scoring(batch: Batch, mariadb: tuple[Any, str]) -> None:
    """MySQL/MariaDB -> MySQL/MariaDB: Create then Append, staging table gone, results as online."""
    conn, prefix = mariadb
    rows = iris_rows(1200)
    with conn.cursor() as cur:
        cur.execute(f"CREATE TABLE `{prefix}_in` (sepal_length DOUBLE, sepal_width DOUBLE, petal_length DOUBLE, "
                    "petal_width DOUBLE, tag VARCHAR(10))")
        cur.executemany(f"INSERT INTO `{prefix}_in` VALUES (%s, %s, %s, %s, %s)", [(*r, "x") for r in rows])
    defs = {"m": {"type": "MySQL", "host": "127.0.0.1", "port": "3306", "db": "test", "username": "root"}}
    for job_id, mode in (("c", "Create"), ("a", "Append")):
        batch.submit(job_id, {"odbc": {"dbRef": "m", "table": f"{prefix}_in"}},
                     {"odbc": {"dbRef": "m", "table": f"{prefix}_out", "insertMode": mode}}, dbDefinitions=defs)
        status = batch.wait(job_id)
        assert status["jobStatus"] == "SUCCESS", status
    with conn.cursor() as cur:
        cur.execute(f"SELECT species, predicted_species, probability_setosa, probability_versicolor, "
                    f"probability_virginica, tag FROM `{prefix}_out`")
        got = [list(r) for r in cur.fetchall()]
        cur.execute("SELECT COUNT(*) FROM information_schema.tables WHERE table_name LIKE 'pmserve_stage_%'")
        stages = cur.fetchone()[0]
    assert len(got) == 2400
    assert_same_results([r[:5] for r in got[:1200]], [r[4:] for r in batch.online(rows)])
    assert stages == 0
    batch.submit("c2", {"odbc": {"dbRef": "m", "table": f"{prefix}_in"}},
                 {"odbc": {"dbRef": "m", "table": f"{prefix}_out", "insertMode": "Create"}}, dbDefinitions=defs)
    assert "exists already (insertMode Create)" in batch.wait("c2")["failureMsg"]
    for job_id, mode in (("r", "Refresh"), ("d", "Drop")):
        batch.submit(job_id, {"odbc": {"dbRef": "m", "table": f"{prefix}_in"}},
                     {"odbc": {"dbRef": "m", "table": f"{prefix}_out", "insertMode": mode}}, dbDefinitions=defs)
        assert batch.wait(job_id)["jobStatus"] == "SUCCESS"
        with conn.cursor() as cur:
            cur.execute(f"SELECT COUNT(*) FROM `{prefix}_out`")
            assert cur.fetchone()[0] == 1200
    with conn.cursor() as cur:
        cur.execute("SELECT COUNT(*) FROM information_schema.tables WHERE table_name LIKE 'pmserve_stage_%'")
        assert cur.fetchone()[0] == 0


@pytest.mark.postgres
def test_jobs_run_on_the_postgres_store_with_files_in_chunk_rows(settings: Settings, iris_pmml: bytes,
                                                                 postgres_url: str) -> None:
    """With the PostgreSQL store (files as chunk rows, no local path) a file job runs the same."""
    pg_settings = settings.replace(store_url=postgres_url)
    service = Service(pg_settings, PostgresStore(postgres_url))
    key = service.create_key("alice")
    with TestClient(create_app(pg_settings, service)) as client:
        batch = Batch(client, key, iris_pmml)
        rows = iris_rows(1200)
        batch.put_file("in.csv", csv_bytes(IRIS_HEADER, rows))
        batch.submit("j", {"file": {"id": "in.csv"}}, setting={"reportFormat": "CSV"})
        status = batch.wait("j")
        assert status["jobStatus"] == "SUCCESS", status
        got = list(csv.reader(io.StringIO(batch.get_file("j_result.csv").decode())))
        assert_same_results([r[4:] for r in got[1:]], [r[4:] for r in batch.online(rows)])


@pytest.mark.parametrize(("file_id", "content", "message"), [
    ("ragged.csv", b"sepal_length,sepal_width,petal_length,petal_width\n1,2,3,4\n1,2\n", "cannot be read"),
    ("broken.jsonl", b'{"sepal_length": 1}\n{"sepal_length": \n', "cannot be read"),
    ("fake.parquet", b"not parquet at all", "cannot be read as PARQUET"),
])
def test_malformed_input_file_fails_the_job_as_bad_data(batch: Batch, file_id: str, content: bytes,
                                                        message: str) -> None:
    """A file that is not what its format says fails the job with the reader's reason, no output."""
    batch.put_file(file_id, content)
    batch.submit("bad", {"file": {"id": file_id}})
    status = batch.wait("bad")
    assert status["jobStatus"] == "FAILED"
    assert message in status["failureMsg"]
    assert "internal error" not in status["failureMsg"]


def test_shutdown_hands_a_running_job_back_and_the_next_server_finishes_it(settings: Settings,
                                                                          iris_pmml: bytes) -> None:
    """A server stopping mid-job makes the job PENDING again (attempt not counted); the next one runs it."""
    slow = settings.replace(job_chunk_rows=16)
    with running_app(slow, iris_pmml) as first:
        big_input(first, 100_000)
        first.submit("long", {"file": {"id": "big.csv"}})
        first.wait("long", until=("RUNNING", *FINAL))
        key = first.key
    store = SQLiteStore(settings.data_dir)
    handed_back = store.get_job("alice", "long")
    store.close()
    assert handed_back is not None
    assert (handed_back.status, handed_back.attempts, handed_back.owner) == ("PENDING", 0, None)
    service = Service(settings, SQLiteStore(settings.data_dir))
    with TestClient(create_app(settings, service)) as client:
        again = Batch.__new__(Batch)
        again.client, again.key, again.params = client, key, {"accesskey": key}
        status = again.wait("long")
    assert (status["jobStatus"], status["rowsDone"]) == ("SUCCESS", 100_000)
