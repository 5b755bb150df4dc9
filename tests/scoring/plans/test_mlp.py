"""MLP plans answer as their estimators do: every class equal, every probability and
regression value within 1e-9 relative, on C- and F-ordered X, for every activation."""

from __future__ import annotations

import warnings
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chalicelib.scoring.plans._format import PlanWriter, Unplannable
from chalicelib.scoring.plans._heads import plan_head
from tests.scoring.plans.checks import close
from tests.scoring.plans.numeric_cases import (
    assert_same_both_orders,
    binary,
    dataset,
    extreme_rows,
    rows,
    run_without_sklearn,
)

ACTIVATIONS = ("identity", "logistic", "tanh", "relu")
SOLVERS = ("adam", "lbfgs")


@cache
def classifier(activation: str, solver: str, data: str, two: bool, scaled: bool = True) -> Any:
    from sklearn.neural_network import MLPClassifier

    X, y = dataset(data, scaled)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return MLPClassifier(
            hidden_layer_sizes=(16, 8),
            activation=activation,
            solver=solver,
            max_iter=150,
            random_state=0,
        ).fit(X, binary(y) if two else y)


@cache
def regressor(activation: str, solver: str, scaled: bool, outputs: int = 1) -> Any:
    from sklearn.neural_network import MLPRegressor

    X, y = dataset("diabetes", scaled)
    target = y if outputs == 1 else np.c_[y, np.sqrt(y)][:, :outputs]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return MLPRegressor(
            hidden_layer_sizes=(16,),
            activation=activation,
            solver=solver,
            max_iter=300,
            random_state=0,
        ).fit(X, target)


@pytest.mark.parametrize("two", [False, True], ids=["multiclass", "binary"])
@pytest.mark.parametrize("scaled", [True, False], ids=["scaled", "raw"])
@pytest.mark.parametrize("data", ["iris", "wine", "breast_cancer", "digits"])
@pytest.mark.parametrize("solver", SOLVERS)
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_classifier_matches_on_data_sets_and_extremes(
    activation: str, solver: str, data: str, scaled: bool, two: bool
) -> None:
    estimator = classifier(activation, solver, data, two, scaled)
    assert_same_both_orders(estimator, extreme_rows(dataset(data, scaled)[0]))


@pytest.mark.parametrize("outputs", [1, 2])
@pytest.mark.parametrize("scaled", [True, False], ids=["scaled", "raw"])
@pytest.mark.parametrize("solver", SOLVERS)
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_regressor_matches_on_data_sets_and_extremes(
    activation: str, solver: str, scaled: bool, outputs: int
) -> None:
    estimator = regressor(activation, solver, scaled, outputs)
    assert_same_both_orders(estimator, extreme_rows(dataset("diabetes", scaled)[0]))


@pytest.mark.parametrize("two", [False, True], ids=["multiclass", "binary"])
@pytest.mark.parametrize("activation", ACTIVATIONS)
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sample=st.data())
def test_classifier_matches_on_generated_rows(
    activation: str, two: bool, sample: st.DataObject
) -> None:
    estimator = classifier(activation, "lbfgs", "wine", two)
    assert_same_both_orders(estimator, sample.draw(rows(dataset("wine", True)[0])))


@pytest.mark.parametrize("activation", ACTIVATIONS)
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sample=st.data())
def test_regressor_matches_on_generated_rows(activation: str, sample: st.DataObject) -> None:
    estimator = regressor(activation, "lbfgs", True)
    assert_same_both_orders(estimator, sample.draw(rows(dataset("diabetes", True)[0])))


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_poisson_regressor_matches(activation: str) -> None:
    from sklearn.neural_network import MLPRegressor

    X, y = dataset("diabetes", True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        estimator = MLPRegressor(
            loss="poisson",
            hidden_layer_sizes=(16,),
            activation=activation,
            max_iter=300,
            random_state=0,
        ).fit(X, y)
    assert estimator.out_activation_ == "exp"
    assert_same_both_orders(estimator, extreme_rows(X))


def test_string_labels() -> None:
    from sklearn.neural_network import MLPClassifier

    X, y = dataset("iris", True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        estimator = MLPClassifier(max_iter=100, random_state=0).fit(X, np.array(["x", "y", "z"])[y])
    assert_same_both_orders(estimator, extreme_rows(X))


def test_evaluates_with_sklearn_scipy_and_pandas_blocked(tmp_path: Path) -> None:
    X = extreme_rows(dataset("breast_cancer", True)[0])
    estimator = classifier("logistic", "lbfgs", "breast_cancer", True)
    outputs = run_without_sklearn(estimator, X, tmp_path)
    assert np.array_equal(outputs["predict"], estimator.predict(X))
    assert close(outputs["predict_proba"], estimator.predict_proba(X))


def test_multilabel_is_refused() -> None:
    from sklearn.neural_network import MLPClassifier

    X, y = dataset("iris", True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        estimator = MLPClassifier(max_iter=20).fit(X, np.c_[y == 0, y == 1].astype(int))
    with pytest.raises(Unplannable, match="multilabel"):
        plan_head(estimator, PlanWriter())


def test_float32_layers_are_refused() -> None:
    from sklearn.neural_network import MLPRegressor

    X, y = dataset("diabetes", True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        estimator = MLPRegressor(max_iter=20).fit(X.astype(np.float32), y)
    with pytest.raises(Unplannable, match="float32"):
        plan_head(estimator, PlanWriter())
