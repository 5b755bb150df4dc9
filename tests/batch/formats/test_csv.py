from __future__ import annotations

import csv
import gzip
import io

import numpy as np
import pandas as pd
import pytest

from chalicelib.batch import read_chunks
from chalicelib.core import InvalidInputError
from tests.batch.formats.helpers import TRICKY, ShortReads, churn_csv, joined, read_all


# -- CSV: file-level errors ---------------------------------------------------------------
@pytest.mark.parametrize("data", [b"", b"\xef\xbb\xbf", b"\n\r\n\n", gzip.compress(b"")])
def test_empty_file_is_an_error(data: bytes) -> None:
    with pytest.raises(InvalidInputError, match="file is empty"):
        read_all(data)


@pytest.mark.parametrize("data", [b"a,b,c", b"a,b,c\n", b"a,b,c\r\n\r\n"])
def test_header_only_yields_nothing(data: bytes) -> None:
    assert read_all(data) == []


def test_byte_order_mark_is_dropped() -> None:
    (chunk,) = read_all(b"\xef\xbb\xbfage,plan\n41,basic\n")
    assert list(chunk.frame.columns) == ["age", "plan"]
    assert chunk.raw_lines == [b"41,basic"]


def test_non_utf8_file_names_the_offset() -> None:
    data = "age,city\n41,Paris\n52,Montréal\n".encode("latin-1")
    with pytest.raises(InvalidInputError, match="not UTF-8") as info:
        read_all(data)
    assert f"offset {data.index(b'\xe9')}" in info.value.message
    assert "save the file as UTF-8" in info.value.message


def test_non_utf8_far_into_the_file_is_found() -> None:
    data = churn_csv() + b"x" * 3 + b"\xff\n"
    with pytest.raises(InvalidInputError, match=f"offset {len(churn_csv()) + 3}"):
        read_all(data, chunk_rows=7)


@pytest.mark.parametrize(
    ("delimiter", "named"), [(";", ";-delimited"), ("\t", "tab-delimited"), ("|", "|-delimited")]
)
def test_wrong_delimiter_is_named(delimiter: str, named: str) -> None:
    data = delimiter.join(["age", "plan", "region"]).encode() + b"\n41;basic;north\n"
    with pytest.raises(InvalidInputError, match=f"file looks {named}") as info:
        read_all(data)
    assert "comma-separated" in info.value.message


def test_one_column_file_is_fine() -> None:
    (chunk,) = read_all(b"age\n41\n\n52\n")
    assert chunk.frame["age"].tolist() == ["41", "52"]


def test_repeated_column_names_are_refused() -> None:
    with pytest.raises(InvalidInputError, match="more than once: 'age'"):
        read_all(b"age,plan,age\n1,basic,2\n")


def test_unclosed_quote_names_its_row() -> None:
    with pytest.raises(InvalidInputError, match="row 2 opens a quoted field that is never"):
        read_all(b'a,b\n1,x\n2,"never closed\n3,y\n')


def test_corrupt_gzip_is_an_error() -> None:
    data = gzip.compress(churn_csv())
    with pytest.raises(InvalidInputError, match="not a readable gzip file"):
        read_all(data[: len(data) // 2], "csv.gz")


# -- CSV: rows ----------------------------------------------------------------------------
def test_rows_with_the_wrong_number_of_fields_are_reported_not_read() -> None:
    data = b"a,b,c\n1,2,3\n4,5\n6,7,8,9\n10,11,12\n"
    (chunk,) = read_all(data)
    assert chunk.bad_rows == [
        (2, "row has 2 fields, header has 3"),
        (3, "row has 4 fields, header has 3"),
    ]
    assert chunk.frame.index.tolist() == [1, 4]
    assert chunk.frame.values.tolist() == [["1", "2", "3"], ["10", "11", "12"]]
    assert chunk.raw_lines == [b"1,2,3", b"10,11,12"]
    assert chunk.first_row == 1


def test_a_chunk_of_bad_rows_only_keeps_its_numbers() -> None:
    chunks = read_all(b"a,b\n1,2\n3\n4,5\n", chunk_rows=1)
    assert [(c.first_row, len(c.frame), c.bad_rows) for c in chunks] == [
        (1, 1, []),
        (2, 0, [(2, "row has 1 field, header has 2")]),
        (3, 1, []),
    ]


@pytest.mark.parametrize("chunk_rows", [1, 2, 3, 100])
def test_quotes_commas_and_newlines_read_as_the_csv_module_reads_them(chunk_rows: int) -> None:
    expected = list(csv.reader(io.StringIO(TRICKY.decode(), newline="")))
    chunks = read_all(TRICKY, chunk_rows=chunk_rows)
    assert all(not c.bad_rows for c in chunks)
    frame = joined(chunks)
    assert list(frame.columns) == expected[0]
    assert frame.values.tolist() == expected[1:]
    assert frame.index.tolist() == list(range(1, 10))
    raw = [line for c in chunks for line in c.raw_lines or []]
    assert raw[1] == b'2,"two\r\nlines, and ""quotes""",2'  # the record's own line endings kept
    assert raw[2] == b"3,plain,"  # the \r\n ending left out


def test_short_reads_give_the_same_chunks() -> None:
    expected = read_all(TRICKY, chunk_rows=2)
    got = list(read_chunks(ShortReads(TRICKY, step=3), "csv", chunk_rows=2))  # type: ignore[arg-type]
    assert [c.raw_lines for c in got] == [c.raw_lines for c in expected]
    assert joined(got).equals(joined(expected))


def test_chunk_boundaries_keep_every_row_and_its_number() -> None:
    data = churn_csv(2000)
    chunks = read_all(data, chunk_rows=7)
    assert [len(c.frame) for c in chunks] == [7] * 285 + [5]
    assert [c.first_row for c in chunks] == list(range(1, 2001, 7))
    frame = joined(chunks)
    expected = pd.read_csv(io.BytesIO(data), dtype=object, keep_default_na=False)
    assert frame.index.tolist() == list(range(1, 2001))
    assert frame.reset_index(drop=True).equals(expected)
    raw = [line for c in chunks for line in c.raw_lines or []]
    assert raw == data.splitlines()[1:]


def test_quoted_newlines_across_blocks() -> None:
    # Rows long enough that 64 KiB blocks end inside quoted fields.
    rows = [f'{i},"{"x" * (i % 97)}\n{i}, ""q""",{i}' for i in range(3000)]
    data = ("id,text,n\n" + "\n".join(rows) + "\n").encode()
    frame = joined(read_all(data, chunk_rows=11))
    expected = list(csv.reader(io.StringIO(data.decode(), newline="")))[1:]
    assert frame.values.tolist() == expected


def test_crlf_file_reads_like_lf() -> None:
    data = churn_csv()
    crlf = data.replace(b"\n", b"\r\n")
    assert joined(read_all(crlf, chunk_rows=50)).equals(joined(read_all(data, chunk_rows=50)))


def test_empty_fields_stay_empty_text() -> None:
    (chunk,) = read_all(b"a,b,c\n,NA,null\n")
    assert chunk.frame.values.tolist() == [["", "NA", "null"]]
    assert chunk.frame.dtypes.tolist() == [object, object, object]


def test_gzipped_csv_reads_like_csv() -> None:
    data = churn_csv()
    plain = joined(read_all(data, chunk_rows=64))
    assert joined(read_all(gzip.compress(data), "csv.gz", chunk_rows=64)).equals(plain)
    # The caller may hand over the stream already unzipped.
    assert joined(read_all(data, "csv.gz", chunk_rows=64)).equals(plain)


def test_rows_pandas_cannot_read_are_read_as_the_csv_module_does(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    expected = joined(read_all(TRICKY, chunk_rows=4))
    monkeypatch.setattr("chalicelib.batch.formats._csv._read_csv", lambda *args: None)
    assert joined(read_all(TRICKY, chunk_rows=4)).equals(expected)


def test_numbers_come_as_floats_where_they_parse() -> None:
    data = b"age,plan\n41,basic\n,premium\nNA,basic\n"
    (chunk,) = read_all(data, numbers=["age", "not_a_column"], missing={"age": ["NA"]})
    assert chunk.frame["age"].dtype == np.float64
    assert chunk.frame["age"].tolist()[0] == 41.0
    assert chunk.frame["age"].isna().tolist() == [False, True, True]
    assert chunk.frame["plan"].dtype == object


def test_only_empty_cells_and_the_columns_markers_are_missing_numbers() -> None:
    data = b"age,plan\n41,basic\n,premium\nNA,basic\n"
    (chunk,) = read_all(data, numbers=["age"])
    assert chunk.frame["age"].tolist() == ["41", "", "NA"]  # text: validation says why


def test_a_chunk_with_text_in_a_number_column_stays_text() -> None:
    data = b"age,plan\n41,basic\n42,basic\nabc,basic\n43,basic\n"
    first, second = read_all(data, chunk_rows=2, numbers=["age"])
    assert first.frame["age"].dtype == np.float64
    assert second.frame["age"].tolist() == ["abc", "43"]


def test_columns_reads_a_subset() -> None:
    chunks = read_all(churn_csv(), columns=["plan", "age"])
    assert list(chunks[0].frame.columns) == ["plan", "age"]
    assert chunks[0].raw_lines is None
    with pytest.raises(InvalidInputError, match="missing columns: nope, gone"):
        read_all(churn_csv(), columns=["age", "nope", "gone"])


@pytest.mark.parametrize("before", [b"", b"1,x,y\n"])
def test_a_last_record_without_line_ending_keeps_its_quoted_newline(before: bytes) -> None:
    data = b"id,text,n\n" + before + b'2,"two\nlines",2'
    rows = joined(read_all(data, chunk_rows=1))
    assert rows["text"].tolist()[-1] == "two\nlines"
    assert read_all(data)[-1].raw_lines[-1] == b'2,"two\nlines",2'
