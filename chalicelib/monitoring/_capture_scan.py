"""Step 2 of a monitor run: the HTTP capture of the window, through the hourly partials.

For each delivery hour of the window, the hour's markers say which capture objects the
aggregating function has added to every version's partial, and each live version's partial
says which objects it has added up; only objects neither covers (landed a moment ago, or the
aggregating function is behind) are read, their records binned into that hour's partial
(stored again) and the partials merged into the run's windows. The window is whole delivery
hours: a partial serves every run whose window covers its hour.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Protocol

from chalicelib.monitoring._hours import hours_between
from chalicelib.monitoring._partials import (
    HourPartial,
    PartialStore,
    capture_marker,
    hour_slice,
)
from chalicelib.monitoring._run import MonitorRun
from chalicelib.monitoring._sources import MonitorSources
from chalicelib.monitoring._window import VersionWindow

Slot = tuple[str, int]  # (model, version)


class Scanned(Protocol):
    """What the scan fills of one model's part of a run."""

    windows: dict[int, VersionWindow]


def scan_capture(
    jobs: Mapping[str, Scanned],
    run: MonitorRun,
    sources: MonitorSources,
    partials: PartialStore,
) -> None:
    """Fill the jobs' windows with the window's capture."""
    for hour in hours_between(run.start, run.at):
        _HourScan(jobs, hour, sources, partials).run()


class _HourScan:
    """One delivery hour: its objects and each live version's partial."""

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

    def run(self) -> None:
        stored: dict[Slot, HourPartial] = {}
        hourly: dict[Slot, VersionWindow] = {}
        trusted = True  # the hour's markers hold while every partial they vouch for does
        for name, job in self.jobs.items():
            for version, window in job.windows.items():
                partial = self.partials.read(name, version, hour_slice(self.hour))
                stored[(name, version)] = partial
                hourly[(name, version)] = window.fresh()
                if not partial.usable_by(window):
                    trusted = False
                elif partial.state is not None:
                    hourly[(name, version)].merge(partial.state)
        aggregated = self.partials.aggregated_capture(self.hour) if trusted else set()
        added: set[Slot] = set()
        for key, size in self.sources.capture_objects(self.hour):
            if capture_marker(key, size) in aggregated:
                continue  # in every version's partial it has records for
            lacking = {slot for slot, p in stored.items() if not p.covers(key, size)}
            if not lacking:
                continue
            for record in self.sources.object_records(key):
                slot = self._slot(record)
                if slot in lacking:
                    hourly[slot].add_capture(record)
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
