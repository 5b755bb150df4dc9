"""Fixtures of the monitoring tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from chalicelib.registry import Registry
from chalicelib.storage import AwsClients
from tests.conftest import app_client
from tests.monitoring.world import MODEL, MonitorWorld


@pytest.fixture
def world(aws: AwsClients, registry: Registry) -> MonitorWorld:
    built = MonitorWorld(aws, registry)
    built.register()
    registry.promote(MODEL, 1)
    return built


@pytest.fixture
def api(aws: AwsClients, tmp_path: Path) -> Iterator[Any]:
    with app_client(tmp_path) as test_client:
        yield test_client


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Keys of the capture objects read (by the monitor or the aggregating function)."""
    from chalicelib.monitoring._sources import MonitorSources

    seen: list[str] = []
    original = MonitorSources.object_records

    def counting(self: MonitorSources, key: str) -> Iterator[dict[str, Any]]:
        seen.append(key)
        return original(self, key)

    monkeypatch.setattr(MonitorSources, "object_records", counting)
    return seen
