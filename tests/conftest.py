"""Shared fixtures: fake credentials, moto, buckets, retrain queue, clients and a registry."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from chalice.test import Client

from chalicelib.core import Settings, reset_settings
from chalicelib.registry import ModelCache, Registry, open_registry
from chalicelib.storage import AwsClients

MODELS_BUCKET = "test-models"
DATA_BUCKET = "test-data"
REGION = "us-east-1"
SIGNING_KEY = "alias/sklambda-signing"  # LOCAL_SIGNING_KEY: moto's key ids vary


@pytest.fixture(autouse=True)
def fake_aws_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Never reach a real account: fake credentials, no endpoint or profile from the shell."""
    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("SKLAMBDA_MODELS_BUCKET", MODELS_BUCKET)
    monkeypatch.setenv("SKLAMBDA_DATA_BUCKET", DATA_BUCKET)
    monkeypatch.setenv("SKLAMBDA_SIGNING_KEY", SIGNING_KEY)


@pytest.fixture
def settings() -> Settings:
    return Settings(
        models_bucket=MODELS_BUCKET, data_bucket=DATA_BUCKET, region=REGION, signing_key=SIGNING_KEY
    )


@pytest.fixture
def aws(settings: Settings) -> Iterator[AwsClients]:
    """moto started before any client exists, with both buckets, the signing key and the
    retrain queue created."""
    from moto import mock_aws

    with mock_aws():
        clients = AwsClients(settings)
        clients.s3.create_bucket(Bucket=MODELS_BUCKET)
        clients.s3.create_bucket(Bucket=DATA_BUCKET)
        create_signing_key(clients)
        # The retraining function's queue, as the stack makes it: the monitor asks through it.
        clients.client("sqs").create_queue(QueueName=settings.retrain_queue)
        yield clients


def create_signing_key(clients: AwsClients, alias: str = SIGNING_KEY) -> str:
    """An RSA signing key in moto's KMS under `alias`, as the stack makes it; its ARN."""
    from sklambda.local.signing import create_signing_key as create

    return create(clients.client("kms"), alias)


@pytest.fixture
def registry(aws: AwsClients) -> Registry:
    """A registry on the moto models bucket with its own (empty) model cache."""
    opened = open_registry(aws)
    opened._cache = ModelCache()
    return opened


@contextmanager
def app_client(tmp_path: Path) -> Iterator[Client]:
    """The app behind chalice's test client, built afresh from the environment as it is."""
    import app as app_module

    # A project without stage variables: the tests' environment (moto's buckets) applies, not
    # the dev stage's bucket names from .chalice/config.json.
    (tmp_path / ".chalice").mkdir()
    (tmp_path / ".chalice" / "config.json").write_text('{"version": "2.0", "app_name": "t"}')
    reset_settings()
    app_module.reset()
    with Client(app_module.app, project_dir=str(tmp_path)) as test_client:
        yield test_client
    reset_settings()
    app_module.reset()
