"""The organisation's catalog: one entry per model, built from what other parts already
store. Pure: the reads are `_catalog_sources`; this module only assembles.

Per model: who answers for it (config tags owner and team), its versions, what is live at
which share of traffic, the last monitor verdict with drift, accuracy and its trend (the
latest report), consumers and their volume (the API's usage metrics) and batch files (their
manifests), all over the last `days` days.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, TypedDict

from chalicelib.core import iso
from chalicelib.monitoring._usage import ModelUsage

CATALOG_FORMAT = 1
DAYS = 7
# Shown for the accuracy figure and trend, the first the champion has.
QUALITY_METRICS = ("accuracy", "roc_auc", "r2", "mae", "rmse")
_LIVE_ORDER = ("champion", "canary", "shadow")


class LiveVersion(TypedDict):
    alias: str
    version: int
    share: float  # of the API's traffic; a shadow scores a copy and answers nobody (0)


class Monitoring(TypedDict):
    at: str | None  # the last report's run; None: no report yet
    status: str | None  # the champion's: ok | drift | not_enough_data
    flagged: bool
    drifted: list[str]  # features drifted in any live version
    breached: list[str]  # features over a threshold, not yet drifted
    metric: str | None  # the quality metric shown
    value: float | None  # its latest value for the champion
    trend: list[dict[str, Any]]  # [{"at", "value"}], oldest first
    change: float | None  # last minus first value of the trend
    window_consumers: dict[str, dict[str, int]]  # the report window's serving.by_consumer


class BatchSummary(TypedDict):
    files: int  # manifests written in the period
    succeeded: int
    failed: int
    running: int
    rows_scored: int
    rows_rejected: int
    read: int  # manifests read for rows and status (the newest ones, at most a limit)
    last_at: str | None
    submitters: dict[str, int]  # files per submitter


class CatalogEntry(TypedDict):
    name: str
    owner: str | None
    team: str | None
    tags: dict[str, str]
    versions: int
    latest_version: int | None
    retired: bool  # the whole model: it serves nothing and is not monitored
    retired_versions: list[int]
    live: list[LiveVersion]
    monitoring: Monitoring
    usage: ModelUsage
    batch: BatchSummary
    report: str | None  # the report page, relative to the API stage


class Catalog(TypedDict):
    format: int
    generated_at: str
    days: int
    since: str
    models: list[CatalogEntry]


def catalog_document(entries: Iterable[CatalogEntry], now: datetime, since: datetime) -> Catalog:
    """The catalog of these entries, by model name."""
    return {
        "format": CATALOG_FORMAT,
        "generated_at": iso(now, ms=False),
        "days": DAYS,
        "since": iso(since, ms=False),
        "models": sorted(entries, key=lambda entry: entry["name"]),
    }


def catalog_entry(
    name: str,
    *,
    versions: list[int],
    aliases: Mapping[str, Any],
    tags: Mapping[str, str],
    report: Mapping[str, Any] | None,
    usage: ModelUsage | None,
    batch: BatchSummary,
    retired: bool = False,
    retired_versions: Iterable[int] = (),
) -> CatalogEntry:
    """One model's entry from its registry documents, latest report, usage and batch files."""
    return {
        "name": name,
        "owner": tags.get("owner"),
        "team": tags.get("team"),
        "tags": dict(tags),
        "versions": len(versions),
        "latest_version": versions[-1] if versions else None,
        "retired": retired,
        "retired_versions": sorted(retired_versions),
        "live": [] if retired else live_versions(aliases),
        "monitoring": monitoring(report),
        "usage": usage or {"requests": 0, "records": 0, "consumers": [], "versions": {}},
        "batch": batch,
        "report": f"models/{name}/report" if report is not None else None,
    }


def live_versions(aliases: Mapping[str, Any]) -> list[LiveVersion]:
    """Champion, canary and shadow with their share of traffic (the canary takes its weight
    from the champion; without a champion nothing is served)."""
    entries = {
        alias: entry
        for alias, entry in aliases.items()
        if isinstance(entry, Mapping) and isinstance(entry.get("version"), int)
    }
    canary = float(entries["canary"].get("weight") or 0.0) if "canary" in entries else 0.0
    serving = "champion" in entries
    shares = {"champion": 1.0 - canary, "canary": canary}
    order = sorted(entries, key=lambda a: (_LIVE_ORDER.index(a) if a in _LIVE_ORDER else 9, a))
    return [
        {
            "alias": alias,
            "version": int(entries[alias]["version"]),
            "share": round(shares.get(alias, 0.0), 6) if serving else 0.0,
        }
        for alias in order
    ]


def monitoring(report: Mapping[str, Any] | None) -> Monitoring:
    """The last verdict, drift flags and quality trend of the champion, from its report."""
    if report is None:
        return {
            "at": None,
            "status": None,
            "flagged": False,
            "drifted": [],
            "breached": [],
            "metric": None,
            "value": None,
            "trend": [],
            "change": None,
            "window_consumers": {},
        }
    versions = [v for v in report.get("versions") or [] if isinstance(v, Mapping)]
    champion = _champion(report, versions)
    states: dict[str, set[str]] = {"drifted": set(), "breach": set()}
    consumers: dict[str, Counter[str]] = {}
    for entry in versions:
        for feature in entry.get("features") or []:
            if isinstance(feature, Mapping) and feature.get("state") in states:
                states[str(feature["state"])].add(str(feature.get("name")))
        by_consumer = (entry.get("serving") or {}).get("by_consumer") or {}
        for consumer, counts in by_consumer.items():
            total = consumers.setdefault(str(consumer), Counter())
            total.update({k: int(v) for k, v in counts.items() if isinstance(v, int)})
    metrics = ((champion or {}).get("quality") or {}).get("metrics") or {}
    version = str((champion or {}).get("version"))
    trend_metrics = [
        ((point.get("versions") or {}).get(version) or {}).get("quality") or {}
        for point in report.get("trend") or []
        if isinstance(point, Mapping)
    ]
    metric = next(
        (m for m in QUALITY_METRICS if m in metrics or any(m in q for q in trend_metrics)), None
    )
    points: list[tuple[Any, float]] = []
    if metric is not None:
        for point in report.get("trend") or []:
            if not isinstance(point, Mapping):
                continue
            quality = ((point.get("versions") or {}).get(version) or {}).get("quality") or {}
            measured = _number(quality.get(metric))
            if measured is not None:
                points.append((point.get("at"), measured))
    value = _number(metrics.get(metric)) if metric else None
    return {
        "at": (report.get("run") or {}).get("at"),
        "status": (champion or {}).get("status"),
        "flagged": bool(report.get("flagged")),
        "drifted": sorted(states["drifted"]),
        "breached": sorted(states["breach"] - states["drifted"]),
        "metric": metric,
        "value": value,
        "trend": [{"at": at, "value": measured} for at, measured in points],
        "change": round(points[-1][1] - points[0][1], 6) if len(points) > 1 else None,
        "window_consumers": {name: dict(counts) for name, counts in sorted(consumers.items())},
    }


def batch_summary(
    listed: Sequence[tuple[str, datetime]], manifests: Sequence[Mapping[str, Any]]
) -> BatchSummary:
    """Batch files of the period: the manifests listed (key, written at), and those read."""
    statuses = Counter(str(m.get("status")) for m in manifests)
    submitters = Counter(
        str((m.get("input") or {}).get("submitter") or "unknown") for m in manifests
    )
    rows = [m.get("rows") or {} for m in manifests]
    return {
        "files": len(listed),
        "succeeded": statuses["succeeded"],
        "failed": statuses["failed"],
        "running": statuses["running"],
        "rows_scored": sum(int(r.get("scored") or 0) for r in rows),
        "rows_rejected": sum(int(r.get("rejected") or 0) for r in rows),
        "read": len(manifests),
        "last_at": iso(max(at for _, at in listed), ms=False) if listed else None,
        "submitters": dict(sorted(submitters.items())),
    }


def _champion(
    report: Mapping[str, Any], versions: list[Mapping[str, Any]]
) -> Mapping[str, Any] | None:
    wanted = ((report.get("aliases") or {}).get("champion") or {}).get("version")
    for entry in versions:
        if entry.get("version") == wanted or "champion" in (entry.get("roles") or []):
            return entry
    return versions[0] if versions else None


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)
