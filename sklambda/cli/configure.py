"""Per-model settings: how a model is served and monitored (configure), and when it is
retrained and how a challenger is judged and rolled out (policy).
"""

from __future__ import annotations

from typing import Any

import click

from sklambda.cli.command import command
from sklambda.cli.factory import CliFactory
from sklambda.cli.params import (
    OFF,
    DriftThreshold,
    KeyValue,
    MetricTolerance,
    OffOrNumber,
    argument,
    option,
)


@command("configure", help="Show or change how a model is served (no option: show).")
@argument("name", help="model name")
@option(
    "--unknown-categories",
    type=click.Choice(["accept", "warn", "reject"]),
    help="categories never seen in training: score silently, score and warn (default), "
    "or reject the record",
)
@option(
    "--capture-sample-rate",
    type=float,
    help="share of requests captured for monitoring, 0-1 (default 1)",
)
@option(
    "--entity-id-field",
    help="record field naming the entity; canary routing sticks to it ('' to unset)",
)
@option("--id-columns", help="comma-separated input columns batch output keeps ('' for all)")
@option(
    "--drift-threshold",
    type=DriftThreshold(),
    multiple=True,
    metavar="[FEATURE:]METRIC=VALUE",
    help="drift threshold of psi, js or wasserstein, for all features or one "
    "(VALUE 'off' ignores that metric, 'default' restores it); repeatable",
)
@option("--drift-min-samples", type=int, help="fewer values than this: not enough data (300)")
@option(
    "--drift-consecutive-breaches",
    type=int,
    help="runs in a row over a threshold before a feature counts as drifted (3)",
)
@option(
    "--tag",
    type=KeyValue(),
    multiple=True,
    metavar="NAME=VALUE",
    help="who answers for the model, shown by the catalog: owner=alice, team=risk "
    "(NAME= removes the tag); repeatable",
)
@option(
    "--explain-batch/--no-explain-batch",
    default=None,
    help="scored batch files carry each feature's contribution to the prediction, "
    "contrib_<feature> columns (off by default)",
)
def configure(
    factory: CliFactory,
    name: str,
    unknown_categories: str | None,
    capture_sample_rate: float | None,
    entity_id_field: str | None,
    id_columns: str | None,
    drift_threshold: tuple[tuple[str, str, Any], ...],
    drift_min_samples: int | None,
    drift_consecutive_breaches: int | None,
    tag: tuple[tuple[str, str], ...],
    explain_batch: bool | None,
) -> Any:
    registry = factory.create_registry()
    changes: dict[str, Any] = {}
    if unknown_categories is not None:
        changes["unknown_categories"] = unknown_categories
    if capture_sample_rate is not None:
        changes["capture_sample_rate"] = capture_sample_rate
    if entity_id_field is not None:
        changes["entity_id_field"] = entity_id_field or None
    if explain_batch is not None:
        changes["explain_batch"] = explain_batch
    if id_columns is not None:
        changes["id_columns"] = tuple(c.strip() for c in id_columns.split(",") if c.strip())
    drift = _drift_changes(drift_threshold, drift_min_samples, drift_consecutive_breaches)
    tags = {key: value or None for key, value in tag}
    if not changes and not drift and not tags:
        registry.list_versions(name)  # NotFoundError naming the model
        return registry.get_config(name).to_dict()
    if not drift and not tags:
        return registry.configure(name, changes).to_dict()
    from chalicelib.registry import ModelConfig, merge_drift_overrides, merge_tags

    def merged(current: ModelConfig) -> dict[str, Any]:
        merges: dict[str, Any] = {}
        if drift:
            merges["drift_thresholds"] = merge_drift_overrides(current.drift_thresholds, drift)
        if tags:
            merges["tags"] = merge_tags(current.tags, tags)
        return {**changes, **merges}

    return registry.configure(name, merged).to_dict()


def _drift_changes(
    thresholds: tuple[tuple[str, str, Any], ...],
    min_samples: int | None,
    consecutive_breaches: int | None,
) -> dict[str, Any]:
    """The options as drift overrides in their stored shape."""
    drift: dict[str, Any] = {}
    for feature, metric, value in thresholds:
        if feature:
            drift.setdefault("features", {}).setdefault(feature, {})[metric] = value
        else:
            drift[metric] = value
    if min_samples is not None:
        drift["min_samples"] = min_samples
    if consecutive_breaches is not None:
        drift["consecutive_breaches"] = consecutive_breaches
    return drift


WHEN = "When to retrain (any trigger)"
DATA = "Training data"
GATE = "The gate"
ROLLOUT = "Rollout"
# Policy fields set as given; OFF unsets them.
_POLICY_FIELDS = (
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


@command(
    "policy",
    help="Show or set when a model is retrained, how a challenger is judged and rolled out.",
)
@argument("name", help="model name")
@option(
    "--every-days",
    type=OffOrNumber(),
    metavar="N|off",
    section=WHEN,
    help="when the champion is older than N days",
)
@option(
    "--on-drift/--no-on-drift",
    default=None,
    section=WHEN,
    help="when the monitor flags drift",
)
@option(
    "--accuracy-floor",
    type=OffOrNumber(),
    metavar="X|off",
    section=WHEN,
    help="when the champion's accuracy (r2 for regressors) on labelled traffic is below X",
)
@option(
    "--cooldown-hours",
    type=float,
    section=WHEN,
    help="at most one triggered retrain per N hours (24)",
)
@option(
    "--training-days",
    type=OffOrNumber(),
    metavar="N|all",
    section=DATA,
    help="files under training/<model>/ of the last N days, or all (default all)",
)
@option("--holdout", type=float, section=DATA, help="share held out to compare both models (0.2)")
@option("--seed", type=int, section=DATA, help="random seed of the holdout split (0)")
@option(
    "--trainer",
    metavar="MODULE:FUNCTION",
    section=DATA,
    help="train with this function shipped with the app instead of cloning the champion "
    "('' to unset)",
)
@option(
    "--primary-metric",
    section=GATE,
    help="roc_auc, accuracy, log_loss, precision, recall, rmse, mae, r2 "
    "(default roc_auc for binary, accuracy for multiclass, rmse for regressors)",
)
@option("--min-absolute-change", type=float, section=GATE, help="beat the champion by (0)")
@option(
    "--min-relative-change",
    type=float,
    section=GATE,
    help="beat the champion by this share (0)",
)
@option(
    "--max-regression",
    type=MetricTolerance(),
    multiple=True,
    metavar="METRIC=TOL",
    section=GATE,
    help="a secondary metric may not get worse than the champion's by more than TOL "
    "(METRIC=off removes it); repeatable",
)
@option(
    "--action",
    type=click.Choice(["register", "canary", "promote"]),
    section=ROLLOUT,
    help="after the gate passes (canary)",
)
@option("--canary-weight", type=float, section=ROLLOUT, help="canary share of traffic (0.1)")
@option("--bake-hours", type=float, section=ROLLOUT, help="canary or shadow bake time (24)")
@option(
    "--min-requests",
    type=int,
    section=ROLLOUT,
    help="requests before judging a canary (100)",
)
@option(
    "--max-error-rate",
    type=float,
    section=ROLLOUT,
    help="canary server error share that rolls back (0.01)",
)
@option(
    "--max-latency-ratio",
    type=float,
    section=ROLLOUT,
    help="how many times slower than the champion a candidate may be: a challenger's "
    "benchmark p99 before it goes to canary or champion, a canary's live p95 (1.5)",
)
@option(
    "--max-quality-drop",
    type=float,
    section=ROLLOUT,
    help="primary metric drop on labels that rolls back",
)
@option("--min-labels", type=int, section=ROLLOUT, help="labels each version needs (100)")
def policy(
    factory: CliFactory,
    name: str,
    trainer: str | None,
    max_regression: tuple[tuple[str, float | None], ...],
    **fields: Any,
) -> Any:
    registry = factory.create_registry()
    changes: dict[str, Any] = {}
    for field in _POLICY_FIELDS:
        value = fields[field]
        if value is not None:
            changes[field] = None if value is OFF else value
    if trainer is not None:
        changes["trainer"] = trainer or None
    if not changes and not max_regression:
        registry.list_versions(name)  # NotFoundError naming the model
        return registry.get_policy(name).to_dict()
    if not max_regression:
        return registry.set_policy(name, changes).to_dict()
    from chalicelib.registry import RetrainPolicy, merge_max_regression

    def merged(current: RetrainPolicy) -> dict[str, Any]:
        limits = merge_max_regression(current.max_regression, dict(max_regression))
        return {**changes, "max_regression": limits}

    return registry.set_policy(name, merged).to_dict()


COMMANDS = [configure, policy]
