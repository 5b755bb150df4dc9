"""Where a record of a CSV or JSON Lines file ends: the one rule the readers and the fan-out
planner share, so that a part starts exactly where the reader of the whole file would start
a record.

CSV is RFC 4180 as Python's csv module reads it (excel dialect). A record ends at a newline
outside quoted fields. A quote opens a quoted field only as the first character of a field
(at the start of a record or right after a comma); inside one, "" is a literal quote and a
lone quote closes it; text after the closing quote, up to the next comma, stays in the same,
now unquoted, field. A quote anywhere else (a value like 5" screen) is a literal character.
Only \\n ends a record: a \\r before it belongs to the line ending (as does one closing the
file), any other \\r is data.

JSON Lines: every \\n ends a record (a JSON string cannot hold a raw newline).

A blank record is not a row: a CSV record with nothing before its line ending, a JSON Lines
record of whitespace only.

Files arrive in blocks. A splitter carries the bytes of an unfinished record over to the next
block, so every buffer it scans starts on a record boundary: outside quotes, at the start of
a field. The scan is vectorized over the buffer's quotes and newlines (numpy), with memory
bounded by the block plus one record (callers stop past MAX_RECORD).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

NEWLINE, CR, COMMA, QUOTE = 10, 13, 44, 34
# A record this long almost surely comes from a quote that is never closed: the reader stops
# before the rest of the file is buffered as one field, the planner stops looking for ends.
MAX_RECORD = 32 << 20
# What bytes.strip() removes: a JSON Lines record of these only is blank.
_WHITESPACE = np.zeros(256, bool)
_WHITESPACE[list(b" \t\n\r\x0b\x0c")] = True

Regions = tuple[np.ndarray, np.ndarray]  # (opening quote, closing quote) of quoted fields


class Unclosed(Exception):
    """A quoted field still open at the end of the file."""


def quoted_regions(data: np.ndarray) -> Regions:
    """(opening quote, closing quote) positions of the quoted fields of a buffer that starts
    on a record boundary; a field still open at the end closes at len(data).

    Quotes come in runs of consecutive quote characters. A run of even length never changes
    whether the scan is inside a quoted field: outside, at the start of a field, it is an empty
    field or one of escaped quotes; anywhere else, literal quotes; inside, escaped quotes. A
    run of odd length inside a quoted field closes it; outside, it opens one at the start of a
    field and is literal anywhere else. So the state after each odd run is "inside" exactly
    when the run starts a field and the state before it was "outside": within a stretch of
    odd runs that all start fields, they alternate open, close, open, ...; any other odd run
    leaves the scan outside. That is what csv's state machine does, one quote at a time.
    """
    quotes = np.flatnonzero(data == QUOTE)
    if not len(quotes):
        empty = np.zeros(0, np.int64)
        return empty, empty
    starts_run = np.ones(len(quotes), bool)
    starts_run[1:] = np.diff(quotes) != 1
    firsts = quotes[starts_run]
    lengths = np.diff(np.append(np.flatnonzero(starts_run), len(quotes)))
    odd = lengths % 2 == 1
    firsts, lasts = firsts[odd], (firsts + lengths - 1)[odd]
    before = data[np.maximum(firsts - 1, 0)]
    starts_field = (firsts == 0) | (before == COMMA) | (before == NEWLINE)
    index = np.arange(len(firsts))
    last_other = np.maximum.accumulate(np.where(starts_field, -1, index))
    opened = starts_field & ((index - last_other) % 2 == 1)
    opens = firsts[opened]
    closing = np.flatnonzero(opened) + 1  # the next odd run closes what a run opened
    closes = np.full(len(opens), len(data), np.int64)
    found = closing < len(lasts)
    closes[found] = lasts[closing[found]]
    return opens, closes


def inside(positions: np.ndarray, regions: Regions) -> np.ndarray:
    """Which positions fall inside a quoted field."""
    opens, closes = regions
    if not len(opens):
        return np.zeros(len(positions), bool)
    index = np.searchsorted(opens, positions, side="right") - 1
    return (index >= 0) & (positions < closes[np.maximum(index, 0)])


@dataclass
class Records:
    """The complete records at the start of `buffer` (file offset `start`).

    Record i is buffer[starts[i]:stops[i]] plus its line ending: stops[i] is the position of
    its \\n, or len(buffer) for a last record without one. `consumed` bytes hold them all.
    """

    buffer: bytes
    data: np.ndarray
    start: int
    stops: np.ndarray
    consumed: int
    regions: Regions | None = None  # CSV: the quoted fields, when the buffer has quotes
    # Whether every \n up to `consumed` ends a record (no quoted field holds one).
    every_newline: bool = True
    _starts: np.ndarray | None = field(default=None, repr=False)

    @property
    def starts(self) -> np.ndarray:
        """Where each record begins in `buffer`."""
        if self._starts is None:
            starts = np.concatenate(([0], self.stops[:-1] + 1))[: len(self.stops)]
            self._starts = starts.astype(np.int64)
        return self._starts

    def ends(self) -> np.ndarray:
        """File offsets where the record after each one begins (past its line ending)."""
        return self.start + np.minimum(self.stops + 1, self.consumed)


class CsvSplitter:
    """Complete CSV records out of consecutive blocks of a file."""

    def __init__(self, offset: int = 0) -> None:
        self.offset = offset  # file offset of the carried bytes
        self.carry = b""  # the unfinished record at the end of the last buffer

    def split(self, block: bytes) -> Records:
        """The records complete once `block` is added (b"" at the end of the file: then the
        last one, unless a quoted field is still open: Unclosed)."""
        final = not block
        buffer = self.carry + block if self.carry else block
        data = np.frombuffer(buffer, np.uint8)
        newlines = np.flatnonzero(data == NEWLINE)
        regions = quoted_regions(data) if b'"' in buffer else None
        stops = newlines if regions is None else newlines[~inside(newlines, regions)]
        consumed = int(stops[-1]) + 1 if len(stops) else 0
        every_newline = int(np.searchsorted(newlines, consumed)) == len(stops)
        if final and consumed < len(buffer):
            if regions is not None and len(regions[1]) and regions[1][-1] >= len(buffer):
                raise Unclosed()
            # The last record has no line ending, but may hold newlines in a quoted field.
            every_newline = len(newlines) == len(stops)
            stops = np.append(stops, len(buffer))
            consumed = len(buffer)
        records = Records(buffer, data, self.offset, stops, consumed, regions, every_newline)
        self.carry = buffer[consumed:]
        self.offset += consumed
        return records


def csv_lines(records: Records) -> list[bytes]:
    """Each record's bytes without its \\r\\n or \\n (blank records included)."""
    buffer, consumed = records.buffer, records.consumed
    if not len(records.stops):
        return []
    if records.every_newline:
        # Every newline ends a record: split in C.
        text = buffer[:consumed]
        if b"\r" in text:
            text = text.replace(b"\r\n", b"\n")
        lines = text.split(b"\n")
        if text.endswith(b"\n"):
            lines.pop()
        elif lines[-1].endswith(b"\r"):
            lines[-1] = lines[-1][:-1]  # the file's last line, ended by a lone \r
        return lines
    # Some newlines sit inside quoted fields: cut at the record ends only.
    starts, stops = records.starts, records.stops.copy()
    before = np.maximum(stops - 1, 0)
    stops -= (stops > starts) & (records.data[before] == CR)
    return [buffer[a:b] for a, b in zip(starts.tolist(), stops.tolist(), strict=True)]


def csv_blank(records: Records) -> np.ndarray:
    """Which records are blank: nothing before the line ending (a \\r is part of it)."""
    starts, stops = records.starts, records.stops
    length = stops - starts
    if not len(length):
        return np.zeros(0, bool)
    first = records.data[np.minimum(starts, len(records.data) - 1)]
    return (length == 0) | ((length == 1) & (first == CR))


class LineSplitter:
    """Complete JSON Lines records out of consecutive blocks of a file."""

    def __init__(self, offset: int = 0) -> None:
        self.offset = offset
        self.carry = b""

    def split(self, block: bytes) -> Records:
        """The records complete once `block` is added (b"" at the end of the file)."""
        buffer = self.carry + block if self.carry else block
        consumed = len(buffer) if not block else buffer.rfind(b"\n") + 1
        data = np.frombuffer(buffer, np.uint8)
        stops = np.flatnonzero(data[:consumed] == NEWLINE)
        if consumed and (not len(stops) or stops[-1] != consumed - 1):
            stops = np.append(stops, consumed)  # the file's last line, without a newline
        records = Records(buffer, data, self.offset, stops, consumed)
        self.carry = buffer[consumed:]
        self.offset += consumed
        return records


def json_lines(records: Records) -> list[bytes]:
    """The non-blank records, stripped of surrounding whitespace and their line ending."""
    lines = records.buffer[: records.consumed].split(b"\n")
    if records.consumed and records.buffer[records.consumed - 1] == NEWLINE:
        lines.pop()
    stripped = [line.strip() for line in lines]
    return [line for line in stripped if line]


def json_blank(records: Records) -> np.ndarray:
    """Which records hold whitespace only."""
    starts, stops = records.starts, records.stops
    data, buffer = records.data, records.buffer
    blank = stops == starts
    if not len(data):
        return blank
    # A record that starts with something other than whitespace is not blank: only the few
    # others are looked at byte by byte.
    maybe = ~blank & _WHITESPACE[data[np.minimum(starts, len(data) - 1)]]
    for i in np.flatnonzero(maybe).tolist():
        blank[i] = not buffer[int(starts[i]) : int(stops[i])].strip()
    return blank
