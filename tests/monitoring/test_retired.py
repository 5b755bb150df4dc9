"""A retired model is not monitored (so publishes no metrics and no alarm can fire for it);
restoring it resumes monitoring."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from chalicelib.core import GoneError
from chalicelib.monitoring import MonitorRun
from tests.monitoring.world import MODEL, MonitorWorld


def test_a_retired_model_is_skipped_and_monitored_again_once_restored(
    world: MonitorWorld,
) -> None:
    assert world.monitor.monitored_models() == [MODEL]
    world.registry.retire(MODEL, reason="closed")

    assert world.monitor.monitored_models() == []
    run = MonitorRun("event-retired", datetime.now(UTC), "schedule", 24)
    assert world.monitor.run_all(run)["models"] == {}
    with pytest.raises(GoneError, match="is retired .*so it is not monitored"):
        world.monitor.check_monitored(MODEL)

    world.registry.restore(MODEL, reason="back")
    assert world.monitor.monitored_models() == [MODEL]
    world.monitor.check_monitored(MODEL)
