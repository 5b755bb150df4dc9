"""Batch files read in chunks and written back with their scores: CSV (plain or gzipped),
JSON Lines and Parquet. Pure: binary streams and DataFrames in, no AWS.

CSV and JSONL rows keep their original bytes, so a scored file echoes the input as it came
and only the result columns are serialized. Rows that cannot be read (a wrong number of
fields, a line that is not a JSON object) are reported per chunk, never as a file error.
Row numbers count data rows from 1: the CSV header and blank lines are not rows.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import zlib
from collections import Counter
from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import chain, compress
from typing import TYPE_CHECKING, Any, BinaryIO

import numpy as np

from chalicelib.core import InvalidInputError

if TYPE_CHECKING:
    import numpy.typing as npt
    import pandas as pd

FORMATS = ("csv", "csv.gz", "parquet", "jsonl")
# Longest first: "x.csv.gz" must not read as "csv".
_SUFFIXES = ((".csv.gz", "csv.gz"), (".csv", "csv"), (".parquet", "parquet"), (".jsonl", "jsonl"))

_BOM = b"\xef\xbb\xbf"
_GZIP_MAGIC = b"\x1f\x8b"
_NL, _CR, _COMMA, _QUOTE = 10, 13, 44, 34

# Blocks hold about one chunk of rows (estimated from the rows read so far), within bounds
# that keep numpy's per-call overhead low and memory flat.
_FIRST_BLOCK = 64 << 10
_MIN_BLOCK = 4 << 10
_MAX_BLOCK = 16 << 20
# A record this long almost surely comes from a quote that is never closed: stop before the
# rest of the file is buffered as one field.
_MAX_RECORD = 32 << 20

# What CSV text means a missing value: pandas.read_csv's default `na_values`, so files written
# by pandas (""), R ("NA"), Spark or databases ("null", "NULL") read as they were meant.
NA_TEXT = frozenset(
    {
        "",
        "#N/A",
        "#N/A N/A",
        "#NA",
        "-1.#IND",
        "-1.#QNAN",
        "-NaN",
        "-nan",
        "1.#IND",
        "1.#QNAN",
        "<NA>",
        "N/A",
        "NA",
        "NULL",
        "NaN",
        "None",
        "n/a",
        "nan",
        "null",
    }
)

# Delimiters of files saved with the wrong settings, by how the message names them.
_OTHER_DELIMITERS = ((";", ";-delimited"), ("\t", "tab-delimited"), ("|", "|-delimited"))


def format_of(key: str) -> str | None:
    """The batch format of an object key by its suffix (case-insensitive), or None."""
    lower = key.lower()
    for suffix, fmt in _SUFFIXES:
        if lower.endswith(suffix):
            return fmt
    return None


@dataclass
class Chunk:
    """Consecutive rows of a batch file.

    `frame.index` holds each row's 1-based number, so rows after a left-out bad row keep
    theirs. CSV values are the text as written ("" for an empty field); JSONL values are the
    decoded JSON values (NaN where an object lacks the key); Parquet columns keep their types.
    """

    frame: pd.DataFrame
    first_row: int  # number of frame's first row (of the chunk's first row if frame is empty)
    raw_lines: list[bytes] | None = None  # CSV and JSONL: each frame row's bytes as read
    bad_rows: list[tuple[int, str]] = field(default_factory=list)  # (row, reason), unreadable


def read_chunks(
    stream: BinaryIO,
    fmt: str,
    *,
    chunk_rows: int = 50_000,
    columns: Sequence[str] | None = None,
    numbers: Collection[str] = (),
) -> Iterator[Chunk]:
    """Chunks of at most `chunk_rows` rows of a file; InvalidInputError if it is unreadable.

    `columns` reads only those columns (then CSV chunks carry no raw lines). CSV `numbers`
    columns come as float64 (NaN for NA) in chunks where all their values parse, which saves
    most of the reading and checking time; as text in the others. Parquet needs a seekable
    stream; csv and csv.gz both read plain or gzipped bytes.
    """
    if chunk_rows < 1:
        raise ValueError("chunk_rows must be at least 1")
    if fmt in ("csv", "csv.gz"):
        return _csv_chunks(stream, chunk_rows, columns, numbers)
    if fmt == "jsonl":
        return _jsonl_chunks(stream, chunk_rows, columns)
    if fmt == "parquet":
        return _parquet_chunks(stream, chunk_rows, columns)
    raise ValueError(f"unknown batch format {fmt!r}; expected one of {', '.join(FORMATS)}")


# -- reading text: blocks of complete records ---------------------------------------------
class _Source:
    """A text file's bytes in blocks: gzip undone, BOM dropped, UTF-8 checked."""

    def __init__(self, stream: BinaryIO) -> None:
        first = _read(stream, _FIRST_BLOCK)
        if first.startswith(_GZIP_MAGIC):
            # Whether or not the caller unzipped it, a gzipped body is read unzipped.
            stream = gzip.GzipFile(fileobj=_Prefixed(first, stream), mode="rb")  # type: ignore[assignment]
            first = _read(stream, _FIRST_BLOCK)
        if first.startswith(_BOM):
            first = first[len(_BOM) :]
            self.offset = len(_BOM)  # file offset of the next byte handed out
        else:
            self.offset = 0
        if not first:
            raise InvalidInputError("file is empty")
        self._stream = stream
        self._pending: bytes | None = first

    def read(self, size: int) -> bytes:
        """Up to `size` bytes (b"" at the end)."""
        if self._pending is not None:
            block, self._pending = self._pending, None
            return block
        return _read(self._stream, size)

    def check_utf8(self, data: bytes, start: int) -> None:
        """Raise unless `data` (at file offset `start`) is valid UTF-8."""
        if data.isascii():
            return
        try:
            data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidInputError(
                f"file is not UTF-8: byte 0x{data[exc.start]:02x} at offset {start + exc.start} "
                "cannot be decoded; save the file as UTF-8 (Excel: CSV UTF-8)"
            ) from None


class _Prefixed(io.RawIOBase):
    """Bytes already read from a stream, then the rest of it."""

    def __init__(self, head: bytes, rest: BinaryIO) -> None:
        self._head = head
        self._rest = rest

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        if self._head:
            take = len(self._head) if size is None or size < 0 else size
            block, self._head = self._head[:take], self._head[take:]
            return block
        return self._rest.read(size)

    def readinto(self, buffer: Any) -> int:
        block = self.read(len(buffer))
        buffer[: len(block)] = block
        return len(block)


def _read(stream: BinaryIO, size: int) -> bytes:
    try:
        return stream.read(size)
    except (gzip.BadGzipFile, EOFError, zlib.error) as exc:
        raise InvalidInputError(f"not a readable gzip file: {exc}") from None


def _block_size(chunk_rows: int, bytes_read: int, rows_read: int) -> int:
    per_row = bytes_read / rows_read if rows_read else 256
    return int(min(_MAX_BLOCK, max(_MIN_BLOCK, chunk_rows * per_row)))


class _Unclosed(Exception):
    """A quoted field still open at the end of the file (or after _MAX_RECORD bytes)."""


@dataclass
class _Records:
    """Complete records of one block: bytes without line ending, and CSV field counts."""

    lines: list[bytes]
    fields: np.ndarray


def _csv_blocks(source: _Source, chunk_rows: int) -> Iterator[_Records]:
    """The CSV records of a file, block by block; blank lines dropped."""
    carry = b""
    rows = 0  # records so far, the header included
    size = _FIRST_BLOCK
    while True:
        block = source.read(size)
        final = not block
        buffer = carry + block if carry else block
        start = source.offset - len(carry)
        try:
            records, consumed = _split_csv(buffer, final)
        except _Unclosed:
            raise InvalidInputError(
                f"{_record_name(rows)} opens a quoted field that is never closed; "
                'check the quotes (") in it'
            ) from None
        source.check_utf8(buffer[:consumed], start)
        carry = buffer[consumed:]
        source.offset += len(block)
        if len(carry) > _MAX_RECORD:
            raise InvalidInputError(
                f"{_record_name(rows)} is longer than {_MAX_RECORD >> 20} MiB; "
                'a quoted field is probably never closed: check the quotes (") in it'
            )
        if records.lines:
            rows += len(records.lines)
            yield records
        if final:
            return
        size = _block_size(chunk_rows, source.offset, rows)


def _record_name(records_before: int) -> str:
    """How a message names the next record: the header comes first, then rows 1, 2, ..."""
    return "the header" if records_before == 0 else f"row {records_before}"


def _split_csv(buffer: bytes, final: bool) -> tuple[_Records, int]:
    """The complete records at the start of `buffer` and how many bytes they span."""
    data = np.frombuffer(buffer, np.uint8)
    newlines = np.flatnonzero(data == _NL)
    regions = _quoted_regions(buffer, data) if b'"' in buffer else None
    ends = newlines if regions is None else newlines[~_inside(newlines, regions)]
    consumed = int(ends[-1]) + 1 if len(ends) else 0
    # Whether every newline up to `consumed` ends a record (none sits in a quoted field).
    simple = int(np.searchsorted(newlines, consumed)) == len(ends)
    if final and consumed < len(buffer):
        if regions is not None and len(regions[1]) and regions[1][-1] >= len(buffer):
            raise _Unclosed()
        ends = np.append(ends, len(buffer))  # the last record has no line ending
        consumed = len(buffer)
    if not len(ends):
        return _Records([], np.zeros(0, np.int64)), 0
    commas = np.flatnonzero(data[:consumed] == _COMMA)
    if regions is not None:
        commas = commas[~_inside(commas, regions)]
    fields = np.diff(np.searchsorted(commas, ends), prepend=0) + 1
    lines = _record_bytes(buffer, data, ends, consumed, simple)
    blank = np.fromiter(map(len, lines), np.int64, len(lines)) == 0
    if blank.any():
        lines = list(compress(lines, ~blank))
        fields = fields[~blank]
    return _Records(lines, fields), consumed


def _record_bytes(
    buffer: bytes, data: np.ndarray, ends: np.ndarray, consumed: int, simple: bool
) -> list[bytes]:
    """Each record's bytes, its \\r\\n or \\n left out."""
    if simple:
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
    starts = np.concatenate(([0], ends[:-1] + 1))
    stops = ends.copy()
    before = np.maximum(ends - 1, 0)
    stops -= (ends > starts) & (data[before] == _CR)
    return [buffer[a:b] for a, b in zip(starts.tolist(), stops.tolist(), strict=True)]


def _quoted_regions(buffer: bytes, data: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(opening quote, closing quote) positions of the quoted fields of `buffer`.

    A quote opens a field only at its start, and "" inside one is a literal quote (RFC 4180,
    as csv and pandas read it). Quotes pairing up in order is checked in numpy; otherwise
    (a stray quote inside an unquoted field) the quotes are walked one by one.
    """
    quotes = np.flatnonzero(data == _QUOTE)
    opens, closes = quotes[0::2], quotes[1::2]
    if _pairs_in_order(data, opens, closes):
        if len(closes) < len(opens):
            closes = np.append(closes, len(buffer))  # still open at the end of the buffer
        return opens, closes
    return _walk_quotes(data, quotes.tolist())


def _pairs_in_order(data: np.ndarray, opens: np.ndarray, closes: np.ndarray) -> bool:
    """Whether every odd quote opens a field and every even one closes it (or escapes)."""
    size = len(data)
    previous = data[np.maximum(opens - 1, 0)]
    escaped_open = np.zeros(len(opens), bool)
    escaped_open[1:] = closes[: len(opens) - 1] == opens[1:] - 1
    at_start = (opens == 0) | (previous == _COMMA) | (previous == _NL)
    if not (at_start | escaped_open).all():
        return False
    following = data[np.minimum(closes + 1, size - 1)]
    escaped_close = np.zeros(len(closes), bool)
    paired = opens[1 : len(closes) + 1]
    escaped_close[: len(paired)] = paired == closes[: len(paired)] + 1
    at_end = (closes == size - 1) | (following == _COMMA) | (following == _NL)
    at_end |= following == _CR
    return bool((at_end | escaped_close).all())


def _walk_quotes(data: np.ndarray, quotes: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """_quoted_regions the slow way, for quotes that also appear inside unquoted fields."""
    opens: list[int] = []
    closes: list[int] = []
    i, count = 0, len(quotes)
    while i < count:
        at = quotes[i]
        if at and data[at - 1] not in (_COMMA, _NL):
            i += 1  # a literal quote inside an unquoted field
            continue
        j = i + 1
        while j + 1 < count and quotes[j + 1] == quotes[j] + 1:
            j += 2  # "" inside a quoted field
        opens.append(at)
        closes.append(quotes[j] if j < count else len(data))
        i = j + 1
    return np.array(opens, np.int64), np.array(closes, np.int64)


def _inside(positions: np.ndarray, regions: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """Which positions fall inside a quoted field."""
    opens, closes = regions
    if not len(opens):
        return np.zeros(len(positions), bool)
    index = np.searchsorted(opens, positions, side="right") - 1
    return (index >= 0) & (positions < closes[np.maximum(index, 0)])


# -- CSV ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class _CsvLayout:
    names: list[str]  # the header's columns
    selected: list[str] | None  # the columns to read, None for all
    numbers: frozenset[str]  # columns to parse as float64 when they can be


def _csv_chunks(
    stream: BinaryIO, chunk_rows: int, columns: Sequence[str] | None, numbers: Collection[str]
) -> Iterator[Chunk]:
    blocks = _csv_blocks(_Source(stream), chunk_rows)
    first = next(blocks, None)
    if first is None:
        raise InvalidInputError("file is empty")
    names = _csv_header(first.lines[0])
    selected = _selected(names, columns)
    layout = _CsvLayout(names, selected, frozenset(numbers) & set(selected or names))
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


def _selected(names: Sequence[str], columns: Sequence[str] | None) -> list[str] | None:
    if columns is None:
        return None
    missing = [c for c in columns if c not in set(names)]
    if missing:
        raise InvalidInputError(f"missing columns: {', '.join(missing)}")
    return list(columns)


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
    frame.index = _row_index(rows)
    start = int(rows[0]) if len(rows) else first_row
    return Chunk(frame, start, lines if layout.selected is None else None, bad_rows)


def _field_count_problem(count: int, expected: int) -> str:
    noun = "field" if count == 1 else "fields"
    return f"row has {count} {noun}, header has {expected}"


def _row_index(rows: np.ndarray) -> pd.Index:
    import pandas as pd

    if len(rows) and rows[-1] - rows[0] == len(rows) - 1:
        return pd.RangeIndex(int(rows[0]), int(rows[-1]) + 1)
    return pd.Index(rows, dtype=np.int64)


def _parse_csv(lines: list[bytes], layout: _CsvLayout) -> pd.DataFrame:
    """Records with the right field count as a frame of text (object dtype, "" kept), with
    `layout.numbers` as float64 if every one of their values reads as a number or NA."""
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
            na_values={n: sorted(NA_TEXT) for n in numbers},
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


# -- JSON Lines ---------------------------------------------------------------------------
def _jsonl_chunks(
    stream: BinaryIO, chunk_rows: int, columns: Sequence[str] | None
) -> Iterator[Chunk]:
    seen: dict[str, None] = {}  # every key so far, in order: later chunks keep the columns
    row = 1
    for lines in _line_batches(_Source(stream), chunk_rows):
        chunk = _jsonl_chunk(lines, row, seen, columns)
        row += len(lines)
        yield chunk


def _line_batches(source: _Source, chunk_rows: int) -> Iterator[list[bytes]]:
    """Non-blank lines (without line ending) in lists of `chunk_rows`."""
    carry = b""
    pending: list[bytes] = []
    rows = 0
    size = _FIRST_BLOCK
    while True:
        block = source.read(size)
        buffer = carry + block if carry else block
        cut = len(buffer) if not block else buffer.rfind(b"\n") + 1
        source.check_utf8(buffer[:cut], source.offset - len(carry))
        source.offset += len(block)
        carry = buffer[cut:]
        if len(carry) > _MAX_RECORD:
            raise InvalidInputError(f"row {rows + 1} is longer than {_MAX_RECORD >> 20} MiB")
        lines = [line.strip() for line in buffer[:cut].split(b"\n")]
        pending.extend(line for line in lines if line)
        while len(pending) >= chunk_rows:
            yield pending[:chunk_rows]
            del pending[:chunk_rows]
            rows += chunk_rows
        if not block:
            if pending:
                yield pending
            return
        size = _block_size(chunk_rows, source.offset, rows + len(pending))


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
    frame.index = _row_index(np.array(rows, np.int64))
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


# -- Parquet ------------------------------------------------------------------------------
def _parquet_chunks(
    stream: BinaryIO, chunk_rows: int, columns: Sequence[str] | None
) -> Iterator[Chunk]:
    import fastparquet

    stream.seek(0, io.SEEK_END)
    if stream.tell() == 0:
        raise InvalidInputError("file is empty")
    stream.seek(0)
    try:
        parquet = fastparquet.ParquetFile(stream)
    except Exception as exc:  # noqa: BLE001 - corrupt files fail in many ways inside fastparquet
        raise _not_parquet(exc) from None
    selected = _selected(list(parquet.columns), columns)
    row = 1
    for part in _row_groups(parquet, selected):
        for start in range(0, len(part), chunk_rows):
            frame = part.iloc[start : start + chunk_rows]
            frame.index = _row_index(np.arange(row, row + len(frame)))
            yield Chunk(frame, row, None)
            row += len(frame)


def _row_groups(parquet: Any, selected: list[str] | None) -> Iterator[pd.DataFrame]:
    """Each row group as a frame, string columns as object (pandas' str dtype needs pyarrow
    to be fast, and the Lambda package has none)."""
    groups = iter(parquet.iter_row_groups(columns=selected, index=False))
    while True:
        try:
            part = next(groups)
        except StopIteration:
            return
        except Exception as exc:  # noqa: BLE001 - a damaged row group fails in many ways
            raise _not_parquet(exc) from None
        yield _objects_for_strings(part)


def _objects_for_strings(frame: pd.DataFrame) -> pd.DataFrame:
    import pandas as pd

    strings = [c for c in frame.columns if isinstance(frame[c].dtype, pd.StringDtype)]
    if not strings:
        return frame
    frame = frame.copy()
    for name in strings:
        values = frame[name].to_numpy(dtype=object, na_value=None)
        frame[name] = pd.Series(values, index=frame.index, dtype=object)  # else str again
    return frame


def _not_parquet(exc: Exception) -> InvalidInputError:
    return InvalidInputError(f"not a readable Parquet file: {str(exc)[:200] or type(exc).__name__}")


# -- writing ------------------------------------------------------------------------------
def write_chunk(
    out: BinaryIO,
    chunk: Chunk,
    results: pd.DataFrame,
    fmt: str,
    *,
    header: bool,
    keep_columns: Sequence[str] | None = None,
    scored: npt.ArrayLike | None = None,
) -> None:
    """Write a chunk's scored rows: input columns (all, or `keep_columns`), then `results`.

    `scored` is a boolean mask over `chunk.frame`'s rows (None: every row); `results` has one
    row per scored row, in order. csv.gz is written as CSV (the caller compresses `out`);
    Parquet goes through ParquetWriter.
    """
    mask = _scored_mask(chunk, scored, len(results))
    if fmt in ("csv", "csv.gz"):
        out.write(_csv_output(chunk, results, mask, header, keep_columns))
    elif fmt == "jsonl":
        out.write(_jsonl_output(chunk, results, mask, keep_columns))
    else:
        raise ValueError(
            f"write_chunk writes csv, csv.gz and jsonl, not {fmt!r}; use ParquetWriter"
        )


def _scored_mask(chunk: Chunk, scored: npt.ArrayLike | None, results: int) -> np.ndarray:
    rows = len(chunk.frame)
    mask = np.ones(rows, bool) if scored is None else np.asarray(scored, dtype=bool)
    if mask.shape != (rows,):
        raise ValueError(f"scored has {mask.size} values for a chunk of {rows} rows")
    if int(mask.sum()) != results:
        raise ValueError(f"results has {results} rows for {int(mask.sum())} scored rows")
    return mask


def _csv_output(
    chunk: Chunk,
    results: pd.DataFrame,
    mask: np.ndarray,
    header: bool,
    keep: Sequence[str] | None,
) -> bytes:
    echo = keep is None and chunk.raw_lines is not None and len(chunk.raw_lines) == len(mask)
    inputs = list(chunk.frame.columns) if keep is None else list(keep)
    head = _csv_record(list(map(str, inputs)) + list(map(str, results.columns))) if header else b""
    if not mask.any():
        return head
    columns = [_csv_texts(results[c]) for c in results.columns]
    if echo:
        assert chunk.raw_lines is not None
        raw = chunk.raw_lines if mask.all() else list(compress(chunk.raw_lines, mask))
        columns.insert(0, raw)
    else:
        sub = chunk.frame.loc[mask, inputs]
        columns[:0] = [_csv_texts(sub[c]) for c in inputs]
    return head + b"\n".join(map(b",".join, zip(*columns, strict=True))) + b"\n"


def _csv_record(values: list[str]) -> bytes:
    return b",".join(_csv_field(v) for v in values) + b"\n"


def _csv_field(text: str) -> bytes:
    if any(c in text for c in ',"\n\r'):
        return ('"' + text.replace('"', '""') + '"').encode()
    return text.encode()


def _csv_texts(series: pd.Series) -> list[bytes]:
    """A column as CSV fields: shortest round-trip floats, "" for missing, quoted as needed."""
    return _texts(series, _csv_value, b"")


def _csv_value(value: Any) -> bytes:
    return _csv_field(str(value))


def _texts(series: pd.Series, text_of: Callable[[Any], bytes], missing: bytes) -> list[bytes]:
    """Each value's text: numbers in bulk, other values once per distinct value."""
    values = series.to_numpy()
    if values.dtype.kind == "f":
        texts = [repr(v).encode() for v in values.tolist()]
        for i in np.flatnonzero(~np.isfinite(values)).tolist():
            texts[i] = missing
        return texts
    if values.dtype.kind in "iu":
        return values.astype("S").tolist()
    return _texts_by_value(series, text_of, missing)


def _texts_by_value(
    series: pd.Series, text_of: Callable[[Any], bytes], missing: bytes
) -> list[bytes]:
    import pandas as pd

    codes, uniques = pd.factorize(series, use_na_sentinel=True)
    table = [text_of(_plain(v)) for v in np.asarray(uniques, dtype=object).tolist()]
    table.append(missing)  # code -1
    return [table[c] for c in codes.tolist()]


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def _jsonl_output(
    chunk: Chunk, results: pd.DataFrame, mask: np.ndarray, keep: Sequence[str] | None
) -> bytes:
    if not mask.any():
        return b""
    keys = [json.dumps(str(c)).encode() + b":" for c in results.columns]
    values = [_json_texts(results[c]) for c in results.columns]
    pairs = [[k + v for v in column] for k, column in zip(keys, values, strict=True)]
    tails = [b",".join(p) + b"}" for p in zip(*pairs, strict=True)] if pairs else None
    heads = _jsonl_heads(chunk, mask, keep)
    if tails is None:
        return b"\n".join(h + b"}" for h in heads) + b"\n"
    lines = (
        h + (b"," if not h.endswith(b"{") else b"") + t for h, t in zip(heads, tails, strict=True)
    )
    return b"\n".join(lines) + b"\n"


def _jsonl_heads(chunk: Chunk, mask: np.ndarray, keep: Sequence[str] | None) -> list[bytes]:
    """Each scored row's input object without its closing brace."""
    raw = chunk.raw_lines
    if keep is None and raw is not None and len(raw) == len(mask):
        rows = raw if mask.all() else list(compress(raw, mask))
        return [line.rstrip()[:-1].rstrip() for line in rows]
    names = list(chunk.frame.columns) if keep is None else list(keep)
    sub = chunk.frame.loc[mask, names]
    values = sub.astype(object).where(sub.notna(), None).to_numpy(dtype=object).tolist()
    return [
        json.dumps(dict(zip(names, row, strict=True)), default=_json_default).encode()[:-1]
        for row in values
    ]


def _json_texts(series: pd.Series) -> list[bytes]:
    """A column as JSON values: shortest round-trip floats, null for missing or non-finite."""
    return _texts(series, _json_bytes, b"null")


def _json_bytes(value: Any) -> bytes:
    return json.dumps(value, default=_json_default).encode()


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    return str(value)


# -- Parquet output -----------------------------------------------------------------------
class ParquetWriter:
    """One Parquet file written a row group per `append`, every group with the first's schema."""

    def __init__(self, path: str, *, compression: str = "SNAPPY") -> None:
        self.path = path
        self.rows = 0
        self._compression = compression
        self._dtypes: dict[str, Any] | None = None
        self._encodings: dict[str, str] = {}
        self._empty: pd.DataFrame | None = None

    def append(self, frame: pd.DataFrame) -> None:
        """Add `frame` as a row group (an empty frame only matters if nothing else comes)."""
        import fastparquet

        frame = _objects_for_strings(frame.reset_index(drop=True))
        if not len(frame):
            if self._dtypes is None:
                self._empty = frame  # its dtypes say little (results may be all object)
            return
        frame = self._conform(frame)
        fastparquet.write(
            self.path,
            frame,
            write_index=False,
            append=self.rows > 0,
            compression=self._compression,
            object_encoding=self._encodings,
        )
        self.rows += len(frame)

    def close(self) -> None:
        """Finish the file; with no rows appended, write one with the schema and no rows."""
        import fastparquet

        if self.rows == 0 and self._empty is not None:
            encodings = {str(n): "utf8" for n, d in self._empty.dtypes.items() if _is_object(d)}
            fastparquet.write(self.path, self._empty, write_index=False, object_encoding=encodings)

    def _conform(self, frame: pd.DataFrame) -> pd.DataFrame:
        """`frame` with the first frame's dtypes: fastparquet appends only identical schemas."""
        if self._dtypes is None:
            self._dtypes = dict(frame.dtypes.items())
            self._encodings = {
                str(name): _object_encoding(frame[name])
                for name, dtype in self._dtypes.items()
                if _is_object(dtype)
            }
            return frame
        if list(frame.columns) != list(self._dtypes):
            raise ValueError(
                f"columns {list(frame.columns)} differ from the first chunk's {list(self._dtypes)}"
            )
        changed = {n: d for n, d in self._dtypes.items() if frame[n].dtype != d}
        if changed:
            try:
                frame = frame.astype(changed)
            except (TypeError, ValueError) as exc:
                raise ValueError(f"a column changed type between chunks: {exc}") from None
        return frame


def _is_object(dtype: Any) -> bool:
    return isinstance(dtype, np.dtype) and dtype.kind == "O"


def _object_encoding(series: pd.Series) -> str:
    """The Parquet encoding of an object column, from its first value."""
    values = series.dropna()
    first = values.iloc[0] if len(values) else None
    if isinstance(first, bytes):
        return "bytes"
    if isinstance(first, bool | np.bool_):
        return "bool"
    if isinstance(first, int | np.integer):
        return "int"
    if isinstance(first, float | np.floating):
        return "float"
    if isinstance(first, dict | list):
        return "json"
    return "utf8"
