"""The model registry in S3: immutable numbered versions, aliases and their history.

Layout under the models prefix (see docs/architecture.md):

    <name>/versions/<n>/_claim.json     who took number n (written first, If-None-Match)
    <name>/versions/<n>/model.joblib    the artifact
    <name>/versions/<n>/profile.json    reference profile of the training data
    <name>/versions/<n>/metadata.json   written last: a version exists once this exists
    <name>/aliases.json                 champion / canary / shadow (If-Match on the ETag)
    <name>/history/<revision>.json      one object per alias move
"""

from __future__ import annotations

import contextlib
import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from chalicelib.core import ConflictError, InvalidInputError, NotFoundError, iso, parse_iso, utc_now
from chalicelib.registry import _aliases as alias_state
from chalicelib.registry._artifacts import (
    ModelCache,
    load_verified,
    runtime_versions,
    serialize,
    sha256_hex,
)
from chalicelib.registry._model_config import ModelConfig
from chalicelib.registry._policy import RetrainPolicy
from chalicelib.stats import build_profile, infer_signature
from chalicelib.storage import ObjectMissing, ObjectStore, PreconditionFailed

if TYPE_CHECKING:
    import pandas as pd

    from chalicelib.storage import AwsClients

METADATA_FORMAT = 1
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_CLAIM_ATTEMPTS = 50

# Models loaded in this process, shared by every Registry (one per warm Lambda container).
_model_cache = ModelCache()


def check_model_name(name: str) -> None:
    """Refuse names that cannot be an S3 folder and a URL path segment as they are."""
    if not _NAME.match(name):
        raise InvalidInputError(
            f"invalid model name {name!r}: use letters, digits, '.', '_' and '-', "
            "starting with a letter or digit, at most 128 characters"
        )


@dataclass(frozen=True)
class LoadedModel:
    """A verified, deserialized model version and its metadata."""

    name: str
    version: int
    estimator: Any
    metadata: dict[str, Any]


class Registry:
    """Versions, aliases and history of every model in one bucket and prefix."""

    def __init__(
        self,
        store: ObjectStore,
        prefix: str = "models/",
        *,
        identity: Callable[[], str] = lambda: "unknown",
        clock: Callable[[], datetime] = utc_now,
        cache: ModelCache | None = None,
    ) -> None:
        self._store = store
        self._prefix = prefix
        self._identity = identity
        self._clock = clock
        self._cache = _model_cache if cache is None else cache

    # -- keys ---------------------------------------------------------------------------
    def _model_key(self, name: str, *parts: str) -> str:
        return self._prefix + "/".join((name, *parts))

    def _version_key(self, name: str, version: int, filename: str) -> str:
        return self._model_key(name, "versions", str(version), filename)

    def artifact_uri(self, name: str, version: int) -> str:
        """s3:// URI of a version's artifact (for people, not for loading)."""
        return f"s3://{self._store.bucket}/{self._version_key(name, version, 'model.joblib')}"

    # -- versions -----------------------------------------------------------------------
    def register(
        self,
        name: str,
        estimator: Any,
        training_frame: pd.DataFrame,
        target: str,
        *,
        metrics: Mapping[str, float] | None = None,
        description: str = "",
        tags: Mapping[str, str] | None = None,
        training_data_uri: str | None = None,
        training_data_sha256: str | None = None,
        parent_version: int | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Store a fitted estimator as the next version of `name`; return its metadata.

        Everything is checked before anything is written, and the metadata is written last,
        so a failure leaves no version behind.
        """
        check_model_name(name)
        signature = infer_signature(estimator, training_frame, target)
        metrics = _check_metrics(metrics)
        if parent_version is not None:
            self.get_metadata(name, parent_version)
        profile = build_profile(estimator, training_frame, signature)
        artifact = serialize(estimator)
        actor = self._identity()
        created_at = iso(self._clock())
        version = self._claim_version(name, actor, created_at)
        metadata = {
            "format": METADATA_FORMAT,
            "name": name,
            "version": version,
            "artifact": {
                "file": "model.joblib",
                "format": "joblib",
                "sha256": sha256_hex(artifact),
                "size_bytes": len(artifact),
            },
            "runtime": runtime_versions(),
            "estimator": _describe_estimator(estimator),
            **signature,
            "metrics": metrics,
            "training_data": {
                "uri": training_data_uri,
                "sha256": training_data_sha256 or frame_sha256(training_frame),
                "rows": int(len(training_frame)),
            },
            "created_at": created_at,
            "created_by": actor,
            "parent_version": parent_version,
            "description": description,
            "tags": dict(tags or {}),
            **dict(extra or {}),
        }
        written: list[str] = []
        try:
            for filename, write in (
                (
                    "model.joblib",
                    lambda key: self._store.put_bytes(
                        key, artifact, if_none_match=True, checksum_sha256=True
                    ),
                ),
                (
                    "profile.json",
                    lambda key: self._store.put_json(key, profile, if_none_match=True),
                ),
                (
                    "metadata.json",
                    lambda key: self._store.put_json(key, metadata, if_none_match=True),
                ),
            ):
                key = self._version_key(name, version, filename)
                write(key)
                written.append(key)
        except BaseException:
            self._abandon(name, version, written)
            raise
        return metadata

    def _claim_version(self, name: str, actor: str, at: str) -> int:
        """Take the next free version number; concurrent callers each get their own."""
        numbers = self._version_numbers(name, committed_only=False)
        candidate = max(numbers, default=0) + 1
        for _ in range(_CLAIM_ATTEMPTS):
            try:
                self._store.put_json(
                    self._version_key(name, candidate, "_claim.json"),
                    {"claimed_by": actor, "claimed_at": at},
                    if_none_match=True,
                )
                return candidate
            except PreconditionFailed:
                candidate += 1
        raise ConflictError(
            f"could not allocate a version number for {name!r}: too many registrations at once; "
            "try again"
        )

    def _abandon(self, name: str, version: int, written: list[str]) -> None:
        # Best effort: free the number and remove partial files. A crash here at worst leaves
        # an unused claim, which only skips a number; metadata.json is never among `written`
        # objects that stay, because it is the last write.
        for key in [*reversed(written), self._version_key(name, version, "_claim.json")]:
            with contextlib.suppress(Exception):  # the original error matters more
                self._store.delete(key)

    def _version_numbers(self, name: str, *, committed_only: bool = True) -> list[int]:
        wanted = "metadata.json" if committed_only else None
        prefix = self._model_key(name, "versions") + "/"
        numbers = set()
        for key in self._store.list_keys(prefix):
            folder, _, filename = key[len(prefix) :].partition("/")
            if folder.isdigit() and (wanted is None or filename == wanted):
                numbers.add(int(folder))
        return sorted(numbers)

    def list_models(self) -> list[str]:
        """Names of every model with at least one folder in the registry."""
        return sorted(self._store.list_folders(self._prefix))

    def list_versions(self, name: str, *, missing_ok: bool = False) -> list[int]:
        """The committed versions of `name`, oldest first; NotFoundError for unknown models."""
        check_model_name(name)
        versions = self._version_numbers(name)
        if not versions and not missing_ok:
            raise self._unknown_model(name)
        return versions

    def get_metadata(self, name: str, version: int) -> dict[str, Any]:
        """Metadata of one version; NotFoundError that names what exists otherwise."""
        check_model_name(name)
        try:
            metadata, _ = self._store.get_json(self._version_key(name, version, "metadata.json"))
        except ObjectMissing:
            versions = self._version_numbers(name)
            if not versions:
                raise self._unknown_model(name) from None
            raise NotFoundError(
                f"model {name!r} has no version {version} (versions: {_ranges(versions)}); "
                f"list them with `sklambda versions {name}`"
            ) from None
        return metadata

    def get_profile(self, name: str, version: int) -> dict[str, Any]:
        """The reference profile stored with a version."""
        self.get_metadata(name, version)
        profile, _ = self._store.get_json(self._version_key(name, version, "profile.json"))
        return profile

    def resolve(self, name: str, version: int | None = None, alias: str | None = None) -> int:
        """A version number from an explicit version, an alias, or the champion."""
        if version is not None:
            return version
        alias = alias or alias_state.CHAMPION
        entry = self.get_aliases(name)["aliases"].get(alias)
        if entry is None:
            self.list_versions(name)  # unknown model → NotFoundError first
            raise NotFoundError(
                f"model {name!r} has no {alias!r} alias; promote a version with "
                f"`sklambda promote {name} VERSION --alias {alias}`"
            )
        return int(entry["version"])

    def load(self, name: str, version: int, *, loader: Any = None) -> LoadedModel:
        """Load a version, verified against its sha256 and versions; cached per process."""

        def load_from_s3() -> LoadedModel:
            metadata = self.get_metadata(name, version)
            data, _ = self._store.get_bytes(self._version_key(name, version, "model.joblib"))
            estimator = load_verified(
                data,
                metadata["artifact"]["sha256"],
                metadata["runtime"],
                loader=loader,
                what=f"{name} version {version}",
            )
            return LoadedModel(name, version, estimator, metadata)

        return self._cache.get_or_load(
            (self._store.bucket, self._prefix, name, version), load_from_s3
        )

    # -- aliases and history ------------------------------------------------------------
    def get_aliases(self, name: str) -> dict[str, Any]:
        """The aliases document of `name` (empty when no alias was ever set)."""
        return self._read_aliases(name)[0]

    def _read_aliases(self, name: str) -> tuple[dict[str, Any], str | None]:
        check_model_name(name)
        try:
            document, etag = self._store.get_json(self._model_key(name, "aliases.json"))
        except ObjectMissing:
            return alias_state.empty_document(), None
        return document, etag

    def promote(
        self,
        name: str,
        version: int,
        *,
        alias: str = alias_state.CHAMPION,
        weight: float | None = None,
        reason: str = "",
        expected_revision: int | None = None,
    ) -> dict[str, Any]:
        """Point `alias` at `version`; ConflictError if the aliases changed meanwhile.

        `expected_revision`: only if the aliases are still at that revision (what an
        automated decision was based on), so two racing decisions cannot both land.
        """
        self.get_metadata(name, version)
        return self._change_aliases(
            name,
            lambda doc, actor, at: alias_state.promote(
                doc,
                alias=alias,
                version=version,
                weight=weight,
                actor=actor,
                at=at,
                reason=reason,
            ),
            expected_revision,
        )

    def rollback(
        self, name: str, *, alias: str = alias_state.CHAMPION, reason: str = ""
    ) -> dict[str, Any]:
        """Move `alias` back to the version it pointed to before its last promotion."""
        self.list_versions(name)
        return self._change_aliases(
            name,
            lambda doc, actor, at: alias_state.rollback(
                doc, model=name, alias=alias, actor=actor, at=at, reason=reason
            ),
        )

    def remove_alias(
        self,
        name: str,
        *,
        alias: str,
        reason: str = "",
        expected_revision: int | None = None,
    ) -> dict[str, Any]:
        """Remove a canary or shadow alias."""
        self.list_versions(name)
        return self._change_aliases(
            name,
            lambda doc, actor, at: alias_state.remove(
                doc, model=name, alias=alias, actor=actor, at=at, reason=reason
            ),
            expected_revision,
        )

    def _change_aliases(
        self,
        name: str,
        change: Callable[[dict[str, Any], str, str], dict[str, Any] | None],
        expected_revision: int | None = None,
    ) -> dict[str, Any]:
        document, etag = self._read_aliases(name)
        if expected_revision is not None and document.get("revision", 0) != expected_revision:
            raise ConflictError(
                f"the aliases of {name!r} moved on (revision {document.get('revision', 0)}, "
                f"expected {expected_revision}) since this decision was prepared; nothing "
                "was changed"
            )
        self._record_event(name, document.get("last_event"))
        changed = change(document, self._identity(), iso(self._clock()))
        if changed is None:
            return document
        key = self._model_key(name, "aliases.json")
        try:
            if etag is None:
                self._store.put_json(key, changed, if_none_match=True)
            else:
                self._store.put_json(key, changed, if_match=etag)
        except PreconditionFailed:
            raise ConflictError(
                f"the aliases of {name!r} were changed by someone else while this change was "
                f"prepared, so nothing was changed; check `sklambda history {name}` and retry"
            ) from None
        self._record_event(name, changed["last_event"])
        return changed

    def _record_event(self, name: str, event: dict[str, Any] | None) -> None:
        # Idempotent: the object for a revision is written once. Called again before the next
        # change, so a history write that failed after its alias move is repaired.
        if not event:
            return
        with contextlib.suppress(PreconditionFailed):
            self._store.put_json(
                self._history_key(name, event["revision"]), event, if_none_match=True
            )

    def _history_key(self, name: str, revision: int) -> str:
        return self._model_key(name, "history", f"{revision:010d}.json")

    def history(self, name: str, *, with_decisions: bool = False) -> list[dict[str, Any]]:
        """Every alias move of `name` (and retraining decisions, if asked), oldest first."""
        self.list_versions(name)
        events = {}
        for key in self._store.list_keys(self._model_key(name, "history") + "/"):
            event, _ = self._store.get_json(key)
            events[event["revision"]] = event
        last = self.get_aliases(name).get("last_event")
        if last:
            events.setdefault(last["revision"], last)
        moves = [events[r] for r in sorted(events)]
        if not with_decisions:
            return moves
        return sorted(moves + self.decisions(name), key=lambda e: str(e.get("at", "")))

    # -- serving configuration ----------------------------------------------------------
    def get_config(self, name: str) -> ModelConfig:
        """How `name` is served (defaults until configured)."""
        check_model_name(name)
        try:
            document, _ = self._store.get_json(self._model_key(name, "config.json"))
        except ObjectMissing:
            return ModelConfig()
        return ModelConfig.from_dict(document)

    def configure(self, name: str, changes: Mapping[str, Any]) -> ModelConfig:
        """Apply `changes` to the serving config; ConflictError if it changed meanwhile."""
        self.list_versions(name)
        key = self._model_key(name, "config.json")
        try:
            document, etag = self._store.get_json(key)
        except ObjectMissing:
            document, etag = {}, None
        changed = ModelConfig.from_dict(document).with_changes(changes)
        try:
            if etag is None:
                self._store.put_json(key, changed.to_dict(), if_none_match=True)
            else:
                self._store.put_json(key, changed.to_dict(), if_match=etag)
        except PreconditionFailed:
            raise ConflictError(
                f"the settings of {name!r} were changed by someone else meanwhile; "
                "nothing was changed, retry"
            ) from None
        return changed

    # -- retraining policy and decisions -----------------------------------------------
    def get_policy(self, name: str) -> RetrainPolicy:
        """The model's retraining and rollout policy (defaults: never retrain)."""
        check_model_name(name)
        try:
            document, _ = self._store.get_json(self._model_key(name, "policy.json"))
        except ObjectMissing:
            return RetrainPolicy()
        return RetrainPolicy.from_dict(document)

    def policy_is_set(self, name: str) -> bool:
        """Whether someone set a policy (until then the monitor only watches rollouts)."""
        return self._store.exists(self._model_key(name, "policy.json"))

    def set_policy(self, name: str, changes: Mapping[str, Any]) -> RetrainPolicy:
        """Apply `changes` to the policy; ConflictError if it changed meanwhile."""
        self.list_versions(name)
        key = self._model_key(name, "policy.json")
        try:
            document, etag = self._store.get_json(key)
        except ObjectMissing:
            document, etag = {}, None
        changed = RetrainPolicy.from_dict(document).with_changes(changes)
        try:
            if etag is None:
                self._store.put_json(key, changed.to_dict(), if_none_match=True)
            else:
                self._store.put_json(key, changed.to_dict(), if_match=etag)
        except PreconditionFailed:
            raise ConflictError(
                f"the policy of {name!r} was changed by someone else meanwhile; "
                "nothing was changed, retry"
            ) from None
        return changed

    def record_decision(self, name: str, decision: Mapping[str, Any]) -> dict[str, Any]:
        """Keep a retraining or rollout decision (what, why, by whom) in the model's history."""
        at = iso(self._clock())
        event = {"at": at, "actor": self._identity(), **decision}
        stamp = at.replace("-", "").replace(":", "").replace(".", "")
        key = self._model_key(name, "decisions", f"{stamp}-{uuid.uuid4().hex[:8]}.json")
        self._store.put_json(key, event, if_none_match=True)
        return event

    def decisions(self, name: str) -> list[dict[str, Any]]:
        """Every retraining and rollout decision of `name`, oldest first."""
        found = []
        for key in self._store.list_keys(self._model_key(name, "decisions") + "/"):
            with contextlib.suppress(ObjectMissing):
                found.append(self._store.get_json(key)[0])
        return sorted(found, key=lambda e: str(e.get("at", "")))

    def begin_retrain(self, name: str, *, trigger: str, lease_seconds: float) -> dict[str, Any]:
        """Take the model's retrain lock (one retrain per model at a time); its state.

        ConflictError saying who holds it when another retrain is running; a holder silent
        for longer than its lease (a crashed run) is taken over.
        """
        key = self._model_key(name, "retrain.json")
        now = self._clock()
        try:
            state, etag = self._store.get_json(key)
        except ObjectMissing:
            state, etag = {}, None
        if state.get("state") == "running":
            started = parse_iso(str(state["started_at"]))
            if (now - started).total_seconds() < float(state.get("lease_seconds", 0)):
                raise ConflictError(
                    f"a retrain of {name!r} is already running (started {state['started_at']} "
                    f"by {state.get('actor')}, trigger {state.get('trigger')}); wait for it"
                )
        running = {
            **state,
            "state": "running",
            "trigger": trigger,
            "actor": self._identity(),
            "started_at": iso(now),
            "lease_seconds": lease_seconds,
        }
        try:
            if etag is None:
                running["etag"] = self._store.put_json(key, running, if_none_match=True)
            else:
                running["etag"] = self._store.put_json(key, running, if_match=etag)
        except PreconditionFailed:
            raise ConflictError(
                f"another retrain of {name!r} started at the same moment; only one runs"
            ) from None
        return running

    def end_retrain(self, name: str, lock: Mapping[str, Any], result: Mapping[str, Any]) -> None:
        """Release the retrain lock, keeping when the last retrain ended and how."""
        key = self._model_key(name, "retrain.json")
        state = {k: v for k, v in lock.items() if k != "etag"}
        state.update(state="idle", finished_at=iso(self._clock()), last_result=dict(result))
        with contextlib.suppress(PreconditionFailed):  # taken over meanwhile: theirs now
            self._store.put_json(key, state, if_match=lock["etag"])

    def retrain_state(self, name: str) -> dict[str, Any]:
        """The retrain lock's document: running or idle, last start, end and result."""
        try:
            state, _ = self._store.get_json(self._model_key(name, "retrain.json"))
        except ObjectMissing:
            return {}
        return dict(state)

    def _unknown_model(self, name: str) -> NotFoundError:
        return NotFoundError(
            f"no model named {name!r} in the registry; list models with `sklambda models`"
        )


def frame_sha256(frame: pd.DataFrame) -> str:
    """A content hash of a DataFrame, for training data given as a frame and not a file."""
    import pandas as pd

    hashed = pd.util.hash_pandas_object(frame, index=False).to_numpy()
    header = ",".join(map(str, frame.columns)).encode()
    return sha256_hex(header + hashed.tobytes())


def _check_metrics(metrics: Mapping[str, Any] | None) -> dict[str, float]:
    checked = {}
    for key, value in (metrics or {}).items():
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise InvalidInputError(
                f"metric {key!r} must be a number, got {value!r}; "
                'pass metrics as JSON like {"auc": 0.91}'
            )
        checked[str(key)] = float(value)
    return checked


def _describe_estimator(estimator: Any) -> dict[str, str]:
    final = estimator.steps[-1][1] if hasattr(estimator, "steps") else estimator
    return {
        "class": f"{type(estimator).__module__}.{type(estimator).__qualname__}",
        "final_estimator": type(final).__name__,
    }


def _ranges(numbers: list[int]) -> str:
    """1,2,3,5 → '1-3, 5': short enough for an error message."""
    parts: list[str] = []
    start = prev = numbers[0]
    for n in [*numbers[1:], None]:
        if n is not None and n == prev + 1:
            prev = n
            continue
        parts.append(str(start) if start == prev else f"{start}-{prev}")
        if n is not None:
            start = prev = n
    return ", ".join(parts)


def open_registry(clients: AwsClients) -> Registry:
    """The registry of the configured models bucket, with the caller's identity resolved once."""
    from functools import cache

    from chalicelib.storage import caller_identity

    settings = clients.settings
    store = ObjectStore(clients.s3, settings.require_models_bucket())
    return Registry(store, settings.models_prefix, identity=cache(lambda: caller_identity(clients)))
