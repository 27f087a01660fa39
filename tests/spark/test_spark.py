"""pmserve on Spark in local mode: DataFrames, batch jobs over Parquet, CSV and JDBC, the CLI.

One Spark session (``local[2]``, small memory) serves the whole module; the module skips without
PySpark or Java.
"""

from __future__ import annotations

import csv
import io
import os
import shutil
import time
import uuid
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from starlette.testclient import TestClient
from tests.spark._data import MIXED_PMML, RESULTS, mixed_table, without_row

from pmserve import pmml
from pmserve.api import create_app
from pmserve.cli import main
from pmserve.errors import DataError, MissingFieldError, PlatformError, UnsupportedFormatError
from pmserve.service import Service
from pmserve.settings import Settings
from pmserve.spark import SparkSink, SparkSource, run_batch, score_dataframe, session
from pmserve.store import SQLiteStore

pyspark_errors = pytest.importorskip("pyspark.errors", reason="PySpark (the 'spark' extra) is not installed")

pytestmark = pytest.mark.slow

#: Debian's libpostgresql-jdbc-java puts the PostgreSQL JDBC driver here; JDBC tests skip without it.
JDBC_JAR = Path(os.environ.get("PMSERVE_TEST_JDBC_JAR", "/usr/share/java/postgresql.jar"))
POSTGRES_DSN = os.environ.get("PMSERVE_TEST_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/test")
MASTER = "local[2]"


@pytest.fixture(scope="module")
def spark() -> Iterator[Any]:
    if shutil.which("java") is None:
        pytest.skip("java is not installed; Spark needs Java 17 or later")
    config = {"spark.driver.memory": "512m", "spark.ui.enabled": "false", "spark.sql.shuffle.partitions": "2",
              "spark.sql.execution.arrow.maxRecordsPerBatch": "8192"}
    if JDBC_JAR.is_file():
        config["spark.jars"] = str(JDBC_JAR)
    started = session(MASTER, config)
    yield started
    started.stop()


def _same(got: dict[str, list[Any]], want: dict[str, list[Any]], name: str) -> None:
    """Column ``name`` equal in both: floats within a relative 1e-12, anything else exactly."""
    a, b = got[name], want[name]
    assert len(a) == len(b), name
    if any(isinstance(v, float) for v in b):
        x = pa.array(a, type=pa.float64()).to_numpy(zero_copy_only=False)
        y = pa.array(b, type=pa.float64()).to_numpy(zero_copy_only=False)
        np.testing.assert_allclose(x, y, rtol=1e-12, atol=0, equal_nan=True, err_msg=name)
    else:
        assert a == b, name


def test_spark_scores_100000_rows_like_the_local_runner(spark: Any, tmp_path: Path) -> None:
    """100,000 rows on Spark: every result and every error equal to Model.score and to `pmserve score`."""
    table = mixed_table(100_000, seed=7)
    pq.write_table(table, tmp_path / "in.parquet", row_group_size=25_000)
    scored = score_dataframe(spark.read.parquet(str(tmp_path / "in.parquet")), MIXED_PMML, "mixed.pmml")
    assert scored.columns == [*table.schema.names, *RESULTS, "error"]
    got = scored.toArrow().sort_by("id").to_pydict()

    local = pmml.load(MIXED_PMML).score(table.to_pydict(), errors="collect")
    want = local.to_lists()
    for name in RESULTS:
        _same(got, want, name)
    assert 500 < len(local.errors) < 5000
    assert got["error"] == [without_row(local.errors[r].message) if r in local.errors else None
                            for r in range(table.num_rows)]

    model = tmp_path / "mixed.pmml"
    model.write_bytes(MIXED_PMML)
    cli = CliRunner().invoke(main, ["score", str(model), str(tmp_path / "in.parquet"),
                                    "-o", str(tmp_path / "cli.parquet")])
    assert cli.exit_code == 0, cli.output
    by_cli = pq.read_table(tmp_path / "cli.parquet").to_pydict()
    for name in (*table.schema.names, *RESULTS):
        _same(got, by_cli, name)
    assert got["error"] == [without_row(e) for e in by_cli["error"]]


def test_run_batch_parquet_to_parquet_counts_records_and_failures(spark: Any, tmp_path: Path) -> None:
    """A Parquet job writes the scored table and reports its records and its failed ones."""
    table = mixed_table(20_000, seed=8)
    pq.write_table(table, tmp_path / "in.parquet")
    result = run_batch(MIXED_PMML, "mixed.pmml", SparkSource("parquet", path=str(tmp_path / "in.parquet")),
                       SparkSink("parquet", path=str(tmp_path / "out")), master=MASTER)
    local = pmml.load(MIXED_PMML).score(table.to_pydict(), errors="collect")
    assert (result.rows, result.failed) == (20_000, len(local.errors))
    out = pq.read_table(tmp_path / "out").sort_by("id")
    assert out.schema.field("n2").type == pa.int64()
    got = out.to_pydict()
    for name in RESULTS:
        _same(got, local.to_lists(), name)


def test_run_batch_csv_to_csv_reads_text_as_the_cli_does(spark: Any, tmp_path: Path) -> None:
    """A CSV job reads every cell as text (empty is missing), as `pmserve score` does, and writes
    RFC 4180 CSV (a quote in a cell doubled)."""
    table = mixed_table(3000, seed=9)
    table = table.append_column("note", pa.array([f'say "{i}", then stop' for i in range(3000)]))
    src = tmp_path / "in.csv"
    with src.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(table.schema.names)
        writer.writerows(["" if v is None else v for v in row.values()] for row in table.to_pylist())
    result = run_batch(MIXED_PMML, "mixed.pmml", SparkSource("csv", path=str(src)),
                       SparkSink("csv", path=str(tmp_path / "out")), master=MASTER)
    model = tmp_path / "mixed.pmml"
    model.write_bytes(MIXED_PMML)
    cli = CliRunner().invoke(main, ["score", str(model), str(src), "-o", str(tmp_path / "cli.csv")])
    assert cli.exit_code == 0, cli.output
    with (tmp_path / "cli.csv").open(newline="") as f:
        want = {row["id"]: row for row in csv.DictReader(f)}
    got: dict[str, dict[str, str]] = {}
    for part in sorted((tmp_path / "out").glob("part-*.csv")):
        with part.open(newline="") as f:
            got.update((row["id"], row) for row in csv.DictReader(f))
    assert result.rows == len(got) == len(want) == 3000
    assert result.failed == sum(1 for row in want.values() if row["error"]) > 0
    for key, row in want.items():
        other = got[key]
        assert other["note"] == row["note"]  # quotes and commas in a cell survive the round trip
        assert other["label"] == row["label"]
        assert other["n2"] == row["n2"]
        assert (other["p_yes"] == "") == (row["p_yes"] == "")
        if row["p_yes"]:
            assert float(other["p_yes"]) == pytest.approx(float(row["p_yes"]), rel=1e-12)
        assert other["error"] == (without_row(row["error"]) or "")


def test_cli_scores_parquet_on_spark(spark: Any, tmp_path: Path) -> None:
    """`pmserve score --spark MASTER` reads what Spark reads (here a glob), writes a Parquet folder
    and reports records and failures."""
    table = mixed_table(5000, seed=10)
    pq.write_table(table.slice(0, 2000), tmp_path / "in-1.parquet")
    pq.write_table(table.slice(2000), tmp_path / "in-2.parquet")
    model = tmp_path / "mixed.pmml"
    model.write_bytes(MIXED_PMML)
    cli = CliRunner().invoke(main, ["score", "--spark", MASTER, str(model), str(tmp_path / "in-*.parquet"),
                                    "-o", str(tmp_path / "out.parquet")])
    assert cli.exit_code == 0, cli.output
    assert f"scored 5000 record(s) on Spark {MASTER}" in cli.output
    assert "could not be scored" in cli.output
    assert pq.read_table(tmp_path / "out.parquet").num_rows == 5000


def test_dataframe_without_a_model_field_is_refused_before_spark_runs(spark: Any) -> None:
    """A DataFrame lacking an input field fails at once, naming the field."""
    df = spark.createDataFrame([(1.0, 2.0)], "x1 double, x2 double")
    with pytest.raises(MissingFieldError, match=r"no column for field\(s\) 'n', 'color'"):
        score_dataframe(df, MIXED_PMML, "mixed.pmml")


def test_a_file_that_is_no_model_is_refused_on_the_driver(spark: Any) -> None:
    """The model is compiled on the driver first: a bad file fails there with the format error."""
    df = spark.createDataFrame([(1.0,)], "x1 double")
    with pytest.raises(UnsupportedFormatError, match="not XML"):
        score_dataframe(df, b"plain text", "model.pmml")


def test_errors_raise_fails_the_spark_job_on_the_first_bad_record(spark: Any) -> None:
    """With errors='raise' a record the model rejects fails the job with the model's message."""
    df = spark.createDataFrame([(1.0, 1.0, 2.5, "red")], "x1 double, x2 double, n double, color string")
    with pytest.raises(pyspark_errors.PythonException, match=r"field 'n' expects an integer, got 2\.5"):
        score_dataframe(df, MIXED_PMML, "mixed.pmml", errors="raise").collect()


def test_run_batch_errors_raise_fails_the_job_with_the_record_s_data_error(spark: Any, tmp_path: Path) -> None:
    """A job asked to fail on bad records raises pmserve's DataError with the model's message."""
    pq.write_table(mixed_table(2000, seed=3), tmp_path / "in.parquet")
    with pytest.raises(DataError, match=r"^a record cannot be scored: field '(n|color)' (expects|got)"):
        run_batch(MIXED_PMML, "mixed.pmml", SparkSource("parquet", path=str(tmp_path / "in.parquet")),
                  SparkSink("parquet", path=str(tmp_path / "out")), master=MASTER, errors="raise")


def test_missing_input_and_existing_output_are_platform_errors(spark: Any, tmp_path: Path) -> None:
    """Spark's failures become PlatformError: a missing input path, a sink that exists in mode 'error'."""
    with pytest.raises(PlatformError, match="failed"):
        run_batch(MIXED_PMML, "mixed.pmml", SparkSource("parquet", path=str(tmp_path / "absent")),
                  SparkSink("parquet", path=str(tmp_path / "out")), master=MASTER)
    pq.write_table(mixed_table(10, seed=1), tmp_path / "in.parquet")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "kept.txt").write_text("not to be overwritten")
    with pytest.raises(PlatformError, match="already exists"):
        run_batch(MIXED_PMML, "mixed.pmml", SparkSource("parquet", path=str(tmp_path / "in.parquet")),
                  SparkSink("parquet", path=str(tmp_path / "out"), mode="error"), master=MASTER)
    assert (tmp_path / "out" / "kept.txt").exists()


def test_another_master_in_the_same_process_is_refused(spark: Any) -> None:
    """A process runs one Spark session: asking for another master is an error, not a silent reuse."""
    with pytest.raises(PlatformError, match=r"already runs a Spark session on master 'local\[2\]'"):
        session("local[1]")


@pytest.fixture
def postgres_table() -> Iterator[tuple[str, Any]]:
    """A fresh PostgreSQL schema for one test (dropped after), and a psycopg connection to it."""
    psycopg = pytest.importorskip("psycopg")
    if not JDBC_JAR.is_file():
        pytest.skip(f"the PostgreSQL JDBC driver is not at {JDBC_JAR} (apt-get install libpostgresql-jdbc-java)")
    try:
        db = psycopg.connect(POSTGRES_DSN, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        pytest.skip(f"PostgreSQL at {POSTGRES_DSN} is unreachable: {exc}")
    schema = f"spark_{uuid.uuid4().hex[:10]}"
    db.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield schema, db
    finally:
        db.execute(f'DROP SCHEMA "{schema}" CASCADE')
        db.close()


@pytest.mark.postgres
def test_run_batch_reads_and_writes_postgresql_tables_over_jdbc(spark: Any,
                                                                  postgres_table: tuple[str, Any]) -> None:
    """A JDBC job reads a PostgreSQL table and creates the scored one, typed after the results."""
    schema, db = postgres_table
    table = mixed_table(2000, seed=12)
    with db.cursor() as cur:
        cur.execute(f'CREATE TABLE "{schema}".inputs (id bigint, x1 double precision, x2 real, '
                    "n double precision, color text)")
        with cur.copy(f'COPY "{schema}".inputs FROM STDIN') as copy:
            for row in table.to_pylist():
                copy.write_row(list(row.values()))
    url = "jdbc:postgresql://127.0.0.1:5432/test"
    props = {"user": "postgres", "driver": "org.postgresql.Driver"}
    result = run_batch(MIXED_PMML, "mixed.pmml",
                       SparkSource("jdbc", url=url, table=f'"{schema}".inputs', properties=props),
                       SparkSink("jdbc", url=url, table=f'"{schema}".scored', properties=props), master=MASTER)
    local = pmml.load(MIXED_PMML).score(table.to_pydict(), errors="collect")
    assert (result.rows, result.failed) == (2000, len(local.errors))
    rows = db.execute(f'SELECT id, label, p_yes, big, n2, error FROM "{schema}".scored ORDER BY id').fetchall()
    want = local.to_lists()
    assert [r[1] for r in rows] == want["label"]
    assert [r[4] for r in rows] == want["n2"]
    assert [r[3] for r in rows] == want["big"]
    for r, p in zip(rows, want["p_yes"], strict=True):
        assert r[2] == (None if p is None else pytest.approx(p, rel=1e-12))
    assert sum(1 for r in rows if r[5]) == len(local.errors)


def test_a_batch_job_with_engine_spark_runs_on_spark_and_equals_online_scoring(
        spark: Any, tmp_path: Path) -> None:
    """POST /pm/v1/jobs with "engine": "spark": the job runner hands it to Spark (the session of this
    module, local[2]); the stored Parquet result equals /pm/v1/score on the same rows."""
    iris = resources.files("pmserve.samples").joinpath("iris.pmml").read_bytes()
    header = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
    rows = [[4.3 + (i % 37) / 10, 2.0 + (i % 23) / 10, 1.0 + (i % 59) / 10, 0.1 + (i % 25) / 10] for i in range(3000)]
    settings = Settings(data_dir=tmp_path / "data", job_workers=1, spark_master=MASTER)
    service = Service(settings, SQLiteStore(settings.data_dir))
    key = service.create_key("alice")
    params = {"accesskey": key}
    with TestClient(create_app(settings, service)) as client:
        table = pa.table({h: [r[i] for r in rows] for i, h in enumerate(header)})
        sink = pa.BufferOutputStream()
        pq.write_table(table, sink)
        for name, content in (("iris.pmml", iris), ("in.parquet", sink.getvalue().to_pybytes())):
            assert client.put(f"/pm/v1/file/{name}", params=params, files={"file": (name, content)}).status_code == 200
        job = {"action": "BATCH_SCORE", "model": {"id": "iris.pmml", "name": "iris.pmml"}, "engine": "spark",
               "setting": {"inputs": [{"file": {"id": "in.parquet", "format": "PARQUET"}}],
                           "exports": [{"file": {"id": "out.parquet", "format": "PARQUET"}}]}}
        assert client.post("/pm/v1/jobs/sj", params=params, json=job).status_code == 200
        deadline = time.monotonic() + 240
        while (status := client.get("/pm/v1/jobs/sj/status", params=params).json())["jobStatus"] not in (
                "SUCCESS", "FAILED", "CANCELED"):
            assert time.monotonic() < deadline, status
            time.sleep(0.2)
        assert status["jobStatus"] == "SUCCESS", status
        assert status["rowsDone"] == 3000
        got = pq.read_table(io.BytesIO(client.get("/pm/v1/file/out.parquet", params=params).content)).to_pydict()
        client.put("/pm/v1/model/iris", params=params, files={"model_file": ("iris.pmml", iris)})
        online = client.post("/pm/v1/score/iris", params=params, json={"header": header, "data": rows}).json()[0]
    service.close()
    want = {name: [row[i] for row in online["data"]] for i, name in enumerate(online["header"])}
    for name in want:
        _same(got, want, name)
