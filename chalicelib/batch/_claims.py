"""Job claims: one worker at a time per input version (or part of one).

A claim is `<jobs><job id>.json`, created with If-None-Match. A fresh claim held by another
worker makes the caller back off (JobInProgress: its message comes back later); a stale one,
with no heartbeat within the lease, is taken over with If-Match. The holder's heartbeat
renews the claim and records progress, which `sklambda batch --wait` shows.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from chalicelib.storage import LeaseHeld, ObjectStore, take_lease

Heartbeat = Callable[[dict[str, Any]], None]


class JobInProgress(Exception):
    """Another worker holds this input's claim; the message should come back later."""


class JobClaims:
    """The claims of batch jobs under one prefix of the data bucket."""

    def __init__(
        self,
        store: ObjectStore,
        prefix: str,
        *,
        lease_seconds: float = 960.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.prefix = prefix
        self._lease = lease_seconds
        self._clock = clock

    @contextmanager
    def claim(self, job: str) -> Iterator[Heartbeat]:
        """Hold the job's claim; yields a heartbeat that renews it and records progress."""
        key = f"{self.prefix}{job}.json"
        claim = {"heartbeat_at": self._clock()}

        def live(held: Mapping[str, Any]) -> bool:
            # A holder that stopped beating for a whole lease is gone: take the job over.
            return self._clock() - float(held.get("heartbeat_at", 0)) < self._lease

        try:
            take_lease(self.store, key, lambda _: claim, live=live)
        except LeaseHeld:
            raise JobInProgress(job) from None

        def heartbeat(progress: dict[str, Any]) -> None:
            self.store.put_json(key, {"heartbeat_at": self._clock(), **progress})

        try:
            yield heartbeat
        finally:
            self.store.delete(key)
