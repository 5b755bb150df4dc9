"""Inputs that probe tree plans: bundled data sets, tables with holes, and rows built from the
trees' own thresholds (the values where `<=` decides)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from sklearn.datasets import (
    load_breast_cancer,
    load_diabetes,
    load_digits,
    load_iris,
    load_wine,
)

CLASSIFICATION_SETS: dict[str, Callable[..., tuple[np.ndarray, np.ndarray]]] = {
    "iris": load_iris,
    "wine": load_wine,
    "breast_cancer": load_breast_cancer,
    "digits": load_digits,
}


def bundled(name: str) -> tuple[np.ndarray, np.ndarray]:
    if name == "diabetes":
        return load_diabetes(return_X_y=True)
    return CLASSIFICATION_SETS[name](return_X_y=True)


def table_with_holes(
    seed: int, rows: int = 300, features: int = 5, hole_rate: float = 0.15
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """X with NaN in all but the last feature, a 3-class label and a regression target."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(rows, features))
    holes = rng.random((rows, features)) < hole_rate
    holes[:, -1] = False  # a feature never missing at fit: NaN there at predict is unseen
    X[holes] = np.nan
    filled = np.nan_to_num(X, nan=1.5)
    score = filled[:, 0] + 0.5 * filled[:, 1] - filled[:, 2]
    label = np.digitize(score, [-0.5, 0.7])
    return X, label, score + 0.1 * rng.normal(size=rows)


def with_unseen_holes(X: np.ndarray, seed: int) -> np.ndarray:
    """X with NaN added where fit never saw them, whole rows of NaN included."""
    rng = np.random.default_rng(seed)
    probe = X.copy()
    probe[rng.random(probe.shape) < 0.2] = np.nan
    probe[::17] = np.nan
    return probe


def threshold_rows(
    features: np.ndarray, thresholds: np.ndarray, n_features: int, base: np.ndarray
) -> np.ndarray:
    """Rows of `base` with each split's feature set to its threshold, the float32 values on
    either side of it (trees compare float32 values) and the float64 ones next to it."""
    split = features >= 0
    features, thresholds = features[split], thresholds[split]
    narrow = thresholds.astype(np.float32)
    candidates = [
        thresholds,
        np.nextafter(thresholds, np.inf),
        np.nextafter(thresholds, -np.inf),
        narrow.astype(np.float64),
        np.nextafter(narrow, np.float32(np.inf)).astype(np.float64),
        np.nextafter(narrow, np.float32(-np.inf)).astype(np.float64),
    ]
    rows = []
    for values in candidates:
        block = np.repeat(base[None, :], values.size, axis=0)
        block[np.arange(values.size), features] = values
        rows.append(block)
    X = np.concatenate(rows)
    assert X.shape[1] == n_features
    return X
