"""Fixtures shared by the monitoring tests: `world` (tests/monitoring/test_monitor.py)."""

from tests.monitoring.test_monitor import world

__all__ = ["world"]
