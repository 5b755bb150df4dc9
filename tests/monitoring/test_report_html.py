"""The monitor report page: well-formed, self-contained, escaped, and rendered by a browser.

The browser test (`-k browser`) needs /usr/bin/chromium; it skips without it unless
SKLAMBDA_REQUIRE_BROWSER=1, when it fails instead.
"""

from __future__ import annotations

import copy
import os
import re
import struct
import subprocess
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from chalicelib.monitoring.report import render_report_html

CHROMIUM = Path("/usr/bin/chromium")
HOSTILE = "<script>alert(1)</script>"
VOID = {
    "area",
    "base",
    "br",
    "col",
    "embed",
    "hr",
    "img",
    "input",
    "link",
    "meta",
    "source",
    "track",
    "wbr",
}

AGE_LABELS = [
    "< 23.5",
    "23.5 – 30",
    "30 – 38",
    "38 – 45",
    "45 – 52",
    "52 – 60",
    "60 – 71",
    "≥ 71",
    "missing",
]


# --- a realistic report -----------------------------------------------------------------------


def _feature(
    name: str,
    kind: str,
    labels: list[str],
    reference: list[float],
    current: list[float | None],
    **fields: Any,
) -> dict[str, Any]:
    feature = {
        "name": name,
        "type": kind,
        "samples": 6200,
        "missing_rate": 0.01,
        "reference_missing_rate": 0.0,
        "psi": 0.02,
        "js": 0.03,
        "wasserstein": 0.05 if kind == "number" else None,
        "breached": [],
        "consecutive": 0,
        "state": "ok",
        "bins": {"labels": labels, "reference": reference, "current": current},
    }
    feature.update(fields)
    return feature


def _champion_features() -> list[dict[str, Any]]:
    return [
        _feature(
            "age",
            "number",
            AGE_LABELS,
            [0.1, 0.15, 0.15, 0.14, 0.13, 0.12, 0.11, 0.1, 0.0],
            [0.04, 0.07, 0.1, 0.12, 0.14, 0.16, 0.18, 0.18, 0.01],
            psi=0.31,
            js=0.22,
            wasserstein=0.6,
            breached=["psi", "wasserstein"],
            consecutive=3,
            state="drifted",
        ),
        _feature(
            "monthly_charges",
            "number",
            ["< 20", "20 – 35", "35 – 50", "50 – 65", "65 – 80", "80 – 95", "≥ 95", "missing"],
            [0.12, 0.14, 0.15, 0.15, 0.15, 0.15, 0.14, 0.0],
            [0.13, 0.13, 0.16, 0.14, 0.15, 0.15, 0.14, 0.0],
        ),
        _feature(
            "plan",
            "category",
            ["basic", "standard", "premium", "family sharing (legacy)", "other", "missing"],
            [0.4, 0.3, 0.2, 0.1, 0.0, 0.0],
            [0.3, 0.28, 0.2, 0.08, 0.12, 0.02],
            psi=0.24,
            js=0.21,
            breached=["psi", "js"],
            consecutive=1,
            state="breach",
            missing_rate=0.02,
            new_categories={"Mars": 120, HOSTILE: 12},
        ),
        _feature(
            "has_partner",
            "boolean",
            ["false", "true", "missing"],
            [0.55, 0.45, 0.0],
            [0.52, 0.48, None],
            psi=None,
            js=0.02,
            wasserstein=None,
        ),
    ]


def _canary_features() -> list[dict[str, Any]]:
    quiet = {
        "samples": 120,
        "psi": None,
        "js": None,
        "wasserstein": None,
        "state": "not_enough_data",
        "missing_rate": 0.0,
    }
    features = []
    for feature in _champion_features():
        bins = feature["bins"]
        features.append(
            _feature(
                feature["name"],
                feature["type"],
                bins["labels"],
                bins["reference"],
                [round(v * 0.9, 3) for v in bins["reference"]],
                **quiet,
            )
        )
    return features


def _nudged(shares: list[float]) -> list[float]:
    """Shares moved a little towards the first bin, still summing to 1."""
    moved = [round(v * 0.9, 4) for v in shares]
    moved[0] = round(moved[0] + 1 - sum(moved), 4)
    return moved


def _trend(runs: int, champion: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Hourly runs up to this one (the last), with gaps; the last run agrees with the report."""
    names = [f["name"] for f in champion]
    end = datetime(2026, 11, 23, 10, tzinfo=UTC)
    trend = []
    for i in range(runs):
        psi = {
            n: None if i == 4 else round(0.02 + 0.03 * i * (k == 0), 3) for k, n in enumerate(names)
        }
        if i == runs - 1:
            psi = {f["name"]: f["psi"] for f in champion}
        versions: dict[str, Any] = {
            "3": {
                "samples": 6000 + 37 * i,
                "labelled": 0 if i == 3 else 100 + i,
                "drifted_share": 0.25 if i > runs - 3 else 0.0,
                "prediction_psi": None if i == 2 else 0.01 + 0.004 * i,
                "features": psi,
                "quality": {} if i == 3 else {"accuracy": round(0.86 - 0.006 * i, 3)},
            }
        }
        if i >= runs // 2:
            versions["4"] = {
                "samples": 40 + 10 * i,
                "labelled": 0,
                "drifted_share": None,
                "prediction_psi": None,
                "features": dict.fromkeys(names),
                "quality": {},
            }
        if i < 3:
            versions["2"] = {
                "samples": 900 - 300 * i,
                "labelled": 10,
                "features": {},
                "quality": {"accuracy": 0.8},
            }
        at = end - timedelta(hours=runs - 1 - i)
        trend.append({"at": at.strftime("%Y-%m-%dT%H:%M:%SZ"), "versions": versions})
    return trend


def sample_report(runs: int = 10) -> dict[str, Any]:
    """Champion v3 drifting (numeric drifted, category with new levels) and a starved canary v4."""
    champion = _champion_features()
    prediction = _feature(
        "score",
        "number",
        ["< 0.1", "0.1 – 0.3", "0.3 – 0.5", "0.5 – 0.7", "≥ 0.7", "missing"],
        [0.3, 0.25, 0.2, 0.15, 0.1, 0.0],
        [0.22, 0.24, 0.22, 0.18, 0.14, 0.0],
        psi=0.05,
        js=0.06,
        wasserstein=0.12,
    )
    return {
        "format": 1,
        "model": "churn",
        "run": {
            "event_id": "e3b0c44298fc1c149afbf4c8996fb924",
            "trigger": "schedule",
            "at": "2026-11-23T10:00:00Z",
            "window": {"start": "2026-11-22T10:00:00Z", "end": "2026-11-23T10:00:00Z", "hours": 24},
        },
        "thresholds": {
            "psi": 0.2,
            "js": 0.2,
            "wasserstein": 0.5,
            "min_samples": 300,
            "consecutive_breaches": 3,
            "features": {"age": {"psi": 0.3}},
        },
        "aliases": {
            "champion": {"version": 3, "weight": None},
            "canary": {"version": 4, "weight": 0.1},
        },
        "flagged": True,
        "versions": [
            {
                "version": 3,
                "roles": ["champion"],
                "traffic": {"http": 1200, "batch": 5000, "total": 6200},
                "status": "drift",
                "drift_detected": True,
                "drifted_share": 0.25,
                "features": champion,
                "prediction": prediction,
                "quality": {
                    "labelled": 120,
                    "metrics": {
                        "accuracy": 0.81,
                        "roc_auc": 0.86,
                        "log_loss": 0.41,
                        "precision": 0.7,
                        "recall": 0.6,
                    },
                },
            },
            {
                "version": 4,
                "roles": ["canary"],
                "traffic": {"http": 120, "batch": 0, "total": 120},
                "status": "not_enough_data",
                "drift_detected": False,
                "drifted_share": None,
                "features": _canary_features(),
                "prediction": None,
                "quality": {"labelled": 0, "metrics": {}},
            },
        ],
        "trend": _trend(runs, champion),
    }


# --- checks ---------------------------------------------------------------------------------


class _Checker(HTMLParser):
    """Records problems with nesting, and every start tag with its attributes."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.problems: list[str] = []
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag not in VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            self.problems.append(f"</{tag}> closes {self.stack[-1:] or 'nothing'}")
        else:
            self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parse(page: str) -> _Checker:
    checker = _Checker()
    checker.feed(page)
    checker.close()
    assert checker.problems == []
    assert checker.stack == [], f"never closed: {checker.stack}"
    return checker


def assert_self_contained(page: str) -> None:
    assert "<script" not in page.lower()
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:|//)""", page, re.IGNORECASE)
    assert "@import" not in page and "url(" not in page


def dist_charts(checker: _Checker) -> list[str | None]:
    return [
        attrs.get("data-feature")
        for tag, attrs in checker.tags
        if tag == "svg" and "dist" in (attrs.get("class") or "").split()
    ]


# --- tests ----------------------------------------------------------------------------------


def test_the_page_is_well_formed_and_self_contained() -> None:
    page = render_report_html(sample_report())
    checker = parse(page)
    assert_self_contained(page)
    assert page.startswith("<!DOCTYPE html>")
    assert not any(attrs.get("src") or attrs.get("href") for _, attrs in checker.tags)
    assert "churn" in "".join(checker.text)


def test_one_distribution_chart_per_feature_and_prediction() -> None:
    report = sample_report()
    checker = parse(render_report_html(report))
    expected = []
    for version in report["versions"]:
        if version["prediction"]:
            expected.append(version["prediction"]["name"])
        expected.extend(f["name"] for f in version["features"])
    assert sorted(dist_charts(checker)) == sorted(expected)  # type: ignore[type-var]
    # Each feature of the champion also has its PSI history; the canary has none yet.
    sparks = [a for t, a in checker.tags if t == "svg" and "spark" in (a.get("class") or "")]
    assert len(sparks) == 1 + len(report["versions"][0]["features"])


def test_a_hostile_category_name_is_shown_as_text() -> None:
    page = render_report_html(sample_report())
    checker = parse(page)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert HOSTILE in "".join(checker.text)
    assert "script" not in {tag for tag, _ in checker.tags}


def test_every_report_string_is_escaped_in_text_and_attributes() -> None:
    report = sample_report()
    evil = '"><img src=x onerror=alert(1)>'
    report["model"] = evil
    report["run"]["trigger"] = evil
    report["aliases"] = {evil: {"version": 3, "weight": 0.5}}
    report["thresholds"]["features"] = {evil: {"psi": 0.1}}
    champion = report["versions"][0]
    champion["roles"] = [evil]
    champion["features"][0]["name"] = evil
    champion["features"][0]["bins"]["labels"][0] = evil
    champion["features"][0]["type"] = evil
    champion["features"][0]["state"] = evil
    champion["quality"]["metrics"][evil] = 0.5
    report["trend"][0]["at"] = evil
    report["trend"][-1]["versions"][evil] = {"samples": 5, "quality": {evil: 1.0}}
    page = render_report_html(report)
    checker = parse(page)
    assert_self_contained(page)
    assert "img" not in {tag for tag, _ in checker.tags}
    assert not any(name.startswith("on") for _, attrs in checker.tags for name in attrs)
    assert evil in "".join(checker.text)
    assert evil in dist_charts(checker)  # the attribute holds the raw name once unescaped


def test_statuses_and_roles_are_spelled_out() -> None:
    page = render_report_html(sample_report())
    text = " ".join(parse(page).text)
    assert "Drift detected" in text
    assert "not enough data" in text.lower()
    assert "canary · 10% of traffic" in text
    assert "champion" in text
    for state in ("drifted", "breach", "ok"):
        assert f'class="badge b-{state}"' in page


def test_missing_ground_truth_points_to_the_feedback_route() -> None:
    text = " ".join(parse(render_report_html(sample_report())).text)
    assert "no labelled predictions yet; send feedback to" in text
    assert "POST /models/churn/feedback" in text


def test_thresholds_and_metric_definitions_are_shown() -> None:
    text = " ".join(parse(render_report_html(sample_report())).text)
    for term in ("PSI", "JS distance", "Wasserstein", "Breaches in a row", "Minimum sample size"):
        assert term in text
    assert "PSI ≥ 0.2" in text and "at least 300 values" in text
    assert "limit 0.3" in text  # the per-feature override for age


def test_a_metric_turned_off_reads_off() -> None:
    report = sample_report()
    report["thresholds"]["wasserstein"] = None
    report["thresholds"]["features"] = {"plan": {"psi": None}}
    page = render_report_html(report)
    text = "".join(parse(page).text)
    assert "Wasserstein off" in text and "limit off" in text
    assert "A feature breaches when PSI ≥ 0.2 or JS ≥ 0.2;" in text
    assert "plan PSI off" in text
    plan_spark = re.search(r'aria-label="plan: PSI over recent runs".*?</svg>', page)
    assert plan_spark and 'class="th"' not in plan_spark.group(0)


def test_a_regressor_charts_mae_and_rmse() -> None:
    report = sample_report()
    for entry in report["trend"]:
        for numbers in entry["versions"].values():
            numbers["quality"] = {"mae": 3.1, "rmse": 4.2} if numbers["quality"] else {}
    report["versions"][0]["quality"] = {"labelled": 80, "metrics": {"mae": 3.0, "rmse": 4.0}}
    text = " ".join(parse(render_report_html(report)).text)
    assert "MAE over recent runs" in text and "RMSE over recent runs" in text
    assert "Accuracy over recent runs" not in text


@pytest.mark.parametrize(
    "report",
    [
        {},
        {"model": "churn", "versions": [], "trend": [], "flagged": False},
        {"model": "churn", "versions": None, "trend": None, "thresholds": None, "run": None},
    ],
)
def test_an_empty_report_still_renders(report: dict[str, Any]) -> None:
    page = render_report_html(report)
    checker = parse(page)
    assert_self_contained(page)
    assert "No live versions" in " ".join(checker.text)
    assert dist_charts(checker) == []


def test_nulls_everywhere_render_as_words_and_gaps() -> None:
    report = sample_report(runs=1)
    version = report["versions"][0]
    for feature in [*version["features"], version["prediction"]]:
        for key in ("samples", "missing_rate", "psi", "js", "wasserstein", "consecutive"):
            feature[key] = None
        feature["bins"]["current"] = [None] * len(feature["bins"]["current"])
        feature["bins"]["reference"] = feature["bins"]["reference"][:2]  # shorter than labels
    version["traffic"] = {"http": None, "batch": None, "total": None}
    version["quality"] = {"labelled": None, "metrics": None}
    report["trend"][0]["versions"]["3"]["samples"] = float("nan")
    checker = parse(render_report_html(report))
    text = "".join(checker.text)
    assert "not measured" in text and "none yet" in text and "missing" in text
    assert len(dist_charts(checker)) == 1 + 4 + 4  # champion prediction and features, canary


def test_unexpected_types_do_not_break_the_page() -> None:
    report = sample_report()
    champion = report["versions"][0]
    champion["roles"] = [["champion"], {"x": 1}, 7]
    champion["quality"]["metrics"] = {1: 0.5, "accuracy": "high", "recall": 10**400}
    champion["features"].append("not a feature")
    champion["features"][0]["bins"]["labels"] = [1, None, 2.5]
    champion["features"][0]["new_categories"] = {3: "many"}
    champion["features"][1]["breached"] = None
    champion["features"][1]["bins"] = None
    report["versions"].append(None)
    report["trend"].append({"at": None, "versions": {3: {"samples": "many"}}})
    report["trend"].insert(0, "not a run")
    report["run"] = {"window": "yesterday", "at": 1234}
    checker = parse(render_report_html(report))
    assert len(dist_charts(checker)) == 9


def test_a_large_report_stays_small() -> None:
    report = sample_report(runs=48)
    for version in report["versions"]:
        base = version["features"]
        version["features"] = [
            {**copy.deepcopy(base[i % len(base)]), "name": f"feature_{i:02d}"} for i in range(20)
        ]
    report["trend"] = _trend(48, report["versions"][0]["features"])
    page = render_report_html(report)
    parse(page)
    assert len(page.encode()) < 300_000


# --- a real browser ---------------------------------------------------------------------------


def chromium_or_skip() -> Path:
    """The browser binary; skips without it unless SKLAMBDA_REQUIRE_BROWSER=1."""
    if CHROMIUM.exists():
        return CHROMIUM
    message = f"{CHROMIUM} is missing; install it with `apt-get install chromium`"
    if os.environ.get("SKLAMBDA_REQUIRE_BROWSER") == "1":
        pytest.fail(message)
    pytest.skip(message)


def run_chromium(browser: Path, profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    command = [
        str(browser),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
        "--hide-scrollbars",
        *args,
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)


def test_browser_renders_the_report(tmp_path: Path) -> None:
    browser = chromium_or_skip()
    page = tmp_path / "report.html"
    page.write_text(render_report_html(sample_report()), encoding="utf-8")
    shot = tmp_path / "report.png"
    done = run_chromium(
        browser,
        tmp_path / "profile",
        "--window-size=1280,4000",
        f"--screenshot={shot}",
        page.as_uri(),
    )
    assert shot.exists(), done.stderr
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    assert struct.unpack(">II", data[16:24]) == (1280, 4000)
    assert len(data) > 20_000  # a blank page compresses to a few KB

    dom = run_chromium(browser, tmp_path / "profile-dom", "--dump-dom", page.as_uri())
    assert dom.returncode == 0, dom.stderr
    assert dom.stdout.count("<svg") >= 10
    assert 'class="chart dist"' in dom.stdout and "churn" in dom.stdout
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in dom.stdout


def test_serving_and_rollout_decisions_are_shown_and_escaped() -> None:
    report = sample_report()
    report["versions"][0]["serving"] = {
        "requests": 1200,
        "errors": 3,
        "error_rate": 0.0025,
        "latency_p50_ms": 4.2,
        "latency_p95_ms": 9.8,
    }
    report["decisions"] = [
        {
            "role": "canary",
            "version": 4,
            "action": "rollback",
            "outcome": "rolled back",
            "reasons": ["error rate 12.0% (<b>36</b> of 300 requests) over the limit of 1.0%"],
        },
        {
            "action": "retrain",
            "version": 5,
            "outcome": "registered, not promoted",
            "gate": {"reasons": ["not better: roc_auc 0.7000 vs champion 0.8000"]},
        },
    ]

    page = render_report_html(report)

    parse(page)
    assert_self_contained(page)
    assert "Serving and rollout" in page and "9.8 ms" in page and "1,200" in page
    assert "canary version 4" in page and "rolled back" in page
    assert "&lt;b&gt;36&lt;/b&gt;" in page and "<b>36</b>" not in page
    assert "not better: roc_auc 0.7000" in page


def test_a_version_card_shows_its_benchmark_against_the_champion() -> None:
    report = sample_report()
    canary = next(v for v in report["versions"] if "canary" in v["roles"])
    canary["benchmark"] = {
        "against_version": report["versions"][0]["version"],
        "p99_ms": 4.25,
        "records_per_s": 12000.0,
        "ratios": {"p99_ms": 2.5, "records_per_s": 0.4},
    }
    page = render_report_html(report)
    assert "p99 4.250 ms (2.500×), 12,000 records/s (0.400×)" in page


def test_drifted_features_are_weighed_by_their_importance_to_the_answers() -> None:
    """An explained version's drift table ranks each feature by its importance at register,
    and says of each drifted feature whether the model leans on it."""
    report = sample_report()
    champion = report["versions"][0]
    champion["importance"] = {"plan": 0.9, "monthly_charges": 0.5, "has_partner": 0.2, "age": 0.01}
    checker = parse(render_report_html(report))
    text = " ".join(checker.text)
    assert "Importance (rank)" in text
    assert "0.900 · #1" in text and "0.010 · #4" in text
    assert "age drifted and is feature #4 of 4 by importance, one the model hardly uses" in text

    champion["importance"] = {"age": 0.9, "plan": 0.5, "monthly_charges": 0.2, "has_partner": 0.1}
    text = " ".join(parse(render_report_html(report)).text)
    assert (
        "age drifted and is feature #1 of 4 by importance, among those the model leans on" in text
    )


def test_a_report_without_importance_has_no_importance_column() -> None:
    text = " ".join(parse(render_report_html(sample_report())).text)
    assert "Importance (rank)" not in text and "by importance" not in text
