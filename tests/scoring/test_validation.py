from __future__ import annotations

import math
import subprocess
import sys
from functools import cache
from typing import Any

import pandas as pd
import pytest

from chalicelib.core import ConfigError, InvalidInputError
from chalicelib.scoring import UNKNOWN_CATEGORY_POLICIES, Problem, ValidatedRecords, Validator
from chalicelib.serving import parse_payload
from chalicelib.stats import describe_column, infer_signature
from sklambda.sample_data import FEATURES, TARGET, churn_frame, reference_pipeline


@cache
def churn_training() -> pd.DataFrame:
    return churn_frame(300)


@cache
def churn_features() -> list[dict[str, Any]]:
    """The signature's features of a small model fitted on the reference data."""
    frame = churn_training()
    model = reference_pipeline("logreg").fit(frame[FEATURES], frame[TARGET])
    return infer_signature(model, frame, TARGET)["features"]


def churn_records(n: int = 2) -> list[dict[str, Any]]:
    """Records as a JSON client sends them: numbers, strings, null for missing."""
    frame = churn_training()[FEATURES].iloc[:n]
    rows = frame.astype(object).where(frame.notna(), None).to_dict("records")
    return [
        {k: (float(v) if isinstance(v, int | float) else v) for k, v in r.items()} for r in rows
    ]


def small_features() -> list[dict[str, Any]]:
    """One feature of each type, described from pandas columns as at registration."""
    return [
        describe_column("age", pd.Series([30.0, 41.0])),
        describe_column("active", pd.Series([True, False])),
        describe_column("plan", pd.Series(["basic", "premium", "standard"])),
        describe_column("rank", pd.Series(["1", "2", "3"])),
    ]


def validate(
    records: list[dict[str, Any]],
    *,
    strings: bool = False,
    policy: str = "warn",
    features: list[dict[str, Any]] | None = None,
    max_problems: int = 100,
) -> ValidatedRecords:
    validator = Validator(
        features if features is not None else small_features(),
        unknown_categories=policy,
        max_problems=max_problems,
    )
    return validator.validate(records, strings=strings)


def problems_of(records: list[dict[str, Any]], **options: Any) -> list[dict[str, Any]]:
    with pytest.raises(InvalidInputError) as caught:
        validate(records, **options)
    assert caught.value.status_code == 400
    return caught.value.details


def problem_of(value: Any, field: str = "age", **options: Any) -> str:
    record = {"age": 1.0, "active": True, "plan": "basic", "rank": "1", field: value}
    [detail] = problems_of([record], **options)
    assert (detail["record"], detail["field"]) == (0, field)
    return detail["problem"]


# -- valid records --------------------------------------------------------------------------
def test_reference_records_pass_and_keep_only_the_model_features_in_order() -> None:
    records = churn_records(3)
    for record in records:
        record["customer_id"] = "c-1"
    validated = Validator(churn_features()).validate(records)
    assert [list(row) for row in validated.rows] == [FEATURES] * 3
    assert validated.rows[0]["contract"] == records[0]["contract"]
    assert validated.unknown_categories == 0


def test_json_values_are_normalized_for_the_model() -> None:
    validated = validate([{"age": 41, "active": False, "plan": "premium", "rank": 2}])
    assert validated.rows == [{"age": 41.0, "active": False, "plan": "premium", "rank": "2"}]
    assert type(validated.rows[0]["age"]) is float
    assert validated.warnings == [] and validated.unknown_categories == 0


def test_null_is_a_missing_value_the_model_decides_about() -> None:
    record = {"age": None, "active": None, "plan": None, "rank": None}
    assert validate([record]).rows == [record]


def test_csv_text_is_parsed_into_numbers_and_booleans() -> None:
    records: list[dict[str, Any]] = [
        {"age": "41", "active": "true", "plan": "basic", "rank": "3"},
        {"age": " 2.5e1 ", "active": "0", "plan": None, "rank": "1"},
        {"age": "", "active": "FALSE", "plan": "standard", "rank": None},
    ]
    assert validate(records, strings=True).rows == [
        {"age": 41.0, "active": True, "plan": "basic", "rank": "3"},
        {"age": 25.0, "active": False, "plan": None, "rank": "1"},
        {"age": None, "active": False, "plan": "standard", "rank": None},
    ]


def test_csv_and_json_bodies_validate_to_the_same_rows() -> None:
    records = churn_records(5)
    csv_body = pd.DataFrame(records).to_csv(index=False)
    from_csv = parse_payload(csv_body, "text/csv", max_records=10, max_bytes=100_000)
    validator = Validator(churn_features())
    assert validator.validate(from_csv.records, strings=from_csv.strings).rows == (
        validator.validate(records).rows
    )


# -- problems -------------------------------------------------------------------------------
def test_missing_field_is_reported_with_record_index() -> None:
    records = churn_records(3)
    del records[2]["age"]
    details = problems_of(records, features=churn_features())
    assert details == [{"record": 2, "field": "age", "problem": "missing field"}]


def test_number_sent_as_a_json_string_is_refused_with_a_hint() -> None:
    assert problem_of("12") == "expected a number, got string '12'; send it without quotes"


def test_unreadable_number_in_csv_names_the_text() -> None:
    assert problem_of("abc", strings=True) == "expected a number, got 'abc'"


@pytest.mark.parametrize(
    ("value", "strings"), [(math.nan, False), (math.inf, False), ("-inf", True), ("NaN", True)]
)
def test_non_finite_numbers_are_refused(value: Any, strings: bool) -> None:
    assert problem_of(value, strings=strings) == "non-finite number"


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        (True, "expected a number, got boolean true"),
        ([1], "expected a number, got a list"),
        ({"v": 1}, "expected a number, got an object"),
        ("twelve", "expected a number, got string 'twelve'"),
        (10**400, "number too large; numbers must fit a 64-bit float"),
    ],
)
def test_values_that_are_not_numbers_are_named_in_json_terms(value: Any, problem: str) -> None:
    assert problem_of(value) == problem


def test_booleans_must_be_true_or_false_in_json() -> None:
    assert problem_of("true", "active") == "expected true or false, got string 'true'"
    assert problem_of(1, "active") == "expected true or false, got number 1"


def test_unreadable_boolean_in_csv_lists_the_accepted_spellings() -> None:
    problem = problem_of("yes", "active", strings=True)
    assert problem == "expected true, false, 1 or 0, got 'yes'"


def test_category_given_as_a_number_is_refused_unless_it_is_a_known_level() -> None:
    assert problem_of(3, "plan") == "expected a string (category), got number 3"
    assert problem_of(4, "rank") == "expected a string (category), got number 4"
    assert problem_of(False, "rank") == "expected a string (category), got boolean false"


def test_long_values_are_cut_in_messages() -> None:
    problem = problem_of("x" * 500)
    assert "'" + "x" * 40 + "'..." in problem and len(problem) < 120


def test_all_problems_across_records_come_back_in_one_error() -> None:
    records = churn_records(3)
    del records[0]["age"]
    records[0]["tenure_months"] = "ten"
    records[2]["monthly_charges"] = math.inf
    with pytest.raises(InvalidInputError) as caught:
        Validator(churn_features()).validate(records)
    error = caught.value
    assert error.message.startswith("3 problems in 2 records")
    assert "see details" in error.message
    assert error.details == [
        {"record": 0, "field": "tenure_months", "problem": "expected a number, got string 'ten'"},
        {"record": 0, "field": "age", "problem": "missing field"},
        {"record": 2, "field": "monthly_charges", "problem": "non-finite number"},
    ]
    assert error.to_dict()["error"] == "InvalidInput"


def test_one_problem_is_described_in_the_message_itself() -> None:
    with pytest.raises(InvalidInputError) as caught:
        validate([{"active": True, "plan": "basic", "rank": "1"}])
    assert caught.value.message == (
        "1 problem in 1 record (first: record 0, field 'age': missing field); see details"
    )


def test_problems_past_the_limit_are_counted_not_listed() -> None:
    records = [{"plan": "basic"} for _ in range(10)]  # 3 missing fields each
    with pytest.raises(InvalidInputError) as caught:
        validate(records, max_problems=5)
    assert len(caught.value.details) == 5
    assert caught.value.message.startswith("30 problems in 10 records")
    assert "lists the first 5 (25 more)" in caught.value.message


def test_problem_serializes_to_record_field_and_problem() -> None:
    problem = Problem(record=4, field="age", problem="missing field")
    assert problem.to_dict() == {"record": 4, "field": "age", "problem": "missing field"}


# -- unknown categories ---------------------------------------------------------------------
def records_with_unseen_contracts() -> list[dict[str, Any]]:
    records = churn_records(4)
    records[0]["contract"] = "weekly"
    records[2]["contract"] = "weekly"
    records[3]["contract"] = "daily"
    return records


def test_unknown_categories_are_scored_quietly_under_accept() -> None:
    validator = Validator(churn_features(), unknown_categories="accept")
    validated = validator.validate(records_with_unseen_contracts())
    assert validated.warnings == []
    assert validated.unknown_categories == 3
    assert [row["contract"] for row in validated.rows][:1] == ["weekly"]


def test_unknown_categories_get_one_warning_per_field_under_warn() -> None:
    validated = Validator(churn_features()).validate(records_with_unseen_contracts())
    assert validated.warnings == [
        "contract: 3 records had categories never seen in training ('weekly', 'daily'); "
        "they were scored as unknown"
    ]
    assert validated.unknown_categories == 3
    assert validated.rows[3]["contract"] == "daily"


def test_a_single_unknown_category_is_worded_in_the_singular() -> None:
    validated = validate([{"age": 1, "active": True, "plan": "gold", "rank": "1"}])
    assert validated.warnings == [
        "plan: 1 record had a category never seen in training ('gold'); it was scored as unknown"
    ]


def test_unknown_categories_are_problems_under_reject() -> None:
    validator = Validator(churn_features(), unknown_categories="reject")
    with pytest.raises(InvalidInputError) as caught:
        validator.validate(records_with_unseen_contracts())
    assert [(d["record"], d["field"]) for d in caught.value.details] == [
        (0, "contract"),
        (2, "contract"),
        (3, "contract"),
    ]
    assert caught.value.details[0]["problem"] == (
        "category 'weekly' was never seen in training; "
        "expected one of: month-to-month, one-year, two-year"
    )


def test_reject_message_cuts_long_level_lists() -> None:
    levels = pd.Series([f"level{i:02d}" for i in range(25)])
    features = [describe_column("code", levels)]
    with pytest.raises(InvalidInputError) as caught:
        validate([{"code": "nope"}], policy="reject", features=features)
    problem = caught.value.details[0]["problem"]
    assert problem.endswith("level08, level09, ... (15 more)")


def test_categories_without_recorded_levels_accept_any_string() -> None:
    features = [{"name": "id", "type": "category", "levels": None, "nullable": False}]
    assert validate([{"id": "anything"}], policy="reject", features=features).rows == [
        {"id": "anything"}
    ]
    with pytest.raises(InvalidInputError, match="expected a string"):
        validate([{"id": 7}], features=features)


def test_every_policy_is_known_and_others_are_a_configuration_error() -> None:
    assert UNKNOWN_CATEGORY_POLICIES == ("accept", "warn", "reject")
    with pytest.raises(ConfigError, match="must be one of accept, warn, reject"):
        Validator(small_features(), unknown_categories="ignore")


# -- extra fields ---------------------------------------------------------------------------
def test_fields_not_in_the_schema_are_ignored_with_one_sorted_warning() -> None:
    records = [
        {"age": 1, "active": True, "plan": "basic", "rank": "1", "zeta": 1, "colour": "green"},
        {"age": 2, "active": True, "plan": "basic", "rank": "1", "colour": "red", "alpha": 0},
    ]
    validated = validate(records)
    assert validated.warnings == [
        "fields not in the model's schema were ignored: alpha, colour, zeta"
    ]
    assert all(list(row) == ["age", "active", "plan", "rank"] for row in validated.rows)


def test_extra_field_warning_names_at_most_ten() -> None:
    record: dict[str, Any] = {"age": 1, "active": True, "plan": "basic", "rank": "1"}
    record.update({f"x{i:02d}": i for i in range(13)})
    [warning] = validate([record]).warnings
    assert warning.endswith("x08, x09, ... (3 more)")


# -- purity ---------------------------------------------------------------------------------
def test_validation_does_not_import_pandas_or_numpy() -> None:
    code = (
        "import sys\n"
        "from chalicelib.scoring._validation import Validator\n"
        "f = [{'name': 'a', 'type': 'number', 'levels': None, 'nullable': False}]\n"
        "Validator(f).validate([{'a': 1}])\n"
        "print(sorted({'pandas', 'numpy', 'boto3'} & set(sys.modules)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
