"""One model's status for an operator: what is live, at which weights, how it is doing, what
the policy says and what was decided. Read from the registry and the latest monitor report.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from chalicelib.monitoring._monitor import Monitor
    from chalicelib.registry import Registry, RetrainPolicy

_LIVE_ALIASES = ("champion", "canary", "shadow")


def model_status(
    registry: Registry, monitor: Monitor, name: str, *, decisions: int = 10
) -> dict[str, Any]:
    """Everything an operator asks first about one model; the last `decisions` decisions."""
    from chalicelib.registry import model_retirement, retired_versions, version_retirement

    registry.list_versions(name)  # NotFoundError naming the model
    document = registry.get_aliases(name)
    aliases = document.get("aliases", {})
    report = monitor.latest_report(name, missing_ok=True)
    seen = {e["version"]: e for e in (report or {}).get("versions", [])}
    live = []
    for alias in _LIVE_ALIASES:
        entry = aliases.get(alias)
        if entry is None:
            continue
        version = int(entry["version"])
        metadata = registry.get_metadata(name, version)
        signature = registry.signature_status(name, version)
        watched = seen.get(version, {})
        live.append(
            {
                "alias": alias,
                "version": version,
                "weight": entry.get("weight"),
                "since": entry.get("updated_at"),
                "parent": metadata.get("parent_version"),
                "origin": (metadata.get("tags") or {}).get("origin", "registered"),
                # A live version that does not verify serves nothing: say so, and why.
                "signature": signature["state"]
                if signature["state"] == "verified"
                else f"refused: {signature['reason']}",
                "monitor": watched.get("status"),
                "accuracy": ((watched.get("quality") or {}).get("metrics") or {}).get("accuracy"),
                "error_rate": (watched.get("serving") or {}).get("error_rate"),
                "benchmark": benchmark_summary(registry.get_benchmark(name, version)),
            }
        )
    policy = registry.get_policy(name)
    retrain = registry.retrain_state(name)
    return {
        "model": name,
        # A retired model serves nothing: its champion stays recorded for `sklambda restore`.
        "retired": {
            "model": model_retirement(document),
            "versions": {
                str(v): version_retirement(document, v) for v in retired_versions(document)
            },
        },
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


def _triggers(policy: RetrainPolicy) -> str:
    found = []
    if policy.every_days:
        found.append(f"every {policy.every_days:g} days")
    if policy.on_drift:
        found.append("drift is flagged")
    if policy.accuracy_floor is not None:
        found.append(f"accuracy < {policy.accuracy_floor:g}")
    return " or ".join(found) or "asked (sklambda retrain)"


def benchmark_summary(figures: dict[str, Any] | None) -> str | None:
    """A version's latest benchmark in one cell: p99 and throughput against its baseline."""
    if not figures:
        return None
    ratios = figures.get("ratios") or {}
    return (
        f"p99 {figures['p99_ms']:.2f} ms ({ratios.get('p99_ms') or 0:.2f}× "
        f"v{figures['against_version']}), {figures['records_per_s']:,.0f} rec/s "
        f"({ratios.get('records_per_s') or 0:.2f}×)"
    )
