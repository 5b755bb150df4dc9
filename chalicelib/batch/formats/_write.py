"""Scored chunks written back as CSV or JSON Lines: the input rows as they came, then the
prediction ids and the result columns. Parquet is written by ParquetWriter (_parquet), a row
group per chunk.

The ids come as a numpy array of ASCII bytes (core.new_prediction_ids) and are written as
they are: hex digits need no quoting, so no Python call is made per id.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from itertools import compress
from typing import TYPE_CHECKING, Any, BinaryIO

import numpy as np

from chalicelib.batch.formats._chunk import ID_COLUMN, Chunk

if TYPE_CHECKING:
    import numpy.typing as npt
    import pandas as pd


def write_chunk(
    out: BinaryIO,
    chunk: Chunk,
    results: pd.DataFrame,
    fmt: str,
    *,
    header: bool,
    keep_columns: Sequence[str] | None = None,
    scored: npt.ArrayLike | None = None,
    ids: np.ndarray | None = None,
) -> None:
    """Write a chunk's scored rows: input columns (all, or `keep_columns`), then the
    `prediction_id` column when `ids` are given, then `results`.

    `scored` is a boolean mask over `chunk.frame`'s rows (None: every row); `results` and
    `ids` (bytes, dtype S) have one row per scored row, in order. csv.gz is written as CSV
    (the caller compresses `out`); Parquet goes through ParquetWriter.
    """
    mask = _scored_mask(chunk, scored, len(results))
    if ids is not None and len(ids) != len(results):
        raise ValueError(f"{len(ids)} ids for {len(results)} scored rows")
    if fmt in ("csv", "csv.gz"):
        out.write(_csv_output(chunk, results, mask, header, keep_columns, ids))
    elif fmt == "jsonl":
        out.write(_jsonl_output(chunk, results, mask, keep_columns, ids))
    else:
        raise ValueError(
            f"write_chunk writes csv, csv.gz and jsonl, not {fmt!r}; use ParquetWriter"
        )


def _scored_mask(chunk: Chunk, scored: npt.ArrayLike | None, results: int) -> np.ndarray:
    rows = len(chunk.frame)
    mask = np.ones(rows, bool) if scored is None else np.asarray(scored, dtype=bool)
    if mask.shape != (rows,):
        raise ValueError(f"scored has {mask.size} values for a chunk of {rows} rows")
    if int(mask.sum()) != results:
        raise ValueError(f"results has {results} rows for {int(mask.sum())} scored rows")
    return mask


def _csv_output(
    chunk: Chunk,
    results: pd.DataFrame,
    mask: np.ndarray,
    header: bool,
    keep: Sequence[str] | None,
    ids: np.ndarray | None,
) -> bytes:
    echo = keep is None and chunk.raw_lines is not None and len(chunk.raw_lines) == len(mask)
    inputs = list(chunk.frame.columns) if keep is None else list(keep)
    outputs = ([ID_COLUMN] if ids is not None else []) + list(map(str, results.columns))
    head = _csv_record(list(map(str, inputs)) + outputs) if header else b""
    if not mask.any():
        return head
    columns = [_csv_texts(results[c]) for c in results.columns]
    if ids is not None:
        columns.insert(0, ids.tolist())
    if echo:
        assert chunk.raw_lines is not None
        raw = chunk.raw_lines if mask.all() else list(compress(chunk.raw_lines, mask))
        columns.insert(0, raw)
    else:
        sub = chunk.frame.loc[mask, inputs]
        columns[:0] = [_csv_texts(sub[c]) for c in inputs]
    return head + b"\n".join(map(b",".join, zip(*columns, strict=True))) + b"\n"


def _csv_record(values: list[str]) -> bytes:
    return b",".join(_csv_field(v) for v in values) + b"\n"


def _csv_field(text: str) -> bytes:
    if any(c in text for c in ',"\n\r'):
        return ('"' + text.replace('"', '""') + '"').encode()
    return text.encode()


def _csv_texts(series: pd.Series) -> list[bytes]:
    """A column as CSV fields: shortest round-trip floats, "" for missing, quoted as needed."""
    return _texts(series, _csv_value, b"")


def _csv_value(value: Any) -> bytes:
    return _csv_field(str(value))


def _texts(series: pd.Series, text_of: Callable[[Any], bytes], missing: bytes) -> list[bytes]:
    """Each value's text: numbers in bulk, other values once per distinct value."""
    values = series.to_numpy()
    if values.dtype.kind == "f":
        texts = [repr(v).encode() for v in values.tolist()]
        for i in np.flatnonzero(~np.isfinite(values)).tolist():
            texts[i] = missing
        return texts
    if values.dtype.kind in "iu":
        return values.astype("S").tolist()
    return _texts_by_value(series, text_of, missing)


def _texts_by_value(
    series: pd.Series, text_of: Callable[[Any], bytes], missing: bytes
) -> list[bytes]:
    import pandas as pd

    codes, uniques = pd.factorize(series, use_na_sentinel=True)
    table = [text_of(_plain(v)) for v in np.asarray(uniques, dtype=object).tolist()]
    table.append(missing)  # code -1
    return [table[c] for c in codes.tolist()]


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def _jsonl_output(
    chunk: Chunk,
    results: pd.DataFrame,
    mask: np.ndarray,
    keep: Sequence[str] | None,
    ids: np.ndarray | None,
) -> bytes:
    if not mask.any():
        return b""
    keys = [json.dumps(str(c)).encode() + b":" for c in results.columns]
    values = [_json_texts(results[c]) for c in results.columns]
    pairs = [[k + v for v in column] for k, column in zip(keys, values, strict=True)]
    if ids is not None:
        pairs.insert(0, _json_id_pairs(ids))
    tails = [b",".join(p) + b"}" for p in zip(*pairs, strict=True)] if pairs else None
    heads = _jsonl_heads(chunk, mask, keep)
    if tails is None:
        return b"\n".join(h + b"}" for h in heads) + b"\n"
    lines = (
        h + (b"," if not h.endswith(b"{") else b"") + t for h, t in zip(heads, tails, strict=True)
    )
    return b"\n".join(lines) + b"\n"


def _json_id_pairs(ids: np.ndarray) -> list[bytes]:
    """`"prediction_id":"<id>"` for each id, assembled as one byte array (no call per row)."""
    head, tail = json.dumps(ID_COLUMN).encode() + b':"', b'"'
    width = len(head) + ids.itemsize + len(tail)
    out = np.empty((len(ids), width), dtype=np.uint8)
    out[:, : len(head)] = np.frombuffer(head, dtype=np.uint8)
    out[:, len(head) : width - 1] = ids.view(np.uint8).reshape(len(ids), ids.itemsize)
    out[:, width - 1] = tail[0]
    return out.view(f"S{width}").ravel().tolist()


def _jsonl_heads(chunk: Chunk, mask: np.ndarray, keep: Sequence[str] | None) -> list[bytes]:
    """Each scored row's input object without its closing brace."""
    raw = chunk.raw_lines
    if keep is None and raw is not None and len(raw) == len(mask):
        rows = raw if mask.all() else list(compress(raw, mask))
        return [line.rstrip()[:-1].rstrip() for line in rows]
    names = list(chunk.frame.columns) if keep is None else list(keep)
    sub = chunk.frame.loc[mask, names]
    values = sub.astype(object).where(sub.notna(), None).to_numpy(dtype=object).tolist()
    return [
        json.dumps(dict(zip(names, row, strict=True)), default=_json_default).encode()[:-1]
        for row in values
    ]


def _json_texts(series: pd.Series) -> list[bytes]:
    """A column as JSON values: shortest round-trip floats, null for missing or non-finite."""
    return _texts(series, _json_bytes, b"null")


def _json_bytes(value: Any) -> bytes:
    return json.dumps(value, default=_json_default).encode()


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    return str(value)
