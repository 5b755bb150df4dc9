"""Fixtures of the monitoring tests."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from chalicelib.registry import Registry
from chalicelib.storage import AwsClients
from tests.monitoring.world import MODEL, MonitorWorld


@pytest.fixture
def world(aws: AwsClients, registry: Registry) -> MonitorWorld:
    built = MonitorWorld(aws, registry)
    built.register()
    registry.promote(MODEL, 1)
    return built


@pytest.fixture
def api(aws: AwsClients, tmp_path):
    from chalice.test import Client

    import app as app_module
    from chalicelib.core import reset_settings

    (tmp_path / ".chalice").mkdir()
    (tmp_path / ".chalice" / "config.json").write_text('{"version": "2.0", "app_name": "t"}')
    reset_settings()
    app_module.reset()
    with Client(app_module.app, project_dir=str(tmp_path)) as test_client:
        yield test_client
    reset_settings()
    app_module.reset()


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
