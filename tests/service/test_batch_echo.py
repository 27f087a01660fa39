"""Text exports that echo their input's rows as read (pmserve.batch._text) are byte for byte the
exports that re-encode every column, whatever the text holds."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import Any

import pytest
from tests.service.conftest import IRIS_HEADER
from tests.service.test_batch_jobs import Batch, assert_same_results, iris_rows, running_app

from pmserve.settings import Settings

EXPORTS = {"CSV": ("out.csv", ","), "TAB": ("out.txt", "\t")}


@pytest.fixture(params=[1000, 16], ids=["chunks-of-1000", "chunks-of-16"])
def batch(request: pytest.FixtureRequest, tmp_path: Any, iris_pmml: bytes) -> Iterator[Batch]:
    settings = Settings(data_dir=tmp_path / "data", job_chunk_rows=request.param, job_workers=2)
    with running_app(settings, iris_pmml) as made:
        yield made


def text(header: list[str], rows: list[list[Any]], delimiter: str, eol: str = "\n") -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter, lineterminator=eol)
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue().encode()


def export(batch: Batch, job_id: str, content: bytes, source_format: str, export_format: str) -> bytes:
    file_id, _ = EXPORTS[export_format]
    batch.put_file(f"{job_id}.in", content)
    batch.submit(job_id, {"file": {"id": f"{job_id}.in", "format": source_format}},
                 {"file": {"id": f"{job_id}.{file_id}", "format": export_format}})
    status = batch.wait(job_id)
    assert status["jobStatus"] == "SUCCESS", status
    return batch.get_file(f"{job_id}.{file_id}")


def rows_with(kind: str) -> tuple[list[str], list[list[Any]]]:
    """Iris rows and a text column, with one kind of text the echo must notice somewhere in the middle."""
    rows: list[list[Any]] = [[*r, f"n{i}"] for i, r in enumerate(iris_rows(2500))]
    header = [*IRIS_HEADER, "note"]
    if kind == "delimiters":
        rows[2490][4] = "a,b\tc"  # quoted in both dialects; near the end: after some rows were echoed
    elif kind == "quotes":
        rows[2495][4] = 'say "hi"'
    elif kind == "blanks":
        rows[1200][0] = " 5.1"  # Arrow reads a number around blanks, its cast of text does not
        rows[1201][1] = "3.5 "
    elif kind == "bad values":
        rows[7][0] = "abc"
        rows[2100][3] = "1e"
    elif kind == "empty cells":
        rows[3][1] = ""
        rows[900][4] = ""
    elif kind == "long rows":
        for r in rows[::3]:
            r[4] = "x" * 700  # rows much longer than the reader's first guess
    elif kind == "unicode":
        rows[10][4] = "naïve — ünïcødé ✓"
    return header, rows


KINDS = ["plain", "delimiters", "quotes", "blanks", "bad values", "empty cells", "long rows", "unicode"]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(("same", "other"), [("CSV", "TAB"), ("TAB", "CSV")])
def test_export_in_the_input_dialect_equals_the_reencoded_export(batch: Batch, kind: str, same: str,
                                                                 other: str) -> None:
    """Rows read and written in one dialect (echoed) export as the same rows read from the other
    dialect (every column re-encoded), byte for byte; the results are the online results."""
    header, rows = rows_with(kind)
    _, same_delimiter = EXPORTS[same]
    _, other_delimiter = EXPORTS[other]
    eol = "\r\n" if same == "TAB" else "\n"
    echoed = export(batch, "echoed", text(header, rows, same_delimiter, eol), same, same)
    reencoded = export(batch, "reencoded", text(header, rows, other_delimiter), other, same)
    assert echoed == reencoded
    lines = echoed.decode().split(eol)
    assert lines[-1] == ""
    got = list(csv.reader(lines[1:-1], delimiter=same_delimiter))
    assert [r[:5] for r in got] == [[str(v) for v in r] for r in rows]
    assert_same_results([r[6:] for r in got], online_results(batch, [r[:4] for r in rows]))


def online_results(batch: Batch, rows: list[list[Any]]) -> list[list[Any]]:
    """The online results of each row as a text export shows them; empty for a row online scoring refuses."""
    good = [i for i, r in enumerate(rows) if all(isinstance(v, float) for v in r)]
    results: list[list[Any]] = [[""] * 4 for _ in rows]
    for i, r in zip(good, batch.online([rows[i] for i in good]), strict=True):
        results[i] = [("" if v is None else v) for v in r[5:]]
    for i in sorted(set(range(len(rows))) - set(good)):
        reply = batch.client.post("/pm/v1/score/iris", params=batch.params,
                                  json={"header": IRIS_HEADER, "data": [rows[i]]})
        if isinstance(body := reply.json(), list):  # else a refusal (IBM's 200 with a message)
            results[i] = [("" if v is None else v) for v in body[0]["data"][0][5:]]
    return results


@pytest.mark.parametrize(("variant", "change"), [
    ("CRLF line ends", lambda b: b.replace(b"\n", b"\r\n")),
    ("empty lines", lambda b: b.replace(b"\n", b"\n\n", 40)),
    ("no last line end", lambda b: b.rstrip(b"\n")),
    ("a BOM", lambda b: b"\xef\xbb\xbf" + b),
    ("an unquoted header", lambda b: b.replace(b'"', b"")),
])
def test_csv_input_text_variants_export_as_the_plain_input(batch: Batch, variant: str, change: Any) -> None:
    """Line ends, empty lines (skipped), a missing last line end and a byte order mark change nothing
    in a CSV export."""
    header, rows = rows_with("plain")
    plain = text(header, rows, ",").replace(b"sepal_length", b'"sepal_length"')
    assert export(batch, "variant", change(plain), "CSV", "CSV") == export(batch, "plain", plain, "CSV", "CSV")


def test_tab_input_with_lf_line_ends_exports_as_with_crlf(batch: Batch) -> None:
    """A TAB file with "\\n" line ends exports as the same file with IBM's "\\r\\n"."""
    header, rows = rows_with("plain")
    crlf = text(header, rows, "\t", "\r\n")
    lf = crlf.replace(b"\r\n", b"\n")
    assert export(batch, "lf", lf, "TAB", "TAB") == export(batch, "crlf", crlf, "TAB", "TAB")


def test_results_that_need_quoting_are_quoted_as_before(tmp_path: Any, iris_pmml: bytes) -> None:
    """A string result holding the delimiter is quoted by Arrow's writer, as in any other export."""
    odd = iris_pmml.replace(b'"virginica"', b'"vir,ginica"').replace(b">virginica<", b">vir,ginica<")
    settings = Settings(data_dir=tmp_path / "data", job_chunk_rows=1000, job_workers=2)
    with running_app(settings, odd) as batch:
        header, rows = rows_with("plain")
        echoed = export(batch, "echoed", text(header, rows, ","), "CSV", "CSV")
        reencoded = export(batch, "reencoded", text(header, rows, "\t", "\r\n"), "TAB", "CSV")
        assert echoed == reencoded
        assert b'"vir,ginica"' in echoed


def test_input_that_is_not_utf8_fails_the_job_as_before(batch: Batch) -> None:
    """Bytes that are not UTF-8 in a passthrough column fail the job, echoed or not."""
    header, rows = rows_with("plain")
    content = text(header, rows, ",").replace(b"n1234", b"n\xff\xfe")
    batch.put_file("bad.csv", content)
    for job_id, export_format in (("echoed", "CSV"), ("reencoded", "TAB")):
        batch.submit(job_id, {"file": {"id": "bad.csv"}}, {"file": {"id": f"{job_id}.out", "format": export_format}})
        status = batch.wait(job_id)
        assert status["jobStatus"] == "FAILED"
        assert "invalid UTF8" in status["failureMsg"]
