"""The seeded model zoo of the benchmark: train, export to PMML (sklearn2pmml) and ONNX, write inputs.

Runs in bench/.venv (the peers' environment).  For every model ``<name>`` it writes into the
output folder::

    <name>.pmml        sklearn2pmml's export (the document every PMML engine scores)
    <name>.joblib      the fitted scikit-learn pipeline/estimator (native predict, MLServer)
    <name>.onnx        skl2onnx's export, where skl2onnx converts the model
    zoo.json           per model: kind, target, classes, input CSV names, file sizes, export notes

and the inputs ``numeric_<rows>.csv`` / ``mixed_<rows>.csv`` for 1, 10,000 and 100,000 rows.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd

SEED = 5
N_FEATURES = 20
FEATURES = [f"x{i}" for i in range(N_FEATURES)]
ROW_COUNTS = (1, 10_000, 100_000)
QUICK_ROW_COUNTS = (1, 200, 1_000)
TARGET = "y"

# The mixed dataset of the preprocessing pipeline: two string columns, three numbers, missing values.
MIXED_NUMERIC = ["age", "income", "tenure"]
MIXED_STRING = ["region", "plan"]
REGIONS = ["north", "south", "east", "west", "centre"]
PLANS = ["basic", "plus", "pro"]


@dataclass
class ZooModel:
    """What the runner needs to know of one model of the zoo."""

    name: str
    kind: str  # "classification", "regression" or "clustering"
    dataset: str  # "numeric" or "mixed"
    label: str  # what the table calls it
    classes: list[str] = field(default_factory=list)
    has_proba: bool = True
    pmml_bytes: int = 0
    onnx: str | None = None  # why there is no ONNX export, or None when there is one
    build_seconds: float = 0.0


def numeric_frame(rows: int, seed: int) -> pd.DataFrame:
    """Twenty standard-normal features with some correlation (one seeded draw per call)."""
    rng = np.random.default_rng(seed)
    base = rng.standard_normal((rows, N_FEATURES))
    # Mix a few columns so that linear models and trees have structure to find.
    base[:, 1] += 0.5 * base[:, 0]
    base[:, 2] -= 0.3 * base[:, 1]
    return pd.DataFrame(base, columns=FEATURES)


def numeric_targets(x: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """A binary class and a continuous target from the same features (seeded noise)."""
    rng = np.random.default_rng(SEED + 1)
    v = x.to_numpy()
    w = np.linspace(1.0, -1.0, N_FEATURES)
    signal = v @ w + 0.8 * np.sin(2 * v[:, 3]) + 0.5 * v[:, 4] * v[:, 5]
    cls = (signal + rng.normal(0, 1.0, len(v)) > 0).astype(int)
    reg = signal * 10 + rng.normal(0, 2.0, len(v))
    return cls, reg


def mixed_frame(rows: int, seed: int) -> pd.DataFrame:
    """Strings and numbers with about 5 % missing cells in every column."""
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({
        "age": rng.integers(18, 90, rows).astype(float),
        "income": np.round(rng.lognormal(10, 0.6, rows), 2),
        "tenure": np.round(rng.exponential(4.0, rows), 3),
        "region": rng.choice(REGIONS, rows).astype(object),
        "plan": rng.choice(PLANS, rows).astype(object),
    })
    for col in df.columns:
        holes = rng.random(rows) < 0.05
        df.loc[holes, col] = np.nan if col in MIXED_NUMERIC else None
    return df


def mixed_target(x: pd.DataFrame) -> np.ndarray:
    rng = np.random.default_rng(SEED + 2)
    score = (x["age"].fillna(50) - 50) / 20 + np.log(x["income"].fillna(22000)) - 10
    score += x["plan"].map({"basic": -0.5, "plus": 0.2, "pro": 0.8}).fillna(0).to_numpy()
    score += x["region"].map({"north": 0.3, "south": -0.3}).fillna(0).to_numpy()
    labels: np.ndarray = (score + rng.normal(0, 0.7, len(x)) > 0).astype(int).to_numpy()
    return labels


def _estimators() -> dict[str, tuple[str, str, str, Callable[[], Any], int]]:
    """name -> (table label, kind, dataset, estimator factory, training rows)."""
    import lightgbm
    import xgboost
    from sklearn.cluster import KMeans
    from sklearn.ensemble import GradientBoostingClassifier, RandomForestClassifier
    from sklearn.linear_model import LinearRegression, LogisticRegression
    from sklearn.naive_bayes import GaussianNB
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.neural_network import MLPClassifier
    from sklearn.svm import SVC
    from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

    return {
        "logreg": ("logistic regression (20 features)", "classification", "numeric",
                   lambda: LogisticRegression(max_iter=1000), 5000),
        "linreg": ("linear regression (20 features)", "regression", "numeric", LinearRegression, 5000),
        "tree_clf": ("decision tree classifier (depth 10)", "classification", "numeric",
                     lambda: DecisionTreeClassifier(max_depth=10, random_state=SEED), 5000),
        "tree_reg": ("decision tree regressor (depth 10)", "regression", "numeric",
                     lambda: DecisionTreeRegressor(max_depth=10, random_state=SEED), 5000),
        "rf100": ("random forest, 100 trees", "classification", "numeric",
                  lambda: RandomForestClassifier(n_estimators=100, random_state=SEED, n_jobs=1), 4000),
        "rf500": ("random forest, 500 trees", "classification", "numeric",
                  lambda: RandomForestClassifier(n_estimators=500, random_state=SEED, n_jobs=1), 4000),
        "gbm": ("gradient boosting (sklearn, 100 trees)", "classification", "numeric",
                lambda: GradientBoostingClassifier(n_estimators=100, max_depth=3, random_state=SEED), 5000),
        "xgboost": ("XGBoost (100 trees, depth 6)", "classification", "numeric",
                    lambda: xgboost.XGBClassifier(n_estimators=100, max_depth=6, random_state=SEED, n_jobs=1),
                    5000),
        "lightgbm": ("LightGBM (100 trees, 31 leaves)", "classification", "numeric",
                     lambda: lightgbm.LGBMClassifier(n_estimators=100, num_leaves=31, random_state=SEED,
                                                     n_jobs=1, verbose=-1), 5000),
        "mlp": ("MLP (32-16)", "classification", "numeric",
                lambda: MLPClassifier(hidden_layer_sizes=(32, 16), max_iter=300, random_state=SEED), 5000),
        "svc": ("SVC (RBF)", "classification", "numeric", lambda: SVC(kernel="rbf", random_state=SEED), 2000),
        "knn": ("k-NN (k=5, 1,000 instances)", "classification", "numeric",
                lambda: KNeighborsClassifier(n_neighbors=5), 1000),
        "kmeans": ("k-means (8 clusters)", "clustering", "numeric",
                   lambda: KMeans(n_clusters=8, n_init=3, random_state=SEED), 5000),
        "gnb": ("Gaussian naive Bayes", "classification", "numeric", GaussianNB, 5000),
        "pipeline": ("pipeline: strings, imputation, scaling, logistic", "classification", "mixed",
                     lambda: LogisticRegression(max_iter=1000), 5000),
    }


QUICK_MODELS = ("logreg", "tree_clf", "pipeline")


def _mixed_pipeline(estimator: Any) -> Any:
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler
    from sklearn2pmml.pipeline import PMMLPipeline

    numbers = Pipeline([("impute", SimpleImputer(strategy="median")), ("scale", StandardScaler())])
    strings = Pipeline([("impute", SimpleImputer(strategy="most_frequent")),
                        ("onehot", OneHotEncoder(handle_unknown="ignore"))])
    prep = ColumnTransformer([("num", numbers, MIXED_NUMERIC), ("str", strings, MIXED_STRING)])
    return PMMLPipeline([("prep", prep), ("model", estimator)])


def build(out: Path, quick: bool = False, only: list[str] | None = None) -> dict[str, ZooModel]:
    """Train every model, export it, and write the input CSVs; returns the zoo description."""
    from sklearn2pmml import sklearn2pmml
    from sklearn2pmml.pipeline import PMMLPipeline

    out.mkdir(parents=True, exist_ok=True)
    counts = QUICK_ROW_COUNTS if quick else ROW_COUNTS
    for rows in counts:
        # Scoring inputs come from other seeds than the training data.
        numeric_frame(rows, SEED + 100).to_csv(out / f"numeric_{rows}.csv", index=False)
        mixed_frame(rows, SEED + 200).to_csv(out / f"mixed_{rows}.csv", index=False)

    specs = _estimators()
    names = list(only or (QUICK_MODELS if quick else specs))
    unknown = [n for n in names if n not in specs]
    if unknown:
        raise SystemExit(f"unknown zoo model(s) {unknown}; expected some of {list(specs)}")
    zoo: dict[str, ZooModel] = {}
    for name in names:
        label, kind, dataset, make, train_rows = specs[name]
        t0 = time.perf_counter()
        if dataset == "numeric":
            x = numeric_frame(train_rows, SEED)
            y_cls, y_reg = numeric_targets(x)
            y = y_reg if kind == "regression" else y_cls
            pipe = PMMLPipeline([("model", make())])
        else:
            x = mixed_frame(train_rows, SEED)
            y = mixed_target(x)
            pipe = _mixed_pipeline(make())
        if kind == "clustering":
            pipe.fit(x)
        else:
            pipe.fit(x, pd.Series(y, name=TARGET))
        pmml_path = out / f"{name}.pmml"
        sklearn2pmml(pipe, str(pmml_path))
        # Native predict and MLServer use the plain fitted pipeline (PMMLPipeline is a Pipeline).
        joblib.dump(pipe, out / f"{name}.joblib")
        model = ZooModel(name=name, kind=kind, dataset=dataset, label=label,
                         pmml_bytes=pmml_path.stat().st_size)
        if kind == "classification":
            model.classes = [str(c) for c in pipe.classes_]
            model.has_proba = hasattr(pipe, "predict_proba") and name != "svc" and name != "knn"
        else:
            model.has_proba = False
        model.onnx = _to_onnx(pipe, name, dataset, x, out / f"{name}.onnx")
        model.build_seconds = time.perf_counter() - t0
        zoo[name] = model
        print(f"  built {name}: PMML {model.pmml_bytes / 2**20:.1f} MiB in {model.build_seconds:.1f} s"
              + (f" (no ONNX: {model.onnx})" if model.onnx else ""), flush=True)
    (out / "zoo.json").write_text(json.dumps({n: asdict(m) for n, m in zoo.items()}, indent=1))
    return zoo


def _to_onnx(pipe: Any, name: str, dataset: str, x: pd.DataFrame, path: Path) -> str | None:
    """skl2onnx's export of the fitted model; returns why not when skl2onnx cannot convert it."""
    from skl2onnx import to_onnx
    from skl2onnx.common.data_types import DoubleTensorType, FloatTensorType, StringTensorType
    from sklearn.base import is_classifier

    try:
        if dataset == "mixed":
            types = [(c, DoubleTensorType([None, 1])) for c in MIXED_NUMERIC]
            types += [(c, StringTensorType([None, 1])) for c in MIXED_STRING]
            onx = to_onnx(_plain(pipe), initial_types=types,
                          options={"zipmap": False}, target_opset=17)
        else:
            est = _plain(pipe)
            # Trees and ensembles are converted in float32 (their ONNX ops know no double).
            dtype = FloatTensorType if name in {"tree_clf", "tree_reg", "rf100", "rf500", "gbm", "xgboost",
                                                "lightgbm"} else DoubleTensorType
            # Probabilities as a plain tensor (no ZipMap), for every classifier: SVC without
            # probability=True still gets a ZipMap node otherwise, which onnxruntime refuses in double.
            opts = {"zipmap": False} if is_classifier(est) else None
            onx = to_onnx(est, initial_types=[("X", dtype([None, N_FEATURES]))], options=opts, target_opset=17)
    except Exception as exc:  # skl2onnx raises many kinds; the reason goes into the report
        return f"{type(exc).__name__}: {str(exc).splitlines()[0][:120]}"
    path.write_bytes(onx.SerializeToString())
    return None


def _plain(pipe: Any) -> Any:
    """The PMMLPipeline as a plain scikit-learn Pipeline (skl2onnx knows no PMMLPipeline)."""
    from sklearn.pipeline import Pipeline

    steps = pipe.steps
    return steps[0][1] if len(steps) == 1 else Pipeline(list(steps))
