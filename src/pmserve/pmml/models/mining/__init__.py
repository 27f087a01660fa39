"""MiningModel: ensembles, model selection and model chains (PMML 4.4 "MiningModel").

A Segmentation holds Segments, each a predicate, a weight and a nested model compiled with
:meth:`ModelEnv.compile_nested`.  Every segment runs only on the rows its predicate holds for
(unknown counts as false), over whole columns.  The results combine by ``multipleModelMethod``
as JPMML-Evaluator combines them:

* regression: ``sum``, ``weightedSum``, ``average``, ``weightedAverage``, ``median``,
  ``weightedMedian`` (the value whose cumulated weight first reaches half of the total);
* classification: ``majorityVote`` / ``weightedMajorityVote`` (probabilities are the vote
  fractions; a tie goes to the category voted for first), ``average`` / ``weightedAverage`` of
  the probabilities, ``max`` and ``median`` (the winning category's contributors averaged);
* clustering: ``majorityVote`` / ``weightedMajorityVote`` of the cluster ids;
* any function: ``selectFirst`` (the first segment whose predicate holds) and ``modelChain``
  (every segment's Output fields are fields of the later segments and of this model; the last
  segment whose predicate holds gives the prediction);
* ``selectAll`` (the prediction is the list of every true segment's prediction) and JPMML's
  ``x-multiModelChain`` (a chain whose segments predict different targets of this model, each
  a result): see :mod:`pmserve.pmml.models.mining.lists`.

``missingPredictionTreatment`` (default ``continue``) and ``missingThreshold`` follow JPMML:
``returnMissing`` makes a missing segment prediction the result; ``skipSegment`` leaves such
segments out unless their share of the weight exceeds the threshold; ``continue`` makes an
aggregate missing, but counts a missing vote as a pseudo-category that wins only with strictly
the most votes.  ``x-mathContext="float"`` sums in single precision, as JPMML does.

Modules: :mod:`~.segmentation` compiles the element and picks the method's predictor,
:mod:`~.segments` runs segments over their rows, :mod:`~.selection` and :mod:`~.aggregation`
hold the methods, :mod:`~.lists` the list-valued and several-target ones.
"""
