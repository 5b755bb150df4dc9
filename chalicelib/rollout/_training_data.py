"""Labelled training files read the way batch scoring reads files, for retraining.

A challenger must be fitted on the values and dtypes its champion was fitted on, so a file
under `training/<model>/` goes through the batch readers and the champion's column
descriptions (an empty cell is missing; "NA" is a category unless the column lists it as a
marker; ints stay ints; categories keep their dtype). Rows that batch scoring would reject
are left out and counted. The target is read as the champion's classes are typed (the text
"1" of a CSV file is the class 1), or as a number for regressors.
"""

from __future__ import annotations

import gzip
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from chalicelib.batch import check_frame, format_of, number_columns, read_chunks
from chalicelib.core import InvalidInputError
from chalicelib.stats import class_key

# .json files hold JSON lines too (what people export from tools that call them that).
_FORMATS = {".json": "jsonl"}


@dataclass
class TrainingFile:
    """One labelled file as the model reads it: features and target, and rows left out."""

    frame: Any  # features in model order, then the target
    rejected: int


def readable(key: str) -> bool:
    """Whether a key names a training file this reader reads."""
    return _format(key) is not None


def read_training_file(
    key: str,
    body: bytes,
    features: Sequence[Mapping[str, Any]],
    target: str,
    *,
    task: str,
    classes: Sequence[Any] | None,
) -> TrainingFile:
    """The features and target of one training file; InvalidInputError naming what is wrong."""
    import pandas as pd

    fmt = _format(key)
    if fmt is None:
        raise InvalidInputError(f"training file {key} is not .csv, .csv.gz, .jsonl or .parquet")
    stream: Any = io.BytesIO(body)
    if fmt == "csv.gz":
        stream = gzip.GzipFile(fileobj=stream)
    numbers = number_columns(features)
    frames, rejected = [], 0
    try:
        for chunk in read_chunks(stream, fmt, numbers=numbers, missing=numbers):
            _check_columns(list(chunk.frame.columns), [*(f["name"] for f in features), target])
            checked = check_frame(
                chunk.frame,
                features,
                first_row=chunk.first_row,
                unknown_categories="accept",
                strings=fmt in ("csv", "csv.gz"),
            )
            rejected += len(chunk.bad_rows) + int((~checked.scored).sum())
            frame = checked.model_input
            labels = chunk.frame[target][checked.scored]
            frame[target] = target_values(labels, task, classes, text=fmt in ("csv", "csv.gz"))
            frames.append(frame)
    except InvalidInputError as exc:
        raise InvalidInputError(f"training file {key}: {exc.message}") from None
    except (ValueError, OSError) as exc:
        raise InvalidInputError(f"training file {key} could not be read: {exc}") from None
    if not frames:
        return TrainingFile(pd.DataFrame(columns=[*(f["name"] for f in features), target]), 0)
    return TrainingFile(pd.concat(frames, ignore_index=True), rejected)


def target_values(labels: Any, task: str, classes: Sequence[Any] | None, *, text: bool) -> Any:
    """Labels as the model's classes are typed (a class it never had stays as written), or
    numbers for regressors; missing or blank labels as NaN."""
    import numpy as np
    import pandas as pd

    values = labels.to_numpy(dtype=object, na_value=None)
    if text:
        values = np.array([None if v is None or not str(v).strip() else v for v in values])
    if task != "classification":
        return pd.to_numeric(pd.Series(values, index=labels.index), errors="coerce")
    typed = {class_key(c): c for c in classes or []}
    mapped = [None if v is None else typed.get(class_key(v), v) for v in values]
    series = pd.Series(mapped, index=labels.index, dtype=object)
    return series.infer_objects()


def _check_columns(present: list[str], needed: list[str]) -> None:
    missing = [c for c in needed if c not in present]
    if missing:
        raise InvalidInputError(
            f"lacks column(s) {', '.join(missing)}; every file needs the features and the target"
        )


def _format(key: str) -> str | None:
    lower = key.lower()
    for suffix, fmt in _FORMATS.items():
        if lower.endswith(suffix):
            return fmt
    return format_of(key)
