"""Retraining behind a validation gate.

It runs in the retraining function (a request from the monitor, `_requests.py`) or on the
caller's machine (`sklambda retrain NAME`), never inside the monitor's run. A retrain takes
the model's retrain lock, reads the labelled data under `training/<model>/` (all files, or
those of the last N days), holds out a share, fits a clone of the champion's pipeline (or
the policy's `module:function` trainer, from the app or the champion's own code) on the
rest, scores challenger and champion on the same holdout, and registers the challenger with
its parent, data, both models' holdout metrics, the gate's verdict and the champion's code
bundle. A challenger that passes is rolled out as the policy says (register only, canary at
a weight, or champion), and only if the aliases are still as they were when the retrain
began. Every step lands in the model's history with its reason; a failure leaves the
champion untouched and says why.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from chalicelib.core import (
    ConflictError,
    InvalidInputError,
    RetrainFailed,
    SklambdaError,
    logger,
    parse_time,
    utc_now,
)
from chalicelib.registry import Registry, RetrainPolicy, VersionMetadata, code_activated
from chalicelib.rollout._benchmarks import benchmark_gate
from chalicelib.rollout._gating import Verdict, gate
from chalicelib.rollout._training_data import read_training_file, readable
from chalicelib.scoring import json_records
from chalicelib.stats import quality
from chalicelib.storage import ObjectMissing, ObjectStore

LOCK_LEASE_SECONDS = 20 * 60  # longer than a Lambda can run
BENCHMARK_ROWS = 1000  # holdout rows the benchmark cycles through


class Retrainer:
    """Retrains the models of one registry from the data bucket's training prefix."""

    def __init__(
        self,
        registry: Registry,
        data: ObjectStore,
        *,
        training_prefix: str,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.registry = registry
        self.data = data
        self.training_prefix = training_prefix
        self.clock = clock

    # -- when -----------------------------------------------------------------------------
    def due(self, name: str, policy: RetrainPolicy, champion: dict[str, Any]) -> str | None:
        """Why the policy asks for a retrain now (from the champion's monitor entry), or None.

        `champion` is the champion's entry of the monitor's report.
        """
        if not policy.has_trigger:
            return None
        state = self.registry.retrain_state(name)
        now = self.clock()
        last = parse_time(state.get("started_at"))
        if last is not None and now - last < timedelta(hours=policy.cooldown_hours):
            return None
        if policy.on_drift and champion.get("drift_detected"):
            drifted = [f["name"] for f in champion.get("features", []) if f["state"] == "drifted"]
            return (
                f"drift detected in the champion's inputs ({', '.join(drifted) or 'predictions'})"
            )
        if policy.below_accuracy_floor(champion):
            metrics = champion["quality"]["metrics"]
            observed = metrics.get("accuracy", metrics.get("r2"))
            labelled = champion["quality"]["labelled"]
            return (
                f"champion accuracy {observed:.4f} on {labelled} labels is under the floor of "
                f"{policy.accuracy_floor:.4f}"
            )
        if policy.every_days:
            version = int(champion["version"])
            created = parse_time(self.registry.get_metadata(name, version)["created_at"])
            newest = max(t for t in (created, last) if t is not None) if created else last
            if newest is None or now - newest >= timedelta(days=policy.every_days):
                return f"scheduled: every {policy.every_days:g} days"
        return None

    # -- how ------------------------------------------------------------------------------
    def retrain(
        self,
        name: str,
        *,
        trigger: str,
        reason: str,
        requested_at: datetime | None = None,
        request: str | None = None,
    ) -> dict[str, Any]:
        """Retrain `name` now; what happened (new version, verdict, rollout).

        `requested_at` and `request` (the monitor run's event id) come with a request from
        the retrain queue: ConflictError when a retrain has started since it was made.
        """
        policy = self.registry.get_policy(name)
        aliases = self.registry.get_aliases(name)
        champion_entry = aliases.get("aliases", {}).get("champion")
        if champion_entry is None:
            raise InvalidInputError(
                f"model {name!r} has no champion to retrain from; "
                f"promote one first: sklambda promote {name} VERSION"
            )
        champion = int(champion_entry["version"])
        revision = int(aliases.get("revision", 0))
        lock = self.registry.begin_retrain(
            name,
            trigger=trigger,
            lease_seconds=LOCK_LEASE_SECONDS,
            requested_at=requested_at,
            request=request,
        )
        result: dict[str, Any] = {"model": name, "trigger": trigger, "reason": reason}
        try:
            started = {"action": "retrain-started", "trigger": trigger, "reason": reason}
            request_field = {"request": request} if request else {}
            self.registry.record_decision(name, {**started, "champion": champion, **request_field})
            result.update(self._retrain(name, policy, champion, revision, trigger, reason))
            return result
        except Exception as exc:  # noqa: BLE001 - any failure leaves the champion in place
            message = _describe(exc)
            if not isinstance(exc, SklambdaError):
                logger.exception("retrain failed", extra={"model": name})
            result.update(outcome="failed", error=message)
            self.registry.record_decision(
                name,
                {
                    "action": "retrain-failed",
                    "trigger": trigger,
                    "reason": f"{message}; champion version {champion} left in place",
                },
            )
            raise RetrainFailed(
                f"retrain of {name!r} failed, champion version {champion} left in place: {message}"
            ) from None
        finally:
            self.registry.end_retrain(name, lock, result)

    def _retrain(
        self,
        name: str,
        policy: RetrainPolicy,
        champion: int,
        revision: int,
        trigger: str,
        reason: str,
    ) -> dict[str, Any]:
        loaded = self.registry.load(name, champion)
        metadata = loaded.metadata
        target = metadata["target"]["name"]
        features = [f["name"] for f in metadata["features"]]
        frame, files = self.training_data(name, policy, metadata)
        train, holdout = split(frame, target, policy, metadata["task"])
        # The champion's own modules (and a trainer shipped among them) import from its code
        # bundle while the challenger is fitted, judged and pickled; it ships the same bytes.
        with code_activated(loaded.code):
            challenger = fit_challenger(policy, loaded.estimator, train[features], train[target])
            task, classes = metadata["task"], list(metadata.get("classes") or [])
            ours = evaluate(challenger, holdout[features], holdout[target], task, classes)
            theirs = evaluate(loaded.estimator, holdout[features], holdout[target], task, classes)
            primary = policy.primary_for(task, classes)
            verdict = gate(policy, primary, ours, theirs)
            uri = f"s3://{self.data.bucket}/{self.training_prefix}{name}/"
            registered = self.registry.register(
                name,
                challenger,
                train[[*features, target]],
                target,
                metrics=ours,
                description=f"retrained from version {champion} ({trigger})",
                tags={"origin": "retrain", "trigger": trigger},
                training_data_uri=uri,
                parent_version=champion,
                code=loaded.code.archive if loaded.code else None,
                verify_code_loads=False,  # the champion's bundle, proven when it was registered
                missing_markers={
                    f["name"]: f["missing_markers"]
                    for f in metadata["features"]
                    if f.get("missing_markers")
                },
                retraining={
                    "trigger": trigger,
                    "reason": reason,
                    "files": files,
                    "rows": {"train": int(len(train)), "holdout": int(len(holdout))},
                    "holdout_metrics": {"challenger": ours, "champion": theirs},
                    "champion_version": champion,
                    "gate": verdict.to_dict(),
                },
            )
        version = int(registered["version"])
        measured: dict[str, Any] = {}
        if verdict.passed and policy.action != "register":
            # Before it goes to canary or champion: measured against the champion on the
            # same holdout rows, through the path the API takes.
            fast_enough, why, figures = benchmark_gate(
                self.registry,
                policy,
                name,
                version,
                champion,
                json_records(holdout[features], BENCHMARK_ROWS),
                rows_from=f"retraining holdout ({len(holdout)} rows)",
            )
            measured = {"benchmark": figures} if figures else {}
            if figures is not None:
                verdict = Verdict(
                    fast_enough,
                    verdict.primary_metric,
                    verdict.challenger,
                    verdict.champion,
                    [*verdict.reasons, why],
                )
        outcome = self._roll_out(name, policy, version, verdict, revision)
        self.registry.record_decision(
            name,
            {
                "action": "retrain",
                "trigger": trigger,
                "version": version,
                "from_version": champion,
                "gate": verdict.to_dict(),
                "outcome": outcome,
                "reason": f"gate {'passed' if verdict.passed else 'failed'}: "
                f"{verdict.summary()}; {outcome}",
                **measured,
            },
        )
        logger.info("retrained", extra={"model": name, "version": version, "outcome": outcome})
        return {"version": version, "gate": verdict.to_dict(), "outcome": outcome, **measured}

    def _roll_out(
        self, name: str, policy: RetrainPolicy, version: int, verdict: Verdict, revision: int
    ) -> str:
        if not verdict.passed:
            return "registered, not promoted"
        if policy.action == "register":
            return "registered (policy: register only)"
        why = f"retrained challenger passed the gate: {verdict.summary()}"
        try:
            if policy.action == "promote":
                self.registry.promote(name, version, reason=why, expected_revision=revision)
                return "promoted to champion"
            self.registry.promote(
                name,
                version,
                alias="canary",
                weight=policy.canary_weight,
                reason=why,
                expected_revision=revision,
            )
        except ConflictError as exc:
            return f"registered, not promoted: {exc.message}"
        return f"canary at {policy.canary_weight:.0%} of traffic"

    # -- data -----------------------------------------------------------------------------
    def training_data(
        self, name: str, policy: RetrainPolicy, metadata: VersionMetadata
    ) -> tuple[Any, list[str]]:
        """The labelled training frame, typed as the champion was trained, and its keys."""
        import pandas as pd

        prefix = f"{self.training_prefix}{name}/"
        target = metadata["target"]["name"]
        oldest = (
            self.clock() - timedelta(days=policy.training_days) if policy.training_days else None
        )
        frames, keys, rejected = [], [], 0
        for key, modified, _ in self.data.list_objects(prefix):
            if not readable(key) or (oldest and modified < oldest):
                continue
            try:
                body, _ = self.data.get_bytes(key)
            except ObjectMissing:
                continue
            read = read_training_file(
                f"s3://{self.data.bucket}/{key}",
                body,
                metadata["features"],
                target,
                task=metadata["task"],
                classes=metadata.get("classes"),
            )
            frames.append(read.frame)
            keys.append(key)
            rejected += read.rejected
        if not frames:
            window = f" from the last {policy.training_days:g} days" if oldest else ""
            raise InvalidInputError(
                f"no training data{window} under s3://{self.data.bucket}/{prefix}; drop "
                "labelled .csv, .parquet or .jsonl files there (features and target columns)"
            )
        if rejected:
            logger.warning(
                "training rows left out: values the model cannot read",
                extra={"model": name, "rows": rejected},
            )
        frame = pd.concat(frames, ignore_index=True)
        labelled = frame[frame[target].notna()]
        if len(labelled) < 50:
            raise InvalidInputError(
                f"only {len(labelled)} labelled rows under s3://{self.data.bucket}/{prefix}; "
                "a retrain needs at least 50"
            )
        return labelled.reset_index(drop=True), keys


def split(frame: Any, target: str, policy: RetrainPolicy, task: str) -> tuple[Any, Any]:
    """Train and holdout frames: seeded, stratified for classifiers when every class can be."""
    from sklearn.model_selection import train_test_split

    stratify = None
    if task == "classification":
        counts = frame[target].value_counts()
        if len(counts) > 1 and counts.min() >= 2:
            stratify = frame[target]
    train, holdout = train_test_split(
        frame, test_size=policy.holdout, random_state=policy.seed, stratify=stratify
    )
    return train.reset_index(drop=True), holdout.reset_index(drop=True)


def fit_challenger(policy: RetrainPolicy, champion: Any, features: Any, target: Any) -> Any:
    """A clone of the champion fitted on fresh data, or what the policy's trainer returns."""
    if policy.trainer:
        module_name, _, function = policy.trainer.partition(":")
        try:
            trainer = getattr(importlib.import_module(module_name), function)
        except (ImportError, AttributeError) as exc:
            raise InvalidInputError(
                f"trainer {policy.trainer!r} is not importable from the app or the champion's "
                f"code ({exc}); ship the module with the app (vendor/) or register "
                "the model with it (--code), and name it module:function"
            ) from None
        frame = features.assign(**{target.name: target})
        return trainer(frame, target.name, champion)
    from sklearn.base import clone

    return clone(champion).fit(features, target)


def evaluate(estimator: Any, features: Any, actual: Any, task: str, classes: list[Any]) -> dict:
    """Holdout metrics, computed by the same code as the monitor's accuracy."""
    import numpy as np

    predicted = estimator.predict(features)
    probabilities = None
    if task == "classification" and hasattr(estimator, "predict_proba"):
        proba = estimator.predict_proba(features)
        keys = [str(c) for c in getattr(estimator, "classes_", classes)]
        probabilities = [dict(zip(keys, row, strict=True)) for row in np.asarray(proba).tolist()]
    measured = quality(task, classes, list(actual), list(predicted), probabilities)
    return dict(measured["metrics"])


def _describe(exc: Exception) -> str:
    return exc.message if isinstance(exc, SklambdaError) else f"{type(exc).__name__}: {exc}"
