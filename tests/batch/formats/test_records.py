"""The record rule: where a CSV record ends is where Python's csv module ends it."""

from __future__ import annotations

import csv
import io

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chalicelib.batch.formats._records import (
    CsvSplitter,
    LineSplitter,
    Unclosed,
    csv_blank,
    csv_lines,
    inside,
    json_blank,
    json_lines,
    quoted_regions,
)


def quoted_text(text: bytes) -> list[bytes]:
    """The stretches of `text` inside quoted fields, quotes included."""
    opens, closes = quoted_regions(np.frombuffer(text, np.uint8))
    return [text[a : b + 1] for a, b in zip(opens.tolist(), closes.tolist(), strict=True)]


@pytest.mark.parametrize(
    ("text", "quoted"),
    [
        (b'1,5" screen,"a\nb"\n', [b'"a\nb"']),  # a quote inside an unquoted field is literal
        (b'"a""b",c\n', [b'"a""b"']),  # "" is a quote inside a quoted field
        (b'"",x\n', []),  # an empty quoted field holds nothing
        (b'"""",x\n', []),  # a field of one quote character
        (b'"""a",b\n', [b'"""a"']),
        (b'"a"x"y,"z"\n', [b'"a"', b'"z"']),  # after the closing quote, quotes are literal
        (b' "a,b"\n', []),  # a quote after a space does not open a field
        (b'a\n"b\nc"\n', [b'"b\nc"']),
        (b'x,"open\n', [b'"open\n']),  # open to the end of the buffer
    ],
)
def test_a_quote_opens_a_field_only_at_its_start(text: bytes, quoted: list[bytes]) -> None:
    assert quoted_text(text) == quoted
    assert list(csv.reader(io.StringIO(text.decode(), newline="")))  # csv reads it too


def test_inside_tells_which_positions_are_quoted() -> None:
    text = b'a,"b,c",d'
    regions = quoted_regions(np.frombuffer(text, np.uint8))
    commas = np.array([1, 4, 7])
    assert inside(commas, regions).tolist() == [False, True, False]


def test_records_split_across_blocks() -> None:
    splitter = CsvSplitter()
    first = splitter.split(b'id,text\r\n1,"two\r\n')
    assert csv_lines(first) == [b"id,text"] and splitter.carry == b'1,"two\r\n'
    second = splitter.split(b'lines"\r\n\r\n2,x')
    assert csv_lines(second) == [b'1,"two\r\nlines"', b""]
    assert csv_blank(second).tolist() == [False, True]
    assert second.ends().tolist() == [25, 27]
    last = splitter.split(b"")
    assert csv_lines(last) == [b"2,x"] and last.ends().tolist() == [30]


def test_a_quoted_field_open_at_the_end_is_unclosed() -> None:
    splitter = CsvSplitter()
    splitter.split(b'id\n"never closed\n')
    with pytest.raises(Unclosed):
        splitter.split(b"")


def test_json_lines_end_at_every_newline() -> None:
    splitter = LineSplitter(offset=3)  # after a byte order mark
    records = splitter.split(b'{"a": "\\"x"}\r\n  \n{"b"')
    assert json_lines(records) == [b'{"a": "\\"x"}']
    assert json_blank(records).tolist() == [False, True]
    assert records.ends().tolist() == [17, 20]
    last = splitter.split(b": 1}")
    assert json_lines(last) == [] and splitter.carry == b'{"b": 1}'
    assert json_lines(splitter.split(b"")) == [b'{"b": 1}']


FIELD = st.one_of(
    st.text(alphabet='ab5 "', max_size=4).filter(lambda t: not t.startswith('"')),
    st.lists(st.sampled_from(["a", ",", "\n", "\r\n", '"']), max_size=5).map(
        lambda parts: '"' + "".join(parts).replace('"', '""') + '"'
    ),
)
CSV_TEXT = st.lists(
    st.tuples(st.lists(FIELD, min_size=1, max_size=3), st.sampled_from(["\n", "\r\n"])),
    max_size=8,
).map(lambda records: "".join(",".join(fields) + end for fields, end in records))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=CSV_TEXT, size=st.integers(1, 16))
def test_the_records_are_the_ones_csv_reads(text: str, size: int) -> None:
    data = text.encode()
    splitter = CsvSplitter()
    lines: list[bytes] = []
    for at in [*range(0, len(data), size), len(data)]:
        lines += csv_lines(splitter.split(data[at : at + size]))
    expected = list(csv.reader(io.StringIO(text, newline="")))
    # Each record, read on its own, is the row csv reads there in the whole text (a blank
    # record reads as no row at all, and csv gives [] for it).
    alone = [list(csv.reader(io.StringIO(line.decode(), newline=""))) for line in lines]
    assert alone == [[row] if row else [] for row in expected]
