"""What the page's upper sections show, computed from the report: run header, banner, status
by version, traffic, accuracy, serving and rollout. Plain data and plain text; the templates
lay it out and escape it.

Words are kept apart on purpose: a record is one row scored, a request one HTTP call to the
API (one request may carry many records). Identifiers (event ids, etags) stay in the JSON.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from chalicelib.monitoring.report._advice import NextStep, next_step
from chalicelib.monitoring.report._charts import Chart, line_chart
from chalicelib.monitoring.report._format import (
    NO_REQUESTS,
    NONE_YET,
    STATUS_TEXT,
    TRIGGERS,
    fmt_axis_time,
    fmt_count,
    fmt_metric,
    fmt_ms,
    fmt_number,
    fmt_share,
    fmt_text,
    fmt_time,
    metric_name,
    without_ids,
)
from chalicelib.monitoring.report._registered import compared
from chalicelib.monitoring.report._values import as_dict, as_list, dicts, num, text
from chalicelib.monitoring.report._versions import (
    role_chips,
    trend_version,
    version_key,
    version_name,
)


@dataclass(frozen=True)
class Column:
    """A table header cell; numeric columns are right-aligned."""

    text: str
    numeric: bool = False


@dataclass(frozen=True)
class Value:
    """A number as shown; `bad` when it breached, `limit` when the feature has its own."""

    text: str
    bad: bool = False
    limit: str | None = None


@dataclass(frozen=True)
class Header:
    run: str
    window: str
    trigger: str


@dataclass(frozen=True)
class Banner:
    """The verdict at the top: state is 'none' (no live version), 'drift', 'not_enough_data'
    or 'ok'; `names` the drifted versions."""

    state: str
    names: str = ""


@dataclass(frozen=True)
class VersionCard:
    version: str
    chips: list[str]
    css: str
    status: str
    facts: list[str]
    next_step: NextStep


@dataclass(frozen=True)
class TrafficRow:
    version: str
    color: str
    chips: list[str]
    cells: list[str]


@dataclass(frozen=True)
class Traffic:
    rows: list[TrafficRow]
    totals: list[str] | None  # a total row when there is more than one version
    chart: Chart | None


@dataclass(frozen=True)
class MetricChart:
    metric: str
    chart: Chart | None


@dataclass(frozen=True)
class Quality:
    """This window's metrics per version (when there are versions) and their trends."""

    model: str
    columns: list[Column]
    rows: list[tuple[str, list[str]]]  # a metric, its value per version; none without versions
    unlabelled: list[str]  # versions with no ground truth in this window
    registered: bool  # whether any cell compares with the metrics recorded at registration
    charts: list[MetricChart]
    labels_since: str | None = None  # quality counts the predictions made since then


@dataclass(frozen=True)
class ServingRow:
    version: str
    requests: str
    errors: str
    error_rate: Value
    p50: str
    p95: str


@dataclass(frozen=True)
class Decision:
    action: str
    subject: str
    outcome: str
    reasons: list[str]


@dataclass(frozen=True)
class Rollout:
    rows: list[ServingRow]
    decisions: list[Decision]


def header(run: dict[str, Any]) -> Header:
    """When the run was, over which window, what started it."""
    window = as_dict(run.get("window"))
    hours = num(window.get("hours"))
    span = f"{fmt_time(window.get('start'))} → {fmt_time(window.get('end'))}"
    if hours is not None:
        span += f" ({fmt_number(hours)} h)"
    trigger = text(run.get("trigger"))
    return Header(fmt_time(run.get("at")), span, fmt_text(TRIGGERS.get(trigger, trigger)))


def banner(versions: list[dict[str, Any]], flagged: bool) -> Banner:
    """Drift anywhere, not enough data anywhere, or all clear."""
    if not versions:
        return Banner("none")
    drifted = [v for v in versions if v.get("drift_detected") or v.get("status") == "drift"]
    if flagged or drifted:
        return Banner("drift", ", ".join(version_name(v) for v in drifted) or "a live version")
    if all(v.get("status") == "not_enough_data" for v in versions):
        return Banner("not_enough_data")
    return Banner("ok")


def overview(
    model: str,
    versions: list[dict[str, Any]],
    aliases: dict[str, Any],
    thresholds: dict[str, Any],
    decisions: list[Any],
) -> list[VersionCard]:
    """A card per live version: its status, the few numbers behind it, and what to do next."""
    cards = []
    for version in versions:
        status = text(version.get("status"))
        states = [text(f.get("state")) for f in dicts(version.get("features"))]
        judged = sum(1 for s in states if s != "not_enough_data")
        facts = []
        if status == "not_enough_data" or not judged:
            need = num(thresholds.get("min_samples"))
            needed = f"at least {fmt_count(need)} values per feature" if need else "more data"
            facts.append(f"Drift needs {needed}")
        else:
            facts.append(f"{states.count('drifted')} of {judged} features drifted")
            if states.count("breach"):
                facts.append(f"{states.count('breach')} over a threshold")
        if as_dict(version.get("prediction")).get("state") == "drifted":
            facts.append("prediction drifted")
        records = fmt_count(as_dict(version.get("traffic")).get("total"), NONE_YET)
        facts.append(f"records scored: {records}")
        quality = as_dict(version.get("quality"))
        shown: list[Any] = []
        _add_new(shown, as_dict(quality.get("metrics")))
        _add_new(shown, as_dict(version.get("registered_metrics")))
        if shown:
            facts.append(f"{metric_name(shown[0])}: {compared(version, shown[0])}")
        facts.append(f"{fmt_count(num(quality.get('labelled')) or 0)} labelled records")
        measured = as_dict(version.get("benchmark"))
        if num(measured.get("p99_ms")) is not None:
            facts.append(_benchmark_fact(measured))
        estimated = as_dict(version.get("estimated"))
        if num(estimated.get("accuracy")) is not None:
            facts.append(
                f"Estimated accuracy: {fmt_metric(estimated.get('accuracy'))} (from the model's "
                "own probabilities: right only if they are calibrated, and blind to concept "
                "drift; labels tell)"
            )
        cards.append(
            VersionCard(
                version=text(version.get("version")),
                chips=role_chips(version, aliases),
                css={"drift": "s-drift", "ok": "s-ok"}.get(status, "s-nodata"),
                status=fmt_text(STATUS_TEXT.get(status, status)),
                facts=facts,
                next_step=next_step(model, version, decisions, thresholds),
            )
        )
    return cards


def traffic(
    versions: list[dict[str, Any]],
    trend: list[dict[str, Any]],
    colors: dict[str, str],
    labels: dict[str, str],
    aliases: dict[str, Any],
) -> Traffic:
    """Records scored per version in this window, through the API and in batch jobs, and
    records per run over the trend."""
    rows = []
    totals = [0.0, 0.0, 0.0]
    for version in versions:
        counts = as_dict(version.get("traffic"))
        values = [num(counts.get(k)) for k in ("http", "batch", "total")]
        for i, value in enumerate(values):
            totals[i] += value or 0.0
        rows.append(
            TrafficRow(
                version=text(version.get("version")),
                color=colors.get(version_key(version.get("version")), "#999"),
                chips=role_chips(version, aliases, short=True),
                cells=[fmt_count(v) for v in values],
            )
        )
    series = [
        (labels[key], colors[key], [num(trend_version(t, key).get("samples")) for t in trend])
        for key in colors
    ]
    chart = line_chart(
        series,
        [fmt_axis_time(t.get("at")) for t in trend],
        title="Records scored per run, by version",
        include_zero=True,
        counts=True,
    )
    return Traffic(rows, [fmt_count(v) for v in totals] if len(versions) > 1 else None, chart)


def quality(
    model: str,
    versions: list[dict[str, Any]],
    trend: list[dict[str, Any]],
    colors: dict[str, str],
    labels: dict[str, str],
    since: Any = None,
) -> Quality:
    """Metrics against the ground truth fed back: this window's table, then their trends."""
    seen: list[Any] = []
    for entry in trend:
        for item in as_dict(entry.get("versions")).values():
            _add_new(seen, as_dict(as_dict(item).get("quality")))
    for version in versions:
        _add_new(seen, as_dict(as_dict(version.get("quality")).get("metrics")))
    # Accuracy says the most to most readers; a regressor's errors come as a pair.
    if "accuracy" in seen:
        charted = ["accuracy"]
    elif "mae" in seen or "rmse" in seen:
        charted = [k for k in ("mae", "rmse") if k in seen]
    else:
        charted = seen[:1]
    x_labels = [fmt_axis_time(t.get("at")) for t in trend]
    charts = []
    for metric in charted:
        series = [
            (
                labels[key],
                colors[key],
                [num(as_dict(trend_version(t, key).get("quality")).get(metric)) for t in trend],
            )
            for key in colors
        ]
        chart = line_chart(series, x_labels, title=metric_name(metric))
        charts.append(MetricChart(metric_name(metric), chart))
    # Metrics measured in this window, then those only recorded at registration (still worth
    # a row: "no labels yet (registered 0.910)" says what the labels would be checked against).
    current: list[Any] = []
    for version in versions:
        _add_new(current, as_dict(as_dict(version.get("quality")).get("metrics")))
    for version in versions:
        _add_new(current, as_dict(version.get("registered_metrics")))
    unlabelled = []
    columns = []
    for version in versions:
        numbers = as_dict(version.get("quality"))
        metrics = as_dict(numbers.get("metrics"))
        labelled = num(numbers.get("labelled"))
        if not labelled or not metrics:
            unlabelled.append(text(version.get("version")))
        columns.append([fmt_count(labelled or 0)] + [compared(version, k) for k in current])
    names = ["Labelled records"] + [metric_name(k) for k in current]
    return Quality(
        model=model,
        columns=[Column("Metric")]
        + [Column(f"Version {text(v.get('version'))}", True) for v in versions],
        rows=[(name, [c[i] for c in columns]) for i, name in enumerate(names)] if versions else [],
        unlabelled=unlabelled,
        registered=any(as_dict(v.get("registered_metrics")) for v in versions),
        charts=charts,
        labels_since=fmt_time(since) if since else None,
    )


def rollout(versions: list[dict[str, Any]], decisions: list[Any]) -> Rollout | None:
    """API requests, server errors and latency per version, and what the monitor decided."""
    served = [v for v in versions if as_dict(v.get("serving"))]
    if not served and not decisions:
        return None
    rows = []
    for version in served:
        serving = as_dict(version.get("serving"))
        rate = num(serving.get("error_rate"))
        rows.append(
            ServingRow(
                version=version_name(version),
                requests=fmt_count(serving.get("requests"), NONE_YET),
                errors=fmt_count(serving.get("errors"), NONE_YET),
                error_rate=Value(fmt_share(rate, NO_REQUESTS), bad=bool(rate)),
                p50=fmt_ms(serving.get("latency_p50_ms")),
                p95=fmt_ms(serving.get("latency_p95_ms")),
            )
        )
    return Rollout(rows, [_decision(as_dict(d)) for d in decisions])


def _decision(entry: dict[str, Any]) -> Decision:
    if entry.get("role"):
        subject = f"{text(entry.get('role'))} version {text(entry.get('version'))}"
    elif entry.get("version") is not None:
        subject = f"version {text(entry.get('version'))}"
    else:
        subject = ""
    # Free text from the rollout may quote ids (a request, an etag): the page drops them.
    reasons = [without_ids(r) for r in as_list(entry.get("reasons"))]
    reasons += [without_ids(r) for r in as_list(as_dict(entry.get("gate")).get("reasons"))]
    if entry.get("error"):
        reasons.append(without_ids(entry.get("error")))
    return Decision(
        action=fmt_text(entry.get("action")),
        subject=subject,
        outcome=without_ids(entry.get("outcome") or entry.get("note") or ""),
        reasons=reasons,
    )


def _add_new(names: list[Any], found: dict[Any, Any]) -> None:
    """Append the keys of `found` not in `names` yet, keeping first-seen order."""
    names.extend(k for k in found if k not in names)


def _benchmark_fact(measured: dict[str, Any]) -> str:
    """The stored benchmark in a card: p99 and throughput against the version it was run on."""
    ratios = as_dict(measured.get("ratios"))
    against = text(measured.get("against_version"))
    return (
        f"benchmark vs version {against}: p99 {fmt_metric(measured.get('p99_ms'))} ms "
        f"({fmt_metric(ratios.get('p99_ms'))}×), {fmt_count(measured.get('records_per_s'))} "
        f"records/s ({fmt_metric(ratios.get('records_per_s'))}×)"
    )
