"""A Modeler stream as a deployable model: archive → Fast Infoset → diagram → branch → compiled nodes.

:func:`load_stream` does every check at deploy time: the archive and XML within limits, the
scoring branch found, and every node on it compiled against the fields that reach it - a node
pmserve cannot run is refused naming its label, class and place on the branch.  The resulting
:class:`StreamModel` is immutable; scoring runs the compiled nodes over whole columns, sources
first, and replies with what the terminal node shows.

Node compilers come from the one registry, :data:`pmserve.formats.spss.nodes.NODE_COMPILERS`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from functools import partial
from typing import Any, Literal

import numpy as np

from pmserve.errors import DataError, DocumentError, RecordError, UnsupportedMarkupError, VerificationError
from pmserve.formats._tables import RowTable
from pmserve.formats.spss._archive import read_archive
from pmserve.formats.spss._branch import Branch, find_branch, is_nugget, is_output
from pmserve.formats.spss._fastinfoset import decode
from pmserve.formats.spss._limits import StreamLimits
from pmserve.formats.spss._model import CompiledNode, Node, SpssField, StreamContext, Table
from pmserve.formats.spss._stream import Stream, read_stream
from pmserve.formats.spss.nodes import NODE_COMPILERS
from pmserve.formats.spss.nodes._nugget import PmmlNugget, nugget_documents, refusal, with_message
from pmserve.formats.spss.nodes._source import (
    SOURCE_CLASSES,
    SourceNode,
    compile_source,
    python_value,
    python_values,
    spss_field,
)
from pmserve.pmml import DataType, Field, Scored

FORMAT = "spss-str"




@dataclass(frozen=True)
class StreamInfo:
    """What ``pmserve inspect`` prints about a stream."""

    name: str
    version: str
    branch: tuple[str, ...]  # "label (Class, id N)" for each node, sources first
    declared: bool


class StreamModel:
    """A compiled scoring branch behind :class:`~pmserve.formats.Scorable` and ``TableScorable``."""

    format = FORMAT

    def __init__(self, stream: Stream, branch: Branch, steps: Sequence[tuple[Node, CompiledNode]],
                 reply: tuple[SpssField, ...], reply_order: tuple[str, ...],
                 other_sources: Sequence[SourceNode]) -> None:
        self.stream_name = stream.name
        self.info = StreamInfo(stream.name, stream.version, tuple(n.describe() for n in branch.nodes),
                               branch.declared)
        self._inputs = dict(branch.inputs)
        self._steps = tuple(steps)
        self._sources = tuple(c for _, c in steps if isinstance(c, SourceNode))
        self._described = {s.node.id: _described_by_types(s, self._steps) for s in self._sources}
        self._reply = reply
        self._reply_order = reply_order
        self._other_sources = tuple(other_sources)

    # -- description ------------------------------------------------------------------------------
    @property
    def steps(self) -> tuple[tuple[Node, CompiledNode], ...]:
        """The compiled nodes in execution order (the terminal, when it only shows, is left out)."""
        return self._steps

    @property
    def tablenames(self) -> tuple[str, ...]:
        return tuple(s.tablename for s in self._sources)

    @property
    def source_fields(self) -> tuple[SpssField, ...]:
        """The scoring input's fields, measure and values as the Type nodes along the branch set them."""
        return self._described[self._sources[0].node.id]

    @property
    def reply_fields(self) -> tuple[SpssField, ...]:
        """What the terminal shows, in the reply's column order."""
        by_name = {f.name: f for f in self._reply}
        return tuple(by_name[name] for name in self._reply_order)

    @property
    def input_fields(self) -> tuple[Field, ...]:
        return tuple(to_field(f) for f in self.source_fields)

    @property
    def output_fields(self) -> tuple[Field, ...]:
        return tuple(to_field(f) for f in self.reply_fields)

    @property
    def input_tables(self) -> tuple[tuple[str, tuple[Field, ...]], ...]:
        described = [(s.tablename, self._described[s.node.id]) for s in self._sources]
        others = [(s.tablename, s.fields) for s in self._other_sources]
        return tuple((name, tuple(to_field(f) for f in fields)) for name, fields in (*described, *others))

    def verify(self) -> None:
        """Replay the ModelVerification records of the branch's PMML nuggets (most have none)."""
        for node, compiled in self._steps:
            if isinstance(compiled, PmmlNugget):
                report = compiled.model.verify()
                if not report.ok:
                    raise VerificationError(f"{node.describe()}: its PMML's ModelVerification records do not "
                                            f"reproduce: {report.message}", element="ModelVerification",
                                            node=node.describe())

    # -- scoring ----------------------------------------------------------------------------------
    def score_tables(self, tables: Sequence[RowTable]) -> RowTable:
        reply = self._run(tables)
        rows = _rows(reply, self._reply_order)
        return RowTable(list(self._reply_order), rows)

    def score_one(self, record: Mapping[str, Any]) -> tuple[Any, ...] | None:
        """None: a stream scores whole tables (see :meth:`score_tables`)."""
        return None

    def score(self, columns: Mapping[str, Sequence[Any]], *,
              errors: Literal["raise", "collect"] = "raise") -> Scored:
        """Score one input table given as columns; the result is every column the terminal shows.

        With ``errors="raise"`` the first record that cannot be scored raises its
        :class:`~pmserve.errors.DataError`; with ``"collect"`` such a record is scored as a row of
        missing values, its result cells are missing and its error is returned in
        ``Scored.errors`` (as :meth:`pmserve.pmml.Model.score` does).
        """
        header = list(columns)
        n = len(columns[header[0]]) if header else 0
        rows = [[columns[h][i] for h in header] for i in range(n)]
        if errors == "raise":
            return self._scored(self._run([RowTable(header, rows, self._sources[0].tablename)]), {})
        return self._score_collecting(header, rows)

    def _score_collecting(self, header: list[str], rows: list[list[Any]]) -> Scored:
        """Score, blanking each record whose error can be traced to an input row, until none fails.

        A record's error names its row only where the rows reaching the failing node are still
        the input's rows one to one (no Append, no records dropped before it); any other error
        is the whole request's.  Each failing record costs one more run of the branch.
        """
        row_errors: dict[int, DataError] = {}
        while True:
            try:
                table, aligned = self._trace([RowTable(header, rows, self._sources[0].tablename)])
                break
            except _RowFailed as failed:
                row = failed.error.row
                if row is None or row in row_errors:
                    raise failed.error from None
                row_errors[row] = failed.error
                rows[row] = [None] * len(header)
        if row_errors and aligned:
            bad = np.fromiter(row_errors, dtype=np.intp)
            columns = dict(table.columns)
            for name, column in columns.items():
                column = column.copy()
                column[bad] = None if column.dtype == object else np.nan
                columns[name] = column
            table = replace(table, columns=columns)
        return self._scored(table, dict(sorted(row_errors.items())))

    def _scored(self, table: Table, row_errors: dict[int, DataError]) -> Scored:
        by_name = {f.name: f for f in table.fields}
        fields: list[Field] = []
        out: dict[str, np.ndarray] = {}
        for name in self._reply_order:
            f = by_name[name]
            column = table.columns[name]
            if f.storage in ("date", "time", "timestamp"):
                texts = np.empty(len(column), dtype=object)
                texts[:] = [python_value(f, v) for v in column.tolist()]
                fields.append(Field(name, DataType.STRING, "categorical"))
                out[name] = texts
            else:
                fields.append(to_field(f))
                out[name] = column
        return Scored(tuple(fields), out, table.n_rows, row_errors)

    def _run(self, tables: Sequence[RowTable]) -> Table:
        try:
            return self._trace(tables)[0]
        except _RowFailed as failed:
            raise failed.error from None

    def _trace(self, tables: Sequence[RowTable]) -> tuple[Table, bool]:
        """The terminal's table, and whether its rows are still the scoring input's, one to one.

        A record's error raised where the rows are the input's comes wrapped in :class:`_RowFailed`.
        """
        given = self._match_tables(tables)
        results: dict[str, Table] = {}
        aligned: dict[str, bool] = {}
        for node, compiled in self._steps:
            if isinstance(compiled, SourceNode):
                raw = given[compiled.tablename]
                _check_widths(raw, compiled.tablename)
                aligned[node.id] = compiled is self._sources[0]
                results[node.id] = _traced(partial(compiled.read, raw.header, raw.data), aligned[node.id])
            else:
                ups = [results[u] for u in self._inputs[node.id]]
                follows = len(ups) == 1 and aligned[self._inputs[node.id][0]]
                results[node.id] = _traced(partial(compiled.run, ups), follows)
                aligned[node.id] = follows and results[node.id].n_rows == ups[0].n_rows
        last = self._steps[-1][0].id
        return results[last], aligned[last]

    def _match_tables(self, tables: Sequence[RowTable]) -> dict[str, RowTable]:
        names = self.tablenames
        if len(names) == 1 and len(tables) == 1:
            table = tables[0]
            if table.tablename not in (None, "", names[0]):
                raise DataError(f"tablename {table.tablename!r} does not match the input table of stream "
                                f"{self.stream_name!r}; expected {names[0]!r}", field="tablename",
                                value=table.tablename)
            return {names[0]: table}
        by_name: dict[str, RowTable] = {}
        for table in tables:
            if table.tablename not in names:
                raise DataError(f"tablename {table.tablename!r} names no input table of stream "
                                f"{self.stream_name!r}; expected one table for each of "
                                f"{', '.join(repr(n) for n in names)}", field="tablename", value=table.tablename)
            by_name[str(table.tablename)] = table
        missing = [n for n in names if n not in by_name]
        if missing:
            raise DataError(f"stream {self.stream_name!r} reads {len(names)} input tables; the request lacks "
                            f"{', '.join(repr(n) for n in missing)} (send a JSON array of "
                            f"{{\"tablename\", \"header\", \"data\"}} objects, one per table)",
                            field="tablename", value=missing[0])
        return by_name


class _RowFailed(Exception):
    """A record's error from a node whose rows are the scoring input's (so ``error.row`` is its row)."""

    def __init__(self, error: DataError) -> None:
        super().__init__(str(error))
        self.error = error


def _traced(step: Callable[[], Table], aligned: bool) -> Table:
    try:
        return step()
    except DataError as exc:
        if aligned and exc.row is not None:
            raise _RowFailed(exc) from exc
        raise


def _check_widths(raw: RowTable, tablename: str) -> None:
    width = len(raw.header)
    for i, row in enumerate(raw.data):
        if len(row) != width:
            raise RecordError(f"of table {tablename!r} has {len(row)} values but "
                              f"the header names {width} fields", row=i, value=len(row))


def _described_by_types(source: SourceNode, steps: Sequence[tuple[Node, CompiledNode]]) -> tuple[SpssField, ...]:
    """A source's fields with measure, role and values from the Type nodes downstream (last one wins),
    where the field reaches them under the same name and storage (format §3.5, §5 step 6)."""
    fields = {f.name: f for f in source.fields}
    for node, compiled in steps:
        if node.class_name != "TypeNode":
            continue
        for typed in compiled.output_fields:
            mine = fields.get(typed.name)
            if mine is not None and typed.storage in (mine.storage, "unknown"):
                fields[typed.name] = replace(mine, measure=typed.measure, role=typed.role,
                                             values=typed.values or mine.values)
    return tuple(fields[f.name] for f in source.fields)


def _rows(table: Table, order: Sequence[str]) -> list[list[Any]]:
    by_name = {f.name: f for f in table.fields}
    columns = [python_values(by_name[n], table.columns[n]) for n in order]
    return [list(r) for r in zip(*columns, strict=True)] if columns else [[] for _ in range(table.n_rows)]


_DATA_TYPES = {"string": DataType.STRING, "integer": DataType.INTEGER, "real": DataType.DOUBLE,
               "date": DataType.DATE, "time": DataType.TIME, "timestamp": DataType.DATE_TIME}


def to_field(f: SpssField) -> Field:
    """An SPSS field as the engine's public :class:`~pmserve.pmml.Field` (storage → dataType)."""
    optype = {"range": "continuous", "orderedSet": "ordinal"}.get(f.measure, "categorical")
    values = () if optype == "continuous" else tuple(str(v) for v in f.values)
    return Field(f.name, _DATA_TYPES.get(f.storage, DataType.STRING), optype, values)


def load_stream(filename: str, content: bytes, limits: StreamLimits) -> StreamModel:
    """Read, check and compile a ``.str`` file's scoring branch."""
    archive = read_archive(filename, content, limits)
    root = decode(archive.xml, limits.fast_infoset(), source=f"stream {filename!r} entry {archive.xml_name!r}")
    stream = read_stream(archive, root)
    try:
        branch = find_branch(stream)
    except UnsupportedMarkupError as exc:
        raise _explain_candidates(stream, exc, limits) from None
    context = _context(stream, limits)
    steps: list[tuple[Node, CompiledNode]] = []
    compiled: dict[str, CompiledNode] = {}
    body = branch.nodes if not is_output(branch.terminal) else branch.nodes[:-1]
    for node in body:
        inputs = [compiled[u].output_fields for u in branch.inputs[node.id]]
        compiled[node.id] = _compile(node, inputs, context, branch)
        steps.append((node, compiled[node.id]))
    if not steps:
        raise DocumentError(f"stream {filename!r}: the scoring branch holds only its terminal "
                            f"{branch.terminal.describe()}", node=branch.terminal.describe())
    sources = [(n, c) for n, c in steps if isinstance(c, SourceNode)]
    if not sources:
        raise DocumentError(f"stream {filename!r}: the scoring branch has no source node pmserve reads")
    for i, (node, source) in enumerate(sources):
        twin = next((n for n, c in sources[:i] if c.tablename == source.tablename), None)
        if twin is not None:
            raise DocumentError(f"stream {filename!r}: {twin.describe()} and {node.describe()} are both input table "
                                f"{source.tablename!r}; give the sources different labels so requests can name them",
                                node=node.describe())
    last_node, last = steps[-1]
    if is_output(branch.terminal) and len(branch.inputs[branch.terminal.id]) != 1:
        raise DocumentError(f"{branch.terminal.describe()} has {len(branch.inputs[branch.terminal.id])} inputs; "
                            f"a terminal shows one", node=branch.terminal.describe())
    reply = last.output_fields
    on_branch = {n.id for n in branch.nodes}
    others = [s for s in (_other_source(n, context) for n in stream.nodes
                          if n.id not in on_branch and n.class_name in SOURCE_CLASSES) if s is not None]
    return StreamModel(stream, branch, steps, reply, _reply_order(last_node, reply), others)


def _context(stream: Stream, limits: StreamLimits) -> StreamContext:
    return StreamContext(stream.properties, stream.blobs, max_inflated_bytes=limits.max_inflated_bytes,
                         clem_max_length=limits.clem_max_length, clem_max_depth=limits.clem_max_depth)


def _compile(node: Node, inputs: Sequence[tuple[SpssField, ...]], context: StreamContext,
             branch: Branch) -> CompiledNode:
    compiler = NODE_COMPILERS.get(node.class_name)
    if compiler is None:
        raise UnsupportedMarkupError(
            f"{node.describe()}, {branch.position(node)}: pmserve cannot run {node.class_name} nodes; it runs "
            f"{', '.join(sorted(c for c in NODE_COMPILERS if not c.startswith('Apply')))} and PMML model nuggets",
            element=node.class_name, node=node.describe(), position=branch.position(node))
    try:
        return compiler(node, inputs, context)
    except DocumentError as exc:
        if "position" in exc.context:
            raise
        raise with_message(exc, f"{exc.message} [{branch.position(node)}]",
                           node=node.describe(), position=branch.position(node)) from None


def _other_source(node: Node, context: StreamContext) -> SourceNode | None:
    """A source off the branch (a training input), described for metadata; None if unreadable."""
    try:
        return compile_source(node, (), context)
    except DocumentError:
        return None


def _reply_order(node: Node, reply: tuple[SpssField, ...]) -> tuple[str, ...]:
    """The terminal's column order: the last node's ``cachedDataModel`` when it lists the same fields."""
    names = tuple(f.name for f in reply)
    cached = node.element.find("cachedDataModel")
    if cached is not None:
        order = tuple(spss_field(f).name for f in cached.iterfind("field"))
        if sorted(order) == sorted(names):
            return order
    return names


def _explain_candidates(stream: Stream, exc: UnsupportedMarkupError, limits: StreamLimits) -> UnsupportedMarkupError:
    """When nuggets compete for an undeclared branch, say too which of them pmserve could not score."""
    candidates = [stream.node(i) for i in exc.context.get("candidates", ())]
    nuggets = [n for n in candidates if is_nugget(n)]
    if not nuggets:
        return exc
    context = _context(stream, limits)
    reasons = []
    for node in nuggets:
        reason = refusal(node, nugget_documents(node, context))
        if reason is not None:
            reasons.append(f"{node.describe()} cannot be scored: {reason}")
    if not reasons:
        return exc
    return UnsupportedMarkupError(exc.message + ". Besides, " + "; ".join(reasons),
                                  **{**exc.context, "node": nuggets[0].describe()})

