"""sklearn2pmml cases: scikit-learn pipelines converted by sklearn2pmml (JPMML-SkLearn)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
from _common import ZooCase, hostile_rows
from sklearn.calibration import CalibratedClassifierCV
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import (
    HistGradientBoostingClassifier,
    RandomForestClassifier,
    StackingClassifier,
    VotingClassifier,
)
from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import KBinsDiscretizer, OneHotEncoder, OrdinalEncoder, StandardScaler
from sklearn.tree import DecisionTreeClassifier
from sklearn2pmml import sklearn2pmml
from sklearn2pmml.decoration import CategoricalDomain, ContinuousDomain, DateDomain
from sklearn2pmml.feature_extraction.text import Splitter
from sklearn2pmml.pipeline import PMMLPipeline
from sklearn2pmml.preprocessing import DaysSinceYearTransformer, ExpressionTransformer

SEED = 20261202
PRODUCER = "sklearn2pmml"

#: Cases whose sub-models' MiningSchemas reject what the top-level one accepts: JPMML scores them
#: with the nested invalid-value rule (issue #15, owned by the spss-pmml branch).
NESTED_INVALID_VALUE_CASES = frozenset({"stacking", "voting", "calibrated"})


def _frame(n: int = 300) -> pd.DataFrame:
    rng = np.random.default_rng(SEED)
    x1 = rng.uniform(0, 100, n)
    x2 = rng.normal(5, 2, n)
    c1 = rng.choice(["a", "b", "c", "d", "e"], n, p=[0.4, 0.3, 0.2, 0.08, 0.02])
    c2 = rng.choice(["red", "green", "blue"], n)
    x1[rng.random(n) < 0.05] = np.nan
    logit = 0.04 * np.nan_to_num(x1, nan=50) - 0.5 * x2 + (c1 == "a") * 1.5 - (c2 == "red") * 1.0
    y = np.where(rng.random(n) < 1 / (1 + np.exp(-logit)), "yes", "no")
    days = rng.integers(0, 4000, n)
    dates = pd.to_datetime("2010-01-01") + pd.to_timedelta(days, unit="D")
    date = pd.Series(dates.strftime("%Y-%m-%d"), dtype=object)
    date[rng.random(n) < 0.1] = None
    words = np.array(["good", "bad", "great", "poor", "fine", "awful", "the", "a", "is"])
    text = [" ".join(rng.choice(words, 5)) for _ in range(n)]
    return pd.DataFrame({"x1": x1, "x2": x2, "c1": c1, "c2": c2, "date": date, "text": text, "y": y,
                         "amount": 3.0 * np.nan_to_num(x1, nan=40) + 10 * x2 + rng.normal(0, 1, n)})


def _write(pipeline: PMMLPipeline, path: Path) -> None:
    sklearn2pmml(pipeline, str(path))


def _mixed_transformer() -> ColumnTransformer:
    return ColumnTransformer([
        ("num", make_pipeline(ContinuousDomain(invalid_value_treatment="as_is"),
                              SimpleImputer(strategy="median"), StandardScaler()), ["x1", "x2"]),
        ("cat", make_pipeline(CategoricalDomain(invalid_value_treatment="as_missing"),
                              OneHotEncoder(handle_unknown="infrequent_if_exist", min_frequency=0.05)),
         ["c1", "c2"]),
    ])


def _lenient_transformer() -> ColumnTransformer:
    """Unseen categories accepted as they are by the top-level MiningSchema and ignored by the encoder."""
    return ColumnTransformer([
        ("num", make_pipeline(ContinuousDomain(invalid_value_treatment="as_is"),
                              SimpleImputer(strategy="median")), ["x1", "x2"]),
        ("cat", make_pipeline(CategoricalDomain(invalid_value_treatment="as_is"),
                              OneHotEncoder(handle_unknown="ignore")), ["c1", "c2"]),
    ])


def cases() -> list[ZooCase]:
    df = _frame()
    features, y = df[["x1", "x2", "c1", "c2"]], df["y"]
    clean = {k: list(df[k]) for k in ("x1", "x2", "c1", "c2")}
    inputs = hostile_rows(clean, ["x1", "x2"], ["c1", "c2"], f"{PRODUCER}:mixed")
    out: list[ZooCase] = []

    def add(name: str, describes: str, build: Callable[[Path], None],
            rows: dict[str, list[str | None]] | None = None) -> None:
        out.append(ZooCase(f"{PRODUCER}/{name}", build, rows if rows is not None else inputs, describes))

    def column_transformer(path: Path) -> None:
        p = PMMLPipeline([("ct", _mixed_transformer()), ("clf", LogisticRegression(max_iter=500))])
        p.fit(features, y)
        _write(p, path)

    add("column_transformer_logistic", "ColumnTransformer: median imputer, scaler, OneHotEncoder with "
        "infrequent categories and unknown values; LogisticRegression", column_transformer)

    def kbins_tree(path: Path) -> None:
        ct = ColumnTransformer([
            ("bins", make_pipeline(ContinuousDomain(), SimpleImputer(), KBinsDiscretizer(
                n_bins=4, encode="onehot-dense", strategy="quantile", quantile_method="averaged_inverted_cdf")),
             ["x1", "x2"]),
            ("ord", make_pipeline(CategoricalDomain(invalid_value_treatment="as_is"),
                                  OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1)),
             ["c1", "c2"]),
        ])
        p = PMMLPipeline([("ct", ct), ("clf", DecisionTreeClassifier(max_depth=5, random_state=SEED))])
        p.fit(features, y)
        _write(p, path)

    add("kbins_ordinal_tree", "KBinsDiscretizer (quantile) and OrdinalEncoder with unknown values; "
        "DecisionTreeClassifier", kbins_tree)

    def forest(path: Path) -> None:
        p = PMMLPipeline([("ct", _mixed_transformer()),
                          ("clf", RandomForestClassifier(n_estimators=10, max_depth=6, random_state=SEED))])
        p.fit(features, y)
        _write(p, path)

    add("random_forest", "RandomForestClassifier after the ColumnTransformer", forest)

    def hgb(path: Path) -> None:
        cat_frame = features.copy()
        cat_frame["c1"] = cat_frame["c1"].astype("category")
        cat_frame["c2"] = cat_frame["c2"].astype("category")
        p = PMMLPipeline([("clf", HistGradientBoostingClassifier(
            max_iter=20, categorical_features=["c1", "c2"], random_state=SEED))])
        p.fit(cat_frame, y)
        _write(p, path)

    add("hist_gradient_boosting", "HistGradientBoostingClassifier with NaN in x1 and native categorical "
        "features", hgb)

    def text(path: Path) -> None:
        p = PMMLPipeline([("tfidf", TfidfVectorizer(analyzer="word", tokenizer=Splitter(), token_pattern=None,
                                                    lowercase=True, norm=None)),
                          ("clf", LogisticRegression(max_iter=500))])
        p.fit(df["text"], y)
        _write(p, path)

    text_rows = {"text": [*df["text"][:16], "GOOD, great!", None, "unseen words only", "  bad  ",
                          "Fine. fine; FINE", "good-bad", "a the is"]}
    add("tfidf_logistic", "TfidfVectorizer (Splitter tokenizer) and LogisticRegression", text, text_rows)

    def counts(path: Path) -> None:
        p = PMMLPipeline([("counts", CountVectorizer(tokenizer=Splitter(), token_pattern=None, lowercase=True,
                                                      binary=True)),
                          ("clf", DecisionTreeClassifier(max_depth=4, random_state=SEED))])
        p.fit(df["text"], y)
        _write(p, path)

    add("count_vectorizer_tree", "CountVectorizer (binary, Splitter tokenizer) and a DecisionTreeClassifier",
        counts, text_rows)

    def dates(path: Path) -> None:
        p = PMMLPipeline([
            ("ct", ColumnTransformer([
                ("date", make_pipeline(DateDomain(), DaysSinceYearTransformer(year=2000),
                                       SimpleImputer(strategy="mean")), ["date"]),
                ("ratio", make_pipeline(ContinuousDomain(), SimpleImputer(), ExpressionTransformer(
                    "X[0] / X[1] if X[1] != 0 else -1.0")), ["x1", "x2"]),
                ("x2", "passthrough", ["x2"]),
            ])),
            ("reg", LinearRegression()),
        ])
        train = df[["date", "x1", "x2"]].copy()
        # The training dates are complete; the imputer's mean (a fraction) replaces a missing
        # date at scoring time, on a field whose days count is an integer.
        train["date"] = pd.to_datetime(train["date"].fillna("2015-06-01"))
        p.fit(train, df["amount"])
        _write(p, path)

    date_rows = hostile_rows({k: list(df[k]) for k in ("date", "x1", "x2")}, ["x1", "x2"], ["date"],
                             f"{PRODUCER}:dates")
    date_rows["date"] = [None if v == "zz_unseen" else v for v in date_rows["date"]]
    add("date_expression_regression", "DateDomain, DaysSinceYearTransformer and a mean imputer (an "
        "integer field's Constant holding a fraction), ExpressionTransformer; LinearRegression", dates, date_rows)

    def stacking(path: Path) -> None:
        clf = StackingClassifier([("lr", LogisticRegression(max_iter=500)),
                                  ("dt", DecisionTreeClassifier(max_depth=3, random_state=SEED))],
                                 final_estimator=LogisticRegression())
        p = PMMLPipeline([("ct", _lenient_transformer()), ("clf", clf)])
        p.fit(features, y)
        _write(p, path)

    add("stacking", "StackingClassifier (logistic + tree); unseen categories accepted as they are", stacking)

    def voting(path: Path) -> None:
        clf = VotingClassifier([("lr", LogisticRegression(max_iter=500)),
                                ("dt", DecisionTreeClassifier(max_depth=3, random_state=SEED))], voting="soft")
        p = PMMLPipeline([("ct", _lenient_transformer()), ("clf", clf)])
        p.fit(features, y)
        _write(p, path)

    add("voting", "soft VotingClassifier; unseen categories accepted as they are", voting)

    def calibrated(path: Path) -> None:
        clf = CalibratedClassifierCV(DecisionTreeClassifier(max_depth=3, random_state=SEED), cv=3)
        p = PMMLPipeline([("ct", _lenient_transformer()), ("clf", clf)])
        p.fit(features, y)
        _write(p, path)

    add("calibrated", "CalibratedClassifierCV (sigmoid, 3 folds) over a tree", calibrated)
    return out
