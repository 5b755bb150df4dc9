"""What the monitor does about a rollout after each run: judge a live canary or shadow against
the champion (roll back on a breach, move it on after its bake), and ask the retraining
function for a retrain when the policy's triggers fire (`_requests.py`: the retrain runs in
its own function, with its own memory and 15 minutes). Decisions are `gating`'s; this module
carries them out, each alias move only from the aliases revision the judgment was made on.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from chalicelib.core import ConflictError, logger, parse_time
from chalicelib.registry import Registry, RetrainPolicy
from chalicelib.rollout._benchmarks import benchmark_gate
from chalicelib.rollout._gating import RolloutDecision, VersionStats, judge_rollout

if TYPE_CHECKING:
    from chalicelib.rollout._requests import RetrainRequests
    from chalicelib.rollout._retraining import Retrainer

CANDIDATE_ROLES = ("canary", "shadow")


class Rollout:
    """Carries out rollout and retraining decisions for the monitor."""

    def __init__(
        self,
        registry: Registry,
        retrainer: Retrainer | None = None,
        requests: RetrainRequests | None = None,
    ) -> None:
        """`retrainer` says when a retrain is due; `requests` asks the retraining function.
        Without both, the monitor never retrains."""
        self.registry = registry
        self.retrainer = retrainer
        self.requests = requests

    def decide(
        self,
        name: str,
        aliases: Mapping[str, Any],
        revision: int,
        report: Mapping[str, Any],
        *,
        task: str,
        classes: list[Any],
        at: datetime,
        event_id: str,
    ) -> list[dict[str, Any]]:
        """Judge each live canary or shadow, and ask for a retrain when the policy says so.

        `aliases` and `revision` are what the run started from; `report` is its report;
        `event_id` the run's, carried by a retrain request. Until a policy is set, decisions
        are reported and not carried out.
        """
        acting = self.registry.policy_is_set(name)
        policy = self.registry.get_policy(name)
        entries = {e["version"]: e for e in report["versions"]}
        champion = entries[int(aliases["champion"]["version"])]
        primary = policy.primary_for(task, classes)
        decisions: list[dict[str, Any]] = []
        for role in CANDIDATE_ROLES:
            alias = aliases.get(role)
            if alias is None:
                continue
            candidate = entries[int(alias["version"])]
            since = parse_time(alias.get("updated_at")) or at
            decision = judge_rollout(
                policy,
                role=role,
                candidate=version_stats(candidate, primary),
                champion=version_stats(champion, primary),
                age_hours=(at - since).total_seconds() / 3600.0,
                primary=primary,
            )
            entry: dict[str, Any] = {
                "role": role,
                "version": candidate["version"],
                "action": decision.action,
                "reasons": decision.reasons,
            }
            if decision.action != "wait":
                if acting:
                    entry.update(
                        self._apply(
                            name,
                            role,
                            candidate["version"],
                            decision,
                            policy,
                            revision,
                            champion=int(champion["version"]),
                        )
                    )
                else:
                    entry["applied"] = False
                    entry["note"] = f"no policy set: watched only (sklambda policy {name} ...)"
            decisions.append(entry)
        rolling_out = any(role in aliases for role in CANDIDATE_ROLES)
        if self.retrainer is not None and self.requests is not None and acting and not rolling_out:
            why = self.retrainer.due(name, policy, champion)
            if why:
                decisions.append(self._request_retrain(name, why, event_id))
        return decisions

    def _request_retrain(self, name: str, why: str, event_id: str) -> dict[str, Any]:
        """Send the request; the retraining function records how the retrain went."""
        assert self.requests is not None
        try:
            sent = self.requests.send(name, trigger="monitor", reason=why, event_id=event_id)
        except Exception as exc:  # noqa: BLE001 - the report is written whatever the queue says
            logger.exception("retrain request not sent", extra={"model": name})
            error = f"{type(exc).__name__}: {exc}"
            return {"action": "retrain", "outcome": "failed", "reason": why, "error": error}
        self.registry.record_decision(
            name,
            {
                "action": "retrain-requested",
                "trigger": "monitor",
                "reason": why,
                "request": event_id,
                "message_id": sent["message_id"],
            },
        )
        logger.info("retrain requested", extra={"model": name, "message_id": sent["message_id"]})
        return {
            "action": "retrain",
            "outcome": "retraining requested",
            "reason": why,
            "message_id": sent["message_id"],
            "event_id": event_id,
        }

    def _apply(
        self,
        name: str,
        role: str,
        version: int,
        decision: RolloutDecision,
        policy: RetrainPolicy,
        revision: int,
        *,
        champion: int,
    ) -> dict[str, Any]:
        """Roll back, or move the candidate on: canary → champion, shadow → canary."""
        why = "; ".join(decision.reasons)
        if decision.action == "promote":
            # The monitor keeps no rows of a version and may not write its files: it judges
            # the benchmark stored against this champion (by retraining or `sklambda
            # benchmark`), and without one the live guardrails are the measure.
            fast_enough, measured, _ = benchmark_gate(
                self.registry, policy, name, version, champion, None, rows_from=""
            )
            if not fast_enough:
                return {"applied": False, "note": f"not moved on: {measured}"}
        try:
            if decision.action == "rollback":
                reason = f"{role} rolled back: {why}"
                self.registry.remove_alias(
                    name, alias=role, reason=reason, expected_revision=revision
                )
                outcome = "rolled back"
            elif role == "canary":
                reason = f"canary promoted to champion: {why}"
                moved = self.registry.promote(
                    name, version, reason=reason, expected_revision=revision
                )
                self.registry.remove_alias(
                    name, alias="canary", reason=reason, expected_revision=moved["revision"]
                )
                outcome = "promoted to champion"
            elif "canary" in self.registry.get_aliases(name).get("aliases", {}):
                return {"applied": False, "note": "a canary is live; the shadow waits for it"}
            else:
                reason = f"shadow moved to canary at {policy.canary_weight:.0%}: {why}"
                moved = self.registry.promote(
                    name,
                    version,
                    alias="canary",
                    weight=policy.canary_weight,
                    reason=reason,
                    expected_revision=revision,
                )
                self.registry.remove_alias(
                    name, alias="shadow", reason=reason, expected_revision=moved["revision"]
                )
                outcome = f"canary at {policy.canary_weight:.0%}"
        except ConflictError as exc:
            return {"applied": False, "note": exc.message}
        self.registry.record_decision(
            name,
            {
                "action": f"{role}-{decision.action}",
                "version": version,
                "outcome": outcome,
                "reason": reason,
            },
        )
        logger.info("rollout decision", extra={"model": name, "role": role, "outcome": outcome})
        return {"applied": True, "outcome": outcome}


def version_stats(entry: Mapping[str, Any], primary: str) -> VersionStats:
    """A version's guardrail inputs from its monitor report entry."""
    serving = entry.get("serving") or {}
    measured = entry.get("quality") or {}
    return VersionStats(
        version=int(entry["version"]),
        requests=int(serving.get("requests") or 0),
        errors=int(serving.get("errors") or 0),
        latency_p95_ms=serving.get("latency_p95_ms"),
        primary_value=(measured.get("metrics") or {}).get(primary),
        labelled=int(measured.get("labelled") or 0),
    )
