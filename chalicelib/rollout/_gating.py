"""Decisions of a safe rollout, as pure functions: the validation gate a retrained
challenger must pass, and the guardrails a canary or shadow is judged by while it bakes."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from chalicelib.registry import RetrainPolicy, better


@dataclass(frozen=True)
class Verdict:
    """The gate's answer, with every reason, for the new version's metadata and history."""

    passed: bool
    primary_metric: str
    challenger: float | None
    champion: float | None
    reasons: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "primary_metric": self.primary_metric,
            "challenger": self.challenger,
            "champion": self.champion,
            "reasons": list(self.reasons),
        }

    def summary(self) -> str:
        return "; ".join(self.reasons)


def gate(
    policy: RetrainPolicy,
    primary: str,
    challenger: Mapping[str, float],
    champion: Mapping[str, float],
) -> Verdict:
    """Whether the challenger beats the champion on the same holdout, as the policy asks."""
    ours, theirs = challenger.get(primary), champion.get(primary)
    if ours is None or theirs is None:
        return Verdict(
            False,
            primary,
            ours,
            theirs,
            [f"{primary} could not be computed on the holdout for both models"],
        )
    change = better(primary, ours, theirs)
    relative = change / abs(theirs) if theirs else (float("inf") if change > 0 else 0.0)
    reasons = []
    passed = True
    compared = f"{primary} {ours:.4f} vs champion {theirs:.4f} ({change:+.4f}, {relative:+.1%})"
    if change <= 0:
        passed = False
        reasons.append(f"not better: {compared}")
    elif change < policy.min_absolute_change:
        passed = False
        reasons.append(f"{compared}: under the required {policy.min_absolute_change:+.4f}")
    elif relative < policy.min_relative_change:
        passed = False
        reasons.append(f"{compared}: under the required {policy.min_relative_change:+.1%}")
    else:
        reasons.append(f"better: {compared}")
    for metric, tolerance in sorted(policy.max_regression.items()):
        if metric not in challenger or metric not in champion:
            continue
        loss = -better(metric, challenger[metric], champion[metric])
        if loss > tolerance:
            passed = False
            reasons.append(
                f"{metric} regressed by {loss:.4f} ({challenger[metric]:.4f} vs "
                f"{champion[metric]:.4f}), over the tolerance of {tolerance:.4f}"
            )
    return Verdict(passed, primary, ours, theirs, reasons)


# Under this many milliseconds of difference a p99 ratio is the machine's noise, not the
# model: 0.02 ms against 0.05 ms is 2.5x, and a timer's jitter.
BENCHMARK_NOISE_MS = 0.1


def judge_benchmark(policy: RetrainPolicy, figures: Mapping[str, Any]) -> tuple[bool, str]:
    """(passed, reason) of a candidate's benchmark against the champion's (stored form):
    its single-record p99 latency may be at most `max_latency_ratio` times the champion's."""
    ours, theirs = float(figures["p99_ms"]), float(figures["baseline"]["p99_ms"])
    limit = policy.max_latency_ratio
    # The ratio as measured (the figures' own, from unrounded times), so the reason, the
    # report and `describe` all show the same number.
    stored = (figures.get("ratios") or {}).get("p99_ms")
    ratio = float(stored) if stored is not None else ours / theirs if theirs else float("inf")
    measured = (
        f"benchmark p99 latency {ours:.2f} ms vs {theirs:.2f} ms for the champion "
        f"(version {figures['against_version']}): {ratio:.2f}×"
    )
    if ratio <= limit:
        return True, f"{measured}, within the limit of {limit:g}×"
    if ours - theirs < BENCHMARK_NOISE_MS:
        return True, (
            f"{measured}, over {limit:g}× but {ours - theirs:.3f} ms slower: under the "
            f"{BENCHMARK_NOISE_MS:g} ms that a timer's noise makes"
        )
    return False, f"{measured}, over the limit of {limit:g}×"


@dataclass(frozen=True)
class VersionStats:
    """What the monitor saw of one version in its window."""

    version: int
    requests: int = 0
    errors: int = 0
    latency_p95_ms: float | None = None
    primary_value: float | None = None
    labelled: int = 0

    @property
    def attempts(self) -> int:
        return self.requests + self.errors

    @property
    def error_rate(self) -> float:
        return self.errors / self.attempts if self.attempts else 0.0


@dataclass(frozen=True)
class RolloutDecision:
    """What to do with a canary or shadow now: wait, roll it back, or move it forward."""

    action: str  # "wait" | "rollback" | "promote"
    reasons: list[str]


def judge_rollout(
    policy: RetrainPolicy,
    *,
    role: str,
    candidate: VersionStats,
    champion: VersionStats,
    age_hours: float,
    primary: str,
) -> RolloutDecision:
    """Breaches roll back at once; otherwise the candidate moves on after the bake period."""
    if candidate.attempts < policy.min_requests:
        return RolloutDecision(
            "wait",
            [f"{candidate.attempts} of the {policy.min_requests} requests needed to judge it"],
        )
    breaches = []
    if candidate.error_rate > policy.max_error_rate:
        breaches.append(
            f"error rate {candidate.error_rate:.1%} ({candidate.errors} of {candidate.attempts} "
            f"requests) over the limit of {policy.max_error_rate:.1%}"
        )
    if (
        role == "canary"  # a shadow's latency is its own scoring only: not comparable
        and candidate.latency_p95_ms is not None
        and champion.latency_p95_ms
        and candidate.latency_p95_ms > policy.max_latency_ratio * champion.latency_p95_ms
    ):
        breaches.append(
            f"p95 latency {candidate.latency_p95_ms:.1f} ms is over "
            f"{policy.max_latency_ratio:g}× the champion's {champion.latency_p95_ms:.1f} ms"
        )
    if (
        candidate.labelled >= policy.min_labels
        and champion.labelled >= policy.min_labels
        and candidate.primary_value is not None
        and champion.primary_value is not None
    ):
        change = better(primary, candidate.primary_value, champion.primary_value)
        if change < -policy.max_quality_drop:
            breaches.append(
                f"{primary} {candidate.primary_value:.4f} vs champion "
                f"{champion.primary_value:.4f} on labelled traffic: worse by {-change:.4f}, "
                f"over the tolerance of {policy.max_quality_drop:.4f}"
            )
    if breaches:
        return RolloutDecision("rollback", breaches)
    if age_hours < policy.bake_hours:
        return RolloutDecision(
            "wait", [f"baking: {age_hours:.1f} of {policy.bake_hours:g} hours, no breach"]
        )
    summary = (
        f"baked {age_hours:.1f} h with no breach: {candidate.attempts} requests, error rate "
        f"{candidate.error_rate:.1%}"
    )
    if candidate.latency_p95_ms is not None and role == "canary":
        summary += f", p95 {candidate.latency_p95_ms:.1f} ms"
    if candidate.primary_value is not None and candidate.labelled:
        summary += f", {primary} {candidate.primary_value:.4f} on {candidate.labelled} labels"
    return RolloutDecision("promote", [summary])
