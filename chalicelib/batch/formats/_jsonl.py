"""JSON Lines files read in chunks of rows: one JSON object a line.

A line that is not a JSON object is a bad row reported in its chunk, never a file error.
Blank lines are not rows. Where a record ends is the rule of _records, shared with the
fan-out planner.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from typing import Any, BinaryIO

import numpy as np

from chalicelib.batch.formats._chunk import Chunk, row_index
from chalicelib.batch.formats._records import MAX_RECORD, LineSplitter, json_lines
from chalicelib.batch.formats._source import FIRST_BLOCK, Source, block_size
from chalicelib.core import InvalidInputError


def jsonl_chunks(
    stream: BinaryIO, chunk_rows: int, columns: Sequence[str] | None
) -> Iterator[Chunk]:
    """Chunks of at most `chunk_rows` rows of a JSON Lines file (see read_chunks)."""
    seen: dict[str, None] = {}  # every key so far, in order: later chunks keep the columns
    row = 1
    for lines in _line_batches(Source(stream), chunk_rows):
        chunk = _jsonl_chunk(lines, row, seen, columns)
        row += len(lines)
        yield chunk


def _line_batches(source: Source, chunk_rows: int) -> Iterator[list[bytes]]:
    """Non-blank lines (without line ending) in lists of `chunk_rows`."""
    splitter = LineSplitter(source.offset)
    pending: list[bytes] = []
    rows = 0
    size = FIRST_BLOCK
    while True:
        block = source.read(size)
        records = splitter.split(block)
        source.check_utf8(records.buffer[: records.consumed], records.start)
        source.offset += len(block)
        if len(splitter.carry) > MAX_RECORD:
            raise InvalidInputError(f"row {rows + 1} is longer than {MAX_RECORD >> 20} MiB")
        pending.extend(json_lines(records))
        while len(pending) >= chunk_rows:
            yield pending[:chunk_rows]
            del pending[:chunk_rows]
            rows += chunk_rows
        if not block:
            if pending:
                yield pending
            return
        size = block_size(chunk_rows, source.offset, rows + len(pending))


def _jsonl_chunk(
    lines: list[bytes], first_row: int, seen: dict[str, None], columns: Sequence[str] | None
) -> Chunk:
    import pandas as pd

    objects: list[dict[str, Any]] = []
    kept: list[bytes] = []
    rows: list[int] = []
    bad_rows: list[tuple[int, str]] = []
    for number, line in enumerate(lines, first_row):
        value, problem = _json_object(line)
        if problem is None:
            objects.append(value)
            kept.append(line)
            rows.append(number)
        else:
            bad_rows.append((number, problem))
    frame = pd.DataFrame(objects, dtype=object)
    seen.update(dict.fromkeys(map(str, frame.columns)))
    frame = frame.reindex(columns=list(seen) if columns is None else list(columns))
    frame.index = row_index(np.array(rows, np.int64))
    start = rows[0] if rows else first_row
    return Chunk(frame, start, kept if columns is None else None, bad_rows)


def _json_object(line: bytes) -> tuple[Any, str | None]:
    """(object, None), or (None, why the line is not a JSON object)."""
    try:
        value = json.loads(line)
    except ValueError as exc:
        detail = exc.msg if isinstance(exc, json.JSONDecodeError) else str(exc)
        column = f" (column {exc.colno})" if isinstance(exc, json.JSONDecodeError) else ""
        return None, f"not valid JSON: {detail}{column}"
    if not isinstance(value, dict):
        return None, f"expected a JSON object, got {_json_kind(value)}"
    return value, None


def _json_kind(value: Any) -> str:
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool):
        return "a boolean"
    if value is None:
        return "null"
    return "a number"
