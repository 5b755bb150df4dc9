"""One monitor run: which event asked for it, and the window of traffic it looks at."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from chalicelib.core import parse_iso, utc_now


@dataclass(frozen=True)
class MonitorRun:
    """One run: which event asked for it, and the end of the window it looks at."""

    event_id: str
    at: datetime
    trigger: str = "schedule"
    window_hours: int = 24

    @property
    def start(self) -> datetime:
        return self.at - timedelta(hours=self.window_hours)

    @classmethod
    def on_demand(cls, window_hours: int) -> MonitorRun:
        """A run asked for from the command line, ending now."""
        return cls(uuid.uuid4().hex, utc_now(), "cli", window_hours)

    @classmethod
    def from_schedule(cls, event_id: str, time: str, window_hours: int) -> MonitorRun:
        """A run for an EventBridge scheduled event (`id`, `time`)."""
        try:
            at = parse_iso(time).astimezone(UTC)
        except (AttributeError, ValueError):
            at = utc_now()
        return cls(event_id or uuid.uuid4().hex, at, "schedule", window_hours)
