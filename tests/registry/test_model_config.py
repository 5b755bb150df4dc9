from __future__ import annotations

import pytest

from chalicelib.core import InvalidInputError
from chalicelib.registry import ModelConfig


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
