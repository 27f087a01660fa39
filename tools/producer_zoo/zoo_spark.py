"""Spark ML cases: PySpark pipelines converted by pyspark2pmml (JPMML-SparkML), Spark in local[2]."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyspark2pmml
from _common import ZooCase, hostile_rows
from pyspark.ml import Pipeline
from pyspark.ml.classification import (
    DecisionTreeClassifier,
    GBTClassifier,
    LinearSVC,
    LogisticRegression,
    MultilayerPerceptronClassifier,
    NaiveBayes,
    RandomForestClassifier,
)
from pyspark.ml.feature import (
    Bucketizer,
    CountVectorizer,
    Imputer,
    OneHotEncoder,
    RFormula,
    SQLTransformer,
    StopWordsRemover,
    StringIndexer,
    Tokenizer,
    VectorAssembler,
)
from pyspark.ml.regression import (
    DecisionTreeRegressor,
    GBTRegressor,
    GeneralizedLinearRegression,
    LinearRegression,
    RandomForestRegressor,
)
from pyspark.sql import SparkSession

SEED = 20261202
PRODUCER = "spark"
_session: SparkSession | None = None


def _spark() -> SparkSession:
    global _session
    if _session is None:
        _session = (SparkSession.builder.master("local[2]").appName("pmserve-producer-zoo")
                    .config("spark.jars", pyspark2pmml.spark_jars())
                    .config("spark.ui.enabled", "false")
                    .config("spark.sql.shuffle.partitions", "2")
                    .getOrCreate())
        _session.sparkContext.setLogLevel("ERROR")
    return _session


def close() -> None:
    global _session
    if _session is not None:
        _session.stop()
        _session = None


def _frame(n: int = 300) -> pd.DataFrame:
    rng = np.random.default_rng(SEED)
    x1 = rng.uniform(0, 100, n)
    x2 = rng.normal(5, 2, n)
    c1 = rng.choice(["a", "b", "c", "d"], n, p=[0.4, 0.3, 0.2, 0.1])
    c2 = rng.choice(["red", "green", "blue"], n)
    logit = 0.04 * x1 - 0.5 * x2 + (c1 == "a") * 1.5 - (c2 == "red") * 1.0
    y = np.where(rng.random(n) < 1 / (1 + np.exp(-logit)), "yes", "no")
    words = np.array(["good", "bad", "great", "poor", "fine", "awful", "the", "a", "is", "The", "it's"])
    text = [" ".join(rng.choice(words, 6)) for _ in range(n)]
    amount = 3.0 * x1 + 10 * x2 + (c1 == "b") * 20 + rng.normal(0, 1, n)
    count = rng.poisson(np.exp(0.01 * x1 + 0.1 * x2))
    return pd.DataFrame({"x1": x1, "x2": x2, "c1": c1, "c2": c2, "y": y, "text": text, "amount": amount,
                         "count": count.astype(float)})


def _features(extra: list[Any] | None = None) -> list[Any]:
    """Index and one-hot encode the categories (unseen ones kept), assemble with the numbers."""
    return [
        StringIndexer(inputCols=["c1", "c2"], outputCols=["c1_idx", "c2_idx"], handleInvalid="keep"),
        OneHotEncoder(inputCols=["c1_idx", "c2_idx"], outputCols=["c1_vec", "c2_vec"], handleInvalid="keep"),
        *(extra or []),
        VectorAssembler(inputCols=["x1", "x2", "c1_vec", "c2_vec"], outputCol="features", handleInvalid="keep"),
    ]


def _label() -> StringIndexer:
    return StringIndexer(inputCol="y", outputCol="label")


def cases() -> list[ZooCase]:
    df = _frame()
    inputs = hostile_rows({k: list(df[k]) for k in ("x1", "x2", "c1", "c2")}, ["x1", "x2"], ["c1", "c2"],
                          f"{PRODUCER}:mixed")
    out: list[ZooCase] = []

    def classifier(name: str, describes: str, make: Callable[[], list[Any]]) -> None:
        def build(path: Path) -> None:
            spark = _spark()
            data = spark.createDataFrame(df[["x1", "x2", "c1", "c2", "y"]])
            model = Pipeline(stages=make()).fit(data)
            pyspark2pmml.PMMLBuilder(data.schema, model).buildFile(str(path))

        out.append(ZooCase(f"{PRODUCER}/{name}", build, inputs, describes))

    classifier("logistic_regression", "StringIndexer (handleInvalid keep), OneHotEncoder, VectorAssembler; "
               "LogisticRegression", lambda: [*_features(), _label(), LogisticRegression(maxIter=50)])
    classifier("decision_tree_bucketizer", "Bucketizer on x1 and a DecisionTreeClassifier", lambda: [
        Bucketizer(splits=[-float("inf"), 25.0, 50.0, 75.0, float("inf")], inputCol="x1", outputCol="x1_bin",
                   handleInvalid="keep"),
        StringIndexer(inputCols=["c1", "c2"], outputCols=["c1_idx", "c2_idx"], handleInvalid="keep"),
        VectorAssembler(inputCols=["x1_bin", "x2", "c1_idx", "c2_idx"], outputCol="features", handleInvalid="keep"),
        _label(), DecisionTreeClassifier(maxDepth=5, seed=SEED)])
    classifier("random_forest", "RandomForestClassifier over the encoded features",
               lambda: [*_features(), _label(), RandomForestClassifier(numTrees=8, maxDepth=5, seed=SEED)])
    classifier("gbt", "GBTClassifier over the encoded features",
               lambda: [*_features(), _label(), GBTClassifier(maxIter=10, maxDepth=3, seed=SEED)])
    classifier("mlp", "MultilayerPerceptronClassifier (one hidden layer of 5)", lambda: [
        *_features(), _label(), MultilayerPerceptronClassifier(layers=[11, 5, 2], maxIter=100, seed=SEED)])
    classifier("linear_svc", "LinearSVC over the encoded features",
               lambda: [*_features(), _label(), LinearSVC(maxIter=50)])

    def naive_bayes() -> list[Any]:
        return [
            StringIndexer(inputCols=["c1", "c2"], outputCols=["c1_idx", "c2_idx"], handleInvalid="keep"),
            OneHotEncoder(inputCols=["c1_idx", "c2_idx"], outputCols=["c1_vec", "c2_vec"], handleInvalid="keep"),
            Bucketizer(splits=[-float("inf"), 25.0, 50.0, 75.0, float("inf")], inputCol="x1", outputCol="x1_bin",
                       handleInvalid="keep"),
            VectorAssembler(inputCols=["x1_bin", "c1_vec", "c2_vec"], outputCol="features", handleInvalid="keep"),
            _label(), NaiveBayes(smoothing=1.0)]

    classifier("naive_bayes", "NaiveBayes (multinomial) over one-hot and bucketized features", naive_bayes)

    def regression(name: str, describes: str, columns: list[str], make: Callable[[], list[Any]],
                   rows: dict[str, list[str | None]]) -> None:
        def build(path: Path) -> None:
            spark = _spark()
            data = spark.createDataFrame(df[columns])
            model = Pipeline(stages=make()).fit(data)
            pyspark2pmml.PMMLBuilder(data.schema, model).buildFile(str(path))

        out.append(ZooCase(f"{PRODUCER}/{name}", build, rows, describes))

    regression("linear_regression_sql", "SQLTransformer (x1 * x2, a CASE) and Imputer; LinearRegression",
               ["x1", "x2", "c1", "c2", "amount"], lambda: [
                   SQLTransformer(statement="SELECT *, x1 * x2 AS x12, "
                                            "CAST(CASE WHEN x2 > 5 THEN 1 ELSE 0 END AS DOUBLE) AS high FROM __THIS__"),
                   Imputer(inputCols=["x2"], outputCols=["x2_imp"], strategy="median"),
                   StringIndexer(inputCol="c1", outputCol="c1_idx", handleInvalid="keep"),
                   OneHotEncoder(inputCol="c1_idx", outputCol="c1_vec", handleInvalid="keep"),
                   VectorAssembler(inputCols=["x1", "x2_imp", "x12", "high", "c1_vec"], outputCol="features",
                                   handleInvalid="keep"),
                   LinearRegression(labelCol="amount", regParam=0.01)], inputs)
    regression("glm_rformula", "RFormula (count ~ x1 + x2 + c1) and a Poisson GeneralizedLinearRegression",
               ["x1", "x2", "c1", "count"], lambda: [
                   RFormula(formula="count ~ x1 + x2 + c1", handleInvalid="keep"),
                   GeneralizedLinearRegression(family="poisson", link="log", maxIter=25)], inputs)
    regression("random_forest_regressor", "RandomForestRegressor over the encoded features",
               ["x1", "x2", "c1", "c2", "amount"],
               lambda: [*_features(), RandomForestRegressor(labelCol="amount", numTrees=6, maxDepth=4, seed=SEED)],
               inputs)

    regression("gbt_regressor", "GBTRegressor over the encoded features", ["x1", "x2", "c1", "c2", "amount"],
               lambda: [*_features(), GBTRegressor(labelCol="amount", maxIter=8, maxDepth=3, seed=SEED)], inputs)
    regression("decision_tree_regressor", "DecisionTreeRegressor over the encoded features",
               ["x1", "x2", "c1", "c2", "amount"],
               lambda: [*_features(), DecisionTreeRegressor(labelCol="amount", maxDepth=5, seed=SEED)], inputs)

    text_rows = {"text": [*df["text"][:16], "GOOD, great!", "The bad; the awful...", None, "unseen words only",
                          "  it's   fine  ", "A is the", "(good) [bad] {great}"]}
    regression("stop_words_count_vectorizer", "Tokenizer, StopWordsRemover (a Java regex with \\p{Punct}), "
               "CountVectorizer; LogisticRegression", ["text", "y"], lambda: [
                   Tokenizer(inputCol="text", outputCol="tokens"),
                   StopWordsRemover(inputCol="tokens", outputCol="words", stopWords=["the", "a", "is"]),
                   CountVectorizer(inputCol="words", outputCol="features", minDF=2.0),
                   _label(), LogisticRegression(maxIter=50)], text_rows)
    return out
