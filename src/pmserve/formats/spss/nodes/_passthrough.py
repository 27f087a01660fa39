"""Nodes whose meaning at scoring time is certain and changes no record and no value.

* ``TableNode``: the terminal of every sample branch; it shows what reaches it.
* ``BalanceNode``: balancing only matters while training; a stream deployed for scoring passes
  every record (spss-str-format.md §8.3).
* ``PartitionNode``: the training/testing split only matters while training; at scoring every
  record passes.  Its random partition field is *not* added (pmserve cannot reproduce Modeler's
  random assignment), so a downstream node that reads it is refused at deploy, naming the field.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from pmserve.formats.spss._model import Node, NodeCompiler, SpssField, StreamContext
from pmserve.formats.spss.nodes._common import PassThrough, single_input


def compile_pass_through(
    node: Node, inputs: Sequence[tuple[SpssField, ...]], context: StreamContext
) -> PassThrough:
    return PassThrough(node, single_input(node, inputs))


COMPILERS: Mapping[str, NodeCompiler] = {
    "TableNode": compile_pass_through,
    "BalanceNode": compile_pass_through,
    "PartitionNode": compile_pass_through,
}
