"""Judging drift: the thresholds a model's features are held to, and the verdict per feature.

Default thresholds (`DriftThresholds`):

- psi = 0.2: the usual "significant shift" mark for the population stability index.
- js = 0.2 (Jensen–Shannon distance, base 2, in [0, 1]) and wasserstein = 0.5 (W1 in reference
  standard deviations): what a normal feature shifted by about half a standard deviation
  scores, the same shift that gives PSI about 0.2–0.25 over decile bins. The three metrics
  therefore flag roughly the same amount of drift; each catches shapes the others miss
  (PSI and JS: missing values and categories; Wasserstein: a change of scale or far outliers).
- min_samples = 300: below that, sampling noise alone moves PSI by about (bins − 1) / n, and
  a verdict would be noise. With 300 values from the training distribution PSI stays under
  0.2 even with the most bins (21, for categories).
- consecutive_breaches = 3: one bad window (a holiday, a batch of odd traffic) is a breach;
  three in a row is drift.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from chalicelib.core import InvalidInputError
from chalicelib.stats._drift import METRICS


def judge(
    measured: Mapping[str, Any],
    limits: Mapping[str, float | None],
    *,
    min_samples: int,
    consecutive_needed: int,
    previous_consecutive: int,
) -> dict[str, Any]:
    """`measured` with breached metrics, the run of consecutive breaches and the state."""
    if measured["samples"] < min_samples:
        # Too little traffic says nothing either way: keep the run as it was.
        breached: list[str] = []
        consecutive = previous_consecutive
        state = "not_enough_data"
    else:
        breached = [
            metric
            for metric in METRICS
            if limits.get(metric) is not None
            and measured.get(metric) is not None
            and measured[metric] >= limits[metric]
        ]
        consecutive = previous_consecutive + 1 if breached else 0
        if not breached:
            state = "ok"
        elif consecutive >= consecutive_needed:
            state = "drifted"
        else:
            state = "breach"
    verdict = {"breached": breached, "consecutive": consecutive, "state": state}
    # Put the verdict right after the metrics, so the JSON reads in order.
    judged: dict[str, Any] = {}
    for key, value in measured.items():
        judged[key] = value
        if key == "wasserstein":
            judged.update(verdict)
    judged.update(verdict)
    return judged


_SETTINGS = ("psi", "js", "wasserstein", "min_samples", "consecutive_breaches", "features")


@dataclass(frozen=True)
class DriftThresholds:
    """When a feature counts as drifted; see the module docstring for the defaults."""

    psi: float | None = 0.2
    js: float | None = 0.2
    wasserstein: float | None = 0.5
    min_samples: int = 300
    consecutive_breaches: int = 3
    # Per-feature overrides of psi/js/wasserstein; None turns that metric off for the feature.
    features: Mapping[str, Mapping[str, float | None]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for metric in METRICS:
            _check_limit(metric, getattr(self, metric))
        _check_count("min_samples", self.min_samples)
        _check_count("consecutive_breaches", self.consecutive_breaches)
        if self.features is None:  # "no overrides", as JSON may spell it
            object.__setattr__(self, "features", {})
        if not isinstance(self.features, Mapping):
            raise InvalidInputError(
                'features must map feature names to overrides, e.g. {"age": {"psi": 0.3}}'
            )
        for name, overrides in self.features.items():
            if not isinstance(overrides, Mapping):
                raise InvalidInputError(
                    f'features.{name} must map metrics to thresholds, e.g. {{"psi": 0.3}}'
                )
            for metric, limit in overrides.items():
                if metric not in METRICS:
                    raise InvalidInputError(
                        f"features.{name}.{metric}: a feature can only override "
                        f"{', '.join(METRICS)}"
                    )
                _check_limit(f"features.{name}.{metric}", limit)
        # Copy, so a caller's later change to its dicts cannot alter a frozen instance.
        copied = {str(n): dict(o) for n, o in self.features.items()}
        object.__setattr__(self, "features", copied)

    def for_feature(self, name: str) -> dict[str, float | None]:
        """The psi/js/wasserstein limits of one feature, its overrides applied."""
        limits: dict[str, float | None] = {m: getattr(self, m) for m in METRICS}
        limits.update(self.features.get(name, {}))
        return limits

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready settings (the report's "thresholds")."""
        return {
            "psi": self.psi,
            "js": self.js,
            "wasserstein": self.wasserstein,
            "min_samples": self.min_samples,
            "consecutive_breaches": self.consecutive_breaches,
            "features": {n: dict(o) for n, o in self.features.items()},
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DriftThresholds:
        """Settings from `to_dict()` output; unknown keys are ignored, values validated."""
        if not isinstance(data, Mapping):
            raise InvalidInputError("drift thresholds must be a JSON object of settings")
        known = {k: v for k, v in data.items() if k in _SETTINGS}
        features = known.get("features")
        if isinstance(features, Mapping):
            # A feature mapped to None (as with_changes accepts it) has no overrides.
            known["features"] = {
                n: {m: v for m, v in o.items() if m in METRICS} if isinstance(o, Mapping) else o
                for n, o in features.items()
                if o is not None
            }
        return cls(**known)

    def with_changes(self, changes: Mapping[str, Any]) -> DriftThresholds:
        """A copy with `changes` applied, validated.

        Top-level settings are replaced. Feature overrides merge per feature: {"age":
        {"psi": 0.3}} changes only age's PSI limit (None turns it off); {"age": None} drops
        all of age's overrides.
        """
        unknown = sorted(set(changes) - set(_SETTINGS))
        if unknown:
            raise InvalidInputError(
                f"unknown threshold setting(s) {', '.join(map(repr, unknown))}; "
                f"the settings are {', '.join(_SETTINGS)}"
            )
        settings = self.to_dict()
        for key, value in changes.items():
            if key != "features":
                settings[key] = value
                continue
            if value is None:  # drop every override
                settings["features"] = {}
                continue
            if not isinstance(value, Mapping):
                raise InvalidInputError(
                    'features must map feature names to overrides, e.g. {"age": {"psi": 0.3}}'
                )
            for name, overrides in value.items():
                if overrides is None:
                    settings["features"].pop(name, None)
                elif isinstance(overrides, Mapping):
                    settings["features"][name] = {
                        **settings["features"].get(name, {}),
                        **overrides,
                    }
                else:
                    settings["features"][name] = overrides  # rejected by validation
        return DriftThresholds(**settings)


def _check_limit(name: str, value: Any) -> None:
    if value is None:
        return
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or value <= 0
    ):
        raise InvalidInputError(
            f"threshold {name} must be a positive number, or null to turn it off; got {value!r}"
        )


def _check_count(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidInputError(f"{name} must be a whole number of at least 1; got {value!r}")
