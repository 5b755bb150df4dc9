"""The monitor's objects under `reports/<model>/` in the data bucket.

```
reports/<model>/<yyyymmddThhmmssZ>.json|.html   one run's report and its page
reports/<model>/latest.json                     points at the newest run
reports/<model>/_runs/<event id>.json           claim of one scheduled event (idempotency)
```
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from chalicelib.core import NotFoundError, iso, logger, parse_time, utc_now
from chalicelib.monitoring._document import MonitorReport
from chalicelib.storage import (
    LeaseHeld,
    ObjectMissing,
    ObjectStore,
    PreconditionFailed,
    take_lease,
)

CLAIM_LEASE = timedelta(minutes=20)  # longer than the monitor's Lambda timeout (15 min)
_EVENT_ID = re.compile(r"^[A-Za-z0-9._-]{1,128}$")


class ReportStore:
    """Claims, reports and the latest-report pointer of every model."""

    def __init__(self, data: ObjectStore, prefix: str) -> None:
        self.data = data
        self.prefix = prefix

    # -- claims: one run per scheduled event ----------------------------------------------
    def _claim_key(self, name: str, event_id: str) -> str:
        if not _EVENT_ID.match(event_id):
            event_id = hashlib.sha256(event_id.encode()).hexdigest()
        return f"{self.prefix}{name}/_runs/{event_id}.json"

    def claim(self, name: str, event_id: str) -> str | None:
        """The claim's ETag, or None when this event was (or is being) handled already."""
        claim = {"event_id": event_id, "status": "running", "started_at": iso(utc_now())}

        def live(held: Mapping[str, Any]) -> bool:
            # A run that died without finishing goes stale after the lease: taken over.
            started = parse_time(held.get("started_at"))
            fresh = started is not None and utc_now() - started < CLAIM_LEASE
            return held.get("status") == "done" or fresh

        try:
            key = self._claim_key(name, event_id)
            return take_lease(self.data, key, lambda _: claim, live=live).etag
        except LeaseHeld as held:
            logger.info("monitor run already handled", extra={"model": name, "claim": held.holder})
            return None

    def release(self, name: str, event_id: str) -> None:
        """Drop a claim after a failure, so a retry of the same event runs again."""
        try:
            self.data.delete(self._claim_key(name, event_id))
        except Exception:  # noqa: BLE001 - the lease expires anyway
            logger.warning("could not release the monitor claim", extra={"model": name})

    def mark_done(self, name: str, event_id: str, etag: str, report_key: str) -> None:
        done = {
            "event_id": event_id,
            "status": "done",
            "report": report_key,
            "finished_at": iso(utc_now()),
        }
        try:
            self.data.put_json(self._claim_key(name, event_id), done, if_match=etag)
        except PreconditionFailed:
            logger.warning("monitor claim was taken over", extra={"model": name})

    # -- reports --------------------------------------------------------------------------
    def write(self, name: str, at: datetime, report: MonitorReport, html: str) -> str:
        """Store a run's report and page, then point `latest.json` at them; the JSON key."""
        base = f"{self.prefix}{name}/{at.strftime('%Y%m%dT%H%M%SZ')}"
        self.data.put_json(f"{base}.json", report)
        self.data.put_bytes(f"{base}.html", html.encode(), content_type="text/html; charset=utf-8")
        self._point_latest(name, at, base)
        return f"{base}.json"

    def _point_latest(self, name: str, at: datetime, base: str) -> None:
        key = f"{self.prefix}{name}/latest.json"
        pointer = {"at": iso(at, ms=False), "json": f"{base}.json", "html": f"{base}.html"}
        current, etag = self.data.read_json(key)
        if current and str(current.get("at", "")) > pointer["at"]:
            return  # a late retry of an older event must not hide a newer report
        try:
            self.data.replace_json(key, pointer, etag)
        except PreconditionFailed:
            logger.warning("latest report pointer changed meanwhile", extra={"model": name})

    def latest_pointer(self, name: str) -> dict[str, Any] | None:
        try:
            pointer, _ = self.data.get_json(f"{self.prefix}{name}/latest.json")
        except ObjectMissing:
            return None
        return pointer if isinstance(pointer, dict) else None

    def latest_report(self, name: str, *, missing_ok: bool = False) -> dict[str, Any] | None:
        """The newest report of a model; NotFoundError (or None) when there is none."""
        pointer = self.latest_pointer(name)
        if pointer is not None:
            try:
                report, _ = self.data.get_json(str(pointer["json"]))
                return dict(report)
            except ObjectMissing:
                pass
        if missing_ok:
            return None
        raise no_report(name)

    def latest_html(self, name: str) -> str:
        """The newest report page of a model; NotFoundError when there is none."""
        pointer = self.latest_pointer(name)
        if pointer is not None:
            try:
                body, _ = self.data.get_bytes(str(pointer["html"]))
                return body.decode()
            except ObjectMissing:
                pass
        raise no_report(name)


def no_report(name: str) -> NotFoundError:
    return NotFoundError(
        f"no monitor report for model {name!r} yet; the monitor writes one on its schedule, "
        f"or run it now: sklambda monitor {name}"
    )
