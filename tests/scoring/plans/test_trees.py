"""Plans of scikit-learn's trees, forests and gradient boosting answer as the estimators do."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.dummy import DummyClassifier
from sklearn.ensemble import (
    ExtraTreesClassifier,
    ExtraTreesRegressor,
    GradientBoostingClassifier,
    GradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.linear_model import LinearRegression
from sklearn.tree import (
    DecisionTreeClassifier,
    DecisionTreeRegressor,
    ExtraTreeClassifier,
    ExtraTreeRegressor,
)

from chalicelib.scoring.plans._format import PlanWriter, Unplannable
from chalicelib.scoring.plans._heads import plan_head
from tests.scoring.plans.checks import assert_same, planned
from tests.scoring.plans.tree_cases import (
    CLASSIFICATION_SETS,
    bundled,
    table_with_holes,
    threshold_rows,
    with_unseen_holes,
)

Factory = Callable[[], Any]

CLASSIFIERS: dict[str, Factory] = {
    "tree": lambda: DecisionTreeClassifier(random_state=0),
    "shallow_tree": lambda: DecisionTreeClassifier(max_depth=3, random_state=0),
    "extra_tree": lambda: ExtraTreeClassifier(random_state=0),
    "forest": lambda: RandomForestClassifier(n_estimators=15, random_state=0),
    "extra_forest": lambda: ExtraTreesClassifier(n_estimators=15, random_state=0),
    "boosting": lambda: GradientBoostingClassifier(n_estimators=15, random_state=0),
    "boosting_zero_init": lambda: GradientBoostingClassifier(
        n_estimators=10, init="zero", learning_rate=0.3, random_state=0
    ),
}
REGRESSORS: dict[str, Factory] = {
    "tree": lambda: DecisionTreeRegressor(random_state=0),
    "extra_tree": lambda: ExtraTreeRegressor(random_state=0),
    "forest": lambda: RandomForestRegressor(n_estimators=15, random_state=0),
    "extra_forest": lambda: ExtraTreesRegressor(n_estimators=15, random_state=0),
    **{
        f"boosting_{loss}": (
            lambda loss=loss: GradientBoostingRegressor(
                loss=loss, n_estimators=20, max_depth=4, random_state=0
            )
        )
        for loss in ("squared_error", "absolute_error", "huber", "quantile")
    },
    "boosting_zero_init": lambda: GradientBoostingRegressor(
        n_estimators=10, init="zero", random_state=0
    ),
}
# The families that accept NaN (gradient boosting refuses it, as its estimator does).
NAN_CLASSIFIERS = {k: v for k, v in CLASSIFIERS.items() if not k.startswith("boosting")}
NAN_REGRESSORS = {k: v for k, v in REGRESSORS.items() if not k.startswith("boosting")}


def all_nodes(estimator: Any) -> tuple[np.ndarray, np.ndarray]:
    """(feature, threshold) of every node of every tree in the estimator."""
    trees = getattr(estimator, "estimators_", [estimator])
    trees = np.asarray(trees, dtype=object).ravel()
    feature = np.concatenate([t.tree_.feature for t in trees])
    threshold = np.concatenate([t.tree_.threshold for t in trees])
    return feature, threshold


@pytest.mark.parametrize("data", sorted(CLASSIFICATION_SETS))
@pytest.mark.parametrize("make", sorted(CLASSIFIERS))
def test_classifiers_on_bundled_sets(make: str, data: str) -> None:
    X, y = bundled(data)
    estimator = CLASSIFIERS[make]().fit(X, y)
    assert_same(estimator, X)


@pytest.mark.parametrize("make", sorted(REGRESSORS))
def test_regressors_on_diabetes(make: str) -> None:
    X, y = bundled("diabetes")
    estimator = REGRESSORS[make]().fit(X, y)
    assert_same(estimator, X)


def test_binary_boosting_with_exponential_loss() -> None:
    X, y = bundled("breast_cancer")
    estimator = GradientBoostingClassifier(loss="exponential", n_estimators=30).fit(X, y)
    assert_same(estimator, X)


def test_string_labels() -> None:
    X, y = bundled("iris")
    names = np.array(["setosa", "versicolor", "virginica"])[y]
    for make in ("tree", "forest", "boosting"):
        assert_same(CLASSIFIERS[make]().fit(X, names), X)


@pytest.mark.parametrize("make", sorted(CLASSIFIERS))
def test_classifiers_at_their_thresholds(make: str) -> None:
    X, y = bundled("wine")
    estimator = CLASSIFIERS[make]().fit(X, y)
    features, thresholds = all_nodes(estimator)
    for base in (X[0], X[-1]):
        assert_same(estimator, threshold_rows(features, thresholds, X.shape[1], base))


@pytest.mark.parametrize("make", sorted(REGRESSORS))
def test_regressors_at_their_thresholds(make: str) -> None:
    X, y = bundled("diabetes")
    estimator = REGRESSORS[make]().fit(X, y)
    features, thresholds = all_nodes(estimator)
    assert_same(estimator, threshold_rows(features, thresholds, X.shape[1], X[3]))


@pytest.mark.parametrize("make", sorted(NAN_CLASSIFIERS))
def test_classifiers_with_missing_values(make: str) -> None:
    X, label, _ = table_with_holes(seed=1)
    estimator = NAN_CLASSIFIERS[make]().fit(X, label)
    assert_same(estimator, X)
    assert_same(estimator, with_unseen_holes(X, seed=2))


@pytest.mark.parametrize("make", sorted(NAN_REGRESSORS))
def test_regressors_with_missing_values(make: str) -> None:
    X, _, target = table_with_holes(seed=3)
    estimator = NAN_REGRESSORS[make]().fit(X, target)
    assert_same(estimator, X)
    assert_same(estimator, with_unseen_holes(X, seed=4))


def test_nan_at_predict_only() -> None:
    """Trees fitted without NaN still route it at predict (by `missing_go_to_left`)."""
    X, y = bundled("breast_cancer")
    for make in NAN_CLASSIFIERS:
        assert_same(NAN_CLASSIFIERS[make]().fit(X, y), with_unseen_holes(X, seed=5))


@pytest.mark.filterwarnings("ignore:invalid value encountered in reduce")  # sklearn's sum
def test_extreme_but_float32_values() -> None:
    X, y = bundled("iris")
    probe = np.repeat(X[:4], 6, axis=0)
    big = float(np.finfo(np.float32).max)
    probe[:, :] = np.resize([big, -big, 1e-300, -1e-300, 0.0, -0.0, 1e-45, 3e38], probe.shape)
    for make in CLASSIFIERS:
        assert_same(CLASSIFIERS[make]().fit(X, y), probe)


@pytest.mark.filterwarnings("ignore:overflow encountered in cast")
@pytest.mark.parametrize("value", [1e300, -1e300, np.inf, -np.inf, 3.5e38])
def test_values_beyond_float32_are_refused_as_the_estimator_does(value: float) -> None:
    X, y = bundled("iris")
    probe = X[:3].copy()
    probe[1, 2] = value
    for make in ("tree", "forest", "boosting"):
        estimator = CLASSIFIERS[make]().fit(X, y)
        with pytest.raises(ValueError, match="infinity"):
            estimator.predict(probe)
        with pytest.raises(ValueError, match="infinity"):
            planned(estimator).predict(probe)


def test_boosting_refuses_nan_as_the_estimator_does() -> None:
    X, y = bundled("iris")
    probe = X[:3].copy()
    probe[0, 0] = np.nan
    estimator = CLASSIFIERS["boosting"]().fit(X, y)
    with pytest.raises(ValueError, match="NaN"):
        estimator.predict(probe)
    with pytest.raises(ValueError, match="NaN"):
        planned(estimator).predict(probe)


def test_extra_tree_with_best_splitter_refuses_nan() -> None:
    X, y = bundled("iris")
    estimator = ExtraTreeClassifier(splitter="best", random_state=0).fit(X, y)
    probe = X[:3].copy()
    probe[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        estimator.predict(probe)
    with pytest.raises(ValueError, match="NaN"):
        planned(estimator).predict(probe)


def test_wrong_width_is_refused() -> None:
    X, y = bundled("iris")
    head = planned(CLASSIFIERS["tree"]().fit(X, y))
    with pytest.raises(ValueError, match="expecting 4 features"):
        head.predict(X[:, :3])


def test_large_batch_spans_several_blocks() -> None:
    X, y = bundled("digits")
    estimator = RandomForestClassifier(n_estimators=40, random_state=0).fit(X, y)
    rng = np.random.default_rng(0)
    assert_same(estimator, np.tile(X, (30, 1)) + rng.normal(scale=0.5, size=(X.shape[0] * 30, 64)))


# -- refusals -----------------------------------------------------------------------------


def refusal(estimator: Any) -> str:
    with pytest.raises(Unplannable) as caught:
        plan_head(estimator, PlanWriter())
    return str(caught.value)


def test_multi_output_is_refused() -> None:
    X, y = bundled("iris")
    two = np.column_stack([y, y[::-1]])
    for estimator in (
        DecisionTreeClassifier().fit(X, two),
        RandomForestRegressor(n_estimators=3).fit(X, two.astype(float)),
    ):
        assert "2 outputs" in refusal(estimator)


def test_an_init_estimator_is_refused() -> None:
    X, y = bundled("diabetes")
    boosted = GradientBoostingRegressor(init=LinearRegression(), n_estimators=3).fit(X, y)
    assert "init=LinearRegression" in refusal(boosted)
    Xc, yc = bundled("iris")
    explicit = GradientBoostingClassifier(init=DummyClassifier(), n_estimators=3).fit(Xc, yc)
    assert "init=DummyClassifier" in refusal(explicit)


# -- generated tables ---------------------------------------------------------------------

CELL = st.one_of(
    st.floats(-1e6, 1e6, allow_nan=False, width=32),
    st.sampled_from([0.0, -0.0, 0.5, 1.0, np.nan]),
)


@st.composite
def tables(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray]:
    rows = draw(st.integers(8, 60))
    features = draw(st.integers(1, 4))
    X = np.array(draw(st.lists(CELL, min_size=rows * features, max_size=rows * features)))
    X = X.reshape(rows, features)
    label = np.array(draw(st.lists(st.integers(0, 2), min_size=rows, max_size=rows)))
    return X, label


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=tables(), depth=st.sampled_from([None, 1, 3]), seed=st.integers(0, 3))
def test_generated_tables(
    data: tuple[np.ndarray, np.ndarray], depth: int | None, seed: int
) -> None:
    X, label = data
    probe = np.concatenate([X, with_unseen_holes(X, seed), X[::-1] * 2.0])
    for estimator in (
        DecisionTreeClassifier(max_depth=depth, random_state=seed),
        DecisionTreeRegressor(max_depth=depth, random_state=seed),
        ExtraTreesClassifier(n_estimators=4, max_depth=depth, random_state=seed),
        RandomForestRegressor(n_estimators=4, max_depth=depth, random_state=seed),
    ):
        target = label if hasattr(estimator, "predict_proba") else label * 1.5
        assert_same(estimator.fit(X, target), probe)
    finite = np.nan_to_num(X, nan=0.25)
    if np.unique(label).size > 1:
        boosted = GradientBoostingClassifier(n_estimators=5, max_depth=depth or 3)
        assert_same(boosted.fit(finite, label), np.nan_to_num(probe, nan=0.0))


def test_an_unknown_classifier_loss_is_refused() -> None:
    class SquaredHingeLoss:
        pass

    X, y = bundled("iris")
    estimator = GradientBoostingClassifier(n_estimators=3).fit(X, y)
    estimator._loss = SquaredHingeLoss()
    assert "SquaredHingeLoss" in refusal(estimator)
