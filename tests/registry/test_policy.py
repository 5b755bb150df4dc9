from __future__ import annotations

from chalicelib.registry import RetrainPolicy, merge_max_regression


def test_tolerances_are_set_replaced_and_removed() -> None:
    current = {"log_loss": 0.05, "recall": 0.02}
    merged = merge_max_regression(current, {"log_loss": 0.1, "rmse": 0.5, "recall": None})
    assert merged == {"log_loss": 0.1, "rmse": 0.5}
    assert current == {"log_loss": 0.05, "recall": 0.02}  # not changed in place
    assert merge_max_regression({}, {"mae": None}) == {}


def test_merged_tolerances_are_what_the_policy_accepts() -> None:
    merged = merge_max_regression({"log_loss": 0.05}, {"r2": 0.01})
    assert RetrainPolicy().with_changes({"max_regression": merged}).max_regression == merged
