"""CSV files (plain or gzipped) read in chunks of rows.

Rows keep their original bytes, so a scored file echoes the input as it came. Rows with the
wrong number of fields are reported per chunk, never as a file error. Row numbers count data
rows from 1: the header and blank lines are not rows. Where a record ends is the rule of
_records, shared with the fan-out planner.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from itertools import chain, compress
from typing import TYPE_CHECKING, BinaryIO

import numpy as np

from chalicelib.batch.formats._chunk import Chunk, row_index, selected
from chalicelib.batch.formats._records import (
    COMMA,
    MAX_RECORD,
    CsvSplitter,
    Records,
    Unclosed,
    csv_blank,
    csv_lines,
    inside,
)
from chalicelib.batch.formats._source import FIRST_BLOCK, Source, block_size
from chalicelib.core import InvalidInputError

if TYPE_CHECKING:
    import pandas as pd

# Delimiters of files saved with the wrong settings, by how the message names them.
_OTHER_DELIMITERS = ((";", ";-delimited"), ("\t", "tab-delimited"), ("|", "|-delimited"))


@dataclass
class _Records:
    """Complete non-blank records of one block: bytes without line ending, and field counts."""

    lines: list[bytes]
    fields: np.ndarray


@dataclass(frozen=True)
class _CsvLayout:
    names: list[str]  # the header's columns
    selected: list[str] | None  # the columns to read, None for all
    numbers: frozenset[str]  # columns to parse as float64 when they can be
    missing: Mapping[str, Collection[str]]  # text besides "" that is a missing number, per column


def csv_chunks(
    stream: BinaryIO,
    chunk_rows: int,
    columns: Sequence[str] | None,
    numbers: Collection[str],
    missing: Mapping[str, Collection[str]],
) -> Iterator[Chunk]:
    """Chunks of at most `chunk_rows` rows of a CSV file (see read_chunks)."""
    blocks = _csv_blocks(Source(stream), chunk_rows)
    first = next(blocks, None)
    if first is None:
        raise InvalidInputError("file is empty")
    names = _csv_header(first.lines[0])
    chosen = selected(names, columns)
    layout = _CsvLayout(names, chosen, frozenset(numbers) & set(chosen or names), missing)
    lines: list[bytes] = []
    fields: list[np.ndarray] = []
    row = 1
    for records in chain([_Records(first.lines[1:], first.fields[1:])], blocks):
        lines.extend(records.lines)
        fields.append(records.fields)
        while len(lines) >= chunk_rows:
            counts = np.concatenate(fields)
            yield _csv_chunk(lines[:chunk_rows], counts[:chunk_rows], layout, row)
            del lines[:chunk_rows]
            fields = [counts[chunk_rows:]]
            row += chunk_rows
    if lines:
        yield _csv_chunk(lines, np.concatenate(fields), layout, row)


def _csv_blocks(source: Source, chunk_rows: int) -> Iterator[_Records]:
    """The CSV records of a file, block by block; blank lines dropped."""
    splitter = CsvSplitter(source.offset)
    rows = 0  # records so far, the header included
    size = FIRST_BLOCK
    while True:
        block = source.read(size)
        final = not block
        try:
            records = splitter.split(block)
        except Unclosed:
            raise InvalidInputError(
                f"{_record_name(rows)} opens a quoted field that is never closed; "
                'check the quotes (") in it'
            ) from None
        source.check_utf8(records.buffer[: records.consumed], records.start)
        source.offset += len(block)
        if len(splitter.carry) > MAX_RECORD:
            raise InvalidInputError(
                f"{_record_name(rows)} is longer than {MAX_RECORD >> 20} MiB; "
                'a quoted field is probably never closed: check the quotes (") in it'
            )
        lines, fields = _lines_and_fields(records)
        if lines:
            rows += len(lines)
            yield _Records(lines, fields)
        if final:
            return
        size = block_size(chunk_rows, source.offset, rows)


def _record_name(records_before: int) -> str:
    """How a message names the next record: the header comes first, then rows 1, 2, ..."""
    return "the header" if records_before == 0 else f"row {records_before}"


def _lines_and_fields(records: Records) -> tuple[list[bytes], np.ndarray]:
    """The non-blank records of a block and how many fields each has."""
    if not len(records.stops):
        return [], np.zeros(0, np.int64)
    data = records.data[: records.consumed]
    commas = np.flatnonzero(data == COMMA)
    if records.regions is not None:
        commas = commas[~inside(commas, records.regions)]
    fields = np.diff(np.searchsorted(commas, records.stops), prepend=0) + 1
    lines = csv_lines(records)
    blank = csv_blank(records)
    if blank.any():
        lines = list(compress(lines, ~blank))
        fields = fields[~blank]
    return lines, fields


def _csv_header(line: bytes) -> list[str]:
    """Column names of a header record; errors for the wrong delimiter and repeated names."""
    names = next(csv.reader(io.StringIO(line.decode("utf-8"), newline="")))
    if len(names) == 1:
        found = [(names[0].count(d), label) for d, label in _OTHER_DELIMITERS if d in names[0]]
        if found:
            label = max(found)[1]
            raise InvalidInputError(
                f"file looks {label}; sklambda reads comma-separated CSV: "
                "save it with commas between values"
            )
    repeated = sorted(name for name, count in Counter(names).items() if count > 1)
    if repeated:
        raise InvalidInputError(
            f"the header names a column more than once: {', '.join(map(repr, repeated))}; "
            "each column needs its own name"
        )
    return names


def _csv_chunk(lines: list[bytes], fields: np.ndarray, layout: _CsvLayout, first_row: int) -> Chunk:
    """A chunk of CSV records: rows with the header's field count parsed, the others reported."""
    width = len(layout.names)
    good = fields == width
    bad_rows: list[tuple[int, str]] = []
    rows = np.arange(first_row, first_row + len(lines))
    if not good.all():
        for position in np.flatnonzero(~good).tolist():
            problem = _field_count_problem(int(fields[position]), width)
            bad_rows.append((first_row + position, problem))
        lines = list(compress(lines, good))
        rows = rows[good]
    frame = _parse_csv(lines, layout)
    frame.index = row_index(rows)
    start = int(rows[0]) if len(rows) else first_row
    return Chunk(frame, start, lines if layout.selected is None else None, bad_rows)


def _field_count_problem(count: int, expected: int) -> str:
    noun = "field" if count == 1 else "fields"
    return f"row has {count} {noun}, header has {expected}"


def _parse_csv(lines: list[bytes], layout: _CsvLayout) -> pd.DataFrame:
    """Records with the right field count as a frame of text (object dtype, "" kept), with
    `layout.numbers` as float64 if every one of their values reads as a number, is empty or
    is one of the column's missing markers."""
    import pandas as pd

    usecols = layout.selected or layout.names
    if not lines:
        return pd.DataFrame({n: pd.Series([], dtype=object) for n in usecols})
    data = b"\n".join(lines)
    frame = None
    if layout.numbers:
        # A value that is neither (text, inf) fails the whole chunk: it is then read as text,
        # and validation reports the rows.
        frame = _read_csv(data, layout, layout.numbers)
    if frame is None:
        frame = _read_csv(data, layout, frozenset())
    if frame is None or len(frame) != len(lines):
        frame = _parse_csv_exactly(lines, layout.names)  # pandas disagrees: read as csv does
    return frame[usecols] if layout.selected is not None else frame


def _read_csv(data: bytes, layout: _CsvLayout, numbers: frozenset[str]) -> pd.DataFrame | None:
    import pandas as pd

    usecols = layout.selected or layout.names
    try:
        return pd.read_csv(
            io.BytesIO(data),
            header=None,
            names=layout.names,
            usecols=layout.selected,
            dtype={n: np.float64 if n in numbers else object for n in usecols},
            na_filter=bool(numbers),
            na_values={n: ["", *layout.missing.get(n, ())] for n in numbers},
            keep_default_na=False,
            engine="c",
            lineterminator="\n",
            index_col=False,
            skip_blank_lines=False,
            encoding="utf-8",
        )
    except ValueError:  # pandas' ParserError, or text in a float64 column
        return None


def _parse_csv_exactly(lines: list[bytes], names: list[str]) -> pd.DataFrame:
    import pandas as pd

    text = b"\n".join(lines).decode("utf-8")
    rows = list(csv.reader(io.StringIO(text, newline="")))
    values = np.empty((len(rows), len(names)), dtype=object)
    values[:] = rows
    return pd.DataFrame(values, columns=names, dtype=object)
