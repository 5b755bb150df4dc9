"""Planned versions answer as their pipelines, through every channel.

Each model type a serving plan covers is fitted on one of scikit-learn's bundled data sets
(scaled) or on the churn table (numbers and text with missing values, imputed, scaled and
one-hot encoded), registered, and must come out planned. Fresh rows are then scored over
HTTP (JSON, CSV) and in batch (CSV, JSON Lines, Parquet), all from the plan, and every answer
must equal the pipeline's own `predict` and `predict_proba`: the same labels, the same floats.
"""

from __future__ import annotations

import io
import uuid
from collections.abc import Callable
from functools import cache
from typing import Any

import numpy as np
import pandas as pd
import pytest

from tests.app.production import Sandbox, channels

Make = Callable[[], Any]
TARGET = "target"


# -- data ------------------------------------------------------------------------------------
@cache
def bundled(name: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(training frame with TARGET, fresh rows) of a bundled data set, rows shuffled."""
    import sklearn.datasets

    data = getattr(sklearn.datasets, f"load_{name}")(as_frame=True)
    frame = data.frame.rename(columns={data.target.name: TARGET})
    frame = frame.sample(frac=1.0, random_state=0).reset_index(drop=True)
    return as_read(frame.iloc[:-25]), as_read(frame.iloc[-25:].drop(columns=TARGET))


def as_read(frame: pd.DataFrame) -> pd.DataFrame:
    """`frame` as a user reads it from a Parquet file. How pandas lays a frame's columns out in
    memory depends on how it was built, and the pipeline's last bits on that layout (BLAS
    sums a row of another layout in another order): production answers as the pipeline does
    on a frame read from a file, as `sklambda register --train` reads one."""
    return pd.read_parquet(io.BytesIO(frame.to_parquet(index=False)))


@cache
def churn() -> tuple[pd.DataFrame, pd.DataFrame]:
    from sklambda.sample_data import FEATURES
    from sklambda.sample_data import TARGET as CHURNED

    frame = pd.concat([_churn(800, seed=5), _churn(25, seed=6)], ignore_index=True)
    frame = frame[[*FEATURES, CHURNED]].rename(columns={CHURNED: TARGET})
    return frame.iloc[:800], frame.iloc[800:][FEATURES].reset_index(drop=True)


def _churn(n: int, seed: int) -> pd.DataFrame:
    from sklambda.sample_data import churn_frame

    return churn_frame(n, seed=seed)


# -- pipelines -------------------------------------------------------------------------------
def scaled(make: Make) -> Make:
    def pipeline() -> Any:
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        return make_pipeline(StandardScaler(), make())

    return pipeline


def mixed(make: Make) -> Make:
    """The reference preprocessing of the churn table before `make()`."""

    def pipeline() -> Any:
        from sklearn.pipeline import Pipeline

        from sklambda.sample_data import reference_pipeline

        preprocess = reference_pipeline("logreg").steps[0]
        return Pipeline([preprocess, ("model", make())])

    return pipeline


def native_categories() -> Any:
    """HistGradientBoosting on the churn table's text columns as its own categories."""
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OrdinalEncoder

    from sklambda.sample_data import CATEGORICAL_FEATURES, NUMERIC_FEATURES

    encode = OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=np.nan)
    columns = ColumnTransformer(
        [("cat", encode, CATEGORICAL_FEATURES), ("num", "passthrough", NUMERIC_FEATURES)]
    )
    categorical = list(range(len(CATEGORICAL_FEATURES)))
    model = HistGradientBoostingClassifier(
        max_iter=20, categorical_features=categorical, random_state=0
    )
    return Pipeline([("columns", columns), ("model", model)])


def est(module: str, name: str, **params: Any) -> Make:
    def make() -> Any:
        import importlib

        return getattr(importlib.import_module(f"sklearn.{module}"), name)(**params)

    return make


CLASSIFIERS: dict[str, Make] = {
    "logistic": est("linear_model", "LogisticRegression", max_iter=2000),
    "sgd-log": est("linear_model", "SGDClassifier", loss="log_loss", random_state=0),
    "sgd-hinge": est("linear_model", "SGDClassifier", random_state=0),
    "linear-svc": est("svm", "LinearSVC", random_state=0),
    "ridge-classifier": est("linear_model", "RidgeClassifier"),
    "gaussian-nb": est("naive_bayes", "GaussianNB"),
    "tree": est("tree", "DecisionTreeClassifier", max_depth=6, random_state=0),
    "forest": est("ensemble", "RandomForestClassifier", n_estimators=15, random_state=0),
    "extra-trees": est("ensemble", "ExtraTreesClassifier", n_estimators=15, random_state=0),
    "gradient-boosting": est(
        "ensemble", "GradientBoostingClassifier", n_estimators=15, random_state=0
    ),
    "hist-gradient-boosting": est(
        "ensemble", "HistGradientBoostingClassifier", max_iter=20, random_state=0
    ),
    "mlp": est("neural_network", "MLPClassifier", max_iter=300, random_state=0),
}
REGRESSORS: dict[str, Make] = {
    "linear": est("linear_model", "LinearRegression"),
    "ridge": est("linear_model", "Ridge"),
    "sgd": est("linear_model", "SGDRegressor", random_state=0),
    "linear-svr": est("svm", "LinearSVR", random_state=0),
    "tree": est("tree", "DecisionTreeRegressor", max_depth=6, random_state=0),
    "forest": est("ensemble", "RandomForestRegressor", n_estimators=15, random_state=0),
    "extra-trees": est("ensemble", "ExtraTreesRegressor", n_estimators=15, random_state=0),
    "gradient-boosting": est(
        "ensemble", "GradientBoostingRegressor", n_estimators=15, random_state=0
    ),
    "hist-gradient-boosting": est(
        "ensemble", "HistGradientBoostingRegressor", max_iter=20, random_state=0
    ),
    "mlp": est("neural_network", "MLPRegressor", max_iter=300, random_state=0),
}


def calibrated(method: str) -> Any:
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.linear_model import LogisticRegression

    return CalibratedClassifierCV(LogisticRegression(max_iter=2000), method=method, cv=3)


def voting(kind: str) -> Any:
    from sklearn.ensemble import RandomForestClassifier, VotingClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.naive_bayes import GaussianNB

    parts = [
        ("lr", LogisticRegression(max_iter=2000)),
        ("nb", GaussianNB()),
        ("rf", RandomForestClassifier(n_estimators=10, random_state=0)),
    ]
    return VotingClassifier(parts, voting=kind, weights=[2, 1, 1])


def stacking() -> Any:
    from sklearn.ensemble import HistGradientBoostingClassifier, StackingClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.svm import LinearSVC

    parts = [
        ("hgb", HistGradientBoostingClassifier(max_iter=10, random_state=0)),
        ("svc", LinearSVC(random_state=0)),
    ]
    return StackingClassifier(parts, LogisticRegression(max_iter=2000), passthrough=True, cv=3)


def one_vs_rest() -> Any:
    from sklearn.linear_model import SGDClassifier
    from sklearn.multiclass import OneVsRestClassifier

    return OneVsRestClassifier(SGDClassifier(loss="log_loss", random_state=0))


def target_transformed() -> Any:
    from sklearn.compose import TransformedTargetRegressor
    from sklearn.ensemble import HistGradientBoostingRegressor

    model = HistGradientBoostingRegressor(max_iter=20, random_state=0)
    return TransformedTargetRegressor(model, func=np.log1p, inverse_func=np.expm1)


def voting_regressor() -> Any:
    from sklearn.ensemble import RandomForestRegressor, StackingRegressor, VotingRegressor
    from sklearn.linear_model import Ridge

    stacked = StackingRegressor([("ridge", Ridge())], Ridge(), cv=3)
    forest = RandomForestRegressor(n_estimators=10, random_state=0)
    return VotingRegressor([("stacked", stacked), ("forest", forest)])


WRAPPED_CLASSIFIERS: dict[str, Make] = {
    "calibrated-sigmoid": lambda: calibrated("sigmoid"),
    "calibrated-isotonic": lambda: calibrated("isotonic"),
    "voting-soft": lambda: voting("soft"),
    "voting-hard": lambda: voting("hard"),
    "stacking": stacking,
    "one-vs-rest": one_vs_rest,
}
WRAPPED_REGRESSORS: dict[str, Make] = {
    "target-transformed": target_transformed,
    "voting-over-stacking": voting_regressor,
}

# (case id, data set, pipeline)
CASES: list[tuple[str, str, Make]] = [
    *[
        (f"{name}-breast_cancer", "breast_cancer", scaled(m))
        for name, m in WRAPPED_CLASSIFIERS.items()
    ],
    *[(f"{name}-wine", "wine", scaled(m)) for name, m in WRAPPED_CLASSIFIERS.items()],
    *[(f"{name}-diabetes", "diabetes", scaled(m)) for name, m in WRAPPED_REGRESSORS.items()],
    ("calibrated-isotonic-churn", "churn", mixed(lambda: calibrated("isotonic"))),
    *[(f"{name}-breast_cancer", "breast_cancer", scaled(m)) for name, m in CLASSIFIERS.items()],
    *[(f"{name}-wine", "wine", scaled(m)) for name, m in CLASSIFIERS.items()],
    *[(f"{name}-diabetes", "diabetes", scaled(m)) for name, m in REGRESSORS.items()],
    *[
        (f"{name}-churn", "churn", mixed(CLASSIFIERS[name]))
        for name in ("logistic", "forest", "gradient-boosting", "hist-gradient-boosting", "mlp")
    ],
    ("hist-gradient-boosting-native-categories-churn", "churn", native_categories),
]


def frames(data: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    return churn() if data == "churn" else bundled(data)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize(("case", "data", "make"), CASES, ids=[c[0] for c in CASES])
def test_a_planned_version_answers_as_its_pipeline_everywhere(
    box: Sandbox, case: str, data: str, make: Make
) -> None:
    import app as app_module

    train, fresh = frames(data)
    features = [c for c in train.columns if c != TARGET]
    pipeline = make().fit(train[features], train[TARGET])
    name = f"{case[:40]}-{uuid.uuid4().hex[:6]}"

    registered = box.registry.register(name, pipeline, train, TARGET)

    assert registered["plan"]["state"] == "planned", registered["plan"].get("reason")
    version = registered["version"]
    assert app_module.server().scorer(name, version).planned
    problems = channels(box, name, version, pipeline, train, fresh[features])
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("case", ["hist-gradient-boosting-churn", "logistic-wine"])
def test_batch_frames_over_the_plans_size_go_through_the_pipeline_with_the_same_answers(
    box: Sandbox, case: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from chalicelib.registry._versions import VersionStore
    from chalicelib.scoring import _scorer

    _, data, make = next(c for c in CASES if c[0] == case)
    train, fresh = frames(data)
    features = [c for c in train.columns if c != TARGET]
    pipeline = make().fit(train[features], train[TARGET])
    name = f"{case[:40]}-{uuid.uuid4().hex[:6]}"
    version = box.registry.register(name, pipeline, train, TARGET)["version"]
    monkeypatch.setattr(_scorer, "PLAN_FRAME_ROWS", 5)  # every batch file here is larger
    unpickled: list[str] = []
    load = VersionStore.load

    def counting_load(self: Any, model: str, number: int, **kwargs: Any) -> Any:
        unpickled.append(model)
        return load(self, model, number, **kwargs)

    monkeypatch.setattr(VersionStore, "load", counting_load)

    problems = channels(box, name, version, pipeline, train, fresh[features])

    assert not problems, "\n".join(problems)
    assert name in unpickled  # the batch frames went through the pipeline


@pytest.mark.parametrize(
    "case", ["logistic-churn", "hist-gradient-boosting-churn", "ridge-diabetes"]
)
def test_a_version_without_a_plan_answers_the_same_through_its_pipeline(
    box: Sandbox, case: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Versions registered before plans, or whose plan failed its proof: the compiled path
    (with a plan head for plain linear models) or the pipeline itself."""
    import app as app_module

    _, data, make = next(c for c in CASES if c[0] == case)
    train, fresh = frames(data)
    features = [c for c in train.columns if c != TARGET]
    pipeline = make().fit(train[features], train[TARGET])
    name = f"{case[:40]}-{uuid.uuid4().hex[:6]}"
    not_planned = (
        {},
        {"state": "not planned", "reason": "registered before plans"},
        {"state": "unavailable", "reason": "registered before plans"},
    )
    monkeypatch.setattr("chalicelib.registry._versions.make_plan", lambda *a: not_planned)
    version = box.registry.register(name, pipeline, train, TARGET)["version"]

    problems = channels(box, name, version, pipeline, train, fresh[features])

    assert not problems, "\n".join(problems)
    assert not app_module.server().scorer(name, version).planned
