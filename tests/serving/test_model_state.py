"""How long the prediction server trusts what it read about a model (aliases, misses)."""

from __future__ import annotations

import pytest

from chalicelib.core import NotFoundError
from chalicelib.registry import Registry
from chalicelib.serving import UNKNOWN_MODEL_TTL, Capturer, ModelServer, NoCaptureSink
from sklambda.sample_data import TARGET
from tests.models import fitted_logreg, training_frame


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_model_registered_after_a_miss_is_found_within_seconds(registry: Registry) -> None:
    clock = Clock()
    server = ModelServer(registry, Capturer(NoCaptureSink()), ttl_seconds=30, clock=clock)
    with pytest.raises(NotFoundError):
        server.state("churn")

    registry.register("churn", fitted_logreg(), training_frame(), TARGET)
    registry.promote("churn", 1)
    with pytest.raises(NotFoundError):
        server.state("churn")  # the miss is still cached: a wrong name costs S3 little
    clock.now += UNKNOWN_MODEL_TTL

    assert server.state("churn").aliases["champion"]["version"] == 1


def test_promotions_apply_within_the_ttl_not_before(registry: Registry) -> None:
    registry.register("churn", fitted_logreg(), training_frame(), TARGET)
    registry.register("churn", fitted_logreg(), training_frame(), TARGET)
    registry.promote("churn", 1)
    clock = Clock()
    server = ModelServer(registry, Capturer(NoCaptureSink()), ttl_seconds=30, clock=clock)
    assert server.state("churn").aliases["champion"]["version"] == 1

    registry.promote("churn", 2)
    clock.now += 29
    assert server.state("churn").aliases["champion"]["version"] == 1
    clock.now += 1
    assert server.state("churn").aliases["champion"]["version"] == 2
