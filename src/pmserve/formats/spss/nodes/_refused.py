"""Nodes pmserve refuses with a reason of their own (any other unknown class is refused by
``compile_node`` naming it).

* ``BinningNode``: Modeler computes bin thresholds from the data the node is run on (fixed-width
  bins start at the field's minimum; tiles, ranks and mean/standard-deviation bins need the whole
  training data), and no sample stream shows where generated thresholds would be stored, so
  scoring would invent bins rather than reproduce Modeler's.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from pmserve.errors import UnsupportedMarkupError
from pmserve.formats.spss._model import CompiledNode, Node, NodeCompiler, SpssField, StreamContext


def refuse_binning(node: Node, inputs: Sequence[tuple[SpssField, ...]], context: StreamContext) -> CompiledNode:
    raise UnsupportedMarkupError(
        f"{node.describe()}: pmserve cannot run Binning nodes: Modeler computes their bins from the data the "
        f"node runs on, and the stream holds no bin thresholds pmserve can read",
        node=node.describe(), element=node.class_name,
    )


COMPILERS: Mapping[str, NodeCompiler] = {"BinningNode": refuse_binning}
