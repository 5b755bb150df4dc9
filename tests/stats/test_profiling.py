from __future__ import annotations

import numpy as np
import pytest

from chalicelib.stats import (
    bin_index,
    build_profile,
    categorical_profile,
    infer_signature,
    numeric_profile,
)
from sklambda.sample_data import CATEGORICAL_FEATURES, NUMERIC_FEATURES, TARGET
from tests.models import fitted_logreg, fitted_regressor, training_frame


@pytest.fixture(scope="module")
def profile() -> dict:
    frame = training_frame()
    signature = infer_signature(fitted_logreg(), frame, TARGET)
    return build_profile(fitted_logreg(), frame, signature)


def test_numeric_bins_count_every_present_value(profile: dict) -> None:
    frame = training_frame()
    for name in NUMERIC_FEATURES:
        column = frame[name].to_numpy(dtype=float)
        present = column[~np.isnan(column)]
        feature = profile["features"][name]
        assert sum(feature["bin_counts"]) == present.size
        assert feature["missing"] == int(np.isnan(column).sum())
        assert feature["missing_rate"] == pytest.approx(np.isnan(column).mean())
        assert feature["min"] == present.min() and feature["max"] == present.max()
        assert feature["mean"] == pytest.approx(present.mean())
        # The counts are exactly the values falling between consecutive edges.
        edges = np.asarray(feature["bin_edges"])
        assert np.all(np.diff(edges) > 0) or edges.size == 2
        expected = np.bincount(bin_index(edges.tolist(), present), minlength=edges.size - 1)
        assert feature["bin_counts"] == expected.tolist()


def test_numeric_profiles_store_the_percentiles_of_the_present_values(profile: dict) -> None:
    frame = training_frame()
    for name in NUMERIC_FEATURES:
        column = frame[name].to_numpy(dtype=float)
        present = column[~np.isnan(column)]
        quantiles = profile["features"][name]["quantiles"]
        assert len(quantiles) == 101
        assert quantiles[0] == present.min() and quantiles[-1] == present.max()
        assert quantiles[50] == pytest.approx(np.median(present))
        assert quantiles[10] == pytest.approx(np.quantile(present, 0.1))
        assert np.all(np.diff(quantiles) >= 0)
    assert len(profile["predictions"]["score"]["quantiles"]) == 101


def test_quantile_bins_hold_similar_shares_for_a_continuous_column(profile: dict) -> None:
    counts = np.asarray(profile["features"]["monthly_charges"]["bin_counts"])
    assert len(counts) == 10
    assert counts.min() > 0.5 * counts.mean()


def test_category_counts_and_missing_rate_match_the_data(profile: dict) -> None:
    frame = training_frame()
    for name in CATEGORICAL_FEATURES:
        feature = profile["features"][name]
        assert feature["level_counts"] == frame[name].value_counts().to_dict()
        assert feature["missing_rate"] == pytest.approx(frame[name].isna().mean())
    assert profile["features"]["payment_method"]["missing"] > 0


def test_prediction_profile_describes_the_training_predictions(profile: dict) -> None:
    frame = training_frame()
    model = fitted_logreg()
    predicted = model.predict(frame[NUMERIC_FEATURES + CATEGORICAL_FEATURES])
    labels = profile["predictions"]["label"]["level_counts"]
    assert labels == {
        str(k): int(v) for k, v in zip(*np.unique(predicted, return_counts=True), strict=True)
    }
    score = profile["predictions"]["score"]
    assert score["positive_class"] == 1
    assert sum(score["bin_counts"]) == len(frame)
    assert 0.0 <= score["min"] <= score["max"] <= 1.0


def test_regressor_profile_has_value_bins() -> None:
    frame = training_frame()[["tenure_months", "age", "monthly_charges"]]
    signature = infer_signature(fitted_regressor(), frame, "monthly_charges")
    profile = build_profile(fitted_regressor(), frame, signature)
    assert set(profile["features"]) == {"tenure_months", "age"}
    assert sum(profile["predictions"]["value"]["bin_counts"]) == len(frame)


def test_values_outside_the_training_range_fall_in_the_outer_bins() -> None:
    edges = numeric_profile(np.arange(100.0))["bin_edges"]
    assert bin_index(edges, np.array([-1e9, 1e9])).tolist() == [0, len(edges) - 2]


def test_constant_and_empty_columns_do_not_break() -> None:
    constant = numeric_profile(np.full(10, 3.0))
    assert constant["bin_counts"] == [10]
    empty = numeric_profile(np.full(4, np.nan))
    assert empty["missing_rate"] == 1.0 and empty["bin_counts"] == []
    assert empty["quantiles"] == []
    assert constant["quantiles"] == [3.0] * 101
    assert categorical_profile([None, None])["level_counts"] == {}


def test_large_training_sets_profile_predictions_on_a_sample(monkeypatch) -> None:
    from chalicelib.stats import _profiling as profiling

    monkeypatch.setattr(profiling, "PREDICTION_SAMPLE_ROWS", 200)
    frame = training_frame()
    signature = infer_signature(fitted_logreg(), frame, TARGET)
    sampled = build_profile(fitted_logreg(), frame, signature)
    monkeypatch.setattr(profiling, "PREDICTION_SAMPLE_ROWS", 10_000)
    full = build_profile(fitted_logreg(), frame, signature)

    assert sampled["features"] == full["features"]  # inputs are still profiled on every row
    assert sampled["predictions"]["score"]["rows"] == 200
    assert full["predictions"]["score"]["rows"] == len(frame)
    # The sample's deciles stay close to the full set's.
    edges = np.array(sampled["predictions"]["score"]["bin_edges"][1:-1])
    assert np.abs(edges - np.array(full["predictions"]["score"]["bin_edges"][1:-1])).max() < 0.1
