"""Chart geometry: where each bar, line, dot and label of the report's SVG charts goes.

Pure Python, no markup. A chart is a list of shapes in drawing order, with positions in
pixels of its viewBox (rounded to 0.1) and labels as plain text; `templates/_charts.svg.j2`
draws them, escaping every label.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import ClassVar

from chalicelib.monitoring.report._format import (
    fmt_compact,
    fmt_limit,
    fmt_metric,
    fmt_share,
)

MAX_BARS = 16  # a chart shows at most this many bins; the rest are pooled in one row
REFERENCE_COLOR = "#a3adbd"
CURRENT_COLOR = "#2563eb"
BAD_COLOR = "#dc2626"
SPARK_COLOR = "#334155"

Series = tuple[str, str, Sequence[float | None]]  # name, colour, one value per run (or None)
Point = tuple[float, float]


@dataclass(frozen=True, slots=True)
class Text:
    """A label; `tooltip` is the full text when `text` is shortened."""

    kind: ClassVar[str] = "text"
    x: float
    y: float
    text: str
    css: str
    anchor: str | None = None
    tooltip: str | None = None


@dataclass(frozen=True, slots=True)
class Line:
    """An axis, a grid line or a threshold, styled by `css`."""

    kind: ClassVar[str] = "line"
    css: str
    x1: float
    y1: float
    x2: float
    y2: float


@dataclass(frozen=True, slots=True)
class Rect:
    """A bar (styled by `css`) or a legend square (coloured by `fill`)."""

    kind: ClassVar[str] = "rect"
    x: float
    y: float
    width: float
    height: float
    rx: float
    css: str | None = None
    fill: str | None = None


@dataclass(frozen=True, slots=True)
class Circle:
    """A dot on a line: a lone run, the latest run, or a run over the threshold."""

    kind: ClassVar[str] = "circle"
    cx: float
    cy: float
    r: float
    fill: str


@dataclass(frozen=True, slots=True)
class Path:
    """A polyline: `d` is SVG path data made of numbers only (see `_path`)."""

    kind: ClassVar[str] = "path"
    d: str
    stroke: str
    stroke_width: float | None = None
    css: str = "ln"


Shape = Text | Line | Rect | Circle | Path


@dataclass(frozen=True, slots=True)
class Chart:
    """One `<svg>`: its class, size, accessible title and shapes; `feature` for data-feature."""

    css: str
    width: int
    height: int
    title: str
    shapes: list[Shape]
    feature: str | None = None


def bar_chart(
    labels: Sequence[str],
    reference: Sequence[float | None],
    current: Sequence[float | None],
    *,
    title: str,
    feature: str = "",
    width: int = 520,
) -> Chart:
    """Horizontal grouped bars: the training and current share of each bin, side by side."""
    rows = pool_rows(labels, reference, current)
    label_w, value_w, top, row_h = 140, 92, 26, 24
    bar_w = width - label_w - value_w - 6
    height = top + max(len(rows), 1) * row_h + 4
    peak = max([v for _, r, c in rows for v in (r, c) if v is not None] + [0.01])
    shapes = _legend([("Training", REFERENCE_COLOR), ("This window", CURRENT_COLOR)], 0, 14)
    if not rows:
        shapes.append(Text(label_w, top + 14, "no bins", "tk"))
    for i, (label, ref, cur) in enumerate(rows):
        y = top + i * row_h
        short = label if len(label) <= 22 else label[:21] + "…"
        shapes.append(Text(label_w - 8, y + 15, short, "lb", "end", tooltip=label))
        for offset, value, css in ((3, ref, "ref"), (12, cur, "cur")):
            if value is not None and value > 0:
                length = max(bar_w * value / peak, 1.0)
                shapes.append(Rect(label_w, y + offset, _px(length), 8, 1, css=css))
        shares = f"{fmt_share(ref)} → {fmt_share(cur)}"
        shapes.append(Text(width - 2, y + 15, shares, "tk", "end"))
    shapes.append(Line("base", label_w, top - 2, label_w, height - 4))
    return Chart("chart dist", width, height, title, shapes, feature=feature)


def line_chart(
    series: Sequence[Series],
    x_labels: Sequence[str],
    *,
    title: str,
    width: int = 540,
    height: int = 230,
    include_zero: bool = False,
    counts: bool = False,
) -> Chart | None:
    """One line per series (None leaves a gap), with a legend; None when nothing to draw."""
    series = [s for s in series if any(v is not None for v in s[2])]
    values = [v for _, _, vs in series for v in vs if v is not None]
    if not values or not x_labels:
        return None
    left, right, top, bottom = 52, 14, 30, 26
    plot_w, plot_h = width - left - right, height - top - bottom
    lo, hi = min(values), max(values)
    if include_zero:
        lo = min(lo, 0.0)
    ticks = nice_ticks(lo, hi)
    y_of = _scale(ticks[0], ticks[-1], top + plot_h, top)
    x_of = _x_positions(len(x_labels), left, plot_w)
    fmt: Callable[[float], str] = fmt_compact if counts else tick_formatter(ticks)
    shapes = _legend([(name, color) for name, color, _ in series], left, 14)
    for tick in ticks:
        y = y_of(tick)
        shapes.append(Line("ax", left, _px(y), width - right, _px(y)))
        shapes.append(Text(left - 6, _px(y + 3), fmt(tick), "tk", "end"))
    shapes += _x_axis(x_labels, x_of, height - 8, plot_w)
    for _, color, vs in series:
        points = [
            (x_of(i), y_of(v)) if v is not None else None
            for i, v in enumerate(list(vs)[: len(x_labels)])
        ]
        path, dots = _path(points)
        if path:
            shapes.append(Path(path, color))
        last = points[-1] if points else None
        # Lone points have no line through them, and the latest run is always marked.
        for x, y in dots + ([last] if last and last not in dots else []):
            shapes.append(Circle(_px(x), _px(y), 3, color))
    return Chart("chart line", width, height, title, shapes)


def sparkline(
    values: Sequence[float | None],
    threshold: float | None,
    x_labels: Sequence[str],
    *,
    title: str,
    width: int = 520,
    height: int = 78,
) -> Chart:
    """A small PSI line with the threshold dashed; runs at or over the threshold dotted red."""
    present = [v for v in values if v is not None]
    left, right, top, bottom = 40, 62, 8, 18
    plot_w, plot_h = width - left - right, height - top - bottom
    hi = max(present + ([threshold] if threshold is not None else []) + [0.01]) * 1.1
    y_of = _scale(0.0, hi, top + plot_h, top)
    x_of = _x_positions(len(values), left, plot_w)
    shapes: list[Shape] = [Line("base", left, top + plot_h, width - right, top + plot_h)]
    shapes.append(Text(left - 6, top + plot_h + 3, "0", "tk", "end"))
    peak = max(present, default=None)
    if peak is not None and top + plot_h - y_of(peak) >= 11:  # else it would sit on the "0"
        shapes.append(Text(left - 6, _px(y_of(peak) + 3), fmt_metric(peak), "tk", "end"))
    if threshold is not None:
        y = y_of(threshold)
        shapes.append(Line("th", left, _px(y), width - right, _px(y)))
        shapes.append(Text(width - right + 6, _px(y + 3), f"limit {fmt_limit(threshold)}", "tht"))
    points = [(x_of(i), y_of(v)) if v is not None else None for i, v in enumerate(values)]
    path, dots = _path(points)
    if path:
        shapes.append(Path(path, SPARK_COLOR, stroke_width=1.5))
    for i, v in enumerate(values):
        point = points[i]
        if point is None or v is None:
            continue
        over = threshold is not None and v >= threshold
        if over or point in dots or i == len(values) - 1:
            color = BAD_COLOR if over else SPARK_COLOR
            shapes.append(Circle(_px(point[0]), _px(point[1]), 2.5, color))
    if x_labels:
        shapes.append(Text(left, height - 4, x_labels[0], "tk"))
        if len(x_labels) > 1:
            shapes.append(Text(width - right, height - 4, x_labels[-1], "tk", "end"))
    return Chart("chart spark", width, height, title, shapes)


def pool_rows(
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


def nice_ticks(lo: float, hi: float, count: int = 4) -> list[float]:
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


def tick_formatter(ticks: Sequence[float]) -> Callable[[float], str]:
    """Tick labels with just enough decimals to tell neighbouring ticks apart."""
    step = abs(ticks[1] - ticks[0]) if len(ticks) > 1 else abs(ticks[0])
    if not step:
        return lambda value: f"{value:g}"
    exponent = math.floor(math.log10(step))
    decimals = max(0, -exponent) + (1 if round(step / 10**exponent, 6) == 2.5 else 0)
    decimals = min(decimals, 4)
    return lambda value: f"{value:.{decimals}f}"


def _legend(items: Sequence[tuple[str, str]], x: float, y: int) -> list[Shape]:
    """Coloured squares and names in a row (text widths estimated: no font metrics here)."""
    shapes: list[Shape] = []
    for name, color in items:
        shapes.append(Rect(round(x), y - 9, 10, 10, 2, fill=color))
        shapes.append(Text(round(x + 14), y, name, "lb"))
        x += 14 + 6.5 * len(name) + 16
    return shapes


def _x_axis(
    labels: Sequence[str], x_of: Callable[[int], float], y: float, width: float
) -> list[Shape]:
    """Evenly spread time labels, about 130 px apart; the outer ones anchored inside the chart."""
    n = len(labels)
    slots = max(2, int(width // 130) + 1)
    picks = (
        sorted({round(i * (n - 1) / (slots - 1)) for i in range(slots)})
        if n > slots
        else [*range(n)]
    )
    shapes: list[Shape] = []
    for i in picks:
        anchor = "start" if i == 0 and n > 1 else "end" if i == n - 1 and n > 1 else "middle"
        shapes.append(Text(_px(x_of(i)), y, labels[i], "tk", anchor))
    return shapes


def _path(points: Sequence[Point | None]) -> tuple[str, list[Point]]:
    """SVG path data through the points, broken at None; lone points returned to be dotted."""
    parts: list[str] = []
    lone: list[Point] = []
    run: list[Point] = []
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


def _scale(lo: float, hi: float, out_lo: float, out_hi: float) -> Callable[[float], float]:
    span = (hi - lo) or 1.0
    return lambda value: out_lo + (min(max(value, lo), hi) - lo) / span * (out_hi - out_lo)


def _x_positions(n: int, left: float, width: float) -> Callable[[int], float]:
    if n <= 1:
        return lambda i: left + width / 2
    return lambda i: left + i * width / (n - 1)


def _px(value: float) -> float:
    """A position as drawn: 0.1 px is finer than any screen or printer resolves."""
    return round(value, 1)
