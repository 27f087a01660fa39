"""The nodes of a scoring branch that pmserve runs on whole columns.

``NODE_COMPILERS`` maps a node class without its package (``"DeriveNode"``) to the compiler that
turns the node into a :class:`~pmserve.formats.spss._model.CompiledNode` at deploy time;
``compile_node`` looks the class up and refuses every class pmserve cannot run.  Each node module
exports its own ``COMPILERS`` table; a class registered by two modules is an error at import.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from pmserve.errors import UnsupportedMarkupError
from pmserve.formats.spss._model import CompiledNode, Node, NodeCompiler, SpssField, StreamContext
from pmserve.formats.spss.nodes import (
    _append,
    _autodataprep,
    _derive,
    _filler,
    _filter,
    _nugget,
    _passthrough,
    _reclassify,
    _select,
    _source,
    _time,
    _type,
)
from pmserve.formats.spss.nodes._registry import merge_compilers

NODE_COMPILERS: Mapping[str, NodeCompiler] = merge_compilers(
    (
        _type.COMPILERS,
        _filter.COMPILERS,
        _passthrough.COMPILERS,
        _select.COMPILERS,
        _derive.COMPILERS,
        _filler.COMPILERS,
        _append.COMPILERS,
        _reclassify.COMPILERS,
        _source.COMPILERS, _nugget.COMPILERS, _autodataprep.COMPILERS, _time.COMPILERS,
    )
)


def compile_node(node: Node, inputs: Sequence[tuple[SpssField, ...]], context: StreamContext) -> CompiledNode:
    """Compile one node against the fields reaching it (one tuple per input, in link order)."""
    compiler = NODE_COMPILERS.get(node.class_name)
    if compiler is None:
        raise UnsupportedMarkupError(
            f"{node.describe()}: pmserve cannot run {node.class_name} nodes on a scoring branch "
            f"(label {node.display_name!r}, class {node.class_name}, id {node.id}); "
            f"supported: {', '.join(sorted(NODE_COMPILERS))}",
            element=node.class_name,
            node=node.describe(),
        )
    return compiler(node, inputs, context)


__all__ = ["NODE_COMPILERS", "compile_node"]
