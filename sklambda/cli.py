"""`sklambda`: the command line, in the spirit of the AWS CLI.

Every command accepts the global options (--output, --endpoint-url, --region, --profile,
--models-bucket, --data-bucket) before or after its name. Errors print one line on stderr
and exit with code 2.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from chalicelib.core import SklambdaError

EXIT_ERROR = 2
Handler = Callable[[argparse.Namespace], Any]


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; return the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    with _logs_to_stderr(verbose=args.debug):
        return _run(parser, args)


def _run(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    if not getattr(args, "handler", None):
        parser.print_help()
        return EXIT_ERROR
    try:
        result = args.handler(args)
    except SklambdaError as exc:
        return _fail(exc.message)
    except KeyboardInterrupt:
        return _fail("interrupted")
    except Exception as exc:  # noqa: BLE001 - the CLI's last line of defence
        if args.debug:
            raise
        return _fail(f"unexpected {type(exc).__name__}: {exc} (re-run with --debug for details)")
    if result is not None:
        from sklambda.output import render

        print(render(result, args.output, getattr(args, "columns", None)))
    return 0


@contextlib.contextmanager
def _logs_to_stderr(*, verbose: bool) -> Iterator[None]:
    """The services' structured logs: off the result's stdout, warnings only unless --debug."""
    import logging

    from chalicelib.core import logger

    handlers = [h for h in logger.handlers if isinstance(h, logging.StreamHandler)]
    streams = [h.setStream(sys.stderr) for h in handlers]
    level = logger.log_level
    logger.setLevel(logging.DEBUG if verbose else logging.WARNING)
    try:
        yield
    finally:
        logger.setLevel(level)
        for handler, stream in zip(handlers, streams, strict=True):
            if stream is not None:
                handler.setStream(stream)


def _fail(message: str) -> int:
    print(f"sklambda: error: {message}", file=sys.stderr)
    return EXIT_ERROR


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every command."""
    common = argparse.ArgumentParser(add_help=False)
    _add_global_options(common, defaults=False)
    parser = argparse.ArgumentParser(
        prog="sklambda",
        description="Run scikit-learn models on AWS serverless: registry, scoring, monitoring.",
    )
    _add_global_options(parser, defaults=True)
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")

    def command(name: str, handler: Handler, help_text: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, parents=[common], help=help_text, description=help_text)
        sub.set_defaults(handler=handler)
        return sub

    register = command("register", cmd_register, "Register a fitted model as a new version.")
    register.add_argument("name", help="model name, e.g. churn")
    register.add_argument("model_file", type=Path, help="the fitted estimator, saved with joblib")
    register.add_argument(
        "--train-data",
        "--train",
        dest="train_data",
        type=Path,
        required=True,
        help="training data the model was fitted on (.csv, .csv.gz, .parquet)",
    )
    register.add_argument("--target", required=True, help="the target column in --train-data")
    register.add_argument(
        "--metrics", type=_json_object, default={}, help="metrics as JSON, e.g. '{\"auc\": 0.91}'"
    )
    register.add_argument("--description", default="", help="free text")
    register.add_argument(
        "--tag", action="append", default=[], type=_tag, metavar="K=V", help="a tag (repeatable)"
    )
    register.add_argument(
        "--parent", type=int, dest="parent_version", help="the version this one was derived from"
    )

    command("models", cmd_models, "List models with their latest version and aliases.")

    versions = command("versions", cmd_versions, "List the versions of a model.")
    versions.add_argument("name")

    describe = command("describe", cmd_describe, "Show a version's metadata and input schema.")
    describe.add_argument("name")
    pick = describe.add_mutually_exclusive_group()
    pick.add_argument("--version", type=int, help="default: the champion, else the latest")
    pick.add_argument("--alias", help="describe the version this alias points to")

    promote = command("promote", cmd_promote, "Point an alias (default champion) at a version.")
    promote.add_argument("name")
    promote.add_argument("version", type=int)
    promote.add_argument("--alias", default="champion", help="champion (default), canary, shadow")
    promote.add_argument(
        "--weight", type=float, help="share of traffic for a canary, 0-1 (default 0.1)"
    )
    promote.add_argument("--reason", default="", help="recorded in the history")

    rollback = command(
        "rollback", cmd_rollback, "Move an alias back to the version it pointed to before."
    )
    rollback.add_argument("name")
    rollback.add_argument("--alias", default="champion")
    rollback.add_argument("--reason", default="", help="recorded in the history")

    demote = command("demote", cmd_demote, "Remove a canary or shadow alias.")
    demote.add_argument("name")
    demote.add_argument("--alias", required=True, help="canary or shadow")
    demote.add_argument("--reason", default="", help="recorded in the history")

    configure = command(
        "configure", cmd_configure, "Show or change how a model is served (no option: show)."
    )
    configure.add_argument("name")
    configure.add_argument(
        "--unknown-categories",
        choices=["accept", "warn", "reject"],
        help="categories never seen in training: score silently, score and "
        "warn (default), or reject the record",
    )
    configure.add_argument(
        "--capture-sample-rate",
        type=float,
        help="share of requests captured for monitoring, 0-1 (default 1)",
    )
    configure.add_argument(
        "--entity-id-field",
        help="record field naming the entity; canary routing sticks to it ('' to unset)",
    )
    configure.add_argument(
        "--id-columns", help="comma-separated input columns batch output keeps ('' for all)"
    )
    configure.add_argument(
        "--drift-threshold",
        action="append",
        type=_drift_threshold,
        metavar="[FEATURE:]METRIC=VALUE",
        help="drift threshold of psi, js or wasserstein, for all features or one "
        "(VALUE 'off' ignores that metric, 'default' restores it); repeatable",
    )
    configure.add_argument(
        "--drift-min-samples", type=int, help="fewer values than this: not enough data (300)"
    )
    configure.add_argument(
        "--drift-consecutive-breaches",
        type=int,
        help="runs in a row over a threshold before a feature counts as drifted (3)",
    )

    monitor = command(
        "monitor",
        cmd_monitor,
        "Run the monitor for a model now: drift, accuracy and traffic, and a new report.",
    )
    monitor.add_argument("name")
    monitor.add_argument(
        "--window-hours",
        type=int,
        help="hours of traffic to look at (SKLAMBDA_MONITOR_WINDOW_HOURS, 24)",
    )
    monitor.add_argument("--save-html", type=Path, metavar="FILE", help="also save the report page")

    policy = command(
        "policy",
        cmd_policy,
        "Show or set when a model is retrained, how a challenger is judged and rolled out.",
    )
    policy.add_argument("name")
    when = policy.add_argument_group("when to retrain (any trigger)")
    when.add_argument("--every-days", type=_optional_float, metavar="N|off")
    when.add_argument(
        "--on-drift", action=argparse.BooleanOptionalAction, help="when the monitor flags drift"
    )
    when.add_argument(
        "--accuracy-floor",
        type=_optional_float,
        metavar="X|off",
        help="when the champion's accuracy (r2 for regressors) on labelled traffic is below X",
    )
    when.add_argument(
        "--cooldown-hours", type=float, help="at most one triggered retrain per N hours (24)"
    )
    data = policy.add_argument_group("training data")
    data.add_argument(
        "--training-days",
        type=_optional_float,
        metavar="N|all",
        help="files under training/<model>/ of the last N days, or all (default all)",
    )
    data.add_argument("--holdout", type=float, help="share held out to compare both models (0.2)")
    data.add_argument("--seed", type=int, help="random seed of the holdout split (0)")
    data.add_argument(
        "--trainer",
        metavar="MODULE:FUNCTION",
        help="train with this function shipped with the app instead of cloning the champion "
        "('' to unset)",
    )
    judged = policy.add_argument_group("the gate")
    judged.add_argument(
        "--primary-metric",
        help="roc_auc, accuracy, log_loss, precision, recall, rmse, mae, r2 "
        "(default roc_auc for binary, accuracy for multiclass, rmse for regressors)",
    )
    judged.add_argument("--min-absolute-change", type=float, help="beat the champion by (0)")
    judged.add_argument(
        "--min-relative-change", type=float, help="beat the champion by this share (0)"
    )
    judged.add_argument(
        "--max-regression",
        action="append",
        type=_metric_tolerance,
        metavar="METRIC=TOL",
        help="a secondary metric may not get worse than the champion's by more than TOL "
        "(METRIC=off removes it); repeatable",
    )
    rollout = policy.add_argument_group("rollout")
    rollout.add_argument(
        "--action",
        choices=["register", "canary", "promote"],
        help="after the gate passes (canary)",
    )
    rollout.add_argument("--canary-weight", type=float, help="canary share of traffic (0.1)")
    rollout.add_argument("--bake-hours", type=float, help="canary or shadow bake time (24)")
    rollout.add_argument("--min-requests", type=int, help="requests before judging a canary (100)")
    rollout.add_argument(
        "--max-error-rate", type=float, help="canary server error share that rolls back (0.01)"
    )
    rollout.add_argument(
        "--max-latency-ratio", type=float, help="canary p95 over the champion's (1.5)"
    )
    rollout.add_argument(
        "--max-quality-drop", type=float, help="primary metric drop on labels that rolls back"
    )
    rollout.add_argument("--min-labels", type=int, help="labels each version needs (100)")

    retrain = command(
        "retrain", cmd_retrain, "Retrain a model now behind its gate, and roll out per policy."
    )
    retrain.add_argument("name")
    retrain.add_argument("--reason", default="asked from the command line")

    status = command(
        "status", cmd_status, "Show what is live, at which weights, and the last decisions."
    )
    status.add_argument("name")
    status.add_argument("--decisions", type=int, default=10, help="how many to show (10)")

    history = command("history", cmd_history, "Show every alias move and decision of a model.")
    history.add_argument("name")
    history.add_argument(
        "--moves-only", action="store_true", help="alias moves only, without retrain decisions"
    )

    batch = command("batch", cmd_batch, "Upload a file to be scored; --wait for its manifest.")
    batch.add_argument("name", help="model name")
    batch.add_argument("file", type=Path, help=".csv, .csv.gz, .parquet or .jsonl")
    chosen = batch.add_mutually_exclusive_group()
    chosen.add_argument("--version", type=int, help="score with this version (default champion)")
    chosen.add_argument("--alias", help="score with the version of this alias")
    batch.add_argument("--key-path", help="path under the model folder (default: the file name)")
    batch.add_argument("--wait", action="store_true", help="show progress until the manifest")
    batch.add_argument("--timeout", type=float, default=900.0, help="seconds to wait (900)")

    demo = command(
        "demo",
        cmd_demo,
        "Tour: train, register, promote, score over HTTP and in batch, send drift.",
    )
    demo.add_argument("--api-port", type=int, default=8000, help="local stack's API port")
    demo.add_argument("--aws-port", type=int, default=4566, help="local stack's AWS port")

    up = command("up", cmd_up, "Run everything locally: embedded AWS, HTTP API, batch worker.")
    up.add_argument("--api-port", type=int, default=8000, help="HTTP API port (8000)")
    up.add_argument("--aws-port", type=int, default=4566, help="embedded AWS port (4566)")
    up.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1)")
    up.add_argument(
        "--monitor-every",
        default="60s",
        metavar="INTERVAL",
        help="how often scheduled functions fire: 90, 60s, 5m, 1h (60s)",
    )
    up.add_argument("--no-demo", action="store_true", help="do not register the demo model")

    deploy = command(
        "deploy",
        cmd_deploy,
        "Package the app and create or update its CloudFormation stack in your account.",
    )
    _add_stage_options(deploy)
    deploy.add_argument(
        "--dry-run",
        action="store_true",
        help="build the package and template, print what would be deployed, call no AWS API",
    )
    deploy.add_argument(
        "--parameter-overrides",
        nargs="+",
        default=[],
        type=_tag,
        metavar="KEY=VALUE",
        help="stack parameters, e.g. EncryptionMode=KMS AlarmEmail=ops@example.com",
    )
    deploy.add_argument(
        "--artifacts-bucket",
        help="bucket for code and templates (default sklambda-artifacts-ACCOUNT-REGION)",
    )
    deploy.add_argument(
        "--build-dir",
        type=Path,
        help="where the package and template are written (default .sklambda-build/STAGE)",
    )

    destroy = command(
        "destroy", cmd_destroy, "Delete the stage's stack; its buckets and data stay by default."
    )
    _add_stage_options(destroy)
    destroy.add_argument(
        "--delete-data",
        action="store_true",
        help="also delete the models and data buckets with every object version (asks first)",
    )
    destroy.add_argument("--yes", action="store_true", help="do not ask before deleting data")
    return parser


def _add_stage_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--stage", required=True, help="the Chalice stage, e.g. prod")
    parser.add_argument("--stack-name", default="", help="stack name (default sklambda-STAGE)")
    parser.add_argument(
        "--project-dir",
        type=Path,
        default=None,
        help="the project with app.py and .chalice/ (default: here or a parent)",
    )


def _add_global_options(parser: argparse.ArgumentParser, *, defaults: bool) -> None:
    # Sub-commands repeat the options with SUPPRESS defaults so that a value given before the
    # command name is not reset by the sub-parser.
    def default(value: Any) -> Any:
        return value if defaults else argparse.SUPPRESS

    group = parser.add_argument_group("global options")
    group.add_argument(
        "--output",
        choices=["json", "table"],
        default=default(os.environ.get("SKLAMBDA_DEFAULT_OUTPUT", "json")),
        help="result format (default json; SKLAMBDA_DEFAULT_OUTPUT)",
    )
    group.add_argument(
        "--endpoint-url",
        default=default(None),
        help="send every AWS call here (e.g. the local stack); AWS_ENDPOINT_URL",
    )
    group.add_argument("--region", default=default(None), help="AWS region")
    group.add_argument("--profile", default=default(None), help="AWS named profile")
    group.add_argument(
        "--models-bucket", default=default(None), help="models bucket (SKLAMBDA_MODELS_BUCKET)"
    )
    group.add_argument(
        "--data-bucket", default=default(None), help="data bucket (SKLAMBDA_DATA_BUCKET)"
    )
    group.add_argument(
        "--debug", action="store_true", default=default(False), help="show tracebacks"
    )


# -- wiring ----------------------------------------------------------------------------------
def _clients(args: argparse.Namespace) -> Any:
    from chalicelib.core import Settings
    from chalicelib.storage import AwsClients

    if args.profile:
        os.environ["AWS_PROFILE"] = args.profile
    settings = Settings.from_env().with_overrides(
        models_bucket=args.models_bucket,
        data_bucket=args.data_bucket,
        region=args.region,
        endpoint_url=args.endpoint_url,
    )
    return AwsClients(settings)


def _registry(args: argparse.Namespace) -> Any:
    from chalicelib.registry import open_registry

    return open_registry(_clients(args))


def _json_object(raw: str) -> dict[str, Any]:
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise argparse.ArgumentTypeError(f"not valid JSON ({exc.msg}): {raw!r}") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(f'expected a JSON object like {{"auc": 0.9}}, got {raw!r}')
    return value


def _tag(raw: str) -> tuple[str, str]:
    key, sep, value = raw.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {raw!r}")
    return key, value


# -- commands --------------------------------------------------------------------------------
def cmd_register(args: argparse.Namespace) -> Any:
    from sklambda.files import load_model_file, read_table

    estimator = load_model_file(args.model_file)
    frame, sha256 = read_table(args.train_data)
    registry = _registry(args)
    metadata = registry.register(
        args.name,
        estimator,
        frame,
        args.target,
        metrics=args.metrics,
        description=args.description,
        tags=dict(args.tag),
        training_data_uri=args.train_data.resolve().as_uri(),
        training_data_sha256=sha256,
        parent_version=args.parent_version,
    )
    if args.output == "table":
        return _version_summary(metadata, registry.artifact_uri(args.name, metadata["version"]))
    return metadata


def _version_summary(metadata: dict[str, Any], uri: str) -> dict[str, Any]:
    return {
        "name": metadata["name"],
        "version": metadata["version"],
        "task": metadata["task"],
        "classes": metadata["classes"],
        "features": len(metadata["features"]),
        "target": metadata["target"]["name"],
        "sha256": metadata["artifact"]["sha256"],
        "size_bytes": metadata["artifact"]["size_bytes"],
        "scikit-learn": metadata["runtime"]["scikit-learn"],
        "metrics": metadata["metrics"],
        "training_rows": metadata["training_data"]["rows"],
        "created_at": metadata["created_at"],
        "created_by": metadata["created_by"],
        "artifact": uri,
    }


def cmd_models(args: argparse.Namespace) -> Any:
    registry = _registry(args)
    rows = []
    for name in registry.list_models():
        versions = registry.list_versions(name, missing_ok=True)
        if not versions:
            continue
        aliases = registry.get_aliases(name)["aliases"]
        rows.append(
            {
                "name": name,
                "versions": len(versions),
                "latest": versions[-1],
                "champion": _alias_version(aliases, "champion"),
                "canary": _alias_version(aliases, "canary"),
                "shadow": _alias_version(aliases, "shadow"),
            }
        )
    args.columns = ["name", "versions", "latest", "champion", "canary", "shadow"]
    return rows


def _alias_version(aliases: dict[str, Any], alias: str) -> Any:
    entry = aliases.get(alias)
    if entry is None:
        return None
    return f"{entry['version']}@{entry['weight']:g}" if "weight" in entry else entry["version"]


def cmd_versions(args: argparse.Namespace) -> Any:
    registry = _registry(args)
    by_version: dict[int, list[str]] = {}
    for alias, entry in registry.get_aliases(args.name)["aliases"].items():
        by_version.setdefault(entry["version"], []).append(alias)
    rows = []
    for version in registry.list_versions(args.name):
        metadata = registry.get_metadata(args.name, version)
        rows.append(
            {
                "version": version,
                "aliases": ",".join(sorted(by_version.get(version, []))) or None,
                "created_at": metadata["created_at"],
                "created_by": metadata["created_by"],
                "sha256": metadata["artifact"]["sha256"][:12],
                "metrics": metadata["metrics"] or None,
                "description": metadata["description"] or None,
            }
        )
    args.columns = [
        "version",
        "aliases",
        "created_at",
        "created_by",
        "sha256",
        "metrics",
        "description",
    ]
    return rows


def cmd_describe(args: argparse.Namespace) -> Any:
    registry = _registry(args)
    document = registry.get_aliases(args.name)
    if args.version is not None:
        version = args.version
    elif args.alias:
        version = registry.resolve(args.name, alias=args.alias)
    elif "champion" in document["aliases"]:
        version = document["aliases"]["champion"]["version"]
    else:
        version = registry.list_versions(args.name)[-1]
    metadata = registry.get_metadata(args.name, version)
    pointing = sorted(a for a, e in document["aliases"].items() if e["version"] == version)
    if args.output == "table":
        summary = _version_summary(metadata, registry.artifact_uri(args.name, version))
        summary["aliases"] = ",".join(pointing) or None
        summary["description"] = metadata["description"] or None
        summary["tags"] = metadata["tags"] or None
        summary["parent_version"] = metadata["parent_version"]
        summary["inputs"] = ", ".join(f"{f['name']}:{f['type']}" for f in metadata["features"])
        return summary
    return {**metadata, "aliases": pointing}


def cmd_promote(args: argparse.Namespace) -> Any:
    document = _registry(args).promote(
        args.name, args.version, alias=args.alias, weight=args.weight, reason=args.reason
    )
    return _alias_result(args, document)


def cmd_rollback(args: argparse.Namespace) -> Any:
    document = _registry(args).rollback(args.name, alias=args.alias, reason=args.reason)
    return _alias_result(args, document)


def cmd_demote(args: argparse.Namespace) -> Any:
    document = _registry(args).remove_alias(args.name, alias=args.alias, reason=args.reason)
    return _alias_result(args, document)


def _alias_result(args: argparse.Namespace, document: dict[str, Any]) -> Any:
    rows = [
        {
            "alias": alias,
            "version": entry["version"],
            "weight": entry.get("weight"),
            "previous": entry["previous"] or None,
            "updated_at": entry["updated_at"],
            "updated_by": entry["updated_by"],
        }
        for alias, entry in sorted(document["aliases"].items())
    ]
    if args.output == "json":
        return {
            "model": args.name,
            "revision": document["revision"],
            "aliases": rows,
            "last_event": document["last_event"],
        }
    args.columns = ["alias", "version", "weight", "previous", "updated_at", "updated_by"]
    return rows


def cmd_configure(args: argparse.Namespace) -> Any:
    registry = _registry(args)
    changes: dict[str, Any] = {}
    if args.unknown_categories is not None:
        changes["unknown_categories"] = args.unknown_categories
    if args.capture_sample_rate is not None:
        changes["capture_sample_rate"] = args.capture_sample_rate
    if args.entity_id_field is not None:
        changes["entity_id_field"] = args.entity_id_field or None
    if args.id_columns is not None:
        changes["id_columns"] = tuple(c.strip() for c in args.id_columns.split(",") if c.strip())
    drift = _drift_changes(args)
    if drift is not None:
        current = registry.get_config(args.name).drift_thresholds
        changes["drift_thresholds"] = merge_drift_thresholds(current, drift)
    if not changes:
        registry.list_versions(args.name)
        return registry.get_config(args.name).to_dict()
    return registry.configure(args.name, changes).to_dict()


def _drift_changes(args: argparse.Namespace) -> dict[str, Any] | None:
    drift: dict[str, Any] = {}
    for feature, metric, value in args.drift_threshold or []:
        if feature:
            drift.setdefault("features", {}).setdefault(feature, {})[metric] = value
        else:
            drift[metric] = value
    if args.drift_min_samples is not None:
        drift["min_samples"] = args.drift_min_samples
    if args.drift_consecutive_breaches is not None:
        drift["consecutive_breaches"] = args.drift_consecutive_breaches
    return drift or None


_RESTORE = object()  # "default": forget the override


def _drift_threshold(raw: str) -> tuple[str, str, Any]:
    target, sep, text = raw.partition("=")
    feature, _, metric = target.rpartition(":")
    if not sep or metric not in ("psi", "js", "wasserstein"):
        raise argparse.ArgumentTypeError(
            f"expected [FEATURE:]METRIC=VALUE with METRIC psi, js or wasserstein, got {raw!r}"
        )
    if text == "off":
        return feature, metric, None
    if text == "default":
        return feature, metric, _RESTORE
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{raw!r}: VALUE must be a number, 'off' or 'default'"
        ) from None
    return feature, metric, value


def merge_drift_thresholds(current: Any, changes: dict[str, Any]) -> dict[str, Any]:
    """The stored drift overrides with `changes` applied ('default' removes an override)."""
    merged = dict(current or {})
    features = {k: dict(v) for k, v in (merged.get("features") or {}).items()}
    for key, value in changes.items():
        if key == "features":
            for feature, limits in value.items():
                entry = features.setdefault(feature, {})
                for metric, limit in limits.items():
                    if limit is _RESTORE:
                        entry.pop(metric, None)
                    else:
                        entry[metric] = limit
                if not entry:
                    features.pop(feature)
        elif value is _RESTORE:
            merged.pop(key, None)
        else:
            merged[key] = value
    merged.pop("features", None)
    if features:
        merged["features"] = features
    return merged


def cmd_monitor(args: argparse.Namespace) -> Any:
    from chalicelib.monitoring import MonitorRun
    from chalicelib.services import monitor

    clients = _clients(args)
    service = monitor(clients)
    service.check_monitored(args.name)
    hours = args.window_hours
    if hours is None:
        hours = clients.settings.monitor_window_hours
    if hours < 1:
        from chalicelib.core import InvalidInputError

        raise InvalidInputError(f"--window-hours must be 1 or more, got {hours}")
    outcome = service.run([args.name], MonitorRun.on_demand(hours))["models"][args.name]
    if outcome["status"] == "failed":
        from chalicelib.core import SklambdaError

        raise SklambdaError(f"monitor failed: {outcome['reason']}")
    report = service.latest_report(args.name)
    assert report is not None  # latest_report raises rather than answer None here
    if args.save_html:
        args.save_html.write_text(service.latest_html(args.name), encoding="utf-8")
    if args.output == "json":
        return _monitor_summary(report, outcome["report"], args.save_html)
    args.columns = ["version", "feature", "samples", "psi", "js", "wasserstein", "state"]
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


def _rounded(value: Any) -> Any:
    return None if value is None else round(float(value), 4)


_POLICY_OPTIONS = (
    "every_days",
    "on_drift",
    "accuracy_floor",
    "cooldown_hours",
    "training_days",
    "holdout",
    "seed",
    "primary_metric",
    "min_absolute_change",
    "min_relative_change",
    "action",
    "canary_weight",
    "bake_hours",
    "min_requests",
    "max_error_rate",
    "max_latency_ratio",
    "max_quality_drop",
    "min_labels",
)
_UNSET = object()


def _optional_float(raw: str) -> Any:
    if raw.strip().lower() in ("off", "all", "none", ""):
        return _UNSET
    try:
        return float(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number or off, got {raw!r}") from None


def _metric_tolerance(raw: str) -> tuple[str, Any]:
    metric, sep, value = raw.partition("=")
    if not sep or not metric:
        raise argparse.ArgumentTypeError(f"expected METRIC=TOLERANCE, got {raw!r}")
    if value.strip().lower() == "off":
        return metric, _UNSET
    try:
        return metric, float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{raw!r}: the tolerance must be a number") from None


def cmd_policy(args: argparse.Namespace) -> Any:
    registry = _registry(args)
    changes: dict[str, Any] = {}
    for option in _POLICY_OPTIONS:
        value = getattr(args, option)
        if value is not None:
            changes[option] = None if value is _UNSET else value
    if args.trainer is not None:
        changes["trainer"] = args.trainer or None
    if args.max_regression:
        limits = dict(registry.get_policy(args.name).max_regression)
        for metric, tolerance in args.max_regression:
            if tolerance is _UNSET:
                limits.pop(metric, None)
            else:
                limits[metric] = tolerance
        changes["max_regression"] = limits
    for option in ("cooldown_hours", "holdout", "seed", "canary_weight", "bake_hours"):
        if changes.get(option, 0) is None:
            raise SklambdaError(f"--{option.replace('_', '-')} needs a number")
    if not changes:
        registry.list_versions(args.name)
        return registry.get_policy(args.name).to_dict()
    return registry.set_policy(args.name, changes).to_dict()


def cmd_retrain(args: argparse.Namespace) -> Any:
    from chalicelib.services import retrainer

    clients = _clients(args)
    service = retrainer(clients)
    service.registry.list_versions(args.name)
    print(f"retraining {args.name} (this fits a model; it can take minutes)…", file=sys.stderr)
    return service.retrain(args.name, trigger="cli", reason=args.reason)


def cmd_status(args: argparse.Namespace) -> Any:
    from chalicelib.services import monitor
    from sklambda.status import model_status, status_text

    clients = _clients(args)
    service = monitor(clients)
    status = model_status(service.registry, service, args.name, decisions=args.decisions)
    return status if args.output == "json" else status_text(status)


def cmd_history(args: argparse.Namespace) -> Any:
    events = [
        {"to_version": e.get("version"), **e} if "revision" not in e else e
        for e in _registry(args).history(args.name, with_decisions=not args.moves_only)
    ]
    args.columns = [
        "revision",
        "at",
        "action",
        "alias",
        "from_version",
        "to_version",
        "weight",
        "actor",
        "reason",
    ]
    return events


def cmd_batch(args: argparse.Namespace) -> Any:
    from chalicelib.batch import BatchLayout
    from sklambda.batch_client import BatchClient, ProgressBar, incoming_key

    clients = _clients(args)
    settings = clients.settings
    layout = BatchLayout.from_settings(settings)
    client = BatchClient(clients.s3, settings.require_data_bucket(), layout)
    selector = str(args.version) if args.version is not None else args.alias
    key = incoming_key(layout, args.name, args.key_path or args.file.name, selector)
    bar = ProgressBar()
    size = max(args.file.stat().st_size, 1) if args.file.is_file() else 1
    sent = [0]

    def uploading(chunk: int) -> None:
        sent[0] += chunk
        bar.show("uploading", sent[0] / size, f"{sent[0] / 1e6:.1f} MB")

    uploaded = client.upload(args.file, key, progress=uploading)
    if not args.wait:
        bar.finish()
        return uploaded

    def scoring(progress: dict[str, Any]) -> None:
        if progress["state"] == "queued":
            bar.show("queued", None)
            return
        read, total = progress.get("bytes_read"), progress.get("size_bytes")
        share = read / total if read is not None and total else None
        bar.show("scoring", share, f"{progress.get('rows_read', 0):,} rows")

    manifest = client.wait(uploaded, timeout=args.timeout, on_progress=scoring)
    bar.show("done", 1.0, manifest["status"])
    bar.finish()
    summary = {
        "status": manifest["status"],
        "reason": manifest.get("reason"),
        "rows": manifest["rows"],
        "model": manifest.get("model"),
        "scored": (manifest["outputs"].get("scored") or {}).get("key"),
        "errors": (manifest["outputs"].get("errors") or {}).get("key"),
        "duration_seconds": manifest.get("duration_seconds"),
    }
    if manifest["status"] != "succeeded":
        from chalicelib.core import SklambdaError

        raise SklambdaError(f"batch scoring failed: {manifest.get('reason')}")
    return summary


def cmd_demo(args: argparse.Namespace) -> Any:
    from sklambda.demo import run_demo

    run_demo(f"http://127.0.0.1:{args.api_port}", args.api_port, args.aws_port)
    return None


def cmd_up(args: argparse.Namespace) -> Any:
    from chalicelib.core import InvalidInputError
    from sklambda.local.events import parse_interval
    from sklambda.local.stack import run_local_stack

    try:
        every = parse_interval(args.monitor_every)
    except ValueError as exc:
        raise InvalidInputError(f"--monitor-every: {exc}") from None
    run_local_stack(
        api_port=args.api_port,
        aws_port=args.aws_port,
        host=args.host,
        with_demo=not args.no_demo,
        monitor_every=every,
    )
    return None


def cmd_deploy(args: argparse.Namespace) -> Any:
    from sklambda.infra.deploy import DeployRequest, deploy, project_dir

    project = project_dir((args.project_dir or Path.cwd()).resolve())
    request = DeployRequest(
        stage=args.stage,
        project_dir=project,
        build_dir=args.build_dir or project / ".sklambda-build" / args.stage,
        stack_name=args.stack_name,
        dry_run=args.dry_run,
        parameters=dict(args.parameter_overrides),
        artifacts_bucket=args.artifacts_bucket,
    )
    request.stack  # noqa: B018 - check the stack name before the long build
    return deploy(request, _clients(args), _progress)


def cmd_destroy(args: argparse.Namespace) -> Any:
    from chalicelib.core import InvalidInputError
    from sklambda.infra.deploy import destroy, stack_name

    name = stack_name(args.stage, args.stack_name)
    if args.delete_data and not args.yes:
        if not sys.stdin.isatty():
            raise InvalidInputError("--delete-data deletes every model and file: add --yes")
        answer = input(f"Delete stack {name} AND its buckets with all data? Type the stack name: ")
        if answer.strip() != name:
            raise InvalidInputError("not confirmed; nothing was deleted")
    return destroy(
        args.stage,
        args.stack_name,
        _clients(args),
        delete_data=args.delete_data,
        progress=_progress,
    )


def _progress(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
