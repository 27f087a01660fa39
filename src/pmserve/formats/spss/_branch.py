"""Finding the scoring branch of a stream (format §5 and §8.3).

With ``scnScoringTerminalNode`` (a node uid) the branch is everything upstream of that node.
Without it, the branch ends at the terminal downstream of the stream's one model nugget (a
Table when the nugget feeds several terminals).  Several candidate nuggets or terminals, a
declared terminal that names no node, a branch without a source and cycles in the links are
refused, naming the nodes involved.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from pmserve.errors import InvalidMarkupError, UnsupportedMarkupError
from pmserve.formats.spss._model import Node
from pmserve.formats.spss._stream import Stream

TERMINAL_PROPERTY = "scnScoringTerminalNode"
# Nodes that only show or write their input: the branch's result is what reaches them.
_OUTPUT_SUFFIXES = ("TableNode", "ExportNode", "OutputNode", "AnalysisNode", "PlotNode")


@dataclass(frozen=True)
class Branch:
    """The nodes of a scoring branch in execution order (sources first, terminal last)."""

    nodes: tuple[Node, ...]
    inputs: Mapping[str, tuple[str, ...]]  # node id -> upstream ids on the branch, in link order
    terminal: Node
    declared: bool  # the stream names its terminal (scnScoringTerminalNode)

    @property
    def sources(self) -> tuple[Node, ...]:
        return tuple(n for n in self.nodes if not self.inputs[n.id])

    def position(self, node: Node) -> str:
        """Where a node sits, for messages: "step 2 of 4 (Var. File → Drug → Table)"."""
        index = next(i for i, n in enumerate(self.nodes) if n.id == node.id)
        path = " → ".join(n.display_name for n in self.nodes)
        return f"step {index + 1} of {len(self.nodes)} on the scoring branch ({path})"


def is_nugget(node: Node) -> bool:
    """A model nugget: an apply-model node (``ApplyC5RuleNode``, ``CFApplyModelNode``, …)."""
    return node.class_name.startswith("Apply") or "ApplyModel" in node.class_name


def is_output(node: Node) -> bool:
    return node.class_name.endswith(_OUTPUT_SUFFIXES)


def find_branch(stream: Stream) -> Branch:
    """The scoring branch: declared by its terminal, or the one nugget's chain to its terminal."""
    uid = stream.properties.get(TERMINAL_PROPERTY, "").strip()
    if uid:
        terminal = stream.node_by_uid(uid)
        if terminal is None:
            raise InvalidMarkupError(
                f"stream {stream.filename!r}: {TERMINAL_PROPERTY} names node uid {uid!r}, which is not in the "
                f"diagram", element=TERMINAL_PROPERTY)
        return _upstream_of(stream, terminal, declared=True)
    return _upstream_of(stream, _undeclared_terminal(stream), declared=False)


def _undeclared_terminal(stream: Stream) -> Node:
    nuggets = [n for n in stream.nodes if is_nugget(n)]
    if not nuggets:
        raise UnsupportedMarkupError(
            f"stream {stream.filename!r} declares no scoring branch ({TERMINAL_PROPERTY} is empty) and holds no "
            f"model nugget to find one from; set the scoring branch in Modeler (Deployment tab)",
            element=TERMINAL_PROPERTY)
    reach = {n.id: _reachable(stream, n.id) for n in nuggets}
    # A nugget feeding another nugget is part of that one's branch, not a competitor.
    last = [n for n in nuggets if not any(m.id in reach[n.id] for m in nuggets if m.id != n.id)]
    if len(last) > 1:
        raise UnsupportedMarkupError(
            f"stream {stream.filename!r} declares no scoring branch ({TERMINAL_PROPERTY} is empty) and "
            f"{len(last)} model nuggets compete for it: " + "; ".join(n.describe() for n in last)
            + ". Set the scoring branch in Modeler (Deployment tab)",
            element=TERMINAL_PROPERTY, candidates=tuple(n.id for n in last))
    nugget = last[0]
    leaves = [stream.node(i) for i in sorted(reach[nugget.id], key=_id_order) if not stream.downstream(i)]
    if not leaves:
        raise UnsupportedMarkupError(
            f"stream {stream.filename!r}: {nugget.describe()} feeds no terminal node, so there is no branch to "
            f"score", element=TERMINAL_PROPERTY)
    tables = [n for n in leaves if n.class_name == "TableNode"]
    if len(leaves) == 1:
        return leaves[0]
    if len(tables) == 1:
        return tables[0]
    raise UnsupportedMarkupError(
        f"stream {stream.filename!r} declares no scoring branch ({TERMINAL_PROPERTY} is empty) and "
        f"{nugget.describe()} feeds {len(leaves)} terminals: " + "; ".join(n.describe() for n in leaves)
        + ". Set the scoring branch in Modeler (Deployment tab)",
        element=TERMINAL_PROPERTY, candidates=tuple(n.id for n in leaves))


def _id_order(node_id: str) -> tuple[int, str]:
    return (int(node_id), node_id) if node_id.isdigit() else (1 << 62, node_id)


def _reachable(stream: Stream, start: str) -> set[str]:
    """Every node downstream of ``start`` (not itself), walked with an explicit stack."""
    seen: set[str] = set()
    todo = list(stream.downstream(start))
    while todo:
        node_id = todo.pop()
        if node_id in seen:
            continue
        seen.add(node_id)
        todo.extend(stream.downstream(node_id))
    return seen


def _upstream_of(stream: Stream, terminal: Node, *, declared: bool) -> Branch:
    inputs: dict[str, tuple[str, ...]] = {}
    todo = [terminal.id]
    while todo:
        node_id = todo.pop()
        if node_id in inputs:
            continue
        inputs[node_id] = stream.upstream(node_id)
        todo.extend(inputs[node_id])
    order = _topological(stream, inputs)
    if not any(not ups for ups in inputs.values()):
        raise InvalidMarkupError(f"stream {stream.filename!r}: the branch ending at {terminal.describe()} has no "
                                 f"source node", element="links")
    return Branch(tuple(stream.node(i) for i in order), inputs, terminal, declared)


def _topological(stream: Stream, inputs: Mapping[str, tuple[str, ...]]) -> list[str]:
    """Kahn's order of the branch; whatever cannot be ordered lies on a cycle."""
    waiting = {node_id: len(set(ups)) for node_id, ups in inputs.items()}
    users: dict[str, list[str]] = {node_id: [] for node_id in inputs}
    for node_id, ups in inputs.items():
        for up in set(ups):
            users[up].append(node_id)
    ready = sorted((i for i, n in waiting.items() if n == 0), key=_id_order)
    order: list[str] = []
    while ready:
        node_id = ready.pop(0)
        order.append(node_id)
        for user in sorted(users[node_id], key=_id_order):
            waiting[user] -= 1
            if waiting[user] == 0:
                ready.append(user)
    if len(order) != len(inputs):
        cycle = [stream.node(i).describe() for i in sorted(set(inputs) - set(order), key=_id_order)]
        raise InvalidMarkupError(f"stream {stream.filename!r}: the links form a cycle through "
                                 + "; ".join(cycle), element="links")
    return order
