from __future__ import annotations

import csv
import gzip
import io
import json
import subprocess
import sys
from functools import cache
from pathlib import Path
from typing import Any

import fastparquet
import numpy as np
import pandas as pd
import pytest

from chalicelib.batch import FORMATS, Chunk, ParquetWriter, format_of, read_chunks, write_chunk
from chalicelib.core import InvalidInputError
from sklambda.sample_data import churn_frame


@cache
def churn_csv(rows: int = 500) -> bytes:
    return churn_frame(rows, seed=3).to_csv(index=False).encode()


def read_all(data: bytes, fmt: str = "csv", **kwargs: Any) -> list[Chunk]:
    return list(read_chunks(io.BytesIO(data), fmt, **kwargs))


def joined(chunks: list[Chunk]) -> pd.DataFrame:
    return pd.concat([c.frame for c in chunks])


def plain(frame: pd.DataFrame) -> list[list[Any]]:
    """Rows of Python values, None for any kind of missing."""
    return frame.astype(object).where(frame.notna(), None).values.tolist()


def fake_results(rows: int, seed: int = 0) -> pd.DataFrame:
    """Results as the scorer makes them: labels, probabilities, the version."""
    p1 = np.random.default_rng(seed).random(rows)
    labels = np.asarray([0, 1], dtype=object)[(p1 > 0.5).astype(int)]
    return pd.DataFrame(
        {"prediction": labels, "proba_0": 1 - p1, "proba_1": p1, "model_version": 3}
    )


class ShortReads(io.RawIOBase):
    """A stream that hands out a few bytes per read, like a slow network body."""

    def __init__(self, data: bytes, step: int = 5) -> None:
        self._data = io.BytesIO(data)
        self._step = step

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        return self._data.read(min(self._step, size if size >= 0 else self._step))


# -- format_of ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("key", "fmt"),
    [
        ("batch/incoming/churn/a.csv", "csv"),
        ("a.CSV", "csv"),
        ("a.csv.gz", "csv.gz"),
        ("A.Csv.GZ", "csv.gz"),
        ("a.parquet", "parquet"),
        ("a.jsonl", "jsonl"),
        ("a.json", None),
        ("a.xlsx", None),
        ("a.gz", None),
        ("csv", None),
    ],
)
def test_format_of_reads_the_suffix(key: str, fmt: str | None) -> None:
    assert format_of(key) == fmt
    assert fmt is None or fmt in FORMATS


def test_unknown_format_and_bad_chunk_size_are_programming_errors() -> None:
    with pytest.raises(ValueError, match="unknown batch format"):
        read_all(b"a\n1\n", "xlsx")
    with pytest.raises(ValueError, match="chunk_rows"):
        read_all(b"a\n1\n", chunk_rows=0)


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


TRICKY = (
    b"id,text,n\r\n"
    b'1,"a, b",1.5\r\n'
    b'2,"two\r\nlines, and ""quotes""",2\r\n'
    b"3,plain,\r\n"
    b'4,"",4\r\n'
    b'5,6" tall,5\r\n'
    b'6,"""quoted""",6\r\n'
    b'7,"x\n\ny",7\n'
    b'8,"ends with a quote""",8\n'
    b"9,,9"
)


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
    monkeypatch.setattr("chalicelib.batch._formats._read_csv", lambda *args: None)
    assert joined(read_all(TRICKY, chunk_rows=4)).equals(expected)


def test_numbers_come_as_floats_where_they_parse() -> None:
    data = b"age,plan\n41,basic\n,premium\nNA,basic\n"
    (chunk,) = read_all(data, numbers=["age", "not_a_column"])
    assert chunk.frame["age"].dtype == np.float64
    assert chunk.frame["age"].tolist()[0] == 41.0
    assert chunk.frame["age"].isna().tolist() == [False, True, True]
    assert chunk.frame["plan"].dtype == object


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


# -- JSON Lines ---------------------------------------------------------------------------
def test_jsonl_bad_lines_are_rows_not_file_errors() -> None:
    data = b'{"age": 41, "plan": "basic"}\n\n[1, 2]\n{"age": 52\n"text"\n{"plan": "premium"}\n'
    (chunk,) = read_all(data, "jsonl")
    assert chunk.bad_rows == [
        (2, "expected a JSON object, got an array"),
        (3, "not valid JSON: Expecting ',' delimiter (column 11)"),
        (4, "expected a JSON object, got a string"),
    ]
    assert chunk.frame.index.tolist() == [1, 5]
    assert chunk.frame.loc[1, "age"] == 41
    assert pd.isna(chunk.frame.loc[5, "age"])  # missing key: missing value
    assert chunk.raw_lines == [b'{"age": 41, "plan": "basic"}', b'{"plan": "premium"}']


def test_jsonl_columns_carry_over_chunks() -> None:
    data = b'{"a": 1}\n{"a": 2, "b": true}\n{"c": "x"}\n'
    chunks = read_all(data, "jsonl", chunk_rows=1)
    assert [list(c.frame.columns) for c in chunks] == [["a"], ["a", "b"], ["a", "b", "c"]]
    assert [c.first_row for c in chunks] == [1, 2, 3]
    assert chunks[1].frame.loc[2, "b"] is True


def test_jsonl_file_errors() -> None:
    with pytest.raises(InvalidInputError, match="file is empty"):
        read_all(b"", "jsonl")
    with pytest.raises(InvalidInputError, match="not UTF-8"):
        read_all('{"city": "Montréal"}\n'.encode("latin-1"), "jsonl")
    assert read_all(b"\n  \n", "jsonl") == []


def test_jsonl_crlf_and_bom() -> None:
    (chunk,) = read_all(b'\xef\xbb\xbf{"a": 1}\r\n{"a": 2}\r\n', "jsonl")
    assert chunk.frame["a"].tolist() == [1, 2]


# -- Parquet ------------------------------------------------------------------------------
def parquet_file(tmp_path: Path, frame: pd.DataFrame, groups: list[int] | None = None) -> Path:
    path = tmp_path / "in.parquet"
    fastparquet.write(str(path), frame, row_group_offsets=groups, write_index=False)
    return path


def read_parquet(path: Path, **kwargs: Any) -> list[Chunk]:
    with path.open("rb") as stream:
        return list(read_chunks(stream, "parquet", **kwargs))


def test_parquet_row_groups_become_chunks(tmp_path: Path) -> None:
    frame = churn_frame(100, seed=4)
    path = parquet_file(tmp_path, frame, [0, 30, 60])
    chunks = read_parquet(path, chunk_rows=25)
    assert [(c.first_row, len(c.frame)) for c in chunks] == [
        (1, 25),
        (26, 5),
        (31, 25),
        (56, 5),
        (61, 25),
        (86, 15),
    ]
    got = joined(chunks)
    assert got.index.tolist() == list(range(1, 101))
    assert got["age"].dtype == np.float64
    assert got["plan"].dtype == object  # not pandas' str dtype, which wants pyarrow
    assert plain(got) == plain(frame)
    assert all(c.raw_lines is None and not c.bad_rows for c in chunks)


def test_parquet_columns_subset(tmp_path: Path) -> None:
    path = parquet_file(tmp_path, churn_frame(10))
    (chunk,) = read_parquet(path, columns=["plan", "age"])
    assert list(chunk.frame.columns) == ["plan", "age"]
    with pytest.raises(InvalidInputError, match="missing columns: nope"):
        read_parquet(path, columns=["nope"])


@pytest.mark.parametrize("cut", [0, 4, 100, -10])
def test_corrupt_parquet_is_an_error(tmp_path: Path, cut: int) -> None:
    data = parquet_file(tmp_path, churn_frame(50), [0, 25]).read_bytes()
    damaged = tmp_path / "damaged.parquet"
    if cut == 0:
        damaged.write_bytes(b"id,age\n1,2\n")  # a CSV named .parquet
    elif cut > 0:
        damaged.write_bytes(data[:cut])
    else:
        damaged.write_bytes(data[:200] + b"\x00" * 500 + data[700:])
    with pytest.raises(InvalidInputError, match="not a readable Parquet file"):
        read_parquet(damaged)


def test_empty_parquet_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.parquet"
    path.write_bytes(b"")
    with pytest.raises(InvalidInputError, match="file is empty"):
        read_parquet(path)


# -- writing ------------------------------------------------------------------------------
def score(chunks: list[Chunk], fmt: str, reject_every: int = 0, **kwargs: Any) -> bytes:
    """Write `chunks` with fake results, leaving out every `reject_every`-th row."""
    out = io.BytesIO()
    for i, chunk in enumerate(chunks):
        scored = np.ones(len(chunk.frame), bool)
        if reject_every:
            scored[np.asarray(chunk.frame.index) % reject_every == 0] = False
        results = fake_results(int(scored.sum()), seed=i)
        write_chunk(out, chunk, results, fmt, header=i == 0, scored=scored, **kwargs)
    return out.getvalue()


def test_csv_round_trip_keeps_inputs_and_appends_results() -> None:
    data = churn_csv(300)
    output = score(read_all(data, chunk_rows=7), "csv", reject_every=5)
    back = pd.read_csv(io.BytesIO(output), dtype=object, keep_default_na=False)
    original = pd.read_csv(io.BytesIO(data), dtype=object, keep_default_na=False)
    kept = original[(np.arange(1, 301) % 5) != 0].reset_index(drop=True)
    assert list(back.columns) == [*original.columns, *fake_results(1).columns]
    assert back[list(original.columns)].equals(kept)  # same values, same order
    assert back["model_version"].unique().tolist() == ["3"]
    assert set(back["prediction"]) == {"0", "1"}
    assert output.count(b"customer_id") == 1  # one header


def test_csv_output_echoes_rows_byte_for_byte() -> None:
    output = score(read_all(TRICKY, chunk_rows=3), "csv")
    lines = list(csv.reader(io.StringIO(output.decode(), newline="")))
    expected = list(csv.reader(io.StringIO(TRICKY.decode(), newline="")))
    assert [row[:3] for row in lines] == expected
    assert b'2,"two\r\nlines, and ""quotes""",2,' in output


def test_csv_floats_are_shortest_round_trip() -> None:
    (chunk,) = read_all(b"a\n1\n2\n3\n")
    results = pd.DataFrame({"p": [0.1, 1 / 3, np.nan], "label": ["a,b", 'say "hi"', None]})
    out = io.BytesIO()
    write_chunk(out, chunk, results, "csv", header=True, keep_columns=None)
    assert out.getvalue() == (b'a,p,label\n1,0.1,"a,b"\n2,0.3333333333333333,"say ""hi"""\n3,,\n')


def test_csv_keep_columns_writes_only_those() -> None:
    chunks = read_all(TRICKY, chunk_rows=4)
    output = score(chunks, "csv", keep_columns=["n", "text"])
    back = list(csv.reader(io.StringIO(output.decode(), newline="")))
    assert back[0] == ["n", "text", "prediction", "proba_0", "proba_1", "model_version"]
    assert [row[:2] for row in back[1:]] == [
        ["1.5", "a, b"],
        ["2", 'two\r\nlines, and "quotes"'],
        ["", "plain"],
        ["4", ""],
        ["5", '6" tall'],
        ["6", '"quoted"'],
        ["7", "x\n\ny"],
        ["8", 'ends with a quote"'],
        ["9", ""],
    ]


def test_csv_without_header_and_with_every_row_rejected() -> None:
    (chunk,) = read_all(b"a,b\n1,2\n")
    out = io.BytesIO()
    rejected = np.zeros(1, bool)
    write_chunk(out, chunk, fake_results(0), "csv", header=True, scored=rejected)
    assert out.getvalue() == b"a,b,prediction,proba_0,proba_1,model_version\n"
    out = io.BytesIO()
    write_chunk(out, chunk, fake_results(0), "csv", header=False, scored=rejected)
    write_chunk(out, chunk, fake_results(1), "csv", header=False)
    assert out.getvalue().count(b"\n") == 1 and out.getvalue().startswith(b"1,2,")


def test_results_must_match_the_scored_rows() -> None:
    (chunk,) = read_all(b"a\n1\n2\n")
    with pytest.raises(ValueError, match="results has 2 rows for 1 scored rows"):
        write_chunk(io.BytesIO(), chunk, fake_results(2), "csv", header=True, scored=[True, False])
    with pytest.raises(ValueError, match="scored has 3 values"):
        write_chunk(io.BytesIO(), chunk, fake_results(2), "csv", header=True, scored=[1, 1, 0])
    with pytest.raises(ValueError, match="ParquetWriter"):
        write_chunk(io.BytesIO(), chunk, fake_results(2), "parquet", header=True)


def test_csv_gz_round_trip() -> None:
    data = churn_csv(200)
    sink = io.BytesIO()
    with gzip.GzipFile(fileobj=sink, mode="wb") as zipped:
        for i, chunk in enumerate(read_all(gzip.compress(data), "csv.gz", chunk_rows=64)):
            results = fake_results(len(chunk.frame), seed=i)
            write_chunk(zipped, chunk, results, "csv.gz", header=i == 0)  # type: ignore[arg-type]
    back = joined(read_all(sink.getvalue(), "csv.gz"))
    original = pd.read_csv(io.BytesIO(data), dtype=object, keep_default_na=False)
    assert back[list(original.columns)].reset_index(drop=True).equals(original)
    assert float(back["proba_1"].iloc[0]) == fake_results(64, seed=0)["proba_1"].iloc[0]


def test_jsonl_round_trip_keeps_original_values() -> None:
    objects: list[dict[str, Any]] = [
        {"id": 7, "age": 41, "plan": "basic", "tags": ["a", "b"], "extra": {"k": None}},
        {"id": 8, "age": 52.5, "plan": None},
        {"id": 9, "plan": "premium", "big": 12345678901234567890},
        {"id": 10},
    ]
    data = "\n".join(json.dumps(o) for o in objects).encode()
    output = score(read_all(data, "jsonl", chunk_rows=3), "jsonl", reject_every=2)
    back = [json.loads(line) for line in output.splitlines()]
    results = ["prediction", "proba_0", "proba_1", "model_version"]
    assert [{k: v for k, v in b.items() if k not in results} for b in back] == [
        objects[0],
        objects[2],
    ]
    assert list(back[0]) == [*objects[0], *results]
    assert isinstance(back[0]["proba_1"], float) and back[0]["model_version"] == 3


def test_jsonl_keep_columns_and_empty_objects() -> None:
    data = b'{"id": 1, "age": 41.0, "x": "y"}\n{}\n'
    output = score(read_all(data, "jsonl"), "jsonl", keep_columns=["id", "age"])
    back = [json.loads(line) for line in output.splitlines()]
    assert [(b["id"], b["age"]) for b in back] == [(1, 41.0), (None, None)]
    output = score(read_all(b"{}\n{ }\n", "jsonl"), "jsonl")
    assert [sorted(json.loads(line)) for line in output.splitlines()] == [
        ["model_version", "prediction", "proba_0", "proba_1"]
    ] * 2


def test_parquet_round_trip_through_the_writer(tmp_path: Path) -> None:
    frame = churn_frame(120, seed=5)
    frame["count"] = pd.array(np.arange(120), dtype="Int64")
    path = parquet_file(tmp_path, frame, [0, 40, 80])
    out = tmp_path / "out.parquet"
    writer = ParquetWriter(str(out))
    expected = []
    for i, chunk in enumerate(read_parquet(path, chunk_rows=25)):
        scored = np.asarray(chunk.frame.index) % 4 != 0
        results = fake_results(int(scored.sum()), seed=i)
        joined_rows = pd.concat(
            [chunk.frame[scored].reset_index(drop=True), results.reset_index(drop=True)], axis=1
        )
        writer.append(joined_rows)
        expected.append(joined_rows)
    writer.close()
    back = fastparquet.ParquetFile(str(out))
    assert len(back.row_groups) == 6
    got = back.to_pandas()
    want = pd.concat(expected, ignore_index=True)
    assert list(got.columns) == list(want.columns)
    pd.testing.assert_frame_equal(got, want, check_dtype=False)
    assert writer.rows == 90


def test_parquet_writer_keeps_the_first_schema(tmp_path: Path) -> None:
    out = tmp_path / "out.parquet"
    writer = ParquetWriter(str(out))
    writer.append(
        pd.DataFrame({"id": pd.Series([], dtype=object), "p": pd.Series([], dtype=object)})
    )
    writer.append(pd.DataFrame({"id": ["a", "b"], "p": [0.5, 0.25], "v": 3}).drop(columns="v"))
    writer.append(
        pd.DataFrame({"id": pd.Series([None], dtype=object), "p": np.array([1], np.int64)})
    )
    writer.close()
    got = fastparquet.ParquetFile(str(out)).to_pandas()
    assert got["p"].tolist() == [0.5, 0.25, 1.0]
    assert got["id"].tolist()[:2] == ["a", "b"] and pd.isna(got["id"].iloc[2])


def test_parquet_writer_with_no_rows_writes_the_schema(tmp_path: Path) -> None:
    out = tmp_path / "out.parquet"
    writer = ParquetWriter(str(out))
    writer.append(pd.DataFrame({"id": pd.Series([], dtype=object), "p": []}))
    writer.close()
    got = fastparquet.ParquetFile(str(out)).to_pandas()
    assert list(got.columns) == ["id", "p"] and len(got) == 0


def test_works_without_pyarrow(tmp_path: Path) -> None:
    """The Lambda package has no pyarrow: every format reads and writes without it."""
    path = parquet_file(tmp_path, churn_frame(30), [0, 10])
    script = f"""
import sys
sys.modules["pyarrow"] = None  # as if not installed
import io, gzip
import numpy as np, pandas as pd
from chalicelib.batch._formats import ParquetWriter, read_chunks, write_chunk
from sklambda.sample_data import churn_frame
results = lambda n: pd.DataFrame({{"prediction": np.zeros(n, int), "proba_1": np.full(n, 0.5)}})
csv = churn_frame(30).to_csv(index=False).encode()
for fmt, data in (("csv", csv), ("csv.gz", gzip.compress(csv)), ("jsonl", b'{{"a": 1}}\\n')):
    for chunk in read_chunks(io.BytesIO(data), fmt):
        write_chunk(io.BytesIO(), chunk, results(len(chunk.frame)), fmt, header=True)
writer = ParquetWriter({str(tmp_path / "out.parquet")!r})
with open({str(path)!r}, "rb") as stream:
    for chunk in read_chunks(stream, "parquet"):
        frame = chunk.frame.reset_index(drop=True)
        writer.append(pd.concat([frame, results(len(frame))], axis=1))
writer.close()
assert "pyarrow" not in [m.split(".")[0] for m in sys.modules if sys.modules[m] is not None]
print("ok")
"""
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=False, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"
