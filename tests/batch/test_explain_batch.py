"""`sklambda configure NAME --explain-batch`: scored files carry each feature's contribution
(`contrib_<feature>`) and the base, adding up to the log-odds of each row's probability; a
model without exact explanations fails the file with a message saying how to score it
(moto, through the batch queue)."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest

from sklambda.sample_data import FEATURES, TARGET
from tests.batch.world import BatchWorld, csv_bytes, customers
from tests.models import fitted_logreg, training_frame


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_explained_files_carry_contributions_that_add_up_to_the_log_odds(
    world: BatchWorld, fmt: str
) -> None:
    world.registry.configure("churn", {"explain_batch": True})
    frame = customers(120)
    body = (
        csv_bytes(frame) if fmt == "csv" else frame.to_json(orient="records", lines=True).encode()
    )
    world.drop(f"batch/incoming/churn/explained.{fmt}", body)
    world.run()
    raw = world.get(f"batch/scored/churn/explained.{fmt}")
    scored = (
        pd.read_csv(io.BytesIO(raw)) if fmt == "csv" else pd.read_json(io.BytesIO(raw), lines=True)
    )

    contributions = [f"contrib_{f}" for f in FEATURES]
    assert [c for c in scored.columns if c.startswith("contrib_")] == [
        *contributions,
        "contrib_base",
    ]
    total = scored["contrib_base"] + scored[contributions].sum(axis=1)
    log_odds = fitted_logreg().decision_function(frame[FEATURES])
    np.testing.assert_allclose(total, log_odds, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(1 / (1 + np.exp(-total)), scored["proba_1"], rtol=1e-9)


def test_files_are_not_explained_unless_configured(world: BatchWorld) -> None:
    world.drop("batch/incoming/churn/plain.csv", csv_bytes(customers(20)))
    world.run()
    scored = pd.read_csv(io.BytesIO(world.get("batch/scored/churn/plain.csv")))
    assert not [c for c in scored.columns if c.startswith("contrib_")]


def test_a_model_without_exact_explanations_fails_the_file_saying_how_to_score_it(
    world: BatchWorld,
) -> None:
    from sklearn.naive_bayes import GaussianNB

    frame = training_frame()
    numbers = [f for f in FEATURES if frame[f].dtype.kind == "f"][:4]
    model = GaussianNB().fit(frame[numbers].fillna(0), frame[TARGET])
    world.registry.register("bayes", model, frame[[*numbers, TARGET]].fillna(0), TARGET)
    world.registry.promote("bayes", 1)
    world.registry.configure("bayes", {"explain_batch": True})
    world.drop("batch/incoming/bayes/rows.csv", csv_bytes(frame[numbers].fillna(0).head(10)))
    world.run()
    manifest = world.manifest("rows.csv", model="bayes")
    assert manifest["status"] == "failed"
    assert "explanations are not available for bayes version 1" in manifest["reason"]
    assert "sklambda configure bayes --no-explain-batch" in manifest["reason"]


def test_a_feature_named_base_keeps_its_own_column() -> None:
    from chalicelib.scoring import contribution_names

    assert contribution_names(["base", "age"], [None]) == [
        "contrib_base",
        "contrib_age",
        "contrib__base",
    ]
    assert contribution_names(["age"], ["a", "b"]) == [
        "contrib_age_a",
        "contrib_base_a",
        "contrib_age_b",
        "contrib_base_b",
    ]
