"""The catalog on moto: its document (registry, report, usage metrics, batch manifests), the
API route and the `sklambda catalog` command."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from chalicelib.services import catalog_sources
from chalicelib.storage import AwsClients
from sklambda.cli import main
from sklambda.sample_data import TARGET, churn_frame
from tests.models import fitted_logreg, training_frame
from tests.monitoring.world import MODEL, MonitorWorld, score_batch_file

OTHER = "pricing"


def put_usage(
    aws: AwsClients,
    model: str,
    version: int,
    consumer: str,
    requests: int,
    records: int,
    *,
    days_ago: float = 1,
) -> None:
    """What CloudWatch makes of the API's EMF lines for one model, version and consumer."""
    dimensions = [
        {"Name": "Model", "Value": model},
        {"Name": "Version", "Value": str(version)},
        {"Name": "Consumer", "Value": consumer},
    ]
    at = datetime.now(UTC) - timedelta(days=days_ago)
    aws.client("cloudwatch").put_metric_data(
        Namespace="sklambda",
        MetricData=[
            {
                "MetricName": name,
                "Dimensions": dimensions,
                "Value": value,
                "Unit": "Count",
                "Timestamp": at,
            }
            for name, value in (("RequestCount", requests), ("RecordsScored", records))
        ],
    )


@pytest.fixture
def organised(world: MonitorWorld, aws: AwsClients) -> MonitorWorld:
    """churn: owned, a champion and a 20% canary, a report, API traffic and a batch file;
    pricing: registered, owned, never served."""
    registry = world.registry
    world.register()
    registry.configure(MODEL, {"tags": {"owner": "alice", "team": "risk"}})
    world.traffic(churn_frame(400, seed=3))
    world.run()
    registry.promote(MODEL, 2, alias="canary", weight=0.2)  # after the run: all on v1 there
    score_batch_file(aws, f"batch/incoming/{MODEL}/march.csv", churn_frame(60, seed=5))
    put_usage(aws, MODEL, 1, "checkout", 30, 2400)
    put_usage(aws, MODEL, 1, "checkout", 10, 600, days_ago=2)
    put_usage(aws, MODEL, 2, "mobile", 5, 250)
    put_usage(aws, MODEL, 1, "old-app", 9, 900, days_ago=9)  # before the period
    world.register(OTHER)
    registry.configure(OTHER, {"tags": {"owner": "bob", "team": "pricing"}})
    return world


def entry(document: dict[str, Any], name: str) -> dict[str, Any]:
    return next(m for m in document["models"] if m["name"] == name)


def test_the_catalog_document(organised: MonitorWorld, aws: AwsClients) -> None:
    document = catalog_sources(aws, organised.registry).catalog()

    assert [m["name"] for m in document["models"]] == [MODEL, OTHER]
    assert document["days"] == 7
    churn = entry(document, MODEL)
    assert (churn["owner"], churn["team"]) == ("alice", "risk")
    assert churn["versions"] == 2 and churn["latest_version"] == 2
    assert churn["live"] == [
        {"alias": "champion", "version": 1, "share": 0.8},
        {"alias": "canary", "version": 2, "share": 0.2},
    ]
    monitoring = churn["monitoring"]
    assert monitoring["at"] is not None and monitoring["status"] in ("ok", "drift")
    assert monitoring["window_consumers"]["tests"]["records"] == 400
    assert churn["report"] == f"models/{MODEL}/report"
    assert churn["usage"]["consumers"] == [
        {"consumer": "checkout", "requests": 40, "records": 3000},
        {"consumer": "mobile", "requests": 5, "records": 250},
    ]
    assert churn["usage"]["records"] == 3250 and churn["usage"]["versions"] == {"1": 3000, "2": 250}
    batch = churn["batch"]
    assert batch["files"] == 1 and batch["succeeded"] == 1 and batch["rows_scored"] == 60
    assert batch["submitters"] == {"analyst": 1}

    pricing = entry(document, OTHER)
    assert (pricing["owner"], pricing["team"]) == ("bob", "pricing")
    assert pricing["live"] == [] and pricing["report"] is None
    assert pricing["monitoring"]["status"] is None and pricing["monitoring"]["trend"] == []
    assert pricing["usage"]["records"] == 0 and pricing["batch"]["files"] == 0
    json.dumps(document)  # plain JSON all the way down


def test_accuracy_and_its_trend_come_from_the_report(
    organised: MonitorWorld, aws: AwsClients
) -> None:
    from chalicelib.monitoring._catalog import monitoring

    report = organised.report()
    report["versions"][0]["quality"] = {"labelled": 50, "metrics": {"accuracy": 0.8}}
    report["trend"] = [
        {"at": "2026-11-23T08:00:00Z", "versions": {"1": {"quality": {"accuracy": 0.86}}}},
        {"at": "2026-11-23T09:00:00Z", "versions": {"1": {"quality": {}}}},
        {"at": "2026-11-23T10:00:00Z", "versions": {"1": {"quality": {"accuracy": 0.8}}}},
    ]
    seen = monitoring(report)
    assert seen["metric"] == "accuracy" and seen["value"] == 0.8
    assert [p["value"] for p in seen["trend"]] == [0.86, 0.8]
    assert seen["change"] == pytest.approx(-0.06)


def test_batch_files_are_counted_from_one_listing_and_the_period_s_manifests(
    organised: MonitorWorld, aws: AwsClients, monkeypatch: pytest.MonkeyPatch
) -> None:
    sources = catalog_sources(aws, organised.registry)
    read: list[str] = []
    listed: list[str] = []
    get_json, list_objects = sources.data.get_json, sources.data.list_objects

    def counting_get(key: str) -> Any:
        read.append(key)
        return get_json(key)

    def counting_list(prefix: str) -> Any:
        listed.append(prefix)
        return list_objects(prefix)

    monkeypatch.setattr(sources.data, "get_json", counting_get)
    monkeypatch.setattr(sources.data, "list_objects", counting_list)
    # A week later nothing is recent: the listing alone decides, no manifest is read.
    later = sources.catalog(datetime.now(UTC) + timedelta(days=8))
    assert entry(later, MODEL)["batch"]["files"] == 0
    assert not [k for k in read if k.endswith(".manifest.json")]
    assert listed == [f"batch/scored/{MODEL}/", f"batch/scored/{OTHER}/"]
    sources.catalog()
    assert len([k for k in read if k.endswith(".manifest.json")]) == 1


def test_the_usage_of_many_series_is_read_in_few_calls(aws: AwsClients) -> None:
    from chalicelib.monitoring import UsageMetrics

    for i in range(300):
        put_usage(aws, f"m{i % 3}", 1, f"c{i}", 1, 10)
    calls: list[str] = []
    cloudwatch = aws.client("cloudwatch")
    original = cloudwatch.get_metric_data

    def counting(**kwargs: Any) -> Any:
        calls.append("get_metric_data")
        return original(**kwargs)

    cloudwatch.get_metric_data = counting  # type: ignore[method-assign]
    now = datetime.now(UTC)
    usage = UsageMetrics(cloudwatch).by_model(now - timedelta(days=7), now)
    assert sorted(usage) == ["m0", "m1", "m2"]
    assert usage["m0"]["records"] == 1000 and len(usage["m0"]["consumers"]) == 100
    assert len(calls) == 2  # 600 queries, 500 a call


# -- the API route -------------------------------------------------------------------------
def test_the_catalog_route_serves_the_page_and_its_json(organised: MonitorWorld, api) -> None:
    page = api.http.get("/catalog")
    assert page.status_code == 200, page.body
    report = api.http.get(f"/models/{MODEL}/report")
    for header in ("Content-Type", "Content-Security-Policy", "X-Content-Type-Options"):
        assert page.headers[header] == report.headers[header]
    html = page.body.decode()
    assert "<script" not in html and MODEL in html and OTHER in html
    assert f'href="models/{MODEL}/report"' in html and "no report yet" in html

    as_json = api.http.get("/catalog?format=json")
    assert as_json.status_code == 200
    assert [m["name"] for m in as_json.json_body["models"]] == [MODEL, OTHER]
    bad = api.http.get("/catalog?format=pdf")
    assert bad.status_code == 400 and "html or json" in bad.json_body["message"]


def test_retired_models_and_versions_read_as_retired(organised: MonitorWorld, aws) -> None:
    from chalicelib.monitoring.report import render_catalog_html

    registry = organised.registry
    registry.promote(OTHER, 1)
    registry.register(OTHER, fitted_logreg(), training_frame(), TARGET)
    registry.retire(OTHER, 2, reason="superseded")
    document = catalog_sources(aws, registry).catalog()
    assert entry(document, OTHER)["retired_versions"] == [2]
    assert entry(document, OTHER)["retired"] is False

    registry.retire(OTHER, reason="product discontinued")
    document = catalog_sources(aws, registry).catalog()

    pricing = entry(document, OTHER)
    assert pricing["retired"] is True and pricing["live"] == []  # it serves nothing
    assert entry(document, MODEL)["retired"] is False
    html = render_catalog_html(document)
    assert "retired: serves nothing, not monitored" in html and "(retired: 2)" in html


# -- the CLI -------------------------------------------------------------------------------
def test_configure_tags_owner_and_team(
    world: MonitorWorld, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["configure", MODEL, "--tag", "owner=alice", "--tag", "team=risk"]) == 0
    assert json.loads(capsys.readouterr().out)["tags"] == {"owner": "alice", "team": "risk"}
    assert main(["configure", MODEL, "--tag", "team=", "--capture-sample-rate", "0.5"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["tags"] == {"owner": "alice"} and shown["capture_sample_rate"] == 0.5
    assert main(["configure", MODEL, "--tag", "Owner=x"]) == 2
    assert "invalid tag name 'Owner'" in capsys.readouterr().err


def test_catalog_command_prints_a_table_json_and_saves_the_page(
    organised: MonitorWorld, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    page = tmp_path / "catalog.html"
    assert main(["catalog", "--output", "table", "--save-html", str(page)]) == 0
    table = capsys.readouterr().out
    header, churn, pricing = table.splitlines()
    assert header.split()[:4] == ["MODEL", "OWNER", "TEAM", "LIVE"]
    assert churn.split()[:5] == [MODEL, "alice", "risk", "champion:v1@80%", "canary:v2@20%"]
    assert "3250" in churn and "checkout,mobile" in churn
    assert "no report yet" in pricing and pricing.split()[:3] == [OTHER, "bob", "pricing"]
    assert "alice" in page.read_text() and "<script" not in page.read_text()

    assert main(["catalog"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert entry(document, MODEL)["usage"]["records"] == 3250
