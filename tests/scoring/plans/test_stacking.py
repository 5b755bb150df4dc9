"""StackingClassifier and StackingRegressor plans answer as their estimators do: each
stack_method ('auto' resolved per estimator, and each one forced), passthrough or not, a
dropped estimator, final estimators with and without probabilities; the stacked features
equal `transform`'s, dtype included."""

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
    small_tree,
)


def _stacking(
    method: str = "auto", passthrough: bool = False, final: Any = None, drop: bool = False
) -> Any:
    def make() -> Any:
        parts: list[tuple[str, Any]] = [("lr", logistic()), ("tree", small_tree())]
        if method in ("auto", "decision_function"):
            parts.append(("ridge", ridge_classifier()))  # decision_function, no probabilities
        if method in ("auto", "predict_proba", "predict"):
            parts.append(("nb", gaussian_nb()))  # probabilities, no decision_function
        if method == "decision_function":
            parts = [part for part in parts if part[0] != "tree"]
        if drop:
            parts.insert(1, ("gone", "drop"))
        return sk("ensemble.StackingClassifier")(
            parts,
            final_estimator=None if final is None else final(),
            stack_method=method,
            passthrough=passthrough,
            cv=3,
        )

    return make


CLASSIFIERS = Cases(
    {
        "auto": _stacking(),
        "auto-passthrough-drop": _stacking(passthrough=True, drop=True),
        "predict-proba": _stacking("predict_proba"),
        "decision-function-passthrough": _stacking("decision_function", passthrough=True),
        # labels as the only features: integer stacked features, as transform gives them
        "predict": _stacking("predict"),
        "predict-passthrough": _stacking("predict", passthrough=True),
        "final-ridge": _stacking(final=ridge_classifier),  # no predict_proba
        "final-tree": _stacking(passthrough=True, final=small_tree),  # no decision_function
        "final-calibrated": _stacking(
            final=lambda: sk("calibration.CalibratedClassifierCV")(logistic(), cv=3)
        ),
    }
)


def _regressor(passthrough: bool = False, final: Any = None, drop: bool = False) -> Any:
    def make() -> Any:
        parts: list[tuple[str, Any]] = [
            ("ridge", sk("linear_model.Ridge")()),
            ("tree", sk("tree.DecisionTreeRegressor")(max_depth=4, random_state=0)),
        ]
        if drop:
            parts.append(("gone", "drop"))
        return sk("ensemble.StackingRegressor")(
            parts,
            final_estimator=None if final is None else final(),
            passthrough=passthrough,
            cv=3,
        )

    return make


REGRESSORS = Cases(
    {
        "default-final": _regressor(),  # RidgeCV
        "passthrough-drop": _regressor(passthrough=True, drop=True),
        "final-tree": _regressor(final=lambda: sk("tree.DecisionTreeRegressor")(max_depth=3)),
    }
)


@EACH_TARGET
@pytest.mark.parametrize("name", CLASSIFIERS.names)
def test_stacking_classifier_matches(name: str, target: str) -> None:
    estimator, X = CLASSIFIERS.classifier(name, target)
    assert_same_both_orders(estimator, extreme_rows(X))


@pytest.mark.parametrize("name", REGRESSORS.names)
def test_stacking_regressor_matches(name: str) -> None:
    estimator, X = REGRESSORS.regressor(name)
    assert_same_both_orders(estimator, extreme_rows(X))


@pytest.mark.parametrize("name", ["auto-passthrough-drop", "predict", "final-ridge"])
@pytest.mark.parametrize("target", ["binary-int", "multiclass-str"])
@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_stacking_classifier_matches_on_generated_rows(
    name: str, target: str, data: st.DataObject
) -> None:
    estimator, X = CLASSIFIERS.classifier(name, target)
    assert_same_both_orders(estimator, data.draw(rows(X)))


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_stacking_regressor_matches_on_generated_rows(data: st.DataObject) -> None:
    estimator, X = REGRESSORS.regressor("passthrough-drop")
    assert_same_both_orders(estimator, data.draw(rows(X)))


@EACH_TARGET
@pytest.mark.parametrize("name", ["auto-passthrough-drop", "predict", "predict-passthrough"])
def test_stacked_features_are_transforms(name: str, target: str) -> None:
    estimator, X = CLASSIFIERS.classifier(name, target)
    head = planned(estimator)
    for matrix in (np.ascontiguousarray(X), np.asfortranarray(X)):
        mine, theirs = head.transform(matrix), estimator.transform(matrix)
        assert mine.dtype == theirs.dtype and mine.flags.c_contiguous == theirs.flags.c_contiguous
        assert np.array_equal(mine, theirs)


def test_auto_resolves_per_estimator() -> None:
    estimator, _ = CLASSIFIERS.classifier("auto", "binary-int")
    assert estimator.stack_method_ == [
        "predict_proba",
        "predict_proba",
        "decision_function",
        "predict_proba",
    ]


def test_methods_follow_the_final_estimator() -> None:
    for name in ("auto", "final-ridge", "final-tree"):
        estimator, _ = CLASSIFIERS.classifier(name, "multiclass-int")
        head = planned(estimator)
        for method in ("predict_proba", "decision_function"):
            assert hasattr(head, method) == hasattr(estimator, method), (name, method)


def test_an_unplanned_final_estimator_is_named() -> None:
    X, y = classification("binary-int")
    estimator = fit_quietly(
        sk("ensemble.StackingClassifier")(
            [("lr", logistic())], final_estimator=sk("svm.SVC")(), cv=2
        ),
        X,
        y,
    )
    with pytest.raises(Unplannable, match=r"its final_estimator_ \(SVC\) is not planned"):
        plan_head(estimator, PlanWriter())


def test_a_pipeline_inside_is_refused() -> None:
    X, y = classification("multiclass-int")
    pipeline = sk("pipeline.make_pipeline")(sk("preprocessing.StandardScaler")(), logistic())
    estimator = fit_quietly(sk("ensemble.StackingClassifier")([("pipe", pipeline)], cv=2), X, y)
    with pytest.raises(Unplannable, match="a pipeline inside StackingClassifier is not planned"):
        plan_head(estimator, PlanWriter())
