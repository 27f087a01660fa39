"""``pmserve score`` with Parquet: in, out, and round trips through CSV."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner, Result
from tests.service.conftest import select_all_pmml
from tests.spark._data import MIXED_PMML, RESULTS, mixed_table

from pmserve import pmml
from pmserve.cli import main

Run = Callable[..., Result]


@pytest.fixture
def run(tmp_path: Path) -> Run:
    runner = CliRunner()

    def invoke(*args: str) -> Result:
        return runner.invoke(main, list(args), env={"PMSERVE_DATA_DIR": str(tmp_path / "data")})
    return invoke


@pytest.fixture
def model(tmp_path: Path) -> Path:
    path = tmp_path / "mixed.pmml"
    path.write_bytes(MIXED_PMML)
    return path


def _close(a: object, b: object) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return a == pytest.approx(b, rel=1e-12)
    return a == b


def test_parquet_in_parquet_out_has_typed_results_equal_to_the_engine(run: Run, tmp_path: Path,
                                                                       model: Path) -> None:
    """Parquet to Parquet: inputs kept with their types, results typed, every cell the engine's."""
    table = mixed_table(3000, seed=11)
    pq.write_table(table, tmp_path / "in.parquet")
    result = run("score", str(model), str(tmp_path / "in.parquet"), "-o", str(tmp_path / "out.parquet"),
                 "--chunk-size", "700")
    assert result.exit_code == 0, result.output
    out = pq.read_table(tmp_path / "out.parquet")
    assert out.schema.names == [*table.schema.names, *RESULTS, "error"]
    assert out.select(table.schema.names).equals(table)
    assert out.schema.field("n2").type == pa.int64()
    assert out.schema.field("big").type == pa.bool_()
    expected = pmml.load(MIXED_PMML).score(table.to_pydict(), errors="collect")
    got = out.to_pydict()
    for name, want in expected.to_lists().items():
        assert all(_close(a, b) for a, b in zip(got[name], want, strict=True)), name
    assert [i for i, e in enumerate(got["error"]) if e] == list(expected.errors)
    assert f"{len(expected.errors)} of {table.num_rows} record(s) could not be scored" in result.output


def test_parquet_error_messages_are_numbered_within_the_whole_file(run: Run, tmp_path: Path,
                                                                  model: Path) -> None:
    """An error in a later chunk names the record's row in the file, not in its chunk."""
    pq.write_table(mixed_table(3000, seed=11), tmp_path / "in.parquet")
    result = run("score", str(model), str(tmp_path / "in.parquet"), "-o", str(tmp_path / "out.parquet"),
                 "--chunk-size", "500")
    assert result.exit_code == 0, result.output
    errors = pq.read_table(tmp_path / "out.parquet").column("error").to_pylist()
    late = next(i for i, e in enumerate(errors) if e and i >= 500)
    assert errors[late].endswith(f"(row {late + 1})")


def test_csv_to_parquet_to_csv_gives_the_csv_to_csv_output(run: Run, tmp_path: Path, model: Path) -> None:
    """CSV scored into Parquet, then that Parquet written as CSV, equals CSV scored to CSV."""
    table = mixed_table(500, seed=5)
    src = tmp_path / "in.csv"
    with src.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(table.schema.names)
        writer.writerows(["" if v is None else v for v in row.values()] for row in table.to_pylist())
    assert run("score", str(model), str(src), "-o", str(tmp_path / "direct.csv")).exit_code == 0
    assert run("score", str(model), str(src), "-o", str(tmp_path / "via.parquet")).exit_code == 0
    via = pq.read_table(tmp_path / "via.parquet")
    assert via.schema.field("x1").type == pa.string()  # CSV cells stay text; the model converts them
    second = run("score", str(model), str(tmp_path / "via.parquet"), "-o", "-")
    assert second.exit_code == 0, second.output
    direct = list(csv.reader(io.StringIO((tmp_path / "direct.csv").read_text())))
    # Re-scoring the Parquet output replaces its results and error with new ones.
    rescored = list(csv.reader(io.StringIO(second.stdout)))
    assert rescored == direct


def test_parquet_list_result_and_csv_input_of_a_collection_model(run: Run, tmp_path: Path) -> None:
    """A list-valued result is a Parquet list column."""
    model = tmp_path / "all.pmml"
    model.write_bytes(select_all_pmml())
    (tmp_path / "in.csv").write_text("x\n2\n-1\n")
    result = run("score", str(model), str(tmp_path / "in.csv"), "-o", str(tmp_path / "out.pq"))
    assert result.exit_code == 0, result.output
    assert pq.read_table(tmp_path / "out.pq").column("y").to_pylist() == [[3.0, 12.0], [0.0]]


def test_empty_parquet_input_writes_an_empty_scored_file(run: Run, tmp_path: Path, model: Path) -> None:
    """No records in, a Parquet file with the scored table's columns and no rows out."""
    pq.write_table(mixed_table(0, seed=1), tmp_path / "in.parquet")
    result = run("score", str(model), str(tmp_path / "in.parquet"), "-o", str(tmp_path / "out.parquet"))
    assert result.exit_code == 0, result.output
    out = pq.read_table(tmp_path / "out.parquet")
    assert out.num_rows == 0
    assert out.schema.names[-1] == "error"


def test_parquet_fail_fast_leaves_no_partial_file(run: Run, tmp_path: Path, model: Path) -> None:
    """--fail-fast stops at the first bad record, naming it; no partial Parquet file is left."""
    table = mixed_table(3000, seed=11)
    expected = pmml.load(MIXED_PMML).score(table.to_pydict(), errors="collect")
    first = min(expected.errors)
    pq.write_table(table, tmp_path / "in.parquet")
    result = run("score", str(model), str(tmp_path / "in.parquet"), "-o", str(tmp_path / "out.parquet"),
                 "--fail-fast", "--chunk-size", "100")
    assert result.exit_code == 1
    assert f"row {first + 1} cannot be scored" in result.output
    assert not (tmp_path / "out.parquet").exists()
    assert not any(p.name.startswith(".out.parquet") for p in tmp_path.iterdir())


def test_unreadable_parquet_is_a_clear_error(run: Run, tmp_path: Path, model: Path) -> None:
    """A .parquet file that is not Parquet fails with a message naming it."""
    (tmp_path / "in.parquet").write_text("x1,x2\n1,2\n")
    result = run("score", str(model), str(tmp_path / "in.parquet"), "-o", str(tmp_path / "out.parquet"))
    assert result.exit_code == 1
    assert "is not a readable Parquet file" in result.output


def test_missing_input_file_is_a_usage_error(run: Run, tmp_path: Path, model: Path) -> None:
    """Without --spark the input must be an existing file."""
    result = run("score", str(model), str(tmp_path / "absent.parquet"), "-o", str(tmp_path / "out.parquet"))
    assert result.exit_code == 2
    assert "does not exist" in result.output


def test_folder_input_needs_spark(run: Run, tmp_path: Path, model: Path) -> None:
    """A folder of part files is read only by --spark."""
    result = run("score", str(model), str(tmp_path), "-o", str(tmp_path / "out.csv"))
    assert result.exit_code == 2
    assert "only --spark reads folders" in result.output


@pytest.mark.parametrize("extra", [["--na", "NA"], ["--fail-fast"]])
def test_spark_refuses_local_only_options(run: Run, tmp_path: Path, model: Path, extra: list[str]) -> None:
    """--na and --fail-fast belong to the local runner; with --spark they are a usage error."""
    (tmp_path / "in.csv").write_text("x1\n1\n")
    result = run("score", str(model), str(tmp_path / "in.csv"), "-o", str(tmp_path / "out"),
                 "--spark", "local[1]", *extra)
    assert result.exit_code == 2
    assert "not available with --spark" in result.output
