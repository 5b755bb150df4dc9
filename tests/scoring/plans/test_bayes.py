"""Naive Bayes plans answer as their estimators do: every class equal, every probability
within 1e-9 relative, on C- and F-ordered X."""

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
    CLASSIFICATION,
    assert_same_both_orders,
    binary,
    dataset,
    extreme_rows,
    rows,
    run_without_sklearn,
)


def _nb(name: str, **params: Any) -> Callable[[], Any]:
    def make() -> Any:
        import sklearn.naive_bayes

        return getattr(sklearn.naive_bayes, name)(**params)

    return make


# (name, constructor, input: "real", "counts" (non-negative) or "categories")
MODELS: list[tuple[str, Callable[[], Any], str]] = [
    ("gaussian", _nb("GaussianNB"), "real"),
    ("gaussian-smoothed", _nb("GaussianNB", var_smoothing=1e-3), "real"),
    ("multinomial", _nb("MultinomialNB"), "counts"),
    ("multinomial-small-alpha", _nb("MultinomialNB", alpha=1e-3), "counts"),
    ("complement", _nb("ComplementNB"), "counts"),
    ("complement-norm", _nb("ComplementNB", norm=True), "counts"),
    ("bernoulli", _nb("BernoulliNB"), "real"),
    ("bernoulli-threshold", _nb("BernoulliNB", binarize=0.5), "real"),
    ("bernoulli-no-binarize", _nb("BernoulliNB", binarize=None), "counts"),
    ("categorical", _nb("CategoricalNB"), "categories"),
]
NAMES = [case[0] for case in MODELS]


def _input(X: np.ndarray, kind: str) -> np.ndarray:
    if kind == "counts":
        return X - X.min(axis=0)
    if kind == "categories":
        return np.floor(np.clip(X - X.min(axis=0), 0, 40))
    return X


@cache
def fitted(name: str, data: str, scaled: bool, two: bool = False) -> tuple[Any, np.ndarray]:
    _, make, kind = next(case for case in MODELS if case[0] == name)
    X, y = dataset(data, scaled)
    X = _input(X, kind)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return make().fit(X, binary(y) if two else y), X


def _probe_rows(X: np.ndarray, name: str) -> np.ndarray:
    """Extremes where the model takes any real value; seen categories for CategoricalNB."""
    if name == "categorical":
        return np.vstack([X, np.zeros((1, X.shape[1])), X + 0.5])
    matrix = extreme_rows(X)
    return np.abs(matrix) if name.startswith(("multinomial", "complement")) else matrix


@pytest.mark.parametrize("two", [False, True], ids=["multiclass", "binary"])
@pytest.mark.parametrize("scaled", [True, False], ids=["scaled", "raw"])
@pytest.mark.parametrize("data", CLASSIFICATION)
@pytest.mark.parametrize("name", NAMES)
def test_matches_on_data_sets_and_extremes(name: str, data: str, scaled: bool, two: bool) -> None:
    estimator, X = fitted(name, data, scaled, two)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        assert_same_both_orders(estimator, _probe_rows(X, name))


@pytest.mark.parametrize("data", ["iris", "breast_cancer"])
@pytest.mark.parametrize("name", [n for n in NAMES if n != "categorical"])
@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sample=st.data())
def test_matches_on_generated_rows(name: str, data: str, sample: st.DataObject) -> None:
    estimator, X = fitted(name, data, True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        assert_same_both_orders(estimator, sample.draw(rows(X)))


@settings(max_examples=30, deadline=None)
@given(sample=st.data())
def test_categorical_matches_on_generated_categories(sample: st.DataObject) -> None:
    estimator, X = fitted("categorical", "wine", True)
    limits = [len(table[0]) for table in estimator.feature_log_prob_]
    matrix = np.array(
        [[sample.draw(st.integers(0, limit - 1)) for limit in limits] for _ in range(5)],
        dtype=np.float64,
    )
    assert_same_both_orders(estimator, matrix)


def test_categorical_refuses_unseen_and_negative_categories() -> None:
    estimator, X = fitted("categorical", "iris", True)
    head = planned(estimator)
    with pytest.raises(ValueError, match="Negative"):
        head.predict(np.full((1, X.shape[1]), -3.0))
    with pytest.raises(ValueError, match="not fitted on"):
        head.predict(np.full((1, X.shape[1]), 1000.0))


def test_string_labels() -> None:
    from sklearn.naive_bayes import GaussianNB

    X, y = dataset("wine", True)
    estimator = GaussianNB().fit(X, np.array(["a", "b", "c"])[y])
    assert_same_both_orders(estimator, extreme_rows(X))


def test_evaluates_with_sklearn_scipy_and_pandas_blocked(tmp_path: Path) -> None:
    for name in ("gaussian", "bernoulli", "multinomial"):
        estimator, X = fitted(name, "wine", True)
        outputs = run_without_sklearn(estimator, X, tmp_path)
        assert np.array_equal(outputs["predict"], estimator.predict(X))
        assert close(outputs["predict_proba"], estimator.predict_proba(X))


def test_non_float64_parameters_are_refused() -> None:
    from sklearn.naive_bayes import GaussianNB

    X, y = dataset("iris", True)
    estimator = GaussianNB().fit(X, y)
    estimator.var_ = estimator.var_.astype(np.float32)
    with pytest.raises(Unplannable, match="var_"):
        plan_head(estimator, PlanWriter())


@settings(max_examples=50, deadline=None)
@given(
    matrix=hnp.arrays(
        np.float64,
        st.tuples(st.integers(1, 8), st.integers(1, 6)),
        elements=st.one_of(
            st.floats(-1e4, 1e4, allow_nan=False, allow_subnormal=False),
            st.just(-np.inf),
        ),
    ),
    fortran=st.booleans(),
)
def test_logsumexp_is_sklearns_to_the_last_bit(matrix: np.ndarray, fortran: bool) -> None:
    from sklearn.utils._array_api import _logsumexp

    from chalicelib.scoring.plans._special import logsumexp_rows

    matrix = np.asfortranarray(matrix) if fortran else matrix
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        expected = np.atleast_1d(_logsumexp(matrix, axis=1))
        actual = logsumexp_rows(matrix)
    assert np.array_equal(actual, expected, equal_nan=True)
