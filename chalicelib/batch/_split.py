"""Split a large CSV or JSONL file into byte ranges that start and end on record boundaries.

One pass over the bytes, quote-aware: a newline inside a quoted CSV field does not end a
record. Each part knows the number of its first data row, so rejected rows keep the row
numbers they have in the whole file.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

_NEWLINE = ord("\n")
_QUOTE = ord('"')


@dataclass(frozen=True)
class Part:
    """Bytes [start, end) of the file, whose first record is data row `first_row` (1-based)."""

    start: int
    end: int
    first_row: int


def plan_parts(
    blocks: Iterable[bytes], part_bytes: int, *, has_header: bool = True
) -> tuple[bytes, list[Part]]:
    """(header line with its newline, parts of about `part_bytes` each) for the file's bytes."""
    header = b""
    parts: list[Part] = []
    offset = 0  # bytes seen before the current block
    in_quotes = False
    rows_before = 0  # complete data records before the current part
    rows_seen = 0
    part_start: int | None = None if has_header else 0
    for block in blocks:
        data = np.frombuffer(block, dtype=np.uint8)
        ends = _record_ends(data, in_quotes)
        in_quotes = bool((np.count_nonzero(data == _QUOTE) + in_quotes) % 2)
        for end in ends:
            absolute = offset + int(end) + 1
            if part_start is None:  # the header's newline
                header += block[: absolute - offset]
                part_start = absolute
                continue
            rows_seen += 1
            if absolute - part_start >= part_bytes:
                parts.append(Part(part_start, absolute, rows_before + 1))
                rows_before = rows_seen
                part_start = absolute
        if part_start is None:
            header += block
        offset += len(block)
    if part_start is not None and offset > part_start:
        parts.append(Part(part_start, offset, rows_before + 1))
    return header, parts


def _record_ends(data: np.ndarray, in_quotes: bool) -> np.ndarray:
    """Positions of newlines outside quotes, given whether the block starts inside quotes."""
    newlines = np.flatnonzero(data == _NEWLINE)
    if newlines.size == 0:
        return newlines
    quotes = np.flatnonzero(data == _QUOTE)
    if quotes.size == 0:
        return newlines if not in_quotes else newlines[:0]
    # Quotes before each newline; a newline ends a record when that count (plus the carried
    # state) is even. Escaped quotes ("") add two and keep the parity, as they should.
    before = np.searchsorted(quotes, newlines)
    return newlines[(before + in_quotes) % 2 == 0]
