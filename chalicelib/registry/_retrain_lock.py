"""The retrain lock: one retrain per model at a time, taken over from a crashed run.

<name>/retrain.json                 running or idle, lease, last start, end and result
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from chalicelib.core import ConflictError, iso, parse_iso
from chalicelib.registry._versions import VersionStore
from chalicelib.storage import LeaseHeld, PreconditionFailed, take_lease


class RetrainLock(VersionStore):
    """Begin and end a model's retrain under its lock."""

    def begin_retrain(
        self,
        name: str,
        *,
        trigger: str,
        lease_seconds: float,
        requested_at: datetime | None = None,
        request: str | None = None,
    ) -> dict[str, Any]:
        """Take the model's retrain lock (one retrain per model at a time); its state.

        ConflictError saying who holds it when another retrain is running; a holder silent
        for longer than its lease (a crashed run) is taken over. A retrain asked for at
        `requested_at` (the monitor's request through the retrain queue) is refused with
        ConflictError when a retrain has started since: that one already answered it. The
        same rule makes a redelivered message and requests that piled up while the queue
        was busy retrain once; it is checked on the document the lock is written over, so
        two deliveries racing still retrain once.
        """
        now = self._clock()

        def live(state: Mapping[str, Any]) -> bool:
            if state.get("state") != "running":
                return False
            started = parse_iso(str(state["started_at"]))
            return (now - started).total_seconds() < float(state.get("lease_seconds", 0))

        def claim(state: Mapping[str, Any]) -> dict[str, Any]:
            last = state.get("started_at")
            if requested_at is not None and last and parse_iso(str(last)) >= requested_at:
                raise ConflictError(
                    f"a retrain of {name!r} started at {last} (request "
                    f"{state.get('request')}), after this one was asked for at "
                    f"{iso(requested_at)}; it is not repeated"
                )
            # The document outlives each run: the last run's end and result stay in it.
            return {
                **state,
                "state": "running",
                "trigger": trigger,
                "actor": self._identity(),
                "started_at": iso(now),
                "lease_seconds": lease_seconds,
                "request": request,
            }

        key = self._model_key(name, "retrain.json")
        try:
            lease = take_lease(self._store, key, claim, live=live)
        except LeaseHeld as held:
            state = held.holder
            if not live(state):
                raise ConflictError(
                    f"another retrain of {name!r} started at the same moment; only one runs"
                ) from None
            raise ConflictError(
                f"a retrain of {name!r} is already running (started {state['started_at']} "
                f"by {state.get('actor')}, trigger {state.get('trigger')}); wait for it"
            ) from None
        return {**lease.document, "etag": lease.etag}

    def end_retrain(self, name: str, lock: Mapping[str, Any], result: Mapping[str, Any]) -> None:
        """Release the retrain lock, keeping when the last retrain ended and how."""
        key = self._model_key(name, "retrain.json")
        state = {k: v for k, v in lock.items() if k != "etag"}
        state.update(state="idle", finished_at=iso(self._clock()), last_result=dict(result))
        with contextlib.suppress(PreconditionFailed):  # taken over meanwhile: theirs now
            self._store.put_json(key, state, if_match=lock["etag"])

    def retrain_state(self, name: str) -> dict[str, Any]:
        """The retrain lock's document: running or idle, last start, end and result."""
        state, _ = self._store.read_json(self._model_key(name, "retrain.json"))
        return dict(state or {})
