"""Ground truth naming batch predictions: the monitor finds their ids in the scored batch
files that can hold them and joins them as it joins HTTP ones (moto)."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import accuracy_score

from chalicelib.batch import could_hold
from chalicelib.core import iso, new_prediction_id
from chalicelib.serving import store_feedback
from chalicelib.storage import AwsClients
from sklambda.sample_data import FEATURES, churn_frame
from tests.conftest import DATA_BUCKET
from tests.models import fitted_regressor, training_frame
from tests.monitoring.world import MODEL, MonitorWorld, score_batch_file, version_entry


def scored_file(aws: AwsClients, name: str, n: int, seed: int) -> pd.DataFrame:
    """Score a batch file of `n` customers; its scored rows (ids, predictions)."""
    score_batch_file(aws, f"batch/incoming/churn/{name}.csv", churn_frame(n, seed=seed)[FEATURES])
    body = aws.s3.get_object(Bucket=DATA_BUCKET, Key=f"batch/scored/churn/{name}.csv")["Body"]
    return pd.read_csv(io.BytesIO(body.read()))


def half_wrong(scored: pd.DataFrame) -> list[dict[str, Any]]:
    """Labels for every scored row: every other one disagrees with the prediction."""
    return [
        {"prediction_id": pid, "actual": int(p) if i % 2 else 1 - int(p)}
        for i, (pid, p) in enumerate(
            zip(scored["prediction_id"], scored["prediction"], strict=True)
        )
    ]


def direct_accuracy(labels: list[dict[str, Any]], predictions: dict[str, Any]) -> float:
    """Accuracy computed straight from the labels and the predictions they name."""
    actual = [int(label["actual"]) for label in labels]
    predicted = [int(predictions[label["prediction_id"]]) for label in labels]
    return float(accuracy_score(actual, predicted))


def feedback_file(
    world: MonitorWorld, name: str, labels: list[dict[str, Any]], model: str = MODEL
) -> None:
    """An analyst drops the labels as a CSV file under the feedback prefix."""
    body = pd.DataFrame(labels).to_csv(index=False).encode()
    world.data.put_bytes(f"feedback/{model}/{name}.csv", body)


@pytest.fixture
def searched(world: MonitorWorld, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The scored files the monitor searches for labelled ids, in order."""
    keys: list[str] = []
    sources = world.monitor.sources
    real = sources.batch_predictions

    def recording(manifest: Any, *args: Any, **kwargs: Any) -> Any:
        keys.append(manifest["outputs"]["scored"]["key"])
        return real(manifest, *args, **kwargs)

    monkeypatch.setattr(sources, "batch_predictions", recording)
    yield keys


def test_a_feedback_file_naming_batch_ids_is_joined(world: MonitorWorld, aws: AwsClients) -> None:
    scored = scored_file(aws, "april", 300, seed=5)
    labels = half_wrong(scored.iloc[:240])
    feedback_file(world, "batch-labels", labels)

    world.run()

    report = world.report()
    quality = version_entry(report)["quality"]
    predictions = dict(zip(scored["prediction_id"], scored["prediction"], strict=True))
    assert quality["labelled"] == 240
    assert quality["metrics"]["accuracy"] == pytest.approx(direct_accuracy(labels, predictions))
    assert "roc_auc" in quality["metrics"] and "log_loss" in quality["metrics"]  # probabilities
    assert report["feedback"] == {"received": 240, "joined": 240, "unusable_rows": 0}


def test_feedback_through_the_route_names_batch_ids(
    world: MonitorWorld, aws: AwsClients, api
) -> None:
    scored = scored_file(aws, "may", 200, seed=8)
    labels = half_wrong(scored)[:150]
    response = api.http.post(
        "/models/churn/feedback",
        headers={"Content-Type": "application/json"},
        body=json.dumps(labels),
    )
    assert response.status_code == 200 and response.json_body["accepted"] == 150

    world.run()

    quality = version_entry(world.report())["quality"]
    predictions = dict(zip(scored["prediction_id"], scored["prediction"], strict=True))
    assert quality["labelled"] == 150
    assert quality["metrics"]["accuracy"] == pytest.approx(direct_accuracy(labels, predictions))


def test_feedback_mixing_http_and_batch_ids_counts_both_alike(
    world: MonitorWorld, aws: AwsClients
) -> None:
    responses = world.traffic(churn_frame(200, seed=21))
    http = [
        {"prediction_id": pid, "actual": 1 - int(p)}  # every HTTP prediction wrong
        for r in responses
        for pid, p in zip(r["prediction_ids"], r["predictions"], strict=True)
    ]
    scored = scored_file(aws, "june", 200, seed=22)
    batch = [  # every batch prediction right
        {"prediction_id": pid, "actual": int(p)}
        for pid, p in zip(scored["prediction_id"], scored["prediction"], strict=True)
    ]
    store_feedback(
        world.data,
        "feedback/",
        MODEL,
        http[:100] + batch[:100],
        received=datetime.now(UTC),
        request_id="fb-mixed",
        consumer="tests",
    )

    world.run()

    report = world.report()
    quality = version_entry(report)["quality"]
    assert quality["labelled"] == 200
    assert quality["metrics"]["accuracy"] == pytest.approx(0.5)
    assert report["feedback"]["joined"] == 200
    assert version_entry(report)["traffic"] == {"http": 200, "batch": 200, "total": 400}


def test_ids_that_match_nothing_are_received_but_not_joined(
    world: MonitorWorld, aws: AwsClients
) -> None:
    scored = scored_file(aws, "july", 100, seed=31)
    labels = half_wrong(scored)[:60]
    strangers = [
        {"prediction_id": new_prediction_id(), "actual": 1},  # a time, but no such prediction
        {"prediction_id": new_prediction_id(), "actual": 0},
        {"prediction_id": "order-42", "actual": 1},  # no time at all
    ]
    feedback_file(world, "with-strangers", labels + strangers)

    world.run()

    report = world.report()
    assert report["feedback"] == {"received": 63, "joined": 60, "unusable_rows": 0}
    assert version_entry(report)["quality"]["labelled"] == 60


def test_only_files_that_can_hold_the_ids_are_read_and_reading_stops_when_all_are_found(
    world: MonitorWorld, aws: AwsClients, searched: list[str]
) -> None:
    first = scored_file(aws, "a-first", 150, seed=41)
    scored_file(aws, "b-second", 150, seed=42)
    feedback_file(world, "first-only", half_wrong(first.iloc[:50]))

    world.run()

    assert searched == ["batch/scored/churn/a-first.csv"]  # all found there: b-second unread
    assert version_entry(world.report())["quality"]["labelled"] == 50


def test_a_manifest_bounds_the_ids_its_file_can_hold() -> None:
    start = datetime(2026, 11, 30, 9, 59, 58, tzinfo=UTC)
    manifest = {
        "prediction_id_column": "prediction_id",
        "started_at": iso(start),
        "finished_at": iso(start + timedelta(minutes=3)),
    }
    assert could_hold(manifest, [start + timedelta(minutes=1)])
    assert could_hold(manifest, [start - timedelta(hours=2), start + timedelta(seconds=1)])
    assert not could_hold(manifest, [start - timedelta(minutes=1)])
    assert not could_hold(manifest, [start + timedelta(minutes=4)])
    older = {k: v for k, v in manifest.items() if k != "prediction_id_column"}
    assert not could_hold(older, [start + timedelta(minutes=1)])  # scored before ids existed


def test_a_regressors_batch_predictions_get_error_metrics(
    world: MonitorWorld, aws: AwsClients
) -> None:
    world.register(
        "charges", fitted_regressor(), training_frame()[["tenure_months", "age", "monthly_charges"]]
    )
    world.registry.promote("charges", 1)
    truth = churn_frame(200, seed=51)
    score_batch_file(aws, "batch/incoming/charges/q1.csv", truth[["tenure_months", "age"]])
    body = aws.s3.get_object(Bucket=DATA_BUCKET, Key="batch/scored/charges/q1.csv")["Body"]
    scored = pd.read_csv(io.BytesIO(body.read()))
    assert not [c for c in scored.columns if c.startswith("proba_")]  # a regressor has none
    labels = [
        {"prediction_id": pid, "actual": float(a)}
        for pid, a in zip(scored["prediction_id"], truth["monthly_charges"], strict=True)
    ]
    feedback_file(world, "charges-labels", labels, model="charges")

    world.run("charges")

    quality = version_entry(world.report("charges"))["quality"]
    assert quality["labelled"] == 200
    expected_mae = float(np.mean(np.abs(scored["prediction"] - truth["monthly_charges"])))
    assert quality["metrics"]["mae"] == pytest.approx(expected_mae, rel=1e-4)
