from __future__ import annotations

import json
import math
import subprocess
import sys
from typing import Any

import pytest

from chalicelib.core import InvalidInputError, PayloadTooLargeError, UnsupportedMediaTypeError
from chalicelib.serving import ParsedPayload, parse_payload, read_body

FEATURES = ["age", "plan", "tenure"]
RECORDS = [
    {"age": 41, "plan": "basic", "tenure": 12.5},
    {"age": 29, "plan": "premium", "tenure": None},
]


def parse(
    body: Any,
    content_type: str | None = "application/json",
    *,
    max_records: int = 100,
    max_bytes: int = 100_000,
    feature_order: list[str] | None = FEATURES,
) -> ParsedPayload:
    raw = body if isinstance(body, str | bytes) or body is None else json.dumps(body)
    return parse_payload(
        raw,
        content_type,
        max_records=max_records,
        max_bytes=max_bytes,
        feature_order=feature_order,
    )


# -- JSON forms -----------------------------------------------------------------------------
def test_records_body_gives_one_dict_per_record() -> None:
    parsed = parse({"records": RECORDS})
    assert parsed == ParsedPayload(RECORDS, "records", False)


@pytest.mark.parametrize(
    "content_type", [None, "", "application/json; charset=utf-8", "Application/JSON"]
)
def test_json_is_read_with_any_charset_or_without_a_content_type(content_type: str | None) -> None:
    assert parse({"records": RECORDS}, content_type).records == RECORDS


def test_mlflow_dataframe_records_body_is_read() -> None:
    parsed = parse({"dataframe_records": RECORDS})
    assert parsed.records == RECORDS and parsed.source == "dataframe_records"


def test_mlflow_dataframe_split_body_is_read_and_its_index_ignored() -> None:
    body = {
        "dataframe_split": {
            "index": [7, 8],
            "columns": FEATURES,
            "data": [[r[f] for f in FEATURES] for r in RECORDS],
        }
    }
    parsed = parse(body)
    assert parsed.records == RECORDS and parsed.source == "dataframe_split"


def test_instances_as_objects_are_read() -> None:
    parsed = parse({"instances": RECORDS})
    assert parsed.records == RECORDS and parsed.source == "instances"


def test_instances_as_lists_follow_the_model_feature_order() -> None:
    parsed = parse({"instances": [[41, "basic", 12.5], [29, "premium", None]]})
    assert parsed.records == RECORDS and parsed.source == "instances"


def test_nan_and_infinity_literals_reach_validation_as_floats() -> None:
    record = parse('{"records": [{"age": NaN, "tenure": Infinity}]}').records[0]
    assert math.isnan(record["age"]) and record["tenure"] == math.inf


def test_json_body_with_a_byte_order_mark_is_read() -> None:
    text = "\ufeff" + json.dumps({"records": RECORDS})
    assert parse(text).records == RECORDS
    assert parse(text.encode("utf-8")).records == RECORDS


def test_other_top_level_keys_beside_the_records_are_ignored() -> None:
    assert parse({"records": RECORDS, "params": {"x": 1}}).records == RECORDS


# -- CSV ------------------------------------------------------------------------------------
def test_csv_rows_become_records_of_strings() -> None:
    parsed = parse("age,plan,tenure\n41,basic,12.5\n29,premium,\n", "text/csv")
    assert parsed.source == "csv" and parsed.strings is True
    assert parsed.records == [
        {"age": "41", "plan": "basic", "tenure": "12.5"},
        {"age": "29", "plan": "premium", "tenure": None},
    ]


def test_csv_empty_cells_are_missing_values() -> None:
    parsed = parse(b"age,plan,tenure\n,,3\n", "text/csv; charset=utf-8")
    assert parsed.records == [{"age": None, "plan": None, "tenure": "3"}]


def test_csv_byte_order_mark_from_spreadsheets_is_dropped() -> None:
    body = "\ufeffage,plan\r\n41,basic\r\n"
    assert parse(body.encode("utf-8"), "text/csv").records == [{"age": "41", "plan": "basic"}]
    assert parse(body, "text/csv").records == [{"age": "41", "plan": "basic"}]


def test_csv_quoted_values_may_hold_commas_and_newlines_and_blank_lines_are_skipped() -> None:
    body = 'plan,note\n"basic, old","two\nlines"\n\n'
    assert parse(body, "text/csv").records == [{"plan": "basic, old", "note": "two\nlines"}]


def test_csv_header_names_are_trimmed() -> None:
    assert parse("age , plan\n1,a\n", "text/csv").records == [{"age": "1", "plan": "a"}]


def test_csv_in_a_declared_charset_is_decoded_with_it() -> None:
    body = "plan\ncafé\n".encode("latin-1")
    assert parse(body, "text/csv; charset=ISO-8859-1").records == [{"plan": "café"}]


def test_csv_row_of_the_wrong_length_names_its_line() -> None:
    with pytest.raises(InvalidInputError, match="line 3 of the CSV has 2 values but the header"):
        parse("age,plan,tenure\n41,basic,1\n29,premium\n", "text/csv")


def test_csv_header_with_a_repeated_name_is_refused() -> None:
    with pytest.raises(InvalidInputError, match="names a column more than once: 'age'"):
        parse("age,age\n1,2\n", "text/csv")


def test_csv_that_is_not_utf8_says_how_to_fix_it() -> None:
    with pytest.raises(InvalidInputError, match="not valid utf-8.*save the file as UTF-8"):
        parse("plan\ncafé\n".encode("latin-1"), "text/csv")


def test_csv_in_an_unknown_charset_is_415() -> None:
    with pytest.raises(UnsupportedMediaTypeError, match="charset 'klingon' is not known"):
        parse(b"a\n1\n", "text/csv; charset=klingon")


def test_csv_that_the_reader_refuses_reports_the_line() -> None:
    with pytest.raises(InvalidInputError, match="line 3 of the CSV cannot be read: field larger"):
        parse("a\n1\n" + "x" * 200_000 + "\n", "text/csv", max_bytes=1_000_000)


# -- limits ---------------------------------------------------------------------------------
def test_body_over_the_byte_limit_is_413_and_says_the_limit() -> None:
    with pytest.raises(PayloadTooLargeError, match="over the limit of 50 bytes") as caught:
        parse({"records": RECORDS}, max_bytes=50)
    assert caught.value.status_code == 413


def test_byte_limit_counts_utf8_bytes_of_text_bodies() -> None:
    body = json.dumps({"records": [{"plan": "é" * 30}]}, ensure_ascii=False)
    assert len(body) <= 60 < len(body.encode("utf-8"))
    with pytest.raises(PayloadTooLargeError):
        parse(body, max_bytes=60)


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        ({"records": [{"age": i} for i in range(4)]}, "application/json"),
        ({"instances": [[i, "a", 1] for i in range(4)]}, "application/json"),
        ({"dataframe_split": {"columns": ["age"], "data": [[i] for i in range(4)]}}, None),
        ("age\n1\n2\n3\n4\n", "text/csv"),
    ],
)
def test_too_many_records_is_413_with_the_count_and_the_limit(body: Any, content_type: str) -> None:
    with pytest.raises(PayloadTooLargeError) as caught:
        parse(body, content_type, max_records=3)
    assert caught.value.status_code == 413
    assert "has 4 records, more than the limit of 3" in caught.value.message
    assert "split it into requests of at most 3 records" in caught.value.message


def test_limits_are_checked_before_the_model_is_known() -> None:
    instances = {"instances": [[41, "basic", 12.5]] * 4}
    with pytest.raises(PayloadTooLargeError, match="has 4 records, more than the limit of 3"):
        read_body(json.dumps(instances), None, max_records=3, max_bytes=1000)
    with pytest.raises(PayloadTooLargeError, match="over the limit of 50 bytes"):
        read_body(json.dumps(instances), "text/csv", max_records=3, max_bytes=50)
    within = read_body(
        json.dumps({"instances": [[41, "basic", 12.5]]}), None, max_records=3, max_bytes=1000
    )
    assert within.payload(FEATURES).records == [RECORDS[0]]


def test_a_wrong_shape_is_refused_once_the_model_names_its_features() -> None:
    within = read_body(json.dumps({"rows": RECORDS}), None, max_records=3, max_bytes=1000)
    with pytest.raises(InvalidInputError) as caught:
        within.payload(FEATURES)
    assert '{"records": [{"age": <value>, "plan": <value>}]}' in caught.value.message


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        ({"records": []}, "application/json"),
        ({"dataframe_split": {"columns": ["age"], "data": []}}, "application/json"),
        ("age,plan\n", "text/csv"),
        ("", "text/csv"),
        (b"", "application/json"),
        (None, "application/json"),
    ],
)
def test_a_body_without_records_is_refused(body: Any, content_type: str) -> None:
    with pytest.raises(InvalidInputError) as caught:
        parse(body, content_type)
    assert caught.value.status_code == 400
    assert "no records" in caught.value.message or "no body" in caught.value.message


# -- content types and malformed bodies -----------------------------------------------------
@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "application/xml"]
)
def test_other_content_types_are_415_and_list_the_accepted_ones(content_type: str) -> None:
    with pytest.raises(UnsupportedMediaTypeError) as caught:
        parse("age\n1\n", content_type)
    assert caught.value.status_code == 415
    assert "application/json" in caught.value.message and "text/csv" in caught.value.message


def test_invalid_json_is_400_with_the_error_position() -> None:
    with pytest.raises(InvalidInputError, match="not valid JSON: .* at line 2 column 14") as caught:
        parse('{"records": [\n  {"age": 41,}]}')
    assert caught.value.status_code == 400


def test_json_that_is_not_utf8_is_400() -> None:
    with pytest.raises(InvalidInputError, match="not valid UTF-8"):
        parse(b'{"records": [{"plan": "caf\xe9"}]}')


def test_deeply_nested_json_is_refused_not_crashed_on() -> None:
    with pytest.raises(InvalidInputError, match="nested too deeply"):
        parse("[" * 100_000 + "]" * 100_000, max_bytes=1_000_000)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (RECORDS, "must be an object, got a list"),
        ({"rows": RECORDS}, "needs one of the keys records, dataframe_records.*its keys: 'rows'"),
        ({"records": RECORDS, "instances": RECORDS}, "has 'records' and 'instances'"),
        ({"records": {"age": 1}}, "'records' must be a list, got an object"),
        ({"dataframe_records": [{"age": 1}, [1]]}, r"dataframe_records\[1\] must be an object"),
        ({"dataframe_split": [[1]]}, "dataframe_split must be an object"),
        ({"dataframe_split": {"data": [[1]]}}, "needs 'columns'"),
        ({"dataframe_split": {"columns": ["a"]}}, "needs 'data'"),
        ({"dataframe_split": {"columns": ["a", "a"], "data": [[1, 2]]}}, "more than once: 'a'"),
        (
            {"dataframe_split": {"columns": ["a", "b"], "data": [[1, 2], [3]]}},
            r"data\[1\] has 1 values but there are 2 columns",
        ),
        ({"instances": [[41, "basic"]]}, r"instances\[0\] has 2 values but the model has 3"),
        ({"instances": [[41, "basic", 1], {"age": 1}]}, "all instances as lists or all as objects"),
        ({"instances": [1, 2]}, r"instances\[0\] must be an object"),
    ],
)
def test_wrong_shapes_say_what_is_wrong_and_show_an_example(body: Any, message: str) -> None:
    with pytest.raises(InvalidInputError, match=message) as caught:
        parse(body)
    assert caught.value.status_code == 400
    assert "for example: {" in caught.value.message


def test_examples_use_the_model_feature_names() -> None:
    with pytest.raises(InvalidInputError) as caught:
        parse({"rows": RECORDS})
    assert '{"records": [{"age": <value>, "plan": <value>}]}' in caught.value.message


def test_instances_as_lists_need_the_feature_order() -> None:
    with pytest.raises(InvalidInputError, match="instances given as lists need the model's"):
        parse({"instances": [[41, "basic", 1]]}, feature_order=None)


# -- purity ---------------------------------------------------------------------------------
def test_parsing_does_not_import_pandas_or_numpy() -> None:
    code = (
        "import sys, chalicelib.serving._payloads as p\n"
        'p.parse_payload(b\'{"records": [{"a": 1}]}\', None, max_records=1, max_bytes=99)\n'
        "p.parse_payload('a\\n1\\n', 'text/csv', max_records=1, max_bytes=99)\n"
        "print(sorted({'pandas', 'numpy', 'boto3'} & set(sys.modules)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
