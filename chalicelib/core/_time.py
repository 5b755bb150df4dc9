"""UTC time as every stored document writes it: ISO 8601 with a `Z`, parsed back leniently.

Documents (manifests, claims, aliases, reports) hold times as text; one format for all of
them keeps them comparable as strings and readable by people and by `jq`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any


def utc_now() -> datetime:
    """Now, timezone-aware in UTC."""
    return datetime.now(UTC)


def iso(moment: datetime, *, ms: bool = True) -> str:
    """`2026-12-02T07:52:50.123Z` (or to the second with `ms=False`)."""
    spec = "milliseconds" if ms else "seconds"
    return moment.astimezone(UTC).isoformat(timespec=spec).replace("+00:00", "Z")


def now_iso() -> str:
    """The current time as `iso` writes it."""
    return iso(utc_now())


def parse_iso(text: str) -> datetime:
    """A time as `iso` (or any ISO 8601 writer) wrote it; ValueError when it is not one."""
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def parse_time(text: Any) -> datetime | None:
    """Like `parse_iso`, for values read from documents: None when absent or malformed."""
    if not isinstance(text, str) or not text:
        return None
    try:
        return parse_iso(text)
    except ValueError:
        return None
