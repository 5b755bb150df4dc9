"""The catalog page's content, model by model, from a catalog document (monitoring/_catalog):
plain text for templates/catalog.html.j2, which lays it out and escapes it. Numbers and words
for absent values come from the report's own helpers (`_format`), so both pages read alike.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from chalicelib.monitoring.report._charts import Chart, sparkline
from chalicelib.monitoring.report._format import (
    STATUS_TEXT,
    fmt_axis_time,
    fmt_count,
    fmt_metric,
    fmt_share,
    fmt_text,
    fmt_time,
    metric_name,
)
from chalicelib.monitoring.report._values import as_dict, dicts, num, text

NO_REPORT = "no report yet"
NO_TRAFFIC = "no traffic"
NO_BATCH = "no batch files"
NOT_LIVE = "not live"
UNASSIGNED = "unassigned"
_BADGES = {"ok": "b-ok", "drift": "b-drifted", "not_enough_data": "b-nodata"}


@dataclass(frozen=True)
class Badge:
    text: str
    css: str


@dataclass(frozen=True)
class Consumer:
    name: str
    requests: str
    records: str
    share: str


@dataclass(frozen=True)
class ModelCard:
    """One model: a row of the overview and its card."""

    name: str
    anchor: str
    owner: str
    team: str
    tags: list[str]
    versions: str
    live: list[str]
    live_short: str
    badge: Badge
    monitored_at: str
    drifted: list[str]
    breached: list[str]
    metric: str
    value: str
    change: str
    trend: Chart | None
    records: str
    requests: str
    consumers: list[Consumer]
    batch: str
    batch_detail: str
    report: str | None


@dataclass(frozen=True)
class CatalogPage:
    generated: str
    period: str
    days: int
    count: str
    flagged: str
    records: str
    models: list[ModelCard]


def build_catalog_page(catalog: Mapping[str, Any]) -> CatalogPage:
    """The page's content from a catalog; tolerates missing, null and mistyped fields."""
    days = int(num(catalog.get("days")) or 7)
    entries = dicts(catalog.get("models"))
    models = [_card(entry, days) for entry in entries]
    flagged = sum(1 for m in entries if as_dict(m.get("monitoring")).get("flagged"))
    records = sum(num(as_dict(m.get("usage")).get("records")) or 0 for m in entries)
    return CatalogPage(
        generated=fmt_time(catalog.get("generated_at")),
        period=f"last {days} days, since {fmt_time(catalog.get('since'))}",
        days=days,
        count=fmt_count(len(models)),
        flagged=fmt_count(flagged),
        records=fmt_count(records),
        models=models,
    )


def _card(entry: Mapping[str, Any], days: int) -> ModelCard:
    name = fmt_text(entry.get("name"), "model")
    monitoring = as_dict(entry.get("monitoring"))
    usage = as_dict(entry.get("usage"))
    tags = as_dict(entry.get("tags"))
    live = [_live(item) for item in dicts(entry.get("live"))]
    metric = text(monitoring.get("metric"))
    trend = dicts(monitoring.get("trend"))
    reported = monitoring.get("at") is not None
    return ModelCard(
        name=name,
        anchor=f"m-{name}",
        owner=fmt_text(entry.get("owner"), UNASSIGNED),
        team=fmt_text(entry.get("team"), UNASSIGNED),
        tags=[f"{k}={text(v)}" for k, v in sorted(tags.items()) if k not in ("owner", "team")],
        versions=_versions(entry),
        live=live or [NOT_LIVE],
        live_short=" · ".join(_live_short(item) for item in dicts(entry.get("live"))) or NOT_LIVE,
        badge=(
            Badge("retired: serves nothing, not monitored", "b-nodata")
            if entry.get("retired")
            else _badge(monitoring.get("status"), reported)
        ),
        monitored_at=fmt_time(monitoring.get("at")) if reported else NO_REPORT,
        drifted=[text(n) for n in monitoring.get("drifted") or []],
        breached=[text(n) for n in monitoring.get("breached") or []],
        metric=metric_name(metric) if metric else "Accuracy",
        value=fmt_metric(monitoring.get("value"), NO_REPORT if not reported else "no labels yet"),
        change=_change(monitoring.get("change")),
        trend=_trend(metric, trend),
        records=fmt_count(usage.get("records") or None, NO_TRAFFIC),
        requests=fmt_count(usage.get("requests") or None, NO_TRAFFIC),
        consumers=_consumers(usage),
        batch=_batch(as_dict(entry.get("batch"))),
        batch_detail=_batch_detail(as_dict(entry.get("batch"))),
        report=text(entry.get("report")) or None,
    )


def _versions(entry: Mapping[str, Any]) -> str:
    """How many versions, and which are retired."""
    count = fmt_count(entry.get("versions"), "none")
    retired = [fmt_count(v) for v in entry.get("retired_versions") or []]
    return f"{count} (retired: {', '.join(retired)})" if retired else count


def _live(item: Mapping[str, Any]) -> str:
    alias, version = text(item.get("alias")), fmt_count(item.get("version"))
    if alias == "shadow":
        return f"Version {version} shadow · scores a copy, answers nobody"
    return f"Version {version} {alias} · {fmt_share(item.get('share'), 'no share')} of traffic"


def _live_short(item: Mapping[str, Any]) -> str:
    alias, version = text(item.get("alias")), fmt_count(item.get("version"))
    if alias == "shadow":
        return f"v{version} shadow"
    return f"v{version} {fmt_share(item.get('share'), 'no share')}"


def _badge(status: Any, reported: bool) -> Badge:
    if not reported:
        return Badge(NO_REPORT, "b-nodata")
    key = text(status)
    return Badge(STATUS_TEXT.get(key, key or "no live version"), _BADGES.get(key, "b-nodata"))


def _change(value: Any) -> str:
    change = num(value)
    if change is None:
        return ""
    if change == 0:
        return "unchanged over recent runs"
    return f"{'+' if change > 0 else '−'}{fmt_metric(abs(change))} over recent runs"


def _trend(metric: str, points: list[dict[str, Any]]) -> Chart | None:
    values = [num(p.get("value")) for p in points]
    if sum(v is not None for v in values) < 2:
        return None
    labels = [fmt_axis_time(p.get("at")) for p in points]
    return sparkline(
        values, None, labels, title=f"{metric_name(metric)} over recent runs", width=300, height=64
    )


def _consumers(usage: Mapping[str, Any]) -> list[Consumer]:
    total = num(usage.get("records")) or 0
    rows = []
    for row in dicts(usage.get("consumers")):
        records = num(row.get("records"))
        rows.append(
            Consumer(
                name=fmt_text(row.get("consumer"), "unnamed"),
                requests=fmt_count(row.get("requests")),
                records=fmt_count(records),
                share=fmt_share(records / total if records is not None and total else None),
            )
        )
    return rows


def _batch(batch: Mapping[str, Any]) -> str:
    files = num(batch.get("files")) or 0
    if not files:
        return NO_BATCH
    noun = "file" if files == 1 else "files"
    return f"{fmt_count(files)} {noun}, {fmt_count(batch.get('rows_scored'), 'no')} rows scored"


def _batch_detail(batch: Mapping[str, Any]) -> str:
    if not num(batch.get("files")):
        return ""
    parts = [
        f"{fmt_count(batch.get(key))} {word}"
        for key, word in (("succeeded", "succeeded"), ("failed", "failed"), ("running", "running"))
        if num(batch.get(key))
    ]
    rejected = num(batch.get("rows_rejected"))
    if rejected:
        parts.append(f"{fmt_count(rejected)} rows rejected")
    submitters = as_dict(batch.get("submitters"))
    if submitters:
        parts.append("from " + ", ".join(sorted(text(s) for s in submitters)))
    read, files = num(batch.get("read")), num(batch.get("files"))
    if read is not None and files is not None and read < files:
        parts.append(f"rows counted in the newest {fmt_count(read)}")
    last = batch.get("last_at")
    if last:
        parts.append(f"last {fmt_time(last)}")
    return " · ".join(parts)
