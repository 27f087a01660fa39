"""The model compilers: one module per PMML model element, each registering its compiler for its
element tag with :func:`pmserve.pmml.compiler.register` when imported.

Importing this package imports them all, so the registry is complete: :mod:`pmserve.pmml.model`
(whose :func:`~pmserve.pmml.model.load` compiles documents) imports it.  A new model element is a
new module here and one line below.
"""

from pmserve.pmml.models import (
    anomaly_detection,
    association,
    clustering,
    naive_bayes,
    nearest_neighbor,
    neural_network,
    regression,
    ruleset,
    scorecard,
    svm,
    time_series,
)
from pmserve.pmml.models.general_regression import predictors as general_regression
from pmserve.pmml.models.mining import segmentation
from pmserve.pmml.trees import model as tree

#: The modules whose import registers the model compilers (the registry lists what they registered).
MODEL_MODULES = (
    anomaly_detection, association, clustering, general_regression, naive_bayes, nearest_neighbor, neural_network,
    regression, ruleset, scorecard, segmentation, svm, time_series, tree,
)
