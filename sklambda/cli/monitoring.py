"""Monitoring commands: run the monitor now, show a model's status, retrain it now, show a
past prediction from the capture."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from sklambda.cli.command import command
from sklambda.cli.factory import CliFactory
from sklambda.cli.output import Result, render
from sklambda.cli.params import PathType, argument, option

DRIFT_COLUMNS = ["version", "feature", "samples", "psi", "js", "wasserstein", "state"]


@command(
    "monitor",
    help="Run the monitor for a model now: drift, accuracy and traffic, and a new report.",
)
@argument("name", help="model name")
@option(
    "--window-hours",
    type=int,
    help="hours of traffic to look at (SKLAMBDA_MONITOR_WINDOW_HOURS, 24)",
)
@option("--save-html", type=PathType(), metavar="FILE", help="also save the report page")
def monitor(
    factory: CliFactory, name: str, window_hours: int | None, save_html: Path | None
) -> Result:
    from chalicelib.core import InvalidInputError, SklambdaError
    from chalicelib.monitoring import MonitorRun

    service = factory.create_monitor()
    service.check_monitored(name)
    hours = window_hours
    if hours is None:
        hours = factory.create_clients().settings.monitor_window_hours
    if hours < 1:
        raise InvalidInputError(f"--window-hours must be 1 or more, got {hours}")
    outcome = service.run([name], MonitorRun.on_demand(hours))["models"][name]
    if outcome["status"] == "failed":
        raise SklambdaError(f"monitor failed: {outcome['reason']}")
    report = service.latest_report(name)
    assert report is not None  # latest_report raises rather than answer None here
    if save_html:
        save_html.write_text(service.latest_html(name), encoding="utf-8")
    return Result(
        _monitor_summary(report, outcome["report"], save_html),
        table=lambda: _drift_rows(report),
        columns=DRIFT_COLUMNS,
    )


def _monitor_summary(report: dict[str, Any], key: str, html: Path | None) -> dict[str, Any]:
    return {
        "model": report["model"],
        "report": key,
        "html": str(html) if html else None,
        "window": report["run"]["window"],
        "flagged": report["flagged"],
        "versions": [
            {
                "version": entry["version"],
                "roles": entry["roles"],
                "status": entry["status"],
                "traffic": entry["traffic"],
                "drifted_share": entry["drifted_share"],
                "drifted": [f["name"] for f in entry["features"] if f["state"] == "drifted"],
                "breached": [f["name"] for f in entry["features"] if f["state"] == "breach"],
                "prediction_drift": (entry["prediction"] or {}).get("psi"),
                "quality": entry["quality"],
            }
            for entry in report["versions"]
        ],
    }


def _drift_rows(report: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {
            "version": entry["version"],
            "feature": feature["name"],
            "samples": feature["samples"],
            "psi": _rounded(feature.get("psi")),
            "js": _rounded(feature.get("js")),
            "wasserstein": _rounded(feature.get("wasserstein")),
            "state": feature["state"],
        }
        for entry in report["versions"]
        for feature in [*entry["features"], *([entry["prediction"]] if entry["prediction"] else [])]
    ]


def _rounded(value: Any) -> Any:
    return None if value is None else round(float(value), 4)


@command("status", help="Show what is live, at which weights, and the last decisions.")
@argument("name", help="model name")
@option("--decisions", type=int, default=10, help="how many to show (10)")
def status(factory: CliFactory, name: str, decisions: int) -> Result:
    from chalicelib.monitoring import model_status

    service = factory.create_monitor()
    found = model_status(service.registry, service, name, decisions=decisions)
    return Result(found, table=lambda: status_text(found))


def status_text(status: dict[str, Any]) -> str:
    """The status as a few titled tables, for --output table."""
    policy, retrain = status["policy"], status["retrain"]
    retired = status.get("retired") or {}
    whole, versions = retired.get("model"), retired.get("versions") or {}
    parts = [
        f"{status['model']}: last monitor report {status['last_report'] or 'none yet'}",
        *(
            [f"RETIRED by {whole['by']} at {whole['at']}: {whole['reason']} (serves nothing)"]
            if whole
            else []
        ),
        *([f"retired versions: {', '.join(sorted(versions, key=int))}"] if versions else []),
        "",
        render(status["live"], "table"),
        "",
        "policy: "
        + (
            f"retrain when {policy['retrain_when']}; after the gate: {policy['after_gate']}"
            if policy["set"]
            else "none set (sklambda policy NAME ...): canaries are watched, never acted on"
        ),
        f"retrain: {retrain['state']}"
        + (f", last started {retrain['started_at']}" if retrain["started_at"] else "")
        + (f", {retrain['outcome']}" if retrain["outcome"] else ""),
        "",
        render(status["decisions"], "table", ["at", "action", "version", "outcome", "reason"]),
    ]
    return "\n".join(parts)


@command("retrain", help="Retrain a model now behind its gate, and roll out per policy.")
@argument("name", help="model name")
@option(
    "--reason",
    default="asked from the command line",
    help="recorded with the retrain decision",
)
def retrain(factory: CliFactory, name: str, reason: str) -> Any:
    service = factory.create_retrainer()
    service.registry.list_versions(name)  # NotFoundError naming the model
    print(f"retraining {name} (this fits a model; it can take minutes)…", file=sys.stderr)
    return service.retrain(name, trigger="cli", reason=reason)


@command(
    "prediction",
    help="Show a past prediction from the capture: when it was made, by which version, its "
    "inputs, output and explanation.",
)
@argument("name", help="model name")
@argument(
    "prediction_id", help="an id predict returned in prediction_ids (a UUIDv7, 32 hex digits)"
)
@option(
    "--explain",
    is_flag=True,
    help="when none was captured, recompute the explanation from the captured inputs with "
    "the version that made the prediction",
)
def prediction(factory: CliFactory, name: str, prediction_id: str, explain: bool) -> Result:
    from chalicelib.services import prediction_lookup
    from chalicelib.serving import Capturer, ModelServer, NoCaptureSink

    clients = factory.create_clients()
    # Read-only: the server here only reads the model's state and loads the version's scorer.
    server = ModelServer(factory.create_registry(), Capturer(NoCaptureSink()), ttl_seconds=0)
    shown = prediction_lookup(clients).show(server, name, prediction_id, explain=explain)
    return Result(shown, table=lambda: prediction_text(shown))


def prediction_text(shown: dict[str, Any]) -> str:
    """The prediction as key/value lines, its inputs, and each output's contributions, largest
    first, for --output table."""
    summary = {
        k: shown.get(k)
        for k in ("model", "prediction_id", "version", "alias", "made_at", "captured_at")
    }
    summary["prediction"] = shown.get("prediction")
    if "probabilities" in shown:
        summary["probabilities"] = shown["probabilities"]
    summary["explanation"] = shown.get("explanation_source") or "none (see --explain)"
    parts = [render(summary, "table"), "", render(shown.get("inputs") or {}, "table")]
    explanation = shown.get("explanation")
    if explanation:
        outputs = explanation.get("classes") or {explanation.get("class"): explanation}
        for output, explained in outputs.items():
            rows = [
                {"feature": feature, "contribution": contribution}
                for feature, contribution in sorted(
                    explained["contributions"].items(), key=lambda item: -abs(item[1])
                )
            ]
            title = f" of class {output}" if output is not None else ""
            parts += [
                "",
                f"contributions{title} ({explanation['scale']}): base {explained['base']:.6g} "
                f"+ contributions = {explained['value']:.6g}",
                render(rows, "table", ["feature", "contribution"]),
            ]
    return "\n".join(parts)


COMMANDS = [monitor, status, retrain, prediction]
