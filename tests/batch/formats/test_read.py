from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from chalicelib.batch import FORMATS, format_of
from sklambda.sample_data import churn_frame
from tests.batch.formats.helpers import parquet_file, read_all


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


def test_works_without_pyarrow(tmp_path: Path) -> None:
    """The Lambda package has no pyarrow: every format reads and writes without it."""
    path = parquet_file(tmp_path, churn_frame(30), [0, 10])
    script = f"""
import sys
sys.modules["pyarrow"] = None  # as if not installed
import io, gzip
import numpy as np, pandas as pd
from chalicelib.batch.formats import ParquetWriter, read_chunks, write_chunk
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
