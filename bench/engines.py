"""One adapter per scoring engine: start, load a model, score a DataFrame, score one record, stop.

Every adapter turns its engine's output into the same normalised result so that the runner can
compare engines: ``{"label": array of str}`` for classifiers and clusterers, plus
``{"proba": (n, classes) float array}`` where the model gives probabilities, or
``{"value": float array}`` for regressors.  The normalisation happens outside the timed calls.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd

ENGINES = ("pmserve", "jpmml", "pypmml", "native", "onnx")
TARGET = "y"


def warmup_document() -> str:
    """A small PMML file (pmserve's iris sample) that each PMML engine loads once before the timed load.

    The first load in a fresh JVM pays for class loading and JIT warm-up (several seconds), which
    is start-up, not the cost of loading the model at hand.
    """
    from importlib import resources

    return str(resources.files("pmserve.samples").joinpath("iris.pmml"))


class Engine(Protocol):
    name: str

    def start(self) -> None: ...
    def load(self, out: Path, model: str) -> None: ...
    def score(self, df: pd.DataFrame) -> Any: ...
    def records(self, df: pd.DataFrame) -> list[Any]: ...
    def score_one(self, record: Any) -> Any: ...
    def normalise(self, result: Any, meta: dict[str, Any]) -> dict[str, np.ndarray]: ...
    def stop(self) -> None: ...


def make(name: str) -> Engine:
    engines: dict[str, type[Any]] = {"pmserve": Pmserve, "jpmml": Jpmml, "pypmml": PyPmml, "native": Native,
                                     "onnx": Onnx}
    if name not in engines:
        raise SystemExit(f"unknown engine {name!r}; expected one of {', '.join(ENGINES)}")
    engine: Engine = engines[name]()
    return engine


def _pmml_normalise(columns: dict[str, np.ndarray], meta: dict[str, Any]) -> dict[str, np.ndarray]:
    """PMML result columns (target / cluster id, probability(<class>)) to the normalised result."""
    out: dict[str, np.ndarray] = {}
    names = list(columns)
    if meta["kind"] == "regression":
        key = TARGET if TARGET in columns else next(n for n in names if n.startswith("predicted"))
        out["value"] = np.asarray(columns[key], dtype=float)
        return out
    if meta.get("has_proba"):
        out["proba"] = np.column_stack([np.asarray(columns[f"probability({c})"], dtype=float)
                                        for c in meta["classes"]])
    if meta["kind"] == "clustering":
        key = next((n for n in names if n.lower() in ("cluster", "predicted_cluster", "cluster_id")), names[0])
    else:
        key = TARGET if TARGET in columns else next((n for n in names if n.startswith("predicted")), "")
    if key:
        out["label"] = np.array([_label(v) for v in columns[key]], dtype=object)
    elif "proba" in out:
        # PyPMML returns the Output fields alone: the label is the most probable class.
        out["label"] = np.asarray(meta["classes"], dtype=object)[out["proba"].argmax(axis=1)]
    return out


def _label(v: Any) -> str:
    """A class or cluster label as text: 1, 1.0 and "1" name the same class."""
    if v is None:
        return ""
    if isinstance(v, float):
        return "" if math.isnan(v) else (str(int(v)) if v.is_integer() else repr(v))
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    if isinstance(v, np.floating):
        return _label(float(v))
    return str(v)


class Pmserve:
    """pmserve's own engine, in process: ``pmml.load``, ``Model.score`` for a batch and, for one record,
    ``Model.score_one`` - what a user (and ``/pm/v1/score``) calls for one complete record of plain
    values - falling back to ``Model.score`` when it declines the record."""

    name = "pmserve"

    def start(self) -> None:
        from pmserve import pmml

        pmml.load(warmup_document())

    def load(self, out: Path, model: str) -> None:
        from pmserve import pmml

        self.model = pmml.load(str(out / f"{model}.pmml"))

    def score(self, df: pd.DataFrame) -> Any:
        return self.model.score(df)

    def records(self, df: pd.DataFrame) -> list[Any]:
        return _plain_records(df)

    def score_one(self, record: Any) -> Any:
        one = self.model.score_one(record)
        if one is None:
            return self.model.score({k: [v] for k, v in record.items()})
        return one

    def normalise(self, result: Any, meta: dict[str, Any]) -> dict[str, np.ndarray]:
        return _pmml_normalise({k: np.asarray(v) for k, v in result.items()}, meta)

    def stop(self) -> None:
        pass


def _plain_records(df: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as dicts of plain Python values, None for missing cells."""
    rows = df.astype(object).where(df.notna(), None).to_dict(orient="records")
    return [{str(k): v for k, v in r.items()} for r in rows]


class Jpmml:
    """JPMML-Evaluator through the ``jpmml_evaluator`` package's JPype backend (the reference)."""

    name = "jpmml"

    def start(self) -> None:
        from jpmml_evaluator import make_evaluator
        from jpmml_evaluator.jpype import JPypeBackend

        self.backend = JPypeBackend()
        make_evaluator(warmup_document(), backend=self.backend).verify()

    def load(self, out: Path, model: str) -> None:
        from jpmml_evaluator import make_evaluator

        self.evaluator = make_evaluator(str(out / f"{model}.pmml"), backend=self.backend).verify()

    def score(self, df: pd.DataFrame) -> Any:
        return self.evaluator.evaluateAll(df)

    def records(self, df: pd.DataFrame) -> list[Any]:
        return _plain_records(df)

    def score_one(self, record: Any) -> Any:
        return self.evaluator.evaluate(record)

    def normalise(self, result: Any, meta: dict[str, Any]) -> dict[str, np.ndarray]:
        return _pmml_normalise({str(c): result[c].to_numpy() for c in result.columns}, meta)

    def stop(self) -> None:
        import jpype

        if jpype.isJVMStarted():
            jpype.shutdownJVM()


class PyPmml:
    """PyPMML (pmml4s in a JVM reached through Py4J)."""

    name = "pypmml"

    def start(self) -> None:
        from pypmml import Model

        self.cls = Model
        Model.fromFile(warmup_document())

    def load(self, out: Path, model: str) -> None:
        self.model = self.cls.fromFile(str(out / f"{model}.pmml"))

    def score(self, df: pd.DataFrame) -> Any:
        return self.model.predict(df)

    def records(self, df: pd.DataFrame) -> list[Any]:
        return _plain_records(df)

    def score_one(self, record: Any) -> Any:
        return self.model.predict(record)

    def normalise(self, result: Any, meta: dict[str, Any]) -> dict[str, np.ndarray]:
        columns = {str(c): result[c].to_numpy() for c in result.columns}
        if meta["kind"] == "clustering" and "cluster" not in columns:
            columns = {"cluster": columns.get("predicted_cluster", next(iter(columns.values()))), **columns}
        return _pmml_normalise(columns, meta)

    def stop(self) -> None:
        from pypmml.base import PMMLContext

        if PMMLContext._gateway is not None:
            PMMLContext._gateway.shutdown()


class Native:
    """The fitted scikit-learn pipeline's own ``predict`` / ``predict_proba`` (xgboost/lightgbm inside)."""

    name = "native"

    def start(self) -> None:
        import sklearn  # noqa: F401

    def load(self, out: Path, model: str) -> None:
        import joblib

        self.model = joblib.load(out / f"{model}.joblib")
        self.proba = False

    def configure(self, meta: dict[str, Any]) -> None:
        self.proba = bool(meta.get("has_proba"))
        self.numeric = meta["dataset"] == "numeric"

    def score(self, df: pd.DataFrame) -> Any:
        if self.proba:
            return self.model.predict_proba(df)
        return self.model.predict(df)

    def records(self, df: pd.DataFrame) -> list[Any]:
        # A caller of a numeric model hands it an array row; the pipeline with strings needs a frame.
        if self.numeric:
            return [df.to_numpy()[i:i + 1] for i in range(len(df))]
        return [df.iloc[i:i + 1] for i in range(len(df))]

    def score_one(self, record: Any) -> Any:
        return self.score(record)

    def normalise(self, result: Any, meta: dict[str, Any]) -> dict[str, np.ndarray]:
        if meta["kind"] == "regression":
            return {"value": np.asarray(result, dtype=float)}
        if self.proba:
            proba = np.asarray(result, dtype=float)
            labels = np.asarray(meta["classes"], dtype=object)[proba.argmax(axis=1)]
            return {"label": labels, "proba": proba}
        return {"label": np.array([_label(v) for v in result], dtype=object)}

    def stop(self) -> None:
        pass


class Onnx:
    """onnxruntime on skl2onnx's export (one intra-op thread per core, its default)."""

    name = "onnx"

    def start(self) -> None:
        import onnxruntime  # noqa: F401

    def load(self, out: Path, model: str) -> None:
        import onnxruntime

        path = out / f"{model}.onnx"
        if not path.exists():
            raise FileNotFoundError(f"no ONNX export of {model} (skl2onnx could not convert it)")
        self.session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        self.inputs = [(i.name, i.type) for i in self.session.get_inputs()]
        self.outputs = [o.name for o in self.session.get_outputs()]

    def _feed(self, df: pd.DataFrame) -> dict[str, np.ndarray]:
        if len(self.inputs) == 1:
            name, kind = self.inputs[0]
            dtype = np.float32 if kind == "tensor(float)" else np.float64
            return {name: df.to_numpy(dtype=dtype)}
        feed: dict[str, np.ndarray] = {}
        for name, kind in self.inputs:
            col = df[name]
            if kind == "tensor(string)":
                feed[name] = col.astype(object).where(col.notna(), "").to_numpy().reshape(-1, 1)
            else:
                feed[name] = col.to_numpy(dtype=np.float64).reshape(-1, 1)
        return feed

    def score(self, df: pd.DataFrame) -> Any:
        return self.session.run(None, self._feed(df))

    def records(self, df: pd.DataFrame) -> list[Any]:
        return [self._feed(df.iloc[i:i + 1]) for i in range(len(df))]

    def score_one(self, record: Any) -> Any:
        return self.session.run(None, record)

    def normalise(self, result: Any, meta: dict[str, Any]) -> dict[str, np.ndarray]:
        first = np.asarray(result[0]).reshape(len(result[0]), -1)
        if meta["kind"] == "regression":
            return {"value": first[:, 0].astype(float)}
        out = {"label": np.array([_label(v) for v in first[:, 0]], dtype=object)}
        if meta.get("has_proba") and len(result) > 1:
            out["proba"] = np.asarray(result[1], dtype=float)
        return out

    def stop(self) -> None:
        pass
