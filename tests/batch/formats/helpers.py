"""Shared by the format tests: sample data, reading and scoring helpers."""

from __future__ import annotations

import io
from functools import cache
from pathlib import Path
from typing import Any

import fastparquet
import numpy as np
import pandas as pd

from chalicelib.batch import Chunk, read_chunks, write_chunk
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


def parquet_file(tmp_path: Path, frame: pd.DataFrame, groups: list[int] | None = None) -> Path:
    path = tmp_path / "in.parquet"
    fastparquet.write(str(path), frame, row_group_offsets=groups, write_index=False)
    return path


def read_parquet(path: Path, **kwargs: Any) -> list[Chunk]:
    with path.open("rb") as stream:
        return list(read_chunks(stream, "parquet", **kwargs))


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
