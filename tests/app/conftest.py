"""Fixtures of the app tests: `box`, production in a sandbox (tests/app/production.py);
`client`, the app behind chalice's test client on moto; `champion`, churn version 1 live."""

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from chalice.test import Client

from chalicelib.core import reset_settings
from chalicelib.registry import Registry
from chalicelib.storage import AwsClients
from sklambda.sample_data import TARGET
from tests.app.production import box
from tests.models import fitted_logreg, training_frame

__all__ = ["app_client", "box", "champion", "client"]


@pytest.fixture
def champion(registry: Registry) -> Registry:
    registry.register("churn", fitted_logreg(), training_frame(), TARGET)
    registry.promote("churn", 1)
    return registry


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


@pytest.fixture
def client(aws: AwsClients, tmp_path: Path) -> Iterator[Client]:
    with app_client(tmp_path) as test_client:
        yield test_client
