"""Batch files read in chunks and written back with their scores: CSV (plain or gzipped),
JSON Lines and Parquet. Pure: binary streams and DataFrames in, no AWS.

CSV and JSONL rows keep their original bytes, so a scored file echoes the input as it came
and only the result columns are serialized. Rows that cannot be read (a wrong number of
fields, a line that is not a JSON object) are reported per chunk, never as a file error.
Row numbers count data rows from 1: the CSV header and blank lines are not rows. Where a CSV
or JSONL record ends is decided in one place (_records), which the fan-out planner uses too.
"""

from typing import TYPE_CHECKING

from chalicelib._lazy import lazy_exports

if TYPE_CHECKING:  # what lazy_exports loads on first use
    from chalicelib.batch.formats._chunk import FORMATS, ID_COLUMN, Chunk, format_of
    from chalicelib.batch.formats._parquet import ParquetWriter
    from chalicelib.batch.formats._read import read_chunks
    from chalicelib.batch.formats._write import write_chunk

__getattr__, __dir__, __all__ = lazy_exports(__name__, __file__)
