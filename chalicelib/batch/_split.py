"""Split a large CSV or JSONL file into byte ranges that start and end on record boundaries.

One streaming pass over the bytes, with the readers' own record rule (formats._records): a
part starts exactly where the reader of the whole file starts a record, so a newline inside
a quoted CSV field never ends a part, and a stray quote in an unquoted field (5" screen)
does not open one. Each part knows the number of its first data row, counted as the reader
counts rows (the header and blank lines are not rows), so rejected rows keep the row numbers
they have in the whole file. Memory stays within a block plus one record.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from chalicelib.batch.formats._records import (
    MAX_RECORD,
    CsvSplitter,
    LineSplitter,
    csv_blank,
    json_blank,
)

_BOM = b"\xef\xbb\xbf"


@dataclass(frozen=True)
class Part:
    """Bytes [start, end) of the file, whose first record is data row `first_row` (1-based)."""

    start: int
    end: int
    first_row: int


def plan_parts(blocks: Iterable[bytes], part_bytes: int, fmt: str) -> tuple[bytes, list[Part]]:
    """(CSV header record with its line ending, parts of about `part_bytes` each) for the
    bytes of a "csv" or "jsonl" file (JSONL has no header: b"")."""
    has_header = fmt == "csv"
    splitter = CsvSplitter() if has_header else LineSplitter()
    blank_of = csv_blank if has_header else json_blank
    head = b""  # the file's first bytes, until the header ends
    header_end: int | None = None if has_header else 0
    parts: list[Part] = []
    part_start = 0
    rows_before = 0  # data rows before the current part
    rows = 0  # data rows in complete records so far
    offset = 0  # bytes seen
    scanning = True
    for block in blocks:
        if offset == 0 and block.startswith(_BOM):
            # The reader drops it before it looks for records; it stays in the first part.
            splitter.offset = len(_BOM)
            offset, block = len(_BOM), block[len(_BOM) :]
            head = _BOM
        offset += len(block)
        if not scanning:
            continue
        if header_end is None:
            head += block
        records = splitter.split(block)
        ends = records.ends()
        data_rows = ~blank_of(records)
        if header_end is None:
            if not data_rows.any():
                scanning = len(splitter.carry) <= MAX_RECORD
                continue
            first = int(np.argmax(data_rows))  # the header: the first record that is not blank
            header_end = part_start = int(ends[first])
            ends, data_rows = ends[first + 1 :], data_rows[first + 1 :]
        through = np.cumsum(data_rows)  # data rows through each record
        cut = int(np.searchsorted(ends, part_start + part_bytes))
        while cut < len(ends):
            parts.append(Part(part_start, int(ends[cut]), rows_before + 1))
            rows_before = rows + int(through[cut])
            part_start = int(ends[cut])
            cut = int(np.searchsorted(ends, part_start + part_bytes))
        rows += int(through[-1]) if len(through) else 0
        # A record this long fails in the reader anyway (a quote that is never closed): the
        # rest of the file becomes the last part, which reports it.
        scanning = len(splitter.carry) <= MAX_RECORD
    if header_end is None:
        # No complete header record: one part of the whole file, which the reader rejects
        # with the reason (a quote never closed, no data rows).
        return b"", [Part(0, offset, 1)] if offset else []
    if offset > part_start:
        parts.append(Part(part_start, offset, rows_before + 1))
    return head[:header_end], parts
