"""`sklambda status`: what is live, at which weights, how it is doing, and what was decided."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sklambda.output import render

if TYPE_CHECKING:
    from chalicelib.monitoring import Monitor
    from chalicelib.registry import Registry


def model_status(
    registry: Registry, monitor: Monitor, name: str, *, decisions: int = 10
) -> dict[str, Any]:
    """Everything an operator asks first about one model, from the registry and reports."""
    registry.list_versions(name)  # NotFoundError naming the model
    aliases = registry.get_aliases(name).get("aliases", {})
    report = monitor.latest_report(name, missing_ok=True)
    seen = {e["version"]: e for e in (report or {}).get("versions", [])}
    live = []
    for alias in ("champion", "canary", "shadow"):
        entry = aliases.get(alias)
        if entry is None:
            continue
        version = int(entry["version"])
        metadata = registry.get_metadata(name, version)
        watched = seen.get(version, {})
        live.append(
            {
                "alias": alias,
                "version": version,
                "weight": entry.get("weight"),
                "since": entry.get("updated_at"),
                "parent": metadata.get("parent_version"),
                "origin": (metadata.get("tags") or {}).get("origin", "registered"),
                "monitor": watched.get("status"),
                "accuracy": ((watched.get("quality") or {}).get("metrics") or {}).get("accuracy"),
                "error_rate": (watched.get("serving") or {}).get("error_rate"),
            }
        )
    policy = registry.get_policy(name)
    retrain = registry.retrain_state(name)
    return {
        "model": name,
        "live": live,
        "last_report": (report or {}).get("run", {}).get("at"),
        "policy": {
            "set": registry.policy_is_set(name),
            "retrain_when": _triggers(policy),
            "after_gate": policy.action,
            "canary_weight": policy.canary_weight,
            "bake_hours": policy.bake_hours,
        },
        "retrain": {
            "state": retrain.get("state", "never run"),
            "started_at": retrain.get("started_at"),
            "finished_at": retrain.get("finished_at"),
            "outcome": (retrain.get("last_result") or {}).get("outcome"),
        },
        "decisions": [
            {
                "at": d.get("at"),
                "action": d.get("action"),
                "version": d.get("version"),
                "outcome": d.get("outcome"),
                "reason": d.get("reason"),
            }
            for d in registry.decisions(name)[-decisions:]
        ],
    }


def status_text(status: dict[str, Any]) -> str:
    """The status as a few titled tables, for --output table."""
    policy, retrain = status["policy"], status["retrain"]
    parts = [
        f"{status['model']}: last monitor report {status['last_report'] or 'none yet'}",
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


def _triggers(policy: Any) -> str:
    found = []
    if policy.every_days:
        found.append(f"every {policy.every_days:g} days")
    if policy.on_drift:
        found.append("drift is flagged")
    if policy.accuracy_floor is not None:
        found.append(f"accuracy < {policy.accuracy_floor:g}")
    return " or ".join(found) or "asked (sklambda retrain)"
