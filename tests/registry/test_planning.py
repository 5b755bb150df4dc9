"""Serving plans made at register: kept only when proven equal to the pipeline on the
training rows and edge rows, signed with the version, and described when refused."""

from __future__ import annotations

from typing import Any
from unittest import mock

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from chalicelib.registry import Registry
from chalicelib.scoring import Validator
from chalicelib.scoring.plans._plan import PLAN_ARRAYS_FILE, PLAN_SPEC_FILE, load_plan
from chalicelib.storage import AwsClients, ObjectStore
from sklambda.sample_data import FEATURES, TARGET, churn_frame, trained_reference_model
from tests.conftest import MODELS_BUCKET
from tests.models import fitted_logreg, training_frame


def stored_plan(aws: AwsClients, name: str, version: int = 1) -> Any:
    store = ObjectStore(aws.s3, MODELS_BUCKET)
    folder = f"models/{name}/versions/{version}/"
    spec, _ = store.get_bytes(folder + PLAN_SPEC_FILE)
    arrays, _ = store.get_bytes(folder + PLAN_ARRAYS_FILE)
    return load_plan(spec, arrays)


@pytest.mark.parametrize("kind", ["hgb", "logreg"])
def test_the_reference_pipelines_are_planned_signed_and_answer_as_the_pipeline(
    registry: Registry, aws: AwsClients, kind: str
) -> None:
    model, frame = trained_reference_model(kind, n_rows=1500)
    metadata = registry.register("churn", model, frame, TARGET)

    assert metadata["plan"]["state"] == "planned"
    assert metadata["plan"]["rows_checked"] > len(frame)  # the training rows and edge rows
    files = registry.verified_manifest("churn", 1).manifest["files"]
    assert {PLAN_SPEC_FILE, PLAN_ARRAYS_FILE} <= set(files)  # the signature covers the plan
    plan = stored_plan(aws, "churn")
    fresh = churn_frame(300, seed=77)[FEATURES]
    records = fresh.astype(object).where(fresh.notna(), None).to_dict("records")
    rows = Validator(metadata["features"], unknown_categories="accept").validate(records).rows
    from chalicelib.scoring import model_frame

    expected = model.predict_proba(model_frame(rows, metadata["features"]))
    assert np.array_equal(
        plan.predict(rows), model.predict(model_frame(rows, metadata["features"]))
    )
    assert np.allclose(plan.predict_proba(rows), expected, rtol=1e-9, atol=0)


def test_a_final_estimator_without_a_plan_is_served_by_the_pipeline_and_described(
    registry: Registry, aws: AwsClients
) -> None:
    frame = training_frame()
    numbers = [c for c in frame.columns if c != TARGET and frame[c].dtype.kind == "f"]
    frame = frame.dropna(subset=numbers)
    model = make_pipeline(
        ColumnTransformer([("n", StandardScaler(), numbers)]), KNeighborsClassifier()
    ).fit(frame.drop(columns=TARGET), frame[TARGET])

    metadata = registry.register("knn", model, frame, TARGET)

    assert metadata["plan"] == {
        "state": "not planned",
        "reason": "KNeighborsClassifier has no serving plan",
    }
    assert not ObjectStore(aws.s3, MODELS_BUCKET).exists("models/knn/versions/1/plan.json")


def test_a_plan_that_answers_otherwise_is_not_kept(registry: Registry, aws: AwsClients) -> None:
    from chalicelib.scoring.plans import _plan

    real = _plan.plan_head

    def nudged(estimator: Any, writer: Any) -> Any:
        off = LogisticRegression()
        off.__dict__.update(estimator.__dict__)
        off.intercept_ = estimator.intercept_ + 1e-6  # a plan that is almost right
        return real(off, writer)

    with mock.patch.object(_plan, "plan_head", nudged):
        metadata = registry.register("churn", fitted_logreg(), training_frame(), TARGET)

    assert metadata["plan"]["state"] == "not planned"
    assert metadata["plan"]["reason"].startswith(
        "the plan does not answer as the pipeline does: probabilities differ by up to"
    )
    assert not ObjectStore(aws.s3, MODELS_BUCKET).exists("models/churn/versions/1/plan.npz")


def test_rows_the_pipeline_refuses_are_refused_by_the_plan(
    registry: Registry, aws: AwsClients
) -> None:
    # No imputer: the pipeline refuses a missing number; a plan answering it would be a
    # silently different answer, so the plan refuses it too (and is kept).
    frame = pd.DataFrame(
        {
            "x": np.linspace(0, 1, 200),
            "city": ["a", "b"] * 100,
            TARGET: [0, 1, 1, 0] * 50,
        }
    )
    model = make_pipeline(
        ColumnTransformer(
            [
                ("n", StandardScaler(), ["x"]),
                ("c", OneHotEncoder(handle_unknown="ignore"), ["city"]),
            ]
        ),
        LogisticRegression(),
    ).fit(frame[["x", "city"]], frame[TARGET])

    metadata = registry.register("strict", model, frame, TARGET)

    assert metadata["plan"]["state"] == "planned"
    plan = stored_plan(aws, "strict")
    with pytest.raises(ValueError, match="NaN"):
        plan.predict([{"x": None, "city": "a"}])
    with pytest.raises(ValueError, match="NaN"):
        model.predict(pd.DataFrame({"x": [np.nan], "city": ["a"]}))
