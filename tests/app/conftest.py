"""Fixtures of the app tests: `box`, production in a sandbox (tests/app/production.py);
`client`, the app behind chalice's test client on moto; `champion`, churn version 1 live."""

from collections.abc import Iterator
from pathlib import Path

import pytest
from chalice.test import Client

from chalicelib.registry import Registry
from chalicelib.storage import AwsClients
from sklambda.sample_data import TARGET
from tests.app.production import box
from tests.conftest import app_client
from tests.models import fitted_logreg, training_frame

__all__ = ["box", "champion", "client"]


@pytest.fixture
def champion(registry: Registry) -> Registry:
    registry.register("churn", fitted_logreg(), training_frame(), TARGET)
    registry.promote("churn", 1)
    return registry


@pytest.fixture
def client(aws: AwsClients, tmp_path: Path) -> Iterator[Client]:
    with app_client(tmp_path) as test_client:
        yield test_client
