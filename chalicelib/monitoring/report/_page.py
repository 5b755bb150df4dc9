"""The page's content, section by section, from a report: plain data and text for the
templates, which lay it out and escape it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from chalicelib.monitoring.report import _drift, _sections
from chalicelib.monitoring.report._values import as_dict, as_list, dicts, text
from chalicelib.monitoring.report._versions import version_colors, version_labels


@dataclass(frozen=True)
class Page:
    """Everything templates/report.html.j2 shows, in page order."""

    model: str
    header: _sections.Header
    banner: _sections.Banner
    overview: list[_sections.VersionCard]
    traffic: _sections.Traffic
    quality: _sections.Quality
    rollout: _sections.Rollout | None
    drift: _drift.Drift | None
    features: list[_drift.FeatureGroup]
    footer: _drift.Footer


def build_page(report: Mapping[str, Any]) -> Page:
    """The page's content from a report; tolerates missing, null and mistyped fields."""
    model = text(report.get("model")) or "model"
    thresholds = as_dict(report.get("thresholds"))
    versions = dicts(report.get("versions"))
    trend = dicts(report.get("trend"))
    aliases = as_dict(report.get("aliases"))
    decisions = as_list(report.get("decisions"))
    colors = version_colors(versions, trend)
    labels = version_labels(versions, trend)
    return Page(
        model=model,
        header=_sections.header(as_dict(report.get("run"))),
        banner=_sections.banner(versions, bool(report.get("flagged"))),
        overview=_sections.overview(model, versions, aliases, thresholds, decisions),
        traffic=_sections.traffic(versions, trend, colors, labels, aliases),
        quality=_sections.quality(
            model, versions, trend, colors, labels, as_dict(report.get("run")).get("labels_since")
        ),
        rollout=_sections.rollout(versions, decisions),
        drift=_drift.drift(versions, thresholds) if versions else None,
        features=_drift.features(versions, trend, thresholds),
        footer=_drift.footer(thresholds),
    )
