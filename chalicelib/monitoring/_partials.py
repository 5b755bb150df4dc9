"""Partial aggregates: what the capture of one delivery hour, one scored batch file, or the
labels of one prediction hour add to one version's figures, stored once and merged by every
later run.

```
reports/_partials/<model>/<version>/<yyyy-mm-ddThh>.json         a capture delivery hour
reports/_partials/<model>/<version>/batch/<digest>.json          a scored batch file
reports/_partials/<model>/<version>/labels/<yyyy-mm-ddThh>.json  labels of the predictions
                                                                 made in that hour
    {"format": 1, "model", "version", "slice",
     "sources": {<object key>: <size>, ...}  what it has added up (for labels: the
                                             prediction ids counted, each once)
     "state": VersionWindow.state(), or QualityTally.state() for labels}
reports/_partials/_objects/<yyyy-mm-ddThh>/<digest>-<size>.<digest>-<size>...   empty:
                        those capture objects are added up for every version in them
reports/_partials/<model>/_feedback/<yyyy-mm-ddThh>.json  feedback objects written in that
                                                      hour, joined, and what each held
```

The aggregating function adds each object as it lands (`_arrivals.py`); a monitor run reads
only what no partial has added yet, so a 24-hour window costs the few objects that landed
since, plus small documents. The `sources` make every addition idempotent: an object (or a
labelled prediction) is added to a partial at most once, whoever reads it, and an object that
lands late in an hour already aggregated (Firehose buffers up to 15 minutes) is added when it
lands. Writers race through If-Match: the aggregating function reads again and retries; a
monitor run whose write is refused still uses what it read, and what it had added is added by
whoever comes next, never twice.
"""

from __future__ import annotations

import hashlib
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from chalicelib.core import logger
from chalicelib.storage import ObjectStore, PreconditionFailed

if TYPE_CHECKING:
    from chalicelib.monitoring._window import VersionWindow

PARTIAL_FORMAT = 1
# Writers of one partial at once (aggregators of objects of the same hour): each conflict
# costs a read and a write, and a few dozen attempts outlast any realistic burst.
_ATTEMPTS = 30
# Capture markers named in one empty object's key (S3 keys hold 1,024 bytes; each takes ~32).
_MARKERS_PER_KEY = 20


@dataclass
class HourPartial:
    """One partial: its state and what it has added up (object key -> size, or id -> 1)."""

    sources: dict[str, int] = field(default_factory=dict)  # object key -> size
    state: dict[str, Any] | None = None
    etag: str | None = None  # as read; None when there was none

    def covers(self, key: str, size: int) -> bool:
        """Whether this object (as listed now) has been added."""
        return self.sources.get(key) == size

    def usable_by(self, window: VersionWindow) -> bool:
        """Whether the stored state merges into `window`; a state that does not (written by a
        release with other bins, or damaged) is dropped, so its objects are read again."""
        if self.state is None:
            return True
        try:
            window.fresh().merge(self.state)
        except (KeyError, TypeError, ValueError):
            logger.warning("a stored partial does not fit its version's window; reading again")
            self.sources, self.state = {}, None
            return False
        return True


class PartialStore:
    """The partials of every model's versions under the reports prefix."""

    def __init__(self, data: ObjectStore, prefix: str) -> None:
        self.data = data
        self.prefix = prefix

    def key(self, model: str, version: int, slice_name: str) -> str:
        # Under one folder of their own (no model name starts with "_"), which the stack's
        # lifecycle rule expires with the capture they aggregate.
        return f"{self.prefix}_partials/{model}/{version}/{slice_name}.json"

    def read(self, model: str, version: int, slice_name: str) -> HourPartial:
        """The stored partial, or an empty one; an unreadable document counts as absent (its
        objects are read again, which costs time, never a double count)."""
        return self._read(self.key(model, version, slice_name))

    def write(self, model: str, version: int, slice_name: str, partial: HourPartial) -> bool:
        """Store `partial` unless another writer changed it since it was read (then False)."""
        key = self.key(model, version, slice_name)
        try:
            self._write(key, partial, model=model, version=version, slice=slice_name)
        except PreconditionFailed:
            logger.info(
                "partial written by another run meanwhile; this run's is not stored",
                extra={"model": model, "version": version, "slice": slice_name},
            )
            return False
        return True

    def update(
        self, model: str, version: int, slice_name: str, change: Callable[[HourPartial], bool]
    ) -> HourPartial:
        """Read the partial, `change` it (False: nothing to write) and write it back, reading
        again whenever another writer got there first; the partial as stored."""
        return self._update(
            self.key(model, version, slice_name),
            change,
            model=model,
            version=version,
            slice=slice_name,
        )

    def slices(self, model: str, version: int, folder: str) -> list[str]:
        """The slice names stored under one folder of a version's partials (e.g. labels)."""
        prefix = self.key(model, version, f"{folder}/")[: -len(".json")]
        return [
            f"{folder}/{key[len(prefix) : -len('.json')]}"
            for key in self.data.list_keys(prefix)
            if key.endswith(".json")
        ]

    # -- ledgers: which objects were added up, for every version at once -----------------
    def aggregated_capture(self, hour: datetime) -> set[str]:
        """Markers (`capture_marker`) of the capture objects of a delivery hour added to every
        version's partial they hold: one listing, however many objects."""
        prefix = self._markers(hour)
        return {
            marker
            for key in self.data.list_keys(prefix)
            for marker in key[len(prefix) :].split(".")
        }

    def mark_capture(self, hour: datetime, objects: Sequence[tuple[str, int]]) -> None:
        """Record that these capture objects (key, size) of one delivery hour are in the
        partials of every version they hold: an empty object named after them (one PUT per
        batch, no read, no race between the function's containers)."""
        for start in range(0, len(objects), _MARKERS_PER_KEY):
            names = sorted({capture_marker(*o) for o in objects[start : start + _MARKERS_PER_KEY]})
            self.data.put_bytes(self._markers(hour) + ".".join(names), b"")

    def feedback_ledger(self, model: str, hour: datetime) -> HourPartial:
        """Feedback objects of `model` written in `hour` that were joined: `sources` (key ->
        size) and, in `state`, what each held (labels, joined, unusable rows, pending ids)."""
        return self._read(self._ledger(f"{model}/_feedback/{hour_slice(hour)}"))

    def record_feedback(
        self, model: str, hour: datetime, key: str, size: int, outcome: dict[str, Any]
    ) -> None:
        """Record what joining feedback object `key` (of `size` bytes) found."""

        def record(ledger: HourPartial) -> bool:
            ledger.sources[key] = size
            ledger.state = {**(ledger.state or {}), key: outcome}
            return True

        self._update(self._ledger(f"{model}/_feedback/{hour_slice(hour)}"), record, model=model)

    # -- documents ------------------------------------------------------------------------
    def _markers(self, hour: datetime) -> str:
        return f"{self.prefix}_partials/_objects/{hour_slice(hour)}/"

    def _ledger(self, name: str) -> str:
        return f"{self.prefix}_partials/{name}.json"

    def _read(self, key: str) -> HourPartial:
        document, etag = self.data.read_json(key)
        if not isinstance(document, dict) or document.get("format") != PARTIAL_FORMAT:
            return HourPartial(etag=etag)
        return HourPartial(dict(document["sources"]), document["state"], etag)

    def _write(self, key: str, partial: HourPartial, **fields: Any) -> None:
        document = {"format": PARTIAL_FORMAT, **fields}
        document.update(sources=partial.sources, state=partial.state)
        partial.etag = self.data.replace_json(key, document, partial.etag)

    def _update(
        self, key: str, change: Callable[[HourPartial], bool], **fields: Any
    ) -> HourPartial:
        for attempt in range(_ATTEMPTS):
            partial = self._read(key)
            if not change(partial):
                return partial
            try:
                self._write(key, partial, **fields)
            except PreconditionFailed:
                time.sleep(random.uniform(0, min(1.0, 0.02 * 2**attempt)))  # noqa: S311
                continue
            return partial
        raise PartialConflict(f"{key}: {_ATTEMPTS} writers in a row got there first")


class PartialConflict(Exception):
    """A partial changed under every attempt to update it: the event is retried later."""


def capture_marker(key: str, size: int) -> str:
    """The name that says one capture object, as listed at this size, was added up."""
    return f"{hashlib.sha256(key.encode()).hexdigest()[:20]}-{size}"


def hour_slice(hour: datetime) -> str:
    """The slice name of a capture delivery hour."""
    return f"{hour:%Y-%m-%dT%H}"


def batch_slice(scored_key: str, job_id: str) -> str:
    """The slice name of one scoring of a batch file (a new upload is a new job)."""
    return "batch/" + hashlib.sha256(f"{scored_key}\n{job_id}".encode()).hexdigest()[:32]
