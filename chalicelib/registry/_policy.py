"""Per-model retraining and rollout policy (policy.json beside the model), and its checks.

Nothing happens until someone sets a policy with `sklambda policy NAME ...`: with no trigger
the monitor never retrains, and without a rollout policy a canary is only watched.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

from chalicelib.core import InvalidInputError
from chalicelib.registry._runtime_modules import in_runtime

ACTIONS = ("register", "canary", "promote")
# Metrics the gate can compare, and which way is better.
HIGHER_IS_BETTER = {"accuracy", "roc_auc", "precision", "recall", "r2"}
LOWER_IS_BETTER = {"log_loss", "mae", "rmse"}
GATE_METRICS = HIGHER_IS_BETTER | LOWER_IS_BETTER


@dataclass(frozen=True)
class RetrainPolicy:
    """When to retrain, on what, how to judge the challenger, and how to roll it out."""

    # -- triggers (any of them) -------------------------------------------------------------
    every_days: float | None = None  # champion older than this
    on_drift: bool = False  # the monitor flagged the champion
    accuracy_floor: float | None = None  # champion's accuracy (r2 for regressors) below this
    cooldown_hours: float = 24.0  # at most one triggered retrain per this many hours
    # -- data -------------------------------------------------------------------------------
    training_days: float | None = None  # files under training/<model>/ of the last N days; all
    holdout: float = 0.2
    seed: int = 0
    trainer: str | None = None  # "module:function(frame, target, champion) -> estimator"
    # -- gate -------------------------------------------------------------------------------
    primary_metric: str | None = None  # default: roc_auc (binary), accuracy, rmse (regression)
    min_absolute_change: float = 0.0
    min_relative_change: float = 0.0
    # Secondary metrics and how much worse than the champion they may get (absolute).
    max_regression: Mapping[str, float] = field(default_factory=dict)
    # -- rollout ----------------------------------------------------------------------------
    action: str = "canary"
    canary_weight: float = 0.1
    bake_hours: float = 24.0
    min_requests: int = 100  # canary requests in the window before it can be judged
    max_error_rate: float = 0.01  # share of canary requests failing with a server error
    max_latency_ratio: float = 1.5  # benchmark p99 before rollout, canary p95 live, vs champion
    max_quality_drop: float = 0.02  # primary metric, on labelled traffic, vs the champion
    min_labels: int = 100  # labelled rows each version needs before quality is compared

    @property
    def has_trigger(self) -> bool:
        return bool(self.every_days or self.on_drift or self.accuracy_floor is not None)

    def below_accuracy_floor(self, entry: Mapping[str, Any]) -> bool | None:
        """Whether a version's quality (a monitor report entry) is under the floor.

        None when there is no floor, no labelled metric, or fewer than `min_labels` labels:
        too little evidence either way.
        """
        quality = entry.get("quality") or {}
        metrics = quality.get("metrics") or {}
        observed = metrics.get("accuracy", metrics.get("r2"))
        if self.accuracy_floor is None or observed is None:
            return None
        if quality.get("labelled", 0) < self.min_labels:
            return None
        return bool(observed < self.accuracy_floor)

    @classmethod
    def from_dict(cls, document: Mapping[str, Any]) -> RetrainPolicy:
        """A policy from its stored form; unknown keys (from newer versions) are ignored."""
        known = {f.name for f in fields(cls)}
        return cls().with_changes({k: v for k, v in document.items() if k in known})

    def to_dict(self) -> dict[str, Any]:
        document = asdict(self)
        document["max_regression"] = dict(self.max_regression)
        return document

    def with_changes(self, changes: Mapping[str, Any]) -> RetrainPolicy:
        """A copy with `changes` applied, each checked; errors say which value is wrong."""
        known = {f.name for f in fields(self)}
        unknown = sorted(set(changes) - known)
        if unknown:
            raise InvalidInputError(
                f"unknown policy setting(s): {', '.join(unknown)}; "
                f"known: {', '.join(sorted(known))}"
            )
        policy = replace(self, **changes)
        policy._check()
        return policy

    def _check(self) -> None:
        _optional_positive("every_days", self.every_days)
        _optional_positive("training_days", self.training_days)
        _share("holdout", self.holdout, low=0.05, high=0.5)
        _share("canary_weight", self.canary_weight, low=0.0, high=1.0, open_low=True)
        if self.accuracy_floor is not None:
            _share("accuracy_floor", self.accuracy_floor, low=0.0, high=1.0)
        if self.action not in ACTIONS:
            raise InvalidInputError(
                f"action must be one of {', '.join(ACTIONS)}, got {self.action!r}"
            )
        if self.primary_metric is not None and self.primary_metric not in GATE_METRICS:
            raise InvalidInputError(
                f"primary_metric must be one of {', '.join(sorted(GATE_METRICS))}, "
                f"got {self.primary_metric!r}"
            )
        for name, tolerance in self.max_regression.items():
            if name not in GATE_METRICS:
                raise InvalidInputError(
                    f"max_regression names {name!r}; use one of {', '.join(sorted(GATE_METRICS))}"
                )
            _non_negative(f"max_regression[{name}]", tolerance)
        for name in ("min_absolute_change", "min_relative_change", "bake_hours", "cooldown_hours"):
            _non_negative(name, getattr(self, name))
        _share("max_error_rate", self.max_error_rate, low=0.0, high=1.0)
        _non_negative("max_quality_drop", self.max_quality_drop)
        if not _number(self.max_latency_ratio) or self.max_latency_ratio < 1.0:
            raise InvalidInputError(
                f"max_latency_ratio must be a number of at least 1, got {self.max_latency_ratio!r}"
            )
        for name in ("min_requests", "min_labels", "seed"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise InvalidInputError(f"{name} must be a whole number ≥ 0, got {value!r}")
        if self.trainer is not None:
            _check_trainer(self.trainer)

    def primary_for(self, task: str, classes: list[Any]) -> str:
        """The metric the gate decides on for a model of this task."""
        if self.primary_metric:
            return self.primary_metric
        if task == "regression":
            return "rmse"
        return "roc_auc" if len(classes) == 2 else "accuracy"


def better(metric: str, challenger: float, champion: float) -> float:
    """How much better the challenger is (positive) on `metric`, whichever way it points."""
    return champion - challenger if metric in LOWER_IS_BETTER else challenger - champion


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _optional_positive(name: str, value: Any) -> None:
    if value is not None and (not _number(value) or value <= 0):
        raise InvalidInputError(f"{name} must be a positive number or unset, got {value!r}")


def _non_negative(name: str, value: Any) -> None:
    if not _number(value) or value < 0:
        raise InvalidInputError(f"{name} must be a number ≥ 0, got {value!r}")


def _share(name: str, value: Any, *, low: float, high: float, open_low: bool = False) -> None:
    too_low = value <= low if open_low else value < low
    if not _number(value) or too_low or value > high:
        bound = "above" if open_low else "at least"
        raise InvalidInputError(
            f"{name} must be {bound} {low:g} and at most {high:g}, got {value!r}"
        )


def merge_max_regression(
    current: Mapping[str, float], changes: Mapping[str, float | None]
) -> dict[str, float]:
    """`current` secondary-metric tolerances with `changes` applied; None removes a metric."""
    merged = dict(current)
    for metric, tolerance in changes.items():
        if tolerance is None:
            merged.pop(metric, None)
        else:
            merged[metric] = tolerance
    return merged


def _check_trainer(trainer: str) -> None:
    # policy.json is not signed: whoever can write it must not be able to make retraining call
    # an arbitrary function of the runtime (os, subprocess, pickle, ...). A trainer comes from
    # the author's own code: the champion's signed bundle, or modules shipped with the app.
    module, _, function = trainer.partition(":")
    if not module or not function:
        raise InvalidInputError(f"trainer must look like package.module:function, got {trainer!r}")
    if in_runtime(module):
        raise InvalidInputError(
            f"trainer {trainer!r} names a module of the runtime; a trainer must come from your "
            "own code: a module registered with the model (--code) or shipped with the app"
        )
