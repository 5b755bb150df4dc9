"""The S3 registry against moto: versions, aliases, history, integrity and concurrency."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from unittest import mock

import pytest

from chalicelib.core import (
    AwsAccessError,
    ConflictError,
    IntegrityError,
    InvalidInputError,
    NotFoundError,
    SignatureError,
    VersionSkewError,
)
from chalicelib.registry import ModelCache, Registry, open_registry
from chalicelib.storage import AwsClients, ObjectStore
from sklambda.sample_data import TARGET
from tests.conftest import MODELS_BUCKET
from tests.models import fitted_logreg, training_frame


def register(registry: Registry, name: str = "churn", **kwargs):
    return registry.register(name, fitted_logreg(), training_frame(), TARGET, **kwargs)


def keys(aws: AwsClients, prefix: str = "models/") -> list[str]:
    response = aws.s3.list_objects_v2(Bucket=MODELS_BUCKET, Prefix=prefix)
    return [item["Key"] for item in response.get("Contents", [])]


def test_register_describe_promote_rollback_round_trip(registry: Registry) -> None:
    first = register(registry, metrics={"auc": 0.81}, description="first", tags={"team": "growth"})
    second = register(registry, parent_version=1)
    assert (first["version"], second["version"]) == (1, 2)
    assert registry.list_versions("churn") == [1, 2]

    described = registry.get_metadata("churn", 1)
    assert described["metrics"] == {"auc": 0.81}
    assert described["tags"] == {"team": "growth"}
    assert described["created_by"] == "arn:aws:sts::123456789012:user/moto"
    assert described["runtime"]["scikit-learn"].startswith("1.")
    assert described["training_data"]["rows"] == len(training_frame())
    assert second["parent_version"] == 1

    registry.promote("churn", 1, reason="first release")
    registry.promote("churn", 2, reason="better auc")
    assert registry.resolve("churn") == 2
    registry.rollback("churn", reason="complaints")
    assert registry.resolve("churn") == 1

    loaded = registry.load("churn", registry.resolve("churn"))
    assert loaded.version == 1
    assert loaded.estimator.predict(training_frame().head(3)).shape == (3,)


def test_metadata_records_what_a_reviewer_needs(registry: Registry) -> None:
    metadata = register(registry, training_data_uri="s3://bucket/train.csv")
    assert len(metadata["artifact"]["sha256"]) == 64
    assert metadata["artifact"]["size_bytes"] > 0
    assert set(metadata["runtime"]) == {"python", "scikit-learn", "numpy", "joblib"}
    assert metadata["task"] == "classification" and metadata["classes"] == [0, 1]
    assert metadata["target"]["name"] == TARGET
    assert metadata["training_data"]["uri"] == "s3://bucket/train.csv"
    assert len(metadata["training_data"]["sha256"]) == 64
    assert metadata["created_at"].endswith("Z")
    contract = next(f for f in metadata["features"] if f["name"] == "contract")
    assert contract["levels"] == ["month-to-month", "one-year", "two-year"]


def test_profile_is_stored_beside_the_version(registry: Registry) -> None:
    register(registry)
    profile = registry.get_profile("churn", 1)
    assert profile["rows"] == len(training_frame())
    assert sum(profile["features"]["age"]["bin_counts"]) == len(training_frame())


def test_history_records_who_when_from_to_and_why(registry: Registry) -> None:
    register(registry)
    register(registry)
    registry.promote("churn", 1, reason="launch")
    registry.promote("churn", 2, alias="canary", weight=0.2, reason="try v2")
    registry.promote("churn", 2, reason="v2 is better")
    registry.rollback("churn", reason="latency")
    history = registry.history("churn")
    assert [(e["action"], e["alias"], e["from_version"], e["to_version"]) for e in history] == [
        ("promote", "champion", None, 1),
        ("promote", "canary", None, 2),
        ("promote", "champion", 1, 2),
        ("rollback", "champion", 2, 1),
    ]
    assert [e["reason"] for e in history] == ["launch", "try v2", "v2 is better", "latency"]
    assert all(e["actor"].startswith("arn:aws:") and e["at"] for e in history)
    assert history[1]["weight"] == 0.2


def test_history_survives_a_failed_history_write(registry: Registry) -> None:
    register(registry)
    register(registry)
    registry.promote("churn", 1)
    failing_history = mock.patch.object(
        Registry, "_record_event", side_effect=[None, RuntimeError("boom")]
    )
    with failing_history, pytest.raises(RuntimeError):
        registry.promote("churn", 2, reason="lost write")
    # The move happened; its event is still in the history, and the next change repairs it.
    assert [e["reason"] for e in registry.history("churn")][-1] == "lost write"
    registry.rollback("churn")
    assert [e["action"] for e in registry.history("churn")] == ["promote", "promote", "rollback"]


def test_concurrent_registers_get_distinct_versions(aws: AwsClients) -> None:
    def one_register(_: int) -> int:
        registry = open_registry(aws)
        return register(registry)["version"]

    with ThreadPoolExecutor(max_workers=6) as pool:
        versions = list(pool.map(one_register, range(6)))
    assert sorted(versions) == [1, 2, 3, 4, 5, 6]
    assert open_registry(aws).list_versions("churn") == [1, 2, 3, 4, 5, 6]


def test_racing_promotions_one_wins_the_other_conflicts(aws: AwsClients) -> None:
    seed = open_registry(aws)
    for _ in range(3):
        register(seed)
    seed.promote("churn", 1)

    both_have_read = threading.Barrier(2, timeout=10)
    real_get_json = ObjectStore.get_json

    def get_json_then_wait(self, key):
        result = real_get_json(self, key)
        if key.endswith("aliases.json"):
            both_have_read.wait()  # both promotions read the same revision before writing
        return result

    outcomes: dict[int, object] = {}

    def promote(version: int) -> None:
        try:
            outcomes[version] = open_registry(aws).promote("churn", version)
        except ConflictError as exc:
            outcomes[version] = exc

    with mock.patch.object(ObjectStore, "get_json", get_json_then_wait):
        threads = [threading.Thread(target=promote, args=(v,)) for v in (2, 3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    conflicts = [v for v, o in outcomes.items() if isinstance(o, ConflictError)]
    winners = [v for v, o in outcomes.items() if not isinstance(o, ConflictError)]
    assert len(conflicts) == 1 and len(winners) == 1
    assert "changed by someone else" in str(outcomes[conflicts[0]])
    assert seed.resolve("churn") == winners[0]
    assert [e["to_version"] for e in seed.history("churn")] == [1, winners[0]]


def test_tampered_artifact_is_refused_without_unpickling(
    registry: Registry, aws: AwsClients
) -> None:
    register(registry)
    key = "models/churn/versions/1/model.joblib"
    data = bytearray(aws.s3.get_object(Bucket=MODELS_BUCKET, Key=key)["Body"].read())
    data[100] ^= 0xFF
    aws.s3.put_object(Bucket=MODELS_BUCKET, Key=key, Body=bytes(data))
    loader = mock.Mock()
    with pytest.raises(IntegrityError, match="refusing to load"):
        registry.load("churn", 1, loader=loader)
    loader.assert_not_called()


def test_model_from_another_scikit_learn_is_refused(registry: Registry) -> None:
    from chalicelib.registry import _artifacts

    elsewhere = {**_artifacts.runtime_versions(), "scikit-learn": "1.3.2"}
    with mock.patch("chalicelib.registry._versions.runtime_versions", return_value=elsewhere):
        register(registry)  # signed as registered under scikit-learn 1.3.2
    loader = mock.Mock()
    with pytest.raises(VersionSkewError, match=r"scikit-learn 1\.3\.2 \(model\)"):
        registry.load("churn", 1, loader=loader)
    loader.assert_not_called()


def test_loaded_models_are_cached_per_name_and_version(registry: Registry) -> None:
    register(registry)
    first = registry.load("churn", 1)
    with mock.patch.object(ObjectStore, "get_bytes", side_effect=AssertionError("no S3 read")):
        assert registry.load("churn", 1) is first


def test_unknown_model_and_version_say_what_exists(registry: Registry) -> None:
    with pytest.raises(NotFoundError, match="no model named 'nope'"):
        registry.get_metadata("nope", 1)
    register(registry)
    register(registry)
    with pytest.raises(NotFoundError, match=r"no version 7 \(versions: 1-2\)"):
        registry.get_metadata("churn", 7)
    with pytest.raises(NotFoundError, match="no version 9"):
        registry.promote("churn", 9)
    with pytest.raises(NotFoundError, match="no 'champion' alias"):
        registry.resolve("churn")


def test_bad_registration_writes_nothing(registry: Registry, aws: AwsClients) -> None:
    from sklearn.linear_model import LogisticRegression

    with pytest.raises(InvalidInputError, match="target column"):
        registry.register("churn", fitted_logreg(), training_frame(), "not_a_column")
    with pytest.raises(InvalidInputError, match="not fitted"):
        registry.register("churn", LogisticRegression(), training_frame(), TARGET)
    with pytest.raises(InvalidInputError, match="invalid model name"):
        registry.register("churn/v2", fitted_logreg(), training_frame(), TARGET)
    with pytest.raises(InvalidInputError, match="metric 'auc' must be a number"):
        register(registry, metrics={"auc": "high"})
    assert keys(aws) == []


def test_failure_mid_write_leaves_no_version_behind(registry: Registry, aws: AwsClients) -> None:
    real_create = ObjectStore.create_bytes

    def fail_on_metadata(self, key, body, **options):
        if key.endswith("metadata.json"):
            raise AwsAccessError("simulated outage")
        return real_create(self, key, body, **options)

    with (
        mock.patch.object(ObjectStore, "create_bytes", fail_on_metadata),
        pytest.raises(AwsAccessError),
    ):
        register(registry)
    assert keys(aws) == []
    assert register(registry)["version"] == 1


def test_missing_bucket_says_so(aws: AwsClients, settings) -> None:
    other = AwsClients(settings.with_overrides(models_bucket="no-such-bucket"))
    registry = open_registry(other)
    registry._cache = ModelCache()
    with pytest.raises(AwsAccessError, match="bucket 'no-such-bucket' does not exist"):
        register(registry)


def test_a_failed_load_is_remembered_for_a_short_while(registry: Registry, aws: AwsClients) -> None:
    register(registry)
    signature = "models/churn/versions/1/signature.json"
    ObjectStore(aws.s3, MODELS_BUCKET).delete(signature)
    now = [0.0]
    registry._cache = ModelCache(failure_seconds=30, clock=lambda: now[0])
    with pytest.raises(SignatureError, match="is not signed"):
        registry.load("churn", 1)

    # Every request in the next 30 s gets the same answer without touching S3 again.
    with mock.patch.object(ObjectStore, "read", side_effect=AssertionError("no S3 read")):
        for _ in range(3):
            with pytest.raises(SignatureError, match="is not signed"):
                registry.load("churn", 1)

    registry.sign_version("churn", 1)
    now[0] = 29.0
    with pytest.raises(SignatureError):
        registry.load("churn", 1)
    now[0] = 31.0
    assert registry.load("churn", 1).version == 1
