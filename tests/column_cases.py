"""Mixed-type training frames, fresh rows from the same columns, and pipelines fitted on them.

A `Case` is drawn by hypothesis as a few readable facts (column kinds, levels, missing
shares, row counts, a seed); the values come from numpy's generator seeded by it, so a
shrunk failing example names the column kind and level that break, not 200 rows of data.
"""

from __future__ import annotations

import importlib
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from hypothesis import strategies as st
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

TARGET = "label"

# The user's own module the datetime pipelines call, shipped with --code when registered.
TIME_FEATURES = Path(__file__).with_name("user_modules") / "time_features.py"
if str(TIME_FEATURES.parent) not in sys.path:
    sys.path.append(str(TIME_FEATURES.parent))
datetime_seconds = importlib.import_module("time_features").datetime_seconds

# Column kinds, simplest first (hypothesis shrinks towards the first).
KINDS = (
    "float64",
    "int64",
    "Int64",
    "Float64",
    "bool",
    "boolean",
    "object_bool",  # True / False / None, object dtype
    "object",  # strings, object dtype
    "string",  # pandas' StringDtype ("string")
    "str",  # pandas 3's default string dtype
    "category",  # of strings
    "category_int",
    "datetime",
    "datetime_tz",
)
NEVER_MISSING = ("int64", "bool")
# A blank level is refused at register (a CSV cell cannot tell it from missing): not drawn.
TEXT_LEVELS = ("a", "b", "NA", "null", "None", "N/A", " x", "1", "True")
INT_LEVELS = (0, 1, 2, 7, 30, -1)
LEVELS: dict[str, tuple[Any, ...]] = {
    "object": TEXT_LEVELS,
    "string": TEXT_LEVELS,
    "str": TEXT_LEVELS,
    "category": TEXT_LEVELS,
    "category_int": INT_LEVELS,
}
TIME_ZONES = ("UTC", "Europe/Paris", "America/New_York", "Asia/Kolkata")
EPOCH_SPAN_SECONDS = 2_000_000_000  # 1970 to 2033


@dataclass(frozen=True)
class Column:
    """One feature column: its kind and how its values are drawn."""

    kind: str
    missing: float = 0.0  # share of missing values
    levels: tuple[Any, ...] = ()  # text values, categories
    ordered: bool = False  # categories
    missing_as: str = "nan"  # object columns: missing as NaN or None
    tz: str = "UTC"  # datetime_tz
    unit: str = "us"  # datetimes


@dataclass(frozen=True)
class Case:
    """A training frame, fresh rows and the pipeline to fit on them."""

    columns: tuple[Column, ...]
    rows: int
    fresh_rows: int
    classes: tuple[Any, ...]
    model: str  # logistic | hgb
    numbers_strategy: str  # SimpleImputer strategy of number columns
    text_strategy: str  # SimpleImputer strategy of string columns
    seed: int

    def names(self) -> list[str]:
        return [f"{c.kind}_{i}" for i, c in enumerate(self.columns)]

    def frames(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        """(training frame with the target, fresh rows without it), with the same dtypes."""
        rng = np.random.default_rng(self.seed)
        named = list(zip(self.names(), self.columns, strict=True))
        train = {name: column_values(column, rng, self.rows) for name, column in named}
        fresh = {
            name: column_values(column, rng, self.fresh_rows, seen=train[name])
            for name, column in named
        }
        labels = rng.choice(np.array(self.classes, dtype=object), self.rows)
        labels[: 2 * len(self.classes)] = list(self.classes) * 2  # every class, twice
        train[TARGET] = pd.Series(labels.tolist())
        return pd.DataFrame(train), pd.DataFrame(fresh)


@st.composite
def columns(draw: st.DrawFn, kinds: tuple[str, ...] = KINDS) -> Column:
    kind = draw(st.sampled_from(kinds))
    missing = 0.0 if kind in NEVER_MISSING else draw(st.sampled_from((0.0, 0.1, 0.3)))
    pool = LEVELS.get(kind)
    levels = (
        draw(st.lists(st.sampled_from(pool), min_size=1, max_size=5, unique=True)) if pool else []
    )
    return Column(
        kind,
        missing,
        tuple(levels or ()),
        ordered=kind.startswith("category") and draw(st.booleans()),
        missing_as=draw(st.sampled_from(("nan", "none"))) if kind == "object" else "nan",
        tz=draw(st.sampled_from(TIME_ZONES)) if kind == "datetime_tz" else "UTC",
        unit=draw(st.sampled_from(("us", "ns"))) if kind.startswith("datetime") else "us",
    )


def cases(
    kinds: tuple[str, ...] = KINDS,
    max_columns: int = 6,
    models: tuple[str, ...] = ("logistic", "hgb"),
) -> st.SearchStrategy[Case]:
    """Cases whose feature columns are of `kinds`, fitted with one of `models`."""
    return st.builds(
        Case,
        columns=st.lists(columns(kinds), min_size=1, max_size=max_columns).map(tuple),
        rows=st.integers(60, 200),
        fresh_rows=st.integers(5, 30),
        classes=st.sampled_from(((0, 1), ("no", "yes"), ("a", "b", "c"))),
        model=st.sampled_from(models),
        numbers_strategy=st.sampled_from(("mean", "median")),
        text_strategy=st.sampled_from(("most_frequent", "constant")),
        seed=st.integers(0, 2**16),
    )


# -- values ---------------------------------------------------------------------------------
def column_values(
    column: Column, rng: np.random.Generator, n: int, seen: pd.Series | None = None
) -> pd.Series:
    """`n` values of `column`; for fresh rows (`seen` given) only levels seen in training, and
    missing values only if training had some. Training rows start with a missing value when
    the column has any, so that both frames read back with the same dtype."""
    kind = column.kind
    missing = rng.random(n) < column.missing
    if seen is None and column.missing:
        missing[0] = True
    levels: list[Any] = list(column.levels)
    if seen is not None and levels:
        levels = [v for v in levels if v in set(seen.dropna().tolist())] or levels[:1]
    if kind in ("float64", "Float64"):
        values = pd.Series(np.round(rng.normal(0, 10, n), int(rng.integers(0, 6))), dtype=kind)
    elif kind in ("int64", "Int64"):
        values = pd.Series(rng.integers(-50, 50, n), dtype=kind)
    elif kind in ("bool", "boolean"):
        values = pd.Series(rng.random(n) < 0.5, dtype=kind)
    elif kind == "object_bool":
        values = pd.Series([bool(v) for v in rng.random(n) < 0.5], dtype=object)
    elif kind in ("object", "string", "str"):
        values = pd.Series([levels[i] for i in rng.integers(0, len(levels), n)], dtype=kind)
    elif kind in ("category", "category_int"):
        picked = [levels[i] for i in rng.integers(0, len(levels), n)]
        dtype = pd.CategoricalDtype(sorted(column.levels), ordered=column.ordered)
        values = pd.Series(picked, dtype=dtype)
    else:
        seconds = rng.integers(0, EPOCH_SPAN_SECONDS, n) * 1_000_000 + rng.integers(0, 10**6, n)
        stamps = pd.to_datetime(seconds, unit="us").as_unit(column.unit)
        if kind == "datetime_tz":
            stamps = stamps.tz_localize("UTC").tz_convert(column.tz)
        values = pd.Series(stamps)
    if not missing.any():
        return values
    if kind == "object" or kind == "object_bool":
        blank = None if column.missing_as == "none" or kind == "object_bool" else np.nan
        return values.astype(object).where(~missing, blank)
    return values.mask(missing)


# -- pipelines ------------------------------------------------------------------------------
def kind_of(series: pd.Series) -> str:
    """How a pipeline treats a column of the frame it is fitted on, by its dtype."""
    dtype = series.dtype
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return "datetime"
    if isinstance(dtype, pd.CategoricalDtype):
        return "category"
    if pd.api.types.is_bool_dtype(dtype):
        return "flag" if isinstance(dtype, np.dtype) else "boolean"
    if pd.api.types.is_numeric_dtype(dtype):
        return "number"
    if pd.api.types.is_object_dtype(dtype) and series.dropna().map(type).isin([bool]).all():
        return "boolean"
    return "text"


def pipeline_for(case: Case, frame: pd.DataFrame) -> tuple[Any, list[str]]:
    """The unfitted pipeline of `case` for `frame` (as read by the route), and its features."""
    # A column read back with no value at all (e.g. only "" in a CSV file) is no feature.
    names = [n for n in frame.columns if n != TARGET and frame[n].notna().any()]
    kinds = {n: kind_of(frame[n]) for n in names}
    if case.model == "hgb":
        usable = [n for n in names if kinds[n] in ("number", "flag", "boolean", "category")]
        if usable:
            model = HistGradientBoostingClassifier(
                categorical_features="from_dtype", max_iter=15, random_state=0
            )
            return model, usable
    parts: list[tuple[str, Any, list[str]]] = []
    numbers = [n for n in names if kinds[n] == "number"]
    if numbers:
        imputer = SimpleImputer(strategy=case.numbers_strategy)
        parts.append(("numbers", make_pipeline(imputer, StandardScaler()), numbers))
    flags = [n for n in names if kinds[n] == "flag"]
    if flags:
        parts.append(("flags", OneHotEncoder(handle_unknown="ignore"), flags))
    for name in names:
        if kinds[name] in ("text", "category", "boolean"):
            parts.append((name, one_hot(frame[name], case.text_strategy), [name]))
    dates = [n for n in names if kinds[n] == "datetime"]
    if dates:
        to_seconds = FunctionTransformer(datetime_seconds, feature_names_out="one-to-one")
        steps = make_pipeline(to_seconds, SimpleImputer(), StandardScaler())
        parts.append(("dates", steps, dates))
    model = Pipeline(
        [("columns", ColumnTransformer(parts)), ("model", LogisticRegression(max_iter=1000))]
    )
    return model, names


def one_hot(series: pd.Series, strategy: str) -> Any:
    """Impute (pd.NA for the string dtype, else NaN) and one-hot encode one column."""
    strings = series.dropna().map(type).isin([str]).all() and kind_of(series) != "boolean"
    pandas_na = isinstance(series.dtype, pd.StringDtype) and series.dtype.na_value is pd.NA
    imputer = SimpleImputer(
        missing_values=pd.NA if pandas_na else np.nan,
        strategy=strategy if strings else "most_frequent",
        fill_value="missing",
    )
    return make_pipeline(imputer, OneHotEncoder(handle_unknown="ignore"))
