"""The final estimator's fast path: a numpy replica of plain linear models' scoring."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from chalicelib.scoring.compiled._base import _is


class _LinearHead:
    """numpy replica of LogisticRegression / LinearRegression / Ridge scoring, same formulas."""

    __slots__ = ("_classes", "_coef", "_expit", "_intercept", "_kind", "has_proba")

    _classes: Any
    _coef: np.ndarray
    _expit: Callable[..., np.ndarray]
    _intercept: Any

    def __init__(self, estimator: Any, kind: str) -> None:
        coef = estimator.coef_
        self._kind = kind
        self._coef = coef.T if coef.ndim == 2 else coef
        self._intercept = estimator.intercept_
        self._classes = getattr(estimator, "classes_", None)
        self.has_proba = kind == "logistic"
        if self.has_proba:
            from scipy.special import expit  # what sklearn's _expit calls for numpy input

            self._expit = expit

    def _scores(self, X: np.ndarray) -> np.ndarray:
        # sklearn validates X first; NaN or inf must fail here as they do there.
        if not math.isfinite(X.sum()) and not np.isfinite(X).all():
            raise ValueError("Input X contains NaN or infinity.")
        return X @ self._coef + self._intercept

    def decision_function(self, X: np.ndarray) -> np.ndarray:
        """LinearClassifierMixin.decision_function: 1-D for binary problems."""
        scores = self._scores(X)
        if scores.ndim > 1 and scores.shape[1] == 1:
            return scores.reshape(-1)
        return scores

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Class labels (logistic) or regression values (linear)."""
        if self._kind == "linear":
            return self._scores(X)
        scores = self.decision_function(X)
        indices = (scores > 0).astype(np.intp) if scores.ndim == 1 else scores.argmax(axis=1)
        return self._classes.take(indices, axis=0)

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """Sigmoid for binary problems, softmax over classes otherwise, as sklearn computes them."""
        scores = self.decision_function(X)
        if scores.ndim == 1:
            prob = self._expit(scores, out=scores)
            # Same values as np.stack([1 - prob, prob], axis=1), without its overhead.
            out = np.empty((prob.shape[0], 2))
            np.subtract(1, prob, out=out[:, 0])
            out[:, 1] = prob
            return out
        scores -= scores.max(axis=1).reshape(-1, 1)
        np.exp(scores, out=scores)
        scores /= scores.sum(axis=1).reshape(-1, 1)
        return scores


def _linear_head(estimator: Any, width: int) -> _LinearHead | None:
    """The numpy fast path when the final estimator is a plain linear model, else None."""
    if _is(estimator, "sklearn.linear_model", "LogisticRegression"):
        kind = "logistic"
    elif _is(estimator, "sklearn.linear_model", "LinearRegression") or _is(
        estimator, "sklearn.linear_model", "Ridge"
    ):
        kind = "linear"
    else:
        return None
    coef = getattr(estimator, "coef_", None)
    if not isinstance(coef, np.ndarray) or coef.shape[-1] != width or coef.dtype != np.float64:
        return None  # sparsified or unusual coefficients: let the estimator score
    if kind == "logistic" and len(estimator.classes_) < 2:
        return None
    return _LinearHead(estimator, kind)
