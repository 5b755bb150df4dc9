"""The retrain lock: one retrain per model at a time, taken over from a crashed run.

<name>/retrain.json                 running or idle, lease, last start, end and result
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import Any

from chalicelib.core import ConflictError, iso, parse_iso
from chalicelib.registry._versions import VersionStore
from chalicelib.storage import LeaseHeld, PreconditionFailed, take_lease


class RetrainLock(VersionStore):
    """Begin and end a model's retrain under its lock."""

    def begin_retrain(self, name: str, *, trigger: str, lease_seconds: float) -> dict[str, Any]:
        """Take the model's retrain lock (one retrain per model at a time); its state.

        ConflictError saying who holds it when another retrain is running; a holder silent
        for longer than its lease (a crashed run) is taken over.
        """
        now = self._clock()

        def live(state: Mapping[str, Any]) -> bool:
            if state.get("state") != "running":
                return False
            started = parse_iso(str(state["started_at"]))
            return (now - started).total_seconds() < float(state.get("lease_seconds", 0))

        def claim(state: Mapping[str, Any]) -> dict[str, Any]:
            # The document outlives each run: the last run's end and result stay in it.
            return {
                **state,
                "state": "running",
                "trigger": trigger,
                "actor": self._identity(),
                "started_at": iso(now),
                "lease_seconds": lease_seconds,
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
