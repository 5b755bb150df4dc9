"""GET /models/{name}/predictions/{id}: a past prediction read back from the capture, which
Firehose (moto's) delivers to the data bucket as the stack's stream does."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from chalice.test import Client

from chalicelib.core import new_prediction_id
from chalicelib.storage import AwsClients
from sklambda.sample_data import FEATURES, TARGET
from tests.app.test_api import firehose_to_data_bucket, post, records
from tests.conftest import DATA_BUCKET, app_client
from tests.models import fitted_logreg, training_frame

STREAM = "sklambda-capture"


@pytest.fixture
def client(aws: AwsClients, tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Client]:
    """The API, capturing every request through Firehose into the data bucket."""

    firehose_to_data_bucket(aws, STREAM)
    monkeypatch.setenv("SKLAMBDA_CAPTURE_MODE", "firehose")
    monkeypatch.setenv("SKLAMBDA_CAPTURE_STREAM", STREAM)
    with app_client(tmp_path) as test_client:
        yield test_client


def predicted(client: Client, rows: list[dict[str, Any]], query: str = "") -> dict[str, Any]:
    response = post(client, f"/models/churn/predict{query}", {"records": rows})
    assert response.status_code == 200, response.json_body
    return response.json_body


def test_a_prediction_asked_with_explain_reads_back_with_its_captured_explanation(
    client, champion
) -> None:
    body = predicted(client, records(2), "?explain=true")

    response = client.http.get(f"/models/churn/predictions/{body['prediction_ids'][1]}")

    assert response.status_code == 200, response.json_body
    shown = response.json_body
    assert shown["model"] == "churn" and shown["prediction_id"] == body["prediction_ids"][1]
    assert (shown["version"], shown["alias"]) == (1, "champion")
    assert shown["prediction"] == body["predictions"][1]
    assert shown["probabilities"] == body["probabilities"][1]
    assert shown["inputs"]["contract"] == records(2)[1]["contract"]
    assert shown["explanation"] == body["explanations"][1]
    assert shown["explanation_source"] == "captured"
    made = datetime.fromisoformat(shown["made_at"].replace("Z", "+00:00"))
    assert abs(made - datetime.now(UTC)) < timedelta(minutes=1)
    assert shown["captured_at"] >= shown["made_at"]


def test_without_a_captured_explanation_explain_recomputes_it_with_the_same_version(
    client, champion
) -> None:
    rows = records(1, start=5)
    plain = predicted(client, rows)
    explained = predicted(client, rows, "?explain=true")
    pid = plain["prediction_ids"][0]

    without = client.http.get(f"/models/churn/predictions/{pid}").json_body
    recomputed = client.http.get(f"/models/churn/predictions/{pid}?explain=true").json_body

    assert without["explanation"] is None and without["explanation_source"] is None
    assert recomputed["explanation_source"] == "recomputed"
    assert recomputed["explanation"] == explained["explanations"][0]
    same = [k for k in without if not k.startswith("explanation")]
    assert {k: recomputed[k] for k in same} == {k: without[k] for k in same}


def test_a_prediction_not_captured_is_404_saying_why_it_may_be_missing(client, champion) -> None:
    champion.configure("churn", {"capture_sample_rate": 0.0})
    pid = predicted(client, records(1))["prediction_ids"][0]

    response = client.http.get(f"/models/churn/predictions/{pid}")

    assert response.status_code == 404, response.json_body
    message = response.json_body["message"]
    assert "not found in the capture" in message and "sample rate" in message
    assert "15 minutes" in message and "batch predictions" in message
    assert DATA_BUCKET not in message and "capture/" not in message


def test_an_id_that_is_no_prediction_id_is_400_saying_what_one_looks_like(client, champion) -> None:
    response = client.http.get("/models/churn/predictions/not-an-id")

    assert response.status_code == 400, response.json_body
    assert "UUIDv7" in response.json_body["message"]
    assert "prediction_ids" in response.json_body["message"]


def test_an_unknown_model_is_404(client, champion) -> None:
    response = client.http.get(f"/models/nope/predictions/{new_prediction_id()}")

    assert response.status_code == 404, response.json_body
    assert "nope" in response.json_body["message"]


def test_the_shadow_s_record_is_never_shown(client, champion) -> None:
    champion.register("churn", fitted_logreg(), training_frame(), TARGET)
    champion.promote("churn", 2, alias="shadow")
    pid = predicted(client, records(1))["prediction_ids"][0]

    shown = client.http.get(f"/models/churn/predictions/{pid}").json_body

    assert shown["version"] == 1 and shown["alias"] == "champion"


def test_only_the_shadow_s_record_is_not_found(aws, client, champion) -> None:
    """A capture holding the shadow's record of an id (its primary one was not sampled or not
    delivered) does not answer with the shadow's prediction."""
    champion.register("churn", fitted_logreg(), training_frame(), TARGET)
    champion.promote("churn", 2, alias="shadow")
    pid = predicted(client, records(1))["prediction_ids"][0]
    for item in aws.s3.list_objects_v2(Bucket=DATA_BUCKET, Prefix="capture/")["Contents"]:
        body = aws.s3.get_object(Bucket=DATA_BUCKET, Key=item["Key"])["Body"].read().decode()
        kept = [line for line in body.splitlines() if '"role":"shadow"' in line]
        aws.s3.put_object(Bucket=DATA_BUCKET, Key=item["Key"], Body="\n".join(kept).encode())

    response = client.http.get(f"/models/churn/predictions/{pid}")

    assert response.status_code == 404, response.json_body


def test_another_model_s_prediction_is_not_found_under_this_one(client, champion) -> None:
    champion.register("other", fitted_logreg(), training_frame(), TARGET)
    champion.promote("other", 1)
    response = post(client, "/models/other/predict", {"records": records(1)})
    pid = response.json_body["prediction_ids"][0]

    assert client.http.get(f"/models/churn/predictions/{pid}").status_code == 404
    assert client.http.get(f"/models/other/predictions/{pid}").status_code == 200


def test_a_retired_model_answers_410(client, champion) -> None:
    pid = predicted(client, records(1))["prediction_ids"][0]
    champion.retire("churn", reason="product closed")

    import app as app_module

    app_module.reset()  # past the alias cache
    response = client.http.get(f"/models/churn/predictions/{pid}")

    assert response.status_code == 410, response.json_body
    assert "sklambda restore churn" in response.json_body["message"]


def test_explain_must_be_true_or_false(client, champion) -> None:
    pid = predicted(client, records(1))["prediction_ids"][0]
    response = client.http.get(f"/models/churn/predictions/{pid}?explain=yes")
    assert response.status_code == 400
    assert "explain must be true or false" in response.json_body["message"]


def test_explain_of_a_version_that_cannot_be_explained_is_400_with_the_reason(
    client, champion
) -> None:
    from sklearn.neighbors import KNeighborsClassifier

    from sklambda.sample_data import reference_pipeline

    # Its own name: the container's model cache outlives each test's moto, and knows churn.
    pipeline = reference_pipeline("logreg").set_params(model=KNeighborsClassifier())
    frame = training_frame()
    champion.register("nearest", pipeline.fit(frame[FEATURES], frame[TARGET]), frame, TARGET)
    champion.promote("nearest", 1)
    response = post(client, "/models/nearest/predict", {"records": records(1)})
    pid = response.json_body["prediction_ids"][0]

    shown = client.http.get(f"/models/nearest/predictions/{pid}")
    refused = client.http.get(f"/models/nearest/predictions/{pid}?explain=true")

    assert shown.status_code == 200 and shown.json_body["explanation"] is None
    assert refused.status_code == 400, refused.json_body
    assert refused.json_body["error"] == "ExplanationUnavailable"
    assert "nearest version 1" in refused.json_body["message"]


def test_a_retired_version_s_prediction_is_shown_but_not_explained_again(client, champion) -> None:
    import app as app_module

    champion.register("churn", fitted_logreg(), training_frame(), TARGET)
    pid = predicted(client, records(1), "?version=2")["prediction_ids"][0]
    champion.retire("churn", 2, reason="superseded")
    app_module.reset()  # past the alias cache

    shown = client.http.get(f"/models/churn/predictions/{pid}")
    refused = client.http.get(f"/models/churn/predictions/{pid}?explain=true")

    assert shown.status_code == 200 and shown.json_body["version"] == 2
    assert refused.status_code == 410, refused.json_body
    assert "sklambda restore churn --version 2" in refused.json_body["message"]
