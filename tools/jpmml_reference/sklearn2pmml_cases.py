"""Real sklearn2pmml meta-estimators with an unseen-category input, for tests/jpmml_cases/sklearn2pmml.

The documents are made by sklearn2pmml (which needs Java) from small seeded data; run it in a
virtualenv of its own (sklearn2pmml 0.133 needs scikit-learn 1.9.0, not 1.9.1):

    python3 -m venv /tmp/s2p && /tmp/s2p/bin/pip install scikit-learn==1.9.0 sklearn2pmml==0.133.0 pandas
    /tmp/s2p/bin/python tools/jpmml_reference/sklearn2pmml_cases.py
    python3 tools/jpmml_reference/cases.py --case sklearn2pmml/real_stacking ...

Each case gets ``model.pmml`` and ``input.csv`` (training-like rows, then rows with a category
the training data never had, a missing category and a missing number); ``cases.py`` then stores
JPMML's outputs beside them.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.calibration import CalibratedClassifierCV
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import StackingClassifier, VotingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from sklearn.tree import DecisionTreeClassifier
from sklearn2pmml import sklearn2pmml
from sklearn2pmml.pipeline import PMMLPipeline

OUT = Path(__file__).resolve().parents[2] / "tests" / "jpmml_cases" / "sklearn2pmml"
SEED = 20260


def _data() -> tuple[pd.DataFrame, pd.Series]:
    rng = np.random.default_rng(SEED)
    n = 300
    color = rng.choice(["red", "green", "blue"], size=n)
    size = rng.normal(5.0, 2.0, size=n).round(3)
    logit = 0.8 * (size - 5.0) + np.where(color == "red", 1.2, np.where(color == "green", -0.7, 0.0))
    y = np.where(rng.random(n) < 1.0 / (1.0 + np.exp(-logit)), "yes", "no")
    return pd.DataFrame({"color": color, "size": size}), pd.Series(y, name="y")


def _pipeline(estimator: object) -> PMMLPipeline:
    mapper = ColumnTransformer([
        ("color", OneHotEncoder(handle_unknown="ignore"), ["color"]),
        ("size", StandardScaler(), ["size"]),
    ])
    return PMMLPipeline([("mapper", mapper), ("classifier", estimator)])


def main() -> int:
    x, y = _data()
    estimators = {
        "real_stacking": StackingClassifier(
            [("lr", LogisticRegression()), ("dt", DecisionTreeClassifier(max_depth=3, random_state=SEED))],
            final_estimator=LogisticRegression()),
        "real_voting": VotingClassifier(
            [("lr", LogisticRegression()), ("dt", DecisionTreeClassifier(max_depth=3, random_state=SEED))],
            voting="soft"),
        "real_calibrated": CalibratedClassifierCV(LogisticRegression(), cv=3),
    }
    rows = [[c, s] for c, s in zip(x["color"][:12], x["size"][:12], strict=True)]
    rows += [["purple", "4.2"], ["purple", "7.5"], ["", "5.0"], ["red", ""], ["", ""], ["RED", "6.1"]]
    for name, estimator in estimators.items():
        pipeline = _pipeline(estimator)
        pipeline.fit(x, y)
        case = OUT / name
        case.mkdir(parents=True, exist_ok=True)
        sklearn2pmml(pipeline, str(case / "model.pmml"))
        with (case / "input.csv").open("w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle, lineterminator="\n")
            writer.writerow(["color", "size"])
            writer.writerows(rows)
        print(f"wrote {case}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
