"""Parquet files: read in chunks of rows (row group by row group) and written back a row
group per chunk. fastparquet, since the Lambda package has no pyarrow.
"""

from __future__ import annotations

import io
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any, BinaryIO

import numpy as np

from chalicelib.batch.formats._chunk import Chunk, row_index, selected
from chalicelib.core import InvalidInputError

if TYPE_CHECKING:
    import pandas as pd


def parquet_chunks(
    stream: BinaryIO, chunk_rows: int, columns: Sequence[str] | None
) -> Iterator[Chunk]:
    """Chunks of at most `chunk_rows` rows of a Parquet file (a seekable stream)."""
    import fastparquet

    stream.seek(0, io.SEEK_END)
    if stream.tell() == 0:
        raise InvalidInputError("file is empty")
    stream.seek(0)
    try:
        parquet = fastparquet.ParquetFile(stream)
    except Exception as exc:  # noqa: BLE001 - corrupt files fail in many ways inside fastparquet
        raise _not_parquet(exc) from None
    chosen = selected(list(parquet.columns), columns)
    row = 1
    for part in _row_groups(parquet, chosen):
        for start in range(0, len(part), chunk_rows):
            frame = part.iloc[start : start + chunk_rows]
            frame.index = row_index(np.arange(row, row + len(frame)))
            yield Chunk(frame, row, None)
            row += len(frame)


def _row_groups(parquet: Any, chosen: list[str] | None) -> Iterator[pd.DataFrame]:
    """Each row group as a frame, string columns as object (pandas' str dtype needs pyarrow
    to be fast, and the Lambda package has none)."""
    groups = iter(parquet.iter_row_groups(columns=chosen, index=False))
    while True:
        try:
            part = next(groups)
        except StopIteration:
            return
        except Exception as exc:  # noqa: BLE001 - a damaged row group fails in many ways
            raise _not_parquet(exc) from None
        yield _objects_for_strings(part)


def _objects_for_strings(frame: pd.DataFrame) -> pd.DataFrame:
    import pandas as pd

    strings = [c for c in frame.columns if isinstance(frame[c].dtype, pd.StringDtype)]
    if not strings:
        return frame
    frame = frame.copy()
    for name in strings:
        values = frame[name].to_numpy(dtype=object, na_value=None)
        frame[name] = pd.Series(values, index=frame.index, dtype=object)  # else str again
    return frame


def _not_parquet(exc: Exception) -> InvalidInputError:
    return InvalidInputError(f"not a readable Parquet file: {str(exc)[:200] or type(exc).__name__}")


class ParquetWriter:
    """One Parquet file written a row group per `append`, every group with the first's schema."""

    def __init__(self, path: str, *, compression: str = "SNAPPY") -> None:
        self.path = path
        self.rows = 0
        self._compression = compression
        self._dtypes: dict[str, Any] | None = None
        self._encodings: dict[str, str] = {}
        self._empty: pd.DataFrame | None = None

    def append(self, frame: pd.DataFrame) -> None:
        """Add `frame` as a row group (an empty frame only matters if nothing else comes)."""
        import fastparquet

        frame = _objects_for_strings(frame.reset_index(drop=True))
        if not len(frame):
            if self._dtypes is None:
                self._empty = frame  # its dtypes say little (results may be all object)
            return
        frame = self._conform(frame)
        fastparquet.write(
            self.path,
            frame,
            write_index=False,
            append=self.rows > 0,
            compression=self._compression,
            object_encoding=self._encodings,
        )
        self.rows += len(frame)

    def close(self) -> None:
        """Finish the file; with no rows appended, write one with the schema and no rows."""
        import fastparquet

        if self.rows == 0 and self._empty is not None:
            encodings = {str(n): "utf8" for n, d in self._empty.dtypes.items() if _is_object(d)}
            fastparquet.write(self.path, self._empty, write_index=False, object_encoding=encodings)

    def _conform(self, frame: pd.DataFrame) -> pd.DataFrame:
        """`frame` with the first frame's dtypes: fastparquet appends only identical schemas."""
        if self._dtypes is None:
            self._dtypes = dict(frame.dtypes.items())
            self._encodings = {
                str(name): _object_encoding(frame[name])
                for name, dtype in self._dtypes.items()
                if _is_object(dtype)
            }
            return frame
        if list(frame.columns) != list(self._dtypes):
            raise ValueError(
                f"columns {list(frame.columns)} differ from the first chunk's {list(self._dtypes)}"
            )
        changed = {n: d for n, d in self._dtypes.items() if frame[n].dtype != d}
        if changed:
            try:
                frame = frame.astype(changed)
            except (TypeError, ValueError) as exc:
                raise ValueError(f"a column changed type between chunks: {exc}") from None
        return frame


def _is_object(dtype: Any) -> bool:
    return isinstance(dtype, np.dtype) and dtype.kind == "O"


def _object_encoding(series: pd.Series) -> str:
    """The Parquet encoding of an object column, from its first value."""
    values = series.dropna()
    first = values.iloc[0] if len(values) else None
    if isinstance(first, bytes):
        return "bytes"
    if isinstance(first, bool | np.bool_):
        return "bool"
    if isinstance(first, int | np.integer):
        return "int"
    if isinstance(first, float | np.floating):
        return "float"
    if isinstance(first, dict | list):
        return "json"
    return "utf8"
