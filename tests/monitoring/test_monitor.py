"""The scheduled monitor end to end on moto: capture, batch and feedback in S3 → drift,
accuracy, CloudWatch metrics and the report."""

from __future__ import annotations

import html
import json
import re
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from chalicelib.monitoring import MonitorRun
from chalicelib.serving import store_feedback
from chalicelib.storage import AwsClients
from sklambda.local.events import scheduled_event
from sklambda.sample_data import FEATURES, TARGET, churn_frame
from tests.models import fitted_logreg, fitted_regressor, training_frame
from tests.monitoring.world import (
    MODEL,
    MonitorWorld,
    features,
    score_batch_file,
    version_entry,
)


def drifted_frame(n: int = 600, seed: int = 11) -> pd.DataFrame:
    """Customers paying and staying more, and a region the model never saw."""
    frame = churn_frame(n, seed=seed, shift=1.0)
    frame.loc[frame.index[: int(n * 0.3)], "region"] = "mars"
    return frame


def test_traffic_like_the_training_data_is_not_flagged(world: MonitorWorld) -> None:
    world.traffic(churn_frame(600, seed=123))

    outcome = world.run()

    assert outcome["models"][MODEL]["status"] == "done"
    report = world.report()
    entry = version_entry(report)
    assert entry["status"] == "ok"
    assert entry["traffic"] == {"http": 600, "batch": 0, "total": 600}
    assert report["flagged"] is False
    assert entry["drifted_share"] == 0.0
    breached = {n: f["breached"] for n, f in features(report).items() if f["breached"]}
    assert breached == {}
    assert entry["prediction"]["name"] == "score"
    assert entry["prediction"]["state"] == "ok"


def test_the_report_counts_records_and_requests_apart_and_keeps_registered_metrics(
    world: MonitorWorld,
) -> None:
    version = int(
        world.registry.register(
            MODEL, fitted_logreg(), training_frame(), TARGET, metrics={"accuracy": 0.91}
        )["version"]
    )
    world.registry.promote(MODEL, version)
    world.traffic(churn_frame(600, seed=123), per_request=100)  # 600 records in 6 requests

    world.run(event_id="0190f3a2-7c4e-7d1b-9a8e-3f2b6c1d4e5f")

    report = world.report()
    entry = version_entry(report, version)
    assert entry["traffic"]["total"] == 600 and entry["serving"]["requests"] == 6
    point = report["trend"][-1]["versions"][str(version)]
    assert point["records"] == 600 and point["samples"] == 600  # the old name stays
    assert entry["registered_metrics"] == {"accuracy": 0.91}
    # The version is explained: its features' importance at register rides along for drift.
    metadata = world.registry.get_metadata(MODEL, version)
    assert entry["importance"] == metadata["explanations"]["importance"]
    assert set(entry["importance"]) == {f["name"] for f in metadata["features"]}
    assert report["run"]["event_id"] == "0190f3a2-7c4e-7d1b-9a8e-3f2b6c1d4e5f"
    page = world.monitor.latest_html(MODEL)
    assert "Records via the API" in page and "API requests" in page
    assert "HTTP requests" not in page and "0190f3a2" not in page
    text = html.unescape(re.sub(r"<[^>]+>", "", page))
    assert "Next step: No labels yet" in text
    assert "no labels yet (registered 0.910)" in text


def test_shifted_numbers_and_a_new_category_are_flagged_after_consecutive_breaches(
    world: MonitorWorld,
) -> None:
    world.traffic(drifted_frame())

    world.run()
    first = features(world.report())
    assert first["monthly_charges"]["state"] == "breach"
    assert first["monthly_charges"]["consecutive"] == 1
    assert world.report()["flagged"] is False  # one breach is not yet a flag (default: 3)

    world.run()
    world.run()
    report = world.report()
    measured = features(report)
    assert report["flagged"] is True
    assert version_entry(report)["status"] == "drift"
    for name in ("monthly_charges", "tenure_months", "region"):
        assert measured[name]["state"] == "drifted", name
        assert measured[name]["consecutive"] == 3
    assert set(measured["monthly_charges"]["breached"]) == {"psi", "js", "wasserstein"}
    assert measured["region"]["new_categories"]["mars"] == 180
    assert measured["age"]["state"] == "ok"  # untouched features stay quiet
    share = version_entry(report)["drifted_share"]
    assert 0 < share < 0.5
    assert [p["at"] for p in report["trend"]] == sorted(p["at"] for p in report["trend"])
    assert len(report["trend"]) == 3


def test_per_feature_thresholds_and_breach_count_come_from_the_model_config(
    world: MonitorWorld,
) -> None:
    world.registry.configure(
        MODEL,
        {
            "drift_thresholds": {
                "consecutive_breaches": 1,
                "features": {"monthly_charges": {"psi": None, "js": None, "wasserstein": None}},
            }
        },
    )
    world.traffic(drifted_frame())

    world.run()

    measured = features(world.report())
    assert measured["tenure_months"]["state"] == "drifted"  # one breach is enough now
    assert measured["monthly_charges"]["breached"] == []  # its metrics are switched off
    assert measured["monthly_charges"]["psi"] > 0.2  # still measured and reported
    assert world.report()["thresholds"]["consecutive_breaches"] == 1


def test_too_little_traffic_is_not_enough_data_not_an_alarm(world: MonitorWorld) -> None:
    world.traffic(drifted_frame(n=100))

    world.run()

    report = world.report()
    entry = version_entry(report)
    assert entry["status"] == "not_enough_data"
    assert entry["drift_detected"] is False
    assert {f["state"] for f in entry["features"]} == {"not_enough_data"}
    assert world.metric("DriftDetected", Model=MODEL, Version="1") == []
    assert world.metric("SampleCount", Model=MODEL, Version="1") == [100.0]


def test_accuracy_falls_when_feedback_disagrees(world: MonitorWorld) -> None:
    # A floor of 0.9 on at least 100 labels: the alarm metric says when accuracy sinks under it.
    world.registry.set_policy(MODEL, {"accuracy_floor": 0.9})
    truth = churn_frame(400, seed=5)
    responses = world.traffic(truth)
    ids = [pid for r in responses for pid in r["prediction_ids"]]
    predictions = [p for r in responses for p in r["predictions"]]
    # Ground truth that agrees with every prediction, through the feedback route's writer.
    store_feedback(
        world.data,
        "feedback/",
        MODEL,
        [{"prediction_id": i, "actual": p} for i, p in zip(ids, predictions, strict=True)],
        received=datetime.now(UTC),
        request_id="fb-1",
        consumer="tests",
    )
    world.run()
    good = version_entry(world.report())["quality"]
    assert good["labelled"] == 400
    assert good["metrics"]["accuracy"] == 1.0

    # A day later the world changed: half of the new predictions were wrong. An analyst drops
    # the labels as a CSV file under the feedback prefix.
    later = world.traffic(churn_frame(400, seed=6))
    rows = []
    for response in later:
        for i, (pid, label) in enumerate(
            zip(response["prediction_ids"], response["predictions"], strict=True)
        ):
            rows.append({"prediction_id": pid, "actual": label if i % 2 else 1 - int(label)})
    world.data.put_bytes(
        "feedback/churn/labels-week-47.csv", pd.DataFrame(rows).to_csv(index=False).encode()
    )
    world.run()

    worse = version_entry(world.report())["quality"]
    assert worse["labelled"] == 800
    assert worse["metrics"]["accuracy"] == pytest.approx(0.75, abs=0.01)
    assert "roc_auc" in worse["metrics"] and "log_loss" in worse["metrics"]
    accuracy = world.metric("Accuracy", Model=MODEL, Version="1")
    assert sorted(accuracy) == pytest.approx([0.75, 1.0], abs=0.01)
    assert version_entry(world.report())["below_accuracy_floor"] is True
    assert sorted(world.metric("AccuracyBelowFloor", Model=MODEL, Version="1")) == [0.0, 1.0]
    trend = [p["versions"]["1"]["quality"]["accuracy"] for p in world.report()["trend"]]
    assert trend[0] == 1.0 and trend[1] == pytest.approx(0.75, abs=0.01)


def test_metrics_are_published_to_cloudwatch(world: MonitorWorld) -> None:
    world.traffic(drifted_frame())

    world.run()

    psi = world.metric("FeatureDriftPSI", Model=MODEL, Version="1", Feature="monthly_charges")
    assert len(psi) == 1 and psi[0] > 0.2
    quiet = world.metric("FeatureDriftPSI", Model=MODEL, Version="1", Feature="age")
    assert len(quiet) == 1 and quiet[0] < 0.2
    assert world.metric(
        "FeatureDriftWasserstein", Model=MODEL, Version="1", Feature="tenure_months"
    )
    assert world.metric("FeatureDriftJS", Model=MODEL, Version="1", Feature="region")
    assert world.metric("SampleCount", Model=MODEL, Version="1") == [600.0]
    assert world.metric("LabelledCount", Model=MODEL, Version="1") == [0.0]
    share = world.metric("DriftedFeatureShare", Model=MODEL, Version="1")
    assert share == [0.0]  # breaches, but not yet three in a row
    assert world.metric("DriftDetected", Model=MODEL, Version="1") == [0.0]
    assert world.metric("AccuracyBelowFloor", Model=MODEL, Version="1") == []  # no floor set
    assert len(world.metric("PredictionDriftPSI", Model=MODEL, Version="1")) == 1


def test_a_duplicated_scheduled_event_publishes_once(world: MonitorWorld) -> None:
    world.traffic(churn_frame(400, seed=1))

    first = world.run(event_id="same-event")
    again = world.run(event_id="same-event")

    assert first["models"][MODEL]["status"] == "done"
    assert again["models"][MODEL] == {"status": "skipped", "reason": "already run for this event"}
    assert world.metric("SampleCount", Model=MODEL, Version="1") == [400.0]
    reports = [k for k in world.data.list_keys("reports/churn/") if k.endswith(".json")]
    assert len([k for k in reports if "/_runs/" not in k and "latest" not in k]) == 1


def test_one_model_failing_does_not_stop_the_others(world: MonitorWorld) -> None:
    world.register("broken")
    world.registry.promote("broken", 1)
    world.aws.s3.put_object(
        Bucket="test-models", Key="models/broken/versions/1/profile.json", Body=b"{not json"
    )
    world.traffic(churn_frame(300, seed=2))

    outcome = world.run(MODEL, "broken")

    assert outcome["models"]["broken"]["status"] == "failed"
    assert outcome["models"][MODEL]["status"] == "done"
    assert outcome["failures"] == 1
    assert world.metric("MonitorFailures", Model="broken") == [1.0]
    # The failed model's claim is released: a retry of the event runs it again.
    world.aws.s3.put_object(
        Bucket="test-models",
        Key="models/broken/versions/1/profile.json",
        Body=world.aws.s3.get_object(
            Bucket="test-models", Key="models/churn/versions/1/profile.json"
        )["Body"].read(),
    )
    retry = world.monitor.run(
        ["broken", MODEL], MonitorRun("event-1", datetime.now(UTC), "schedule", 24)
    )
    assert retry["models"]["broken"]["status"] == "done"
    assert retry["models"][MODEL]["status"] == "skipped"


def test_canary_and_shadow_versions_are_monitored_beside_the_champion(
    world: MonitorWorld,
) -> None:
    world.register()
    world.register()
    world.registry.promote(MODEL, 2, alias="canary", weight=0.5)
    world.registry.promote(MODEL, 3, alias="shadow")
    world.traffic(churn_frame(800, seed=3), per_request=10)

    world.run()

    report = world.report()
    by_version = {v["version"]: v for v in report["versions"]}
    assert by_version[1]["roles"] == ["champion"]
    assert by_version[2]["roles"] == ["canary"]
    assert by_version[3]["roles"] == ["shadow"]
    # Champion and canary split the traffic; the shadow scored every request.
    assert by_version[1]["traffic"]["http"] + by_version[2]["traffic"]["http"] == 800
    assert 200 < by_version[2]["traffic"]["http"] < 600
    assert by_version[3]["traffic"]["http"] == 800
    assert report["aliases"]["canary"] == {"version": 2, "weight": 0.5}


def test_batch_files_scored_in_the_window_count_as_traffic(
    world: MonitorWorld, aws: AwsClients
) -> None:
    frame = drifted_frame(n=500)
    score_batch_file(aws, "batch/incoming/churn/march.csv", frame[FEATURES])

    world.run()

    report = world.report()
    entry = version_entry(report)
    assert entry["traffic"] == {"http": 0, "batch": 500, "total": 500}
    assert features(report)["monthly_charges"]["state"] == "breach"
    assert entry["prediction"]["samples"] == 500


def test_accuracy_is_estimated_from_the_probabilities_before_any_label(
    world: MonitorWorld, aws: AwsClients
) -> None:
    http = world.traffic(churn_frame(300, seed=8))
    batch = churn_frame(200, seed=9)
    score_batch_file(aws, "batch/incoming/churn/april.csv", batch[FEATURES])

    world.run()

    entry = version_entry(world.report())
    # What the model said of its own predictions: the probability of each predicted class.
    said = [
        proba[str(label)]
        for response in http
        for label, proba in zip(response["predictions"], response["probabilities"], strict=True)
    ]
    proba = fitted_logreg().predict_proba(batch[FEATURES])
    said += proba.max(axis=1).tolist()  # the logistic model predicts its likeliest class
    estimated = entry["estimated"]
    assert estimated["records"] == 500
    assert estimated["accuracy"] == pytest.approx(sum(said) / len(said), abs=1e-6)
    assert "concept drift" in estimated["caveat"]
    assert entry["quality"]["labelled"] == 0  # no label was needed
    published = world.metric("EstimatedAccuracy", Model=MODEL, Version="1")
    assert published == [pytest.approx(estimated["accuracy"])]
    page = world.monitor.latest_html(MODEL)
    assert f"Estimated accuracy: {estimated['accuracy']:.3f}" in page
    assert "blind to concept drift" in page


def test_blank_category_cells_of_batch_files_are_missing_not_a_new_level(
    world: MonitorWorld, aws: AwsClients
) -> None:
    frame = training_frame()[FEATURES].head(400).copy()
    frame.loc[frame.index[:100], "contract"] = None  # written as empty cells
    score_batch_file(aws, "batch/incoming/churn/gaps.csv", frame)

    world.run()

    contract = features(world.report())["contract"]
    assert contract["missing_rate"] == 0.25
    assert "" not in (contract.get("new_categories") or {})


def test_regressors_get_value_drift_and_error_metrics(world: MonitorWorld) -> None:
    frame = training_frame()[["tenure_months", "age", "monthly_charges"]]
    world.register("charges", fitted_regressor(), frame)
    world.registry.promote("charges", 1)
    traffic = churn_frame(400, seed=8)
    responses = world.traffic(
        traffic[["tenure_months", "age"]].assign(
            **{f: traffic[f] for f in FEATURES if f not in ("tenure_months", "age")}
        ),
        name="charges",
    )
    ids = [pid for r in responses for pid in r["prediction_ids"]]
    store_feedback(
        world.data,
        "feedback/",
        "charges",
        [
            {"prediction_id": i, "actual": float(a)}
            for i, a in zip(ids, traffic["monthly_charges"], strict=True)
        ],
        received=datetime.now(UTC),
        request_id="fb",
        consumer="tests",
    )

    world.run("charges")

    entry = version_entry(world.report("charges"))
    assert entry["prediction"]["name"] == "value"
    quality = entry["quality"]
    assert quality["labelled"] == 400
    assert set(quality["metrics"]) >= {"mae", "rmse"}
    predictions = np.array([p for r in responses for p in r["predictions"]])
    expected_mae = float(np.mean(np.abs(predictions - traffic["monthly_charges"].to_numpy())))
    assert quality["metrics"]["mae"] == pytest.approx(expected_mae, rel=1e-4)


def test_scheduled_handler_monitors_every_model_with_a_champion(
    world: MonitorWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    import app as app_module

    world.register("unserved")  # no champion: not monitored
    world.traffic(churn_frame(300, seed=4))
    app_module.reset()
    at = (datetime.now(UTC) + timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    event = scheduled_event("monitor_models", "us-east-1", event_id="evt-42", at=at)

    result = app_module.monitor_models(event, None)

    assert set(result["models"]) == {MODEL}
    assert result["models"][MODEL]["status"] == "done"
    report = world.report()
    assert report["run"]["event_id"] == "evt-42"
    assert report["run"]["trigger"] == "schedule"
    again = app_module.monitor_models(event, None)
    assert again["models"][MODEL]["status"] == "skipped"
    app_module.reset()


# -- the report route and the CLI --------------------------------------------------------------


def test_report_route_serves_the_latest_page_and_its_json(world: MonitorWorld, api) -> None:
    missing = api.http.get("/models/churn/report")
    assert missing.status_code == 404
    assert "sklambda monitor churn" in missing.json_body["message"]

    world.traffic(drifted_frame())
    world.run()
    world.run()

    page = api.http.get("/models/churn/report")
    assert page.status_code == 200
    assert page.headers["Content-Type"].startswith("text/html")
    assert "default-src 'none'" in page.headers["Content-Security-Policy"]
    html = page.body.decode()
    assert "<svg" in html and "monthly_charges" in html and "mars" in html
    assert "<script" not in html
    as_json = api.http.get("/models/churn/report?format=json")
    assert as_json.status_code == 200
    assert as_json.json_body["run"]["event_id"] == "event-2"  # the newest of the two runs
    assert api.http.get("/models/nope/report").status_code == 404
    bad = api.http.get("/models/churn/report?format=pdf")
    assert bad.status_code == 400 and "html or json" in bad.json_body["message"]


def test_report_pages_escape_what_traffic_sends(world: MonitorWorld) -> None:
    frame = churn_frame(400, seed=9)
    frame.loc[frame.index[:150], "plan"] = "<img src=x onerror=alert(1)>"
    world.traffic(frame)

    world.run()

    html = world.monitor.latest_html(MODEL)
    assert "<img src=x" not in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html


def test_cli_monitor_runs_now_and_saves_the_page(world: MonitorWorld, capsys, tmp_path) -> None:
    from sklambda.cli import main

    world.traffic(drifted_frame())
    capsys.readouterr()  # the requests' own metric lines
    page = tmp_path / "report.html"

    code = main(["monitor", "churn", "--save-html", str(page)])

    out = capsys.readouterr().out
    assert code == 0
    summary = json.loads(out)
    assert summary["model"] == "churn"
    assert summary["report"].startswith("reports/churn/") and summary["report"].endswith(".json")
    assert summary["versions"][0]["traffic"]["http"] == 600
    assert "monthly_charges" in summary["versions"][0]["breached"]
    assert page.read_text().startswith("<!DOCTYPE html>")

    code = main(["--output", "table", "monitor", "churn"])
    table = capsys.readouterr().out
    assert code == 0
    assert "monthly_charges" in table and "breach" in table and "WASSERSTEIN" in table


def test_cli_monitor_says_what_to_fix(world: MonitorWorld, capsys) -> None:
    from sklambda.cli import main

    world.register("draft")
    assert main(["monitor", "nope"]) == 2
    assert "nope" in capsys.readouterr().err
    assert main(["monitor", "draft"]) == 2
    err = capsys.readouterr().err
    assert "no champion" in err and "sklambda promote draft" in err
    assert main(["monitor", "churn", "--window-hours", "0"]) == 2
    assert "--window-hours" in capsys.readouterr().err


def test_cli_configure_sets_and_restores_drift_thresholds(world: MonitorWorld, capsys) -> None:
    from sklambda.cli import main

    code = main(
        [
            "configure",
            "churn",
            "--drift-threshold",
            "psi=0.25",
            "--drift-threshold",
            "age:wasserstein=off",
            "--drift-consecutive-breaches",
            "2",
        ]
    )
    assert code == 0
    stored = json.loads(capsys.readouterr().out)["drift_thresholds"]
    assert stored == {
        "psi": 0.25,
        "consecutive_breaches": 2,
        "features": {"age": {"wasserstein": None}},
    }
    assert main(["configure", "churn", "--drift-threshold", "age:wasserstein=default"]) == 0
    assert json.loads(capsys.readouterr().out)["drift_thresholds"] == {
        "psi": 0.25,
        "consecutive_breaches": 2,
    }
    assert main(["configure", "churn", "--drift-threshold", "psi=-1"]) == 2
    assert "psi" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["configure", "churn", "--drift-threshold", "ks=0.1"])
    assert "psi, js or wasserstein" in capsys.readouterr().err
