"""What every batch format shares: which formats there are, and the chunk of rows they read."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from chalicelib.core import InvalidInputError

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

FORMATS = ("csv", "csv.gz", "parquet", "jsonl")
# The column of a scored file that names each row's prediction (a UUIDv7, core._ids), so
# ground truth can name a batch prediction as it names an HTTP one.
ID_COLUMN = "prediction_id"
# Longest first: "x.csv.gz" must not read as "csv".
_SUFFIXES = ((".csv.gz", "csv.gz"), (".csv", "csv"), (".parquet", "parquet"), (".jsonl", "jsonl"))


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


def row_index(rows: np.ndarray) -> pd.Index:
    """The frame index of these 1-based row numbers (a range when they are consecutive)."""
    import pandas as pd

    if len(rows) and rows[-1] - rows[0] == len(rows) - 1:
        return pd.RangeIndex(int(rows[0]), int(rows[-1]) + 1)
    return pd.Index(rows, dtype="int64")


def selected(names: Sequence[str], columns: Sequence[str] | None) -> list[str] | None:
    """The columns to read (None: all); InvalidInputError naming the ones the file lacks."""
    if columns is None:
        return None
    missing = [c for c in columns if c not in set(names)]
    if missing:
        raise InvalidInputError(f"missing columns: {', '.join(missing)}")
    return list(columns)
