"""Batch scoring of a model over the author's own code, which only its code bundle provides."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sklambda.sample_data import TARGET
from tests.batch.world import BatchWorld, csv_bytes, customers
from tests.models import training_frame
from tests.user_code import clear_loaded_models, fit_user_model


@pytest.fixture(autouse=True)
def fresh_models() -> Iterator[None]:
    clear_loaded_models()  # the app's registry shares the process-wide cache
    yield
    clear_loaded_models()


def test_a_file_is_scored_by_each_version_with_its_own_code(
    world: BatchWorld, tmp_path: Path
) -> None:
    gentle = fit_user_model(tmp_path / "gentle", power=0.5)
    steep = fit_user_model(tmp_path / "steep", power=2.0)
    for user in (gentle, steep):
        with user.importable():
            world.registry.register(
                "tailored", user.estimator, training_frame(), TARGET, code=[user.code]
            )
    world.registry.promote("tailored", 1)
    frame = customers(120)
    world.drop("batch/incoming/tailored/champion.csv", csv_bytes(frame))
    world.drop("batch/incoming/tailored@2/second.csv", csv_bytes(frame))

    assert world.run() == 2

    for path, user, version in (("champion.csv", gentle, 1), ("second.csv", steep, 2)):
        assert world.manifest(path, model="tailored")["status"] == "succeeded"
        scored = pd.read_csv(io.BytesIO(world.get(f"batch/scored/tailored/{path}")))
        assert (scored["model_version"] == version).all()
        assert np.allclose(scored["proba_1"], user.proba(frame))
