"""Decision trees and tree ensembles: the one owner of tree rules.

* :mod:`~pmserve.pmml.trees.flat` - a TreeModel's nodes as the node arrays of the walk, with every
  predicate and strategy encoded, built from either parser: :mod:`~pmserve.pmml.trees.nodes`
  (Elements) or :mod:`~pmserve.pmml.trees.bulk` (the bulk Node table);
* :mod:`~pmserve.pmml.trees.walk` - the walker (the compiled kernel
  :mod:`pmserve.pmml.kernels.trees` plus exotic predicates, claims and failures), for one tree
  or all trees of an ensemble;
* :mod:`~pmserve.pmml.trees.model` - the TreeModel compiler and predictor;
* :mod:`~pmserve.pmml.trees.ensemble` - a MiningModel's trees walked as one forest.
"""
