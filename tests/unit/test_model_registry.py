"""The model compiler registry: one compiler per model element tag, declared where it is defined."""

from __future__ import annotations

import pytest

from pmserve.errors import DocumentError
from pmserve.pmml import load
from pmserve.pmml.compiler import REGISTRY, CompiledModel, ModelEnv, Registry, register
from pmserve.pmml.document.element import Element
from pmserve.pmml.document.parse import MODEL_TAGS
from pmserve.pmml.models import association, clustering

SUPPORTED = {
    "AnomalyDetectionModel", "AssociationModel", "ClusteringModel", "GeneralRegressionModel", "MiningModel",
    "NaiveBayesModel", "NearestNeighborModel", "NeuralNetwork", "RegressionModel", "RuleSetModel", "Scorecard",
    "SupportVectorMachineModel", "TimeSeriesModel", "TreeModel",
}


def _nothing(el: Element, env: ModelEnv) -> CompiledModel | None:
    return None


def test_every_supported_model_element_has_a_compiler() -> None:
    """Importing the engine registers exactly the supported model elements, all of them PMML's."""
    assert set(REGISTRY.tags) == SUPPORTED
    assert set(REGISTRY.tags) <= set(MODEL_TAGS)


def test_registering_a_tag_twice_is_refused() -> None:
    """A second compiler for a tag is an error naming both, not a silent replacement."""
    registry = Registry()
    register("TreeModel", registry=registry)(_nothing)
    with pytest.raises(ValueError, match=r"TreeModel has a compiler already \(.*_nothing\); refusing"):
        register("TreeModel", registry=registry)(_nothing)
    assert registry.tags == ("TreeModel",)


@pytest.mark.parametrize(("tag", "features"), [
    ("ClusteringModel", clustering.output_feature),
    ("AssociationModel", association.output_feature),
    ("RegressionModel", None),
])
def test_output_features_are_declared_at_registration(tag: str, features: object) -> None:
    """A model type's extra Output features are part of its registry entry."""
    entry = REGISTRY.get(tag)
    assert entry is not None
    assert entry.output_features is features


def test_a_model_element_without_compiler_is_refused_at_load() -> None:
    """A PMML model element no module compiles is an unsupported-markup problem naming it."""
    doc = b"""<PMML xmlns="http://www.dmg.org/PMML-4_4" version="4.4"><Header/>
      <DataDictionary><DataField name="x" optype="continuous" dataType="double"/></DataDictionary>
      <BaselineModel functionName="regression"><MiningSchema><MiningField name="x"/></MiningSchema>
      </BaselineModel></PMML>"""
    with pytest.raises(DocumentError, match="BaselineModel models are not supported"):
        load(doc)
