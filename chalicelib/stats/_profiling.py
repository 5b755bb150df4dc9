"""Reference profile of the training data and of the model's training predictions.

Numbers get quantile bins (the first and last bins are open-ended, so later values outside the
training range still fall in a bin) with counts, and their percentiles 0..100; categories get
level counts; every feature gets its missing rate. Drift monitoring compares live traffic
against these bins and percentiles.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from chalicelib.stats._columns import CATEGORY, DATETIME, to_json_scalar
from chalicelib.stats._schema import Signature

if TYPE_CHECKING:
    import pandas as pd

N_BINS = 10
# Percentiles 0..100: the reference CDF drift monitoring measures Wasserstein distance against.
QUANTILE_LEVELS = np.linspace(0.0, 1.0, 101)
MAX_PROFILED_LEVELS = 200  # rarer levels are pooled into other_count
# Training predictions are profiled on a seeded sample of at most this many rows: deciles of
# 200,000 predictions are as good as of all, and predicting on millions of rows made this
# a third of a retrain's time.
PREDICTION_SAMPLE_ROWS = 200_000
PROFILE_FORMAT = 1


def bin_index(edges: Sequence[float], values: np.ndarray) -> np.ndarray:
    """The bin of each value for `edges` (min, inner cut points..., max); outer bins open."""
    inner = np.asarray(edges[1:-1], dtype=float)
    return np.searchsorted(inner, values, side="right")


def numeric_profile(values: np.ndarray, n_bins: int = N_BINS) -> dict[str, Any]:
    """Quantile bins, counts, percentiles and summary statistics of a numeric column."""
    values = np.asarray(values, dtype=float)
    rows = int(values.size)
    present = values[~np.isnan(values)]
    profile: dict[str, Any] = {
        "type": "number",
        "rows": rows,
        "missing": rows - int(present.size),
        "missing_rate": _rate(rows - present.size, rows),
    }
    if present.size == 0:
        profile.update(
            bin_edges=[], bin_counts=[], quantiles=[], min=None, max=None, mean=None, std=None
        )
        return profile
    edges = np.unique(np.quantile(present, np.linspace(0.0, 1.0, n_bins + 1)))
    if edges.size == 1:  # a constant column still needs one bin
        edges = np.array([edges[0], edges[0]])
    counts = np.bincount(bin_index(edges.tolist(), present), minlength=edges.size - 1)
    profile.update(
        bin_edges=[float(e) for e in edges],
        bin_counts=[int(c) for c in counts],
        quantiles=[float(q) for q in np.quantile(present, QUANTILE_LEVELS)],
        min=float(present.min()),
        max=float(present.max()),
        mean=float(present.mean()),
        std=float(present.std()),
    )
    return profile


def categorical_profile(values: Sequence[Any]) -> dict[str, Any]:
    """Level counts (most common first) and missing rate of a categorical column."""
    import pandas as pd

    series = pd.Series(values, dtype=object)
    rows = int(series.size)
    present = series.dropna().astype(str)
    counts = present.value_counts()
    kept = counts.iloc[:MAX_PROFILED_LEVELS]
    return {
        "type": CATEGORY,
        "rows": rows,
        "missing": rows - int(present.size),
        "missing_rate": _rate(rows - present.size, rows),
        "level_counts": {str(k): int(v) for k, v in kept.items()},
        "other_count": int(counts.iloc[MAX_PROFILED_LEVELS:].sum()),
    }


def build_profile(estimator: Any, frame: pd.DataFrame, signature: Signature) -> dict[str, Any]:
    """The reference profile: every feature of the signature, and the training predictions."""
    names = [f["name"] for f in signature["features"]]
    features: dict[str, Any] = {}
    for feature in signature["features"]:
        column = frame[feature["name"]]
        if feature["type"] == CATEGORY:
            features[feature["name"]] = categorical_profile(column.tolist())
        elif feature["type"] == DATETIME:
            features[feature["name"]] = numeric_profile(datetime_seconds(column))
        else:
            features[feature["name"]] = numeric_profile(column_floats(column))
    return {
        "format": PROFILE_FORMAT,
        "rows": int(len(frame)),
        "features": features,
        "predictions": prediction_profile(estimator, _sample(frame[names]), signature),
    }


def prediction_profile(
    estimator: Any, inputs: pd.DataFrame, signature: Signature
) -> dict[str, Any]:
    """Distribution of the model's predictions on its training inputs.

    Classifiers: predicted label counts and, for two classes, the score (probability of the
    second class) in quantile bins. Regressors: the predicted value in quantile bins.
    """
    predictions = estimator.predict(inputs)
    if signature["task"] != "classification":
        return {"value": numeric_profile(np.asarray(predictions, dtype=float))}
    profile: dict[str, Any] = {
        "label": categorical_profile([to_json_scalar(p) for p in predictions])
    }
    classes = signature.get("classes") or []
    if len(classes) == 2 and hasattr(estimator, "predict_proba"):
        profile["score"] = numeric_profile(estimator.predict_proba(inputs)[:, 1])
        profile["score"]["positive_class"] = classes[1]
    return profile


def column_floats(column: pd.Series) -> np.ndarray:
    """A number or boolean column as float64, missing values (None, NaN, pd.NA) as NaN."""
    import pandas as pd

    if column.dtype == object:
        column = column.where(column.notna(), np.nan).infer_objects()
    return pd.to_numeric(column).to_numpy(dtype=float, na_value=np.nan)


def datetime_seconds(values: Any) -> np.ndarray:
    """Dates and times (datetime64 values or ISO 8601 text) as seconds since the epoch, UTC;
    missing or unreadable ones as NaN. Drift measures times as these numbers."""
    import pandas as pd

    times = pd.Series(pd.to_datetime(pd.Series(values, dtype=object), errors="coerce", utc=True))
    seconds = (times - pd.Timestamp(0, tz="UTC")) / pd.Timedelta(seconds=1)
    return seconds.to_numpy(dtype=float, na_value=np.nan)


def _sample(frame: pd.DataFrame) -> pd.DataFrame:
    if len(frame) <= PREDICTION_SAMPLE_ROWS:
        return frame
    return frame.sample(n=PREDICTION_SAMPLE_ROWS, random_state=0)


def _rate(part: float, whole: int) -> float:
    return float(part) / whole if whole else 0.0
