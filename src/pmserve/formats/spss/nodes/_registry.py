"""The one registry from node class to compiler, built from the tables of the node modules."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from types import MappingProxyType

from pmserve.formats.spss._model import NodeCompiler


def merge_compilers(tables: Iterable[Mapping[str, NodeCompiler]]) -> Mapping[str, NodeCompiler]:
    """One read-only mapping from the per-module tables; a class registered twice is an error."""
    merged: dict[str, NodeCompiler] = {}
    for table in tables:
        for class_name, compiler in table.items():
            if "." in class_name:
                raise ValueError(f"node compilers are keyed by the class without its package, got {class_name!r}")
            if class_name in merged:
                raise ValueError(f"a compiler for {class_name} is registered twice: {compiler!r}")
            merged[class_name] = compiler
    return MappingProxyType(merged)
