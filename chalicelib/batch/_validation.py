"""Chunks of a batch file checked against a model's features, a column at a time.

The rules and messages are the HTTP API's (validation.py): its per-value checkers decide
every distinct category or flag, and every number numpy cannot parse in bulk. The unit
differs: a row with a problem is rejected on its own, with one entry per problem, and the
other rows are scored.

Missing values are scored as missing, the way the training frame held them: an empty or
blank CSV field, null and NaN in typed files, and the text markers a column's description
lists (e.g. "NA" in a number column of a training file written by R). No other text is
missing: "NA" for North America is a category. Infinite numbers are rejected as non-finite.
The scored rows' values become the training frame's dtypes (`scoring.model_series`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from chalicelib.core import ConfigError, InvalidInputError
from chalicelib.scoring import (
    NON_FINITE,
    UNKNOWN_CATEGORY_POLICIES,
    UNSEEN_SHOWN,
    InvalidValue,
    UnseenCategory,
    is_whole_dtype,
    model_series,
    value_checker,
)

# One more example than a warning quotes, so that it can tell there are more.
_EXAMPLES = UNSEEN_SHOWN + 1

# Kinds of object columns whose values all have one type, so that pandas cannot merge equal
# values of different types (True and 1, 1 and 1.0) when it finds the distinct ones.
_ONE_TYPE = frozenset({"string", "boolean", "integer", "floating", "empty"})

# What a value is, once checked.
_OK, _MISSING, _BAD, _UNSEEN = 0, 1, 2, 3

Features = Sequence[Mapping[str, Any]]
Verdict = tuple[int, Any]  # (_OK | _MISSING | _BAD | _UNSEEN, value or reason)


def check_columns(columns: Sequence[str], features: Features) -> None:
    """Raise InvalidInputError naming every feature with no column; other columns are fine."""
    present = {str(c) for c in columns}
    missing = [str(f["name"]) for f in features if str(f["name"]) not in present]
    if missing:
        raise InvalidInputError(
            f"missing columns: {', '.join(missing)}; the file needs a column for each of "
            "the model's features (other columns are kept and ignored)"
        )


def number_columns(features: Features) -> dict[str, list[str]]:
    """The number features and their missing markers: what the CSV reader can parse as float64
    up front (pass it as both `numbers` and `missing` to read_chunks)."""
    return {
        str(f["name"]): list(f.get("missing_markers") or ())
        for f in features
        if f.get("type") == "number"
    }


@dataclass
class FrameCheck:
    """A chunk's rows split into what the model scores and what is rejected, and why."""

    model_input: pd.DataFrame  # scored rows, features in model order, as in the training frame
    scored: np.ndarray  # bool mask over the chunk's rows
    rejected: list[tuple[int, str, str]]  # (row number, field, reason), by row then feature
    unknown_categories: int  # values of scored rows never seen in training (a metric)
    unknown_by_field: dict[str, set[str]] = field(default_factory=dict)  # a few examples


def check_frame(
    frame: pd.DataFrame,
    features: Features,
    *,
    first_row: int,
    unknown_categories: str = "warn",
    strings: bool = True,
) -> FrameCheck:
    """Check every feature column of `frame`; rows with any problem are rejected.

    `strings=True` means object columns hold CSV text (numbers and flags are parsed from it).
    Row numbers are `first_row` plus each row's offset in the frame's integer index (chunks
    number their rows there), or plus its position for any other index.
    """
    if unknown_categories not in UNKNOWN_CATEGORY_POLICIES:
        raise ConfigError(
            f"unknown_categories must be one of {', '.join(UNKNOWN_CATEGORY_POLICIES)}, "
            f"got {unknown_categories!r}"
        )
    check_columns(list(frame.columns), features)
    labels = {str(c): c for c in frame.columns}
    checked = [
        (name, _check_column(frame[labels[name]], f, unknown_categories, strings))
        for f in features
        for name in [str(f["name"])]
    ]
    scored = np.ones(len(frame), bool)
    for _, column in checked:
        scored[column.bad] = False
    rows = _row_numbers(frame.index, first_row)
    index = frame.index[scored]
    model_input = pd.DataFrame(
        {
            name: _model_column(column, scored, features[i], index)
            for i, (name, column) in enumerate(checked)
        },
        index=index,
    )
    count, examples = _unseen(checked, scored)
    return FrameCheck(model_input, scored, _rejected(checked, rows), count, examples)


@dataclass
class _Column:
    """One feature column, checked: model values for every row, the rows it rejects."""

    values: np.ndarray
    bad: np.ndarray  # positions
    reasons: list[str]  # one per bad position
    unseen: np.ndarray | None = None  # bool mask of accepted unseen categories


def _check_column(
    series: pd.Series, feature: Mapping[str, Any], policy: str, strings: bool
) -> _Column:
    kind = feature.get("type")
    values = _values(series)
    text = strings and values.dtype == object
    if kind == "number":
        return _numbers(values, feature, policy, text)
    if kind == "boolean":
        return _booleans(values, feature, policy, text)
    if kind in ("category", "datetime"):
        return _categories(values, feature, policy, text)
    return _Column(values, np.zeros(0, np.int64), [])  # a type this version does not check


def _values(series: pd.Series) -> np.ndarray:
    """A column as numpy: numbers as float64 (NaN for missing), anything else as objects."""
    dtype = series.dtype
    if isinstance(dtype, np.dtype) and dtype.kind in "fiubO":
        return series.to_numpy()
    if pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype):
        return series.to_numpy(dtype=np.float64, na_value=np.nan)  # nullable Int64, Float64
    return series.to_numpy(dtype=object, na_value=None)


# -- numbers ------------------------------------------------------------------------------
def _numbers(values: np.ndarray, feature: Mapping[str, Any], policy: str, text: bool) -> _Column:
    floats: np.ndarray | None
    if values.dtype.kind in "fiu":
        floats = values.astype(np.float64, copy=False)
    elif text:
        floats = _floats_from_text(values, _missing_text(feature))
    else:
        floats = _floats_from_objects(values)
    if floats is None:
        return _one_by_one(values, _verdict(feature, policy, text), np.float64)
    bad = np.flatnonzero(np.isinf(floats))
    reasons = [NON_FINITE] * len(bad)
    if is_whole_dtype(str(feature.get("dtype", ""))):
        # An int column cannot hold 2.5: the checker's message for each such value.
        check = value_checker(feature, policy, False)
        fractional = np.flatnonzero(np.isfinite(floats) & (np.floor(floats) != floats))
        for position in fractional.tolist():
            try:
                check(float(floats[position]))
            except InvalidValue as exc:
                reasons.append(exc.problem)
        order = np.argsort(np.concatenate([bad, fractional]), kind="stable")
        bad = np.concatenate([bad, fractional])[order]
        reasons = [reasons[i] for i in order.tolist()]
    return _Column(floats, bad, reasons)


def _missing_text(feature: Mapping[str, Any]) -> list[str]:
    """What a CSV cell of this feature holds when its value is missing."""
    return ["", *(feature.get("missing_markers") or ())]


def _floats_from_text(values: np.ndarray, missing_text: list[str]) -> np.ndarray | None:
    """Text parsed by float() in C, as the reference parser does; None if some value is not
    a number or a missing marker (the caller then looks at each value)."""
    try:
        floats = values.astype(np.float64)
    except (TypeError, ValueError):
        pass
    else:
        # float() reads "nan" and "inf" too: only the first is not a number the file meant.
        if not np.isnan(floats).any():
            return floats
    stripped = pd.Series(values, copy=False).str.strip()
    missing = stripped.isin(missing_text).to_numpy()
    if not missing.any():
        return None
    marked = values.copy()
    marked[missing] = "nan"
    try:
        floats = marked.astype(np.float64)
    except (TypeError, ValueError):
        return None
    # Text spelling NaN that is not a marker is a value the checker refuses, row by row.
    return floats if np.array_equal(np.isnan(floats), missing) else None


def _floats_from_objects(values: np.ndarray) -> np.ndarray | None:
    """Typed values (JSON numbers, None): float64 when all are numbers or missing."""
    kind = pd.api.types.infer_dtype(values, skipna=True)
    if kind not in ("floating", "integer", "mixed-integer-float", "empty"):
        return None
    try:
        return values.astype(np.float64)  # None becomes NaN
    except (TypeError, ValueError, OverflowError):
        return None


# -- booleans -----------------------------------------------------------------------------
def _booleans(values: np.ndarray, feature: Mapping[str, Any], policy: str, text: bool) -> _Column:
    if values.dtype.kind == "b":
        return _Column(values, np.zeros(0, np.int64), [])
    return _each_distinct(values, _verdict(feature, policy, text))


# -- categories ---------------------------------------------------------------------------
def _categories(values: np.ndarray, feature: Mapping[str, Any], policy: str, text: bool) -> _Column:
    """Categories and times: a verdict per distinct value, by the feature's checker."""
    if values.dtype != object:
        values = values.astype(object)  # numbers as Python scalars, as JSON would hold them
    return _each_distinct(values, _verdict(feature, policy, text))


def _verdict(feature: Mapping[str, Any], policy: str, text: bool) -> Callable[[Any], Verdict]:
    """The feature's checker (the HTTP API's) as a verdict on one value."""
    check = value_checker(feature, policy, text)

    def verdict(value: Any) -> Verdict:
        if _is_missing(value):
            return _MISSING, math.nan
        try:
            checked = check(value)
        except InvalidValue as exc:
            return _BAD, exc.problem
        except UnseenCategory as exc:
            return _UNSEEN, exc.value
        return (_MISSING, math.nan) if checked is None else (_OK, checked)

    return verdict


# -- applying verdicts --------------------------------------------------------------------
def _each_distinct(values: np.ndarray, verdict: Callable[[Any], Verdict]) -> _Column:
    """Verdicts per distinct value (few for flags and categories), spread to the rows."""
    if values.dtype == object and pd.api.types.infer_dtype(values, skipna=True) not in _ONE_TYPE:
        # pandas would merge equal values of different types (True and 1): look at each.
        return _one_by_one(values, verdict, object)
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    verdicts = [verdict(u) for u in np.asarray(uniques, dtype=object).tolist()]
    verdicts.append((_MISSING, math.nan))  # code -1: None or NaN
    status = np.array([s for s, _ in verdicts], np.int8)[codes]
    table = np.empty(len(verdicts), dtype=object)
    table[:] = [v for _, v in verdicts]
    return _from_verdicts(table[codes], status)


def _one_by_one(values: np.ndarray, verdict: Callable[[Any], Verdict], dtype: Any) -> _Column:
    verdicts = [verdict(v) for v in values.tolist()]
    status = np.array([s for s, _ in verdicts], np.int8)
    checked = np.empty(len(verdicts), dtype=object)
    checked[:] = [v for _, v in verdicts]
    column = _from_verdicts(checked, status)
    if dtype is not object:
        ok = np.ones(len(checked), bool)
        ok[column.bad] = False
        floats = np.full(len(checked), np.nan)
        floats[ok] = checked[ok].astype(np.float64)
        column.values = floats
    return column


def _from_verdicts(checked: np.ndarray, status: np.ndarray) -> _Column:
    """Values and problems from per-row verdicts (a reason sits where a value would)."""
    bad = np.flatnonzero(status == _BAD)
    reasons = [str(r) for r in checked[bad].tolist()]
    unseen = status == _UNSEEN
    return _Column(checked, bad, reasons, unseen if unseen.any() else None)


def _is_missing(value: Any) -> bool:
    """None, NaN, NA and NaT: what typed files and the reader's number parsing hold for a
    missing value (blank CSV text and markers are the checker's to read)."""
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    if isinstance(value, float):
        return math.isnan(value)
    return False


# -- results ------------------------------------------------------------------------------
def _model_column(
    column: _Column, scored: np.ndarray, feature: Mapping[str, Any], index: pd.Index
) -> pd.Series:
    """The values of scored rows with the dtype the training frame had for this feature."""
    return model_series(column.values[scored], feature, index)


def _row_numbers(index: pd.Index, first_row: int) -> np.ndarray:
    if len(index) and pd.api.types.is_integer_dtype(index.dtype) and index.is_monotonic_increasing:
        numbers = index.to_numpy(dtype=np.int64)
        return numbers - numbers[0] + first_row
    return np.arange(first_row, first_row + len(index))


def _rejected(checked: list[tuple[str, _Column]], rows: np.ndarray) -> list[tuple[int, str, str]]:
    entries = [
        (position, order, name, reason)
        for order, (name, column) in enumerate(checked)
        for position, reason in zip(column.bad.tolist(), column.reasons, strict=True)
    ]
    entries.sort(key=lambda e: (e[0], e[1]))
    return [(int(rows[position]), name, reason) for position, _, name, reason in entries]


def _unseen(
    checked: list[tuple[str, _Column]], scored: np.ndarray
) -> tuple[int, dict[str, set[str]]]:
    total = 0
    examples: dict[str, set[str]] = {}
    for name, column in checked:
        if column.unseen is None:
            continue
        mask = column.unseen & scored
        count = int(mask.sum())
        if count:
            total += count
            examples[name] = {str(v) for v in pd.unique(column.values[mask])[:_EXAMPLES]}
    return total, examples
