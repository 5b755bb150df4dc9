from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import FrozenInstanceError
from typing import Any

import numpy as np
import pytest
from scipy.stats import wasserstein_distance

from chalicelib.core import InvalidInputError
from chalicelib.stats import (
    DriftThresholds,
    FeatureDrift,
    categorical_profile,
    js_distance,
    judge,
    numeric_profile,
    psi,
    smoothed_shares,
)

LEVELS = ["Mailed check", "Electronic check", "Bank transfer", "Credit card"]
MIX = [0.4, 0.3, 0.2, 0.1]


@pytest.fixture(scope="module")
def ages() -> dict[str, Any]:
    """Profile of 5000 training draws of N(50, 10)."""
    return numeric_profile(np.random.default_rng(0).normal(50, 10, 5000))


@pytest.fixture(scope="module")
def payment() -> dict[str, Any]:
    return categorical_profile(list(np.random.default_rng(0).choice(LEVELS, 5000, p=MIX)))


def measured(name: str, profile: dict[str, Any], values: Any, kind: str | None = None) -> dict:
    drift = FeatureDrift(name, profile, kind)
    drift.add(values)
    return drift.measure()


def verdict(result: dict[str, Any], previous: int = 0) -> dict[str, Any]:
    thresholds = DriftThresholds()
    return judge(
        result,
        thresholds.for_feature(result["name"]),
        min_samples=thresholds.min_samples,
        consecutive_needed=thresholds.consecutive_breaches,
        previous_consecutive=previous,
    )


# -- what a user sees ---------------------------------------------------------------------


def test_a_sample_from_the_training_distribution_breaches_nothing(
    ages: dict, payment: dict
) -> None:
    rng = np.random.default_rng(1)
    number = verdict(measured("age", ages, rng.normal(50, 10, 1000)))
    category = verdict(measured("payment", payment, list(rng.choice(LEVELS, 1000, p=MIX))))
    for result in (number, category):
        assert result["breached"] == [] and result["state"] == "ok"
        assert result["psi"] < 0.05 and result["js"] < 0.1
    assert number["wasserstein"] < 0.1
    assert category["wasserstein"] is None
    assert category["new_categories"] == {}


def test_a_mean_shift_of_one_std_breaches_every_metric(ages: dict) -> None:
    shifted = np.random.default_rng(2).normal(60, 10, 1000)
    result = verdict(measured("age", ages, shifted))
    assert result["breached"] == ["psi", "js", "wasserstein"]
    assert result["state"] == "breach" and result["consecutive"] == 1
    assert result["wasserstein"] == pytest.approx(1.0, abs=0.1)


def test_a_new_category_taking_a_fifth_of_traffic_breaches_and_is_listed(payment: dict) -> None:
    rng = np.random.default_rng(3)
    values = list(rng.choice(LEVELS, 800, p=MIX)) + ["Crypto"] * 200
    result = verdict(measured("payment", payment, values))
    assert "psi" in result["breached"] and "js" in result["breached"]
    assert result["new_categories"] == {"Crypto": 200}
    bins = result["bins"]
    other = bins["labels"].index("other")
    assert bins["reference"][other] == 0.0
    assert bins["current"][other] == pytest.approx(0.2)


def test_a_missing_rate_jumping_from_zero_to_30_percent_breaches_psi(ages: dict) -> None:
    rng = np.random.default_rng(4)
    values: list[float | None] = list(rng.normal(50, 10, 700))
    values += [None] * 150 + [math.nan] * 150
    result = verdict(measured("age", ages, values))
    assert "psi" in result["breached"]
    assert result["missing_rate"] == pytest.approx(0.3)
    assert result["reference_missing_rate"] == 0.0
    assert result["bins"]["labels"][-1] == "missing"
    assert result["bins"]["current"][-1] == pytest.approx(0.3)


def test_a_doubled_spread_is_caught_by_wasserstein(ages: dict) -> None:
    wider = np.random.default_rng(5).normal(50, 20, 1000)
    result = verdict(measured("age", ages, wider))
    assert "wasserstein" in result["breached"]
    # W1 between N(0, 1) and N(0, 2) is E|Z| = sqrt(2 / pi).
    assert result["wasserstein"] == pytest.approx(math.sqrt(2 / math.pi), abs=0.08)


def test_null_noise_at_the_minimum_sample_size_stays_under_the_psi_threshold(
    ages: dict,
) -> None:
    many = [f"L{i}" for i in range(40)]  # more levels than bins: exercises "other"
    weights = 1 / np.arange(1, 41)
    weights /= weights.sum()
    levels = categorical_profile(list(np.random.default_rng(0).choice(many, 5000, p=weights)))
    worst = {"number": 0.0, "category": 0.0}
    for seed in range(50):
        rng = np.random.default_rng(1000 + seed)
        number = measured("age", ages, rng.normal(50, 10, 300))
        category = measured("level", levels, list(rng.choice(many, 300, p=weights)))
        worst["number"] = max(worst["number"], number["psi"])
        worst["category"] = max(worst["category"], category["psi"])
    assert worst["number"] < 0.2 and worst["category"] < 0.2


# -- bins ---------------------------------------------------------------------------------


def test_numeric_bins_are_the_profile_deciles_plus_missing(ages: dict) -> None:
    result = measured("age", ages, np.random.default_rng(6).normal(50, 10, 500))
    bins = result["bins"]
    inner = ages["bin_edges"][1:-1]
    assert len(bins["labels"]) == len(ages["bin_counts"]) + 1 == 11
    assert bins["labels"][0] == f"< {inner[0]:.4g}"
    assert bins["labels"][1] == f"{inner[0]:.4g} – {inner[1]:.4g}"
    assert bins["labels"][-2] == f"≥ {inner[-1]:.4g}"
    assert bins["reference"] == [c / 5000 for c in ages["bin_counts"]] + [0.0]
    assert sum(bins["current"]) == pytest.approx(1.0)
    assert result["samples"] == 500


def test_labels_get_more_digits_only_when_needed() -> None:
    profile = numeric_profile(np.linspace(1000.0, 1000.5, 1001))
    labels = measured("x", profile, [1000.25])["bins"]["labels"]
    assert labels[0] == "< 1000.05"
    assert len(set(labels)) == len(labels)


def test_values_outside_the_training_range_fall_in_the_outer_bins(ages: dict) -> None:
    result = measured("age", ages, [-1e9, 1e9])
    assert result["bins"]["current"][0] == 0.5 and result["bins"]["current"][-2] == 0.5


def test_adding_in_chunks_gives_the_same_result_as_at_once(ages: dict) -> None:
    values = np.random.default_rng(7).normal(55, 12, 10_000)
    chunked = FeatureDrift("age", ages)
    for chunk in np.array_split(values, 13):
        chunked.add(chunk)
    assert chunked.samples == 10_000
    at_once = measured("age", ages, values)
    in_chunks = chunked.measure()
    assert in_chunks.pop("bins") == at_once.pop("bins")
    assert in_chunks == pytest.approx(at_once)


def test_no_samples_means_no_metrics(ages: dict, payment: dict) -> None:
    for result in (measured("age", ages, []), measured("payment", payment, [])):
        assert result["samples"] == 0
        assert result["psi"] is None and result["js"] is None and result["wasserstein"] is None
        assert result["missing_rate"] is None
        assert sum(result["bins"]["current"]) == 0
        assert verdict(result, previous=2)["state"] == "not_enough_data"


def test_only_the_19_most_common_levels_get_their_own_bin() -> None:
    many = [f"L{i:02d}" for i in range(30)]
    training = [level for i, level in enumerate(many) for _ in range(1000 - 10 * i)]
    profile = categorical_profile(training + [None] * 100)
    rows = len(training) + 100
    result = measured("level", profile, ["L00", "L29", "new", None])
    labels = result["bins"]["labels"]
    assert len(labels) == 21 and labels[-2:] == ["other", "missing"]
    assert labels[0] == "L00" and "L29" not in labels
    # A rare training level and an unseen one both land in "other"; only the unseen is new.
    assert result["bins"]["current"][-2] == 0.5
    assert result["bins"]["current"][-1] == 0.25
    assert result["new_categories"] == {"new": 1}
    assert result["bins"]["reference"][0] == pytest.approx(1000 / rows)
    assert result["bins"]["reference"][-2] == pytest.approx(sum(range(710, 811, 10)) / rows)
    assert result["bins"]["reference"][-1] == pytest.approx(100 / rows)
    assert sum(result["bins"]["reference"]) == pytest.approx(1.0)


def test_category_values_compare_as_text_like_the_profile() -> None:
    profile = categorical_profile([1, 2, 2, 3.5, True])
    result = measured("plan", profile, np.array([1, 2, 2, 3.5, True], dtype=object))
    assert result["new_categories"] == {}
    assert result["bins"]["current"] == result["bins"]["reference"]
    result = measured("plan", profile, [float("nan"), None, "1", 1.0])
    assert result["missing_rate"] == 0.5
    assert result["new_categories"] == {"1.0": 1}


def test_new_categories_list_the_ten_most_common_unseen_levels(payment: dict) -> None:
    values = [f"new{i}" for i in range(12) for _ in range(i + 1)]
    result = measured("payment", payment, values)
    assert list(result["new_categories"]) == [f"new{i}" for i in range(11, 1, -1)]
    assert result["new_categories"]["new11"] == 12


def test_booleans_get_false_true_and_missing_bins() -> None:
    profile = numeric_profile(np.array([True] * 300 + [False] * 700, dtype=float))
    result = measured("churned", profile, [True] * 60 + [False] * 40 + [None] * 10, "boolean")
    assert result["type"] == "boolean"
    assert result["bins"]["labels"] == ["false", "true", "missing"]
    assert result["bins"]["reference"] == [0.7, 0.3, 0.0]
    assert result["bins"]["current"] == pytest.approx([40 / 110, 60 / 110, 10 / 110])
    assert result["psi"] > 0.2


def test_odd_numeric_values_count_as_missing(ages: dict) -> None:
    result = measured("age", ages, [50.0, "abc", math.inf, "51"])
    assert result["samples"] == 4
    assert result["missing_rate"] == 0.5


def test_wasserstein_needs_percentiles_in_the_profile(ages: dict) -> None:
    old = {k: v for k, v in ages.items() if k != "quantiles"}
    result = measured("age", old, [50.0, 60.0])
    assert result["wasserstein"] is None and result["psi"] is not None


# -- the maths ----------------------------------------------------------------------------


Draw = Callable[[np.random.Generator, int], np.ndarray]


def normal(mean: float, std: float) -> Draw:
    return lambda rng, n: rng.normal(mean, std, n)


@pytest.mark.parametrize(
    ("training", "live"),
    [
        (normal(0, 1), normal(0, 1)),
        (normal(0, 1), normal(1, 1)),
        (normal(0, 1), normal(0, 2)),
        (normal(0, 1), normal(0, 0.5)),
        (normal(0, 1), normal(9, 1)),
        (lambda rng, n: rng.exponential(3, n), lambda rng, n: rng.gamma(2, 2, n)),
        (lambda rng, n: rng.poisson(3, n) * 1.0, lambda rng, n: rng.poisson(4, n) * 1.0),
        (lambda rng, n: rng.random(n) < 0.3, lambda rng, n: rng.random(n) < 0.5),
    ],
    ids=["same", "shift", "wider", "narrower", "far-outside", "skewed", "discrete", "0-1"],
)
def test_wasserstein_matches_scipy_on_the_raw_samples(training: Draw, live: Draw) -> None:
    reference = np.asarray(training(np.random.default_rng(10), 5000), dtype=float)
    current = np.asarray(live(np.random.default_rng(11), 800), dtype=float)
    profile = numeric_profile(reference)
    expected = wasserstein_distance(reference, current) / profile["std"]
    # Within a few hundredths of a standard deviation, without keeping the raw values.
    assert measured("x", profile, current)["wasserstein"] == pytest.approx(expected, abs=0.03)


def test_wasserstein_of_a_constant_training_column_is_scaled_by_its_magnitude() -> None:
    profile = numeric_profile(np.full(100, 4.0))
    assert measured("x", profile, [4.0, 4.0])["wasserstein"] == 0.0
    assert measured("x", profile, [6.0, 6.0])["wasserstein"] == pytest.approx(2.0 / 4.0)
    zero = numeric_profile(np.zeros(100))
    assert measured("x", zero, [0.5, -0.5])["wasserstein"] == pytest.approx(0.5)


def test_smoothing_adds_half_a_count_to_every_bin() -> None:
    assert smoothed_shares([3, 0, 1]).tolist() == pytest.approx([3.5 / 5.5, 0.5 / 5.5, 1.5 / 5.5])


def test_psi_and_js_on_small_hand_computed_cases() -> None:
    assert psi([50, 50], [20, 20]) == pytest.approx(0.0)
    assert js_distance([50, 50], [20, 20]) == pytest.approx(0.0)
    # Smoothed: reference (10.5, 0.5) / 11, current (5.5, 5.5) / 11.
    r = np.array([10.5, 0.5]) / 11
    c = np.array([5.5, 5.5]) / 11
    expected_psi = (c[0] - r[0]) * math.log(c[0] / r[0]) + (c[1] - r[1]) * math.log(c[1] / r[1])
    assert psi([10, 0], [5, 5]) == pytest.approx(expected_psi)
    m = (r + c) / 2
    divergence = 0.5 * sum(r * np.log2(r / m)) + 0.5 * sum(c * np.log2(c / m))
    assert js_distance([10, 0], [5, 5]) == pytest.approx(math.sqrt(divergence))
    # Symmetric and bounded; disjoint distributions are as far apart as it gets.
    assert js_distance([5, 5], [10, 0]) == pytest.approx(js_distance([10, 0], [5, 5]))
    assert js_distance([10**9, 0], [0, 10**9]) == pytest.approx(1.0)


def test_an_empty_rare_bin_costs_little_but_a_new_one_costs_a_lot() -> None:
    assert psi([900, 100, 1], [300, 33, 0]) < 0.01
    assert psi([900, 100, 0], [240, 30, 60]) > 1.0


# -- judging ------------------------------------------------------------------------------


def metrics(samples: int = 1000, **values: float | None) -> dict[str, Any]:
    base: dict[str, Any] = {"name": "age", "type": "number", "samples": samples}
    base.update({"psi": 0.01, "js": 0.01, "wasserstein": 0.01}, **values)
    base["bins"] = {}
    return base


LIMITS: dict[str, float | None] = {"psi": 0.2, "js": 0.2, "wasserstein": 0.5}


def judged(measurement: dict[str, Any], previous: int, limits: dict | None = None) -> dict:
    return judge(
        measurement,
        limits or LIMITS,
        min_samples=300,
        consecutive_needed=3,
        previous_consecutive=previous,
    )


def test_breaches_count_up_to_drifted_and_a_clean_run_resets() -> None:
    consecutive = 0
    states = []
    for psi_value in (0.3, 0.25, 0.2, 0.4, 0.1, 0.3):
        result = judged(metrics(psi=psi_value), consecutive)
        consecutive = result["consecutive"]
        states.append((result["state"], consecutive))
    assert states == [
        ("breach", 1),
        ("breach", 2),
        ("drifted", 3),  # at the threshold counts as a breach
        ("drifted", 4),
        ("ok", 0),
        ("breach", 1),
    ]


def test_not_enough_data_keeps_the_count_and_judges_nothing() -> None:
    result = judged(metrics(samples=299, psi=5.0), previous=2)
    assert result["state"] == "not_enough_data"
    assert result["consecutive"] == 2 and result["breached"] == []
    assert judged(metrics(samples=300, psi=5.0), previous=2)["state"] == "drifted"


def test_judge_keeps_the_measurement_and_lists_breached_metrics() -> None:
    result = judged(metrics(js=0.3, wasserstein=0.7), previous=0)
    assert result["breached"] == ["js", "wasserstein"]
    assert list(result)[:9] == [
        "name",
        "type",
        "samples",
        "psi",
        "js",
        "wasserstein",
        "breached",
        "consecutive",
        "state",
    ]
    assert result["bins"] == {}


def test_a_disabled_or_missing_metric_never_breaches() -> None:
    limits = {"psi": None, "js": 0.2, "wasserstein": 0.5}
    assert judged(metrics(psi=9.0), 0, limits)["state"] == "ok"
    assert judged(metrics(wasserstein=None), 0)["state"] == "ok"


# -- thresholds ---------------------------------------------------------------------------


def test_default_thresholds() -> None:
    thresholds = DriftThresholds()
    assert thresholds.to_dict() == {
        "psi": 0.2,
        "js": 0.2,
        "wasserstein": 0.5,
        "min_samples": 300,
        "consecutive_breaches": 3,
        "features": {},
    }
    with pytest.raises(FrozenInstanceError):
        thresholds.psi = 0.3  # type: ignore[misc]


def test_feature_overrides_apply_to_that_feature_only() -> None:
    thresholds = DriftThresholds(features={"age": {"psi": 0.3, "wasserstein": None}})
    assert thresholds.for_feature("age") == {"psi": 0.3, "js": 0.2, "wasserstein": None}
    assert thresholds.for_feature("plan") == {"psi": 0.2, "js": 0.2, "wasserstein": 0.5}


def test_thresholds_round_trip_and_ignore_unknown_keys() -> None:
    thresholds = DriftThresholds(psi=0.25, min_samples=50, features={"age": {"js": 0.1}})
    assert DriftThresholds.from_dict(thresholds.to_dict()) == thresholds
    stored = {**thresholds.to_dict(), "future": 1, "features": {"age": {"js": 0.1, "ks": 0.2}}}
    assert DriftThresholds.from_dict(stored) == thresholds
    assert DriftThresholds.from_dict({}) == DriftThresholds()
    assert DriftThresholds.from_dict({"features": {"age": None}}) == DriftThresholds()
    assert DriftThresholds.from_dict({"features": None}) == DriftThresholds()


def test_with_changes_replaces_settings_and_merges_feature_overrides() -> None:
    base = DriftThresholds(features={"age": {"psi": 0.3}, "plan": {"js": 0.1}})
    changed = base.with_changes(
        {"psi": None, "min_samples": 1000, "features": {"age": {"js": 0.4}, "plan": None}}
    )
    assert changed.psi is None and changed.min_samples == 1000
    assert changed.features == {"age": {"psi": 0.3, "js": 0.4}}
    assert base.features == {"age": {"psi": 0.3}, "plan": {"js": 0.1}}
    assert base.with_changes({"features": None}).features == {}


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"psi": -0.1}, "psi must be a positive number"),
        ({"js": 0}, "js must be a positive number"),
        ({"wasserstein": "0.5"}, "wasserstein must be a positive number"),
        ({"psi": True}, "psi must be a positive number"),
        ({"psi": math.inf}, "psi must be a positive number"),
        ({"min_samples": 0}, "min_samples must be a whole number of at least 1"),
        ({"min_samples": 2.5}, "min_samples must be a whole number"),
        ({"consecutive_breaches": 0}, "consecutive_breaches must be a whole number"),
        ({"features": {"age": {"ks": 0.1}}}, "can only override psi, js, wasserstein"),
        ({"features": {"age": {"psi": -1}}}, "features.age.psi must be a positive number"),
        ({"features": {"age": 0.3}}, "features.age must map metrics"),
        ({"features": [1]}, "features must map feature names"),
        ({"psl": 0.2}, "unknown threshold setting(s) 'psl'"),
    ],
)
def test_invalid_thresholds_say_what_to_fix(changes: dict, message: str) -> None:
    with pytest.raises(InvalidInputError) as raised:
        DriftThresholds().with_changes(changes)
    assert message in raised.value.message


def test_invalid_stored_thresholds_are_refused() -> None:
    with pytest.raises(InvalidInputError, match="min_samples"):
        DriftThresholds.from_dict({"min_samples": -5})
