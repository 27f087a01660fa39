"""The results' text of echoed rows (pmserve.batch._text.echo) is Arrow's cast to text, whichever
way each value is written (integers and most float64 values by orjson, the others by Arrow)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from pmserve.batch._text import DIALECTS, echo

EDGES = [0.0, -0.0, 1.0, -1.0, 123.0, 0.5, 1e-4, 1e-5, 9.999999999999999e-06, 1e-6, 5e-6, 9.99e-7, 1e-7, 5e-324,
         2.2250738585072014e-308, 999999999.9, 1e9, 1e9 + 0.5, 1e10, 1e15, 1e16, 1.7976931348623157e308,
         float("inf"), float("-inf"), float("nan"), 0.30000000000000004, 1 / 3]


def _values() -> np.ndarray:
    rng = np.random.default_rng(11)
    n = 50_000
    return np.concatenate([np.array(EDGES), rng.random(n), 1 / (1 + np.exp(-6 * rng.standard_normal(n))),
                           rng.random(n) * 10.0 ** rng.integers(-330, 20, n),
                           -rng.random(n) * 10.0 ** rng.integers(-12, 12, n),
                           np.frombuffer(rng.bytes(8 * n), dtype=np.float64)])


def _as_arrow_writes(lines: pa.StringArray, results: list[pa.Array], delimiter: str) -> bytes:
    texts = [pc.cast(r, pa.string()) for r in results]
    joined = pc.binary_join_element_wise(lines, *texts, delimiter, null_handling="replace", null_replacement="")
    return "".join(joined.to_pylist()).encode()


def _lines(n: int) -> pa.StringArray:
    return pa.array([f"{i},x" for i in range(n)], type=pa.string())


@pytest.mark.parametrize("dialect", sorted(DIALECTS))
def test_number_results_are_written_as_arrows_cast_writes_them(dialect: str) -> None:
    values = _values()
    nulls = np.random.default_rng(3).random(len(values)) < 0.01
    integers = np.random.default_rng(4).integers(-(2**63), 2**63 - 1, len(values), dtype=np.int64)
    results = [pa.array(values), pa.array(values[::-1].copy(), mask=nulls), pa.array(np.arange(len(values))),
               pa.array(integers, mask=nulls), pa.array(integers.astype(np.int32)), pa.array(["a"] * len(values))]
    # Each row's text then its results, rows without line ends between them here (lines hold none).
    got = echo(_lines(len(values)), results, DIALECTS[dialect])
    assert got is not None
    assert got.to_pybytes() == _as_arrow_writes(_lines(len(values)), results, DIALECTS[dialect].delimiter)


def test_sliced_and_empty_results_are_written_as_arrows_cast_writes_them() -> None:
    values = pa.array(_values())
    for start, length in [(7, 1000), (len(values) - 5, 5), (0, 0)]:
        part = values.slice(start, length)
        got = echo(_lines(length), [part], DIALECTS["CSV"])
        assert got is not None
        assert got.to_pybytes() == _as_arrow_writes(_lines(length), [part], ",")
