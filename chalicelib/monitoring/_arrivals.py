"""The aggregating function: each object that lands in the data bucket is added to its
partials once, soon after it lands, many objects in parallel (S3 → SQS → Lambda, as batch
scoring).

- A capture object (a Firehose delivery under `capture/YYYY/MM/DD/HH/`): its records are
  binned by model and version into each version's partial of the delivery hour, then the
  hour's ledger records that every version in it has the object.
- A feedback object (`feedback/<model>/...`): its labels are joined with the predictions they
  name and counted in the hours those were made (`_labels.py`).
- A scored batch file's manifest (`batch/scored/<model>/...manifest.json`): every row of the
  input and scored files, into the file's own partial (`_batch_scan.py`).

Every step is idempotent (the partials' `sources`), so a duplicated or retried message adds
nothing twice; writers of one partial race through If-Match and retry. A monitor run reads
whatever the function has not reached yet, so figures never depend on it keeping up.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, cast

from chalicelib.core import NotFoundError, logger, utc_now
from chalicelib.monitoring._batch_scan import batch_partial
from chalicelib.monitoring._labels import LabelJoiner
from chalicelib.monitoring._partials import HourPartial, PartialStore, hour_slice
from chalicelib.monitoring._sources import MANIFEST_SUFFIX, MonitorSources, delivery_hour
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
        sources = self.sources
        hour = delivery_hour(sources.capture_prefix, key)
        if hour is not None:
            self._capture(hour, key, size)
            return "capture"
        model = sources.feedback_model(key)
        if model is not None:
            return self._feedback(model, key)
        if key.startswith(sources.scored_prefix) and key.endswith(MANIFEST_SUFFIX):
            return self._batch(key)
        logger.info("object is nothing to aggregate", extra={"key": key})
        return "ignored"

    # -- capture --------------------------------------------------------------------------
    def _capture(self, hour: Any, key: str, size: int) -> None:
        if self.partials.aggregated_capture(hour).get(key) == size:
            return  # a duplicated message
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
        for (model, version), window in windows.items():
            self._add(model, version, hour_slice(hour), key, size, window)
        self.partials.mark_capture(hour, key, size)
        logger.info(
            "capture aggregated",
            extra={"key": key, "records": records, "versions": len(windows)},
        )

    def _add(
        self, model: str, version: int, slice_name: str, key: str, size: int, added: VersionWindow
    ) -> None:
        """Merge one object's window into the version's partial, unless it is there."""
        state = added.state()

        def merge(partial: HourPartial) -> bool:
            if partial.covers(key, size):
                return False
            total = added.fresh()
            if partial.usable_by(added) and partial.state is not None:
                total.merge(partial.state)
            total.merge(state)
            partial.state = total.state()
            partial.sources[key] = size
            return True

        self.partials.update(model, version, slice_name, merge)

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


def _slot(record: Mapping[str, Any]) -> Slot | None:
    model, version = record.get("model"), record.get("version")
    if not isinstance(model, str) or not isinstance(version, int):
        return None
    return model, version


def handle_arrivals_event(arrivals: Arrivals, event: Mapping[str, Any]) -> dict[str, Any]:
    """The aggregate queue's SQS event: each message's S3 notifications, added one by one; a
    message that failed is handed back (partial batch response) to be retried."""
    from chalicelib.batch import object_events

    failures = []
    done: dict[str, int] = {}
    for record in event.get("Records", []):
        try:
            for landed in object_events(record["body"]):
                kind = arrivals.handle(landed.key, landed.size)
                done[kind] = done.get(kind, 0) + 1
        except Exception:  # noqa: BLE001 - this message is retried; the others carry on
            logger.exception("object not aggregated", extra={"message": record.get("messageId")})
            failures.append({"itemIdentifier": record["messageId"]})
    return {"aggregated": done, "batchItemFailures": failures}
