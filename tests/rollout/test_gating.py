import pytest

from chalicelib.core import InvalidInputError
from chalicelib.registry import RetrainPolicy
from chalicelib.rollout import VersionStats, gate, judge_rollout


def test_the_gate_needs_a_real_gain_on_the_primary_metric() -> None:
    policy = RetrainPolicy(min_absolute_change=0.01)
    assert gate(policy, "roc_auc", {"roc_auc": 0.85}, {"roc_auc": 0.80}).passed
    small = gate(policy, "roc_auc", {"roc_auc": 0.805}, {"roc_auc": 0.80})
    assert not small.passed and "under the required +0.0100" in small.reasons[0]
    assert not gate(RetrainPolicy(), "roc_auc", {"roc_auc": 0.8}, {"roc_auc": 0.8}).passed


def test_lower_is_better_for_error_metrics() -> None:
    assert gate(RetrainPolicy(), "rmse", {"rmse": 9.0}, {"rmse": 10.0}).passed
    assert not gate(RetrainPolicy(), "rmse", {"rmse": 11.0}, {"rmse": 10.0}).passed


def test_relative_change_and_secondary_regressions_hold_a_challenger_back() -> None:
    relative = RetrainPolicy(min_relative_change=0.10)
    assert not gate(relative, "accuracy", {"accuracy": 0.85}, {"accuracy": 0.80}).passed
    assert gate(relative, "accuracy", {"accuracy": 0.90}, {"accuracy": 0.80}).passed
    guarded = RetrainPolicy(max_regression={"log_loss": 0.01})
    verdict = gate(
        guarded,
        "roc_auc",
        {"roc_auc": 0.9, "log_loss": 0.50},
        {"roc_auc": 0.8, "log_loss": 0.40},
    )
    assert not verdict.passed and "log_loss regressed by 0.1000" in verdict.reasons[1]


def test_a_missing_metric_fails_the_gate_with_a_reason() -> None:
    verdict = gate(RetrainPolicy(), "roc_auc", {}, {"roc_auc": 0.8})
    assert not verdict.passed and "could not be computed" in verdict.reasons[0]


def test_rollout_waits_for_traffic_then_the_bake_and_rolls_back_on_breaches() -> None:
    policy = RetrainPolicy(min_requests=100, bake_hours=24, max_error_rate=0.01)
    champion = VersionStats(1, requests=1000, latency_p95_ms=10.0)

    def judge(candidate: VersionStats, hours: float = 30.0, role: str = "canary") -> str:
        return judge_rollout(
            policy,
            role=role,
            candidate=candidate,
            champion=champion,
            age_hours=hours,
            primary="roc_auc",
        ).action

    assert judge(VersionStats(2, requests=50)) == "wait"
    assert judge(VersionStats(2, requests=200), hours=3) == "wait"
    assert judge(VersionStats(2, requests=200)) == "promote"
    assert judge(VersionStats(2, requests=180, errors=20), hours=1) == "rollback"
    assert judge(VersionStats(2, requests=200, latency_p95_ms=30.0)) == "rollback"
    assert judge(VersionStats(2, requests=200, latency_p95_ms=30.0), role="shadow") == "promote"


def test_rollout_compares_quality_only_with_enough_labels() -> None:
    policy = RetrainPolicy(min_requests=10, min_labels=50, max_quality_drop=0.02, bake_hours=0)
    champion = VersionStats(1, requests=100, primary_value=0.80, labelled=500)
    worse = VersionStats(2, requests=100, primary_value=0.70, labelled=500)
    unlabelled = VersionStats(2, requests=100, primary_value=0.70, labelled=10)
    decide = lambda c: judge_rollout(  # noqa: E731
        policy, role="canary", candidate=c, champion=champion, age_hours=1, primary="roc_auc"
    )
    assert decide(worse).action == "rollback"
    assert "worse by 0.1000" in decide(worse).reasons[0]
    assert decide(unlabelled).action == "promote"


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"holdout": 0.9}, "holdout"),
        ({"action": "deploy"}, "action"),
        ({"primary_metric": "f1"}, "primary_metric"),
        ({"canary_weight": 0}, "canary_weight"),
        ({"max_regression": {"f1": 0.1}}, "max_regression"),
        ({"max_latency_ratio": 0.5}, "max_latency_ratio"),
        ({"trainer": "no_colon"}, "trainer"),
        ({"every_days": -1}, "every_days"),
        ({"retrain": True}, "unknown policy setting"),
    ],
)
def test_policy_values_are_checked_with_messages_that_name_them(changes, message) -> None:
    with pytest.raises(InvalidInputError, match=message):
        RetrainPolicy().with_changes(changes)


def test_policy_round_trips_and_defaults_pick_a_metric_per_task() -> None:
    policy = RetrainPolicy().with_changes({"on_drift": True, "max_regression": {"log_loss": 0.1}})
    assert RetrainPolicy.from_dict(policy.to_dict()) == policy
    assert policy.has_trigger and not RetrainPolicy().has_trigger
    assert RetrainPolicy().primary_for("classification", [0, 1]) == "roc_auc"
    assert RetrainPolicy().primary_for("classification", ["a", "b", "c"]) == "accuracy"
    assert RetrainPolicy().primary_for("regression", []) == "rmse"


def test_benchmark_judged_on_p99_ratio_with_a_noise_floor() -> None:
    from chalicelib.registry import RetrainPolicy
    from chalicelib.rollout import judge_benchmark

    policy = RetrainPolicy(max_latency_ratio=1.5)

    def figures(ours: float, theirs: float) -> dict:
        return {"p99_ms": ours, "against_version": 3, "baseline": {"p99_ms": theirs}}

    passed, reason = judge_benchmark(policy, figures(3.0, 1.0))
    assert not passed and reason.endswith("3.00×, over the limit of 1.5×")
    assert "version 3" in reason
    assert judge_benchmark(policy, figures(1.4, 1.0))[0] is True
    passed, reason = judge_benchmark(policy, figures(0.05, 0.02))  # 2.5×, 0.03 ms: noise
    assert passed and "under the 0.1 ms" in reason
