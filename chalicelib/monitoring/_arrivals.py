"""The aggregating function: each object that lands in the data bucket is added to its
partials once, soon after it lands, many objects in parallel (S3 → SQS → Lambda, as batch
scoring).

- A capture object (a Firehose delivery under `capture/YYYY/MM/DD/HH/`): its records are
  binned by model and version into each version's partial of the delivery hour (one update
  per version and hour for a whole SQS batch), then an empty marker object, named after the
  batch's objects, records that every version in them has them.
- A feedback object (`feedback/<model>/...`): its labels are joined with the predictions they
  name and counted in the hours those were made (`_labels.py`).
- A scored batch file's manifest (`batch/scored/<model>/...manifest.json`): every row of the
  input and scored files, into the file's own partial (`_batch_scan.py`).

Every step is idempotent (the partials' `sources`), so a duplicated or retried message adds
nothing twice; writers of one partial race through If-Match and retry. A monitor run reads
whatever the function has not reached yet, so figures never depend on it keeping up.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, cast

from chalicelib.core import NotFoundError, logger, utc_now
from chalicelib.monitoring._batch_scan import batch_partial
from chalicelib.monitoring._hours import delivery_hour
from chalicelib.monitoring._labels import LabelJoiner
from chalicelib.monitoring._partials import HourPartial, PartialStore, hour_slice
from chalicelib.monitoring._sources import MANIFEST_SUFFIX, MonitorSources
from chalicelib.monitoring._window import VersionWindow
from chalicelib.registry import Registry
from chalicelib.storage import ObjectMissing

if TYPE_CHECKING:
    from chalicelib.batch import Manifest

Slot = tuple[str, int]  # (model, version)


class Arrivals:
    """Adds objects to the partials as they land."""

    def __init__(
        self,
        registry: Registry,
        sources: MonitorSources,
        partials: PartialStore,
        labels: LabelJoiner,
    ) -> None:
        self.registry = registry
        self.sources = sources
        self.partials = partials
        self.labels = labels
        # Each version's empty window (its reference bins), read once per container.
        self._windows: dict[Slot, VersionWindow | None] = {}

    def handle(self, key: str, size: int) -> str:
        """Add one landed object; what it was ("capture", "feedback", "batch" or "ignored")."""
        kind, captured = self.take(key, size)
        if captured is not None:
            self.add_capture([captured])
        return kind

    def take(self, key: str, size: int) -> tuple[str, CapturedObject | None]:
        """What landed: a capture object is read and binned, and returned to be added with
        the others of its batch (`add_capture`); anything else is added now."""
        sources = self.sources
        hour = delivery_hour(sources.capture_prefix, key)
        if hour is not None:
            return "capture", self._read_capture(hour, key, size)
        model = sources.feedback_model(key)
        if model is not None:
            return self._feedback(model, key), None
        if key.startswith(sources.scored_prefix) and key.endswith(MANIFEST_SUFFIX):
            return self._batch(key), None
        logger.info("object is nothing to aggregate", extra={"key": key})
        return "ignored", None

    # -- capture --------------------------------------------------------------------------
    def _read_capture(self, hour: datetime, key: str, size: int) -> CapturedObject:
        """One capture object's records binned per version: its states, not yet stored."""
        windows: dict[Slot, VersionWindow] = {}
        records = 0
        for record in self.sources.object_records(key):
            slot = _slot(record)
            base = self._window(*slot) if slot is not None else None
            if slot is None or base is None:
                continue
            if slot not in windows:
                windows[slot] = base.fresh()
            windows[slot].add_capture(record)
            records += 1
        states = {slot: window.state() for slot, window in windows.items()}
        return CapturedObject(hour, key, size, states, records)

    def add_capture(self, captured: Sequence[CapturedObject]) -> None:
        """Add capture objects to their versions' partials: one update per version and hour
        for all of them, then each object's marker. An object a partial already holds (a
        duplicated message) is left out of it, so nothing counts twice."""
        groups: dict[tuple[Slot, datetime], list[CapturedObject]] = defaultdict(list)
        for item in captured:
            for slot in item.states:
                groups[(slot, item.hour)].append(item)
        for ((model, version), hour), items in groups.items():
            base = self._window(model, version)
            assert base is not None  # its records were binned with it
            self.partials.update(
                model, version, hour_slice(hour), _merging(base, (model, version), items)
            )
        hours: dict[datetime, list[tuple[str, int]]] = defaultdict(list)
        for item in captured:
            hours[item.hour].append((item.key, item.size))
        for hour, objects in hours.items():
            self.partials.mark_capture(hour, objects)
        for item in captured:
            logger.info(
                "capture aggregated",
                extra={"key": item.key, "records": item.records, "versions": len(item.states)},
            )

    def _window(self, model: str, version: int) -> VersionWindow | None:
        if (model, version) not in self._windows:
            try:
                metadata = self.registry.get_metadata(model, version)
                profile = self.registry.get_profile(model, version)
            except NotFoundError:
                self._windows[(model, version)] = None
            else:
                self._windows[(model, version)] = VersionWindow(version, metadata, profile)
        return self._windows[(model, version)]

    # -- feedback -------------------------------------------------------------------------
    def _feedback(self, model: str, key: str) -> str:
        written = self.sources.written(key)
        if written is None:
            return "ignored"  # gone since it landed
        modified, size = written
        hour = modified.replace(minute=0, second=0, microsecond=0)
        if self.partials.feedback_ledger(model, hour).covers(key, size):
            return "feedback"  # a duplicated message
        self.labels.join_object(model, key, size, modified, utc_now())
        return "feedback"

    # -- batch ----------------------------------------------------------------------------
    def _batch(self, key: str) -> str:
        try:
            manifest, _ = self.sources.store.get_json(key)
        except (ObjectMissing, ValueError):
            return "ignored"
        if not isinstance(manifest, dict) or manifest.get("status") != "succeeded":
            return "ignored"  # a failed file has no scored rows
        model = manifest.get("model") or {}
        window = self._window(str(model.get("name")), int(model.get("version") or 0))
        if window is None:
            return "ignored"
        scored = cast("Manifest", manifest)  # JSON the batch scorer wrote as a Manifest
        batch_partial(str(model["name"]), window, scored, self.sources, self.partials)
        return "batch"


@dataclass(frozen=True)
class CapturedObject:
    """One capture object read and binned: each version's state of its records."""

    hour: datetime
    key: str
    size: int
    states: dict[Slot, dict[str, Any]]
    records: int


def _merging(
    base: VersionWindow, slot: Slot, items: Sequence[CapturedObject]
) -> Callable[[HourPartial], bool]:
    """The change that adds `items` (their states of `slot`) to a stored partial, each object
    unless the partial holds it already."""

    def merge(partial: HourPartial) -> bool:
        usable = partial.usable_by(base)  # else its sources are dropped: all read again
        new = [item for item in items if not partial.covers(item.key, item.size)]
        if not new:
            return False
        total = base.fresh()
        if usable and partial.state is not None:
            total.merge(partial.state)
        for item in new:
            if partial.covers(item.key, item.size):
                continue  # the same object twice in one batch (S3 or SQS sent it twice)
            total.merge(item.states[slot])
            partial.sources[item.key] = item.size
        partial.state = total.state()
        return True

    return merge


def _slot(record: Mapping[str, Any]) -> Slot | None:
    model, version = record.get("model"), record.get("version")
    if not isinstance(model, str) or not isinstance(version, int):
        return None
    return model, version


def handle_arrivals_event(arrivals: Arrivals, event: Mapping[str, Any]) -> dict[str, Any]:
    """The aggregate queue's SQS event: each message's S3 notifications; the batch's capture
    objects are added together (one partial update per version and hour). A message that
    failed is handed back (partial batch response) to be retried."""
    from chalicelib.batch import object_events

    failed: list[str] = []
    done: dict[str, int] = {}
    captured: list[tuple[str, CapturedObject]] = []
    for record in event.get("Records", []):
        message = str(record["messageId"])
        try:
            for landed in object_events(record["body"]):
                kind, read = arrivals.take(landed.key, landed.size)
                done[kind] = done.get(kind, 0) + 1
                if read is not None:
                    captured.append((message, read))
        except Exception:  # noqa: BLE001 - this message is retried; the others carry on
            logger.exception("object not aggregated", extra={"message_id": message})
            failed.append(message)
    kept = [(message, read) for message, read in captured if message not in failed]
    try:
        arrivals.add_capture([read for _, read in kept])
    except Exception:  # noqa: BLE001 - their messages are retried: nothing counts twice
        logger.exception("capture not aggregated")
        failed += sorted({message for message, _ in kept} - set(failed))
    return {"aggregated": done, "batchItemFailures": [{"itemIdentifier": m} for m in failed]}
