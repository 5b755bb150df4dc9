"""A model's status, from the registry and the monitor's latest report."""

from __future__ import annotations

import pytest

from chalicelib.core import NotFoundError
from chalicelib.monitoring import model_status
from chalicelib.registry import Registry
from chalicelib.services import monitor as build_monitor
from chalicelib.storage import AwsClients
from sklambda.sample_data import TARGET
from tests.models import fitted_logreg, training_frame


def test_status_before_any_monitor_run_or_policy(aws: AwsClients, registry: Registry) -> None:
    for _ in range(2):
        registry.register("churn", fitted_logreg(), training_frame(), TARGET)
    registry.promote("churn", 1)
    registry.promote("churn", 2, alias="canary", weight=0.25)

    status = model_status(registry, build_monitor(aws, registry), "churn")

    assert [(r["alias"], r["version"], r["weight"]) for r in status["live"]] == [
        ("champion", 1, None),
        ("canary", 2, 0.25),
    ]
    assert status["live"][0]["origin"] == "registered" and status["live"][0]["monitor"] is None
    assert status["last_report"] is None
    assert status["policy"]["set"] is False
    assert status["policy"]["retrain_when"] == "asked (sklambda retrain)"
    assert status["retrain"]["state"] == "never run" and status["decisions"] == []


def test_policy_triggers_are_said_in_words(aws: AwsClients, registry: Registry) -> None:
    registry.register("churn", fitted_logreg(), training_frame(), TARGET)
    registry.set_policy("churn", {"every_days": 7, "on_drift": True, "accuracy_floor": 0.8})

    status = model_status(registry, build_monitor(aws, registry), "churn")

    assert status["policy"]["set"] is True
    assert status["policy"]["retrain_when"] == "every 7 days or drift is flagged or accuracy < 0.8"


def test_an_unknown_model_is_named(aws: AwsClients, registry: Registry) -> None:
    with pytest.raises(NotFoundError, match="nope"):
        model_status(registry, build_monitor(aws, registry), "nope")


def test_a_live_version_that_does_not_verify_says_why(aws: AwsClients, registry: Registry) -> None:
    from chalicelib.storage import ObjectStore
    from tests.conftest import MODELS_BUCKET

    for _ in range(2):
        registry.register("churn", fitted_logreg(), training_frame(), TARGET)
    registry.promote("churn", 1)
    registry.promote("churn", 2, alias="canary", weight=0.25)
    ObjectStore(aws.s3, MODELS_BUCKET).put_bytes("models/churn/versions/2/model.joblib", b"x")

    live = model_status(registry, build_monitor(aws, registry), "churn")["live"]

    assert live[0]["signature"] == "verified"
    assert live[1]["signature"].startswith(
        "refused: churn version 2: model.joblib does not match its signed sha256"
    )
