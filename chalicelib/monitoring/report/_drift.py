"""What the page's drift sections show: the drift summary per version, a card per feature
(distribution, PSI history, new categories) and the thresholds explained in the footer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from chalicelib.monitoring.report._charts import Chart, bar_chart, sparkline
from chalicelib.monitoring.report._format import (
    METRIC_HELP,
    METRIC_LABELS,
    NONE_YET,
    NOT_MEASURED,
    STATE_TEXT,
    STATUS_TEXT,
    fmt_axis_time,
    fmt_count,
    fmt_limit,
    fmt_metric,
    fmt_text,
    limit_text,
    missing_text,
)
from chalicelib.monitoring.report._sections import Column, Value
from chalicelib.monitoring.report._values import as_dict, as_list, num, text
from chalicelib.monitoring.report._versions import (
    features_of,
    role_names,
    trend_version,
    version_key,
)


@dataclass(frozen=True)
class Badge:
    """A coloured pill for a feature's state."""

    css: str
    text: str


@dataclass(frozen=True)
class DriftRow:
    name: str
    prediction: bool
    type: str
    values: list[Value]
    badge: Badge


@dataclass(frozen=True)
class DriftTable:
    version: str
    status: str
    rows: list[DriftRow]
    # What the drifted features weigh in the answers, from their importance at register.
    notes: list[str]


@dataclass(frozen=True)
class Drift:
    sentence: str
    help: list[str]  # one line per drift metric: what it means, what is large
    columns: list[Column]
    tables: list[DriftTable]


@dataclass(frozen=True)
class FeatureCard:
    name: str
    prediction: bool
    type: str
    badge: Badge
    metrics: list[tuple[str, Value]]
    samples: str
    missing: str
    chart: Chart
    new_categories: list[tuple[str, str]]  # (category, count)
    spark: Chart | None


@dataclass(frozen=True)
class FeatureGroup:
    version: str
    roles: str
    cards: list[FeatureCard]


@dataclass(frozen=True)
class Footer:
    breaches: str
    min_samples: str
    sentence: str
    overrides: list[tuple[str, str]]  # (feature, its limits)


def badge(state: Any) -> Badge:
    """The pill for a feature state; an unknown state shows as is, in grey."""
    name = text(state)
    css = {"ok": "b-ok", "breach": "b-breach", "drifted": "b-drifted"}.get(name, "b-nodata")
    return Badge(css, fmt_text(STATE_TEXT.get(name, name)))


def drift(versions: list[dict[str, Any]], thresholds: dict[str, Any]) -> Drift:
    """A row per feature (the prediction first) and version: metrics, breaches, state."""
    needed = num(thresholds.get("consecutive_breaches"))
    explained = any(as_dict(v.get("importance")) for v in versions)
    tables = []
    for version in versions:
        rows = []
        ranks = importance_ranks(as_dict(version.get("importance")))
        for feature, is_prediction in features_of(version):
            name = text(feature.get("name"))
            breached = {text(b) for b in as_list(feature.get("breached"))}
            values = [
                Value(fmt_count(feature.get("samples"), NOT_MEASURED)),
                Value(missing_text(feature)),
            ]
            if explained:
                values.insert(0, Value(_importance_text(ranks.get(name), is_prediction)))
            for metric in METRIC_LABELS:
                limit = feature_limit(thresholds, name, metric)
                own = limit != num(thresholds.get(metric))
                values.append(
                    Value(
                        fmt_metric(feature.get(metric)),
                        bad=metric in breached,
                        limit=fmt_limit(limit) if own else None,
                    )
                )
            consecutive = fmt_count(feature.get("consecutive"), NONE_YET)
            values.append(Value(f"{consecutive} / {fmt_count(needed)}" if needed else consecutive))
            rows.append(
                DriftRow(
                    name=fmt_text(name),
                    prediction=is_prediction,
                    type=fmt_text(feature.get("type")),
                    values=values,
                    badge=badge(feature.get("state")),
                )
            )
        status = version.get("status")
        drifted = [
            text(f.get("name"))
            for f, is_prediction in features_of(version)
            if not is_prediction and text(f.get("state")) == "drifted"
        ]
        tables.append(
            DriftTable(
                version=text(version.get("version")),
                status=fmt_text(STATUS_TEXT.get(text(status), status)),
                rows=rows,
                notes=drift_weight_notes(drifted, ranks),
            )
        )
    columns = [
        Column("Feature"),
        Column("Type"),
        *([Column("Importance (rank)", True)] if explained else []),
        Column("Values", True),
        Column("Missing (training)", True),
        *[Column(limit_text(m, thresholds.get(m)), True) for m in METRIC_LABELS],
        Column("Breaches in a row", True),
        Column("State"),
    ]
    return Drift(threshold_sentence(thresholds), list(METRIC_HELP.values()), columns, tables)


# (importance, rank, of how many features) per feature name.
Ranks = dict[str, tuple[float, int, int]]


def importance_ranks(importance: dict[str, Any]) -> Ranks:
    """Each feature's importance with its rank, 1 the largest."""
    known = [(text(name), value) for name, v in importance.items() if (value := num(v)) is not None]
    ordered = sorted(known, key=lambda pair: -pair[1])
    return {name: (value, i + 1, len(ordered)) for i, (name, value) in enumerate(ordered)}


def _importance_text(rank: tuple[float, int, int] | None, is_prediction: bool) -> str:
    if is_prediction or rank is None:
        return ""
    return f"{fmt_metric(rank[0])} · #{rank[1]}"


def drift_weight_notes(drifted: list[str], ranks: Ranks) -> list[str]:
    """A sentence per drifted feature on how much its drift can move the answers: a drifted
    feature the model leans on is worse than one it hardly uses."""
    notes = []
    for name in sorted(drifted, key=lambda n: ranks[n][1] if n in ranks else len(ranks) + 1):
        if name not in ranks:
            continue
        _, rank, count = ranks[name]
        if rank <= max(3, count // 4):
            weight = "among those the model leans on most: expect its answers to move"
        elif rank > count // 2:
            weight = "one the model hardly uses: its drift moves the answers little"
        else:
            weight = "of middling weight in the answers"
        notes.append(f"{name} drifted and is feature #{rank} of {count} by importance, {weight}.")
    return notes


def features(
    versions: list[dict[str, Any]], trend: list[dict[str, Any]], thresholds: dict[str, Any]
) -> list[FeatureGroup]:
    """A card per feature and version: training vs this window, and PSI over recent runs."""
    x_labels = [fmt_axis_time(t.get("at")) for t in trend]
    groups = []
    for version in versions:
        key = version_key(version.get("version"))
        cards = []
        for feature, is_prediction in features_of(version):
            name = text(feature.get("name"))
            if is_prediction:
                history = [num(trend_version(t, key).get("prediction_psi")) for t in trend]
            else:
                history = [
                    num(as_dict(trend_version(t, key).get("features")).get(name)) for t in trend
                ]
            cards.append(_card(feature, is_prediction, history, x_labels, thresholds, name))
        groups.append(FeatureGroup(text(version.get("version")), role_names(version), cards))
    return groups


def _card(
    feature: dict[str, Any],
    is_prediction: bool,
    history: list[float | None],
    x_labels: list[str],
    thresholds: dict[str, Any],
    name: str,
) -> FeatureCard:
    breached = {text(b) for b in as_list(feature.get("breached"))}
    bins = as_dict(feature.get("bins"))
    limit = feature_limit(thresholds, name, "psi")
    spark = None
    if any(v is not None for v in history):
        spark = sparkline(history, limit, x_labels, title=f"{name}: PSI over recent runs")
    return FeatureCard(
        name=name,
        prediction=is_prediction,
        type=fmt_text(feature.get("type")),
        badge=badge(feature.get("state")),
        metrics=[
            (label, Value(fmt_metric(feature.get(metric)), bad=metric in breached))
            for metric, label in METRIC_LABELS.items()
        ],
        samples=fmt_count(feature.get("samples"), NOT_MEASURED),
        missing=missing_text(feature),
        chart=bar_chart(
            [text(label) for label in as_list(bins.get("labels"))],
            [num(v) for v in as_list(bins.get("reference"))],
            [num(v) for v in as_list(bins.get("current"))],
            title=f"{name}: training vs this window",
            feature=name,
        ),
        new_categories=[
            (text(level), fmt_count(num(count)))
            for level, count in as_dict(feature.get("new_categories")).items()
        ],
        spark=spark,
    )


def footer(thresholds: dict[str, Any]) -> Footer:
    """The numbers the footer's definitions quote, and the per-feature limits."""
    overrides = []
    for name, limits in as_dict(thresholds.get("features")).items():
        pairs = ", ".join(
            limit_text(text(metric), value) for metric, value in as_dict(limits).items()
        )
        overrides.append((text(name), pairs))
    return Footer(
        breaches=fmt_count(num(thresholds.get("consecutive_breaches"))),
        min_samples=fmt_count(num(thresholds.get("min_samples"))),
        sentence=threshold_sentence(thresholds),
        overrides=overrides,
    )


def threshold_sentence(thresholds: dict[str, Any]) -> str:
    """When a feature breaches, when it is drifted, and how many values it needs."""
    if not thresholds:
        return "The thresholds were not recorded in this report."
    checks = [
        limit_text(metric, thresholds.get(metric))
        for metric in METRIC_LABELS
        if num(thresholds.get(metric)) is not None
    ]
    if not checks:
        breach = "No drift metric is checked"
    else:
        breach = "A feature breaches when " + " or ".join(
            [", ".join(checks[:-1]), checks[-1]] if len(checks) > 1 else checks
        )
    return (
        f"{breach}; it is drifted after "
        f"{fmt_count(num(thresholds.get('consecutive_breaches')))} breaches in a row; "
        f"at least {fmt_count(num(thresholds.get('min_samples')))} values are needed."
    )


def feature_limit(thresholds: dict[str, Any], feature: str, metric: str) -> float | None:
    """A feature's threshold for a metric: its override if it has one, else the global one.

    None means the metric is off (an override of null turns it off for that feature).
    """
    overrides = as_dict(as_dict(thresholds.get("features")).get(feature))
    return num(overrides[metric] if metric in overrides else thresholds.get(metric))
