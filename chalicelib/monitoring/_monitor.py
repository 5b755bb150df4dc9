"""The scheduled monitor: per model, drift, accuracy and traffic of the recent window.

One run (a scheduled event, or `sklambda monitor NAME`):

1. For each model with a champion, claim the run (`reports/<model>/_runs/<event id>.json`,
   If-None-Match), so a duplicated event does nothing; read the live versions (champion,
   canary, shadow) with their reference profiles.
2. The capture of the window's delivery hours through the hourly partials, which the
   aggregating function fills as objects land (`_arrivals.py`); only objects no partial has
   added up yet are read (`_capture_scan.py`, `_partials.py`). Every row of the batch files
   scored in the window, each file read once into its own partial (`_batch_scan.py`).
3. Per model: the feedback objects of the window not yet joined (or naming predictions still
   on the way) are joined (`_labels.py`), and each live version's labels are merged from the
   partials of the hours its predictions were made in the label lookback. Then measure drift
   on the reference bins, judge it against the thresholds and the previous report (N
   breaches in a row before a feature counts as drifted), compute quality from the merged
   labels, act on a live canary or shadow or ask the retraining function for a retrain
   (`chalicelib/rollout`), write the report (JSON and HTML), point `latest.json` at it, and
   publish the metrics.

A model that fails is logged and counted (`MonitorFailures`); the others carry on.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from chalicelib.core import (
    GoneError,
    InvalidInputError,
    NotFoundError,
    SklambdaError,
    iso,
    logger,
    predicted_at,
)
from chalicelib.monitoring._batch_scan import scan_batch
from chalicelib.monitoring._capture_scan import scan_capture
from chalicelib.monitoring._document import (
    REPORT_FORMAT,
    MonitorReport,
    VersionReport,
    previous_consecutive,
    previous_version,
    registered_metrics,
    trend,
)
from chalicelib.monitoring._labels import DELIVERY_GRACE, LabelJoiner
from chalicelib.monitoring._metrics import failure_datapoint, report_datapoints
from chalicelib.monitoring._partials import PartialStore
from chalicelib.monitoring._reports import ReportStore
from chalicelib.monitoring._run import MonitorRun
from chalicelib.monitoring._sources import MonitorSources
from chalicelib.monitoring._window import VersionWindow, traffic_summary
from chalicelib.registry import Registry, model_retirement
from chalicelib.rollout import Rollout
from chalicelib.stats import DriftThresholds, QualityTally, judge
from chalicelib.storage import ObjectStore

MetricsSink = Callable[[list[dict[str, Any]]], None]

if TYPE_CHECKING:
    from chalicelib.rollout import Retrainer, RetrainRequests


@dataclass
class _Job:
    """One model's part of a run."""

    name: str
    aliases: dict[str, Any]
    revision: int  # of the aliases document the run started from
    thresholds: DriftThresholds
    windows: dict[int, VersionWindow]
    claim_etag: str
    registered: dict[int, dict[str, float]]  # version → metrics recorded at registration
    # Labels received in the window (labels, joined, unusable_rows), and each version's
    # quality tally over the predictions of the label lookback.
    feedback: dict[str, int] = field(default_factory=dict)
    tallies: dict[int, QualityTally | None] = field(default_factory=dict)
    benchmarks: dict[int, dict[str, Any]] = field(default_factory=dict)  # the latest of each

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
        render_html: Callable[[MonitorReport], str] | None = None,
        retrainer: Retrainer | None = None,
        retrain_requests: RetrainRequests | None = None,
    ) -> None:
        self.registry = registry
        self.sources = sources
        self.reports = ReportStore(data, reports_prefix)
        self.partials = PartialStore(data, reports_prefix)
        self.rollout = Rollout(registry, retrainer, retrain_requests)
        self.publish_metrics = publish_metrics
        self.label_lookback = timedelta(days=label_lookback_days)
        self.labels = LabelJoiner(registry, sources, self.partials, self.label_lookback)
        if render_html is None:
            from chalicelib.monitoring.report import render_report_html

            render_html = render_report_html
        self.render_html = render_html

    # -- entry points ---------------------------------------------------------------------
    def monitored_models(self) -> list[str]:
        """Every model with a champion (the ones serving traffic), unless retired."""
        names = []
        for name in self.registry.list_models():
            try:
                document = self.registry.get_aliases(name)
                if "champion" in document.get("aliases", {}) and not model_retirement(document):
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
            "at": iso(run.at),
            "models": outcome,
            "failures": failures,
        }

    # -- step 1: claim and prepare --------------------------------------------------------
    def check_monitored(self, name: str) -> dict[str, Any]:
        """The model's aliases; NotFoundError or InvalidInputError saying what to fix."""
        self.registry.list_versions(name)  # NotFoundError naming the model
        document = self.registry.get_aliases(name)
        retired = model_retirement(document)
        if retired is not None:
            raise GoneError(
                f"model {name!r} is retired (by {retired['by']} at {retired['at']}: "
                f"{retired['reason']}), so it is not monitored; restore it with "
                f"`sklambda restore {name}` to monitor it again"
            )
        aliases: dict[str, Any] = document.get("aliases", {})
        if "champion" not in aliases:
            raise InvalidInputError(
                f"model {name!r} has no champion, so it serves nothing to monitor; "
                f"promote a version first: sklambda promote {name} VERSION"
            )
        return aliases

    def _prepare(self, name: str, run: MonitorRun) -> _Job | None:
        aliases = self.check_monitored(name)
        revision = int(self.registry.get_aliases(name).get("revision", 0))
        thresholds = DriftThresholds.from_dict(self.registry.get_config(name).drift_thresholds)
        etag = self.reports.claim(name, run.event_id)
        if etag is None:
            return None
        try:
            windows = {}
            registered = {}
            benchmarks = {}
            for version in sorted({int(e["version"]) for e in aliases.values()}):
                metadata = self.registry.get_metadata(name, version)
                profile = self.registry.get_profile(name, version)
                windows[version] = VersionWindow(version, metadata, profile)
                registered[version] = registered_metrics(metadata)
                measured = self.registry.get_benchmark(name, version)
                if measured is not None:
                    benchmarks[version] = measured
        except Exception:
            self.reports.release(name, run.event_id)
            raise
        job = _Job(name, aliases, revision, thresholds, windows, etag, registered)
        job.benchmarks.update(benchmarks)
        return job

    # -- step 2: read the window ----------------------------------------------------------
    def _scan_capture(self, jobs: Mapping[str, _Job], run: MonitorRun) -> None:
        scan_capture(jobs, run, self.sources, self.partials)

    def _join_labels(self, job: _Job, run: MonitorRun) -> None:
        """Join the feedback objects of the window the aggregating function has not (or whose
        predictions were still on the way), then merge each live version's label partials of
        the predictions made in the label lookback."""
        ledgers: dict[datetime, Any] = {}
        totals = {"received": 0, "joined": 0, "unusable_rows": 0}
        for key, written, size in self.sources.feedback_objects(job.name, run.start, run.at):
            hour = written.replace(minute=0, second=0, microsecond=0)
            if hour not in ledgers:
                ledgers[hour] = self.partials.feedback_ledger(job.name, hour)
            ledger = ledgers[hour]
            outcome = (ledger.state or {}).get(key) if ledger.covers(key, size) else None
            if outcome is None or _still_pending(outcome, run.at):
                outcome = self.labels.join_object(job.name, key, size, written, run.at)
            totals["received"] += int(outcome["labels"])
            totals["joined"] += int(outcome["joined"])
            totals["unusable_rows"] += int(outcome["unusable_rows"])
        job.feedback = totals
        for version in job.windows:
            job.tallies[version] = self.labels.quality(
                job.name, version, run.at - self.label_lookback, run.at
            )

    def _scan_batch(self, job: _Job, run: MonitorRun) -> None:
        scan_batch(job.name, job.windows, run, self.sources, self.partials)

    # -- step 3: judge, report, publish ---------------------------------------------------
    def _finish(self, job: _Job, run: MonitorRun) -> dict[str, Any]:
        self._join_labels(job, run)
        self._scan_batch(job, run)
        previous = self.reports.latest_report(job.name, missing_ok=True)
        report = self._build_report(job, run, previous)
        policy = self.registry.get_policy(job.name)
        for entry in report["versions"]:
            entry["below_accuracy_floor"] = policy.below_accuracy_floor(entry)
        champion = job.windows[int(job.aliases["champion"]["version"])]
        report["decisions"] = self.rollout.decide(
            job.name,
            job.aliases,
            job.revision,
            report,
            task=champion.task,
            classes=champion.classes,
            at=run.at,
            event_id=run.event_id,
        )
        key = self.reports.write(job.name, run.at, report, self.render_html(report))
        self.publish_metrics(report_datapoints(report, run.at))
        self.reports.mark_done(job.name, run.event_id, job.claim_etag, key)
        flagged = [v["version"] for v in report["versions"] if v["drift_detected"]]
        logger.info(
            "monitor run done",
            extra={"model": job.name, "report": key, "drift_versions": flagged},
        )
        return {"status": "done", "report": key, "flagged": report["flagged"]}

    def _build_report(
        self, job: _Job, run: MonitorRun, previous: Mapping[str, Any] | None
    ) -> MonitorReport:
        limits = job.thresholds
        entries = []
        for version, window in job.windows.items():
            measured, prediction = window.measure()
            before = previous_version(previous, version)
            features = [
                judge(
                    m,
                    limits.for_feature(m["name"]),
                    min_samples=limits.min_samples,
                    consecutive_needed=limits.consecutive_breaches,
                    previous_consecutive=previous_consecutive(before, m["name"]),
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
        report: MonitorReport = {
            "format": REPORT_FORMAT,
            "model": job.name,
            "run": {
                "event_id": run.event_id,
                "trigger": run.trigger,
                "at": iso(run.at, ms=False),
                "window": {
                    "start": iso(run.start, ms=False),
                    "end": iso(run.at, ms=False),
                    "hours": run.window_hours,
                },
                "labels_since": iso(run.at - self.label_lookback, ms=False),
            },
            "thresholds": limits.to_dict(),
            "aliases": {
                alias: {"version": entry["version"], "weight": entry.get("weight")}
                for alias, entry in sorted(job.aliases.items())
            },
            "flagged": any(e["drift_detected"] for e in entries),
            "versions": entries,
            "feedback": {
                "received": job.feedback.get("received", 0),
                "joined": job.feedback.get("joined", 0),
                "unusable_rows": job.feedback.get("unusable_rows", 0),
            },
            "trend": [],
        }
        report["trend"] = trend(previous, report)
        return report

    def _version_entry(
        self,
        job: _Job,
        window: VersionWindow,
        features: list[dict[str, Any]],
        prediction: dict[str, Any] | None,
    ) -> VersionReport:
        enough = [f for f in features if f["state"] != "not_enough_data"]
        drifted = [f for f in enough if f["state"] == "drifted"]
        detected = bool(drifted) or bool(prediction and prediction["state"] == "drifted")
        if window.samples < job.thresholds.min_samples:
            status = "not_enough_data"
        else:
            status = "drift" if detected else "ok"
        tally = job.tallies.get(window.version)
        attempts = window.requests + window.errors
        entry: VersionReport = {
            "version": window.version,
            "roles": job.roles(window.version),
            "traffic": traffic_summary(window.traffic),
            "serving": {
                "requests": window.requests,
                "errors": window.errors,
                "error_rate": round(window.errors / attempts, 6) if attempts else None,
                "latency_p50_ms": window.latency.percentile(0.5),
                "latency_p95_ms": window.latency.percentile(0.95),
                "by_consumer": {
                    name: {key: counts[key] for key in ("records", "requests", "errors")}
                    for name, counts in sorted(window.consumers.items())
                },
            },
            "status": status,
            "drift_detected": detected,
            "drifted_share": round(len(drifted) / len(enough), 6) if enough else None,
            "features": features,
            "prediction": prediction,
            "quality": (tally.result() if tally is not None else {"labelled": 0, "metrics": {}}),
            "estimated": (
                window.estimate.result(job.thresholds.min_samples)
                if window.estimate is not None
                else None
            ),
            "registered_metrics": job.registered.get(window.version, {}),
        }
        if window.version in job.benchmarks:
            entry["benchmark"] = job.benchmarks[window.version]
        if window.importance:
            entry["importance"] = window.importance
        return entry

    # -- reading reports ------------------------------------------------------------------
    def latest_report(self, name: str, *, missing_ok: bool = False) -> dict[str, Any] | None:
        """The newest report of a model; NotFoundError (or None) when there is none."""
        return self.reports.latest_report(name, missing_ok=missing_ok)

    def latest_html(self, name: str) -> str:
        """The newest report page of a model; NotFoundError when there is none."""
        return self.reports.latest_html(name)

    def _failed(
        self, name: str, run: MonitorRun, exc: Exception, job: _Job | None = None
    ) -> dict[str, Any]:
        if job is not None:
            self.reports.release(name, run.event_id)
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


def _still_pending(outcome: Mapping[str, Any], at: datetime) -> bool:
    """Whether a joined feedback object names predictions that may still be delivered."""
    for pid in outcome.get("pending") or ():
        made = predicted_at(pid)
        if made is not None and made >= at - DELIVERY_GRACE:
            return True
    return False
