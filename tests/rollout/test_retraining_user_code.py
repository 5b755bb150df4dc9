"""Retraining a champion that runs on the author's own code: the challenger is fitted with
the champion's code bundle (a trainer may come from it too) and ships the same bytes."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from sklearn.base import clone

from chalicelib.core import RetrainFailed
from chalicelib.registry import ModelCache, Registry, open_registry
from chalicelib.rollout._retraining import split
from chalicelib.rollout._training_data import read_training_file
from chalicelib.services import retrainer
from chalicelib.storage import AwsClients, ObjectStore
from sklambda.sample_data import FEATURES, TARGET
from tests.conftest import DATA_BUCKET
from tests.models import training_frame
from tests.rollout.test_retraining import new_world
from tests.user_code import UserModel, fit_user_model

MODEL = "tailored"
TRAINING_KEY = f"training/{MODEL}/week-47.csv"


@pytest.fixture
def user(registry: Registry, aws: AwsClients, tmp_path: Path) -> UserModel:
    """A champion over user code, and drifted training data waiting for it."""
    user = fit_user_model(tmp_path / "v1")
    with user.importable():
        registry.register(MODEL, user.estimator, training_frame(), TARGET, code=[user.code])
    registry.promote(MODEL, 1)
    body = new_world(1500, seed=51)[[*FEATURES, TARGET]].to_csv(index=False).encode()
    ObjectStore(aws.s3, DATA_BUCKET).put_bytes(TRAINING_KEY, body)
    return user


def fresh_load(aws: AwsClients, version: int):
    """The version as another container would load it: nothing cached, no module imported."""
    other = open_registry(aws)
    other._cache = ModelCache()
    return other.load(MODEL, version)


def test_the_challenger_is_fitted_and_shipped_with_the_champions_code(
    aws: AwsClients, registry: Registry, user: UserModel
) -> None:
    registry.set_policy(MODEL, {"action": "promote"})

    result = retrainer(aws, registry).retrain(MODEL, trigger="cli", reason="test")

    assert (result["version"], result["outcome"]) == (2, "promoted to champion")
    signature = registry.signature_status(MODEL, 2)
    assert (signature["state"], signature["origin"]) == ("verified", "retraining")
    assert "features" not in sys.modules
    code = {v: registry.get_metadata(MODEL, v)["code"] for v in (1, 2)}
    assert code[2] == code[1]
    # What the retrainer fitted is the champion's pipeline refitted on the same split.
    champion = registry.get_metadata(MODEL, 1)
    body = ObjectStore(aws.s3, DATA_BUCKET).get_bytes(TRAINING_KEY)[0]
    frame = read_training_file(
        TRAINING_KEY,
        body,
        champion["features"],
        TARGET,
        task=champion["task"],
        classes=champion["classes"],
    ).frame
    train, holdout = split(frame, TARGET, registry.get_policy(MODEL), "classification")
    expected = clone(user.estimator).fit(train[FEATURES], train[TARGET])
    challenger = fresh_load(aws, 2).estimator
    assert np.allclose(
        challenger.predict_proba(holdout[FEATURES]), expected.predict_proba(holdout[FEATURES])
    )


def test_a_trainer_shipped_in_the_champions_code_is_used(
    aws: AwsClients, registry: Registry, user: UserModel
) -> None:
    registry.set_policy(MODEL, {"action": "register", "trainer": "features:train"})

    result = retrainer(aws, registry).retrain(MODEL, trigger="cli", reason="test")

    assert result["outcome"] == "registered (policy: register only)"
    challenger = fresh_load(aws, result["version"]).estimator
    assert challenger.named_steps["model"].C == 0.5  # what the team's trainer sets
    assert "features" not in sys.modules


def test_a_trainer_neither_in_the_app_nor_in_the_code_fails_the_retrain(
    aws: AwsClients, registry: Registry, user: UserModel
) -> None:
    registry.set_policy(MODEL, {"trainer": "features:missing"})
    with pytest.raises(RetrainFailed) as caught:
        retrainer(aws, registry).retrain(MODEL, trigger="cli", reason="test")
    assert "trainer 'features:missing' is not importable from the app or the champion's code" in (
        caught.value.message
    )
    assert registry.resolve(MODEL) == 1
