"""Data and fitted meta-estimators for the wrapper plans' tests (OneVsRest, calibration,
voting, stacking, TransformedTargetRegressor): small bundled data sets with integer labels
that are not 0..k-1 and with text labels, binary and multiclass, fitted once per session."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from functools import cache
from typing import Any

import numpy as np
import pytest

from tests.scoring.plans.numeric_cases import dataset

# A classification target: (data set, the positive class for two classes or None, text
# labels?). Small data sets: the wrappers fit their parts several times (cross-validation).
TARGETS: dict[str, tuple[str, int | None, bool]] = {
    "binary-int": ("wine", 0, False),
    "binary-str": ("wine", 1, True),
    "multiclass-int": ("iris", None, False),
    "multiclass-str": ("wine", None, True),
}
TARGET_NAMES = list(TARGETS)
EACH_TARGET = pytest.mark.parametrize("target", TARGET_NAMES)

_WORDS = np.array(["alpha", "beta", "gamma"], dtype=object)


@cache
def classification(target: str) -> tuple[np.ndarray, np.ndarray]:
    """Standardised X and its labels: integers 3, 5, 7... (so label encoding matters) or
    words (an object array, as pandas gives text)."""
    data, positive, text = TARGETS[target]
    X, y = dataset(data, True)
    codes = y if positive is None else (y == positive).astype(np.int64)
    if text:
        return X, _WORDS[codes]
    return X, 2 * codes + 3


@cache
def regression() -> tuple[np.ndarray, np.ndarray]:
    """The diabetes data (raw X, a positive target, as log and sqrt need)."""
    return dataset("diabetes", False)


def sk(path: str) -> Callable[..., Any]:
    """A scikit-learn class by 'module.Name' under sklearn, imported only when called."""
    module, name = path.rsplit(".", 1)
    return getattr(__import__(f"sklearn.{module}", fromlist=[name]), name)


def logistic() -> Any:
    return sk("linear_model.LogisticRegression")(max_iter=500)


def ridge_classifier() -> Any:
    return sk("linear_model.RidgeClassifier")()


def gaussian_nb() -> Any:
    return sk("naive_bayes.GaussianNB")()


def small_tree() -> Any:
    return sk("tree.DecisionTreeClassifier")(max_depth=3, random_state=0)


def small_forest() -> Any:
    return sk("ensemble.RandomForestClassifier")(n_estimators=5, max_depth=4, random_state=0)


def small_hgb() -> Any:
    return sk("ensemble.HistGradientBoostingClassifier")(max_iter=5, random_state=0)


def small_mlp() -> Any:
    return sk("neural_network.MLPClassifier")(hidden_layer_sizes=(8,), max_iter=50, random_state=0)


def fit_quietly(estimator: Any, X: np.ndarray, y: np.ndarray) -> Any:
    """Fit without warnings, on one thread: on data this small, OpenMP threads (of
    HistGradientBoosting) wait on each other far longer than they work."""
    from threadpoolctl import threadpool_limits

    with warnings.catch_warnings(), threadpool_limits(1):
        warnings.simplefilter("ignore")
        return estimator.fit(X, y)


class Cases:
    """Named constructors of one family's estimators, fitted once per (name, target)."""

    def __init__(self, cases: dict[str, Callable[[], Any]]) -> None:
        self.cases = cases
        self.names = list(cases)

    @cache  # noqa: B019 - the instances live as long as the test session
    def classifier(self, name: str, target: str) -> tuple[Any, np.ndarray]:
        X, y = classification(target)
        return fit_quietly(self.cases[name](), X, y), X

    @cache  # noqa: B019
    def regressor(self, name: str) -> tuple[Any, np.ndarray]:
        X, y = regression()
        return fit_quietly(self.cases[name](), X, y), X
