from __future__ import annotations

import pytest

from chalicelib.core import InvalidInputError
from chalicelib.registry import RESTORE_DEFAULT, ModelConfig, merge_drift_overrides


def test_defaults_warn_on_unknown_categories_and_capture_everything() -> None:
    config = ModelConfig()
    assert config.unknown_categories == "warn"
    assert config.capture_sample_rate == 1.0
    assert config.entity_id_field is None


def test_round_trips_through_its_stored_form_and_ignores_newer_keys() -> None:
    config = ModelConfig(unknown_categories="reject", id_columns=("customer_id",))
    stored = {**config.to_dict(), "setting_from_the_future": 1}
    assert ModelConfig.from_dict(stored) == config


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"unknown_categories": "maybe"}, "must be one of accept, warn, reject"),
        ({"capture_sample_rate": 1.5}, "between 0 and 1"),
        ({"capture_sample_rate": "all"}, "between 0 and 1"),
        ({"colour": "red"}, "unknown model setting"),
    ],
)
def test_bad_values_are_refused_with_the_reason(changes: dict, message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        ModelConfig().with_changes(changes)


def test_drift_overrides_merge_into_the_stored_ones() -> None:
    current = {"psi": 0.25, "features": {"age": {"js": 0.3}}}
    merged = merge_drift_overrides(
        current,
        {"consecutive_breaches": 2, "features": {"age": {"wasserstein": None}, "plan": {"psi": 1}}},
    )
    assert merged == {
        "psi": 0.25,
        "consecutive_breaches": 2,
        "features": {"age": {"js": 0.3, "wasserstein": None}, "plan": {"psi": 1}},
    }
    assert current == {"psi": 0.25, "features": {"age": {"js": 0.3}}}  # not changed in place


def test_restoring_the_default_removes_the_override_and_an_emptied_feature() -> None:
    current = {"psi": 0.25, "min_samples": 50, "features": {"age": {"wasserstein": None}}}
    merged = merge_drift_overrides(
        current, {"psi": RESTORE_DEFAULT, "features": {"age": {"wasserstein": RESTORE_DEFAULT}}}
    )
    assert merged == {"min_samples": 50}
    assert merge_drift_overrides(None, {"js": RESTORE_DEFAULT}) == {}


def test_merged_overrides_are_what_the_config_accepts() -> None:
    merged = merge_drift_overrides({}, {"psi": 0.3, "features": {"age": {"js": None}}})
    assert ModelConfig().with_changes({"drift_thresholds": merged}).drift_thresholds == merged
    with pytest.raises(InvalidInputError, match="psi"):
        ModelConfig().with_changes({"drift_thresholds": merge_drift_overrides({}, {"psi": -1})})
