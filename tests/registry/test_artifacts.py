from __future__ import annotations

from unittest import mock

import pytest

from chalicelib.core import IntegrityError, VersionSkewError
from chalicelib.registry import _artifacts as artifacts
from tests.models import fitted_logreg


def test_round_trip_loads_the_same_model() -> None:
    data = artifacts.serialize(fitted_logreg())
    loaded = artifacts.load_verified(data, artifacts.sha256_hex(data), artifacts.runtime_versions())
    assert type(loaded) is type(fitted_logreg())


def test_a_flipped_byte_is_refused_before_unpickling() -> None:
    data = bytearray(artifacts.serialize(fitted_logreg()))
    expected = artifacts.sha256_hex(bytes(data))
    data[len(data) // 2] ^= 0x01
    loader = mock.Mock()
    with pytest.raises(IntegrityError, match="does not match its recorded sha256"):
        artifacts.load_verified(bytes(data), expected, artifacts.runtime_versions(), loader=loader)
    loader.assert_not_called()


def test_other_scikit_learn_minor_is_refused_naming_both_versions() -> None:
    here = artifacts.runtime_versions()
    recorded = {**here, "scikit-learn": "1.2.2"}
    with pytest.raises(VersionSkewError) as caught:
        artifacts.check_compatible(recorded, here)
    assert "scikit-learn 1.2.2 (model)" in caught.value.message
    assert f"{here['scikit-learn']} (here)" in caught.value.message


def test_other_patch_release_is_accepted() -> None:
    here = {"scikit-learn": "1.9.1", "numpy": "2.5.5"}
    artifacts.check_compatible({"scikit-learn": "1.9.0", "numpy": "2.1.0"}, here)


def test_numpy_major_change_is_refused() -> None:
    with pytest.raises(VersionSkewError, match="numpy 1.26.4"):
        artifacts.check_compatible(
            {"scikit-learn": "1.9.1", "numpy": "1.26.4"},
            {"scikit-learn": "1.9.1", "numpy": "2.5.5"},
        )


def test_skew_is_checked_before_unpickling() -> None:
    data = artifacts.serialize(fitted_logreg())
    loader = mock.Mock()
    recorded = {**artifacts.runtime_versions(), "scikit-learn": "0.24.2"}
    with pytest.raises(VersionSkewError):
        artifacts.load_verified(data, artifacts.sha256_hex(data), recorded, loader=loader)
    loader.assert_not_called()


def test_cache_loads_once_per_key_and_evicts_least_recent() -> None:
    cache = artifacts.ModelCache(max_entries=2)
    load = mock.Mock(side_effect=lambda: object())
    first = cache.get_or_load("a", load)
    assert cache.get_or_load("a", load) is first
    cache.get_or_load("b", load)
    cache.get_or_load("a", load)  # a is now most recent
    cache.get_or_load("c", load)  # evicts b
    assert load.call_count == 3
    cache.get_or_load("b", load)
    assert load.call_count == 4
    assert len(cache) == 2
