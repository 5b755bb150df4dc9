"""The trust chain, tried as an attacker who can write the models prefix would: a crafted
pickle put in place of a version's artifact, with the recorded sha256 rewritten to match, must
never run, whichever function meets it first (HTTP, batch, the monitor, retraining)."""

from __future__ import annotations

import io
import pickle
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import joblib
import pytest
from chalice.test import Client

from chalicelib.core import RetrainFailed, SignatureError
from chalicelib.registry import ModelCache, Registry, open_registry
from chalicelib.services import retrainer
from chalicelib.storage import AwsClients, ObjectStore
from sklambda.local.events import drain, scheduled_event
from sklambda.sample_data import TARGET
from tests.app.test_api import post, records
from tests.batch.world import BatchWorld, csv_bytes, customers
from tests.conftest import DATA_BUCKET, MODELS_BUCKET, REGION, create_signing_key
from tests.models import fitted_logreg, training_frame
from tests.user_code import clear_loaded_models

MODEL = "churn"
ARTIFACT = f"models/{MODEL}/versions/1/model.joblib"
METADATA = f"models/{MODEL}/versions/1/metadata.json"


class Payload:
    """Unpickling this writes the sentinel file: proof that the attacker's code ran."""

    def __init__(self, sentinel: Path) -> None:
        self.sentinel = sentinel

    def __reduce__(self) -> tuple[Any, ...]:
        return (exec, (f"open({str(self.sentinel)!r}, 'w').write('ran')",))


@pytest.fixture(autouse=True)
def fresh_models() -> Iterator[None]:
    clear_loaded_models()  # the app's registry shares the process-wide cache
    yield
    clear_loaded_models()


@pytest.fixture
def sentinel(tmp_path: Path) -> Path:
    return tmp_path / "the-pickle-ran"


@pytest.fixture
def swapped(registry: Registry, aws: AwsClients, sentinel: Path) -> Registry:
    """A champion whose artifact was replaced by a crafted pickle, and its metadata rewritten
    so that the recorded sha256 and size match the crafted bytes."""
    registry.register(MODEL, fitted_logreg(), training_frame(), TARGET)
    registry.promote(MODEL, 1)
    crafted = pickle.dumps(Payload(sentinel))
    store = ObjectStore(aws.s3, MODELS_BUCKET)
    store.put_bytes(ARTIFACT, crafted)
    metadata, _ = store.get_json(METADATA)
    metadata["artifact"].update(sha256=_sha256(crafted), size_bytes=len(crafted))
    store.put_json(METADATA, metadata)
    return registry


def test_the_crafted_pickle_would_run_if_it_were_loaded(tmp_path: Path) -> None:
    # The control: without the chain, loading the attacker's bytes runs their code.
    sentinel = tmp_path / "control"
    joblib.load(io.BytesIO(pickle.dumps(Payload(sentinel))))
    assert sentinel.read_text() == "ran"


def test_the_registry_refuses_it_before_unpickling(
    swapped: Registry, aws: AwsClients, sentinel: Path
) -> None:
    fresh = open_registry(aws)
    fresh._cache = ModelCache()
    with pytest.raises(SignatureError, match="metadata.json does not match its signed sha256"):
        fresh.load(MODEL, 1)
    assert not sentinel.exists()
    status = fresh.signature_status(MODEL, 1)
    assert status["state"] == "refused"
    assert "metadata.json does not match its signed sha256" in status["reason"]


def test_an_artifact_swapped_alone_is_refused_too(
    registry: Registry, aws: AwsClients, sentinel: Path
) -> None:
    registry.register(MODEL, fitted_logreg(), training_frame(), TARGET)
    ObjectStore(aws.s3, MODELS_BUCKET).put_bytes(ARTIFACT, pickle.dumps(Payload(sentinel)))
    status = registry.signature_status(MODEL, 1)
    assert status["state"] == "refused"
    assert "model.joblib does not match its signed sha256" in status["reason"]
    with pytest.raises(SignatureError, match="model.joblib does not match its signed sha256"):
        registry.load(MODEL, 1)
    assert not sentinel.exists()


def test_http_refuses_it_and_describe_says_why(
    swapped: Registry,
    client: Client,
    sentinel: Path,
) -> None:
    response = post(client, f"/models/{MODEL}/predict", {"records": records(2)})
    assert response.status_code == 500
    assert response.json_body["error"] == "SignatureRefused"
    assert "model.joblib" not in response.json_body["message"]  # internals stay in the log
    assert not sentinel.exists()
    described = client.http.get(f"/models/{MODEL}").json_body
    assert described["signature"]["state"] == "refused"
    assert "does not match its signed sha256" in described["signature"]["reason"]


def test_batch_fails_the_file_with_the_reason(
    swapped: Registry, aws: AwsClients, sentinel: Path
) -> None:
    world = BatchWorld(aws, swapped)
    world.drop(f"batch/incoming/{MODEL}/customers.csv", csv_bytes(customers(20)))
    world.run()
    manifest = world.manifest("customers.csv")
    assert manifest["status"] == "failed"
    assert "does not match its signed sha256" in manifest["reason"]
    assert not sentinel.exists()


def test_the_monitor_and_retraining_refuse_it(
    swapped: Registry, aws: AwsClients, sentinel: Path
) -> None:
    body = training_frame().to_csv(index=False).encode()
    ObjectStore(aws.s3, DATA_BUCKET).put_bytes(f"training/{MODEL}/fresh.csv", body)
    swapped.set_policy(MODEL, {"every_days": 1e-6, "action": "register"})

    _monitor()  # the policy asks for a retrain; the retraining function loads the champion
    _retraining_function(aws)
    failed = [d for d in swapped.decisions(MODEL) if d["action"] == "retrain-failed"]
    assert "does not match its signed sha256" in failed[0]["reason"]
    with pytest.raises(RetrainFailed, match="does not match its signed sha256"):
        retrainer(aws, swapped).retrain(MODEL, trigger="cli", reason="test")
    assert not sentinel.exists()
    assert swapped.list_versions(MODEL) == [1]  # nothing was registered from it


def test_a_swapped_profile_is_refused_by_the_monitor(registry: Registry, aws: AwsClients) -> None:
    registry.register(MODEL, fitted_logreg(), training_frame(), TARGET)
    registry.promote(MODEL, 1)
    store = ObjectStore(aws.s3, MODELS_BUCKET)
    key = f"models/{MODEL}/versions/1/profile.json"
    profile, _ = store.get_json(key)
    store.put_json(key, {**profile, "rows": 1})  # e.g. to hide drift
    outcome = _monitor()
    assert outcome["models"][MODEL]["status"] == "failed"
    assert "profile.json does not match its signed sha256" in outcome["models"][MODEL]["reason"]


def test_a_version_signed_by_another_key_is_refused(aws: AwsClients, settings: Any) -> None:
    other_key = create_signing_key(aws, "alias/somebody-elses")
    outsider = open_registry(AwsClients(settings.with_overrides(signing_key=other_key)))
    outsider.register(MODEL, fitted_logreg(), training_frame(), TARGET)
    ours = open_registry(aws)
    ours._cache = ModelCache()
    with pytest.raises(SignatureError, match="not made by the registry's signing key"):
        ours.load(MODEL, 1)


def test_a_signature_copied_from_another_version_is_refused(
    registry: Registry, aws: AwsClients
) -> None:
    registry.register(MODEL, fitted_logreg(), training_frame(), TARGET)
    registry.register(MODEL, fitted_logreg(), training_frame(), TARGET)
    store = ObjectStore(aws.s3, MODELS_BUCKET)
    first, _ = store.get_bytes(f"models/{MODEL}/versions/1/signature.json")
    store.put_bytes(f"models/{MODEL}/versions/2/signature.json", first)
    with pytest.raises(SignatureError, match="its signature is for 'churn' version 1"):
        registry.load(MODEL, 2)


def _monitor() -> dict[str, Any]:
    """One run of the scheduled monitor function, as EventBridge starts it."""
    import app as app_module

    app_module.reset()
    at = (datetime.now(UTC) + timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    event = scheduled_event("monitor_models", REGION, event_id=f"e-{at}", at=at)
    return dict(app_module.monitor_models(event, None))


def _retraining_function(aws: AwsClients) -> int:
    """The retrain queue delivered to the app's retraining function, as Lambda does."""
    import app as app_module

    sqs = aws.client("sqs")
    url = sqs.get_queue_url(QueueName=aws.settings.retrain_queue)["QueueUrl"]
    return drain(sqs, url, app_module.retrain_model, batch_size=1)


def _sha256(data: bytes) -> str:
    import hashlib

    return hashlib.sha256(data).hexdigest()
