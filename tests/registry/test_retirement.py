"""Retiring and restoring versions and models in the registry, on moto: the rules, the
history, and the S3 tags the models bucket's lifecycle rule archives by."""

from __future__ import annotations

import pytest

from chalicelib.core import ConflictError, GoneError, InvalidInputError
from chalicelib.registry import RETIRED_TAG_KEY, Registry, version_retirement
from chalicelib.registry import _aliases as aliases
from chalicelib.storage import AwsClients
from sklambda.sample_data import TARGET
from tests.conftest import MODELS_BUCKET
from tests.models import fitted_logreg, training_frame


@pytest.fixture
def two(registry: Registry) -> Registry:
    for _ in range(2):
        registry.register("churn", fitted_logreg(), training_frame(), TARGET)
    registry.promote("churn", 1)
    return registry


def tags(aws: AwsClients, key: str) -> dict[str, str]:
    found = aws.s3.get_object_tagging(Bucket=MODELS_BUCKET, Key=key)["TagSet"]
    return {t["Key"]: t["Value"] for t in found}


def test_a_retired_version_cannot_be_promoted_until_restored(two: Registry) -> None:
    two.retire("churn", 2, reason="superseded by 1")
    with pytest.raises(ConflictError) as refused:
        two.promote("churn", 2, alias="canary")
    assert "version 2 of 'churn' is retired" in refused.value.message
    assert "`sklambda restore churn --version 2`" in refused.value.message
    with pytest.raises(GoneError, match="retired"):
        two.check_servable("churn", 2)

    two.restore("churn", 2, reason="needed for a comparison")
    two.check_servable("churn", 2)
    assert two.promote("churn", 2, alias="canary")["aliases"]["canary"]["version"] == 2

    promoted_by = two.history("churn")[0]["actor"]
    steps = [e for e in two.history("churn") if e["action"] in {"retire", "restore"}]
    assert [(e["action"], e["to_version"], e["reason"]) for e in steps] == [
        ("retire", 2, "superseded by 1"),
        ("restore", 2, "needed for a comparison"),
    ]
    # who: the caller identity promote records
    assert all(e["actor"] == promoted_by and e["actor"] != "unknown" for e in steps)


def test_a_version_holding_an_alias_cannot_be_retired(two: Registry) -> None:
    with pytest.raises(ConflictError) as refused:
        two.retire("churn", 1, reason="old")
    assert "it is the champion" in refused.value.message
    assert "sklambda promote churn VERSION --alias champion" in refused.value.message
    two.promote("churn", 2, alias="shadow")
    with pytest.raises(ConflictError, match="sklambda demote churn --alias shadow"):
        two.retire("churn", 2, reason="old")
    assert version_retirement(two.get_aliases("churn"), 2) is None


def test_a_model_with_a_canary_or_shadow_cannot_be_retired_until_demoted(two: Registry) -> None:
    two.promote("churn", 2, alias="canary")
    with pytest.raises(ConflictError) as refused:
        two.retire("churn", reason="product closed")
    assert "its canary is version 2" in refused.value.message
    assert "`sklambda demote churn --alias canary`" in refused.value.message

    two.remove_alias("churn", alias="canary")
    document = two.retire("churn", reason="product closed")
    assert document["retired"]["model"]["reason"] == "product closed"
    with pytest.raises(ConflictError, match="model 'churn' is retired"):
        two.promote("churn", 2)
    with pytest.raises(GoneError, match="sklambda restore churn"):
        two.check_servable("churn", 1)
    # Restored as it was: the champion never moved.
    assert two.restore("churn")["aliases"]["champion"]["version"] == 1
    two.check_servable("churn", 1)


def test_retiring_needs_a_reason_and_is_idempotent(two: Registry) -> None:
    with pytest.raises(InvalidInputError, match="--reason"):
        two.retire("churn", 2, reason=" ")
    first = two.retire("churn", 2, reason="old")
    assert two.retire("churn", 2, reason="again")["revision"] == first["revision"]
    assert two.restore("churn", 1)["revision"] == first["revision"]  # 1 was never retired


def test_retire_tags_the_artifacts_only_and_restore_removes_the_tag(
    aws: AwsClients, two: Registry
) -> None:
    prefix = "models/churn/"
    before = {
        key: aws.s3.get_object(Bucket=MODELS_BUCKET, Key=key)["Body"].read()
        for key in two._store.list_keys(prefix)
    }
    two.retire("churn", 2, reason="old")
    folder = prefix + "versions/2/"
    archived = {folder + name for name in ("model.joblib", "plan.json", "plan.npz")}
    for key in two._store.list_keys(prefix):
        expected = {RETIRED_TAG_KEY: "true"} if key in archived else {}
        if key.startswith(folder) and key.rsplit("/", 1)[1] in {"model.joblib", "code.zip"}:
            assert expected, key
        assert tags(aws, key) == expected, key
    # metadata and signature are as registered; the history gained the step
    for key, body in before.items():
        assert aws.s3.get_object(Bucket=MODELS_BUCKET, Key=key)["Body"].read() == body or (
            key.endswith("aliases.json")
        )

    two.restore("churn", 2)
    assert all(tags(aws, key) == {} for key in two._store.list_keys(prefix))


def test_retiring_the_model_tags_every_version_and_restoring_keeps_retired_versions(
    aws: AwsClients, two: Registry
) -> None:
    two.retire("churn", 2, reason="old")
    two.retire("churn", reason="closed")
    assert tags(aws, "models/churn/versions/1/model.joblib") == {RETIRED_TAG_KEY: "true"}
    two.restore("churn")
    assert tags(aws, "models/churn/versions/1/model.joblib") == {}
    assert tags(aws, "models/churn/versions/2/model.joblib") == {RETIRED_TAG_KEY: "true"}


def test_a_canary_or_shadow_cannot_be_the_champions_version(two: Registry) -> None:
    for alias in ("canary", "shadow"):
        with pytest.raises(InvalidInputError) as refused:
            two.promote("churn", 1, alias=alias)
        assert refused.value.message == (
            f"version 1 is already the champion of 'churn'; a {alias} must be another "
            "version (it is compared with the champion)"
        )
    # The other way round is how a canary graduates: champion := the canary's version.
    two.promote("churn", 2, alias="canary")
    assert two.promote("churn", 2)["aliases"]["champion"]["version"] == 2


def test_the_canary_rule_is_pure() -> None:
    doc = aliases.promote(
        aliases.empty_document(),
        model="m",
        alias="champion",
        version=3,
        weight=None,
        actor="a",
        at="t",
        reason="",
    )
    assert doc is not None
    with pytest.raises(InvalidInputError, match="already the champion of 'm'"):
        aliases.promote(
            doc, model="m", alias="canary", version=3, weight=0.1, actor="a", at="t", reason=""
        )
