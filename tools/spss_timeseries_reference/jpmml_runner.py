"""Run in the peers' Python: score one record of a TimeSeriesModel PMML with JPMML-Evaluator (JPype).

Prints JSON: ``{"outcome": "scored", "results": {...}}`` or ``{"outcome": "refused", "error": ...}``.
"""

from __future__ import annotations

import json
import sys
from importlib.metadata import version

import jpype
from jpmml_evaluator import make_backend, make_evaluator


def main(path: str) -> None:
    backend = make_backend("jpype")
    result: dict[str, object] = {"jpmml_evaluator_python": version("jpmml-evaluator")}
    try:
        try:
            evaluator = make_evaluator(path, backend=backend).verify()
            scored = evaluator.evaluate({"DATE": None})
            result.update(outcome="scored", results={str(k): v for k, v in scored.items()})
        except Exception as exc:  # JPMML's refusal is the answer we record
            result.update(outcome="refused", error=str(exc).splitlines()[0])
    finally:
        jpype.shutdownJVM()
    print(json.dumps(result))


if __name__ == "__main__":
    main(sys.argv[1])
