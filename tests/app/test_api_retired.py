"""Retired models and versions over HTTP: 410 Gone naming what is retired and how to restore
it, on predict and describe; listed and marked; served again once restored."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from chalice.test import Client

from chalicelib.registry import Registry
from chalicelib.storage import AwsClients
from sklambda.sample_data import TARGET
from tests.app.test_api import post, records
from tests.conftest import app_client
from tests.models import fitted_logreg, training_frame


@pytest.fixture
def client(aws: AwsClients, tmp_path, monkeypatch) -> Iterator[Client]:
    # No alias cache: each request sees the registry as it is (on AWS: within the TTL).
    monkeypatch.setenv("SKLAMBDA_ALIAS_CACHE_TTL_SECONDS", "0")
    with app_client(tmp_path) as test_client:
        yield test_client


@pytest.fixture
def two(registry: Registry) -> Registry:
    for _ in range(2):
        registry.register("churn", fitted_logreg(), training_frame(), TARGET)
    registry.promote("churn", 1)
    return registry


def predict(client: Client, query: str = ""):
    return post(client, f"/models/churn/predict{query}", {"records": records(1)})


def test_a_retired_version_is_gone_until_restored(client: Client, two: Registry) -> None:
    assert predict(client, "?version=2").status_code == 200
    two.retire("churn", 2, reason="superseded")

    gone = predict(client, "?version=2")
    assert gone.status_code == 410
    assert gone.json_body["error"] == "Gone"
    assert "version 2 of 'churn' is retired" in gone.json_body["message"]
    assert "`sklambda restore churn --version 2`" in gone.json_body["message"]
    assert client.http.get("/models/churn?version=2").status_code == 410
    assert predict(client).status_code == 200  # the champion still serves
    listed = client.http.get("/models").json_body["models"]
    assert listed[0]["retired"] is False and listed[0]["retired_versions"] == [2]

    two.restore("churn", 2)
    assert predict(client, "?version=2").status_code == 200
    assert client.http.get("/models/churn?version=2").status_code == 200


def test_a_retired_model_answers_410_everywhere_and_stays_listed(
    client: Client, two: Registry
) -> None:
    two.retire("churn", reason="product closed")
    for response in (
        predict(client),
        predict(client, "?version=1"),
        predict(client, "?alias=champion"),
        client.http.get("/models/churn"),
    ):
        assert response.status_code == 410
        assert "model 'churn' is retired" in response.json_body["message"]
        assert "`sklambda restore churn`" in response.json_body["message"]
    (listed,) = client.http.get("/models").json_body["models"]
    assert listed["name"] == "churn" and listed["retired"] is True

    two.restore("churn", reason="back")
    assert predict(client).json_body["model"]["version"] == 1
