"""read_chunks: a batch file of any format as chunks of rows."""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping, Sequence
from typing import BinaryIO

from chalicelib.batch.formats._chunk import FORMATS, Chunk
from chalicelib.batch.formats._csv import csv_chunks
from chalicelib.batch.formats._jsonl import jsonl_chunks
from chalicelib.batch.formats._parquet import parquet_chunks


def read_chunks(
    stream: BinaryIO,
    fmt: str,
    *,
    chunk_rows: int = 50_000,
    columns: Sequence[str] | None = None,
    numbers: Collection[str] = (),
    missing: Mapping[str, Collection[str]] | None = None,
) -> Iterator[Chunk]:
    """Chunks of at most `chunk_rows` rows of a file; InvalidInputError if it is unreadable.

    `columns` reads only those columns (then CSV chunks carry no raw lines). CSV `numbers`
    columns come as float64 in chunks where all their values parse, which saves most of the
    reading and checking time; as text in the others. Only an empty cell, or text `missing`
    lists for the column, is NaN there. Parquet needs a seekable
    stream; csv and csv.gz both read plain or gzipped bytes.
    """
    if chunk_rows < 1:
        raise ValueError("chunk_rows must be at least 1")
    if fmt in ("csv", "csv.gz"):
        return csv_chunks(stream, chunk_rows, columns, numbers, missing or {})
    if fmt == "jsonl":
        return jsonl_chunks(stream, chunk_rows, columns)
    if fmt == "parquet":
        return parquet_chunks(stream, chunk_rows, columns)
    raise ValueError(f"unknown batch format {fmt!r}; expected one of {', '.join(FORMATS)}")
