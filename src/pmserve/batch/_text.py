"""CSV and TAB inputs read a chunk of rows at a time with each row's text kept, so that an export
in the same dialect echoes the rows as they were read and formats only the results.

Converting the echoed columns to Arrow strings and writing them back as text cost most of a CSV →
CSV job; here Arrow's CSV reader parses only the columns the model reads (numbers straight to
float64), and the writer joins each row's text, as read, with its results' text (:func:`echo`).
A chunk is echoed only when writing its parsed values would give back its text byte for byte:

* no quote character in the text read so far: no field was quoted and none needs quoting, and a
  line end is always a row end (from the first quote on, the rest of the file is read by Arrow's
  streaming reader and written as before);
* line ends all the export's (``\\n`` for CSV, ``\\r\\n`` for TAB), no empty line (Arrow skips
  them), valid UTF-8 (else reading every column as text fails the job, as it always did);
* no result whose text would need quoting (a string result holding the delimiter, say).

Any other chunk is read, converted and written as before (every column as text,
:mod:`pmserve.batch._columns`), so the export is the same either way.
"""

from __future__ import annotations

import mmap
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

#: Rows' text is addressed with int32 offsets.
_MAX_CHUNK_BYTES = (1 << 31) - 1


@dataclass(frozen=True)
class Dialect:
    """How a text export separates fields and ends lines."""

    delimiter: str
    eol: str


#: The text exports: CSV, and TAB as IBM's TAB reports are (tab-separated, CRLF).
DIALECTS = {"CSV": Dialect(",", "\n"), "TAB": Dialect("\t", "\r\n")}


@dataclass(frozen=True)
class TextFile:
    """A CSV or TAB file, its header read by Arrow."""

    path: Path
    delimiter: str
    names: tuple[str, ...]
    data_offset: int | None  # where the first row starts; None when the header's end is not plain

    def parse_options(self) -> pacsv.ParseOptions:
        return pacsv.ParseOptions(delimiter=self.delimiter)

    def batches(self, block_bytes: int, offset: int | None = None) -> Iterator[pa.RecordBatch]:
        """Every column as text (null for an empty field) by Arrow's streaming reader, from the
        header on, or from the row that starts at ``offset``."""
        source: Any = str(self.path)
        read = pacsv.ReadOptions(block_size=block_bytes)
        if offset is not None:
            source = pa.OSFile(str(self.path))
            source.seek(offset)
            read = pacsv.ReadOptions(block_size=block_bytes, column_names=list(self.names))
        with pacsv.open_csv(source, read_options=read, parse_options=self.parse_options(),
                            convert_options=_convert({n: pa.string() for n in self.names})) as reader:
            yield from reader


def text_file(path: Path, delimiter: str) -> TextFile:
    """The file's column names (Arrow's reading of its header) and where its rows start."""
    parse = pacsv.ParseOptions(delimiter=delimiter)
    with pacsv.open_csv(path, read_options=pacsv.ReadOptions(block_size=1 << 16), parse_options=parse) as head:
        names = tuple(head.schema.names)
    with open(path, "rb") as f:
        start = f.read(1 << 16)
    end = start.find(b"\n")
    offset = None
    if end >= 0:
        # The header ends at its first line end unless that one is quoted: then Arrow reads
        # another header from the first line alone.
        try:
            alone = pacsv.read_csv(pa.py_buffer(start[:end + 1]), parse_options=parse)
        except pa.ArrowInvalid:
            alone = None
        if alone is not None and tuple(alone.schema.names) == names:
            offset = end + 1
    return TextFile(path, delimiter, names, offset)


def _convert(types: Mapping[str, pa.DataType], include: Sequence[str] = ()) -> pacsv.ConvertOptions:
    return pacsv.ConvertOptions(column_types=dict(types), include_columns=list(include), null_values=[""],
                                strings_can_be_null=True, quoted_strings_can_be_null=False)


@dataclass(frozen=True)
class Chunk:
    """Rows of an input: every column as text (``lines`` None), or only the columns the model
    reads, typed, and the rows' text in ``lines``: element 0 the first row's text, element i > 0
    the line end before row i then row i's text, so that the elements, each joined with its
    results, are the export's lines back to back (but the last line end)."""

    batch: pa.RecordBatch
    lines: pa.StringArray | None = None


def echoed_chunks(text: TextFile, dialect: Dialect, model_types: Mapping[str, pa.DataType], rows: int,
                  block_bytes: int) -> Iterator[Chunk]:
    """The file's rows, ``rows`` at a time, echoed wherever they can be (see the module)."""
    wanted = {n: model_types[n] for n in text.names if n in model_types}
    if text.data_offset is None or dialect.delimiter != text.delimiter or not wanted:
        yield from (Chunk(b) for b in text.batches(block_bytes))
        return
    eol = dialect.eol.encode()
    offset = text.data_offset  # where the first row not yet yielded starts
    for span in _spans(text.path, offset, rows, eol):
        if span is None:
            yield from (Chunk(b) for b in text.batches(block_bytes, offset))
            return
        offset += span.size
        chunk = _chunk(text, span, eol, wanted)
        if chunk.batch.num_rows:  # not only empty lines
            yield chunk


@dataclass(frozen=True)
class _Span:
    """``rows`` whole lines of a file, ``data[start:start + size]`` (a window of the file mapped
    into memory: no copy), and the positions of their ``\\n`` from ``start``."""

    data: Any  # mmap.mmap, or bytes for a last line given its line end
    start: int
    size: int
    newlines: Any

    def find(self, what: bytes) -> bool:
        return bool(self.data.find(what, self.start, self.start + self.size) >= 0)

    def array(self) -> Any:
        return np.frombuffer(self.data, dtype=np.uint8, count=self.size, offset=self.start)

    def buffer(self) -> pa.Buffer:
        return pa.py_buffer(memoryview(self.data)[self.start:self.start + self.size])


def _spans(path: Path, offset: int, rows: int, eol: bytes) -> Iterator[_Span | None]:
    """The file's lines from ``offset`` on, ``rows`` at a time (the last may have fewer, and is
    given a line end if it had none); None on reaching text that is not plain (:func:`_plain`),
    after which the caller reads the rest another way.

    Each span is a window of the file mapped into memory, unmapped once nothing refers to it: no
    copy of the text is made, and the memory it takes is a few chunks', whatever the file's size.
    """
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        row_bytes = 128.0  # a guess until the first chunk is read
        want = 0
        while offset < size:
            want = max(want, int(rows * row_bytes * 1.05) + (1 << 16))
            base = offset - offset % mmap.ALLOCATIONGRANULARITY
            end = min(size, offset + want)
            window = mmap.mmap(f.fileno(), end - base, offset=base, access=mmap.ACCESS_READ)
            span = _Span(window, offset - base, end - offset, None)
            if not _plain(span, eol, end == size):
                yield None
                return
            newlines = np.flatnonzero(span.array() == 10)
            if len(newlines) < rows and end < size:  # longer rows than guessed: a larger window
                row_bytes = span.size / max(len(newlines), 1)
                want = 2 * span.size
                continue
            if len(newlines) >= rows:
                cut = int(newlines[rows - 1]) + 1
                newlines = newlines[:rows]
            else:
                cut = span.size
            if cut > _MAX_CHUNK_BYTES:
                yield None
                return
            if cut == span.size and (not len(newlines) or newlines[-1] != cut - 1):
                # the last line, without its line end (which makes no "\r" bare: _plain saw it)
                last = window[span.start:span.start + cut] + eol
                yield _Span(last, 0, len(last), np.append(newlines, len(last) - 1))
            else:
                yield _Span(window, span.start, cut, newlines)
            offset += cut
            row_bytes, want = cut / max(len(newlines), 1), 0


def _plain(span: _Span, eol: bytes, at_end: bool) -> bool:
    """No quote, and a ``\\r`` only in the ``\\r\\n`` line end of a TAB export (one at the
    window's end is judged with the byte after it, in the next window)."""
    if span.find(b'"'):
        return False
    if not span.find(b"\r"):
        return True
    if eol == b"\n":
        return False
    text = span.array()
    returns = np.flatnonzero(text == 13)
    if returns[-1] == span.size - 1:
        if at_end:
            return False
        returns = returns[:-1]
    return bool(np.all(text[returns + 1] == 10))


def _chunk(text: TextFile, span: _Span, eol: bytes, model_types: Mapping[str, pa.DataType]) -> Chunk:
    buffer = span.buffer()
    newlines = span.newlines
    ends = newlines - (len(eol) - 1)  # where each row's text ends, its line end left out
    everything = {n: pa.string() for n in text.names}
    echo = True
    if len(eol) == 2:
        # every "\r" is in a "\r\n" (_plain); a "\n" without its "\r" is not the export's line end
        echo = bool(newlines[0] > 0 and np.all(span.array()[newlines - 1] == 13))
    if ends[0] == 0 or np.any(np.diff(ends) == len(eol)):
        echo = False  # an empty line, which Arrow skips
    if echo:
        try:
            pa.StringArray.from_buffers(1, pa.py_buffer(np.array([0, len(buffer)], dtype=np.int32)),
                                        buffer).validate(full=True)
        except pa.ArrowInvalid:
            echo = False  # not UTF-8: reading every column as text fails the job, as it always did
    if not echo:
        return Chunk(_parse(text, buffer, everything))
    types = dict(model_types)
    if span.find(b" ") or (text.delimiter != "\t" and span.find(b"\t")):
        # Arrow's number parsing skips blanks around a number, its cast of text to a number does
        # not: with blanks about, the model's columns are read as text and cast as before.
        types = {n: pa.string() for n in types}
    try:
        batch = _parse(text, buffer, types)
    except pa.ArrowInvalid:
        batch = _parse(text, buffer, {n: pa.string() for n in types})  # a value that is no number
    offsets = np.empty(len(ends) + 1, dtype=np.int32)
    offsets[0] = 0
    offsets[1:] = ends
    return Chunk(batch, pa.StringArray.from_buffers(len(ends), pa.py_buffer(offsets), buffer))


def _parse(text: TextFile, buffer: pa.Buffer, types: Mapping[str, pa.DataType]) -> pa.RecordBatch:
    """The chunk's columns of ``types``, parsed by Arrow (in Arrow's threads), as one batch.

    Every caller's text holds no quote character (see :func:`_plain`), so the parser is told there
    are none: the same fields, for about 5 % less CPU."""
    parse = pacsv.ParseOptions(delimiter=text.delimiter, quote_char=False)
    table = pacsv.read_csv(buffer, read_options=pacsv.ReadOptions(column_names=list(text.names)),
                           parse_options=parse, convert_options=_convert(types, list(types)))
    batches = table.combine_chunks().to_batches()
    if len(batches) == 1:
        batch: pa.RecordBatch = batches[0]
        return batch
    return pa.RecordBatch.from_arrays([c.combine_chunks() for c in table.columns], schema=table.schema)


def echo(lines: pa.StringArray, results: Sequence[pa.Array], dialect: Dialect) -> pa.Buffer | None:
    """The export's text of echoed rows, but the last line end: each row's text, then its results
    as Arrow's CSV writer writes them (its cast to text, see :func:`_after_delimiter`), each after
    the delimiter; None when a result's text would need quoting, which is the CSV writer's to do."""
    texts = []
    special = f"[{dialect.delimiter}\"\r\n]"
    for result in results:
        if pa.types.is_string(result.type) and pc.any(pc.match_substring_regex(result, special)).as_py():
            return None
        texts.append(_after_delimiter(result, dialect.delimiter))
    joined = pc.binary_join_element_wise(lines, *texts, "", null_handling="replace", null_replacement="")
    offsets = np.frombuffer(joined.buffers()[1], dtype=np.int32)[joined.offset:joined.offset + len(joined) + 1]
    data: pa.Buffer = joined.buffers()[2].slice(int(offsets[0]), int(offsets[-1] - offsets[0]))
    return data


def _after_delimiter(result: pa.Array, delimiter: str) -> pa.Array:
    """Each value's text (a null's is empty) after the delimiter, as Arrow's cast to text writes it."""
    if len(result) and (pa.types.is_integer(result.type) or result.type == pa.float64()):
        return _number_texts(result, delimiter)
    return _cast_after_delimiter(result, delimiter)


def _cast_after_delimiter(result: pa.Array, delimiter: str) -> pa.Array:
    return pc.binary_join_element_wise("", pc.cast(result, pa.string()), delimiter, null_handling="replace",
                                       null_replacement="")


def _number_texts(result: pa.Array, delimiter: str) -> pa.Array:
    """:func:`_after_delimiter` of integers or float64 values, most of them written by orjson, in
    about half the time Arrow's cast takes (the larger part of formatting a model's results).

    Both write integers the same way.  Both write the shortest text that reads back as the same
    double, and the same way for finite values that are not whole numbers, below 1e9 and not in
    [1e-6, 1e-5) (Arrow writes whole numbers without ".0", and changes to exponents elsewhere than
    orjson): the other doubles, and nulls, are Arrow's own, put in their places.
    """
    kind = np.dtype(result.type.to_pandas_dtype())
    values = np.frombuffer(result.buffers()[1], dtype=kind, count=len(result), offset=result.offset * kind.itemsize)
    other = np.zeros(len(values), dtype=bool)
    if kind == np.float64:
        magnitude = np.abs(values)
        with np.errstate(invalid="ignore"):
            other = (magnitude >= 1e9) | ((magnitude >= 1e-6) & (magnitude < 1e-5)) | (values == np.trunc(values))
        other |= ~np.isfinite(values)
    if result.null_count:
        other |= ~result.is_valid().to_numpy(zero_copy_only=False)
    # orjson writes "[v0,v1,...]": the "[" and each "," become the delimiter before a value.
    text = np.frombuffer(orjson.dumps(values, option=orjson.OPT_SERIALIZE_NUMPY), dtype=np.uint8).copy()
    starts = np.flatnonzero(text == ord(","))
    text[0] = ord(delimiter)
    text[starts] = ord(delimiter)
    offsets = np.empty(len(values) + 1, dtype=np.int32)
    offsets[0], offsets[1:-1], offsets[-1] = 0, starts, len(text) - 1
    texts = pa.StringArray.from_buffers(len(values), pa.py_buffer(offsets), pa.py_buffer(text))
    if not other.any():
        return texts
    mask = pa.array(other)
    return pc.replace_with_mask(texts, mask, _cast_after_delimiter(pc.filter(result, mask), delimiter))


def parse_lines(lines: pa.StringArray, dialect: Dialect, names: Sequence[str]) -> pa.RecordBatch:
    """Rows' text of a :class:`Chunk` read back as every column's text, as a text file's
    :meth:`TextFile.batches` read them."""
    offsets = np.frombuffer(lines.buffers()[1], dtype=np.int32)[lines.offset:lines.offset + len(lines) + 1]
    data = lines.buffers()[2].slice(int(offsets[0]), int(offsets[-1] - offsets[0])).to_pybytes()
    text = TextFile(Path(), dialect.delimiter, tuple(names), 0)
    return _parse(text, pa.py_buffer(data + dialect.eol.encode()), {n: pa.string() for n in names})


__all__ = ["DIALECTS", "Chunk", "Dialect", "TextFile", "echo", "echoed_chunks", "parse_lines", "text_file"]
