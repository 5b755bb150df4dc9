"""Retraining and safe rollout end to end on moto: drift → scheduled retrain → gate → canary
→ promotion after bake; a worse challenger stays unpromoted; a failing canary is rolled back;
concurrent retrains promote once; every step is in the history with its reason."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd
import pytest

from chalicelib.core import ConflictError, RetrainFailed
from chalicelib.monitoring import MonitorRun
from chalicelib.registry import Registry
from chalicelib.services import retrainer
from chalicelib.serving import RequestInfo
from sklambda.sample_data import FEATURES, TARGET, churn_frame
from tests.conftest import DATA_BUCKET, MODELS_BUCKET
from tests.monitoring.world import MODEL, MonitorWorld, as_records

CANARY_POLICY = {
    "on_drift": True,
    "action": "canary",
    "canary_weight": 0.5,
    "bake_hours": 1.0,
    "min_requests": 20,
    "min_labels": 10_000,  # quality is compared in its own test
    # A few dozen requests on a shared machine make p95 latency noise; tests/rollout/test_gating.py
    # covers the latency guardrail.
    "max_latency_ratio": 20.0,
}


def new_world(n: int, seed: int) -> pd.DataFrame:
    """Customers after the market changed: they look different and churn for other reasons."""
    frame = churn_frame(n, seed=seed, shift=1.0)
    frame[TARGET] = 1 - frame[TARGET]
    return frame


def put_training_data(world: MonitorWorld, frame: pd.DataFrame, name: str = "week-47") -> None:
    world.data.put_bytes(
        f"training/{MODEL}/{name}.csv", frame[[*FEATURES, TARGET]].to_csv(index=False).encode()
    )


def aliases(registry: Registry) -> dict[str, Any]:
    return {k: v["version"] for k, v in registry.get_aliases(MODEL)["aliases"].items()}


def run_at(world: MonitorWorld, at: datetime, event_id: str) -> dict:
    return world.monitor.run([MODEL], MonitorRun(event_id, at, "schedule", 24))


def tolerant_traffic(world: MonitorWorld, frame: pd.DataFrame, per_request: int = 10) -> int:
    """Score the rows; count server errors (a broken canary fails some requests)."""
    failures = 0
    records = as_records(frame)
    for start in range(0, len(records), per_request):
        body = json.dumps({"records": records[start : start + per_request]})
        info = RequestInfo(request_id=f"t{start}-{len(records)}", consumer="tests")
        try:
            world.server.predict(MODEL, body, "application/json", {}, info)
        except Exception:  # noqa: BLE001 - counted, as a client would see a 500
            failures += 1
    world.flush_capture()
    return failures


@pytest.fixture
def world(aws, registry: Registry) -> MonitorWorld:
    built = MonitorWorld(aws, registry)
    built.register()
    registry.promote(MODEL, 1)
    return built


def test_drift_retrains_behind_the_gate_then_the_canary_is_promoted_after_its_bake(
    world: MonitorWorld,
) -> None:
    registry = world.registry
    registry.configure(MODEL, {"drift_thresholds": {"consecutive_breaches": 1}})
    registry.set_policy(MODEL, CANARY_POLICY)
    put_training_data(world, new_world(2000, seed=31))
    world.traffic(new_world(600, seed=32))
    start = datetime.now(UTC) + timedelta(minutes=1)

    first = run_at(world, start, "evt-1")

    # The monitor asks; the retraining function retrains, in its own invocation.
    decisions = world.report()["decisions"]
    requested = next(d for d in decisions if d["action"] == "retrain")
    assert requested["outcome"] == "retraining requested"
    assert requested["event_id"] == "evt-1" and requested["message_id"]
    assert aliases(registry) == {"champion": 1} and registry.list_versions(MODEL) == [1]
    (retrain,) = world.retrain()
    assert retrain["event_id"] == "evt-1"
    assert retrain["outcome"] == "canary at 50% of traffic"
    assert retrain["gate"]["passed"] is True and retrain["gate"]["primary_metric"] == "roc_auc"
    assert aliases(registry) == {"champion": 1, "canary": 2}
    metadata = registry.get_metadata(MODEL, 2)
    assert metadata["parent_version"] == 1
    assert metadata["training_data"]["uri"] == f"s3://{DATA_BUCKET}/training/{MODEL}/"
    lineage = metadata["retraining"]
    assert lineage["files"] == [f"training/{MODEL}/week-47.csv"]
    assert lineage["rows"] == {"train": 1600, "holdout": 400}
    holdout = lineage["holdout_metrics"]
    assert holdout["challenger"]["roc_auc"] > holdout["champion"]["roc_auc"] + 0.2
    assert "drift" in lineage["reason"]
    # The same scheduled event delivered again does not retrain again.
    assert run_at(world, start, "evt-1")["models"][MODEL]["status"] == "skipped"
    assert first["models"][MODEL]["status"] == "done"
    assert world.retrain() == []
    assert len(registry.list_versions(MODEL)) == 2

    # Traffic splits between champion and canary; within the bake period nothing moves.
    tolerant_traffic(world, new_world(600, seed=33))
    run_at(world, start + timedelta(minutes=30), "evt-2")
    canary = next(d for d in world.report()["decisions"] if d.get("role") == "canary")
    assert canary["action"] == "wait" and "baking" in canary["reasons"][0]
    assert aliases(registry) == {"champion": 1, "canary": 2}

    # After the bake, with no breach, the canary becomes the champion.
    run_at(world, start + timedelta(hours=2), "evt-3")
    canary = next(d for d in world.report()["decisions"] if d.get("role") == "canary")
    assert canary["action"] == "promote" and canary["outcome"] == "promoted to champion"
    assert aliases(registry) == {"champion": 2}

    history = registry.history(MODEL, with_decisions=True)
    steps = [(e["action"], e.get("alias")) for e in history]
    assert steps == [
        ("promote", "champion"),
        ("retrain-requested", None),
        ("retrain-started", None),
        ("promote", "canary"),
        ("retrain", None),
        ("promote", "champion"),
        ("remove", "canary"),
        ("canary-promote", None),
    ]
    assert all(e.get("reason") for e in history[1:])
    assert history[1]["message_id"] == requested["message_id"]
    assert history[2]["request"] == "evt-1"
    assert "passed the gate" in history[3]["reason"]
    assert "baked" in history[5]["reason"]


def test_a_worse_challenger_is_registered_but_not_promoted(world: MonitorWorld) -> None:
    registry = world.registry
    registry.set_policy(MODEL, {**CANARY_POLICY, "trainer": "tests.trainers:prior_only"})
    put_training_data(world, churn_frame(1500, seed=41))

    result = retrainer(world.aws, registry).retrain(MODEL, trigger="cli", reason="test")

    assert result["version"] == 2
    assert result["outcome"] == "registered, not promoted"
    assert result["gate"]["passed"] is False
    assert "not better" in result["gate"]["reasons"][0]
    assert aliases(registry) == {"champion": 1}
    gate = registry.get_metadata(MODEL, 2)["retraining"]["gate"]
    assert gate["passed"] is False and gate["challenger"] < gate["champion"]
    last = registry.history(MODEL, with_decisions=True)[-1]
    assert last["action"] == "retrain" and last["reason"].startswith("gate failed: not better")


def test_a_challenger_short_of_the_required_gain_is_held_back(world: MonitorWorld) -> None:
    registry = world.registry
    registry.set_policy(MODEL, {**CANARY_POLICY, "min_absolute_change": 0.9})
    put_training_data(world, new_world(1500, seed=42))

    result = retrainer(world.aws, registry).retrain(MODEL, trigger="cli", reason="test")

    assert result["outcome"] == "registered, not promoted"
    assert "under the required +0.9000" in result["gate"]["reasons"][0]
    assert aliases(registry) == {"champion": 1}


def test_a_canary_that_errors_is_rolled_back(world: MonitorWorld, aws) -> None:
    registry = world.registry
    world.register()
    # The canary's artifact no longer matches its sha256: every request routed to it fails.
    aws.s3.put_object(
        Bucket=MODELS_BUCKET, Key=f"models/{MODEL}/versions/2/model.joblib", Body=b"tampered"
    )
    registry.promote(MODEL, 2, alias="canary", weight=0.5)
    registry.set_policy(MODEL, CANARY_POLICY)
    failures = tolerant_traffic(world, churn_frame(1000, seed=51))
    assert failures >= CANARY_POLICY["min_requests"]  # about half of 100 requests

    run_at(world, datetime.now(UTC) + timedelta(minutes=1), "evt-rollback")

    decision = next(d for d in world.report()["decisions"] if d.get("role") == "canary")
    assert decision["action"] == "rollback" and decision["outcome"] == "rolled back"
    assert "error rate 100.0%" in decision["reasons"][0]
    assert aliases(registry) == {"champion": 1}
    removed = registry.history(MODEL)[-1]
    assert removed["action"] == "remove" and removed["alias"] == "canary"
    assert "error rate" in removed["reason"]
    entry = next(v for v in world.report()["versions"] if v["version"] == 2)
    assert entry["serving"]["errors"] == failures and entry["serving"]["requests"] == 0


def test_without_a_policy_a_failing_canary_is_only_reported(world: MonitorWorld, aws) -> None:
    world.register()
    aws.s3.put_object(
        Bucket=MODELS_BUCKET, Key=f"models/{MODEL}/versions/2/model.joblib", Body=b"tampered"
    )
    world.registry.promote(MODEL, 2, alias="canary", weight=0.5)
    tolerant_traffic(world, churn_frame(3000, seed=52))  # ~150 canary requests, 100 needed

    run_at(world, datetime.now(UTC) + timedelta(minutes=1), "evt-watch")

    decision = next(d for d in world.report()["decisions"] if d.get("role") == "canary")
    assert decision["action"] == "rollback" and decision["applied"] is False
    assert "sklambda policy churn" in decision["note"]
    assert aliases(world.registry) == {"champion": 1, "canary": 2}


def test_concurrent_retrains_promote_once(world: MonitorWorld) -> None:
    registry = world.registry
    registry.set_policy(MODEL, CANARY_POLICY)
    put_training_data(world, new_world(1500, seed=61))
    outcomes: list[Any] = []
    barrier = threading.Barrier(2)

    def retrain() -> None:
        service = retrainer(world.aws, registry)
        barrier.wait()
        try:
            outcomes.append(service.retrain(MODEL, trigger="cli", reason="race"))
        except (RetrainFailed, ConflictError) as exc:
            outcomes.append(exc)

    threads = [threading.Thread(target=retrain) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    promotions = [e for e in registry.history(MODEL) if e["alias"] == "canary"]
    assert len(promotions) == 1
    assert aliases(registry)["champion"] == 1
    finished = [o for o in outcomes if isinstance(o, dict)]
    assert sum(o["outcome"].startswith("canary") for o in finished) == 1


def test_a_decision_on_stale_aliases_changes_nothing(world: MonitorWorld) -> None:
    registry = world.registry
    world.register()
    stale = registry.get_aliases(MODEL)["revision"]
    registry.promote(MODEL, 2, alias="shadow")

    with pytest.raises(ConflictError, match="moved on"):
        registry.promote(MODEL, 2, alias="canary", weight=0.1, expected_revision=stale)
    assert aliases(registry) == {"champion": 1, "shadow": 2}


def test_a_failed_retrain_leaves_the_champion_and_says_why(world: MonitorWorld) -> None:
    registry = world.registry
    registry.set_policy(MODEL, CANARY_POLICY)

    with pytest.raises(RetrainFailed) as failure:
        retrainer(world.aws, registry).retrain(MODEL, trigger="cli", reason="test")

    assert "no training data under s3://test-data/training/churn/" in failure.value.message
    assert "champion version 1 left in place" in failure.value.message
    assert aliases(registry) == {"champion": 1}
    assert registry.list_versions(MODEL) == [1]
    last = registry.history(MODEL, with_decisions=True)[-1]
    assert last["action"] == "retrain-failed" and "no training data" in last["reason"]
    assert registry.retrain_state(MODEL)["state"] == "idle"

    partial = churn_frame(300, seed=1)[[*FEATURES, TARGET]].drop(columns=["region"])
    world.data.put_bytes("training/churn/partial.csv", partial.to_csv(index=False).encode())
    with pytest.raises(RetrainFailed, match="lacks column"):
        retrainer(world.aws, registry).retrain(MODEL, trigger="cli", reason="test")


def test_a_retrain_already_running_is_refused(world: MonitorWorld) -> None:
    registry = world.registry
    registry.begin_retrain(MODEL, trigger="schedule", lease_seconds=600)

    with pytest.raises(ConflictError, match="already running"):
        retrainer(world.aws, registry).retrain(MODEL, trigger="cli", reason="test")


def test_cli_policy_retrain_and_status(world: MonitorWorld, capsys) -> None:
    from sklambda.cli import main

    assert (
        main(
            [
                "policy",
                "churn",
                "--on-drift",
                "--action",
                "canary",
                "--canary-weight",
                "0.2",
                "--max-regression",
                "log_loss=0.05",
                "--every-days",
                "7",
            ]
        )
        == 0
    )
    policy = json.loads(capsys.readouterr().out)
    assert policy["on_drift"] is True and policy["canary_weight"] == 0.2
    assert policy["max_regression"] == {"log_loss": 0.05} and policy["every_days"] == 7
    assert main(["policy", "churn", "--every-days", "off", "--max-regression", "log_loss=off"]) == 0
    policy = json.loads(capsys.readouterr().out)
    assert policy["every_days"] is None and policy["max_regression"] == {}
    assert main(["policy", "churn", "--canary-weight", "2"]) == 2
    assert "canary_weight" in capsys.readouterr().err

    put_training_data(world, new_world(1200, seed=71))
    assert main(["retrain", "churn"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["outcome"] == "canary at 20% of traffic"

    assert main(["status", "churn"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert [(row["alias"], row["version"], row["weight"]) for row in status["live"]] == [
        ("champion", 1, None),
        ("canary", 2, 0.2),
    ]
    assert status["retrain"]["state"] == "idle"
    assert status["decisions"][-1]["action"] == "retrain"
    assert main(["--output", "table", "status", "churn"]) == 0
    table = capsys.readouterr().out
    assert "canary" in table and "retrain when drift is flagged" in table

    assert main(["--output", "table", "history", "churn"]) == 0
    assert "retrain-started" in capsys.readouterr().out


def test_a_shadow_that_bakes_cleanly_moves_on_to_canary(world: MonitorWorld) -> None:
    registry = world.registry
    world.register()
    registry.promote(MODEL, 2, alias="shadow")
    registry.set_policy(MODEL, {**CANARY_POLICY, "canary_weight": 0.2})
    world.traffic(churn_frame(400, seed=81), per_request=10)
    start = datetime.now(UTC) + timedelta(minutes=1)

    run_at(world, start, "evt-shadow-1")
    waiting = next(d for d in world.report()["decisions"] if d.get("role") == "shadow")
    assert waiting["action"] == "wait"

    run_at(world, start + timedelta(hours=2), "evt-shadow-2")

    moved = next(d for d in world.report()["decisions"] if d.get("role") == "shadow")
    assert moved["action"] == "promote" and moved["outcome"] == "canary at 20%"
    assert aliases(registry) == {"champion": 1, "canary": 2}
    assert registry.get_aliases(MODEL)["aliases"]["canary"]["weight"] == 0.2


def test_a_shadow_that_fails_is_removed_and_never_fails_requests(world: MonitorWorld, aws) -> None:
    registry = world.registry
    world.register()
    aws.s3.put_object(
        Bucket=MODELS_BUCKET, Key=f"models/{MODEL}/versions/2/model.joblib", Body=b"tampered"
    )
    registry.promote(MODEL, 2, alias="shadow")
    registry.set_policy(MODEL, CANARY_POLICY)

    failures = tolerant_traffic(world, churn_frame(400, seed=82))
    assert failures == 0  # the shadow's failures never reach callers

    run_at(world, datetime.now(UTC) + timedelta(minutes=1), "evt-shadow-bad")
    decision = next(d for d in world.report()["decisions"] if d.get("role") == "shadow")
    assert decision["action"] == "rollback" and decision["outcome"] == "rolled back"
    assert aliases(registry) == {"champion": 1}


def test_triggers_follow_the_policy_and_the_cooldown(world: MonitorWorld) -> None:
    registry = world.registry
    now = datetime.now(UTC)
    service = retrainer(world.aws, registry)
    service.clock = lambda: now
    champion = {"version": 1, "drift_detected": True, "features": [], "quality": {}}
    quiet = {"version": 1, "drift_detected": False, "features": [], "quality": {}}

    assert service.due(MODEL, registry.get_policy(MODEL), champion) is None  # no trigger set
    drift = policy_with(registry, on_drift=True)
    assert "drift" in service.due(MODEL, drift, champion)
    assert service.due(MODEL, drift, quiet) is None

    floor = policy_with(registry, accuracy_floor=0.8, min_labels=50)
    poor = {**quiet, "quality": {"labelled": 200, "metrics": {"accuracy": 0.7}}}
    few = {**quiet, "quality": {"labelled": 20, "metrics": {"accuracy": 0.7}}}
    assert "under the floor of 0.8000" in service.due(MODEL, floor, poor)
    assert service.due(MODEL, floor, few) is None  # too few labels to trust

    weekly = policy_with(registry, every_days=7)
    assert service.due(MODEL, weekly, quiet) is None  # the champion is minutes old
    service.clock = lambda: now + timedelta(days=8)
    assert service.due(MODEL, weekly, quiet) == "scheduled: every 7 days"

    # A retrain started within the cooldown holds every trigger back.
    lock = registry.begin_retrain(MODEL, trigger="monitor", lease_seconds=60)
    registry.end_retrain(MODEL, lock, {"outcome": "registered, not promoted"})
    service.clock = lambda: now + timedelta(hours=1)
    assert service.due(MODEL, drift, champion) is None
    service.clock = lambda: now + timedelta(hours=25)
    assert service.due(MODEL, drift, champion) is not None


def policy_with(registry: Registry, **changes: Any) -> Any:
    return registry.get_policy(MODEL).with_changes(changes)
