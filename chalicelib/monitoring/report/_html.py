"""The monitor report (format 1) as one self-contained HTML page.

Inline CSS and inline SVG only: no scripts, stylesheets, fonts or images from anywhere, so the
page can be mailed, attached or opened from S3 as is, and printed. Every string that comes from
the report (model, feature names, bin labels, categories, aliases...) is untrusted and escaped;
numbers are re-formatted from floats, never copied through. Missing or null values render as
gaps in charts and "–" in tables.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from html import escape
from typing import Any

from chalicelib.core import parse_time

DASH = "–"
MAX_BARS = 16  # a chart shows at most this many bins; the rest are pooled in one row

VERSION_COLORS = ["#2563eb", "#d97706", "#7c3aed", "#0d9488", "#db2777", "#65a30d", "#475569"]
REFERENCE_COLOR = "#a3adbd"
CURRENT_COLOR = "#2563eb"
BAD_COLOR = "#dc2626"

STATUS_TEXT = {"drift": "Drift detected", "ok": "OK", "not_enough_data": "Not enough data"}
STATE_TEXT = {
    "ok": "ok",
    "breach": "breach",
    "drifted": "drifted",
    "not_enough_data": "not enough data",
}
METRIC_NAMES = {
    "accuracy": "Accuracy",
    "roc_auc": "ROC AUC",
    "log_loss": "Log loss",
    "precision": "Precision",
    "recall": "Recall",
    "f1": "F1",
    "mae": "MAE",
    "rmse": "RMSE",
    "r2": "R²",
}
METRIC_LABELS = {"psi": "PSI", "js": "JS", "wasserstein": "Wasserstein"}
TRIGGERS = {"schedule": "Scheduled run", "cli": "Manual run (sklambda monitor)"}

_CSS = """
*{box-sizing:border-box}
body{margin:0;background:#f5f6f8;color:#1f2937;
font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;
-webkit-print-color-adjust:exact;print-color-adjust:exact}
main{max-width:1200px;margin:0 auto;padding:24px}
h1{font-size:26px;margin:2px 0 8px}
h2{font-size:18px;margin:28px 0 10px;padding-bottom:4px;border-bottom:2px solid #e5e7eb}
h3{font-size:15px;margin:18px 0 8px}
h4{font-size:15px;margin:0;word-break:break-word}
p{margin:6px 0}
code{font:12px ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;background:#eef0f3;
padding:1px 4px;border-radius:3px;overflow-wrap:anywhere}
.eyebrow{font-size:12px;text-transform:uppercase;letter-spacing:.08em;color:#6b7280}
.meta{display:flex;flex-wrap:wrap;gap:6px 28px;margin:0;color:#374151}
.meta div{display:flex;gap:6px}.meta dt{color:#6b7280}.meta dd{margin:0;font-weight:600}
.muted{color:#6b7280}.small{font-size:12px}
.card{background:#fff;border:1px solid #e5e7eb;border-radius:8px;padding:14px 16px}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(520px,1fr));gap:14px}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(330px,1fr));gap:14px}
.banner{margin:16px 0 4px;padding:12px 16px;border-radius:8px;font-size:16px;font-weight:600;
border-left:6px solid}
.s-drift{background:#fee2e2;border-color:#dc2626;color:#7f1d1d}
.s-ok{background:#dcfce7;border-color:#16a34a;color:#14532d}
.s-nodata{background:#eceff3;border-color:#64748b;color:#334155}
.vcard{border-left:6px solid;border-radius:8px;padding:12px 14px}
.vcard .vstatus{font-size:20px;font-weight:700;margin:2px 0}
.vcard .vhead{display:flex;flex-wrap:wrap;align-items:center;gap:6px;font-weight:600}
.chip{display:inline-block;font-size:12px;font-weight:600;padding:1px 8px;border-radius:10px;
background:#fff;border:1px solid #cbd5e1;color:#334155}
.badge{display:inline-block;font-size:12px;font-weight:600;padding:1px 8px;border-radius:10px;
white-space:nowrap}
.b-ok{background:#dcfce7;color:#166534}.b-breach{background:#fef3c7;color:#92400e}
.b-drifted{background:#fee2e2;color:#991b1b}.b-nodata{background:#e5e7eb;color:#374151}
table{border-collapse:collapse;width:100%;background:#fff;font-variant-numeric:tabular-nums}
th,td{padding:6px 10px;border-bottom:1px solid #e5e7eb;text-align:left;vertical-align:top}
th{font-size:12px;color:#4b5563;background:#f9fafb;font-weight:600}
td.n,th.n{text-align:right}
tr.total td{font-weight:600;border-top:2px solid #d1d5db}
.limit{display:block;font-weight:400;color:#6b7280;font-size:11px}
.bad{color:#b91c1c;font-weight:700}
.tablewrap{overflow-x:auto;border:1px solid #e5e7eb;border-radius:8px}
.fhead{display:flex;align-items:center;gap:8px;flex-wrap:wrap;margin-bottom:2px}
.type{font-size:12px;color:#6b7280}
.fstats{font-size:12px;color:#4b5563;margin-bottom:6px;font-variant-numeric:tabular-nums}
.sub{font-size:12px;font-weight:600;color:#4b5563;margin:8px 0 2px}
.newcats{font-size:12px;margin:4px 0}
.newcats span{display:inline-block;margin:2px 6px 2px 0;padding:1px 6px;border-radius:4px;
background:#fef3c7;color:#78350f;overflow-wrap:anywhere}
svg{display:block;max-width:100%;height:auto;font-size:11px}
svg .ax{stroke:#e5e7eb;stroke-width:1}svg .base{stroke:#9ca3af;stroke-width:1}
svg .tk{fill:#6b7280;font-size:10px}svg .lb{fill:#374151}
svg .ln{fill:none;stroke-width:2;stroke-linejoin:round;stroke-linecap:round}
svg .th{stroke:#dc2626;stroke-width:1;stroke-dasharray:4 3}svg .tht{fill:#b91c1c;font-size:10px}
svg .ref{fill:#a3adbd}svg .cur{fill:#2563eb}
footer{margin-top:32px;color:#374151}
.card h3{margin-top:0}
footer dl{display:grid;grid-template-columns:max-content 1fr;gap:6px 16px;margin:8px 0}
footer dt{font-weight:600}footer dd{margin:0}
@page{size:A4;margin:12mm}
@media print{body{background:#fff;font-size:12px}main{max-width:none;padding:0}
.card,.vcard,tr,.banner{break-inside:avoid}h2,h3{break-after:avoid}
.grid{grid-template-columns:1fr}.tablewrap{overflow:visible}}
"""


def render_report_html(report: Mapping[str, Any]) -> str:
    """One self-contained HTML page for a monitor report (format 1)."""
    model = _str(report.get("model")) or "model"
    run = _dict(report.get("run"))
    thresholds = _dict(report.get("thresholds"))
    versions = [v for v in _list(report.get("versions")) if isinstance(v, dict)]
    trend = [t for t in _list(report.get("trend")) if isinstance(t, dict)]
    aliases = _dict(report.get("aliases"))
    colors = _version_colors(versions, trend)
    labels = _version_labels(versions, trend)
    parts = [
        _header(model, run),
        _banner(versions, bool(report.get("flagged"))),
        _overview(versions, aliases, thresholds),
        _traffic_section(versions, trend, colors, labels, aliases),
        _quality_section(model, versions, trend, colors, labels),
        _rollout_section(versions, _list(report.get("decisions"))),
        _drift_section(versions, thresholds),
        _features_section(versions, trend, thresholds),
        _footer(thresholds),
    ]
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>{_e(model)} · monitor report</title><style>{_CSS}</style></head>"
        f"<body><main>{''.join(parts)}</main></body></html>\n"
    )


# --- sections -------------------------------------------------------------------------------


def _header(model: str, run: dict[str, Any]) -> str:
    window = _dict(run.get("window"))
    hours = _num(window.get("hours"))
    span = f"{_when(window.get('start'))} → {_when(window.get('end'))}"
    if hours is not None:
        span += f" ({_fmt_number(hours)} h)"
    trigger = _str(run.get("trigger"))
    items = [
        ("Run", _when(run.get("at"))),
        ("Window", span),
        ("Trigger", _e(TRIGGERS.get(trigger, trigger) or DASH)),
    ]
    if run.get("event_id"):
        items.append(("Event", f"<code>{_e(run.get('event_id'))}</code>"))
    meta = "".join(f"<div><dt>{name}</dt><dd>{value}</dd></div>" for name, value in items)
    return (
        '<header><div class="eyebrow">Model monitoring report</div>'
        f'<h1>{_e(model)}</h1><dl class="meta">{meta}</dl></header>'
    )


def _banner(versions: list[dict[str, Any]], flagged: bool) -> str:
    if not versions:
        return '<div class="banner s-nodata">No live versions in this window.</div>'
    drifted = [v for v in versions if v.get("drift_detected") or v.get("status") == "drift"]
    if flagged or drifted:
        names = ", ".join(_version_name(v) for v in drifted) or "a live version"
        return (
            f'<div class="banner s-drift">Drift detected in {names}: '
            "live data no longer looks like the training data. See the features below.</div>"
        )
    if all(v.get("status") == "not_enough_data" for v in versions):
        return (
            '<div class="banner s-nodata">Not enough data in this window to judge drift '
            "for any version.</div>"
        )
    return '<div class="banner s-ok">No drift detected in this window.</div>'


def _overview(
    versions: list[dict[str, Any]], aliases: dict[str, Any], thresholds: dict[str, Any]
) -> str:
    if not versions:
        return ""
    cards = []
    for version in versions:
        status = _str(version.get("status"))
        css = {"drift": "s-drift", "ok": "s-ok"}.get(status, "s-nodata")
        features = [f for f in _list(version.get("features")) if isinstance(f, dict)]
        states = [_str(f.get("state")) for f in features]
        judged = sum(1 for s in states if s != "not_enough_data")
        facts = []
        if status == "not_enough_data" or not judged:
            need = _num(thresholds.get("min_samples"))
            needed = f"at least {_fmt_count(need)} values per feature" if need else "more data"
            facts.append(f"Drift needs {needed}")
        else:
            facts.append(f"{states.count('drifted')} of {judged} features drifted")
            if states.count("breach"):
                facts.append(f"{states.count('breach')} over a threshold")
        prediction = _dict(version.get("prediction"))
        if prediction.get("state") == "drifted":
            facts.append("prediction drifted")
        total = _num(_dict(version.get("traffic")).get("total"))
        facts.append(f"{_fmt_count(total)} rows")
        quality = _dict(version.get("quality"))
        metrics = _dict(quality.get("metrics"))
        if metrics:
            name, value = next(iter(metrics.items()))
            facts.append(f"{_e(_metric_name(name))} {_fmt_metric(value)}")
        facts.append(f"{_fmt_count(_num(quality.get('labelled')) or 0)} labelled")
        cards.append(
            f'<div class="vcard {css}"><div class="vhead">Version {_e(version.get("version"))}'
            f"{_roles(version, aliases)}</div>"
            f'<div class="vstatus">{_e(STATUS_TEXT.get(status, status or DASH))}</div>'
            f'<div class="small">{" · ".join(facts)}</div></div>'
        )
    return f'<h2>Status by version</h2><div class="cards">{"".join(cards)}</div>'


def _traffic_section(
    versions: list[dict[str, Any]],
    trend: list[dict[str, Any]],
    colors: dict[str, str],
    labels: dict[str, str],
    aliases: dict[str, Any],
) -> str:
    rows = []
    totals = [0.0, 0.0, 0.0]
    for version in versions:
        traffic = _dict(version.get("traffic"))
        values = [_num(traffic.get(k)) for k in ("http", "batch", "total")]
        for i, value in enumerate(values):
            totals[i] += value or 0.0
        cells = "".join(f'<td class="n">{_fmt_count(v)}</td>' for v in values)
        swatch = _swatch(colors.get(_key(version.get("version")), "#999"))
        roles = _roles(version, aliases, short=True)
        rows.append(f"<tr><td>{swatch}Version {_e(version.get('version'))}{roles}</td>{cells}</tr>")
    if len(versions) > 1:
        cells = "".join(f'<td class="n">{_fmt_count(v)}</td>' for v in totals)
        rows.append(f'<tr class="total"><td>All versions</td>{cells}</tr>')
    if rows:
        table = _table(
            ["Version", ("HTTP requests", "n"), ("Batch rows", "n"), ("Total", "n")], rows
        )
    else:
        table = '<p class="muted">No traffic: no live versions in this window.</p>'
    series = [
        (labels[key], colors[key], [_num(_trend_version(t, key).get("samples")) for t in trend])
        for key in colors
    ]
    chart = svg_line_chart(
        series,
        [_short_when(t.get("at")) for t in trend],
        title="Rows per run, by version",
        include_zero=True,
        counts=True,
    )
    return (
        "<h2>Traffic</h2>"
        '<div class="grid"><div class="card"><h3>This window</h3>'
        f"{table}"
        '<p class="small muted">HTTP requests are captured calls to the API; batch rows are '
        "sampled rows of batch jobs.</p></div>"
        f'<div class="card"><h3>Recent runs</h3>{chart}</div></div>'
    )


def _quality_section(
    model: str,
    versions: list[dict[str, Any]],
    trend: list[dict[str, Any]],
    colors: dict[str, str],
    labels: dict[str, str],
) -> str:
    seen: list[str] = []
    for entry in trend:
        for item in _dict(entry.get("versions")).values():
            seen.extend(k for k in _dict(_dict(item).get("quality")) if k not in seen)
    for version in versions:
        metrics = _dict(_dict(version.get("quality")).get("metrics"))
        seen.extend(k for k in metrics if k not in seen)
    if "accuracy" in seen:
        charted = ["accuracy"]
    elif "mae" in seen or "rmse" in seen:
        charted = [k for k in ("mae", "rmse") if k in seen]
    else:
        charted = seen[:1]
    charts = []
    for metric in charted:
        series = [
            (
                labels[key],
                colors[key],
                [_num(_dict(_trend_version(t, key).get("quality")).get(metric)) for t in trend],
            )
            for key in colors
        ]
        charts.append(
            f'<div class="card"><h3>{_e(_metric_name(metric))} over recent runs</h3>'
            + svg_line_chart(
                series, [_short_when(t.get("at")) for t in trend], title=_metric_name(metric)
            )
            + "</div>"
        )
    hint = (
        "no ground truth joined in this window; send feedback to "
        f"<code>POST /models/{_e(model)}/feedback</code>"
    )
    current: list[str] = []
    for version in versions:
        metrics = _dict(_dict(version.get("quality")).get("metrics"))
        current.extend(k for k in metrics if k not in current)
    notes = []
    columns = []
    for version in versions:
        quality = _dict(version.get("quality"))
        metrics = _dict(quality.get("metrics"))
        labelled = _num(quality.get("labelled"))
        if not labelled or not metrics:
            notes.append(f"<p>Version {_e(version.get('version'))}: {hint}.</p>")
        columns.append([_fmt_count(labelled or 0)] + [_fmt_metric(metrics.get(k)) for k in current])
    window = ""
    if versions:
        rows = [
            f"<tr><td>{_e(name)}</td>"
            + "".join(f'<td class="n">{column[i]}</td>' for column in columns)
            + "</tr>"
            for i, name in enumerate(["Labelled rows"] + [_metric_name(k) for k in current])
        ]
        header: list[str | tuple[str, str]] = ["Metric"]
        header += [(f"Version {_str(v.get('version'))}", "n") for v in versions]
        window = (
            f'<div class="card"><h3>This window</h3>{_table(header, rows)}'
            f'<div class="small muted">{"".join(notes)}</div></div>'
        )
    elif not charts:
        charts.append('<div class="card"><p class="muted">No quality history yet.</p></div>')
    return (
        "<h2>Accuracy</h2>"
        '<p class="small muted">Predictions are scored against the ground truth sent back as '
        "feedback; only labelled rows count.</p>"
        f'<div class="grid">{window}{"".join(charts)}</div>'
    )


def _rollout_section(versions: list[dict[str, Any]], decisions: list[Any]) -> str:
    """Requests, server errors and latency per version, and what the monitor decided."""
    served = [v for v in versions if _dict(v.get("serving"))]
    if not served and not decisions:
        return ""
    rows = []
    for version in served:
        serving = _dict(version.get("serving"))
        rate = _num(serving.get("error_rate"))
        rate_text = _fmt_share(rate) if rate is not None else DASH
        if rate:
            rate_text = f'<span class="bad">{rate_text}</span>'
        p50, p95 = _num(serving.get("latency_p50_ms")), _num(serving.get("latency_p95_ms"))
        rows.append(
            f"<tr><td>{_version_name(version)}</td>"
            f'<td class="n">{_fmt_count(_num(serving.get("requests")))}</td>'
            f'<td class="n">{_fmt_count(_num(serving.get("errors")))}</td>'
            f'<td class="n">{rate_text}</td>'
            f'<td class="n">{_e(f"{p50:g} ms" if p50 is not None else DASH)}</td>'
            f'<td class="n">{_e(f"{p95:g} ms" if p95 is not None else DASH)}</td></tr>'
        )
    header: list[str | tuple[str, str]] = [
        "Version",
        ("HTTP requests", "n"),
        ("Server errors", "n"),
        ("Error rate", "n"),
        ("p50 latency", "n"),
        ("p95 latency", "n"),
    ]
    blocks = ["<h2>Serving and rollout</h2>"]
    if rows:
        blocks.append(f'<div class="tablewrap">{_table(header, rows)}</div>')
    items = []
    for decision in decisions:
        entry = _dict(decision)
        what = _str(entry.get("action"))
        subject = (
            f"{_e(entry.get('role'))} version {_e(entry.get('version'))}"
            if entry.get("role")
            else f"version {_e(entry.get('version'))}"
            if entry.get("version") is not None
            else ""
        )
        outcome = _str(entry.get("outcome") or entry.get("note") or "")
        reasons = [_str(r) for r in _list(entry.get("reasons"))]
        gate = _dict(entry.get("gate"))
        reasons += [_str(r) for r in _list(gate.get("reasons"))]
        if entry.get("error"):
            reasons.append(_str(entry.get("error")))
        items.append(
            f"<li><b>{_e(what)}</b> {subject}"
            + (f" → {_e(outcome)}" if outcome else "")
            + (f'<div class="small muted">{_e("; ".join(reasons))}</div>' if reasons else "")
            + "</li>"
        )
    if items:
        blocks.append(f"<h3>Decisions this run</h3><ul>{''.join(items)}</ul>")
    return "".join(blocks)


def _drift_section(versions: list[dict[str, Any]], thresholds: dict[str, Any]) -> str:
    if not versions:
        return ""
    blocks = [
        "<h2>Drift summary</h2>",
        f'<p class="small muted">{_threshold_sentence(thresholds)}</p>',
    ]
    needed = _num(thresholds.get("consecutive_breaches"))
    for version in versions:
        rows = []
        for feature, is_prediction in _features_of(version):
            name = _str(feature.get("name"))
            label = f"<b>{_e(name)}</b>"
            if is_prediction:
                label = f'{label} <span class="muted small">(prediction)</span>'
            breached = {_str(b) for b in _list(feature.get("breached"))}
            numbers = [_fmt_count(_num(feature.get("samples"))), _missing(feature)]
            for metric in METRIC_LABELS:
                value = _fmt_metric(feature.get(metric))
                if metric in breached:
                    value = f'<span class="bad">{value}</span>'
                limit = _limit(thresholds, name, metric)
                if limit != _num(thresholds.get(metric)):
                    value += f'<span class="limit">limit {_fmt_limit(limit)}</span>'
                numbers.append(value)
            consecutive = _fmt_count(_num(feature.get("consecutive")))
            numbers.append(f"{consecutive} / {_fmt_count(needed)}" if needed else consecutive)
            rows.append(
                f"<tr><td>{label}</td><td>{_e(feature.get('type') or DASH)}</td>"
                + "".join(f'<td class="n">{n}</td>' for n in numbers)
                + f"<td>{badge(feature.get('state'))}</td></tr>"
            )
        header: list[str | tuple[str, str]] = [
            "Feature",
            "Type",
            ("Values", "n"),
            ("Missing (training)", "n"),
            *[(_limit_text(m, thresholds.get(m)), "n") for m in METRIC_LABELS],
            ("Breaches in a row", "n"),
            "State",
        ]
        table = _table(header, rows) if rows else '<p class="muted">No features.</p>'
        blocks.append(
            f"<h3>Version {_e(version.get('version'))} · "
            f"{_e(STATUS_TEXT.get(_str(version.get('status')), version.get('status') or DASH))}"
            f'</h3><div class="tablewrap">{table}</div>'
        )
    return "".join(blocks)


def _features_section(
    versions: list[dict[str, Any]], trend: list[dict[str, Any]], thresholds: dict[str, Any]
) -> str:
    if not versions:
        return ""
    blocks = [
        "<h2>Features</h2>",
        '<p class="small muted">Share of values per bin in the training data (grey) and in '
        "this window (blue), then PSI over recent runs against its limit (dashed).</p>",
    ]
    x_labels = [_short_when(t.get("at")) for t in trend]
    for version in versions:
        key = _key(version.get("version"))
        cards = []
        for feature, is_prediction in _features_of(version):
            name = _str(feature.get("name"))
            if is_prediction:
                history = [_num(_trend_version(t, key).get("prediction_psi")) for t in trend]
            else:
                history = [
                    _num(_dict(_trend_version(t, key).get("features")).get(name)) for t in trend
                ]
            cards.append(_feature_card(feature, is_prediction, history, x_labels, thresholds, name))
        roles = ", ".join(_e(r) for r in _list(version.get("roles")))
        blocks.append(
            f"<h3>Version {_e(version.get('version'))}"
            + (f" · {roles}" if roles else "")
            + f'</h3><div class="grid">{"".join(cards)}</div>'
        )
    return "".join(blocks)


def _feature_card(
    feature: dict[str, Any],
    is_prediction: bool,
    history: list[float | None],
    x_labels: list[str],
    thresholds: dict[str, Any],
    name: str,
) -> str:
    breached = {_str(b) for b in _list(feature.get("breached"))}
    stats = []
    for metric, title in (("psi", "PSI"), ("js", "JS"), ("wasserstein", "Wasserstein")):
        value = _fmt_metric(feature.get(metric))
        stats.append(
            f'{title} <span class="bad">{value}</span>'
            if metric in breached
            else f"{title} {value}"
        )
    stats.append(f"{_fmt_count(_num(feature.get('samples')))} values")
    stats.append(f"missing {_missing(feature)}")
    bins = _dict(feature.get("bins"))
    chart = svg_bar_chart(
        [_str(label) for label in _list(bins.get("labels"))],
        [_num(v) for v in _list(bins.get("reference"))],
        [_num(v) for v in _list(bins.get("current"))],
        title=f"{name}: training vs this window",
        feature=name,
    )
    new = _dict(feature.get("new_categories"))
    new_html = ""
    if new:
        items = "".join(
            f"<span>{_e(level)} ({_fmt_count(_num(count))})</span>" for level, count in new.items()
        )
        new_html = f'<div class="newcats"><b>New categories</b> (unseen in training): {items}</div>'
    limit = _limit(thresholds, name, "psi")
    if any(v is not None for v in history):
        spark = svg_sparkline(history, limit, x_labels, title=f"{name}: PSI over recent runs")
    else:
        spark = '<p class="small muted">No PSI history yet (not enough data in recent runs).</p>'
    kind = "prediction · " if is_prediction else ""
    return (
        f'<section class="card"><div class="fhead"><h4>{_e(name)}</h4>'
        f'<span class="type">{kind}{_e(feature.get("type") or DASH)}</span>'
        f"{badge(feature.get('state'))}</div>"
        f'<div class="fstats">{" · ".join(stats)}</div>{chart}{new_html}'
        f'<div class="sub">PSI over recent runs</div>{spark}</section>'
    )


def _footer(thresholds: dict[str, Any]) -> str:
    need = _fmt_count(_num(thresholds.get("consecutive_breaches")))
    minimum = _fmt_count(_num(thresholds.get("min_samples")))
    terms = [
        (
            "PSI",
            "Population stability index: how much the shares of values per bin moved between "
            "training and this window. Under 0.1 is stable, 0.1–0.2 a moderate shift, above 0.2 "
            "a significant shift.",
        ),
        (
            "JS distance",
            "Jensen–Shannon distance between the two distributions, from 0 (identical) to 1 "
            "(no overlap). Symmetric and bounded, so it is comparable across features.",
        ),
        (
            "Wasserstein",
            "Normalized Wasserstein (earth mover's) distance for numbers: how far values moved, "
            "in units of the training data's spread. 0.5 means about half a standard deviation. "
            "Not computed for categories.",
        ),
        (
            "Breaches in a row",
            f"A feature over a threshold is a breach; it is reported as drifted after {need} "
            "runs in a row with a breach, so a single noisy run does not raise an alarm. Runs "
            "without enough data leave the count unchanged.",
        ),
        (
            "Minimum sample size",
            f"A feature needs at least {minimum} values in the window to be judged; with fewer "
            "the metrics are too noisy and it is marked as not enough data.",
        ),
    ]
    definitions = "".join(f"<dt>{t}</dt><dd>{d}</dd>" for t, d in terms)
    overrides = []
    for name, limits in _dict(thresholds.get("features")).items():
        pairs = ", ".join(
            _e(_limit_text(_str(metric), value)) for metric, value in _dict(limits).items()
        )
        overrides.append(f"<b>{_e(name)}</b> {pairs}")
    override_html = f"<p>Per-feature limits: {'; '.join(overrides)}.</p>" if overrides else ""
    return (
        "<footer><h2>What the numbers mean</h2>"
        f"<dl>{definitions}</dl>"
        f"<p><b>Thresholds in force.</b> {_threshold_sentence(thresholds)}</p>{override_html}"
        '<p class="small muted">Generated by sklambda monitoring.</p></footer>'
    )


# --- building blocks ------------------------------------------------------------------------


def badge(state: Any) -> str:
    """A coloured pill for a feature state."""
    text = _str(state)
    css = {"ok": "b-ok", "breach": "b-breach", "drifted": "b-drifted"}.get(text, "b-nodata")
    return f'<span class="badge {css}">{_e(STATE_TEXT.get(text, text or DASH))}</span>'


def _table(header: Sequence[str | tuple[str, str]], rows: Sequence[str]) -> str:
    """A table from header cells (text, or (text, css class)) and already rendered rows."""
    cells = "".join(
        f'<th class="{h[1]}">{_e(h[0])}</th>' if isinstance(h, tuple) else f"<th>{_e(h)}</th>"
        for h in header
    )
    return f"<table><thead><tr>{cells}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def svg_bar_chart(
    labels: Sequence[str],
    reference: Sequence[float | None],
    current: Sequence[float | None],
    *,
    title: str,
    feature: str = "",
    width: int = 520,
) -> str:
    """Horizontal grouped bars: the training and current share of each bin, side by side."""
    rows = _pool_rows(labels, reference, current)
    label_w, value_w, top, row_h = 140, 92, 26, 24
    bar_w = width - label_w - value_w - 6
    height = top + max(len(rows), 1) * row_h + 4
    peak = max([v for _, r, c in rows for v in (r, c) if v is not None] + [0.01])
    out = [
        f'<svg class="chart dist" data-feature="{_e(feature)}" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" role="img" aria-label="{_e(title)}">'
        f"<title>{_e(title)}</title>",
        _legend([("Training", REFERENCE_COLOR), ("This window", CURRENT_COLOR)], 0, 14),
    ]
    if not rows:
        out.append(f'<text class="tk" x="{label_w}" y="{top + 14}">no bins</text>')
    for i, (label, ref, cur) in enumerate(rows):
        y = top + i * row_h
        short = label if len(label) <= 22 else label[:21] + "…"
        out.append(
            f'<text class="lb" x="{label_w - 8}" y="{y + 15}" text-anchor="end">'
            f"<title>{_e(label)}</title>{_e(short)}</text>"
        )
        for offset, value, css in ((3, ref, "ref"), (12, cur, "cur")):
            if value is not None and value > 0:
                length = max(bar_w * value / peak, 1.0)
                out.append(
                    f'<rect class="{css}" x="{label_w}" y="{y + offset}" '
                    f'width="{length:.1f}" height="8" rx="1"/>'
                )
        out.append(
            f'<text class="tk" x="{width - 2}" y="{y + 15}" text-anchor="end">'
            f"{_fmt_share(ref)} → {_fmt_share(cur)}</text>"
        )
    out.append(
        f'<line class="base" x1="{label_w}" y1="{top - 2}" x2="{label_w}" y2="{height - 4}"/>'
    )
    out.append("</svg>")
    return "".join(out)


def svg_line_chart(
    series: Sequence[tuple[str, str, Sequence[float | None]]],
    x_labels: Sequence[str],
    *,
    title: str,
    width: int = 540,
    height: int = 230,
    include_zero: bool = False,
    counts: bool = False,
) -> str:
    """One line per series (name, colour, values; None leaves a gap), with a legend."""
    series = [s for s in series if any(v is not None for v in s[2])]
    values = [v for _, _, vs in series for v in vs if v is not None]
    if not values or not x_labels:
        return '<p class="small muted">No runs recorded yet.</p>'
    left, right, top, bottom = 52, 14, 30, 26
    plot_w, plot_h = width - left - right, height - top - bottom
    lo, hi = min(values), max(values)
    if include_zero:
        lo = min(lo, 0.0)
    ticks = _ticks(lo, hi)
    y_of = _scale(ticks[0], ticks[-1], top + plot_h, top)
    x_of = _x_positions(len(x_labels), left, plot_w)
    fmt: Callable[[float], str] = _fmt_compact if counts else _tick_formatter(ticks)
    out = [
        f'<svg class="chart line" viewBox="0 0 {width} {height}" width="{width}" '
        f'height="{height}" role="img" aria-label="{_e(title)}"><title>{_e(title)}</title>',
        _legend([(name, color) for name, color, _ in series], left, 14),
    ]
    for tick in ticks:
        y = y_of(tick)
        out.append(
            f'<line class="ax" x1="{left}" y1="{y:.1f}" x2="{width - right}" y2="{y:.1f}"/>'
            f'<text class="tk" x="{left - 6}" y="{y + 3:.1f}" text-anchor="end">{fmt(tick)}</text>'
        )
    out.append(_x_axis(x_labels, x_of, height - 8, plot_w))
    for _, color, vs in series:
        points = [
            (x_of(i), y_of(v)) if v is not None else None
            for i, v in enumerate(list(vs)[: len(x_labels)])
        ]
        path, dots = _path(points)
        if path:
            out.append(f'<path class="ln" stroke="{_e(color)}" d="{path}"/>')
        last = points[-1] if points else None
        for x, y in dots + ([last] if last and last not in dots else []):
            out.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{_e(color)}"/>')
    out.append("</svg>")
    return "".join(out)


def svg_sparkline(
    values: Sequence[float | None],
    threshold: float | None,
    x_labels: Sequence[str],
    *,
    title: str,
    width: int = 520,
    height: int = 78,
) -> str:
    """A small PSI line with the threshold dashed; runs at or over the threshold dotted red."""
    present = [v for v in values if v is not None]
    left, right, top, bottom = 40, 62, 8, 18
    plot_w, plot_h = width - left - right, height - top - bottom
    hi = max(present + ([threshold] if threshold is not None else []) + [0.01]) * 1.1
    y_of = _scale(0.0, hi, top + plot_h, top)
    x_of = _x_positions(len(values), left, plot_w)
    out = [
        f'<svg class="chart spark" viewBox="0 0 {width} {height}" width="{width}" '
        f'height="{height}" role="img" aria-label="{_e(title)}"><title>{_e(title)}</title>',
        f'<line class="base" x1="{left}" y1="{top + plot_h}" x2="{width - right}" '
        f'y2="{top + plot_h}"/>',
        f'<text class="tk" x="{left - 6}" y="{top + plot_h + 3}" text-anchor="end">0</text>',
    ]
    peak = max(present, default=None)
    if peak is not None and top + plot_h - y_of(peak) >= 11:  # else it would sit on the "0"
        out.append(
            f'<text class="tk" x="{left - 6}" y="{y_of(peak) + 3:.1f}" text-anchor="end">'
            f"{_fmt_metric(peak)}</text>"
        )
    if threshold is not None:
        y = y_of(threshold)
        out.append(
            f'<line class="th" x1="{left}" y1="{y:.1f}" x2="{width - right}" y2="{y:.1f}"/>'
            f'<text class="tht" x="{width - right + 6}" y="{y + 3:.1f}">'
            f"limit {_fmt_limit(threshold)}</text>"
        )
    points = [(x_of(i), y_of(v)) if v is not None else None for i, v in enumerate(values)]
    path, dots = _path(points)
    if path:
        out.append(f'<path class="ln" stroke="#334155" stroke-width="1.5" d="{path}"/>')
    for i, v in enumerate(values):
        point = points[i]
        if point is None or v is None:
            continue
        over = threshold is not None and v >= threshold
        if over or point in dots or i == len(values) - 1:
            color = BAD_COLOR if over else "#334155"
            out.append(f'<circle cx="{point[0]:.1f}" cy="{point[1]:.1f}" r="2.5" fill="{color}"/>')
    if x_labels:
        first, last = _e(x_labels[0]), _e(x_labels[-1])
        out.append(f'<text class="tk" x="{left}" y="{height - 4}">{first}</text>')
        if len(x_labels) > 1:
            out.append(
                f'<text class="tk" x="{width - right}" y="{height - 4}" text-anchor="end">'
                f"{last}</text>"
            )
    out.append("</svg>")
    return "".join(out)


def _legend(items: Sequence[tuple[str, str]], x: float, y: float) -> str:
    """Coloured squares and names in a row (names escaped; widths estimated)."""
    out = []
    for name, color in items:
        out.append(
            f'<rect x="{x:.0f}" y="{y - 9}" width="10" height="10" rx="2" fill="{_e(color)}"/>'
            f'<text class="lb" x="{x + 14:.0f}" y="{y}">{_e(name)}</text>'
        )
        x += 14 + 6.5 * len(name) + 16
    return "".join(out)


def _x_axis(labels: Sequence[str], x_of: Callable[[int], float], y: float, width: float) -> str:
    """Evenly spread time labels, about 130 px apart; the outer ones anchored inside the chart."""
    n = len(labels)
    slots = max(2, int(width // 130) + 1)
    picks = (
        sorted({round(i * (n - 1) / (slots - 1)) for i in range(slots)})
        if n > slots
        else [*range(n)]
    )
    out = []
    for i in picks:
        anchor = "start" if i == 0 and n > 1 else "end" if i == n - 1 and n > 1 else "middle"
        out.append(
            f'<text class="tk" x="{x_of(i):.1f}" y="{y}" text-anchor="{anchor}">'
            f"{_e(labels[i])}</text>"
        )
    return "".join(out)


def _path(points: Sequence[tuple[float, float] | None]) -> tuple[str, list[tuple[float, float]]]:
    """SVG path data through the points, broken at None; lone points returned to be dotted."""
    parts: list[str] = []
    lone: list[tuple[float, float]] = []
    run: list[tuple[float, float]] = []
    for point in [*points, None]:
        if point is not None:
            run.append(point)
            continue
        if len(run) == 1:
            lone.append(run[0])
        elif run:
            parts.append("M" + "L".join(f"{x:.1f},{y:.1f}" for x, y in run))
        run = []
    return "".join(parts), lone


def _pool_rows(
    labels: Sequence[str], reference: Sequence[float | None], current: Sequence[float | None]
) -> list[tuple[str, float | None, float | None]]:
    """(label, reference, current) per bin; beyond MAX_BARS the smallest bins pooled in one."""
    rows = [
        (
            label,
            reference[i] if i < len(reference) else None,
            current[i] if i < len(current) else None,
        )
        for i, label in enumerate(labels)
    ]
    if len(rows) <= MAX_BARS:
        return rows
    size = [max(r or 0.0, c or 0.0) for _, r, c in rows]
    keep = set(sorted(range(len(rows)), key=lambda i: -size[i])[: MAX_BARS - 1])
    pooled = [rows[i] for i in range(len(rows)) if i not in keep]
    kept = [rows[i] for i in range(len(rows)) if i in keep]
    ref = sum(r or 0.0 for _, r, _ in pooled)
    cur = sum(c or 0.0 for _, _, c in pooled)
    return [*kept, (f"{len(pooled)} other bins", ref, cur)]


# --- scales and formatting ------------------------------------------------------------------


def _ticks(lo: float, hi: float, count: int = 4) -> list[float]:
    """Round tick values covering [lo, hi]."""
    if hi <= lo:
        pad = abs(hi) * 0.1 or 1.0
        lo, hi = lo - pad, hi + pad
    raw = (hi - lo) / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = magnitude * 10
    for multiple in (1, 2, 2.5, 5, 10):
        if (hi - lo) / (multiple * magnitude) <= count:
            step = multiple * magnitude
            break
    first = math.floor(lo / step + 1e-9)
    last = math.ceil(hi / step - 1e-9)
    return [round(k * step, 12) for k in range(first, last + 1)]


def _tick_formatter(ticks: Sequence[float]) -> Callable[[float], str]:
    step = abs(ticks[1] - ticks[0]) if len(ticks) > 1 else abs(ticks[0])
    if not step:
        return lambda value: f"{value:g}"
    exponent = math.floor(math.log10(step))
    decimals = max(0, -exponent) + (1 if round(step / 10**exponent, 6) == 2.5 else 0)
    decimals = min(decimals, 4)
    return lambda value: f"{value:.{decimals}f}"


def _scale(lo: float, hi: float, out_lo: float, out_hi: float) -> Callable[[float], float]:
    span = (hi - lo) or 1.0
    return lambda value: out_lo + (min(max(value, lo), hi) - lo) / span * (out_hi - out_lo)


def _x_positions(n: int, left: float, width: float) -> Callable[[int], float]:
    if n <= 1:
        return lambda i: left + width / 2
    return lambda i: left + i * width / (n - 1)


def _fmt_compact(value: float) -> str:
    for limit, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= limit:
            return f"{value / limit:.3g}{suffix}"
    return f"{value:.3g}"


def _fmt_count(value: float | None) -> str:
    if value is None:
        return DASH
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.1f}"


def _fmt_number(value: float) -> str:
    return f"{value:g}"


def _fmt_metric(value: Any) -> str:
    number = _num(value)
    if number is None:
        return DASH
    if abs(number) >= 100:
        return f"{number:,.0f}"
    if abs(number) >= 10:
        return f"{number:.1f}"
    return f"{number:.3f}"


def _fmt_limit(value: Any) -> str:
    number = _num(value)
    return "off" if number is None else f"{number:g}"


def _fmt_share(value: float | None) -> str:
    if value is None:
        return DASH
    if 0 < value < 0.001:
        return "<0.1%"
    return f"{value * 100:.1f}%"


def _missing(feature: dict[str, Any]) -> str:
    current = _fmt_share(_num(feature.get("missing_rate")))
    reference = _fmt_share(_num(feature.get("reference_missing_rate")))
    return f"{current} ({reference})"


def _threshold_sentence(thresholds: dict[str, Any]) -> str:
    if not thresholds:
        return "The thresholds were not recorded in this report."
    checks = [
        _limit_text(metric, thresholds.get(metric))
        for metric in METRIC_LABELS
        if _num(thresholds.get(metric)) is not None
    ]
    if not checks:
        breach = "No drift metric is checked"
    else:
        breach = "A feature breaches when " + " or ".join(
            [", ".join(checks[:-1]), checks[-1]] if len(checks) > 1 else checks
        )
    return (
        f"{breach}; it is drifted after "
        f"{_fmt_count(_num(thresholds.get('consecutive_breaches')))} breaches in a row; "
        f"at least {_fmt_count(_num(thresholds.get('min_samples')))} values are needed."
    )


def _limit(thresholds: dict[str, Any], feature: str, metric: str) -> float | None:
    """A feature's threshold for a metric: its override if it has one, else the global one.

    None means the metric is off (an override of null turns it off for that feature).
    """
    overrides = _dict(_dict(thresholds.get("features")).get(feature))
    return _num(overrides[metric] if metric in overrides else thresholds.get(metric))


def _limit_text(metric: str, value: Any) -> str:
    """'PSI ≥ 0.2', or 'PSI off' when the metric is not checked."""
    label = METRIC_LABELS.get(metric, metric)
    return f"{label} ≥ {_fmt_limit(value)}" if _num(value) is not None else f"{label} off"


def _metric_name(metric: Any) -> str:
    name = _str(metric)
    return METRIC_NAMES.get(name, name.replace("_", " ").capitalize())


def _when(value: Any) -> str:
    """A timestamp as '23 Nov 2026, 10:00 UTC' (escaped text as is when not ISO 8601)."""
    moment = parse_time(value)
    if moment is None:
        return _e(value) if value else DASH
    return moment.strftime("%d %b %Y, %H:%M UTC").lstrip("0")


def _short_when(value: Any) -> str:
    """A timestamp as '23 Nov 10:00' for chart axes (not escaped: charts escape labels)."""
    moment = parse_time(value)
    if moment is None:
        return _str(value)
    return moment.strftime("%d %b %H:%M").lstrip("0")

    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


# --- versions ------------------------------------------------------------------------------


def _features_of(version: dict[str, Any]) -> list[tuple[dict[str, Any], bool]]:
    """The prediction first (when there is one), then the features in signature order."""
    out = []
    prediction = version.get("prediction")
    if isinstance(prediction, dict):
        out.append((prediction, True))
    out.extend((f, False) for f in _list(version.get("features")) if isinstance(f, dict))
    return out


def _roles(version: dict[str, Any], aliases: dict[str, Any], short: bool = False) -> str:
    """Chips for the aliases pointing at a version, with the traffic weight when there is one."""
    chips = []
    for role in _list(version.get("roles")):
        weight = _num(_dict(aliases.get(_str(role))).get("weight"))
        text = _e(role)
        if weight is not None:
            text += f" · {weight * 100:g}%" + ("" if short else " of traffic")
        chips.append(f' <span class="chip">{text}</span>')
    return "".join(chips)


def _version_name(version: dict[str, Any]) -> str:
    roles = ", ".join(_e(r) for r in _list(version.get("roles")))
    return f"version {_e(version.get('version'))}" + (f" ({roles})" if roles else "")


def _key(version: Any) -> str:
    return _str(version)


def _trend_version(entry: dict[str, Any], key: str) -> dict[str, Any]:
    """A run's numbers for a version (JSON keys are strings; a dict built in Python may not be)."""
    versions = _dict(entry.get("versions"))
    found = versions.get(key)
    if found is None and key.lstrip("-").isdigit():
        found = versions.get(int(key))
    return _dict(found)


def _trend_keys(trend: list[dict[str, Any]]) -> list[str]:
    keys: list[str] = []
    for entry in trend:
        keys.extend(_key(k) for k in _dict(entry.get("versions")) if _key(k) not in keys)
    return keys


def _ordered_keys(versions: list[dict[str, Any]], trend: list[dict[str, Any]]) -> list[str]:
    """Live versions in report order, then versions only seen in the trend (newest first)."""
    live = [_key(v.get("version")) for v in versions]
    others = [k for k in _trend_keys(trend) if k not in live]
    others.sort(key=lambda k: (0, -int(k), "") if k.lstrip("-").isdigit() else (1, 0, k))
    return live + others


def _version_colors(versions: list[dict[str, Any]], trend: list[dict[str, Any]]) -> dict[str, str]:
    keys = _ordered_keys(versions, trend)
    return {k: VERSION_COLORS[i % len(VERSION_COLORS)] for i, k in enumerate(keys)}


def _version_labels(versions: list[dict[str, Any]], trend: list[dict[str, Any]]) -> dict[str, str]:
    """Raw (unescaped) legend names: 'v3 champion', or 'v2 (retired)' for trend-only versions."""
    roles = {
        _key(v.get("version")): " ".join(_str(r) for r in _list(v.get("roles"))) for v in versions
    }
    labels = {}
    for key in _ordered_keys(versions, trend):
        role = roles.get(key)
        labels[key] = f"v{key} {role}" if role else f"v{key}" if key in roles else f"v{key} (past)"
    return labels


def _swatch(color: str) -> str:
    return (
        f'<span style="display:inline-block;width:10px;height:10px;border-radius:2px;'
        f'margin-right:6px;background:{_e(color)}"></span>'
    )


# --- untrusted input ------------------------------------------------------------------------


def _e(value: Any) -> str:
    """Escaped text for element content and attribute values."""
    return escape("" if value is None else str(value), quote=True)


def _str(value: Any) -> str:
    return "" if value is None else str(value)


def _num(value: Any) -> float | None:
    """A finite number, or None (nulls, NaN, infinities, strings, booleans)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        number = float(value)
    except OverflowError:  # an int too large for a float
        return None
    return number if math.isfinite(number) else None


def _dict(value: Any) -> dict[Any, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []
