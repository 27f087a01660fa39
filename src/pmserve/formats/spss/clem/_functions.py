"""The CLEM functions pmserve runs, by name: a type rule checked at deploy time and a whole-column
implementation.  Definitions follow IBM's CLEM reference (SPSS Modeler 18, "CLEM language
reference": numeric, trigonometric, string, conversion, date and time, comparison, blank and null
functions); where a definition is ours rather than IBM's, the docstring says so.

A name missing from ``FUNCTIONS`` is refused at deploy time, naming the node and the function.
"""

from __future__ import annotations

from collections.abc import Mapping

from pmserve.formats.spss.clem import _fn_dates, _fn_lists, _fn_numeric, _fn_strings
from pmserve.formats.spss.clem._signatures import Function


def _merged(tables: tuple[Mapping[str, Function], ...]) -> dict[str, Function]:
    merged: dict[str, Function] = {}
    for table in tables:
        for name, function in table.items():
            if name in merged:
                raise ValueError(f"CLEM function {name} is registered by two families")
            merged[name] = function
    return merged


FUNCTIONS: dict[str, Function] = _merged(
    (_fn_numeric.FUNCTIONS, _fn_strings.FUNCTIONS, _fn_dates.FUNCTIONS, _fn_lists.FUNCTIONS))
