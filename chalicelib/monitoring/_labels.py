"""Ground truth, joined once: each feedback object's labels are matched with the predictions
they name when it lands, and counted in the hour each prediction was made.

A label names a prediction id; a UUIDv7 id says when the prediction was made, so its capture
is in the delivery hours around it (`capture_hours`), or in a batch file scored then. The
label and its prediction go into the version's label partial of the prediction's hour
(`labels/<hour>`), as sufficient statistics (`stats.QualityTally`) plus the ids counted: a
prediction is counted once, with the first label that reaches it, however often its feedback
object is delivered, retried or sent again.

What a feedback object held (labels, how many were joined, unusable rows) is recorded in the
model's feedback ledger of the hour it was written, for the report. Labels whose prediction is
not found yet, and was made so recently that its capture may still be on the way (Firehose
buffers up to 15 minutes), are kept as pending: a later monitor run joins the object again.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from chalicelib.core import NotFoundError, logger
from chalicelib.monitoring._hours import capture_hours
from chalicelib.monitoring._partials import HourPartial, PartialStore, hour_slice
from chalicelib.monitoring._sources import MonitorSources
from chalicelib.registry import Registry
from chalicelib.stats import QualityTally

LABELS = "labels"
# A prediction made this recently may not be delivered yet: its label waits for a later run.
# Firehose delivers within 15 minutes; a scored batch file's ids are found once it finishes.
DELIVERY_GRACE = timedelta(hours=3)


@dataclass(frozen=True)
class Joined:
    """One label and the prediction it names."""

    prediction_id: str
    version: int
    made: datetime
    actual: Any
    prediction: Any
    probabilities: Any


class VersionFacts:
    """What the join and the tallies need of each version of a model (task, classes),
    read from the registry once per container."""

    def __init__(self, registry: Registry, model: str) -> None:
        self.registry = registry
        self.model = model
        self._facts: dict[int, tuple[str, list[Any]] | None] = {}

    def get(self, version: int) -> tuple[str, list[Any]] | None:
        """(task, classes) of a version, None when the registry has no such version."""
        if version not in self._facts:
            try:
                metadata = self.registry.get_metadata(self.model, version)
            except NotFoundError:
                self._facts[version] = None
            else:
                task = metadata.get("task") or "classification"
                self._facts[version] = (task, list(metadata.get("classes") or []))
        return self._facts[version]

    def known(self) -> list[int]:
        """The versions read so far that exist."""
        return [version for version, facts in self._facts.items() if facts is not None]

    def tally(self, version: int) -> QualityTally | None:
        facts = self.get(version)
        return QualityTally.for_model(*facts) if facts is not None else None


class _Classes(Mapping[int, Sequence[Any]]):
    """Each version's classes, read when the batch lookup asks (what MonitorSources takes)."""

    def __init__(self, facts: VersionFacts) -> None:
        self.facts = facts

    def __getitem__(self, version: int) -> Sequence[Any]:
        found = self.facts.get(version)
        if found is None:
            raise KeyError(version)
        return found[1]

    def __contains__(self, version: object) -> bool:
        return isinstance(version, int) and self.facts.get(version) is not None

    def __iter__(self) -> Iterator[int]:
        return iter(self.facts.known())

    def __len__(self) -> int:
        return len(self.facts.known())


class LabelJoiner:
    """Joins feedback objects into the label partials of their predictions' hours."""

    def __init__(
        self,
        registry: Registry,
        sources: MonitorSources,
        partials: PartialStore,
        lookback: timedelta,
    ) -> None:
        self.registry = registry
        self.sources = sources
        self.partials = partials
        self.lookback = lookback
        self._facts: dict[str, VersionFacts] = {}

    def facts(self, model: str) -> VersionFacts:
        if model not in self._facts:
            self._facts[model] = VersionFacts(self.registry, model)
        return self._facts[model]

    def join_object(
        self, model: str, key: str, size: int, written: datetime, now: datetime
    ) -> dict[str, Any]:
        """Join one feedback object (written at `written`) and record what it held; that
        record: labels, joined, unusable_rows and the pending ids."""
        feedback = self.sources.feedback_file(key)
        made = feedback.made(now - self.lookback, now)
        found = list(self._find(model, feedback.actuals, made))
        by_slot: dict[tuple[int, datetime], list[Joined]] = defaultdict(list)
        for joined in found:
            hour = joined.made.replace(minute=0, second=0, microsecond=0)
            by_slot[(joined.version, hour)].append(joined)
        for (version, hour), items in sorted(by_slot.items()):
            self._count(model, version, hour, items)
        joined_ids = {j.prediction_id for j in found}
        pending = sorted(
            pid for pid, at in made.items() if pid not in joined_ids and at >= now - DELIVERY_GRACE
        )
        outcome = {
            "labels": len(feedback.actuals),
            "joined": len(joined_ids),
            "unusable_rows": feedback.unusable_rows,
            "pending": pending,
        }
        hour = written.replace(minute=0, second=0, microsecond=0)
        self.partials.record_feedback(model, hour, key, size, outcome)
        logger.info(
            "feedback joined",
            extra={"model": model, "labels": outcome["labels"], "joined": outcome["joined"]},
        )
        return outcome

    def _find(
        self, model: str, actuals: Mapping[str, Any], made: Mapping[str, datetime]
    ) -> Iterator[Joined]:
        """Each labelled prediction of `made`, in the capture of its hours, else in the scored
        batch files that can hold it."""
        facts = self.facts(model)
        found: set[str] = set()
        for hour in sorted({h for at in made.values() for h in capture_hours(at)}):
            for key, _ in self.sources.capture_objects(hour):
                for record in self.sources.object_records(key):
                    pid = record.get("prediction_id")
                    version = record.get("version")
                    if (
                        pid in made
                        and record.get("model") == model
                        and isinstance(version, int)
                        and facts.get(version) is not None
                    ):
                        found.add(str(pid))
                        yield Joined(
                            str(pid),
                            version,
                            made[str(pid)],
                            actuals[str(pid)],
                            record.get("prediction"),
                            record.get("probabilities"),
                        )
        rest = {pid: at for pid, at in made.items() if pid not in found}
        for version, (pid, prediction, probabilities) in self.sources.batch_labelled(
            model, rest, _Classes(facts)
        ):
            yield Joined(pid, version, rest[pid], actuals[pid], prediction, probabilities)

    def _count(self, model: str, version: int, hour: datetime, items: list[Joined]) -> None:
        """Add the labels of one version's predictions of one hour, each id once."""
        facts = self.facts(model)

        def add(partial: HourPartial) -> bool:
            new = [j for j in items if j.prediction_id not in partial.sources]
            if not new:
                return False
            tally = facts.tally(version)
            if tally is None:
                return False
            if partial.state is not None:
                try:
                    tally.merge(partial.state)
                except (KeyError, TypeError, ValueError):
                    # Written for other classes (or damaged): start the hour again from here.
                    logger.warning("a stored label partial does not fit its version; reset")
                    partial.sources, tally = {}, facts.tally(version) or tally
            for joined in new:
                tally.add(joined.actual, joined.prediction, joined.probabilities)
                partial.sources[joined.prediction_id] = 1
            partial.state = tally.state()
            return True

        self.partials.update(model, version, f"{LABELS}/{hour_slice(hour)}", add)

    def quality(
        self, model: str, version: int, start: datetime, end: datetime
    ) -> QualityTally | None:
        """The merged label partials of the predictions `version` made in [start, end)."""
        tally = self.facts(model).tally(version)
        if tally is None:
            return None
        first, last = hour_slice(start), hour_slice(end)
        for slice_name in self.partials.slices(model, version, LABELS):
            if not first <= slice_name.removeprefix(f"{LABELS}/") <= last:
                continue
            state = self.partials.read(model, version, slice_name).state
            if state is None:
                continue
            try:
                tally.merge(state)
            except (KeyError, TypeError, ValueError):
                logger.warning("a stored label partial does not fit its version; left out")
        return tally
