"""Decision trees and tree ensembles: the one owner of tree rules.

* :mod:`~pmserve.pmml.trees.nodes` - a TreeModel's nodes as the node arrays of the walk, from
  either parser (Elements or the bulk Node table), with every predicate and strategy encoded;
* :mod:`~pmserve.pmml.trees.walk` - the walker (the compiled kernel
  :mod:`pmserve.pmml.kernels.trees` plus exotic predicates, claims and failures), for one tree
  or all trees of an ensemble;
* :mod:`~pmserve.pmml.trees.model` - the TreeModel compiler and predictor;
* :mod:`~pmserve.pmml.trees.ensemble` - a MiningModel's trees walked as one forest.
"""
