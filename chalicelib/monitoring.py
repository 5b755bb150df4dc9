"""The scheduled monitor: per model, drift, accuracy and traffic of the recent window.

One run (a scheduled event, or `sklambda monitor NAME`):

1. For each model with a champion, claim the run (`reports/<model>/_runs/<event id>.json`,
   If-None-Match), so a duplicated event does nothing; read the live versions (champion,
   canary, shadow) with their reference profiles, and the ground truth received in the
   window.
2. Read the capture hours of the window once for all models, plus the hours in which the
   labelled predictions were made (their UUIDv7 ids say when), and the first rows of the
   batch files scored in the window.
3. Per model: measure drift on the reference bins, judge it against the thresholds and the
   previous report (N breaches in a row before a feature counts as drifted), compute quality
   from the joined labels, write the report (JSON and HTML), point `latest.json` at it, and
   publish the metrics.

A model that fails is logged and counted (`MonitorFailures`); the others carry on.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from chalicelib.drift import DriftThresholds, judge
from chalicelib.errors import (
    ConflictError,
    InvalidInputError,
    NotFoundError,
    RetrainFailed,
    SklambdaError,
)
from chalicelib.gating import RolloutDecision, VersionStats, judge_rollout
from chalicelib.monitor_metrics import failure_datapoint, report_datapoints
from chalicelib.monitor_sources import Feedback, MonitorSources, hours_between
from chalicelib.monitor_window import VersionWindow, traffic_summary
from chalicelib.observability import logger
from chalicelib.policy import RetrainPolicy
from chalicelib.prediction_ids import predicted_at
from chalicelib.quality import quality
from chalicelib.registry import Registry
from chalicelib.s3store import ObjectMissing, ObjectStore, PreconditionFailed

REPORT_FORMAT = 1
TREND_RUNS = 48  # runs of history carried in each report (two days at the hourly default)
CLAIM_LEASE = timedelta(minutes=20)  # longer than the monitor's Lambda timeout (15 min)
_EVENT_ID = re.compile(r"^[A-Za-z0-9._-]{1,128}$")

MetricsSink = Callable[[list[dict[str, Any]]], None]

if TYPE_CHECKING:
    from chalicelib.retraining import Retrainer


@dataclass(frozen=True)
class MonitorRun:
    """One run: which event asked for it, and the end of the window it looks at."""

    event_id: str
    at: datetime
    trigger: str = "schedule"
    window_hours: int = 24

    @property
    def start(self) -> datetime:
        return self.at - timedelta(hours=self.window_hours)

    @classmethod
    def on_demand(cls, window_hours: int) -> MonitorRun:
        """A run asked for from the command line, ending now."""
        return cls(uuid.uuid4().hex, _utc_now(), "cli", window_hours)

    @classmethod
    def from_schedule(cls, event_id: str, time: str, window_hours: int) -> MonitorRun:
        """A run for an EventBridge scheduled event (`id`, `time`)."""
        try:
            at = datetime.fromisoformat(time.replace("Z", "+00:00")).astimezone(UTC)
        except (AttributeError, ValueError):
            at = _utc_now()
        return cls(event_id or uuid.uuid4().hex, at, "schedule", window_hours)


@dataclass
class _Job:
    """One model's part of a run."""

    name: str
    aliases: dict[str, Any]
    thresholds: DriftThresholds
    windows: dict[int, VersionWindow]
    feedback: Feedback
    claim_etag: str
    # (prediction id, version) → (actual, prediction, probabilities)
    joined: dict[tuple[str, int], tuple[Any, Any, Any]] = field(default_factory=dict)

    def roles(self, version: int) -> list[str]:
        return sorted(a for a, e in self.aliases.items() if e.get("version") == version)


class Monitor:
    """Runs the monitor over the models of one registry and data bucket."""

    def __init__(
        self,
        registry: Registry,
        data: ObjectStore,
        sources: MonitorSources,
        *,
        reports_prefix: str,
        publish_metrics: MetricsSink,
        label_lookback_days: int = 14,
        render_html: Callable[[dict[str, Any]], str] | None = None,
        retrainer: Retrainer | None = None,
    ) -> None:
        self.retrainer = retrainer
        self.registry = registry
        self.data = data
        self.sources = sources
        self.reports_prefix = reports_prefix
        self.publish_metrics = publish_metrics
        self.label_lookback = timedelta(days=label_lookback_days)
        if render_html is None:
            from chalicelib.report_html import render_report_html

            render_html = render_report_html
        self.render_html = render_html

    # -- entry points ---------------------------------------------------------------------
    def monitored_models(self) -> list[str]:
        """Every model with a champion (the ones serving traffic)."""
        names = []
        for name in self.registry.list_models():
            try:
                if "champion" in self.registry.get_aliases(name).get("aliases", {}):
                    names.append(name)
            except NotFoundError:
                continue
        return names

    def run_all(self, run: MonitorRun) -> dict[str, Any]:
        """Monitor every model with a champion."""
        return self.run(self.monitored_models(), run)

    def run(self, names: Iterable[str], run: MonitorRun) -> dict[str, Any]:
        """Monitor these models; a summary of what happened to each."""
        outcome: dict[str, Any] = {}
        jobs: dict[str, _Job] = {}
        for name in names:
            try:
                job = self._prepare(name, run)
            except Exception as exc:  # noqa: BLE001 - one model must not stop the others
                outcome[name] = self._failed(name, run, exc)
                continue
            if job is None:
                outcome[name] = {"status": "skipped", "reason": "already run for this event"}
            else:
                jobs[name] = job
        if jobs:
            try:
                self._scan_capture(jobs, run)
            except Exception as exc:  # noqa: BLE001 - capture unreadable: every model fails
                for name, job in jobs.items():
                    outcome[name] = self._failed(name, run, exc, job)
                jobs = {}
        for name, job in jobs.items():
            try:
                outcome[name] = self._finish(job, run)
            except Exception as exc:  # noqa: BLE001 - one model must not stop the others
                outcome[name] = self._failed(name, run, exc, job)
        failures = sum(1 for o in outcome.values() if o["status"] == "failed")
        return {
            "event_id": run.event_id,
            "at": _iso(run.at),
            "models": outcome,
            "failures": failures,
        }

    # -- step 1: claim and prepare --------------------------------------------------------
    def check_monitored(self, name: str) -> dict[str, Any]:
        """The model's aliases; NotFoundError or InvalidInputError saying what to fix."""
        self.registry.list_versions(name)  # NotFoundError naming the model
        aliases: dict[str, Any] = self.registry.get_aliases(name).get("aliases", {})
        if "champion" not in aliases:
            raise InvalidInputError(
                f"model {name!r} has no champion, so it serves nothing to monitor; "
                f"promote a version first: sklambda promote {name} VERSION"
            )
        return aliases

    def _prepare(self, name: str, run: MonitorRun) -> _Job | None:
        aliases = self.check_monitored(name)
        thresholds = DriftThresholds.from_dict(self.registry.get_config(name).drift_thresholds)
        etag = self._claim(name, run)
        if etag is None:
            return None
        try:
            windows = {}
            for version in sorted({int(e["version"]) for e in aliases.values()}):
                metadata = self.registry.get_metadata(name, version)
                profile = self.registry.get_profile(name, version)
                windows[version] = VersionWindow(version, metadata, profile)
            feedback = self.sources.feedback(name, run.start, run.at)
        except Exception:
            self._release(name, run)
            raise
        return _Job(name, aliases, thresholds, windows, feedback, etag)

    def _claim_key(self, name: str, run: MonitorRun) -> str:
        event = run.event_id
        if not _EVENT_ID.match(event):
            event = hashlib.sha256(event.encode()).hexdigest()
        return f"{self.reports_prefix}{name}/_runs/{event}.json"

    def _claim(self, name: str, run: MonitorRun) -> str | None:
        """The claim's ETag, or None when this event was (or is being) handled already."""
        key = self._claim_key(name, run)
        claim = {"event_id": run.event_id, "status": "running", "started_at": _iso(_utc_now())}
        try:
            return self.data.put_json(key, claim, if_none_match=True)
        except PreconditionFailed:
            pass
        try:
            existing, etag = self.data.get_json(key)
        except ObjectMissing:  # released between our write and read: try once more
            return self.data.put_json(key, claim, if_none_match=True)
        started = _parse_time(existing.get("started_at"))
        fresh = started is not None and _utc_now() - started < CLAIM_LEASE
        if existing.get("status") == "done" or fresh:
            logger.info("monitor run already handled", extra={"model": name, "claim": existing})
            return None
        try:  # a run that died without finishing: take it over
            return self.data.put_json(key, claim, if_match=etag)
        except PreconditionFailed:
            return None

    def _release(self, name: str, run: MonitorRun) -> None:
        """Drop a claim after a failure, so a retry of the same event runs again."""
        try:
            self.data.delete(self._claim_key(name, run))
        except Exception:  # noqa: BLE001 - the lease expires anyway
            logger.warning("could not release the monitor claim", extra={"model": name})

    # -- step 2: read the window ----------------------------------------------------------
    def _scan_capture(self, jobs: Mapping[str, _Job], run: MonitorRun) -> None:
        start, end = _iso(run.start), _iso(run.at)
        hours = set(hours_between(run.start, run.at))
        oldest = run.at - self.label_lookback
        for job in jobs.values():
            for pid in job.feedback.actuals:
                made = predicted_at(pid)
                if made is not None and oldest <= made <= run.at:
                    hour = made.replace(minute=0, second=0, microsecond=0)
                    # Firehose buffers for up to 15 minutes: a record can land an hour later.
                    hours.update((hour, hour + timedelta(hours=1)))
        for hour in sorted(hours):
            for record in self.sources.capture_records(hour):
                owner = jobs.get(str(record.get("model")))
                if owner is None:
                    continue
                version = record.get("version")
                window = owner.windows.get(version) if isinstance(version, int) else None
                if window is None:
                    continue
                captured = str(record.get("captured_at", ""))
                if start <= captured < end:
                    window.add_capture(record)
                labelled = record.get("prediction_id")
                if isinstance(labelled, str) and labelled in owner.feedback.actuals:
                    owner.joined[(labelled, window.version)] = (
                        owner.feedback.actuals[labelled],
                        record.get("prediction"),
                        record.get("probabilities"),
                    )

    def _scan_batch(self, job: _Job, run: MonitorRun) -> None:
        for manifest in self.sources.batch_manifests(job.name, run.start, run.at):
            version = (manifest.get("model") or {}).get("version")
            window = job.windows.get(version) if isinstance(version, int) else None
            if window is None:
                continue
            source = manifest.get("input") or {}
            numbers = tuple(n for n, f in window.features.items() if f.kind != "category")
            inputs = self.sources.read_rows(
                str(source.get("key")), version_id=source.get("version_id"), numbers=numbers
            )
            if inputs is not None:
                window.add_batch_inputs(inputs)
            scored = (manifest.get("outputs") or {}).get("scored") or {}
            if scored.get("key"):
                outputs = self.sources.read_rows(str(scored["key"]))
                if outputs is not None:
                    window.add_batch_predictions(outputs)

    # -- step 3: judge, report, publish ---------------------------------------------------
    def _finish(self, job: _Job, run: MonitorRun) -> dict[str, Any]:
        self._scan_batch(job, run)
        previous = self.latest_report(job.name, missing_ok=True)
        report = self._build_report(job, run, previous)
        report["decisions"] = self._decide(job, report, run)
        stamp = run.at.strftime("%Y%m%dT%H%M%SZ")
        base = f"{self.reports_prefix}{job.name}/{stamp}"
        self.data.put_json(f"{base}.json", report)
        html = self.render_html(report)
        self.data.put_bytes(f"{base}.html", html.encode(), content_type="text/html; charset=utf-8")
        self._point_latest(job.name, run, base)
        self.publish_metrics(report_datapoints(report, run.at))
        done = {"event_id": run.event_id, "status": "done", "report": f"{base}.json"}
        done["finished_at"] = _iso(_utc_now())
        try:
            self.data.put_json(self._claim_key(job.name, run), done, if_match=job.claim_etag)
        except PreconditionFailed:
            logger.warning("monitor claim was taken over", extra={"model": job.name})
        flagged = [v["version"] for v in report["versions"] if v["drift_detected"]]
        logger.info(
            "monitor run done",
            extra={"model": job.name, "report": f"{base}.json", "drift_versions": flagged},
        )
        return {"status": "done", "report": f"{base}.json", "flagged": report["flagged"]}

    def _build_report(
        self, job: _Job, run: MonitorRun, previous: dict[str, Any] | None
    ) -> dict[str, Any]:
        limits = job.thresholds
        entries = []
        for version, window in job.windows.items():
            measured, prediction = window.measure()
            before = _previous_version(previous, version)
            features = [
                judge(
                    m,
                    limits.for_feature(m["name"]),
                    min_samples=limits.min_samples,
                    consecutive_needed=limits.consecutive_breaches,
                    previous_consecutive=_previous_consecutive(before, m["name"]),
                )
                for m in measured
            ]
            if prediction is not None:
                prediction = judge(
                    prediction,
                    limits.for_feature(""),
                    min_samples=limits.min_samples,
                    consecutive_needed=limits.consecutive_breaches,
                    previous_consecutive=int(
                        ((before or {}).get("prediction") or {}).get("consecutive", 0)
                    ),
                )
            entries.append(self._version_entry(job, window, features, prediction))
        report = {
            "format": REPORT_FORMAT,
            "model": job.name,
            "run": {
                "event_id": run.event_id,
                "trigger": run.trigger,
                "at": _iso(run.at, ms=False),
                "window": {
                    "start": _iso(run.start, ms=False),
                    "end": _iso(run.at, ms=False),
                    "hours": run.window_hours,
                },
            },
            "thresholds": limits.to_dict(),
            "aliases": {
                alias: {"version": entry["version"], "weight": entry.get("weight")}
                for alias, entry in sorted(job.aliases.items())
            },
            "flagged": any(e["drift_detected"] for e in entries),
            "versions": entries,
            "feedback": {
                "received": len(job.feedback.actuals),
                "joined": len({pid for pid, _ in job.joined}),
                "unusable_rows": job.feedback.unusable_rows,
            },
        }
        report["trend"] = _trend(previous, report)
        return report

    def _version_entry(
        self,
        job: _Job,
        window: VersionWindow,
        features: list[dict[str, Any]],
        prediction: dict[str, Any] | None,
    ) -> dict[str, Any]:
        enough = [f for f in features if f["state"] != "not_enough_data"]
        drifted = [f for f in enough if f["state"] == "drifted"]
        detected = bool(drifted) or bool(prediction and prediction["state"] == "drifted")
        if window.samples < job.thresholds.min_samples:
            status = "not_enough_data"
        else:
            status = "drift" if detected else "ok"
        pairs = [v for (_, version), v in job.joined.items() if version == window.version]
        attempts = window.requests + window.errors
        return {
            "version": window.version,
            "roles": job.roles(window.version),
            "traffic": traffic_summary(window.traffic),
            "serving": {
                "requests": window.requests,
                "errors": window.errors,
                "error_rate": round(window.errors / attempts, 6) if attempts else None,
                "latency_p50_ms": window.latency.percentile(0.5),
                "latency_p95_ms": window.latency.percentile(0.95),
            },
            "status": status,
            "drift_detected": detected,
            "drifted_share": round(len(drifted) / len(enough), 6) if enough else None,
            "features": features,
            "prediction": prediction,
            "quality": quality(
                window.task,
                window.classes,
                [p[0] for p in pairs],
                [p[1] for p in pairs],
                [p[2] for p in pairs],
            ),
        }

    # -- rollout and retraining ------------------------------------------------------------
    def _decide(self, job: _Job, report: dict[str, Any], run: MonitorRun) -> list[dict[str, Any]]:
        """Judge a live canary or shadow, and retrain when the policy says so."""
        name = job.name
        acting = self.registry.policy_is_set(name)
        policy = self.registry.get_policy(name)
        entries = {e["version"]: e for e in report["versions"]}
        champion = entries[int(job.aliases["champion"]["version"])]
        window = job.windows[champion["version"]]
        primary = policy.primary_for(window.task, window.classes)
        decisions: list[dict[str, Any]] = []
        for role in ("canary", "shadow"):
            alias = job.aliases.get(role)
            if alias is None:
                continue
            candidate = entries[int(alias["version"])]
            updated = _parse_time(alias.get("updated_at")) or run.at
            decision = judge_rollout(
                policy,
                role=role,
                candidate=_stats(candidate, primary),
                champion=_stats(champion, primary),
                age_hours=(run.at - updated).total_seconds() / 3600.0,
                primary=primary,
            )
            entry: dict[str, Any] = {
                "role": role,
                "version": candidate["version"],
                "action": decision.action,
                "reasons": decision.reasons,
            }
            if decision.action != "wait":
                if not acting:
                    entry["applied"] = False
                    entry["note"] = f"no policy set: watched only (sklambda policy {name} ...)"
                else:
                    entry.update(self._apply(name, role, candidate["version"], decision, policy))
            decisions.append(entry)
        if (
            self.retrainer is not None
            and acting
            and not any(role in job.aliases for role in ("canary", "shadow"))
        ):
            why = self.retrainer.due(name, policy, champion)
            if why:
                try:
                    result = self.retrainer.retrain(name, trigger="monitor", reason=why)
                    decisions.append({"action": "retrain", **result})
                except (RetrainFailed, ConflictError) as exc:
                    decisions.append(
                        {
                            "action": "retrain",
                            "outcome": "failed",
                            "reason": why,
                            "error": exc.message,
                        }
                    )
        return decisions

    def _apply(
        self, name: str, role: str, version: int, decision: RolloutDecision, policy: RetrainPolicy
    ) -> dict[str, Any]:
        """Carry out a rollback or a promotion, only from the aliases it was judged on."""
        why = "; ".join(decision.reasons)
        revision = int(self.registry.get_aliases(name).get("revision", 0))
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

    def _point_latest(self, name: str, run: MonitorRun, base: str) -> None:
        key = f"{self.reports_prefix}{name}/latest.json"
        pointer = {"at": _iso(run.at, ms=False), "json": f"{base}.json", "html": f"{base}.html"}
        try:
            current, etag = self.data.get_json(key)
        except ObjectMissing:
            current, etag = None, None
        if current and str(current.get("at", "")) > pointer["at"]:
            return  # a late retry of an older event must not hide a newer report
        try:
            if etag is None:
                self.data.put_json(key, pointer, if_none_match=True)
            else:
                self.data.put_json(key, pointer, if_match=etag)
        except PreconditionFailed:
            logger.warning("latest report pointer changed meanwhile", extra={"model": name})

    # -- reading reports ------------------------------------------------------------------
    def latest_pointer(self, name: str) -> dict[str, Any] | None:
        try:
            pointer, _ = self.data.get_json(f"{self.reports_prefix}{name}/latest.json")
        except ObjectMissing:
            return None
        return pointer if isinstance(pointer, dict) else None

    def latest_report(self, name: str, *, missing_ok: bool = False) -> dict[str, Any] | None:
        """The newest report of a model; NotFoundError (or None) when there is none."""
        pointer = self.latest_pointer(name)
        if pointer is not None:
            try:
                report, _ = self.data.get_json(str(pointer["json"]))
                return dict(report)
            except ObjectMissing:
                pass
        if missing_ok:
            return None
        raise _no_report(name)

    def latest_html(self, name: str) -> str:
        """The newest report page of a model; NotFoundError when there is none."""
        pointer = self.latest_pointer(name)
        if pointer is not None:
            try:
                body, _ = self.data.get_bytes(str(pointer["html"]))
                return body.decode()
            except ObjectMissing:
                pass
        raise _no_report(name)

    def _failed(
        self, name: str, run: MonitorRun, exc: Exception, job: _Job | None = None
    ) -> dict[str, Any]:
        if job is not None:
            self._release(name, run)
        if isinstance(exc, SklambdaError):  # an expected failure: its message says it all
            message = exc.message
            logger.error("monitor run failed", extra={"model": name, "error": message})
        else:
            message = f"{type(exc).__name__}: {exc}"
            logger.exception("monitor run failed", extra={"model": name, "error": message})
        try:
            self.publish_metrics([failure_datapoint(name, run.at)])
        except Exception:  # noqa: BLE001 - the log line above still records it
            logger.warning("could not count the monitor failure", extra={"model": name})
        return {"status": "failed", "reason": message}


def _stats(entry: Mapping[str, Any], primary: str) -> VersionStats:
    serving = entry.get("serving") or {}
    quality_entry = entry.get("quality") or {}
    return VersionStats(
        version=int(entry["version"]),
        requests=int(serving.get("requests") or 0),
        errors=int(serving.get("errors") or 0),
        latency_p95_ms=serving.get("latency_p95_ms"),
        primary_value=(quality_entry.get("metrics") or {}).get(primary),
        labelled=int(quality_entry.get("labelled") or 0),
    )


def _no_report(name: str) -> NotFoundError:
    return NotFoundError(
        f"no monitor report for model {name!r} yet; the monitor writes one on its schedule, "
        f"or run it now: sklambda monitor {name}"
    )


def _previous_version(previous: Mapping[str, Any] | None, version: int) -> dict[str, Any] | None:
    for entry in (previous or {}).get("versions", []):
        if entry.get("version") == version:
            return dict(entry)
    return None


def _previous_consecutive(before: Mapping[str, Any] | None, feature: str) -> int:
    for entry in (before or {}).get("features", []):
        if entry.get("name") == feature:
            return int(entry.get("consecutive") or 0)
    return 0


def _trend(previous: Mapping[str, Any] | None, report: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The previous report's trend plus this run, at most TREND_RUNS long."""
    point: dict[str, Any] = {"at": report["run"]["at"], "versions": {}}
    for entry in report["versions"]:
        prediction = entry.get("prediction") or {}
        point["versions"][str(entry["version"])] = {
            "samples": entry["traffic"]["total"],
            "labelled": entry["quality"]["labelled"],
            "drifted_share": entry["drifted_share"],
            "prediction_psi": _psi_if_enough(prediction),
            "features": {f["name"]: _psi_if_enough(f) for f in entry["features"]},
            "quality": dict(entry["quality"].get("metrics", {})),
        }
    earlier = [p for p in (previous or {}).get("trend", []) if str(p.get("at", "")) < point["at"]]
    return [*earlier, point][-TREND_RUNS:]


def _psi_if_enough(feature: Mapping[str, Any]) -> float | None:
    if not feature or feature.get("state") == "not_enough_data":
        return None
    value = feature.get("psi")
    return None if value is None else float(value)


def _parse_time(text: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError:
        return None


def _iso(moment: datetime, *, ms: bool = True) -> str:
    spec = "milliseconds" if ms else "seconds"
    return moment.astimezone(UTC).isoformat(timespec=spec).replace("+00:00", "Z")


def _utc_now() -> datetime:
    return datetime.now(UTC)
