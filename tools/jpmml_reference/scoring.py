"""Load and score one PMML document with JPMML-Evaluator through JPype (runs in the peer virtualenv)."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jpmml_evaluator
from inputs import Records
from jpmml_evaluator import JavaError, PythonEvaluatorUtil, make_evaluator
from jpmml_evaluator.jpype import JPypeBackend

# JPMML names the synthetic target of a model without a target field (clustering, ...) null.
DEFAULT_TARGET_COLUMN = "_target"
ERROR_COLUMN = "error"


@dataclass(frozen=True)
class Scored:
    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    row_errors: int
    batch: bool  # False when evaluateAll failed as a whole and records were scored one by one


class LoadFailure(Exception):
    """JPMML refused the document; the message is JPMML's own."""


def java_message(error: BaseException) -> str:
    """``class: message`` of a Java exception (some, like UnsupportedOperationException, have none)."""
    if isinstance(error, JavaError):
        return f"{error.className}: {error.message}" if error.message else str(error.className)
    text = str(error)
    return text if text else type(error).__name__


def format_value(value: Any) -> str:
    """A decoded JPMML value as a CSV cell: full double precision, empty cell for missing."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) or math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, int | str):
        return str(value)
    if isinstance(value, list | tuple | set | frozenset):
        # Collections (association recommendations, ...) as a JSON array, like collection inputs.
        items = sorted(value, key=str) if isinstance(value, set | frozenset) else list(value)
        return json.dumps(
            [item if isinstance(item, int | float | str) else format_value(item) for item in items]
        )
    return str(value)


def unique_columns(names: list[str], data: list[list[Any]]) -> tuple[list[str], list[list[Any]]]:
    """One column per name, at the name's first position, as in JPMML's result map.

    evaluateAll lists the target fields and then the output fields, and reads each column from the
    result map by name; an OutputField named like the target (STATISTICA's model chains) thus
    comes twice, both copies holding the one value the map has for that name - the OutputField's,
    which replaced the target's.  Writing it twice would make the table ambiguous.
    """
    kept: dict[str, list[Any]] = {}
    for name, column in zip(names, data, strict=True):
        if name not in kept:
            kept[name] = column
        elif kept[name] != column:
            raise ValueError(f"evaluateAll returned two different columns named {name!r}")
    return list(kept), list(kept.values())


class Engine:
    """One JVM for the whole run; documents are loaded and scored in it one after another."""

    def __init__(self) -> None:
        self.backend = JPypeBackend()
        import jpype

        self._jpype = jpype

    def close(self) -> None:
        if self._jpype.isJVMStarted():
            self._jpype.shutdownJVM()

    def versions(self) -> dict[str, str]:
        from importlib.metadata import version

        system = self.backend.staticInvoke("java.lang.System", "getProperty", "java.version")
        jars = Path(jpmml_evaluator.__file__).parent / "dependencies"
        evaluator_jar = next(iter(sorted(jars.glob("pmml-evaluator-[0-9]*.jar"))), None)
        return {
            "jpmml_evaluator_python": version("jpmml-evaluator"),
            "pmml_evaluator_java": evaluator_jar.stem.removeprefix("pmml-evaluator-")
            if evaluator_jar
            else "?",
            "jpype1": version("jpype1"),
            "java": str(system),
        }

    def load(self, path: Path) -> Any:
        try:
            return make_evaluator(str(path), backend=self.backend, locatable=True)
        except Exception as error:  # JPMML raises Java and Python errors alike for a bad document
            raise LoadFailure(java_message(error)) from error

    @staticmethod
    def input_fields(evaluator: Any) -> list[str]:
        return [str(field.getName()) for field in evaluator.javaEvaluator.getInputFields()]

    @staticmethod
    def verify(evaluator: Any) -> str | None:
        """None when the document's ModelVerification rows replay, else JPMML's message."""
        try:
            evaluator.verify()
        except Exception as error:
            return java_message(error)
        return None

    def score(self, evaluator: Any, records: Records) -> Scored:
        arguments = {"columns": list(records.columns), "data": [list(column) for column in records.data]}
        try:
            if not records.columns:
                raise ValueError("no input fields: score one empty record instead")
            result = PythonEvaluatorUtil.evaluateAll(
                self.backend, evaluator.javaEvaluator, arguments, None, 1
            )
        except Exception:
            return self._score_one_by_one(evaluator, records)
        names, data = unique_columns(
            [DEFAULT_TARGET_COLUMN if name is None else str(name) for name in result["columns"]],
            result["data"],
        )
        errors = result["errors"] or [None] * records.row_count
        return self._table(
            names, [[column[row] for column in data] for row in range(records.row_count)], errors, True
        )

    def _score_one_by_one(self, evaluator: Any, records: Records) -> Scored:
        names: list[str] = []
        values: list[dict[str, Any]] = []
        errors: list[str | None] = []
        for row in range(max(records.row_count, 1 if not records.columns else 0)):
            arguments = {
                name: column[row] for name, column in zip(records.columns, records.data, strict=True)
            }
            try:
                result = evaluator.evaluate(arguments)
            except Exception as error:
                values.append({})
                errors.append(java_message(error))
                continue
            decoded = {
                DEFAULT_TARGET_COLUMN if key is None else str(key): value for key, value in result.items()
            }
            names.extend(name for name in decoded if name not in names)
            values.append(decoded)
            errors.append(None)
        return self._table(names, [[row.get(name) for name in names] for row in values], errors, False)

    @staticmethod
    def _table(names: list[str], rows: list[list[Any]], errors: list[Any], batch: bool) -> Scored:
        failed = sum(1 for error in errors if error is not None)
        columns = tuple(names) + ((ERROR_COLUMN,) if failed else ())
        table = []
        for row, error in zip(rows, errors, strict=True):
            cells = [format_value(value) for value in row]
            if failed:
                cells.append("" if error is None else str(error))
            table.append(tuple(cells))
        return Scored(columns, tuple(table), failed, batch)
