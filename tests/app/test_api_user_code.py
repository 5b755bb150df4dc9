"""The HTTP API serving models over the author's own code, which only the versions' code
bundles provide: two versions whose `features` modules differ, in one warm process."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from chalice.test import Client

from chalicelib.registry import Registry
from sklambda.sample_data import TARGET
from tests.app.test_api import post, records
from tests.models import training_frame
from tests.user_code import UserModel, clear_loaded_models, fit_user_model


@pytest.fixture(autouse=True)
def fresh_models() -> Iterator[None]:
    clear_loaded_models()  # the app's registry shares the process-wide cache
    yield
    clear_loaded_models()


def register(registry: Registry, user: UserModel) -> None:
    with user.importable():
        registry.register("tailored", user.estimator, training_frame(), TARGET, code=[user.code])


def probabilities(response) -> np.ndarray:
    assert response.status_code == 200, response.json_body
    return np.array([p["1"] for p in response.json_body["probabilities"]])


def test_two_versions_with_conflicting_code_are_both_served_correctly(
    client: Client,
    registry: Registry,
    tmp_path: Path,
) -> None:
    gentle = fit_user_model(tmp_path / "gentle", power=0.5)
    steep = fit_user_model(tmp_path / "steep", power=2.0)
    register(registry, gentle)
    register(registry, steep)
    registry.promote("tailored", 1)
    rows = training_frame().iloc[:8]
    body = {"records": records(8)}

    for _ in range(2):  # each version loads once, then serves from the warm container
        champion = post(client, "/models/tailored/predict", body)
        assert champion.json_body["model"] == {
            "name": "tailored",
            "version": 1,
            "alias": "champion",
        }
        assert np.allclose(probabilities(champion), gentle.proba(rows))
        second = post(client, "/models/tailored/predict?version=2", body)
        assert np.allclose(probabilities(second), steep.proba(rows))
    assert not np.allclose(gentle.proba(rows), steep.proba(rows))


def test_describe_shows_the_code_a_version_ships(
    client: Client,
    registry: Registry,
    tmp_path: Path,
) -> None:
    register(registry, fit_user_model(tmp_path / "v1"))
    registry.promote("tailored", 1)
    described = client.http.get("/models/tailored").json_body
    assert described["metadata"]["code"]["modules"] == ["features"]
