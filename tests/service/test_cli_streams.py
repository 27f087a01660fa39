"""``pmserve score`` and ``pmserve inspect`` on SPSS Modeler streams."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from click.testing import CliRunner, Result
from tests.spss._build import simple_stream
from tests.spss._streams import stream_path

from pmserve.cli import main


def _run(tmp_path: Path, *args: str) -> Result:
    return CliRunner().invoke(main, list(args), env={"PMSERVE_DATA_DIR": str(tmp_path / "data")})


def test_score_writes_what_the_streams_terminal_shows(tmp_path: Path) -> None:
    stream = tmp_path / "made.str"
    stream.write_bytes(simple_stream())
    data = tmp_path / "in.csv"
    data.write_text("x2,x1,note\n2,1,a\n,3,b\n", encoding="utf-8")
    result = _run(tmp_path, "score", str(stream), str(data), "-o", "-")
    assert result.exit_code == 0, result.output
    rows = list(csv.reader(io.StringIO(result.output)))
    assert rows == [["x1", "x2", "$L-y"], ["1.0", "2", "2.5"], ["3.0", "", ""]]


def test_score_of_a_stream_stops_on_a_bad_record_naming_it(tmp_path: Path) -> None:
    stream = tmp_path / "made.str"
    stream.write_bytes(simple_stream())
    data = tmp_path / "in.csv"
    data.write_text("x1,x2\n1,2\nabc,3\n", encoding="utf-8")
    result = _run(tmp_path, "score", str(stream), str(data), "-o", "-")
    assert result.exit_code == 1
    assert "field 'x1' (real) expects a number, got 'abc' (row 2)" in result.output


def test_inspect_prints_the_branch_inputs_and_reply(tmp_path: Path) -> None:
    result = _run(tmp_path, "inspect", str(stream_path("Drug1n.str")))
    assert result.exit_code == 0, result.output
    assert "format:  spss-str" in result.output
    assert "  2. node 'Drug' (CFApplyModelNode, id 2)" in result.output
    assert "input table 'scoreInput':\n  Age: integer, continuous\n" in result.output
    assert "  $NC-Drug: double, continuous" in result.output


def test_inspect_describes_a_pmml_file_too(tmp_path: Path, repo_root: Path) -> None:
    result = _run(tmp_path, "inspect", str(repo_root / "src/pmserve/samples/iris.pmml"))
    assert result.exit_code == 0, result.output
    assert "format:  pmml" in result.output
    assert "inputs:\n  sepal_length: double, continuous" in result.output


def test_inspect_of_a_refused_stream_names_the_node(tmp_path: Path) -> None:
    result = _run(tmp_path, "inspect", str(stream_path("catalog_streaming_timeseries.str")))
    assert result.exit_code == 1
    assert "node 'Streaming TS' (TimeSeriesProcessNode, id 2)" in result.output
