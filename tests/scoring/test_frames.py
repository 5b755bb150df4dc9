"""Every column type survives JSON and CSV: what the model receives equals, value and dtype,
the training column (generated columns of each type, with missing values)."""

from __future__ import annotations

import io
import json
import math
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.batch import check_frame, number_columns, read_chunks
from chalicelib.core import InvalidInputError
from chalicelib.scoring import Validator, model_frame
from chalicelib.stats import describe_column
from tests.column_cases import KINDS

LEVELS = ["NA", "null", "None", "N/A", "x", " y", "1", "True", "nan", "é"]
WHEN = datetime(2024, 3, 30, 22, 15, 0)


def _maybe(values: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(st.none(), values)


def _times(draw: Any, n: int) -> list[datetime | None]:
    offsets = draw(st.lists(_maybe(st.integers(0, 10**9)), min_size=n, max_size=n))
    return [None if o is None else WHEN + timedelta(microseconds=o * 1000) for o in offsets]


@st.composite
def columns(draw: Any) -> pd.Series:
    """A training column of one of the supported dtypes, with missing values where it can."""
    n = draw(st.integers(3, 12))
    kind = draw(st.sampled_from(KINDS))  # the kinds the end-to-end cases draw too
    floats = st.floats(-1e6, 1e6, allow_nan=False)
    ints = st.integers(-1000, 1000)
    if kind == "float64":
        return pd.Series(draw(st.lists(_maybe(floats), min_size=n, max_size=n)), dtype="float64")
    if kind == "int64":
        return pd.Series(draw(st.lists(ints, min_size=n, max_size=n)), dtype="int64")
    if kind in ("Int64", "Float64"):
        values = draw(st.lists(_maybe(ints), min_size=n, max_size=n))
        return pd.Series(values, dtype=kind)
    if kind == "bool":
        return pd.Series(draw(st.lists(st.booleans(), min_size=n, max_size=n)), dtype=bool)
    if kind == "boolean":
        return pd.Series(draw(st.lists(_maybe(st.booleans()), min_size=n, max_size=n)), dtype=kind)
    if kind == "object_bool":
        flags = draw(st.lists(_maybe(st.booleans()), min_size=n, max_size=n))
        return pd.Series(flags, dtype=object)
    if kind in ("object", "str", "string"):
        text = draw(st.lists(_maybe(st.sampled_from(LEVELS)), min_size=n, max_size=n))
        return pd.Series(text, dtype=kind)
    if kind == "category":
        text = draw(st.lists(_maybe(st.sampled_from(LEVELS)), min_size=n, max_size=n))
        return pd.Series(pd.Categorical(text, ordered=draw(st.booleans())))
    if kind == "category_int":
        codes = draw(st.lists(_maybe(st.integers(0, 5)), min_size=n, max_size=n))
        return pd.Series(pd.Categorical(codes, ordered=draw(st.booleans())))
    times = pd.Series(pd.to_datetime(_times(draw, n)))
    if kind == "datetime_tz":
        return times.dt.tz_localize("UTC").dt.tz_convert("Europe/Paris")
    return times


def as_json(value: Any) -> Any:
    """A cell as a JSON client sends it."""
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return None
    if value is pd.NaT:
        return None
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    return value.item() if hasattr(value, "item") else value


def assert_same_column(served: pd.Series, trained: pd.Series) -> None:
    assert served.dtype == trained.dtype
    pd.testing.assert_series_equal(
        served.reset_index(drop=True), trained.reset_index(drop=True), check_names=False
    )
    # Missing values held as training held them (None and NaN differ to some encoders).
    assert [type(v) for v in served.tolist()] == [type(v) for v in trained.tolist()]


@settings(max_examples=150, deadline=None)
@given(columns())
def test_json_records_reach_the_model_as_the_training_column(column: pd.Series) -> None:
    feature = describe_column("x", column)
    records = json.loads(json.dumps([{"x": as_json(v)} for v in column.astype(object)]))
    checked = Validator([feature]).validate(records)
    assert_same_column(model_frame(checked.rows, [feature])["x"], column)


@settings(max_examples=150, deadline=None)
@given(columns())
def test_csv_files_reach_the_model_as_the_training_column(column: pd.Series) -> None:
    feature = describe_column("x", column)
    data = pd.DataFrame({"x": column, "pad": 1}).to_csv(index=False).encode()
    numbers = number_columns([feature])
    (chunk,) = read_chunks(io.BytesIO(data), "csv", numbers=numbers, missing=numbers)
    checked = check_frame(chunk.frame, [feature], first_row=1)
    assert checked.rejected == []
    assert_same_column(checked.model_input["x"], column)


@settings(max_examples=100, deadline=None)
@given(columns())
def test_csv_bodies_reach_the_model_as_the_training_column(column: pd.Series) -> None:
    feature = describe_column("x", column)
    text = pd.DataFrame({"x": column}).to_csv(index=False)
    records = [
        {"x": line}
        for line in pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)["x"]
    ]
    checked = Validator([feature]).validate(records, strings=True)
    assert_same_column(model_frame(checked.rows, [feature])["x"], column)


# -- what cannot be carried is refused at register --------------------------------------------
@pytest.mark.parametrize(
    ("column", "message"),
    [
        (pd.Series(["a", ""]), "column 'x' has the blank text '' as a category"),
        (pd.Series([1.5, "a"], dtype=object), "column 'x' mixes value types"),
        (pd.Series([1.5, 2.5], dtype=object), "column 'x' holds numbers in an object column"),
        (
            pd.Series([datetime(2024, 1, 1, tzinfo=UTC)], dtype=object),
            "column 'x' holds dates or times as Python objects",
        ),
        (pd.Series([timedelta(1)]), "column 'x' has dtype timedelta64"),
        (pd.Series([1 + 2j]), "column 'x' has dtype complex128"),
        (
            pd.Series(pd.Categorical([datetime(2024, 1, 1)])),
            "column 'x' is a category of datetime64 values",
        ),
    ],
)
def test_types_json_and_csv_cannot_carry_are_refused(column: pd.Series, message: str) -> None:
    with pytest.raises(InvalidInputError, match=f"^{message}"):
        describe_column("x", column)


def test_a_marker_that_is_also_a_level_is_refused() -> None:
    with pytest.raises(InvalidInputError, match="has 'NA' both as a value and as a missing-value"):
        describe_column("region", pd.Series(["NA", "EU"]), markers=["NA"])


def test_int_categories_are_typed_and_text_levels_stay_text() -> None:
    ints = describe_column("x", pd.Series(pd.Categorical([3, 1, None], ordered=True)))
    assert ints["value_type"] == "int" and ints["categories"] == [1, 3] and ints["ordered"]
    rows = Validator([ints]).validate([{"x": 3}, {"x": "1"}, {"x": None}], strings=False).rows
    assert [r["x"] for r in rows] == [3, 1, None]
    text = describe_column("x", pd.Series(["NA", "EU"], dtype=object))
    assert text["levels"] == ["EU", "NA"] and "missing_markers" not in text
    assert Validator([text]).validate([{"x": "NA"}]).warnings == []


def test_booleans_with_missing_values_take_json_booleans() -> None:
    feature = describe_column("x", pd.Series([True, None, False], dtype=object))
    assert feature["type"] == "boolean" and feature["missing_value"] == "none"
    rows = Validator([feature]).validate([{"x": True}, {"x": None}]).rows
    assert model_frame(rows, [feature])["x"].tolist() == [True, None]


def test_time_zones_must_match_the_training_column() -> None:
    aware = describe_column("x", pd.Series(pd.to_datetime(["2024-01-01T00:00:00+00:00"])))
    with pytest.raises(InvalidInputError) as info:
        Validator([aware]).validate([{"x": "2024-01-01T10:00:00"}])
    assert "had a time zone (UTC) in training: send them with an offset" in str(info.value.details)
    naive = describe_column("x", pd.Series(pd.to_datetime(["2024-01-01"])))
    with pytest.raises(InvalidInputError) as info:
        Validator([naive]).validate([{"x": "2024-01-01T10:00:00+02:00"}])
    assert "had no time zone in training: send them without an offset" in str(info.value.details)
    frame = model_frame([{"x": "2024-01-01T10:00:00+02:00"}], [aware])
    assert frame["x"].iloc[0] == pd.Timestamp("2024-01-01T08:00:00", tz="UTC")
    assert np.dtype("int64") != frame["x"].dtype
