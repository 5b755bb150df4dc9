"""The catalog's reads, bounded: per model its versions, aliases and config (the registry),
the latest report (pointer and report), and ONE listing of its batch manifests' folder, whose
last-modified times pick the period's manifests; only those are read, the newest first and at
most MAX_MANIFESTS. Usage comes from CloudWatch in two kinds of calls for all models.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from chalicelib.core import NotFoundError, utc_now
from chalicelib.monitoring._catalog import (
    DAYS,
    BatchSummary,
    Catalog,
    CatalogEntry,
    batch_summary,
    catalog_document,
    catalog_entry,
)
from chalicelib.monitoring._reports import ReportStore
from chalicelib.monitoring._usage import ModelUsage
from chalicelib.registry import Registry, model_retirement, retired_versions
from chalicelib.storage import ObjectMissing, ObjectStore

MAX_MANIFESTS = 200  # per model; beyond it files are counted from the listing alone
MANIFEST_SUFFIX = ".manifest.json"


class CatalogSources:
    """Reads what the catalog shows, from the registry, reports, batch manifests, metrics."""

    def __init__(
        self,
        registry: Registry,
        data: ObjectStore,
        *,
        reports_prefix: str,
        scored_prefix: str,
        usage: Callable[[datetime, datetime], dict[str, ModelUsage]],
    ) -> None:
        self.registry = registry
        self.data = data
        self.reports = ReportStore(data, reports_prefix)
        self.scored_prefix = scored_prefix
        self.usage = usage

    def catalog(self, now: datetime | None = None) -> Catalog:
        """Every model with a version, over the last DAYS days up to `now`."""
        now = now or utc_now()
        since = now - timedelta(days=DAYS)
        usage = self.usage(since, now)
        entries = []
        for name in self.registry.list_models():
            entry = self.entry(name, since, usage.get(name))
            if entry is not None:
                entries.append(entry)
        return catalog_document(entries, now, since)

    def entry(self, name: str, since: datetime, usage: ModelUsage | None) -> CatalogEntry | None:
        """One model's entry; None for a folder without versions."""
        versions = self.registry.list_versions(name, missing_ok=True)
        if not versions:
            return None
        try:
            document = self.registry.get_aliases(name)
        except NotFoundError:
            document = None
        return catalog_entry(
            name,
            versions=versions,
            aliases=document.get("aliases", {}) if document else {},
            retired=document is not None and model_retirement(document) is not None,
            retired_versions=retired_versions(document) if document else [],
            tags=self.registry.get_config(name).tags,
            report=self.reports.latest_report(name, missing_ok=True),
            usage=usage,
            batch=self.batch(name, since),
        )

    def batch(self, name: str, since: datetime) -> BatchSummary:
        """The model's batch files whose manifest was written since `since`."""
        listed = [
            (key, at)
            for key, at, _ in self.data.list_objects(f"{self.scored_prefix}{name}/")
            if key.endswith(MANIFEST_SUFFIX) and at >= since
        ]
        listed.sort(key=lambda item: item[1], reverse=True)
        manifests: list[dict[str, Any]] = []
        for key, _ in listed[:MAX_MANIFESTS]:
            try:
                document, _ = self.data.get_json(key)
            except ObjectMissing:  # replaced or removed since the listing
                continue
            if isinstance(document, dict):
                manifests.append(document)
        return batch_summary(listed, manifests)
