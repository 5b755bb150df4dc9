"""Chart geometry: bars pooled past MAX_BARS, lines broken at gaps, round ticks, thresholds."""

from __future__ import annotations

from dataclasses import fields

import pytest

from chalicelib.monitoring.report._charts import (
    BAD_COLOR,
    MAX_BARS,
    Chart,
    Circle,
    Line,
    Path,
    Rect,
    Text,
    _path,
    bar_chart,
    line_chart,
    nice_ticks,
    pool_rows,
    sparkline,
    tick_formatter,
)

LABELS = ["23 Nov 01:00", "23 Nov 02:00", "23 Nov 03:00", "23 Nov 04:00", "23 Nov 05:00"]


def shapes(chart: Chart, kind: type) -> list:
    return [s for s in chart.shapes if isinstance(s, kind)]


def test_positions_are_numbers_rounded_to_a_tenth_of_a_pixel() -> None:
    charts = [
        bar_chart(["a", "b"], [0.3333, 0.6667], [0.5, 0.5], title="t", feature="f"),
        line_chart([("v3", "#2563eb", [1.0, None, 2.0, 3.33, 7.1])], LABELS, title="t"),
        sparkline([0.05, 0.31, None, 0.12, 0.2], 0.2, LABELS, title="t"),
    ]
    for chart in charts:
        assert chart is not None
        for shape in chart.shapes:
            for field in fields(shape):
                value = getattr(shape, field.name)
                if isinstance(value, float):
                    assert round(value, 1) == value, (shape, field.name)


def test_labels_stay_plain_text_for_the_template_to_escape() -> None:
    chart = bar_chart(["<b>&"], [0.5], [0.5], title="<t>", feature='"f"')
    assert chart.title == "<t>" and chart.feature == '"f"'
    assert "<b>&" in [s.text for s in shapes(chart, Text)]


def test_a_long_bin_label_is_shortened_with_the_full_label_as_tooltip() -> None:
    label = "family sharing plan (legacy, before 2024)"
    chart = bar_chart([label], [0.5], [0.4], title="t")
    (text,) = [s for s in shapes(chart, Text) if s.tooltip is not None]
    assert text.tooltip == label and text.text == label[:21] + "…"


def test_bars_only_for_shares_above_zero() -> None:
    chart = bar_chart(["a", "b", "c"], [0.5, 0.0, None], [0.5, 0.5, 0.2], title="t")
    assert [r.css for r in shapes(chart, Rect) if r.css] == ["ref", "cur", "cur", "cur"]


def test_no_bins_says_so() -> None:
    chart = bar_chart([], [], [], title="t")
    assert "no bins" in [s.text for s in shapes(chart, Text)]


def test_bins_beyond_the_limit_are_pooled_smallest_first() -> None:
    labels = [f"b{i}" for i in range(MAX_BARS + 4)]
    shares = [0.001 * (i + 1) for i in range(len(labels))]
    rows = pool_rows(labels, shares, shares)
    assert len(rows) == MAX_BARS
    assert rows[-1][0] == "5 other bins"
    assert rows[-1][1] == pytest.approx(sum(shares[:5]))
    assert [r[0] for r in rows[:-1]] == labels[5:]  # kept in their order


def test_a_line_breaks_at_missing_runs_and_lone_points_are_dotted() -> None:
    path, lone = _path([(0.0, 0.0), (1.0, 1.0), None, (2.0, 2.0), None, (3.0, 3.0), (4.0, 4.0)])
    assert path == "M0.0,0.0L1.0,1.0M3.0,3.0L4.0,4.0"
    assert lone == [(2.0, 2.0)]


def test_a_line_chart_needs_values_and_runs() -> None:
    assert line_chart([("v3", "#000", [None, None])], LABELS[:2], title="t") is None
    assert line_chart([("v3", "#000", [1.0])], [], title="t") is None


def test_a_line_chart_marks_the_latest_run_and_colours_each_series() -> None:
    chart = line_chart(
        [("v3", "#111111", [1.0, 2.0, 3.0]), ("v4", "#222222", [None, 5.0, None])],
        LABELS[:3],
        title="t",
    )
    assert chart is not None
    assert [p.stroke for p in shapes(chart, Path)] == ["#111111"]  # v4 has a lone point
    assert [c.fill for c in shapes(chart, Circle)] == ["#111111", "#222222"]
    legend = [s.text for s in shapes(chart, Text) if s.css == "lb"]
    assert legend == ["v3", "v4"]


@pytest.mark.parametrize(
    ("lo", "hi", "expected"),
    [
        (0.0, 6370.0, [0, 2000, 4000, 6000, 8000]),
        (0.8, 0.86, [0.8, 0.82, 0.84, 0.86]),
        (5.0, 5.0, [4.5, 4.75, 5.0, 5.25, 5.5]),  # a flat series gets some room
    ],
)
def test_ticks_are_round_and_cover_the_range(lo: float, hi: float, expected: list) -> None:
    ticks = nice_ticks(lo, hi)
    assert ticks == pytest.approx(expected)
    assert ticks[0] <= lo and ticks[-1] >= hi


def test_tick_labels_have_just_enough_decimals() -> None:
    assert [tick_formatter([0.8, 0.82])(v) for v in (0.8, 0.82)] == ["0.80", "0.82"]
    assert tick_formatter([0.0, 2.5])(2.5) == "2.5"
    assert tick_formatter([0.0, 2000.0])(2000.0) == "2000"


def test_a_sparkline_dots_runs_over_the_threshold_in_red() -> None:
    chart = sparkline([0.05, 0.31, None, 0.12, 0.2], 0.2, LABELS, title="t")
    red = [c for c in shapes(chart, Circle) if c.fill == BAD_COLOR]
    assert len(red) == 2  # 0.31 and 0.2 (at the threshold)
    assert [s.css for s in shapes(chart, Line)] == ["base", "th"]
    assert "limit 0.2" in [s.text for s in shapes(chart, Text)]


def test_a_sparkline_without_threshold_draws_no_limit() -> None:
    chart = sparkline([0.05, 0.1], None, LABELS[:2], title="t")
    assert [s.css for s in shapes(chart, Line)] == ["base"]
    assert not [s for s in shapes(chart, Text) if s.css == "tht"]
