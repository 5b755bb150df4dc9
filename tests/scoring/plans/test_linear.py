"""Linear plans answer as their estimators do: every class equal, every probability,
decision value and regression value within 1e-9 relative, on C- and F-ordered X."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from chalicelib.scoring.plans._format import PlanWriter, Unplannable
from chalicelib.scoring.plans._heads import plan_head
from tests.scoring.plans.checks import close, planned
from tests.scoring.plans.numeric_cases import (
    assert_same_both_orders,
    binary,
    dataset,
    extreme_rows,
    rows,
    run_without_sklearn,
)

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def _sk(module: str, name: str) -> Callable[..., Any]:
    return getattr(__import__(f"sklearn.{module}", fromlist=[name]), name)


# (name, constructor, data set, binary target?)
CLASSIFIERS: list[tuple[str, Callable[[], Any], str, bool]] = [
    (
        "logistic-binary",
        lambda: _sk("linear_model", "LogisticRegression")(max_iter=3000),
        "breast_cancer",
        True,
    ),
    (
        "logistic-multinomial",
        lambda: _sk("linear_model", "LogisticRegression")(max_iter=3000),
        "iris",
        False,
    ),
    (
        "logistic-digits",
        lambda: _sk("linear_model", "LogisticRegression")(max_iter=300),
        "digits",
        False,
    ),
    (
        "logistic-liblinear",
        lambda: _sk("linear_model", "LogisticRegression")(solver="liblinear"),
        "wine",
        True,
    ),
    (
        "logistic-no-intercept",
        lambda: _sk("linear_model", "LogisticRegression")(fit_intercept=False, max_iter=3000),
        "wine",
        False,
    ),
    (
        "logistic-cv",
        lambda: _sk("linear_model", "LogisticRegressionCV")(max_iter=300),
        "iris",
        False,
    ),
    ("ridge-classifier", lambda: _sk("linear_model", "RidgeClassifier")(), "wine", False),
    (
        "ridge-classifier-binary",
        lambda: _sk("linear_model", "RidgeClassifier")(),
        "breast_cancer",
        True,
    ),
    ("ridge-classifier-cv", lambda: _sk("linear_model", "RidgeClassifierCV")(), "iris", False),
    ("sgd-hinge", lambda: _sk("linear_model", "SGDClassifier")(random_state=0), "wine", False),
    (
        "sgd-log-loss",
        lambda: _sk("linear_model", "SGDClassifier")(loss="log_loss", random_state=0),
        "iris",
        False,
    ),
    (
        "sgd-log-loss-binary",
        lambda: _sk("linear_model", "SGDClassifier")(loss="log_loss", random_state=0),
        "breast_cancer",
        True,
    ),
    (
        "sgd-modified-huber",
        lambda: _sk("linear_model", "SGDClassifier")(loss="modified_huber", random_state=0),
        "wine",
        False,
    ),
    (
        "sgd-modified-huber-binary",
        lambda: _sk("linear_model", "SGDClassifier")(loss="modified_huber", random_state=0),
        "iris",
        True,
    ),
    ("perceptron", lambda: _sk("linear_model", "Perceptron")(random_state=0), "digits", False),
    (
        "passive-aggressive",
        lambda: _sk("linear_model", "PassiveAggressiveClassifier")(random_state=0),
        "wine",
        False,
    ),
    ("linear-svc", lambda: _sk("svm", "LinearSVC")(), "iris", False),
    ("linear-svc-binary", lambda: _sk("svm", "LinearSVC")(), "breast_cancer", True),
    (
        "linear-svc-crammer-singer",
        lambda: _sk("svm", "LinearSVC")(multi_class="crammer_singer"),
        "wine",
        False,
    ),
    (
        "logistic-l1-saga",
        lambda: _sk("linear_model", "LogisticRegression")(l1_ratio=1.0, solver="saga", C=0.5),
        "wine",
        False,
    ),
]

REGRESSORS: list[tuple[str, Callable[[], Any]]] = [
    ("linear-regression", lambda: _sk("linear_model", "LinearRegression")()),
    (
        "linear-regression-no-intercept",
        lambda: _sk("linear_model", "LinearRegression")(fit_intercept=False),
    ),
    ("ridge", lambda: _sk("linear_model", "Ridge")()),
    ("ridge-cv", lambda: _sk("linear_model", "RidgeCV")()),
    ("lasso", lambda: _sk("linear_model", "Lasso")(alpha=0.1)),
    ("elastic-net", lambda: _sk("linear_model", "ElasticNet")(alpha=0.01)),
    ("lars", lambda: _sk("linear_model", "Lars")()),
    ("lasso-lars", lambda: _sk("linear_model", "LassoLars")(alpha=0.01)),
    ("omp", lambda: _sk("linear_model", "OrthogonalMatchingPursuit")()),
    ("bayesian-ridge", lambda: _sk("linear_model", "BayesianRidge")()),
    ("ard", lambda: _sk("linear_model", "ARDRegression")()),
    ("huber", lambda: _sk("linear_model", "HuberRegressor")(max_iter=1000)),
    ("sgd-regressor", lambda: _sk("linear_model", "SGDRegressor")(random_state=0)),
    ("linear-svr", lambda: _sk("svm", "LinearSVR")(random_state=0)),
    ("poisson", lambda: _sk("linear_model", "PoissonRegressor")()),
    ("gamma", lambda: _sk("linear_model", "GammaRegressor")()),
    ("tweedie-identity", lambda: _sk("linear_model", "TweedieRegressor")(power=0)),
    ("tweedie-log", lambda: _sk("linear_model", "TweedieRegressor")(power=1.5)),
    ("lasso-cv", lambda: _sk("linear_model", "LassoCV")()),
    ("elastic-net-cv", lambda: _sk("linear_model", "ElasticNetCV")()),
    ("lars-cv", lambda: _sk("linear_model", "LarsCV")()),
    ("lasso-lars-cv", lambda: _sk("linear_model", "LassoLarsCV")()),
    ("lasso-lars-ic", lambda: _sk("linear_model", "LassoLarsIC")()),
    ("omp-cv", lambda: _sk("linear_model", "OrthogonalMatchingPursuitCV")()),
    ("quantile", lambda: _sk("linear_model", "QuantileRegressor")(alpha=0.0)),
    (
        "theil-sen",
        lambda: _sk("linear_model", "TheilSenRegressor")(random_state=0, max_subpopulation=200),
    ),
    (
        "passive-aggressive-regressor",
        lambda: _sk("linear_model", "PassiveAggressiveRegressor")(random_state=0),
    ),
]


@cache
def fitted_classifier(name: str, scaled: bool) -> tuple[Any, np.ndarray]:
    _, make, data, two = next(case for case in CLASSIFIERS if case[0] == name)
    X, y = dataset(data, scaled)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return make().fit(X, binary(y) if two else y), X


@cache
def fitted_regressor(name: str, scaled: bool) -> tuple[Any, np.ndarray]:
    make = next(case[1] for case in REGRESSORS if case[0] == name)
    X, y = dataset("diabetes", scaled)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return make().fit(X, y), X


CLASSIFIER_NAMES = [case[0] for case in CLASSIFIERS]
REGRESSOR_NAMES = [case[0] for case in REGRESSORS]
SCALINGS = pytest.mark.parametrize("scaled", [True, False], ids=["scaled", "raw"])


@SCALINGS
@pytest.mark.parametrize("name", CLASSIFIER_NAMES)
def test_classifier_matches_on_its_data_and_extremes(name: str, scaled: bool) -> None:
    estimator, X = fitted_classifier(name, scaled)
    assert_same_both_orders(estimator, extreme_rows(X))


@SCALINGS
@pytest.mark.parametrize("name", REGRESSOR_NAMES)
def test_regressor_matches_on_its_data_and_extremes(name: str, scaled: bool) -> None:
    estimator, X = fitted_regressor(name, scaled)
    assert_same_both_orders(estimator, extreme_rows(X))


@SCALINGS
@pytest.mark.parametrize("name", CLASSIFIER_NAMES)
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_classifier_matches_on_generated_rows(name: str, scaled: bool, data: st.DataObject) -> None:
    estimator, X = fitted_classifier(name, scaled)
    assert_same_both_orders(estimator, data.draw(rows(X)))


@SCALINGS
@pytest.mark.parametrize("name", REGRESSOR_NAMES)
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_regressor_matches_on_generated_rows(name: str, scaled: bool, data: st.DataObject) -> None:
    estimator, X = fitted_regressor(name, scaled)
    assert_same_both_orders(estimator, data.draw(rows(X)))


def test_string_labels_come_back_as_labels() -> None:
    from sklearn.linear_model import LogisticRegression

    X, y = dataset("iris", True)
    names = np.array(["setosa", "versicolor", "virginica"], dtype=object)[y]
    estimator = LogisticRegression(max_iter=1000).fit(X, names)
    assert_same_both_orders(estimator, extreme_rows(X))
    assert planned(estimator).classes.dtype == object


def test_multi_output_regression_matches() -> None:
    from sklearn.linear_model import LinearRegression, Ridge

    X, y = dataset("diabetes", True)
    targets = np.c_[y, np.sqrt(y), -y]
    for estimator in (LinearRegression().fit(X, targets), Ridge().fit(X, targets)):
        assert_same_both_orders(estimator, extreme_rows(X))


@pytest.mark.parametrize(
    "name", ["MultiTaskLasso", "MultiTaskLassoCV", "MultiTaskElasticNet", "MultiTaskElasticNetCV"]
)
def test_multi_task_models_match(name: str) -> None:
    X, y = dataset("diabetes", True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        estimator = _sk("linear_model", name)().fit(X, np.c_[y, np.sqrt(y)])
    assert_same_both_orders(estimator, extreme_rows(X))


@pytest.mark.parametrize(
    "name", ["logistic-binary", "logistic-multinomial", "linear-svc", "sgd-log-loss"]
)
def test_classifier_outputs_are_bit_identical(name: str) -> None:
    """Same `@` on the same layouts, SciPy's expit: not merely close, equal."""
    estimator, X = fitted_classifier(name, True)
    head = planned(estimator)
    for matrix in (np.ascontiguousarray(X), np.asfortranarray(X), X[:1]):
        assert np.array_equal(head.decision_function(matrix), estimator.decision_function(matrix))
        if hasattr(estimator, "predict_proba"):
            assert np.array_equal(head.predict_proba(matrix), estimator.predict_proba(matrix))


@pytest.mark.parametrize("name", ["linear-regression", "ridge", "sgd-regressor", "poisson"])
def test_regressor_values_are_bit_identical(name: str) -> None:
    estimator, X = fitted_regressor(name, False)
    head = planned(estimator)
    for matrix in (np.ascontiguousarray(X), np.asfortranarray(X), X[:1]):
        assert np.array_equal(head.predict(matrix), estimator.predict(matrix))


def test_float32_fit_matches() -> None:
    from sklearn.linear_model import LogisticRegression

    X, y = dataset("wine", True)
    estimator = LogisticRegression(max_iter=1000).fit(X.astype(np.float32), y)
    assert_same_both_orders(estimator, extreme_rows(X))


def test_binary_probabilities_keep_their_small_complements() -> None:
    """1 - expit(s) for large s keeps only expit's last bits: SciPy's libm exp is matched."""
    from sklearn.linear_model import LogisticRegression

    X, y = dataset("breast_cancer", True)
    estimator = LogisticRegression(C=100, max_iter=5000).fit(X, binary(y))
    spread = np.vstack([X * factor for factor in (0.5, 1, 2, 3, 5)])
    head = planned(estimator)
    assert close(head.predict_proba(spread), estimator.predict_proba(spread))
    assert (estimator.predict_proba(spread)[:, 0] < 1e-10).any()


def test_heads_refuse_what_sklearn_refuses() -> None:
    estimator, X = fitted_classifier("logistic-multinomial", True)
    head = planned(estimator)
    with pytest.raises(ValueError, match="NaN or infinity"):
        head.predict(np.where(X[0, 0] == X, np.nan, X))
    with pytest.raises(ValueError, match="features"):
        head.predict(X[:, :2])
    with pytest.raises(ValueError, match="0 sample"):
        head.predict(X[:0])


def test_evaluates_with_sklearn_scipy_and_pandas_blocked(tmp_path: Path) -> None:
    estimator, X = fitted_classifier("logistic-multinomial", True)
    rows_ = extreme_rows(X)
    outputs = run_without_sklearn(estimator, rows_, tmp_path)
    assert np.array_equal(outputs["predict"], estimator.predict(rows_))
    assert close(outputs["predict_proba"], estimator.predict_proba(rows_))
    assert close(outputs["decision_function"], estimator.decision_function(rows_))


def test_sparsified_coefficients_are_refused() -> None:
    from sklearn.linear_model import SGDClassifier

    X, y = dataset("iris", True)
    estimator = SGDClassifier(random_state=0).fit(X, y).sparsify()
    with pytest.raises(Unplannable, match="sparsified"):
        plan_head(estimator, PlanWriter())


def test_multilabel_ridge_classifier_is_refused() -> None:
    from sklearn.linear_model import RidgeClassifier

    X, y = dataset("iris", True)
    estimator = RidgeClassifier().fit(X, np.c_[y == 0, y == 1].astype(int))
    with pytest.raises(Unplannable, match="multilabel"):
        plan_head(estimator, PlanWriter())


def test_mixed_labels_are_refused() -> None:
    from sklearn.linear_model import LogisticRegression

    X, y = dataset("iris", True)
    estimator = LogisticRegression(max_iter=1000).fit(X, y)
    estimator.classes_ = np.array([1, "b", 2.5], dtype=object)
    with pytest.raises(Unplannable, match="numbers or strings"):
        plan_head(estimator, PlanWriter())


def test_probabilities_only_where_the_estimator_has_them() -> None:
    hinge, _ = fitted_classifier("sgd-hinge", True)
    log_loss, _ = fitted_classifier("sgd-log-loss", True)
    svc, _ = fitted_classifier("linear-svc", True)
    assert not hasattr(planned(hinge), "predict_proba")
    assert not hasattr(planned(svc), "predict_proba")
    assert hasattr(planned(log_loss), "predict_proba")
    assert planned(fitted_regressor("ridge", True)[0]).classes is None


@settings(max_examples=50, deadline=None)
@given(
    values=hnp.arrays(
        np.float64,
        st.integers(1, 40),
        elements=st.one_of(st.floats(-800, 800, allow_subnormal=False), st.floats(allow_nan=False)),
    )
)
def test_expit_is_scipys_to_the_last_bit(values: np.ndarray) -> None:
    from scipy.special import expit as scipy_expit

    from chalicelib.scoring.plans._special import expit

    with np.errstate(over="ignore"):
        assert np.array_equal(expit(values), scipy_expit(values), equal_nan=True)
        column = values.reshape(-1, 1)
        assert np.array_equal(expit(column), scipy_expit(column), equal_nan=True)
