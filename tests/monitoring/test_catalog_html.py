"""The catalog page: well-formed, self-contained, escaped, absent values as words, and rendered
by a real browser (skips without /usr/bin/chromium unless SKLAMBDA_REQUIRE_BROWSER=1).

`python -m tests.monitoring.test_catalog_html` writes docs/images/catalog.png (the README's
screenshot) from `sample_catalog()`.
"""

from __future__ import annotations

import struct
import sys
import tempfile
from pathlib import Path
from typing import Any

from chalicelib.monitoring._catalog import monitoring
from chalicelib.monitoring.report import render_catalog_html
from tests.monitoring.test_report_html import (
    HOSTILE,
    assert_self_contained,
    chromium_or_skip,
    parse,
    run_chromium,
)

SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "images" / "catalog.png"


def _trend(values: list[float | None]) -> list[dict[str, Any]]:
    return [
        {"at": f"2026-11-{17 + i:02d}T10:00:00Z", "value": v}
        for i, v in enumerate(values)
        if v is not None
    ]


def _entry(name: str, owner: str | None, team: str | None, **fields: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "name": name,
        "owner": owner,
        "team": team,
        "tags": {k: v for k, v in (("owner", owner), ("team", team)) if v},
        "versions": 1,
        "latest_version": 1,
        "live": [],
        "monitoring": dict(monitoring(None)),
        "usage": {"requests": 0, "records": 0, "consumers": [], "versions": {}},
        "batch": {
            "files": 0,
            "succeeded": 0,
            "failed": 0,
            "running": 0,
            "rows_scored": 0,
            "rows_rejected": 0,
            "read": 0,
            "last_at": None,
            "submitters": {},
        },
        "report": None,
    }
    for key, value in fields.items():
        if isinstance(entry.get(key), dict) and isinstance(value, dict):
            entry[key] = {**entry[key], **value}
        else:
            entry[key] = value
    return entry


def sample_catalog() -> dict[str, Any]:
    """Four models: one drifting under a canary, one healthy, one regressor, one never served."""
    return {
        "format": 1,
        "generated_at": "2026-11-23T10:05:00Z",
        "days": 7,
        "since": "2026-11-16T10:05:00Z",
        "models": [
            _entry(
                "churn",
                "alice",
                "risk",
                versions=4,
                latest_version=4,
                live=[
                    {"alias": "champion", "version": 3, "share": 0.9},
                    {"alias": "canary", "version": 4, "share": 0.1},
                ],
                monitoring={
                    "at": "2026-11-23T10:00:00Z",
                    "status": "drift",
                    "flagged": True,
                    "drifted": ["age"],
                    "breached": ["plan"],
                    "metric": "accuracy",
                    "value": 0.81,
                    "trend": _trend([0.86, 0.855, 0.85, None, 0.84, 0.83, 0.81]),
                    "change": -0.05,
                },
                usage={
                    "requests": 18_240,
                    "records": 412_600,
                    "consumers": [
                        {"consumer": "checkout", "requests": 15_100, "records": 301_200},
                        {"consumer": "crm-sync", "requests": 3_020, "records": 110_200},
                        {"consumer": HOSTILE, "requests": 120, "records": 1_200},
                    ],
                },
                batch={
                    "files": 9,
                    "succeeded": 8,
                    "failed": 1,
                    "rows_scored": 1_250_000,
                    "rows_rejected": 312,
                    "read": 9,
                    "last_at": "2026-11-23T06:12:00Z",
                    "submitters": {"analyst": 7, "nightly-etl": 2},
                },
                report="models/churn/report",
            ),
            _entry(
                "fraud",
                "dan",
                "payments",
                versions=12,
                latest_version=12,
                live=[
                    {"alias": "champion", "version": 12, "share": 1.0},
                    {"alias": "shadow", "version": 11, "share": 0.0},
                ],
                monitoring={
                    "at": "2026-11-23T10:00:00Z",
                    "status": "ok",
                    "metric": "roc_auc",
                    "value": 0.942,
                    "trend": _trend([0.94, 0.941, 0.939, 0.943, 0.942]),
                    "change": 0.002,
                },
                usage={
                    "requests": 96_400,
                    "records": 96_400,
                    "consumers": [
                        {"consumer": "payments-api", "requests": 96_400, "records": 96_400}
                    ],
                },
                report="models/fraud/report",
            ),
            _entry(
                "house-prices",
                "erin",
                None,
                versions=2,
                live=[{"alias": "champion", "version": 2, "share": 1.0}],
                monitoring={
                    "at": "2026-11-22T10:00:00Z",
                    "status": "not_enough_data",
                    "metric": "mae",
                    "value": None,
                },
                batch={
                    "files": 2,
                    "succeeded": 2,
                    "rows_scored": 40_000,
                    "read": 2,
                    "last_at": "2026-11-20T02:00:00Z",
                    "submitters": {"valuations": 2},
                },
                report="models/house-prices/report",
            ),
            _entry("pricing", "bob", "pricing"),
        ],
    }


def page_text(page: str) -> str:
    return " ".join(parse(page).text)


def test_the_page_is_well_formed_self_contained_and_links_each_report() -> None:
    page = render_catalog_html(sample_catalog())
    checker = parse(page)
    assert_self_contained(page)
    assert page.startswith("<!DOCTYPE html>")
    links = [attrs["href"] for tag, attrs in checker.tags if tag == "a"]
    assert "models/churn/report" in links and "models/fraud/report" in links
    assert all(link and link.startswith("models/") for link in links)
    assert "report.css" not in page and ".vcard" in page  # the report's stylesheet, inlined


def test_owners_live_versions_verdicts_usage_and_batch_are_shown() -> None:
    text = page_text(render_catalog_html(sample_catalog()))
    for expected in (
        "alice",
        "risk",
        "Version 3 champion · 90.0% of traffic",
        "Version 4 canary · 10.0% of traffic",
        "Version 11 shadow",
        "Drift detected",
        "drifted: age",
        "0.810",
        "−0.050 over recent runs",
        "ROC AUC",
        "412,600",
        "301,200",
        "9 files, 1,250,000 rows scored",
        "8 succeeded · 1 failed",
    ):
        assert expected in text, expected


def test_absent_values_read_as_words() -> None:
    text = page_text(render_catalog_html(sample_catalog()))
    assert "no report yet" in text and "no traffic" in text and "no batch files" in text
    assert "unassigned" in text  # house-prices has no team
    assert "not live" in text
    assert "No traffic via the API in 7 days." in text


def test_untrusted_text_is_escaped() -> None:
    catalog = sample_catalog()
    evil = '"><img src=x onerror=alert(1)>'
    catalog["models"][0]["owner"] = evil
    catalog["models"][0]["tags"]["cost-center"] = evil
    catalog["models"][0]["monitoring"]["drifted"] = [evil]
    page = render_catalog_html(catalog)
    checker = parse(page)
    assert_self_contained(page)
    assert "img" not in {tag for tag, _ in checker.tags}
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert evil in "".join(checker.text)


def test_an_empty_or_odd_catalog_still_renders() -> None:
    for catalog in ({}, {"models": None}, {"models": [None, {"name": 3, "live": "x"}]}):
        page = render_catalog_html(catalog)
        parse(page)
        assert_self_contained(page)
    assert "No models registered yet." in page_text(render_catalog_html({}))


def screenshot(page: Path, shot: Path, browser: Path, profile: Path) -> None:
    run_chromium(browser, profile, "--window-size=1280,1850", f"--screenshot={shot}", page.as_uri())


def test_browser_renders_the_catalog(tmp_path: Path) -> None:
    browser = chromium_or_skip()
    page = tmp_path / "catalog.html"
    page.write_text(render_catalog_html(sample_catalog()), encoding="utf-8")
    shot = tmp_path / "catalog.png"
    screenshot(page, shot, browser, tmp_path / "profile")
    assert shot.exists()
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    assert struct.unpack(">II", data[16:24]) == (1280, 1850)
    assert len(data) > 20_000  # a blank page compresses to a few KB

    dom = run_chromium(browser, tmp_path / "profile-dom", "--dump-dom", page.as_uri())
    assert dom.returncode == 0, dom.stderr
    for visible in ("churn", "fraud", "house-prices", "pricing", "alice", "412,600"):
        assert visible in dom.stdout, visible
    assert dom.stdout.count("<svg") == 2  # the two accuracy trends with enough runs
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in dom.stdout


if __name__ == "__main__":  # python -m tests.monitoring.test_catalog_html
    shown = sample_catalog()
    churn = shown["models"][0]["usage"]["consumers"]
    churn[-1] = {"consumer": "support-desk", "requests": 120, "records": 1_200}
    with tempfile.TemporaryDirectory() as folder:
        html = Path(folder) / "catalog.html"
        html.write_text(render_catalog_html(shown), encoding="utf-8")
        screenshot(html, SCREENSHOT, Path("/usr/bin/chromium"), Path(folder) / "profile")
    sys.stdout.write(f"wrote {SCREENSHOT}\n")
