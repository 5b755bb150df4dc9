from __future__ import annotations

from pathlib import Path

import fastparquet
import numpy as np
import pandas as pd
import pytest

from chalicelib.batch import ParquetWriter
from chalicelib.core import InvalidInputError
from sklambda.sample_data import churn_frame
from tests.batch.formats.helpers import fake_results, joined, parquet_file, plain, read_parquet

# -- Parquet ------------------------------------------------------------------------------


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
