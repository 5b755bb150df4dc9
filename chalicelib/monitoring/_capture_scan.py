"""Step 2 of a monitor run: the HTTP capture of the window, through the hourly partials.

For each delivery hour of the window, each live version's partial says which capture
objects it has added up; only objects some partial lacks are read, their records binned into
that hour's partial (stored again) and the partials merged into the run's windows. The window
is whole delivery hours: a partial serves every run whose window covers its hour.

Ground truth needs the records themselves: the hours in which labelled predictions were made
(their UUIDv7 ids say when) are read record by record to join the labels, partials or not.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any, Protocol

from chalicelib.monitoring._partials import HourPartial, PartialStore, hour_slice
from chalicelib.monitoring._run import MonitorRun
from chalicelib.monitoring._sources import (
    Feedback,
    MonitorSources,
    hour_and_next,
    hours_between,
)
from chalicelib.monitoring._window import VersionWindow

Slot = tuple[str, int]  # (model, version)


class Scanned(Protocol):
    """What the scan reads and fills of one model's part of a run."""

    windows: dict[int, VersionWindow]
    feedback: Feedback

    def join(self, pid: str, version: int, prediction: Any, probabilities: Any) -> None: ...


def scan_capture(
    jobs: Mapping[str, Scanned],
    run: MonitorRun,
    sources: MonitorSources,
    partials: PartialStore,
    label_lookback: timedelta,
) -> None:
    """Fill the jobs' windows with the window's capture and join their labels."""
    window_hours = set(hours_between(run.start, run.at))
    label_hours = _label_hours(jobs, run, label_lookback)
    for hour in sorted(window_hours | label_hours):
        _HourScan(jobs, hour, sources, partials).run(
            binning=hour in window_hours, joining=hour in label_hours
        )


def _label_hours(
    jobs: Mapping[str, Scanned], run: MonitorRun, lookback: timedelta
) -> set[datetime]:
    hours: set[datetime] = set()
    for job in jobs.values():
        for made in job.feedback.made(run.at - lookback, run.at).values():
            hours.update(hour_and_next(made))
    return hours


class _HourScan:
    """One delivery hour: its objects, each live version's partial, the labels in it."""

    def __init__(
        self,
        jobs: Mapping[str, Scanned],
        hour: datetime,
        sources: MonitorSources,
        partials: PartialStore,
    ) -> None:
        self.jobs = jobs
        self.hour = hour
        self.sources = sources
        self.partials = partials

    def run(self, *, binning: bool, joining: bool) -> None:
        stored: dict[Slot, HourPartial] = {}
        hourly: dict[Slot, VersionWindow] = {}
        if binning:
            for name, job in self.jobs.items():
                for version, window in job.windows.items():
                    partial = self.partials.read(name, version, hour_slice(self.hour))
                    stored[(name, version)] = partial
                    hourly[(name, version)] = window.fresh()
                    if partial.usable_by(window) and partial.state is not None:
                        hourly[(name, version)].merge(partial.state)
        added: set[Slot] = set()
        for key, size in self.sources.capture_objects(self.hour):
            lacking = {slot for slot, p in stored.items() if not p.covers(key, size)}
            if not lacking and not joining:
                continue
            for record in self.sources.object_records(key):
                slot = self._slot(record)
                if slot is None:
                    continue
                if slot in lacking:
                    hourly[slot].add_capture(record)
                if joining:
                    self._join(slot, record)
            for slot in lacking:
                stored[slot].sources[key] = size
            added |= lacking
        for slot, window in hourly.items():
            state = window.state()
            if slot in added:
                stored[slot].state = state
                self.partials.write(slot[0], slot[1], hour_slice(self.hour), stored[slot])
            self.jobs[slot[0]].windows[slot[1]].merge(state)

    def _slot(self, record: Mapping[str, Any]) -> Slot | None:
        name = str(record.get("model"))
        version = record.get("version")
        job = self.jobs.get(name)
        if job is None or not isinstance(version, int) or version not in job.windows:
            return None
        return name, version

    def _join(self, slot: Slot, record: Mapping[str, Any]) -> None:
        job = self.jobs[slot[0]]
        labelled = record.get("prediction_id")
        if isinstance(labelled, str) and labelled in job.feedback.actuals:
            job.join(labelled, slot[1], record.get("prediction"), record.get("probabilities"))
