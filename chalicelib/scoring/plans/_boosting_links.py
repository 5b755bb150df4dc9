"""From the raw predictions of a boosted ensemble to probabilities, as scikit-learn's losses
do it (sklearn/_loss/loss.py `predict_proba`, sklearn/_loss/link.py, sklearn/utils/extmath.py
`softmax`), in numpy alone."""

from __future__ import annotations

import numpy as np

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
