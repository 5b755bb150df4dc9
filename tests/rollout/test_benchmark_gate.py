"""The benchmark before a challenger goes to canary or champion: measured against the
champion on the holdout, kept with the version, and refused over `max_latency_ratio`."""

from __future__ import annotations

from chalicelib.registry import Registry, RetrainPolicy
from chalicelib.rollout import Rollout, benchmark_gate, judge_benchmark
from chalicelib.rollout._gating import RolloutDecision
from chalicelib.scoring import json_records
from chalicelib.services import retrainer
from sklambda.sample_data import FEATURES, TARGET
from tests.models import fitted_logreg, training_frame
from tests.monitoring.world import MODEL, MonitorWorld
from tests.rollout.test_retraining import CANARY_POLICY, aliases, new_world, put_training_data
from tests.rollout.test_retraining import world as world  # noqa: F401 - the fixture
from tests.trainers import big_forest

SLOW = {**CANARY_POLICY, "trainer": "tests.trainers:big_forest"}


def test_a_challenger_slower_than_the_limit_is_registered_not_rolled_out(
    world: MonitorWorld,
) -> None:
    registry = world.registry
    registry.set_policy(MODEL, {**SLOW, "max_latency_ratio": 1.5})
    put_training_data(world, new_world(1500, seed=51))

    result = retrainer(world.aws, registry).retrain(MODEL, trigger="cli", reason="test")

    assert result["outcome"] == "registered, not promoted"
    assert result["gate"]["passed"] is False
    assert result["gate"]["reasons"][0].startswith("better: roc_auc")  # it was more accurate
    refused = result["gate"]["reasons"][-1]
    assert "benchmark p99 latency" in refused and "over the limit of 1.5×" in refused
    assert aliases(registry) == {"champion": 1}
    stored = registry.get_benchmark(MODEL, 2, against=1)
    assert stored is not None and stored["ratios"]["p99_ms"] > 1.5
    assert stored["rows_from"] == "retraining holdout (300 rows)"
    last = registry.history(MODEL, with_decisions=True)[-1]
    assert last["action"] == "retrain" and "over the limit of 1.5×" in last["reason"]
    assert last["benchmark"]["against_version"] == 1


def test_a_challenger_within_the_limit_goes_to_canary(world: MonitorWorld) -> None:
    registry = world.registry
    registry.set_policy(MODEL, {**SLOW, "max_latency_ratio": 100_000.0})
    put_training_data(world, new_world(1500, seed=52))

    result = retrainer(world.aws, registry).retrain(MODEL, trigger="cli", reason="test")

    assert result["outcome"] == "canary at 50% of traffic"
    assert "within the limit of 100000×" in result["gate"]["reasons"][-1]
    assert result["benchmark"]["version"] == 2
    assert aliases(registry) == {"champion": 1, "canary": 2}


def test_the_monitor_holds_a_shadow_whose_stored_benchmark_is_over(registry: Registry) -> None:
    frame = training_frame()
    logreg = fitted_logreg()
    registry.register(MODEL, logreg, frame, TARGET)
    registry.register(MODEL, big_forest(frame[[*FEATURES, TARGET]], TARGET, logreg), frame, TARGET)
    registry.promote(MODEL, 1)
    registry.promote(MODEL, 2, alias="shadow")
    registry.set_policy(MODEL, {"max_latency_ratio": 1.5})
    policy = registry.get_policy(MODEL)
    records = json_records(frame[FEATURES], 200)

    passed, reason, figures = benchmark_gate(
        registry, policy, MODEL, 2, 1, records, rows_from="test rows"
    )

    assert passed is False and figures is not None
    assert f"{figures['ratios']['p99_ms']:.2f}×, over the limit of 1.5×" in reason
    assert registry.get_benchmark(MODEL, 2) == figures
    # Without a stored benchmark and rows the monitor has nothing to judge; with one it holds.
    revision = int(registry.get_aliases(MODEL)["revision"])
    decision = RolloutDecision("promote", ["baked"])
    applied = Rollout(registry)._apply(MODEL, "shadow", 2, decision, policy, revision, champion=1)
    assert applied["applied"] is False and "over the limit of 1.5×" in applied["note"]
    assert aliases(registry) == {"champion": 1, "shadow": 2}
    passes, _ = judge_benchmark(RetrainPolicy(max_latency_ratio=10_000.0), figures)
    assert passes is True
