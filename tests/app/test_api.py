"""The HTTP scoring API through chalice.test.Client (and the raw Lambda entry), on moto."""

from __future__ import annotations

import json
from typing import Any
from unittest import mock

import numpy as np
import pandas as pd
import pytest
from chalice.test import Client

from chalicelib.core import reset_settings
from chalicelib.registry import Registry
from chalicelib.serving import parse_capture_line
from chalicelib.storage import AwsClients
from sklambda.sample_data import FEATURES, TARGET
from tests.conftest import DATA_BUCKET, MODELS_BUCKET
from tests.models import fitted_logreg, training_frame


def records(n: int = 2, start: int = 0) -> list[dict[str, Any]]:
    frame = training_frame()[FEATURES].iloc[start : start + n]
    rows = frame.astype(object).where(frame.notna(), None).to_dict("records")
    return [
        {k: (float(v) if isinstance(v, int | float) else v) for k, v in r.items()} for r in rows
    ]


def post(client: Client, path: str, body: Any, content_type: str = "application/json"):
    raw = body if isinstance(body, str | bytes) else json.dumps(body)
    return client.http.post(path, headers={"Content-Type": content_type}, body=raw)


def emf_documents(out: str) -> list[dict[str, Any]]:
    """EMF documents printed to stdout, with single-value metric lists unwrapped."""
    documents = []
    for line in out.splitlines():
        if line.startswith("{") and '"_aws"' in line:
            document = json.loads(line)
            documents.append(
                {k: v[0] if isinstance(v, list) and len(v) == 1 else v for k, v in document.items()}
            )
    return documents


def test_health_answers_without_aws(client: Client) -> None:
    response = client.http.get("/health")
    assert response.status_code == 200
    assert response.json_body["status"] == "ok"


def test_predict_returns_predictions_probabilities_and_ids(client, champion, capsys) -> None:
    response = post(client, "/models/churn/predict", {"records": records(3)})
    assert response.status_code == 200
    body = response.json_body
    assert body["model"] == {"name": "churn", "version": 1, "alias": "champion"}
    expected = fitted_logreg().predict_proba(training_frame()[FEATURES].iloc[:3])
    got = np.array([[p["0"], p["1"]] for p in body["probabilities"]])
    assert np.allclose(got, expected)
    assert (
        body["predictions"] == fitted_logreg().predict(training_frame()[FEATURES].iloc[:3]).tolist()
    )
    assert len(set(body["prediction_ids"])) == 3
    assert body["warnings"] == []


@pytest.mark.parametrize("form", ["dataframe_records", "dataframe_split", "instances", "csv"])
def test_mlflow_and_csv_bodies_give_the_same_answer(client, champion, form) -> None:
    rows = records(2)
    reference = post(client, "/models/churn/predict", {"records": rows}).json_body
    if form == "dataframe_split":
        body: Any = {
            "dataframe_split": {
                "columns": FEATURES,
                "data": [[r[f] for f in FEATURES] for r in rows],
            }
        }
    elif form == "csv":
        body = pd.DataFrame(rows).to_csv(index=False)
    else:
        body = {form: rows}
    content_type = "text/csv" if form == "csv" else "application/json"
    response = post(client, "/models/churn/predict", body, content_type)
    assert response.status_code == 200, response.json_body
    assert np.allclose(
        [p["1"] for p in response.json_body["probabilities"]],
        [p["1"] for p in reference["probabilities"]],
    )


def test_version_and_alias_query_pick_the_model(client, champion) -> None:
    champion.register("churn", fitted_logreg(), training_frame(), TARGET)
    champion.promote("churn", 2, alias="canary", weight=0.5)
    assert post(client, "/models/churn/predict?version=2", {"records": records(1)}).json_body[
        "model"
    ] == {"name": "churn", "version": 2, "alias": None}
    assert (
        post(client, "/models/churn/predict?alias=canary", {"records": records(1)}).json_body[
            "model"
        ]["version"]
        == 2
    )
    assert (
        post(client, "/models/churn/predict?alias=champion", {"records": records(1)}).json_body[
            "model"
        ]["version"]
        == 1
    )


def test_invalid_records_list_every_problem_with_index_and_field(client, champion) -> None:
    rows = records(3)
    del rows[0]["age"]
    rows[1]["tenure_months"] = "ten"
    rows[2]["monthly_charges"] = float("inf")
    response = client.http.post(
        "/models/churn/predict",
        headers={"Content-Type": "application/json"},
        body=json.dumps({"records": rows}),  # json.dumps writes Infinity, which the API refuses
    )
    assert response.status_code == 400
    body = response.json_body
    problems = {(d["record"], d["field"]) for d in body["details"]}
    assert problems == {(0, "age"), (1, "tenure_months"), (2, "monthly_charges")}
    assert "Traceback" not in response.body.decode() and MODELS_BUCKET not in response.body.decode()


def test_unknown_categories_follow_the_model_policy(client, champion) -> None:
    rows = records(1)
    rows[0]["contract"] = "weekly"
    warned = post(client, "/models/churn/predict", {"records": rows})
    assert warned.status_code == 200
    assert any("weekly" in w for w in warned.json_body["warnings"])

    champion.configure("churn", {"unknown_categories": "reject"})
    import app as app_module

    app_module.reset()  # the setting is cached for the TTL; a new container sees it at once
    rejected = post(client, "/models/churn/predict", {"records": rows})
    assert rejected.status_code == 400
    assert rejected.json_body["details"][0]["field"] == "contract"


def test_extra_fields_are_ignored_with_a_warning(client, champion) -> None:
    rows = records(1)
    rows[0]["favourite_colour"] = "green"
    response = post(client, "/models/churn/predict", {"records": rows})
    assert response.status_code == 200
    assert any("favourite_colour" in w for w in response.json_body["warnings"])


@pytest.mark.parametrize(
    ("path", "body", "content_type", "status", "error"),
    [
        ("/models/nope/predict", {"records": records(1)}, "application/json", 404, "NotFound"),
        (
            "/models/churn/predict?version=9",
            {"records": records(1)},
            "application/json",
            404,
            "NotFound",
        ),
        ("/models/churn/predict", "not json", "application/json", 400, "InvalidInput"),
        ("/models/churn/predict", {"rows": []}, "application/json", 400, "InvalidInput"),
        ("/models/churn/predict", "a,b\n1,2", "text/plain", 415, "UnsupportedMediaType"),
        (
            "/models/churn/predict?version=x",
            {"records": records(1)},
            "application/json",
            400,
            "InvalidInput",
        ),
    ],
)
def test_errors_have_the_right_status_and_a_json_body(
    client, champion, path, body, content_type, status, error
) -> None:
    response = post(client, path, body, content_type)
    assert response.status_code == status
    assert response.json_body["error"] == error
    assert response.json_body["message"]
    assert "Traceback" not in response.body.decode()


def test_too_many_records_or_bytes_is_413(client, champion, monkeypatch) -> None:
    import app as app_module

    monkeypatch.setenv("SKLAMBDA_MAX_RECORDS", "2")
    monkeypatch.setenv("SKLAMBDA_MAX_REQUEST_BYTES", "5000")
    reset_settings()
    app_module.reset()
    too_many = post(client, "/models/churn/predict", {"records": records(3)})
    assert too_many.status_code == 413 and "split" in too_many.json_body["message"]
    too_big = post(client, "/models/churn/predict", {"records": records(1), "pad": "x" * 6000})
    assert too_big.status_code == 413


def test_no_champion_is_503_and_says_how_to_promote(client, registry) -> None:
    registry.register("churn", fitted_logreg(), training_frame(), TARGET)
    response = post(client, "/models/churn/predict", {"records": records(1)})
    assert response.status_code == 503
    assert "sklambda promote churn VERSION" in response.json_body["message"]


def test_unexpected_failure_is_500_without_internals(client, champion) -> None:
    with mock.patch(
        "chalicelib.scoring._scorer.Scorer.score", side_effect=RuntimeError(f"s3://{MODELS_BUCKET}")
    ):
        response = post(client, "/models/churn/predict", {"records": records(1)})
    assert response.status_code == 500
    text = response.body.decode()
    assert MODELS_BUCKET not in text and "Traceback" not in text
    assert response.json_body["request_id"] in response.json_body["message"]


def test_models_and_model_routes_show_metadata_schema_and_aliases(client, champion) -> None:
    listed = client.http.get("/models").json_body["models"]
    assert listed == [
        {
            "name": "churn",
            "latest_version": 1,
            "aliases": {"champion": mock.ANY},
            "retired": False,
            "retired_versions": [],
        }
    ]
    described = client.http.get("/models/churn").json_body
    assert described["version"] == 1
    assert described["aliases"]["champion"]["version"] == 1
    assert described["input_schema"]["required"] == FEATURES
    assert described["metadata"]["artifact"]["sha256"]
    assert client.http.get("/models/nope").status_code == 404


def test_promotion_takes_effect_without_redeploy(client, champion, monkeypatch) -> None:
    import app as app_module

    monkeypatch.setenv("SKLAMBDA_ALIAS_CACHE_TTL_SECONDS", "0")
    reset_settings()
    app_module.reset()
    assert (
        post(client, "/models/churn/predict", {"records": records(1)}).json_body["model"]["version"]
        == 1
    )
    champion.register("churn", fitted_logreg(), training_frame(), TARGET)
    champion.promote("churn", 2)
    assert (
        post(client, "/models/churn/predict", {"records": records(1)}).json_body["model"]["version"]
        == 2
    )


def test_metrics_carry_model_version_and_consumer(client, champion, capsys) -> None:
    post(client, "/models/churn/predict", {"records": records(2)})
    documents = emf_documents(capsys.readouterr().out)
    scored = next(d for d in documents if "RecordsScored" in d)
    assert scored["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "sklambda"
    assert scored["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [
        ["Model", "Version", "Consumer"]
    ]
    assert (scored["Model"], scored["Version"], scored["RecordsScored"]) == ("churn", "1", 2.0)
    assert scored["RequestCount"] == 1.0 and scored["Latency"] > 0


def test_errors_are_counted_by_reason(client, champion, capsys) -> None:
    post(client, "/models/nope/predict", {"records": records(1)})
    documents = emf_documents(capsys.readouterr().out)
    error = next(d for d in documents if "4xxErrors" in d)
    assert (error["Model"], error["Reason"], error["4xxErrors"]) == ("nope", "NotFound", 1.0)


def test_consumer_is_the_api_key_id_from_the_request_context(aws, champion, capsys) -> None:
    import app as app_module

    reset_settings()
    app_module.reset()
    resource = "/models/{name}/predict"
    event = lambda_event("POST", resource, "/models/churn/predict")
    event["requestContext"].update(
        requestId="req-123", identity={"apiKeyId": "key-analytics-team", "sourceIp": "10.0.0.1"}
    )
    event["body"] = json.dumps({"records": records(1)})
    context = mock.Mock(aws_request_id="lambda-1")
    response = app_module.app(event, context)
    assert response["statusCode"] == 200
    documents = emf_documents(capsys.readouterr().out)
    assert any(d.get("Consumer") == "key-analytics-team" for d in documents)


def test_capture_lines_hold_inputs_outputs_and_ids(client, champion, capsys) -> None:
    body = post(client, "/models/churn/predict", {"records": records(2)}).json_body
    captured = [r for r in map(parse_capture_line, capsys.readouterr().out.splitlines()) if r]
    assert [c["prediction_id"] for c in captured] == body["prediction_ids"]
    assert captured[0]["inputs"]["contract"] == records(1)[0]["contract"]
    assert captured[0]["version"] == 1 and captured[0]["role"] == "primary"
    assert captured[0]["probabilities"] == body["probabilities"][0]
    assert captured[0]["latency_ms"] > 0


def test_capture_sample_rate_zero_captures_nothing(client, champion, capsys) -> None:
    champion.configure("churn", {"capture_sample_rate": 0.0})
    post(client, "/models/churn/predict", {"records": records(2)})
    assert not [r for r in map(parse_capture_line, capsys.readouterr().out.splitlines()) if r]


def firehose_to_data_bucket(aws: AwsClients, name: str = "sklambda-capture") -> None:
    aws.client("firehose").create_delivery_stream(
        DeliveryStreamName=name,
        ExtendedS3DestinationConfiguration={
            "RoleARN": "arn:aws:iam::123456789012:role/firehose",
            "BucketARN": f"arn:aws:s3:::{DATA_BUCKET}",
            "Prefix": "capture/",
        },
    )


def test_firehose_capture_lands_in_the_data_bucket(aws, client, champion, monkeypatch) -> None:
    import app as app_module

    firehose_to_data_bucket(aws)
    monkeypatch.setenv("SKLAMBDA_CAPTURE_MODE", "firehose")
    monkeypatch.setenv("SKLAMBDA_CAPTURE_STREAM", "sklambda-capture")
    reset_settings()
    app_module.reset()
    body = post(client, "/models/churn/predict", {"records": records(2)}).json_body
    listed = aws.s3.list_objects_v2(Bucket=DATA_BUCKET, Prefix="capture/").get("Contents", [])
    lines = []
    for item in listed:
        text = aws.s3.get_object(Bucket=DATA_BUCKET, Key=item["Key"])["Body"].read().decode()
        lines += [parse_capture_line(line) for line in text.splitlines() if line]
    assert sorted(r["prediction_id"] for r in lines) == sorted(body["prediction_ids"])


def test_capture_failure_never_fails_the_request_and_is_counted(
    aws, client, champion, monkeypatch, capsys
) -> None:
    import app as app_module

    monkeypatch.setenv("SKLAMBDA_CAPTURE_MODE", "firehose")
    monkeypatch.setenv("SKLAMBDA_CAPTURE_STREAM", "no-such-stream")
    reset_settings()
    app_module.reset()
    response = post(client, "/models/churn/predict", {"records": records(1)})
    assert response.status_code == 200
    scored = next(d for d in emf_documents(capsys.readouterr().out) if "RecordsScored" in d)
    assert scored["CaptureFailures"] == 1.0


def test_shadow_is_scored_and_captured_but_not_returned(client, champion, capsys) -> None:
    champion.register("churn", fitted_logreg(), training_frame(), TARGET)
    champion.promote("churn", 2, alias="shadow")
    body = post(client, "/models/churn/predict", {"records": records(1)}).json_body
    assert body["model"]["version"] == 1
    captured = [r for r in map(parse_capture_line, capsys.readouterr().out.splitlines()) if r]
    assert {(c["role"], c["version"]) for c in captured} == {("primary", 1), ("shadow", 2)}
    assert len({c["prediction_id"] for c in captured}) == 1


def test_canary_is_sticky_per_entity_id_field(client, champion) -> None:
    champion.register("churn", fitted_logreg(), training_frame(), TARGET)
    champion.promote("churn", 2, alias="canary", weight=0.5)
    champion.configure("churn", {"entity_id_field": "customer_id"})
    seen: dict[str, set[int]] = {}
    for i in range(12):
        row = {**records(1)[0], "customer_id": f"c-{i % 4}"}
        body = post(client, "/models/churn/predict", {"records": [row]}).json_body
        assert body["warnings"] == []  # the entity id is expected, not an ignored field
        version = body["model"]["version"]
        seen.setdefault(row["customer_id"], set()).add(version)
    assert all(len(versions) == 1 for versions in seen.values())


def test_feedback_is_stored_for_the_monitor(aws, client, champion) -> None:
    ids = post(client, "/models/churn/predict", {"records": records(2)}).json_body["prediction_ids"]
    response = post(
        client,
        "/models/churn/feedback",
        [{"prediction_id": ids[0], "actual": 1}, {"prediction_id": ids[1], "actual": 0}],
    )
    assert response.status_code == 200 and response.json_body["accepted"] == 2
    listed = aws.s3.list_objects_v2(Bucket=DATA_BUCKET, Prefix="feedback/churn/")["Contents"]
    text = aws.s3.get_object(Bucket=DATA_BUCKET, Key=listed[0]["Key"])["Body"].read().decode()
    stored = [json.loads(line) for line in text.splitlines()]
    assert [(s["prediction_id"], s["actual"]) for s in stored] == [(ids[0], 1), (ids[1], 0)]


def test_bad_feedback_is_400_and_unknown_model_404(aws, client, champion) -> None:
    bad = post(client, "/models/churn/feedback", [{"prediction_id": "", "actual": None}])
    assert bad.status_code == 400
    assert {d["field"] for d in bad.json_body["details"]} == {"prediction_id", "actual"}
    assert (
        post(client, "/models/nope/feedback", [{"prediction_id": "a", "actual": 1}]).status_code
        == 404
    )
    assert "Contents" not in aws.s3.list_objects_v2(Bucket=DATA_BUCKET, Prefix="feedback/")


@pytest.fixture
def aws_calls(monkeypatch) -> list[tuple[str, str, dict[str, Any]]]:
    """Every AWS API call made from here on, as (service, operation, parameters)."""
    from botocore.client import BaseClient

    calls: list[tuple[str, str, dict[str, Any]]] = []
    original = BaseClient._make_api_call

    def recording(self: Any, operation: str, params: dict[str, Any]) -> Any:
        calls.append((self.meta.service_model.service_name, operation, params))
        return original(self, operation, params)

    monkeypatch.setattr(BaseClient, "_make_api_call", recording)
    return calls


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        ({"records": records(3)}, "application/json"),
        ({"instances": [[1.0] * len(FEATURES)] * 3}, "application/json"),
        (pd.DataFrame(records(3)).to_csv(index=False), "text/csv"),
        ({"records": records(1), "pad": "x" * 6000}, "application/json"),
    ],
    ids=["records", "instances", "csv", "bytes"],
)
def test_a_body_over_the_limits_is_refused_on_a_cold_container_without_reading_the_model(
    client, champion, monkeypatch, aws_calls, body, content_type
) -> None:
    import app as app_module

    monkeypatch.setenv("SKLAMBDA_MAX_RECORDS", "2")
    monkeypatch.setenv("SKLAMBDA_MAX_REQUEST_BYTES", "5000")
    reset_settings()
    app_module.reset()  # a new container: nothing loaded, nothing cached
    aws_calls.clear()
    with mock.patch.object(Registry, "load", side_effect=AssertionError("model loaded")) as load:
        response = post(client, "/models/churn/predict", body, content_type)
    assert response.status_code == 413, response.json_body
    assert response.json_body["error"] == "PayloadTooLarge"
    load.assert_not_called()
    # Not even the aliases or the metadata are read: the refusal costs no AWS call at all.
    assert aws_calls == []


def lambda_event(method: str, resource: str, path: str, **extra: Any) -> dict[str, Any]:
    """An API Gateway proxy event as Lambda receives it, with request id `req-1`."""
    return {
        "resource": resource,
        "path": path,
        "httpMethod": method,
        "headers": {"Content-Type": "application/json"},
        "multiValueHeaders": {},
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": {"name": "churn"},
        "stageVariables": None,
        "requestContext": {"resourcePath": resource, "httpMethod": method, "requestId": "req-1"},
        "body": None,
        "isBase64Encoded": False,
        **extra,
    }


def assert_error_shape(body: dict[str, Any], code: str) -> None:
    assert set(body) == {"error", "message", "request_id"}
    assert body["error"] == code and body["message"]
    assert body["request_id"] not in ("", "-")


def test_wrong_method_is_405_in_the_error_shape_and_names_the_allowed_method(client) -> None:
    response = client.http.get("/models/churn/predict")
    assert response.status_code == 405
    assert_error_shape(response.json_body, "MethodNotAllowedError")
    assert (
        "GET" in response.json_body["message"] and "accepts POST" in response.json_body["message"]
    )


@pytest.mark.parametrize(
    ("path", "accepted"),
    [
        ("/models/churn/predict", "send application/json or text/csv"),
        ("/models/churn/feedback", "send application/json and"),
    ],
)
def test_unsupported_media_type_is_415_in_the_error_shape_with_the_route_s_types(
    client, path, accepted
) -> None:
    response = post(client, path, "a,b\n1,2", "text/plain")
    assert response.status_code == 415
    assert_error_shape(response.json_body, "UnsupportedMediaType")
    assert accepted in response.json_body["message"]


def test_framework_errors_carry_api_gateway_s_request_id(aws) -> None:
    import app as app_module

    context = mock.Mock(aws_request_id="lambda-1")
    response = app_module.app(
        lambda_event("GET", "/models/{name}/predict", "/models/churn/predict"), context
    )
    assert response["statusCode"] == 405
    assert json.loads(response["body"])["request_id"] == "req-1"


def test_a_failure_outside_any_view_is_a_500_in_the_error_shape_without_internals(aws) -> None:
    import app as app_module

    # No path parameters for a route that has one: Chalice fails before any view runs.
    event = lambda_event("GET", "/models/{name}", "/models/churn", pathParameters=None)
    response = app_module.app(event, mock.Mock(aws_request_id="lambda-1"))
    assert response["statusCode"] == 500
    body = json.loads(response["body"])
    assert_error_shape(body, "InternalError")
    assert body["request_id"] == "req-1" and "req-1" in body["message"]
    assert "Traceback" not in response["body"] and "NoneType" not in response["body"]


def test_a_path_the_function_has_no_route_for_is_answered_in_the_error_shape(aws) -> None:
    import app as app_module

    event = lambda_event("GET", "/no/such/route", "/no/such/route", pathParameters=None)
    try:
        response = app_module.app(event, mock.Mock(aws_request_id="lambda-1"))
    finally:
        app_module.app.routes.pop("/no/such/route", None)  # Chalice's route table adds it
    body = json.loads(response["body"])
    assert response["statusCode"] == 405
    assert_error_shape(body, "MethodNotAllowedError")
    assert body["request_id"] == "req-1"
    assert "no route answers GET /no/such/route" in body["message"]
