"""OneVsRestClassifier plans answer as the estimator does (predict, predict_proba,
decision_function where it has them), binary and multiclass, integer and text labels, over
binary estimators scored each way `_predict_binary` scores them."""

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
    small_hgb,
    small_tree,
)


def _ovr(make: Any) -> Any:
    return lambda: sk("multiclass.OneVsRestClassifier")(make())


CASES = Cases(
    {
        # decision_function and predict_proba: scored by decision_function, threshold 0
        "logistic": _ovr(logistic),
        # decision_function only
        "ridge": _ovr(ridge_classifier),
        # predict_proba only: scored by its positive column, threshold 0.5
        "naive-bayes": _ovr(gaussian_nb),
        "tree": _ovr(small_tree),
        "hgb": _ovr(small_hgb),
        # a regressor: scored by predict, threshold 0.5, no probabilities
        "linear-regression": _ovr(lambda: sk("linear_model.LinearRegression")()),
    }
)


@EACH_TARGET
@pytest.mark.parametrize("name", CASES.names)
def test_one_vs_rest_matches(name: str, target: str) -> None:
    estimator, X = CASES.classifier(name, target)
    assert_same_both_orders(estimator, extreme_rows(X))


@pytest.mark.parametrize("name", ["logistic", "naive-bayes", "linear-regression"])
@pytest.mark.parametrize("target", ["binary-str", "multiclass-int"])
@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_one_vs_rest_matches_on_generated_rows(name: str, target: str, data: st.DataObject) -> None:
    estimator, X = CASES.classifier(name, target)
    assert_same_both_orders(estimator, data.draw(rows(X)))


@EACH_TARGET
def test_methods_are_those_of_the_estimator(target: str) -> None:
    for name in CASES.names:
        estimator, _ = CASES.classifier(name, target)
        head = planned(estimator)
        for method in ("predict_proba", "decision_function"):
            assert hasattr(head, method) == hasattr(estimator, method), (name, method)


def test_binary_decision_function_is_one_dimensional() -> None:
    estimator, X = CASES.classifier("logistic", "binary-int")
    values = planned(estimator).decision_function(X)
    assert values.shape == (len(X),)
    assert np.array_equal(values, estimator.decision_function(X))


def test_multilabel_is_refused() -> None:
    X, y = classification("multiclass-int")
    indicator = np.c_[y == 3, y != 5].astype(int)
    estimator = fit_quietly(sk("multiclass.OneVsRestClassifier")(logistic()), X, indicator)
    with pytest.raises(Unplannable, match="OneVsRestClassifier fitted on multilabel"):
        plan_head(estimator, PlanWriter())


def test_an_unplanned_estimator_is_named() -> None:
    estimator, _ = CASES.classifier("logistic", "multiclass-int")
    X, y = classification("multiclass-int")
    svc = fit_quietly(sk("multiclass.OneVsRestClassifier")(sk("svm.SVC")()), X, y)
    with pytest.raises(Unplannable, match=r"its estimator for class 3 \(SVC\) is not planned"):
        plan_head(svc, PlanWriter())
    assert planned(estimator).classes.tolist() == [3, 5, 7]
    X, y = classification("binary-str")
    svc = fit_quietly(sk("multiclass.OneVsRestClassifier")(sk("svm.SVC")()), X, y)
    with pytest.raises(Unplannable, match=r"its estimator for class 'beta' \(SVC\)"):
        plan_head(svc, PlanWriter())
