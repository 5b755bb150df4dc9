"""The report page as a business owner reads it: records and requests named apart, no blank
cells, measured metrics beside the registered ones, one next step per version, the drift
metrics explained, and no identifiers that mean nothing to a reader.
"""

from __future__ import annotations

import copy
import re
from html.parser import HTMLParser
from typing import Any

import pytest

from chalicelib.monitoring._document import registered_metrics
from chalicelib.monitoring.report import render_report_html
from chalicelib.monitoring.report._advice import NextStep, next_step
from chalicelib.monitoring.report._format import METRIC_HELP
from chalicelib.monitoring.report._registered import compared, difference_text
from tests.monitoring.test_report_html import parse, sample_report

UUID = "0190f3a2-7c4e-7d1b-9a8e-3f2b6c1d4e5f"
ID_LIKE = re.compile(
    r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
    r"|\b[0-9a-fA-F]{16,}\b"
)


class _Cells(HTMLParser):
    """The text of every table cell (<td> and <th>), and the tables' header rows."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.cells: list[tuple[str, str]] = []  # (tag, text)
        self.rows: list[list[str]] = []
        self._cell: list[str] | None = None
        self._tag = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "tr":
            self.rows.append([])
        if tag in ("td", "th"):
            self._cell, self._tag = [], tag

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None:
            cell = " ".join("".join(self._cell).split())
            self.cells.append((self._tag, cell))
            self.rows[-1].append(cell)
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def cells(page: str) -> _Cells:
    parser = _Cells()
    parser.feed(page)
    parser.close()
    return parser


def page_text(report: dict[str, Any]) -> str:
    return " ".join(" ".join(parse(render_report_html(report)).text).split())


def owner_report() -> dict[str, Any]:
    """The sample report with serving figures, registered metrics and a run id in the JSON."""
    report = sample_report()
    report["run"]["event_id"] = UUID
    champion, canary = report["versions"]
    champion["registered_metrics"] = {"accuracy": 0.91, "roc_auc": 0.88}
    canary["registered_metrics"] = {"accuracy": 0.9}
    champion["serving"] = {
        "requests": 607,
        "errors": 0,
        "error_rate": 0.0,
        "latency_p50_ms": 4.2,
        "latency_p95_ms": 9.8,
    }
    canary["serving"] = {
        "requests": 0,
        "errors": 0,
        "error_rate": None,
        "latency_p50_ms": None,
        "latency_p95_ms": None,
    }
    return report


# --- 1. records and requests --------------------------------------------------------------


def test_records_are_counted_as_records_and_requests_as_requests() -> None:
    report = owner_report()
    report["versions"][0]["traffic"] = {"http": 2003, "batch": 0, "total": 2003}
    page = render_report_html(report)
    found = cells(page)
    headers = [row for row in found.rows if row and row[0] == "Version"]
    traffic, serving = headers[0], headers[1]
    assert traffic[1:] == ["Records via the API", "Records in batch jobs", "Records in total"]
    assert serving[1] == "API requests"
    assert "HTTP requests" not in page
    # Each count sits under the word it counts: 2,003 records, 607 requests.
    traffic_row = next(row for row in found.rows if row[:1] == ["Version 3 champion"])
    serving_row = next(row for row in found.rows if row[:1] == ["version 3 (champion)"])
    assert traffic_row[1] == "2,003" and serving_row[1] == "607"
    text = page_text(report)
    assert "one request may carry many records" in text
    assert "records scored: 2,003" in text


# --- 2. no blank cells ------------------------------------------------------------------------


def _nulls_everywhere() -> dict[str, Any]:
    report = owner_report()
    for version in report["versions"]:
        version["traffic"] = {"http": None, "batch": None, "total": None}
        version["quality"] = {"labelled": None, "metrics": {"accuracy": None}}
        version["serving"] = dict.fromkeys(version["serving"])
        version["status"] = None
        for feature in version["features"]:
            for key in list(feature):
                if key != "bins":
                    feature[key] = None
    report["versions"][0]["prediction"] = None
    report["decisions"] = [{"action": None, "version": None, "reasons": [None]}]
    return report


@pytest.mark.parametrize("report", [owner_report(), _nulls_everywhere()], ids=["full", "nulls"])
def test_no_table_cell_is_blank(report: dict[str, Any]) -> None:
    found = cells(render_report_html(report))
    assert found.cells
    blank = [tag for tag, text in found.cells if not text or text in ("–", "-")]
    assert blank == []


def test_absent_values_read_as_words() -> None:
    text = page_text(_nulls_everywhere())
    assert "no labels yet" in text and "not measured" in text and "no requests" in text
    assert "none yet" in text and "missing" in text


# --- 3. measured against registration ---------------------------------------------------------


@pytest.mark.parametrize(
    ("metric", "difference", "said"),
    [
        ("accuracy", 0.889 - 0.91, "2.1 points below registration"),
        ("auc", 0.93 - 0.9, "3.0 points above registration"),
        ("accuracy", 0.0001, "same as at registration"),
        ("rmse", 0.04, "0.040 above registration"),
    ],
)
def test_differences_are_said_in_plain_words(metric: str, difference: float, said: str) -> None:
    assert difference_text(metric, difference) == said


def test_measured_accuracy_is_shown_beside_the_registered_value() -> None:
    report = owner_report()
    text = page_text(report)
    assert "Accuracy 0.810 (registered 0.910: 10.0 points below registration)" in text
    assert "0.860 (registered 0.880: 2.0 points below registration)" in text  # ROC AUC
    assert "no labels yet (registered 0.900)" in text  # the canary, not labelled yet
    assert "Accuracy: 0.810 (registered 0.910" in text  # the champion's card
    assert "value recorded when the version was registered" in text


def test_without_registered_metrics_the_measured_value_stands_alone() -> None:
    version = {"quality": {"labelled": 10, "metrics": {"accuracy": 0.8}}}
    assert compared(version, "accuracy") == "0.800"


def test_the_document_keeps_numeric_registration_metrics_only() -> None:
    metadata = {"metrics": {"accuracy": 0.91, "auc": 1, "note": "x", "nan": float("nan")}}
    assert registered_metrics(metadata) == {"accuracy": 0.91, "auc": 1.0}
    assert registered_metrics({}) == {} and registered_metrics({"metrics": [1]}) == {}


# --- 4. the next step ------------------------------------------------------------------------


def _version(**fields: Any) -> dict[str, Any]:
    """A healthy, labelled version; `fields` change what the case is about."""
    version: dict[str, Any] = {
        "version": 3,
        "status": "ok",
        "drift_detected": False,
        "quality": {"labelled": 500, "metrics": {"accuracy": 0.9}},
        "registered_metrics": {"accuracy": 0.91},
        "below_accuracy_floor": None,
    }
    version.update(fields)
    return version


THRESHOLDS = {"min_samples": 300}
NEXT_STEPS: list[tuple[str, dict[str, Any], list[Any], NextStep]] = [
    (
        "drift, retraining requested",
        _version(status="drift", drift_detected=True),
        [{"action": "retrain", "outcome": "retraining requested"}],
        NextStep(
            "drift_retraining",
            "Drift detected; this run asked for a retrain: the model's history shows whether "
            "the new version passed its gate.",
            "sklambda history churn",
        ),
    ),
    (
        "drift, no policy set",
        _version(status="drift", drift_detected=True),
        [{"role": "canary", "action": "promote", "applied": False}],
        NextStep(
            "drift_no_retraining",
            "Drift detected and no retraining policy is set: review the drifted features "
            "below, and to retrain on drift set a policy:",
            "sklambda policy churn --on-drift",
        ),
    ),
    (
        "drift, no retraining this run",
        _version(status="drift", drift_detected=True),
        [],
        NextStep(
            "drift_no_retraining",
            "Drift detected and this run started no retraining: review the drifted features "
            "below, and to retrain on drift set a policy:",
            "sklambda policy churn --on-drift",
        ),
    ),
    (
        "accuracy well below registration",
        _version(quality={"labelled": 500, "metrics": {"accuracy": 0.84}}),
        [],
        NextStep(
            "accuracy_below",
            "Accuracy is 7.0 points below registration: check that the labels sent as "
            "feedback are right, then retrain:",
            "sklambda retrain churn",
        ),
    ),
    (
        "below the policy's floor",
        _version(below_accuracy_floor=True, registered_metrics={}),
        [],
        NextStep(
            "accuracy_below",
            "Accuracy is below the policy's floor: check that the labels sent as feedback "
            "are right, then retrain:",
            "sklambda retrain churn",
        ),
    ),
    (
        "no labels",
        _version(quality={"labelled": 0, "metrics": {}}),
        [],
        NextStep(
            "no_labels",
            "No labels yet, so accuracy cannot be measured: send the true outcomes to "
            "POST /models/churn/feedback, or as a file under feedback/churn/.",
        ),
    ),
    (
        "too few records",
        _version(status="not_enough_data"),
        [],
        NextStep(
            "not_enough_data",
            "Too few records yet to judge drift (at least 300 values per feature): wait for "
            "more traffic.",
        ),
    ),
    ("all fine", _version(), [], NextStep("nothing", "Nothing to do.")),
    (
        "a small dip is fine",
        _version(quality={"labelled": 500, "metrics": {"accuracy": 0.89}}),
        [],
        NextStep("nothing", "Nothing to do."),
    ),
]


@pytest.mark.parametrize(
    ("version", "decisions", "expected"),
    [case[1:] for case in NEXT_STEPS],
    ids=[case[0] for case in NEXT_STEPS],
)
def test_the_next_step_rule(
    version: dict[str, Any], decisions: list[Any], expected: NextStep
) -> None:
    assert next_step("churn", version, decisions, THRESHOLDS) == expected


@pytest.mark.parametrize(
    ("version", "decisions", "expected"),
    [case[1:] for case in NEXT_STEPS],
    ids=[case[0] for case in NEXT_STEPS],
)
def test_the_page_says_the_next_step_of_each_version(
    version: dict[str, Any], decisions: list[Any], expected: NextStep
) -> None:
    report = owner_report()
    champion = report["versions"][0]
    champion.update(copy.deepcopy(version))
    champion["features"] = [] if not version["drift_detected"] else champion["features"]
    champion["prediction"] = None
    report["flagged"] = bool(version["drift_detected"])
    report["thresholds"]["min_samples"] = 300
    report["decisions"] = decisions
    text = page_text(report)
    said = f"Next step: {expected.sentence}"
    if expected.command:
        said += f" {expected.command}"
    assert said in text


def test_every_version_gets_exactly_one_next_step() -> None:
    report = owner_report()
    text = page_text(report)
    assert text.count("Next step:") == len(report["versions"])
    assert "Next step: Drift detected" in text  # the drifting champion
    assert "Next step: No labels yet" in text  # the canary nobody labelled


# --- 5. drift metrics explained ---------------------------------------------------------------


def test_psi_js_and_wasserstein_are_explained_where_the_drift_table_is() -> None:
    text = page_text(owner_report())
    summary = text.index("Drift summary")
    first_table = text.index("Version 3 · Drift detected")
    for line in METRIC_HELP.values():
        assert summary < text.index(line) < first_table
    assert "above 0.2 a large one" in text and "above 0.2 is large" in text
    assert "above 0.5 is large" in text


# --- 6. no identifiers ------------------------------------------------------------------------


def test_the_page_shows_no_ids_but_the_json_keeps_them() -> None:
    report = owner_report()
    report["decisions"] = [
        {
            "action": "retrain",
            "version": 5,
            "outcome": f"failed (claim {UUID})",
            "error": 'precondition failed: etag "9b2cf535f27731c974343645a3985328" changed',
            "reasons": [f"request {UUID} timed out"],
        }
    ]
    page = render_report_html(report)
    assert ID_LIKE.findall(page) == []
    assert "<dt>Event</dt>" not in page
    text = page_text(report)
    assert "churn" in text and "Version 3" in text and "Version 4" in text
    assert "request an id timed out" in text
    assert report["run"]["event_id"] == UUID  # the document itself is untouched
