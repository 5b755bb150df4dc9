"""From the raw predictions of a boosted ensemble to probabilities, as scikit-learn's losses
do it (sklearn/_loss/loss.py `predict_proba`, sklearn/_loss/link.py, sklearn/utils/extmath.py
`softmax`), in numpy alone; and the name of the scale those raw predictions are on."""

from __future__ import annotations

from typing import Any

import numpy as np

from chalicelib.scoring.plans._format import Spec
from chalicelib.scoring.plans._special import expit


def binary_proba(raw: np.ndarray, scale: float = 1.0) -> np.ndarray:
    """[1 - p, p] with p = expit(scale * raw): HalfBinomialLoss (LogitLink, scale 1) and
    ExponentialLoss (HalfLogitLink, scale 2)."""
    proba = np.empty((raw.shape[0], 2), dtype=np.float64)
    proba[:, 1] = expit(scale * raw if scale != 1.0 else raw)
    proba[:, 0] = 1 - proba[:, 1]
    return proba


def softmax(raw: np.ndarray) -> np.ndarray:
    """sklearn.utils.extmath.softmax, step for step (HalfMultinomialLoss's inverse link)."""
    X = np.array(raw, dtype=np.float64, copy=True)
    X -= np.max(X, axis=1).reshape((-1, 1))
    np.exp(X, out=X)
    X /= np.sum(X, axis=1).reshape((-1, 1))
    return X


def raw_scale(estimator: Any) -> str:
    """What the raw prediction measures: the log-odds of classes_[1] for the binary log loss,
    the target itself for squared error, a loss's own scale otherwise."""
    loss = type(estimator._loss).__name__
    if loss == "HalfBinomialLoss":
        return "log-odds"
    return "value" if loss == "HalfSquaredError" else "raw"


def scale_of(spec: Spec) -> str:
    """The spec's `raw_scale`; a plan written before it has the log-odds where its link is
    the logistic one and an unnamed scale otherwise."""
    if "raw_scale" in spec:
        return str(spec["raw_scale"])
    return "log-odds" if spec.get("link") == "logit" else "raw"
