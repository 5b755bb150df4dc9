"""Fixtures of the batch tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from chalicelib.core import reset_settings
from chalicelib.registry import Registry
from chalicelib.storage import AwsClients
from sklambda.sample_data import TARGET
from tests.batch.world import BatchWorld
from tests.models import fitted_logreg, training_frame


@pytest.fixture
def world(aws: AwsClients, registry: Registry) -> Iterator[BatchWorld]:
    import app as app_module

    registry.register("churn", fitted_logreg(), training_frame(), TARGET)
    registry.promote("churn", 1)
    reset_settings()
    app_module.reset()
    yield BatchWorld(aws, registry)
    reset_settings()
    app_module.reset()
