"""The fan-out planner finds exactly the record boundaries the readers find."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chalicelib.batch._split import Part, plan_parts
from chalicelib.batch.formats import read_chunks
from chalicelib.batch.formats._records import MAX_RECORD

PROPERTY = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# -- generated files ----------------------------------------------------------------------
ENDINGS = st.sampled_from(["\n", "\r\n"])
PLAIN = st.text(alphabet="ab5 é", min_size=1, max_size=4)
# An unquoted field: it may hold quotes anywhere but first (5" screen, a"b"c).
UNQUOTED = st.builds(lambda head, tail: head + tail, PLAIN, st.text(alphabet='a"', max_size=3))
# A quoted field: commas, newlines (LF and CRLF) and quotes (doubled) inside.
QUOTED = st.builds(
    lambda parts, after: '"' + "".join(parts).replace('"', '""') + '"' + after,
    st.lists(st.sampled_from(["a", ",", "\n", "\r\n", '"', " ", "é"]), max_size=6),
    st.sampled_from(["", "", "", "x", 'x"']),  # text after the closing quote stays in the field
)
FIELD = st.one_of(st.just(""), UNQUOTED, QUOTED)
RECORD = st.lists(FIELD, min_size=1, max_size=4).map(",".join)


@st.composite
def csv_texts(draw: Any) -> str:
    """A CSV file: a header, records (some blank, some with another field count), LF or CRLF
    endings, the last one maybe missing."""
    records = draw(st.lists(RECORD, max_size=12))
    text = "a,b,c" + draw(ENDINGS)
    for i, record in enumerate(records):
        last = i == len(records) - 1
        text += record + ("" if last and draw(st.booleans()) and record else draw(ENDINGS))
    return text


JSON_LINE = st.one_of(
    st.just(""),
    st.text(alphabet=" \t", min_size=1, max_size=3),  # blank
    st.text(alphabet='{}":, ab\\\r5', max_size=12),  # anything but a newline, quotes unpaired
)


@st.composite
def jsonl_texts(draw: Any) -> str:
    lines = draw(st.lists(JSON_LINE, min_size=1, max_size=12))
    return "\n".join(lines) + draw(st.sampled_from(["", "\n"]))


def blocks_of(data: bytes, sizes: list[int]) -> list[bytes]:
    """`data` cut into blocks of the given sizes (repeated), as a stream is read."""
    blocks, at, i = [], 0, 0
    while at < len(data):
        size = sizes[i % len(sizes)]
        blocks.append(data[at : at + size])
        at, i = at + size, i + 1
    return blocks


BLOCK_SIZES = st.lists(st.integers(1, 64), min_size=1, max_size=4)


# -- what the reference readers say --------------------------------------------------------
def csv_records(data: bytes) -> list[tuple[int, bool]]:
    """(byte offset where each record ends, whether it is a row) as Python's csv reads it."""
    consumed = 0

    def lines() -> Any:
        nonlocal consumed
        for line in io.StringIO(data.decode("utf-8"), newline=""):
            consumed += len(line.encode("utf-8"))
            yield line

    return [(consumed, bool(fields)) for fields in csv.reader(lines())]


def jsonl_records(data: bytes) -> list[tuple[int, bool]]:
    """(byte offset where each line ends, whether it is a row: not blank)."""
    ends, at = [], 0
    if not data:
        return ends
    for line in data.split(b"\n"):
        at += len(line) + 1
        ends.append((min(at, len(data)), bool(line.strip())))
    if data.endswith(b"\n"):
        ends.pop()  # split() leaves an empty string after the last newline
    return ends


def planned_boundaries(header: bytes, parts: list[Part]) -> list[tuple[int, int]]:
    """(offset, first row) where each part starts, and (end of file, -) after the last."""
    bounds = [(p.start, p.first_row) for p in parts]
    return bounds + [(parts[-1].end, -1)] if parts else bounds


def expected_boundaries(records: list[tuple[int, bool]]) -> list[tuple[int, int]]:
    """With a part per record after the first (the header): (offset, first row) where each
    part starts, and (end of file, -) after the last."""
    bounds, rows = [], 0
    for (start, _), (_, is_row) in zip(records, records[1:], strict=False):
        bounds.append((start, rows + 1))
        rows += is_row
    return bounds + [(records[-1][0], -1)] if len(records) > 1 else bounds


# -- properties ---------------------------------------------------------------------------
@PROPERTY
@given(text=csv_texts(), sizes=BLOCK_SIZES)
def test_csv_parts_start_where_the_csv_module_starts_a_record(text: str, sizes: list[int]) -> None:
    data = text.encode()
    records = csv_records(data)
    # part_bytes=1: every record boundary after the header becomes a part boundary.
    header, parts = plan_parts(blocks_of(data, sizes), 1, "csv")
    assert header == data[: records[0][0]]
    assert planned_boundaries(header, parts) == expected_boundaries(records)


@PROPERTY
@given(text=jsonl_texts(), sizes=BLOCK_SIZES)
def test_jsonl_parts_start_where_a_line_starts(text: str, sizes: list[int]) -> None:
    data = text.encode()
    header, parts = plan_parts(blocks_of(data, sizes), 1, "jsonl")
    assert header == b""
    records = [(0, False), *jsonl_records(data)]  # no header: as if one of 0 bytes
    assert planned_boundaries(header, parts) == expected_boundaries(records)


def rows_read(data: bytes, fmt: str, offset: int = 0) -> list[tuple[int, Any]]:
    """Every row the reader reads, by number: its raw bytes, or why it is a bad row."""
    rows: list[tuple[int, Any]] = []
    try:
        for chunk in read_chunks(io.BytesIO(data), fmt, chunk_rows=3):
            assert chunk.raw_lines is not None
            rows += [
                (row + offset, raw)
                for row, raw in zip(chunk.frame.index, chunk.raw_lines, strict=True)
            ]
            rows += [(row + offset, why) for row, why in chunk.bad_rows]
    except Exception as exc:  # noqa: BLE001 - a file error is an outcome to compare too
        rows.append((-1, str(exc)))
    return sorted(rows, key=lambda row: row[0])


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    fmt=st.sampled_from(["csv", "jsonl"]),
    csv_text=csv_texts(),
    jsonl_text=jsonl_texts(),
    part_bytes=st.integers(1, 40),
)
def test_reading_the_parts_reads_the_rows_of_the_whole_file(
    fmt: str, csv_text: str, jsonl_text: str, part_bytes: int
) -> None:
    data = (csv_text if fmt == "csv" else jsonl_text).encode()
    whole = rows_read(data, fmt)
    if whole and whole[0][0] == -1:
        return  # an unreadable file (no rows, say) fails whole, as each part would
    header, parts = plan_parts(blocks_of(data, [7]), part_bytes, fmt)
    in_parts = []
    for part in parts:
        in_parts += rows_read(header + data[part.start : part.end], fmt, part.first_row - 1)
    in_parts = [row for row in in_parts if row[0] != -1 or "no data rows" not in row[1]]
    assert in_parts == whole


# -- cases --------------------------------------------------------------------------------
def test_a_stray_quote_does_not_open_a_field() -> None:
    data = b'id,text\n1,5" screen\n2,plain\n3,"two\nlines"\n4,end\n'
    header, parts = plan_parts([data], 1, "csv")
    assert header == b"id,text\n"
    assert [data[p.start : p.end] for p in parts] == [
        b'1,5" screen\n',
        b"2,plain\n",
        b'3,"two\nlines"\n',
        b"4,end\n",
    ]
    assert [p.first_row for p in parts] == [1, 2, 3, 4]


def test_blank_lines_and_a_byte_order_mark_are_not_rows() -> None:
    data = b"\xef\xbb\xbf\r\nid,text\r\n\r\n1,a\r\n\n2,b\n"
    header, parts = plan_parts([data], 1, "csv")
    assert header == b"\xef\xbb\xbf\r\nid,text\r\n"
    assert [(data[p.start : p.end], p.first_row) for p in parts] == [
        (b"\r\n", 1),
        (b"1,a\r\n", 1),
        (b"\n", 2),
        (b"2,b\n", 2),
    ]
    lines = b'\xef\xbb\xbf  \n{"a": 1}\n\n{"a": "\\"2"}'
    assert [p.first_row for p in plan_parts([lines], 1, "jsonl")[1]] == [1, 1, 2, 2]


def test_parts_are_about_part_bytes() -> None:
    data = b"id,n\n" + b"".join(b"%d,x\n" % i for i in range(1000))
    header, parts = plan_parts(blocks_of(data, [100]), 1000, "csv")
    assert header == b"id,n\n"
    assert all(p.end - p.start >= 1000 for p in parts[:-1])
    assert all(p.end - p.start < 1000 + 8 for p in parts)
    assert [p.start for p in parts[1:]] == [p.end for p in parts[:-1]]
    assert parts[-1].end == len(data)
    # Row i holds the number i - 1.
    assert [p.first_row for p in parts] == [
        int(data[p.start : p.end].split(b",")[0]) + 1 for p in parts
    ]


@pytest.mark.parametrize("before", [b"id,n\n1,x\n", b""])
def test_a_quote_never_closed_makes_the_rest_one_part(before: bytes) -> None:
    # The reader rejects such a record; the planner stops looking for ends, in bounded memory.
    data = before + b'2,"' + b"x\n" * (MAX_RECORD // 2 + 1) + b"3,y\n"
    blocks = blocks_of(data, [8 << 20])
    header, parts = plan_parts(blocks, 4, "csv")
    if before:
        assert header == b"id,n\n"
        assert [(p.start, p.end) for p in parts] == [(5, 9), (9, len(data))]
    else:
        assert header == b""  # no header record: one part, the whole file
        assert parts == [Part(0, len(data), 1)]
