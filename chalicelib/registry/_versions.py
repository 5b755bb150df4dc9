"""Immutable numbered versions of every model: register, list, read, load verified.

Layout under the models prefix (see docs/architecture.md):

    <name>/versions/<n>/_claim.json     who took number n (written first, If-None-Match)
    <name>/versions/<n>/model.joblib    the artifact
    <name>/versions/<n>/profile.json    reference profile of the training data
    <name>/versions/<n>/code.zip        the user's own modules, when registered with code
    <name>/versions/<n>/signature.json  the signed manifest of every file above and below
    <name>/versions/<n>/metadata.json   written last: a version exists once this exists
    <name>/versions/<n>/benchmark.json  measured later against other versions; not signed
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from chalicelib.core import (
    ConflictError,
    InvalidInputError,
    NotFoundError,
    SignatureError,
    iso,
    utc_now,
)
from chalicelib.registry._artifacts import (
    ModelCache,
    load_verified,
    runtime_versions,
    serialize,
    sha256_hex,
)
from chalicelib.registry._code_bundle import CODE_FILE, CodeArchive
from chalicelib.registry._code_check import CodeSpec, prepare_code
from chalicelib.registry._manifest import (
    SIGNATURE_FILE,
    FileDigest,
    SignedManifest,
    file_digest,
)
from chalicelib.registry._metadata import METADATA_FORMAT, VersionMetadata
from chalicelib.registry._planning import make_plan
from chalicelib.registry._signatures import Signatures
from chalicelib.registry._user_code import UserCode
from chalicelib.registry._version_facts import check_metrics, describe_estimator, frame_sha256
from chalicelib.stats import build_profile, infer_signature
from chalicelib.storage import JSON, ObjectMissing, ObjectStore, PreconditionFailed, json_bytes

if TYPE_CHECKING:
    import pandas as pd

    from chalicelib.registry._signing import SigningKey

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_CLAIM_ATTEMPTS = 50
BENCHMARK_FILE = "benchmark.json"

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
    metadata: VersionMetadata
    code: UserCode | None = None  # the version's own modules, kept alive with the estimator


class VersionStore:
    """The versions of every model in one bucket and prefix; the base of `Registry`."""

    def __init__(
        self,
        store: ObjectStore,
        prefix: str = "models/",
        *,
        identity: Callable[[], str] = lambda: "unknown",
        clock: Callable[[], datetime] = utc_now,
        cache: ModelCache | None = None,
        signing_key: SigningKey | None = None,
    ) -> None:
        self._store = store
        self._prefix = prefix
        self._identity = identity
        self._clock = clock
        self._cache = _model_cache if cache is None else cache
        self._signatures = Signatures(store, signing_key)

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
        retraining: Mapping[str, Any] | None = None,
        missing_markers: Mapping[str, Collection[str]] | None = None,
        code: CodeSpec = None,
        verify_code_loads: bool = True,
    ) -> VersionMetadata:
        """Store a fitted estimator as the next version of `name`; return its metadata.

        `missing_markers` names, per column, text that means a missing value in files and
        requests (besides an empty cell and null), e.g. {"age": ["NA"]}. `code`: module files
        and package directories the pickle imports (or the archive of an earlier version),
        stored as code.zip; unless `verify_code_loads` is false, a clean interpreter proves the
        model loads with it. Everything is checked before anything is written, and the
        metadata is written last, so a failure leaves no version behind.
        """
        check_model_name(name)
        self._signatures.key()  # no key, no registration: refuse before any work
        signature = infer_signature(estimator, training_frame, target, missing_markers)
        metrics = check_metrics(metrics)
        if parent_version is not None:
            self.get_metadata(name, parent_version)
        profile = build_profile(estimator, training_frame, signature)
        artifact = serialize(estimator)
        archive = prepare_code(
            code,
            estimator,
            artifact,
            training_frame,
            signature["features"],
            prove=verify_code_loads,
        )
        actor = self._identity()
        created_at = iso(self._clock())
        version = self._claim_version(name, actor, created_at)
        metadata: VersionMetadata = {
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
            "estimator": describe_estimator(estimator, training_frame, signature["features"]),
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
        }
        if retraining is not None:
            metadata["retraining"] = dict(retraining)
        if archive is not None:
            metadata["code"] = archive.info
        plan_files, metadata["plan"], metadata["explanations"] = make_plan(
            estimator,
            training_frame,
            signature["features"],
            metadata["estimator"].get("matrix_order", "C"),
        )
        # In write order: the files, then their signed manifest, then metadata.json, the
        # commit (so a version that exists is signed).
        files: list[tuple[str, bytes, str]] = [
            ("model.joblib", artifact, "application/octet-stream"),
            ("profile.json", json_bytes(profile), JSON),
        ]
        if archive is not None:
            files.append((CODE_FILE, archive.data, "application/zip"))
        files += [(name, body, "application/octet-stream") for name, body in plan_files.items()]
        metadata_bytes = json_bytes(metadata)
        written: list[str] = []
        try:
            digests: dict[str, FileDigest] = {}
            for filename, body, content_type in files:
                key = self._version_key(name, version, filename)
                version_id = self._store.create_bytes(key, body, content_type=content_type)
                written.append(key)
                digests[filename] = file_digest(body, version_id)
            # metadata.json is written after signing, so its S3 version is not yet known.
            digests["metadata.json"] = file_digest(metadata_bytes, None)
            self._signatures.sign(
                self._version_key(name, version, SIGNATURE_FILE),
                name=name,
                version=version,
                files=digests,
                runtime=metadata["runtime"],
                origin="retraining" if retraining is not None else "register",
                signed_by=actor,
                signed_at=created_at,
            )
            written.append(self._version_key(name, version, SIGNATURE_FILE))
            key = self._version_key(name, version, "metadata.json")
            self._store.create_bytes(key, metadata_bytes, content_type=JSON)
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

    def get_metadata(self, name: str, version: int) -> VersionMetadata:
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
        """The reference profile stored with a version, as it was signed."""
        signed = self.verified_manifest(name, version)
        data = self._read_signed(signed, name, version, "profile.json")
        profile: dict[str, Any] = json.loads(data)
        return profile

    # -- measured after registration ----------------------------------------------------
    # benchmark.json sits beside the signed files and is not among them: a measure is a
    # fact about this machine and that baseline, added later, and signing it would need the
    # key; nothing loads or trusts it to score.
    def put_benchmark(self, name: str, version: int, figures: Mapping[str, Any]) -> None:
        """Keep a version's benchmark against `figures["against_version"]` (the latest
        measure against each baseline)."""
        self.get_metadata(name, version)  # NotFoundError naming what exists
        key = self._version_key(name, version, BENCHMARK_FILE)
        for _ in range(5):
            document, etag = self._store.read_json(key)
            runs = dict((document or {}).get("against") or {})
            runs[str(figures["against_version"])] = dict(figures)
            try:
                self._store.replace_json(key, {"format": 1, "against": runs}, etag)
                return
            except PreconditionFailed:
                continue
        raise ConflictError(f"{what_of(name, version)}: benchmark.json kept changing; try again")

    def get_benchmark(
        self, name: str, version: int, against: int | None = None
    ) -> dict[str, Any] | None:
        """The version's benchmark against `against` (default: the latest measured), or None."""
        document, _ = self._store.read_json(self._version_key(name, version, BENCHMARK_FILE))
        runs = list(((document or {}).get("against") or {}).values())
        if against is not None:
            runs = [r for r in runs if r.get("against_version") == against]
        return max(runs, key=lambda r: str(r.get("at", "")), default=None)

    def verified_manifest(self, name: str, version: int) -> SignedManifest:
        """The version's signed manifest; SignatureError when its signature does not verify,
        NotFoundError (naming what exists) when there is no such version."""
        check_model_name(name)
        key = self._version_key(name, version, SIGNATURE_FILE)
        try:
            return self._signatures.verified(key, name, version, what_of(name, version))
        except SignatureError:
            self.get_metadata(name, version)  # a version that does not exist is not "unsigned"
            raise

    def _read_signed(self, signed: SignedManifest, name: str, version: int, filename: str) -> bytes:
        key = self._version_key(name, version, filename)
        return self._signatures.read(signed, key, filename, what_of(name, version))

    def load(self, name: str, version: int, *, loader: Any = None) -> LoadedModel:
        """Load a version once its signature and every file it reads are verified, and its
        library versions checked; cached per process (failures for a short while too)."""

        def load_from_s3() -> LoadedModel:
            signed = self.verified_manifest(name, version)
            metadata = json.loads(self._read_signed(signed, name, version, "metadata.json"))
            data = self._read_signed(signed, name, version, "model.joblib")
            code = None
            if "code" in metadata:  # versions registered without code have none
                zipped = self._read_signed(signed, name, version, CODE_FILE)
                code = UserCode(CodeArchive(zipped, metadata["code"]))
            estimator = load_verified(
                data,
                metadata["artifact"]["sha256"],
                metadata["runtime"],
                loader=loader,
                what=what_of(name, version),
                code=code,
            )
            return LoadedModel(name, version, estimator, metadata, code)

        return self._cache.get_or_load(
            (self._store.bucket, self._prefix, name, version), load_from_s3
        )

    def _unknown_model(self, name: str) -> NotFoundError:
        return NotFoundError(
            f"no model named {name!r} in the registry; list models with `sklambda models`"
        )


def what_of(name: str, version: int) -> str:
    """How messages name a version."""
    return f"{name} version {version}"


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
