"""nyoka cases: scikit-learn, LightGBM and XGBoost pipelines and statsmodels time series, by nyoka."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
from _common import ZooCase, hostile_rows
from lightgbm import LGBMClassifier
from nyoka import ExponentialSmoothingToPMML, StatsmodelsToPmml, lgb_to_pmml, skl_to_pmml, xgboost_to_pmml
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import GradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from sklearn.svm import SVC
from sklearn.tree import DecisionTreeRegressor
from statsmodels.tsa.arima.model import ARIMA
from statsmodels.tsa.holtwinters import ExponentialSmoothing
from statsmodels.tsa.statespace.sarimax import SARIMAX
from xgboost import XGBClassifier

SEED = 20261202
PRODUCER = "nyoka"


def _frame(n: int = 300) -> pd.DataFrame:
    rng = np.random.default_rng(SEED)
    x1 = rng.uniform(0, 100, n)
    x2 = rng.normal(5, 2, n)
    x3 = rng.normal(0, 1, n)
    c1 = rng.choice(["a", "b", "c"], n)
    logit = 0.04 * x1 - 0.5 * x2 + x3
    y = np.where(rng.random(n) < 1 / (1 + np.exp(-logit)), "yes", "no")
    return pd.DataFrame({"x1": x1, "x2": x2, "x3": x3, "c1": c1, "y": y, "amount": 3 * x1 + 10 * x2})


def _series(n: int = 96, seasonal: bool = False) -> pd.Series:
    rng = np.random.default_rng(SEED)
    e = rng.normal(0, 1, n)
    y = np.zeros(n)
    for t in range(1, n):
        y[t] = 0.6 * y[t - 1] + e[t] + 0.3 * e[t - 1]
    level = 50 + np.cumsum(rng.normal(0.2, 0.5, n)) + y
    if seasonal:
        level = level + 5 * np.sin(np.arange(n) * 2 * np.pi / 12)
    return pd.Series(level, index=pd.date_range("2015-01-01", periods=n, freq="MS"))


def _horizons() -> dict[str, list[str | None]]:
    return {"h": ["1", "2", "3", "6", "12", "0", "-1", None, " 4 ", "2.5"]}


def cases() -> list[ZooCase]:
    df = _frame()
    numeric = ["x1", "x2", "x3"]
    inputs = hostile_rows({k: list(df[k]) for k in numeric}, numeric, [], f"{PRODUCER}:numeric")
    out: list[ZooCase] = []

    def add(name: str, describes: str, build: Callable[[Path], None],
            rows: dict[str, list[str | None]] | None = None) -> None:
        out.append(ZooCase(f"{PRODUCER}/{name}", build, rows if rows is not None else inputs, describes))

    def logistic(path: Path) -> None:
        pipe = Pipeline([("scale", StandardScaler()), ("clf", LogisticRegression(max_iter=500))])
        pipe.fit(df[numeric], df["y"])
        skl_to_pmml(pipe, numeric, "y", str(path))

    add("sklearn_logistic", "StandardScaler and LogisticRegression", logistic)

    def gbm(path: Path) -> None:
        pipe = Pipeline([("clf", GradientBoostingClassifier(n_estimators=10, max_depth=3, random_state=SEED))])
        pipe.fit(df[numeric], df["y"])
        skl_to_pmml(pipe, numeric, "y", str(path))

    add("sklearn_gradient_boosting", "GradientBoostingClassifier", gbm)

    def mlp(path: Path) -> None:
        pipe = Pipeline([("scale", StandardScaler()),
                         ("clf", MLPClassifier(hidden_layer_sizes=(6,), max_iter=300, random_state=SEED))])
        pipe.fit(df[numeric], df["y"])
        skl_to_pmml(pipe, numeric, "y", str(path))

    add("sklearn_mlp", "StandardScaler and MLPClassifier (one hidden layer of 6)", mlp)

    def svc(path: Path) -> None:
        pipe = Pipeline([("scale", StandardScaler()), ("clf", SVC(kernel="rbf", gamma=0.5, random_state=SEED))])
        pipe.fit(df[numeric], df["y"])
        skl_to_pmml(pipe, numeric, "y", str(path))

    add("sklearn_svc", "StandardScaler and an RBF SVC", svc)

    def tree(path: Path) -> None:
        ct = ColumnTransformer([("num", "passthrough", ["x1", "x2"]),
                                ("cat", OneHotEncoder(handle_unknown="ignore"), ["c1"])])
        pipe = Pipeline([("ct", ct), ("reg", DecisionTreeRegressor(max_depth=4, random_state=SEED))])
        pipe.fit(df[["x1", "x2", "c1"]], df["amount"])
        skl_to_pmml(pipe, ["x1", "x2", "c1"], "amount", str(path))

    tree_rows = hostile_rows({k: list(df[k]) for k in ("x1", "x2", "c1")}, ["x1", "x2"], ["c1"],
                             f"{PRODUCER}:tree")
    add("sklearn_column_transformer_tree", "ColumnTransformer with OneHotEncoder; DecisionTreeRegressor", tree,
        tree_rows)

    def clean_records() -> pd.DataFrame:
        rows = len(inputs["x1"]) // 2  # the first half of hostile_rows is clean
        return pd.DataFrame({k: [float(v or "nan") for v in inputs[k][:rows]] for k in numeric})

    def lightgbm(path: Path) -> None:
        pipe = Pipeline([("clf", LGBMClassifier(n_estimators=10, num_leaves=8, random_state=SEED, verbose=-1))])
        pipe.fit(df[numeric], df["y"])
        lgb_to_pmml(pipe, numeric, "y", str(path))
        proba = pipe.predict_proba(clean_records())
        lightgbm_case.native = {
            "probability_no": proba[:, 0].tolist(), "probability_yes": proba[:, 1].tolist()}

    add("lightgbm", "LGBMClassifier (10 trees)", lightgbm)
    lightgbm_case = out[-1]

    def xgboost(path: Path) -> None:
        labels = (df["y"] == "yes").astype(int)
        pipe = Pipeline([("clf", XGBClassifier(n_estimators=10, max_depth=3, random_state=SEED))])
        pipe.fit(df[numeric], labels)
        xgboost_to_pmml(pipe, numeric, "y", str(path))
        proba = pipe.predict_proba(clean_records())
        xgboost_case.native = {"y_probability_0": proba[:, 0].tolist(), "y_probability_1": proba[:, 1].tolist()}

    add("xgboost", "XGBClassifier (10 trees)", xgboost)
    xgboost_case = out[-1]

    def series_case(name: str, describes: str, fit: Callable[[], object], exporter: type) -> None:
        def build(path: Path) -> None:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                result = fit()
            exporter(result, str(path))

        add(name, describes, build, _horizons())

    series_case("arima", "statsmodels ARIMA(1,1,1) (tsa.arima.model: a state-space model)",
                lambda: ARIMA(_series(), order=(1, 1, 1)).fit(), StatsmodelsToPmml)
    series_case("arima_trend", "statsmodels ARIMA(2,0,1) with a constant",
                lambda: ARIMA(_series(), order=(2, 0, 1), trend="c").fit(), StatsmodelsToPmml)
    series_case("sarimax", "statsmodels SARIMAX(1,1,1)x(1,0,0,12)",
                lambda: SARIMAX(_series(seasonal=True), order=(1, 1, 1), seasonal_order=(1, 0, 0, 12)).fit(disp=False),
                StatsmodelsToPmml)
    series_case("exponential_smoothing", "statsmodels Holt-Winters ExponentialSmoothing (additive trend and "
                "seasonality, 12)", lambda: ExponentialSmoothing(_series(seasonal=True), trend="add", seasonal="add",
                                                                 seasonal_periods=12).fit(), ExponentialSmoothingToPMML)
    return out
