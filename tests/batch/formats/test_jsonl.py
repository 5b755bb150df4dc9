from __future__ import annotations

import pandas as pd
import pytest

from chalicelib.core import InvalidInputError
from tests.batch.formats.helpers import read_all


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
