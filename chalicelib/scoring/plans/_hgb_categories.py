"""The category encoding a HistGradientBoosting estimator applies before its trees.

With categorical features, scikit-learn 1.9 fits a `_preprocessor`
(sklearn/ensemble/_hist_gradient_boosting/gradient_boosting.py, `_preprocess_X`): a
ColumnTransformer whose OrdinalEncoder maps each categorical column's values to their
position among the categories seen at fit (unknown values and NaN to NaN), placed first,
followed by the numerical columns unchanged. The trees split on those positions.

Planned here for estimators fitted on a numeric array (categorical_features as indices or a
mask); one fitted on a DataFrame encodes the frame's own columns (pandas categories, strings),
which the float matrix a plan receives does not carry, so it is refused.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chalicelib.scoring.plans._format import PlanReader, PlanWriter, Spec, Unplannable


def plan_encoding(estimator: Any, writer: PlanWriter) -> Spec | None:
    """The column order and each categorical column's categories; None without encoding."""
    preprocessor = getattr(estimator, "_preprocessor", None)
    if preprocessor is None:
        return None
    name = type(estimator).__name__
    if hasattr(estimator, "feature_names_in_"):
        raise Unplannable(
            f"{name} was fitted on a DataFrame with categorical features: it encodes the "
            "frame's columns (their pandas categories) itself, which the float matrix a plan "
            "receives does not carry"
        )
    is_categorical = np.asarray(estimator.is_categorical_, dtype=bool)
    categorical = np.flatnonzero(is_categorical)
    remapped = np.asarray(estimator._is_categorical_remapped, dtype=bool)
    if not remapped[: categorical.size].all() or remapped[categorical.size :].any():
        raise Unplannable(f"{name}'s encoder does not place its categorical columns first")
    encoder = preprocessor.named_transformers_["encoder"]
    return {
        "order": writer.add(
            np.concatenate([categorical, np.flatnonzero(~is_categorical)]), "column_order"
        ),
        "categories": [
            writer.add(_known_values(values, name), "categories") for values in encoder.categories_
        ],
    }


def _known_values(categories: Any, name: str) -> np.ndarray:
    values = np.asarray(categories)
    if values.dtype.kind not in "biuf":
        raise Unplannable(f"{name} has categories of dtype {values.dtype}, not numbers")
    values = values.astype(np.float64)
    return values[~np.isnan(values)]  # NaN, when seen at fit, is encoded as missing anyway


class CategoryEncoding:
    def __init__(self, spec: Spec, reader: PlanReader) -> None:
        self.order = reader[spec["order"]].astype(np.intp)
        self.categories = [reader[key] for key in spec["categories"]]

    def transform(self, X: np.ndarray) -> np.ndarray:
        encoded = np.ascontiguousarray(X[:, self.order], dtype=np.float64)
        for column, known in enumerate(self.categories):
            encoded[:, column] = _positions(encoded[:, column], known)
        return encoded


def _positions(values: np.ndarray, known: np.ndarray) -> np.ndarray:
    """OrdinalEncoder(handle_unknown='use_encoded_value', unknown_value=nan,
    encoded_missing_value=nan).transform of one numeric column; like it (check_array with
    ensure_all_finite='allow-nan'), infinite values are refused."""
    if np.isinf(values).any():
        raise ValueError("Input X contains infinity or a value too large for dtype('float64').")
    if known.size == 0:
        return np.full(values.shape, np.nan)
    at = np.minimum(np.searchsorted(known, values), known.size - 1)
    return np.where(known[at] == values, at.astype(np.float64), np.nan)
