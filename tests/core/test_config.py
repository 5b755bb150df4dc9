from __future__ import annotations

import pytest

from chalicelib.core import ConfigError, Settings


def test_defaults_are_sane_when_only_buckets_are_set() -> None:
    settings = Settings.from_env({"SKLAMBDA_MODELS_BUCKET": "m", "SKLAMBDA_DATA_BUCKET": "d"})
    assert settings.models_bucket == "m"
    assert settings.data_bucket == "d"
    assert settings.models_prefix == "models/"
    assert settings.capture_prefix == "capture/"
    assert settings.alias_cache_ttl_seconds == 30.0
    assert settings.endpoint_url is None


def test_prefixes_are_normalised_to_one_trailing_slash() -> None:
    settings = Settings.from_env(
        {"SKLAMBDA_MODELS_PREFIX": "/team/models", "SKLAMBDA_BATCH_PREFIX": ""}
    )
    assert settings.models_prefix == "team/models/"
    assert settings.batch_prefix == ""


def test_endpoint_url_and_region_come_from_the_standard_variables() -> None:
    settings = Settings.from_env(
        {"AWS_ENDPOINT_URL": "http://127.0.0.1:4566", "AWS_DEFAULT_REGION": "eu-west-1"}
    )
    assert settings.endpoint_url == "http://127.0.0.1:4566"
    assert settings.region == "eu-west-1"


def test_bad_ttl_names_the_variable() -> None:
    with pytest.raises(ConfigError, match="SKLAMBDA_ALIAS_CACHE_TTL_SECONDS"):
        Settings.from_env({"SKLAMBDA_ALIAS_CACHE_TTL_SECONDS": "soon"})


def test_command_line_overrides_win_and_none_keeps_the_environment() -> None:
    settings = Settings.from_env({"SKLAMBDA_MODELS_BUCKET": "env-bucket"})
    assert settings.with_overrides(models_bucket=None).models_bucket == "env-bucket"
    assert settings.with_overrides(models_bucket="cli-bucket").models_bucket == "cli-bucket"


def test_missing_bucket_says_how_to_set_it() -> None:
    with pytest.raises(ConfigError, match="SKLAMBDA_MODELS_BUCKET or pass --models-bucket"):
        Settings.from_env({}).require_models_bucket()


def test_the_batch_reserve_defaults_to_a_minute_and_names_its_variable_when_bad() -> None:
    assert Settings.from_env({}).batch_reserve_seconds == 60.0
    assert Settings.from_env({"SKLAMBDA_BATCH_RESERVE_SECONDS": "90"}).batch_reserve_seconds == 90
    with pytest.raises(ConfigError, match="SKLAMBDA_BATCH_RESERVE_SECONDS"):
        Settings.from_env({"SKLAMBDA_BATCH_RESERVE_SECONDS": "-1"})
