"""CalibratedClassifierCV plans answer as the estimator does: sigmoid and isotonic, ensemble
or not, over base estimators read by decision_function or by predict_proba, binary and
multiclass, integer and text labels."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chalicelib.scoring.plans._format import PlanWriter, Unplannable
from chalicelib.scoring.plans._heads import plan_head
from tests.scoring.plans.checks import close, planned
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
    small_forest,
    small_hgb,
    small_tree,
)


def _calibrated(make: Any, method: str, ensemble: bool = True) -> Any:
    return lambda: sk("calibration.CalibratedClassifierCV")(
        make(), method=method, ensemble=ensemble, cv=3
    )


_BASES = {
    "logistic": logistic,  # decision_function (and predict_proba)
    "ridge": ridge_classifier,  # decision_function only
    "naive-bayes": gaussian_nb,  # predict_proba only
    "tree": small_tree,  # predict_proba with ties: isotonic steps
}
CASES = Cases(
    {
        **{
            f"{method}-{base}{'' if ensemble else '-single'}": _calibrated(make, method, ensemble)
            for method in ("sigmoid", "isotonic")
            for base, make in _BASES.items()
            for ensemble in (True, False)
        },
        "sigmoid-forest": _calibrated(small_forest, "sigmoid"),
        "isotonic-hgb-single": _calibrated(small_hgb, "isotonic", ensemble=False),
        "sigmoid-hgb": _calibrated(small_hgb, "sigmoid"),
    }
)


@EACH_TARGET
@pytest.mark.parametrize("name", CASES.names)
def test_calibrated_classifier_matches(name: str, target: str) -> None:
    estimator, X = CASES.classifier(name, target)
    assert_same_both_orders(estimator, extreme_rows(X))


@pytest.mark.parametrize(
    "name", ["sigmoid-logistic", "isotonic-naive-bayes-single", "isotonic-tree"]
)
@pytest.mark.parametrize("target", ["binary-int", "multiclass-str"])
@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_calibrated_classifier_matches_on_generated_rows(
    name: str, target: str, data: st.DataObject
) -> None:
    estimator, X = CASES.classifier(name, target)
    assert_same_both_orders(estimator, data.draw(rows(X)))


def test_a_fold_without_a_class_is_calibrated_as_scikit_learn_does() -> None:
    """A split whose training rows lack a class gives a binary base estimator among three
    classes: one calibrator, for the first of its classes, and the others at 0."""
    X, y = classification("multiclass-int")
    without_7 = np.flatnonzero(y != 7)
    everything = np.arange(len(y))
    splits = [(without_7, everything), (everything, everything)]
    estimator = fit_quietly(
        sk("calibration.CalibratedClassifierCV")(logistic(), method="isotonic", cv=splits),
        X,
        y,
    )
    assert len(estimator.calibrated_classifiers_[0].estimator.classes_) == 2
    assert_same_both_orders(estimator, extreme_rows(X))


def test_a_frozen_estimator_is_planned_through() -> None:
    X, y = classification("binary-str")
    base = fit_quietly(logistic(), X, y)
    frozen = sk("frozen.FrozenEstimator")(base)
    estimator = fit_quietly(sk("calibration.CalibratedClassifierCV")(frozen), X, y)
    assert_same_both_orders(estimator, extreme_rows(X))


def test_probabilities_rows_sum_to_one_and_classes_come_back() -> None:
    estimator, X = CASES.classifier("isotonic-logistic", "multiclass-str")
    head = planned(estimator)
    assert close(head.predict_proba(X).sum(axis=1), np.ones(len(X)))
    assert head.classes.tolist() == ["alpha", "beta", "gamma"]


def test_temperature_scaling_is_refused() -> None:
    X, y = classification("multiclass-int")
    estimator = fit_quietly(
        sk("calibration.CalibratedClassifierCV")(logistic(), method="temperature", cv=3), X, y
    )
    with pytest.raises(Unplannable, match="method='temperature' is not planned"):
        plan_head(estimator, PlanWriter())


def test_an_unplanned_base_estimator_is_named() -> None:
    X, y = classification("binary-int")
    estimator = fit_quietly(sk("calibration.CalibratedClassifierCV")(sk("svm.SVC")(), cv=2), X, y)
    with pytest.raises(Unplannable, match=r"estimator of classifier 1 of 2 \(SVC\) is not planned"):
        plan_head(estimator, PlanWriter())


def test_a_pipeline_inside_is_refused() -> None:
    X, y = classification("binary-int")
    pipeline = sk("pipeline.make_pipeline")(sk("preprocessing.StandardScaler")(), logistic())
    estimator = fit_quietly(sk("calibration.CalibratedClassifierCV")(pipeline, cv=2), X, y)
    with pytest.raises(Unplannable, match="a pipeline inside CalibratedClassifierCV"):
        plan_head(estimator, PlanWriter())


def test_an_infinite_response_is_refused_by_isotonic_as_scikit_learn_refuses_it() -> None:
    """IsotonicRegression checks its input: a decision value that overflowed is refused."""
    estimator, X = CASES.classifier("isotonic-logistic", "binary-int")
    coef = estimator.calibrated_classifiers_[0].estimator.coef_.ravel()
    huge = (np.full(X.shape[1], 1e308) * np.sign(coef)).reshape(1, -1)
    with np.errstate(all="ignore"):
        with pytest.raises(ValueError, match="infinity"):
            estimator.predict_proba(huge)
        with pytest.raises(ValueError, match="infinity"):
            planned(estimator).predict_proba(huge)
    sigmoid, _ = CASES.classifier("sigmoid-logistic", "binary-int")
    with np.errstate(all="ignore"):  # the sigmoid takes it: 0 or 1, on both sides
        assert close(planned(sigmoid).predict_proba(huge), sigmoid.predict_proba(huge))
