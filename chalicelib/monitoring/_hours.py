"""Which UTC hours hold what: the capture's delivery hours (Firehose's time prefix) around a
prediction, the hours of a window, and the hour a capture object's key names."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


def hours_between(start: datetime, end: datetime) -> list[datetime]:
    """Every UTC hour that overlaps [start, end), as the hour's start."""
    hour = start.replace(minute=0, second=0, microsecond=0)
    hours = []
    while hour < end:
        hours.append(hour)
        hour += timedelta(hours=1)
    return hours


def hour_and_next(moment: datetime) -> tuple[datetime, datetime]:
    """The hours where what was made at `moment` can land: Firehose delivers a capture record
    up to 15 minutes later, and a batch file finishes after its ids were made."""
    hour = moment.replace(minute=0, second=0, microsecond=0)
    return hour, hour + timedelta(hours=1)


# Firehose names a capture object after the arrival of its oldest record and fills it for at
# most its buffer interval (15 minutes): a record can be in an object named that much earlier.
# A minute more for clocks.
CAPTURE_SPAN = timedelta(minutes=16)


def capture_hours(moment: datetime) -> list[datetime]:
    """The delivery hours whose capture objects can hold a record made at `moment`: that of
    an object opened up to CAPTURE_SPAN before it, its own, and the next (late delivery)."""
    hour = (moment - CAPTURE_SPAN).replace(minute=0, second=0, microsecond=0)
    last = moment.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    hours = []
    while hour <= last:
        hours.append(hour)
        hour += timedelta(hours=1)
    return hours


def capture_hour_prefix(capture_prefix: str, hour: datetime) -> str:
    """Firehose's default (UTC) time prefix of objects delivered in that hour."""
    return f"{capture_prefix}{hour:%Y/%m/%d/%H}/"


def delivery_hour(capture_prefix: str, key: str) -> datetime | None:
    """The delivery hour a capture object's key names (`capture_hour_prefix`), or None."""
    parts = key[len(capture_prefix) :].split("/") if key.startswith(capture_prefix) else []
    if len(parts) < 5 or not all(p.isdigit() for p in parts[:4]):
        return None
    try:
        year, month, day, hour = (int(p) for p in parts[:4])
        return datetime(year, month, day, hour, tzinfo=UTC)
    except ValueError:
        return None
