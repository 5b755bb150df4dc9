"""`sklambda sign` and the signature `describe` shows: versions registered before signing
existed are brought under the chain after their files are checked, and recorded."""

from __future__ import annotations

import json

import pytest

from chalicelib.registry import ModelCache, Registry
from chalicelib.storage import AwsClients, ObjectStore
from sklambda.sample_data import TARGET
from tests.conftest import MODELS_BUCKET
from tests.models import fitted_logreg, training_frame
from tests.workstation.test_cli import run

MODEL = "churn"


def older_version(registry: Registry, aws: AwsClients) -> int:
    """A version as it was stored before signing existed: no signature.json."""
    version = registry.register(MODEL, fitted_logreg(), training_frame(), TARGET)["version"]
    ObjectStore(aws.s3, MODELS_BUCKET).delete(f"models/{MODEL}/versions/{version}/signature.json")
    return int(version)


def describe(capsys: pytest.CaptureFixture[str], *extra: str) -> dict:
    code, out, err = run(capsys, "describe", MODEL, *extra)
    assert code == 0, err
    return json.loads(out)


def test_an_unsigned_version_is_refused_until_signed(
    aws: AwsClients, registry: Registry, capsys: pytest.CaptureFixture[str]
) -> None:
    older_version(registry, aws)
    refused = describe(capsys)["signature"]
    assert refused["state"] == "refused"
    assert "is not signed" in refused["reason"]
    assert "sklambda sign churn --version 1" in refused["reason"]

    code, out, err = run(capsys, "sign", MODEL, "--output", "table")
    assert code == 0, err
    assert "signed" in out and "already" not in out

    signed = describe(capsys)["signature"]
    assert signed["state"] == "verified"
    assert signed["origin"] == "sign"
    assert signed["signed_by"].startswith("arn:aws:")
    registry._cache = ModelCache()
    assert registry.load(MODEL, 1).version == 1
    history = json.loads(run(capsys, "history", MODEL)[1])
    assert [e["action"] for e in history] == ["sign"]
    assert history[0]["actor"] == signed["signed_by"]

    code, out, _ = run(capsys, "sign", MODEL, "--version", "1")
    assert json.loads(out)[0]["result"] == "already signed"


def test_a_changed_artifact_is_never_signed(
    aws: AwsClients, registry: Registry, capsys: pytest.CaptureFixture[str]
) -> None:
    older_version(registry, aws)
    store = ObjectStore(aws.s3, MODELS_BUCKET)
    store.put_bytes(f"models/{MODEL}/versions/1/model.joblib", b"not the registered model")

    code, out, err = run(capsys, "sign", MODEL, "--version", "1")

    assert code == 2 and out == ""
    assert err.startswith("sklambda: error: churn version 1: the model file does not match the")
    assert len(err.strip().splitlines()) == 1
    assert not store.exists(f"models/{MODEL}/versions/1/signature.json")


def test_moving_to_another_key_needs_replace(
    aws: AwsClients, registry: Registry, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.conftest import create_signing_key

    registry.register(MODEL, fitted_logreg(), training_frame(), TARGET)
    new_key = create_signing_key(aws, "alias/next-year")

    code, out, err = run(capsys, "sign", MODEL, "--signing-key", new_key, "--version", "1")
    assert code == 2 and out == ""
    assert "has a signature that does not verify" in err and "--replace" in err

    code, out, err = run(
        capsys, "sign", MODEL, "--signing-key", new_key, "--version", "1", "--replace"
    )
    assert code == 0, err
    assert json.loads(out)[0]["result"] == "signed"
    under_new = describe(capsys, "--signing-key", new_key)["signature"]
    assert under_new["state"] == "verified"
    assert new_key.endswith(under_new["key"].rpartition("/")[2])
    assert describe(capsys)["signature"]["state"] == "refused"  # the old key no longer vouches


def test_registering_without_a_signing_key_is_refused_before_anything_is_written(
    aws: AwsClients, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path
) -> None:
    import joblib

    monkeypatch.delenv("SKLAMBDA_SIGNING_KEY")
    joblib.dump(fitted_logreg(), tmp_path / "model.joblib")
    training_frame().to_csv(tmp_path / "train.csv", index=False)
    code, out, err = run(
        capsys,
        "register",
        MODEL,
        str(tmp_path / "model.joblib"),
        "--train-data",
        str(tmp_path / "train.csv"),
        "--target",
        TARGET,
    )
    assert code == 2
    assert "no signing key configured: set SKLAMBDA_SIGNING_KEY" in err
    assert aws.s3.list_objects_v2(Bucket=MODELS_BUCKET).get("KeyCount", 0) == 0
