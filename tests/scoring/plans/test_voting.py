"""VotingClassifier (hard and soft, with and without weights, with a dropped estimator) and
VotingRegressor plans answer as their estimators do."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chalicelib.scoring.plans._format import PlanWriter, Unplannable
from chalicelib.scoring.plans._heads import plan_head
from tests.scoring.plans.checks import planned
from tests.scoring.plans.numeric_cases import assert_same_both_orders, extreme_rows, rows
from tests.scoring.plans.wrapper_cases import (
    EACH_TARGET,
    Cases,
    classification,
    fit_quietly,
    gaussian_nb,
    logistic,
    ridge_classifier,
    sk,
    small_mlp,
    small_tree,
)


def _voting(voting: str, weights: Any = None, drop: bool = False) -> Any:
    def make() -> Any:
        parts = [("lr", logistic()), ("nb", gaussian_nb()), ("tree", small_tree())]
        if drop:
            parts.insert(1, ("gone", "drop"))
        if voting == "hard":
            parts.append(("ridge", ridge_classifier()))  # no probabilities: hard voting only
        else:
            parts.append(("mlp", small_mlp()))
        return sk("ensemble.VotingClassifier")(parts, voting=voting, weights=weights)

    return make


CLASSIFIERS = Cases(
    {
        "hard": _voting("hard"),
        "hard-weights": _voting("hard", [1.0, 2.5, 0.5, 1.0]),
        "hard-int-weights-drop": _voting("hard", [2, 7, 1, 1, 3], drop=True),
        # equal weights over four estimators: two-two ties, broken toward the first class
        "hard-ties": _voting("hard", [1, 1, 1, 1]),
        "soft": _voting("soft"),
        "soft-weights": _voting("soft", [0.2, 0.3, 1.5, 1.0]),
        "soft-weights-drop": _voting("soft", [3, 0, 1, 1, 2], drop=True),
    }
)


def _regressor(weights: Any = None, drop: bool = False) -> Any:
    def make() -> Any:
        parts = [
            ("ridge", sk("linear_model.Ridge")()),
            ("tree", sk("tree.DecisionTreeRegressor")(max_depth=4, random_state=0)),
            ("gb", sk("ensemble.GradientBoostingRegressor")(n_estimators=5, random_state=0)),
        ]
        if drop:
            parts.append(("gone", "drop"))
        return sk("ensemble.VotingRegressor")(parts, weights=weights)

    return make


REGRESSORS = Cases(
    {
        "plain": _regressor(),
        "weights": _regressor([0.5, 2.0, 1.0]),
        "weights-drop": _regressor([1, 3, 2, 9], drop=True),
    }
)


@EACH_TARGET
@pytest.mark.parametrize("name", CLASSIFIERS.names)
def test_voting_classifier_matches(name: str, target: str) -> None:
    estimator, X = CLASSIFIERS.classifier(name, target)
    assert_same_both_orders(estimator, extreme_rows(X))


@pytest.mark.parametrize("name", REGRESSORS.names)
def test_voting_regressor_matches(name: str) -> None:
    estimator, X = REGRESSORS.regressor(name)
    assert_same_both_orders(estimator, extreme_rows(X))


@pytest.mark.parametrize("name", ["hard-weights", "hard-ties", "soft-weights"])
@pytest.mark.parametrize("target", ["binary-str", "multiclass-int"])
@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_voting_classifier_matches_on_generated_rows(
    name: str, target: str, data: st.DataObject
) -> None:
    estimator, X = CLASSIFIERS.classifier(name, target)
    assert_same_both_orders(estimator, data.draw(rows(X)))


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_voting_regressor_matches_on_generated_rows(data: st.DataObject) -> None:
    estimator, X = REGRESSORS.regressor("weights-drop")
    assert_same_both_orders(estimator, data.draw(rows(X)))


def test_ties_do_happen_and_hard_voting_has_no_probabilities() -> None:
    estimator, X = CLASSIFIERS.classifier("hard-ties", "multiclass-int")
    votes = estimator.transform(X)
    assert any(len(set(row)) == 2 and sorted(np.bincount(row))[-2:] == [2, 2] for row in votes)
    head = planned(estimator)
    assert not hasattr(head, "predict_proba")
    assert hasattr(planned(CLASSIFIERS.classifier("soft", "binary-int")[0]), "predict_proba")


def test_an_unplanned_estimator_is_named() -> None:
    X, y = classification("binary-int")
    parts = [("lr", logistic()), ("svm", sk("svm.SVC")())]
    estimator = fit_quietly(sk("ensemble.VotingClassifier")(parts), X, y)
    with pytest.raises(Unplannable, match=r"VotingClassifier: its estimator 'svm' \(SVC\)"):
        plan_head(estimator, PlanWriter())


def test_a_pipeline_inside_is_refused() -> None:
    X, y = classification("multiclass-int")
    pipeline = sk("pipeline.make_pipeline")(sk("preprocessing.StandardScaler")(), logistic())
    parts = [("lr", logistic()), ("pipe", pipeline)]
    estimator = fit_quietly(sk("ensemble.VotingClassifier")(parts, voting="soft"), X, y)
    with pytest.raises(Unplannable, match="a pipeline inside VotingClassifier is not planned"):
        plan_head(estimator, PlanWriter())


def test_a_soft_vote_over_an_estimator_without_probabilities_is_refused() -> None:
    X, y = classification("binary-int")
    parts = [("lr", logistic()), ("ridge", ridge_classifier())]
    estimator = fit_quietly(sk("ensemble.VotingClassifier")(parts, voting="soft"), X, y)
    with pytest.raises(AttributeError):
        estimator.predict(X)
    with pytest.raises(Unplannable, match=r"'ridge' \(RidgeClassifier\) has no predict_proba"):
        plan_head(estimator, PlanWriter())
