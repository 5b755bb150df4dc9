from __future__ import annotations

import io
import json
import math
from functools import cache
from typing import Any

import numpy as np
import pandas as pd
import pytest

from chalicelib.batch import FrameCheck, check_columns, check_frame, read_chunks
from chalicelib.core import ConfigError, InvalidInputError
from chalicelib.scoring import NON_FINITE, Validator
from chalicelib.stats import describe_column, infer_signature
from sklambda.sample_data import (
    FEATURES,
    TARGET,
    churn_frame,
    reference_pipeline,
)


@cache
def churn_model() -> tuple[Any, list[dict[str, Any]]]:
    """A small fitted pipeline on the reference data and its signature's features."""
    frame = churn_frame(300)
    model = reference_pipeline("logreg").fit(frame[FEATURES], frame[TARGET])
    return model, infer_signature(model, frame, TARGET)["features"]


def small_features() -> list[dict[str, Any]]:
    """One feature of each type, described from pandas columns as at registration."""
    return [
        describe_column("age", pd.Series([30.0, 41.0])),
        describe_column("active", pd.Series([True, False])),
        describe_column("plan", pd.Series(["basic", "premium", "standard"])),
        describe_column("rank", pd.Series(["1", "2", "3"])),
    ]


def text_frame(rows: list[dict[str, str]]) -> pd.DataFrame:
    """Rows as the CSV reader hands them over: every value text, "" for empty."""
    return pd.DataFrame(rows, dtype=object).fillna("")


def valid_text(**values: str) -> dict[str, str]:
    row = {"age": "41", "active": "true", "plan": "basic", "rank": "1"}
    row.update(values)
    return row


def check(frame: pd.DataFrame, **options: Any) -> FrameCheck:
    options.setdefault("first_row", 1)
    return check_frame(frame, options.pop("features", small_features()), **options)


def reasons(frame: pd.DataFrame, **options: Any) -> list[tuple[int, str, str]]:
    return check(frame, **options).rejected


# -- columns ------------------------------------------------------------------------------
def test_missing_columns_are_all_named() -> None:
    with pytest.raises(InvalidInputError, match=r"^missing columns: active, rank;") as info:
        check_columns(["plan", "age", "customer_id"], small_features())
    assert info.value.status_code == 400
    check_columns(["rank", "plan", "active", "age", "extra"], small_features())


def test_check_frame_refuses_a_frame_without_the_features() -> None:
    with pytest.raises(InvalidInputError, match="missing columns: active, plan, rank"):
        check(pd.DataFrame({"age": ["1"]}))


def test_unknown_policy_is_a_configuration_error() -> None:
    with pytest.raises(ConfigError, match="unknown_categories must be one of"):
        check(text_frame([valid_text()]), unknown_categories="ignore")


# -- the reference data -------------------------------------------------------------------
def test_churn_csv_scores_like_the_training_frame() -> None:
    model, features = churn_model()
    original = churn_frame(400, seed=9)
    data = original.to_csv(index=False).encode()
    (chunk,) = read_chunks(io.BytesIO(data), "csv")
    checked = check_frame(chunk.frame, features, first_row=chunk.first_row)
    assert checked.rejected == [] and checked.scored.all()
    assert list(checked.model_input.columns) == FEATURES  # model order, extras dropped
    assert checked.model_input.index.tolist() == list(range(1, 401))
    # The training frame's dtypes, column for column (text is pandas' str, not object).
    assert checked.model_input.dtypes.to_dict() == original[FEATURES].dtypes.to_dict()
    assert checked.model_input["credit_score"].isna().sum() == original["credit_score"].isna().sum()
    np.testing.assert_array_equal(
        model.predict_proba(checked.model_input), model.predict_proba(original[FEATURES])
    )


def test_typed_chunks_check_the_same() -> None:
    _, features = churn_model()
    original = churn_frame(200, seed=2)
    data = original.to_csv(index=False).encode()
    numbers = [f["name"] for f in features if f["type"] == "number"]
    (text,) = read_chunks(io.BytesIO(data), "csv")
    (typed,) = read_chunks(io.BytesIO(data), "csv", numbers=numbers)
    from_text = check_frame(text.frame, features, first_row=1)
    from_typed = check_frame(typed.frame, features, first_row=1)
    pd.testing.assert_frame_equal(from_text.model_input, from_typed.model_input)


# -- numbers ------------------------------------------------------------------------------
@pytest.mark.parametrize("text", ["", " ", "\t"])
def test_empty_cells_are_missing_numbers(text: str) -> None:
    checked = check(text_frame([valid_text(age=text), valid_text(age="2.5e1")]))
    assert checked.rejected == []
    assert math.isnan(checked.model_input["age"].iloc[0])
    assert checked.model_input["age"].iloc[1] == 25.0


@pytest.mark.parametrize("text", ["NA", "N/A", "null", "NULL", "None"])
def test_marker_text_is_a_bad_number_unless_the_column_lists_it(text: str) -> None:
    frame = text_frame([valid_text(age=text), valid_text(age="2.5e1")])
    assert reasons(frame) == [(1, "age", f"expected a number, got {text!r}")]
    features = small_features()
    features[0] = describe_column("age", pd.Series([30.0, None]), markers=[text])
    checked = check(frame, features=features)
    assert checked.rejected == []
    assert math.isnan(checked.model_input["age"].iloc[0])
    assert checked.model_input["age"].iloc[1] == 25.0


@pytest.mark.parametrize("text", ["nan", "NaN", "NAN"])
def test_nan_text_is_not_a_missing_value(text: str) -> None:
    assert reasons(text_frame([valid_text(age=text)])) == [(1, "age", NON_FINITE)]


def test_int_columns_refuse_fractions() -> None:
    features = small_features()
    features[0] = describe_column("age", pd.Series([30, 41]))
    frame = text_frame([valid_text(age="30"), valid_text(age="30.5"), valid_text(age="")])
    checked = check(frame, features=features)
    assert checked.rejected == [
        (2, "age", "expected a whole number (the column held integers in training), got 30.5")
    ]
    # A missing value makes the column float64, as pandas makes an int column with a gap.
    assert checked.model_input["age"].dtype == np.float64
    only_whole = check(text_frame([valid_text(age="30")]), features=features)
    assert only_whole.model_input["age"].dtype == np.int64


@pytest.mark.parametrize("text", ["inf", "-inf", "Infinity", "-Infinity", "1e999"])
def test_infinite_numbers_are_rejected(text: str) -> None:
    assert reasons(text_frame([valid_text(age=text)])) == [(1, "age", NON_FINITE)]


def test_unreadable_numbers_are_rejected_as_the_api_does() -> None:
    frame = text_frame([valid_text(), valid_text(age="abc"), valid_text(age=" 1_000 ")])
    checked = check(frame)
    assert checked.rejected == [(2, "age", "expected a number, got 'abc'")]
    assert checked.scored.tolist() == [True, False, True]
    assert checked.model_input["age"].tolist() == [41.0, 1000.0]
    assert checked.model_input.index.tolist() == [0, 2]


def test_number_problems_match_the_api() -> None:
    values = ["abc", "12abc", "1,5", "x" * 80, "--1"]
    batch = reasons(text_frame([valid_text(age=v) for v in values]))
    api = Validator(small_features())
    for (row, field, reason), value in zip(batch, values, strict=True):
        with pytest.raises(InvalidInputError) as info:
            api.validate([valid_text(age=value)], strings=True)
        assert (field, reason) == ("age", info.value.details[0]["problem"])
        assert row == values.index(value) + 1


def test_typed_numbers_follow_json_rules() -> None:
    frame = pd.DataFrame(
        {
            "age": pd.Series([41, 2.5, None, math.nan, "12", True, math.inf, [1]], dtype=object),
            "active": True,
            "plan": "basic",
            "rank": "1",
        }
    )
    checked = check(frame, strings=False)
    assert checked.rejected == [
        (5, "age", "expected a number, got string '12'; send it without quotes"),
        (6, "age", "expected a number, got boolean true"),
        (7, "age", NON_FINITE),
        (8, "age", "expected a number, got a list"),
    ]
    assert checked.model_input["age"].tolist()[:2] == [41.0, 2.5]
    assert checked.model_input["age"].isna().tolist() == [False, False, True, True]


def test_numeric_columns_of_any_dtype() -> None:
    frame = pd.DataFrame(
        {
            "age": pd.array([41, None, 3], dtype="Int64"),
            "active": [True, False, True],
            "plan": "basic",
            "rank": "1",
        }
    )
    checked = check(frame, strings=False)
    assert checked.rejected == []
    assert checked.model_input["age"].dtype == np.float64
    assert checked.model_input["active"].dtype == bool


# -- booleans -----------------------------------------------------------------------------
def test_csv_booleans() -> None:
    spellings = ["true", "FALSE", "1", "0", " True ", "", "yes"]
    checked = check(text_frame([valid_text(active=s) for s in spellings]))
    assert checked.rejected == [(7, "active", "expected true, false, 1 or 0, got 'yes'")]
    column = checked.model_input["active"]
    assert column.dtype == object  # a missing value: object with NaN, as pandas holds it
    assert column.tolist()[:5] == [True, False, True, False, True]
    assert math.isnan(column.iloc[5])
    complete = check(text_frame([valid_text(active="1"), valid_text(active="false")]))
    assert complete.model_input["active"].dtype == bool


def test_typed_booleans_follow_json_rules() -> None:
    frame = pd.DataFrame(
        {
            "age": 1.0,
            "active": pd.Series([True, None, 1, "true"], dtype=object),
            "plan": "basic",
            "rank": "1",
        }
    )
    assert check(frame, strings=False).rejected == [
        (3, "active", "expected true or false, got number 1"),
        (4, "active", "expected true or false, got string 'true'"),
    ]


# -- categories ---------------------------------------------------------------------------
def unseen_rows() -> pd.DataFrame:
    return text_frame(
        [valid_text(), valid_text(plan="gold"), valid_text(plan="gold"), valid_text(plan="free")]
    )


def test_unknown_categories_are_scored_and_counted_under_warn() -> None:
    checked = check(unseen_rows())
    assert checked.rejected == [] and checked.scored.all()
    assert checked.unknown_categories == 3
    assert checked.unknown_by_field == {"plan": {"gold", "free"}}
    assert checked.model_input["plan"].tolist() == ["basic", "gold", "gold", "free"]


def test_unknown_categories_under_accept_are_counted_too() -> None:
    checked = check(unseen_rows(), unknown_categories="accept")
    assert checked.rejected == [] and checked.unknown_categories == 3


def test_unknown_categories_are_rejected_under_reject() -> None:
    checked = check(unseen_rows(), unknown_categories="reject")
    expected = (
        "category 'gold' was never seen in training; expected one of: basic, premium, standard"
    )
    assert checked.rejected == [
        (2, "plan", expected),
        (3, "plan", expected),
        (4, "plan", expected.replace("'gold'", "'free'")),
    ]
    assert checked.unknown_categories == 0 and checked.unknown_by_field == {}
    assert checked.scored.tolist() == [True, False, False, False]


def test_unknown_categories_of_rejected_rows_are_not_counted() -> None:
    checked = check(text_frame([valid_text(plan="gold", age="abc"), valid_text(plan="free")]))
    assert checked.unknown_categories == 1 and checked.unknown_by_field == {"plan": {"free"}}


def test_empty_category_is_missing_and_marker_text_is_a_level() -> None:
    features = [describe_column("region", pd.Series(["NA", "EU"], dtype=object))]
    frame = text_frame([{"region": "NA"}, {"region": ""}, {"region": "null"}])
    checked = check(frame, features=features)
    assert checked.rejected == []
    assert checked.unknown_categories == 1 and checked.unknown_by_field == {"region": {"null"}}
    values = checked.model_input["region"].tolist()
    assert values[0] == "NA" and math.isnan(values[1]) and values[2] == "null"


def test_typed_categories_follow_json_rules() -> None:
    frame = pd.DataFrame(
        {
            "age": 1.0,
            "active": True,
            "plan": pd.Series(["basic", None, 3, False], dtype=object),
            "rank": pd.Series([2, 2.0, None, "3"], dtype=object),
        }
    )
    checked = check(frame, strings=False)
    assert checked.rejected == [
        (2, "rank", "expected a string (category), got number 2.0"),
        (3, "plan", "expected a string (category), got number 3"),
        (4, "plan", "expected a string (category), got boolean false"),
    ]
    assert checked.model_input["rank"].tolist() == ["2"]


def test_integer_category_column_from_parquet() -> None:
    features = [describe_column("store", pd.Series(["1", "2"]))]
    frame = pd.DataFrame({"store": np.array([1, 2, 7], np.int64)})
    checked = check(frame, features=features, strings=False)
    assert checked.model_input["store"].tolist() == ["1", "2"]
    assert checked.rejected == [(3, "store", "expected a string (category), got number 7")]


def test_categories_without_levels_take_any_text() -> None:
    features = [{"name": "city", "type": "category", "levels": None}]
    checked = check(text_frame([{"city": "Paris"}, {"city": ""}]), features=features)
    assert checked.rejected == [] and checked.model_input["city"].tolist()[0] == "Paris"


# -- rows ---------------------------------------------------------------------------------
def test_every_problem_of_a_row_is_reported_in_feature_order() -> None:
    frame = text_frame(
        [valid_text(), valid_text(age="x", active="maybe", plan="gold"), valid_text(age="inf")]
    )
    assert reasons(frame, first_row=101, unknown_categories="reject") == [
        (102, "age", "expected a number, got 'x'"),
        (102, "active", "expected true, false, 1 or 0, got 'maybe'"),
        (
            102,
            "plan",
            "category 'gold' was never seen in training; expected one of: basic, premium, standard",
        ),
        (103, "age", NON_FINITE),
    ]


def test_row_numbers_follow_the_chunk_past_unreadable_rows() -> None:
    data = b"age,active,plan,rank\n41,true,basic,1\n42,true\nabc,true,basic,1\n43,0,basic,2\n"
    chunks = list(read_chunks(io.BytesIO(data), "csv", chunk_rows=3))
    assert chunks[0].bad_rows == [(2, "row has 2 fields, header has 4")]
    first = check_frame(chunks[0].frame, small_features(), first_row=chunks[0].first_row)
    assert first.rejected == [(3, "age", "expected a number, got 'abc'")]
    assert first.model_input.index.tolist() == [1]
    second = check_frame(chunks[1].frame, small_features(), first_row=chunks[1].first_row)
    assert second.model_input.index.tolist() == [4] and second.rejected == []


def test_jsonl_chunk_checks_with_json_rules() -> None:
    lines = [
        {"age": 41, "active": True, "plan": "basic", "rank": "1", "id": "a"},
        {"age": "41", "active": True, "plan": "basic", "rank": "1"},
        {"active": False, "plan": "premium", "rank": "2"},
    ]
    data = "\n".join(json.dumps(line) for line in lines).encode()
    (chunk,) = read_chunks(io.BytesIO(data), "jsonl")
    checked = check_frame(chunk.frame, small_features(), first_row=chunk.first_row, strings=False)
    assert checked.rejected == [
        (2, "age", "expected a number, got string '41'; send it without quotes")
    ]
    assert checked.scored.tolist() == [True, False, True]
    assert math.isnan(checked.model_input["age"].iloc[1])  # an absent key is a missing value


def test_features_of_other_types_pass_through() -> None:
    features = [{"name": "where", "type": "geometry"}]
    checked = check(pd.DataFrame({"where": ["POINT (1 2)"]}), features=features)
    assert checked.model_input["where"].tolist() == ["POINT (1 2)"]


def test_an_empty_chunk() -> None:
    checked = check(text_frame([valid_text()]).iloc[:0])
    assert len(checked.model_input) == 0 and checked.rejected == []
    assert list(checked.model_input.columns) == ["age", "active", "plan", "rank"]


def test_read_check_write_round_trip() -> None:
    """A CSV with extra columns and bad rows: the good rows come back, inputs intact."""
    from chalicelib.batch import write_chunk

    _, features = churn_model()
    original = churn_frame(60, seed=4)
    text = original.astype(object).where(original.notna(), "").astype(str)
    text.loc[5, "age"] = "forty"
    text.loc[17, "monthly_charges"] = "inf"
    data = text.to_csv(index=False).encode()
    lines = data.splitlines(keepends=True)
    lines.insert(30, b"too,few,fields\n")  # data row 30 (line 0 is the header)
    out = io.BytesIO()
    rejected = []
    for i, chunk in enumerate(read_chunks(io.BytesIO(b"".join(lines)), "csv", chunk_rows=8)):
        checked = check_frame(chunk.frame, features, first_row=chunk.first_row)
        rejected += [row for row, _ in chunk.bad_rows] + [row for row, _, _ in checked.rejected]
        results = pd.DataFrame({"prediction": np.zeros(int(checked.scored.sum()), int)})
        write_chunk(out, chunk, results, "csv", header=i == 0, scored=checked.scored)
    assert sorted(rejected) == [6, 18, 30]
    back = pd.read_csv(io.BytesIO(out.getvalue()), dtype=object, keep_default_na=False)
    expected = text.drop(index=[5, 17]).reset_index(drop=True)
    assert list(back.columns) == [*original.columns, "prediction"]  # id and target kept
    assert back[list(original.columns)].values.tolist() == expected.values.tolist()
