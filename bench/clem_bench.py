"""CLEM compile and evaluation times (issue 9): how long deploying an expression takes, how the
bounded parser copes with long and hostile input, and whole-column evaluation throughput::

    .venv/bin/python bench/clem_bench.py              # 100 000 records
    .venv/bin/python bench/clem_bench.py --rows 1000000
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np

from pmserve.errors import DocumentError
from pmserve.formats.spss._model import SpssField, Table
from pmserve.formats.spss.clem import ClemLimits, compile_expression

FIELDS = (SpssField("Age", "integer"), SpssField("Na", "real"), SpssField("K", "real"),
          SpssField("BP", "string"), SpssField("Date", "date"))
EXPRESSIONS = {
    "arithmetic": "(Age * 2 + Na / K) - 1",
    "condition": 'Age > 30 and (BP = "HIGH" or Na > 0.7)',
    "if/elseif": 'if Age < 20 then "young" elseif Age < 50 then "adult" else "senior" endif',
    "string": 'lowertoupper(substring(1, 2, BP)) >< "-" >< to_string(Age)',
    "date": "date_years_difference(Date, to_date(\"2020-01-01\"))",
    "list": "mean_n([Na, K, Age])",
}


def _time(fn: Callable[[], object], repeat: int = 5) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=100_000)
    args = parser.parse_args()
    rng = np.random.default_rng(1)
    n = args.rows
    columns = {
        "Age": rng.integers(15, 75, n).astype(float), "Na": rng.random(n), "K": rng.random(n) + 0.01,
        "BP": rng.choice(np.array(["HIGH", "LOW", "NORMAL"], dtype=object), n),
        "Date": rng.integers(0, 20000, n).astype(float),
    }
    table = Table(FIELDS, columns, n)
    limits = ClemLimits()

    def compile_(text: str, lim: ClemLimits = limits) -> object:
        return compile_expression(text, FIELDS, where="bench", properties={}, limits=lim)

    print(f"{'expression':<12} {'compile ms':>10} {'evaluate ms':>12} {'records/s':>12}")
    for name, text in EXPRESSIONS.items():
        compiled = compile_expression(text, FIELDS, where="bench", properties={}, limits=limits)
        t_compile = _time(lambda t=text: compile_(t))
        t_eval = _time(lambda c=compiled: c.values(table))
        print(f"{name:<12} {t_compile * 1e3:>10.3f} {t_eval * 1e3:>12.2f} {n / t_eval:>12,.0f}")
    long_sum = " + ".join(["Na"] * 5000)
    big = ClemLimits(max_length=1_000_000)
    print(f"sum of 5000 terms: compile {_time(lambda: compile_(long_sum, big), 3) * 1e3:.1f} ms")
    hostile = "(" * 100_000 + "Na" + ")" * 100_000

    def refuse() -> None:
        try:
            compile_(hostile, big)
        except DocumentError:
            return
        raise AssertionError("the hostile expression was accepted")

    print(f"200 000-character nesting refused in {_time(refuse, 3) * 1e3:.2f} ms")


if __name__ == "__main__":
    main()
