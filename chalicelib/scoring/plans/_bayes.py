"""Plan family _bayes: the naive Bayes classifiers of sklearn/naive_bayes.py.

Each head computes the joint log likelihood with the numpy operations `_joint_log_likelihood`
runs (same order of sums, same memory layouts), predicts its argmax, and normalises it into
probabilities with sklearn.utils._array_api._logsumexp, replayed in `_special.logsumexp_rows`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chalicelib.scoring.plans._format import (
    Head,
    Loader,
    Planner,
    PlanReader,
    PlanWriter,
    Spec,
    Unplannable,
)
from chalicelib.scoring.plans._labels import add_classes, load_classes
from chalicelib.scoring.plans._special import check_matrix, logsumexp_rows

# --- planning (register time: reads fitted attributes, imports nothing) ---------------


def _float_array(estimator: Any, name: str, writer: PlanWriter) -> str:
    value = getattr(estimator, name)
    if not isinstance(value, np.ndarray) or value.dtype != np.float64:
        raise Unplannable(f"{type(estimator).__name__}.{name} is not a float64 array")
    return writer.add(value, name)


def _base_spec(estimator: Any, kind: str, writer: PlanWriter) -> Spec:
    return {
        "kind": kind,
        "n_features": int(estimator.n_features_in_),
        "classes": add_classes(estimator.classes_, writer),
    }


def plan_gaussian(estimator: Any, writer: PlanWriter) -> Spec:
    return {
        **_base_spec(estimator, "gaussian_nb", writer),
        "class_prior": _float_array(estimator, "class_prior_", writer),
        "theta": _float_array(estimator, "theta_", writer),
        "var": _float_array(estimator, "var_", writer),
    }


def _discrete_spec(estimator: Any, kind: str, writer: PlanWriter) -> Spec:
    return {
        **_base_spec(estimator, kind, writer),
        "feature_log_prob": _float_array(estimator, "feature_log_prob_", writer),
        "class_log_prior": _float_array(estimator, "class_log_prior_", writer),
    }


def plan_multinomial(estimator: Any, writer: PlanWriter) -> Spec:
    return _discrete_spec(estimator, "multinomial_nb", writer)


def plan_complement(estimator: Any, writer: PlanWriter) -> Spec:
    return _discrete_spec(estimator, "complement_nb", writer)


def plan_bernoulli(estimator: Any, writer: PlanWriter) -> Spec:
    threshold = estimator.binarize
    return {
        **_discrete_spec(estimator, "bernoulli_nb", writer),
        "binarize": None if threshold is None else float(threshold),
    }


def plan_categorical(estimator: Any, writer: PlanWriter) -> Spec:
    tables = estimator.feature_log_prob_
    if any(not isinstance(t, np.ndarray) or t.dtype != np.float64 for t in tables):
        raise Unplannable("CategoricalNB.feature_log_prob_ holds other than float64 arrays")
    return {
        **_base_spec(estimator, "categorical_nb", writer),
        "feature_log_prob": [writer.add(table, "feature_log_prob") for table in tables],
        "class_log_prior": _float_array(estimator, "class_log_prior_", writer),
    }


# --- serving (numpy only) -------------------------------------------------------------


class _NaiveBayesHead:
    """_BaseNB.predict / predict_proba over a joint log likelihood the subclass computes."""

    def __init__(self, spec: Spec, reader: PlanReader) -> None:
        self._n_features = int(spec["n_features"])
        self._labels = load_classes(spec["classes"], reader)
        self.classes: np.ndarray | None = self._labels

    def _joint_log_likelihood(self, X: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _checked(self, X: np.ndarray) -> np.ndarray:
        check_matrix(X, self._n_features)
        return X

    def predict(self, X: np.ndarray) -> np.ndarray:
        jll = self._joint_log_likelihood(self._checked(X))
        return self._labels[np.argmax(jll, axis=1)]

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """exp(jll - logsumexp(jll, axis=1)) as _BaseNB.predict_log_proba / predict_proba."""
        jll = self._joint_log_likelihood(self._checked(X))
        log_prob_x = logsumexp_rows(jll)
        return np.exp(jll - np.atleast_2d(log_prob_x).T)


class GaussianNBHead(_NaiveBayesHead):
    def __init__(self, spec: Spec, reader: PlanReader) -> None:
        super().__init__(spec, reader)
        self._class_prior = reader[spec["class_prior"]]
        self._theta = reader[spec["theta"]]
        self._var = reader[spec["var"]]

    def _joint_log_likelihood(self, X: np.ndarray) -> np.ndarray:
        """GaussianNB._joint_log_likelihood class by class; the stacked rows transposed (an
        F-ordered matrix, whose row sums logsumexp then takes in that layout)."""
        joint_log_likelihood = []
        for i in range(len(self._labels)):
            jointi = np.log(self._class_prior[i])
            n_ij = -0.5 * np.sum(np.log(2.0 * np.pi * self._var[i, :]))
            n_ij = n_ij - 0.5 * np.sum(((X - self._theta[i, :]) ** 2) / (self._var[i, :]), axis=1)
            joint_log_likelihood.append(jointi + n_ij)
        return np.stack(joint_log_likelihood).T


class _DiscreteNBHead(_NaiveBayesHead):
    def __init__(self, spec: Spec, reader: PlanReader) -> None:
        super().__init__(spec, reader)
        self._feature_log_prob = reader[spec["feature_log_prob"]]
        self._class_log_prior = reader[spec["class_log_prior"]]


class MultinomialNBHead(_DiscreteNBHead):
    def _joint_log_likelihood(self, X: np.ndarray) -> np.ndarray:
        return X @ self._feature_log_prob.T + self._class_log_prior


class ComplementNBHead(_DiscreteNBHead):
    def _joint_log_likelihood(self, X: np.ndarray) -> np.ndarray:
        jll = X @ self._feature_log_prob.T
        if len(self._labels) == 1:
            jll += self._class_log_prior
        return jll


class BernoulliNBHead(_DiscreteNBHead):
    def __init__(self, spec: Spec, reader: PlanReader) -> None:
        super().__init__(spec, reader)
        self._threshold = spec["binarize"]
        # Computed here as BernoulliNB computes it at every call, with numpy's log and exp.
        self._neg_prob = np.log(1 - np.exp(self._feature_log_prob))
        self._weights = self._feature_log_prob - self._neg_prob

    def _checked(self, X: np.ndarray) -> np.ndarray:
        """sklearn.preprocessing.binarize on a copy in X's layout (check_array's copy)."""
        X = super()._checked(X)
        if self._threshold is None:
            return X
        binary = np.array(X, copy=True, order="K")
        above = self._threshold < X
        binary[above] = 1
        binary[np.logical_not(above)] = 0
        return binary

    def _joint_log_likelihood(self, X: np.ndarray) -> np.ndarray:
        jll = X @ self._weights.T
        jll += self._class_log_prior + self._neg_prob.sum(axis=1)
        return jll


class CategoricalNBHead(_NaiveBayesHead):
    def __init__(self, spec: Spec, reader: PlanReader) -> None:
        super().__init__(spec, reader)
        self._tables = [reader[key] for key in spec["feature_log_prob"]]
        self._class_log_prior = reader[spec["class_log_prior"]]

    def _checked(self, X: np.ndarray) -> np.ndarray:
        """CategoricalNB._check_X: X as int (truncated, as numpy casts), no negative values;
        a category beyond those fitted fails here with ValueError (scikit-learn's indexing
        raises IndexError)."""
        codes = np.asarray(super()._checked(X), dtype=np.int64)
        if codes.size and codes.min() < 0:
            raise ValueError("Negative values in data passed to CategoricalNB (input X)")
        for i, table in enumerate(self._tables):
            if codes.size and codes[:, i].max() >= table.shape[1]:
                raise ValueError(f"feature {i} has a category CategoricalNB was not fitted on")
        return codes

    def _joint_log_likelihood(self, X: np.ndarray) -> np.ndarray:
        jll = np.zeros((X.shape[0], self._class_log_prior.shape[0]))
        for i, table in enumerate(self._tables):
            jll += table[:, X[:, i]].T
        return jll + self._class_log_prior


_HEADS: dict[str, type[_NaiveBayesHead]] = {
    "gaussian_nb": GaussianNBHead,
    "multinomial_nb": MultinomialNBHead,
    "complement_nb": ComplementNBHead,
    "bernoulli_nb": BernoulliNBHead,
    "categorical_nb": CategoricalNBHead,
}


def _loader(kind: str) -> Loader:
    def load(spec: Spec, reader: PlanReader) -> Head:
        return _HEADS[kind](spec, reader)

    return load


PLANNERS: dict[str, Planner] = {
    "sklearn.naive_bayes.GaussianNB": plan_gaussian,
    "sklearn.naive_bayes.MultinomialNB": plan_multinomial,
    "sklearn.naive_bayes.ComplementNB": plan_complement,
    "sklearn.naive_bayes.BernoulliNB": plan_bernoulli,
    "sklearn.naive_bayes.CategoricalNB": plan_categorical,
}
LOADERS: dict[str, Loader] = {kind: _loader(kind) for kind in _HEADS}
