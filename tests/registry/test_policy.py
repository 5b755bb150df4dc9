from __future__ import annotations

import pytest

from chalicelib.core import InvalidInputError
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


@pytest.mark.parametrize(
    "trainer", ["os:system", "subprocess:run", "pickle:loads", "builtins:exec", "chalicelib.x:f"]
)
def test_a_trainer_from_the_runtime_is_refused_when_set_and_when_read(trainer: str) -> None:
    # policy.json is not signed: naming a runtime function must not make retraining call it.
    with pytest.raises(InvalidInputError, match="names a module of the runtime"):
        RetrainPolicy().with_changes({"trainer": trainer})
    with pytest.raises(InvalidInputError, match="names a module of the runtime"):
        RetrainPolicy.from_dict({"trainer": trainer})


def test_a_trainer_from_the_authors_code_is_accepted() -> None:
    assert (
        RetrainPolicy.from_dict({"trainer": "features.fit:train"}).trainer == "features.fit:train"
    )
