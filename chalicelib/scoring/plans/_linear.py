"""Plan family _linear: models whose scores are `X @ coef_.T + intercept_`, with the link
scikit-learn puts after it.

Scores are computed with the same numpy operation as scikit-learn (a `@` of the same shapes,
dtypes and memory orders: BLAS sums in another order for another layout), so they match it
to the last bit; probabilities follow sklearn/linear_model/_base.py (`_predict_proba_lr`),
_logistic.py (softmax of sklearn/utils/extmath.py) and _stochastic_gradient.py
(modified Huber).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chalicelib.scoring.plans._format import (
    REGISTERED_BEFORE_EXPLANATIONS,
    Head,
    Loader,
    Planner,
    PlanReader,
    PlanWriter,
    Spec,
    Unexplainable,
    Unplannable,
)
from chalicelib.scoring.plans._labels import add_classes, load_classes
from chalicelib.scoring.plans._special import check_matrix, expit

KIND = "linear"

# --- planning (register time: reads fitted attributes, imports nothing) ---------------


def _coefficients(estimator: Any) -> np.ndarray:
    coef = estimator.coef_
    if not isinstance(coef, np.ndarray):
        raise Unplannable(
            f"{type(estimator).__name__}.coef_ is {type(coef).__name__} (sparsified): "
            "scikit-learn then sums a sparse product, in an order a plan does not replay"
        )
    if coef.dtype.kind != "f" or coef.ndim not in (1, 2):
        raise Unplannable(f"{type(estimator).__name__}.coef_ of {coef.dtype} {coef.shape}")
    return coef


def add_in_memory_order(coef: np.ndarray, writer: PlanWriter, name: str = "coef") -> Spec:
    """coef_ with its memory order: an F-ordered coef_ (multinomial LogisticRegression,
    LinearSVC, Ridge with several targets) is saved transposed and read back as a view, so
    the `@` scoring it runs the same BLAS call as scikit-learn's."""
    transposed = coef.ndim == 2 and coef.flags.f_contiguous and not coef.flags.c_contiguous
    return {"array": writer.add(coef.T if transposed else coef, name), "transposed": transposed}


def _add_intercept(intercept: Any, writer: PlanWriter) -> Any:
    """An array intercept_ by key; a scalar one (0.0 without fit_intercept, a numpy scalar for
    one target) as its float, which JSON keeps exactly."""
    if isinstance(intercept, np.ndarray) and intercept.ndim > 0:
        return {"array": writer.add(intercept, "intercept")}
    return {"value": float(intercept)}


def _linear_spec(estimator: Any, writer: PlanWriter, **extra: Any) -> Spec:
    coef = _coefficients(estimator)
    return {
        "kind": KIND,
        "n_features": int(coef.shape[-1]),
        "coef": add_in_memory_order(coef, writer),
        "intercept": _add_intercept(estimator.intercept_, writer),
        **extra,
    }


def plan_regressor(estimator: Any, writer: PlanWriter) -> Spec:
    """LinearModel.predict (sklearn/linear_model/_base.py): `X @ coef_.T + intercept_`."""
    return _linear_spec(estimator, writer, link="identity")


def plan_glm(estimator: Any, writer: PlanWriter) -> Spec:
    """_GeneralizedLinearRegressor.predict (sklearn/linear_model/_glm/glm.py): the inverse
    link of `X @ coef_ + intercept_`; the log link's inverse is numpy's exp."""
    link = type(estimator._base_loss.link).__name__
    links = {"IdentityLink": "identity", "LogLink": "exp"}
    if link not in links:
        raise Unplannable(f"{type(estimator).__name__} with link {link} has no serving plan")
    return _linear_spec(estimator, writer, link=links[link])


def _classifier_spec(estimator: Any, writer: PlanWriter, proba: str | None) -> Spec:
    binarizer = getattr(estimator, "_label_binarizer", None)
    if str(getattr(binarizer, "y_type_", "")).startswith("multilabel"):
        raise Unplannable(f"{type(estimator).__name__} fitted on multilabel targets")
    classes = estimator.classes_
    if len(classes) < 2:
        raise Unplannable(f"{type(estimator).__name__} fitted on a single class")
    return _linear_spec(estimator, writer, classes=add_classes(classes, writer), proba=proba)


def plan_classifier(estimator: Any, writer: PlanWriter) -> Spec:
    """LinearClassifierMixin (sklearn/linear_model/_base.py): decision_function and predict."""
    return _classifier_spec(estimator, writer, proba=None)


def plan_logistic(estimator: Any, writer: PlanWriter) -> Spec:
    """LogisticRegression.predict_proba (sklearn/linear_model/_logistic.py): expit for two
    classes, softmax of the decision values for more."""
    return _classifier_spec(
        estimator, writer, proba="ovr" if len(estimator.classes_) <= 2 else "softmax"
    )


def plan_sgd_classifier(estimator: Any, writer: PlanWriter) -> Spec:
    """SGDClassifier.predict_proba exists for log_loss (OvR expit) and modified_huber only
    (sklearn/linear_model/_stochastic_gradient.py)."""
    proba = {"log_loss": "ovr", "modified_huber": "modified_huber"}.get(str(estimator.loss))
    return _classifier_spec(estimator, writer, proba=proba)


# --- serving (numpy only) -------------------------------------------------------------


def _read_array_or_value(spec: Spec, reader: PlanReader) -> Any:
    return reader[spec["array"]] if "array" in spec else spec["value"]


def read_in_memory_order(spec: Spec, reader: PlanReader) -> np.ndarray:
    """The matrix `add_in_memory_order` saved, in its memory order again."""
    coef = reader[spec["array"]]
    return coef.T if spec["transposed"] else coef


class LinearRegressorHead:
    """`X @ coef_.T + intercept_` (coef_.T is coef_ itself when 1-D), then the link.

    Explained exactly in closed form: with `background` the mean matrix row of the reference
    sample, feature j contributes coef_j * (x_j - mean_j) to the scores, and the base is the
    scores of the mean row (what shap's LinearExplainer gives with that sample).
    """

    raw_scale = "value"
    # The reference sample's mean matrix row, set by `load_plan` from the plan (None in a
    # plan written before explanations).
    background: np.ndarray | None = None

    def __init__(self, spec: Spec, reader: PlanReader) -> None:
        self.classes: np.ndarray | None = None
        self._n_features = int(spec["n_features"])
        self._coef_T = read_in_memory_order(spec["coef"], reader).T
        self._intercept = _read_array_or_value(spec["intercept"], reader)
        self._exp = spec.get("link") == "exp"
        if self._exp:
            self.raw_scale = "log"  # the linear predictor, before the exp

    def _scores(self, X: np.ndarray) -> np.ndarray:
        check_matrix(X, self._n_features)
        return X @ self._coef_T + self._intercept

    def raw_output(self, X: np.ndarray) -> np.ndarray:
        """The scores before any link or probability: (rows, k)."""
        return self._scores(X).reshape(X.shape[0], -1)

    def explain(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if self.background is None:
            raise Unexplainable(REGISTERED_BEFORE_EXPLANATIONS)
        check_matrix(X, self._n_features)
        coef = self._coef_T.reshape(self._n_features, -1)  # (features, k)
        base = np.reshape(self.background @ coef + self._intercept, -1)
        contributions = (X - self.background)[:, :, None] * coef[None, :, :]
        return base, contributions

    def predict(self, X: np.ndarray) -> np.ndarray:
        scores = self._scores(X)
        return np.exp(scores) if self._exp else scores


class LinearClassifierHead(LinearRegressorHead):
    """LinearClassifierMixin: decision values, 1-D for two classes; the class of the largest
    (or of the sign, for two classes)."""

    def __init__(self, spec: Spec, reader: PlanReader) -> None:
        super().__init__(spec, reader)
        self._labels = load_classes(spec["classes"], reader)
        self.classes = self._labels
        # Logistic outputs are log-odds (multinomial ones: logits before the softmax).
        self.raw_scale = {"ovr": "log-odds", "softmax": "raw"}.get(spec["proba"], "decision")

    def decision_function(self, X: np.ndarray) -> np.ndarray:
        scores = self._scores(X)
        if scores.ndim > 1 and scores.shape[1] == 1:
            return scores.reshape(-1)
        return scores

    def predict(self, X: np.ndarray) -> np.ndarray:
        scores = self.decision_function(X)
        indices = (scores > 0).astype(np.intp) if scores.ndim == 1 else scores.argmax(axis=1)
        return self._labels.take(indices, axis=0)


class OvRProbabilityHead(LinearClassifierHead):
    """LinearClassifierMixin._predict_proba_lr: expit of each decision value, normalised over
    the classes (LIBLINEAR's one-vs-rest probabilities)."""

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        prob = expit(self.decision_function(X))
        if prob.ndim == 1:
            return np.stack([1 - prob, prob], axis=1)
        prob_sum = prob.sum(axis=1)
        all_zero = prob_sum == 0
        if np.any(all_zero):  # every class at 0: uniform, as scikit-learn makes it
            prob[all_zero, :] = 1
            prob_sum[all_zero] = prob.shape[1]
        prob /= np.reshape(prob_sum, (prob.shape[0], -1))
        return prob


class SoftmaxProbabilityHead(LinearClassifierHead):
    """Multinomial LogisticRegression: sklearn.utils.extmath.softmax of the decision values."""

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        scores = self.decision_function(X)
        scores -= np.reshape(np.max(scores, axis=1), (-1, 1))
        np.exp(scores, out=scores)
        scores /= np.reshape(np.sum(scores, axis=1), (-1, 1))
        return scores


class ModifiedHuberProbabilityHead(LinearClassifierHead):
    """SGDClassifier(loss="modified_huber").predict_proba: (clip(score, -1, 1) + 1) / 2,
    normalised over classes, step by step as _stochastic_gradient.py does it."""

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        scores = self.decision_function(X)
        binary = scores.ndim == 1
        if binary:
            prob2 = np.ones((scores.shape[0], 2))
            prob = prob2[:, 1]
        else:
            prob = scores
        np.clip(scores, -1, 1, prob)
        prob += 1.0
        prob /= 2.0
        if binary:
            prob2[:, 0] -= prob
            return prob2
        prob_sum = prob.sum(axis=1)
        all_zero = prob_sum == 0
        if np.any(all_zero):
            prob[all_zero, :] = 1
            prob_sum[all_zero] = len(self._labels)
        prob /= prob_sum.reshape((prob.shape[0], -1))
        return prob


_CLASSIFIER_HEADS: dict[Any, type[LinearClassifierHead]] = {
    None: LinearClassifierHead,
    "ovr": OvRProbabilityHead,
    "softmax": SoftmaxProbabilityHead,
    "modified_huber": ModifiedHuberProbabilityHead,
}


def load_linear(spec: Spec, reader: PlanReader) -> Head:
    """A classifier's head where the spec has classes, by its probabilities; else a regressor's."""
    if "classes" not in spec:
        return LinearRegressorHead(spec, reader)
    return _CLASSIFIER_HEADS[spec["proba"]](spec, reader)


def _paths(module: str, *names: str) -> list[str]:
    return [f"sklearn.{module}.{name}" for name in names]


_REGRESSORS = [
    *_paths("linear_model._base", "LinearRegression"),
    *_paths("linear_model._ridge", "Ridge", "RidgeCV"),
    *_paths(
        "linear_model._coordinate_descent",
        *("Lasso", "LassoCV", "ElasticNet", "ElasticNetCV"),
        *("MultiTaskLasso", "MultiTaskLassoCV", "MultiTaskElasticNet", "MultiTaskElasticNetCV"),
    ),
    *_paths(
        "linear_model._least_angle", "Lars", "LarsCV", "LassoLars", "LassoLarsCV", "LassoLarsIC"
    ),
    *_paths("linear_model._omp", "OrthogonalMatchingPursuit", "OrthogonalMatchingPursuitCV"),
    *_paths("linear_model._bayes", "BayesianRidge", "ARDRegression"),
    *_paths("linear_model._huber", "HuberRegressor"),
    *_paths("linear_model._quantile", "QuantileRegressor"),
    *_paths("linear_model._theil_sen", "TheilSenRegressor"),
    *_paths("linear_model._stochastic_gradient", "SGDRegressor"),
    *_paths("linear_model._passive_aggressive", "PassiveAggressiveRegressor"),
    *_paths("svm._classes", "LinearSVR"),
]

PLANNERS: dict[str, Planner] = {
    **dict.fromkeys(_REGRESSORS, plan_regressor),
    **dict.fromkeys(
        _paths("linear_model._glm.glm", "PoissonRegressor", "GammaRegressor", "TweedieRegressor"),
        plan_glm,
    ),
    **dict.fromkeys(
        _paths("linear_model._logistic", "LogisticRegression", "LogisticRegressionCV"),
        plan_logistic,
    ),
    **dict.fromkeys(
        _paths("linear_model._stochastic_gradient", "SGDClassifier"), plan_sgd_classifier
    ),
    **dict.fromkeys(
        [
            *_paths("linear_model._ridge", "RidgeClassifier", "RidgeClassifierCV"),
            *_paths("linear_model._perceptron", "Perceptron"),
            *_paths("linear_model._passive_aggressive", "PassiveAggressiveClassifier"),
            *_paths("svm._classes", "LinearSVC"),
        ],
        plan_classifier,
    ),
}
LOADERS: dict[str, Loader] = {KIND: load_linear}
