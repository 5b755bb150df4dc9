"""The signed manifest of a version: what was registered, file by file, and who vouched for it.

A version's files (artifact, metadata, profile, code) sit under one prefix, and whoever can
write that prefix can replace them all together, recorded sha256 included. The manifest lists
each file's sha256, size and S3 version id, and is signed with a key that writers of the
bucket cannot use; a load checks the signature, then every file it reads against the manifest,
before anything is deserialized. Pure: no AWS here.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypedDict

from chalicelib.core import SignatureError

MANIFEST_FORMAT = 1
SIGNATURE_FILE = "signature.json"
ALGORITHM = "RSASSA_PKCS1_V1_5_SHA_256"
# Why a version was signed: at registration (CLI, Python API), by retraining, or afterwards by
# `sklambda sign` for a version registered before signing existed.
ORIGINS = ("register", "retraining", "sign")
KMS_MESSAGE_LIMIT = 4096  # KMS signs RAW messages up to 4 KB


class FileDigest(TypedDict):
    """One file of a version as it was written."""

    sha256: str
    size_bytes: int
    s3_version_id: str | None  # None when the bucket does not keep versions


class VersionManifest(TypedDict):
    """The signed statement about one version."""

    format: int
    model: str
    version: int
    files: dict[str, FileDigest]
    runtime: dict[str, Any]
    origin: str
    signed_by: str
    signed_at: str
    key: str  # the KMS key that signed (its ARN)


class SignatureStatus(TypedDict, total=False):
    """What `describe` says of a version's signature: verified (by whom, when) or refused."""

    state: str  # "verified" | "refused"
    reason: str
    signed_by: str
    signed_at: str
    origin: str
    key: str


class SignatureDocument(TypedDict):
    """signature.json: the manifest's exact signed text and its signature."""

    format: int
    algorithm: str
    manifest: str
    signature: str  # base64


def file_digest(data: bytes, s3_version_id: str | None) -> FileDigest:
    """The manifest entry of `data`, stored as S3 version `s3_version_id`."""
    return {
        "sha256": hashlib.sha256(data).hexdigest(),
        "size_bytes": len(data),
        "s3_version_id": s3_version_id,
    }


def canonical_bytes(manifest: VersionManifest) -> bytes:
    """The bytes that are signed: sorted keys, no spaces, ASCII, so one manifest has one form."""
    text = json.dumps(manifest, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    data = text.encode("ascii")
    if len(data) > KMS_MESSAGE_LIMIT:
        raise ValueError(f"manifest of {len(data)} bytes is over KMS's {KMS_MESSAGE_LIMIT}")
    return data


def signature_document(manifest: bytes, signature: bytes) -> SignatureDocument:
    """signature.json for a signed manifest."""
    return {
        "format": MANIFEST_FORMAT,
        "algorithm": ALGORITHM,
        "manifest": manifest.decode("ascii"),
        "signature": base64.b64encode(signature).decode("ascii"),
    }


def signed_parts(document: Any, what: str) -> tuple[bytes, bytes]:
    """(manifest bytes, signature) of a signature.json; SignatureError when malformed."""
    if (
        not isinstance(document, Mapping)
        or document.get("algorithm") != ALGORITHM
        or not isinstance(document.get("manifest"), str)
        or not isinstance(document.get("signature"), str)
    ):
        raise SignatureError(f"{what}: its signature file is not one this registry writes")
    try:
        signature = base64.b64decode(document["signature"], validate=True)
        return document["manifest"].encode("ascii"), signature
    except (ValueError, UnicodeEncodeError):
        raise SignatureError(f"{what}: its signature file is damaged") from None


@dataclass(frozen=True)
class SignedManifest:
    """A manifest whose signature was verified: the files a load may trust."""

    manifest: VersionManifest

    @classmethod
    def parse(cls, data: bytes, name: str, version: int, what: str) -> SignedManifest:
        """The verified bytes as a manifest of `name` version `version`."""
        try:
            manifest = json.loads(data)
            files = manifest["files"]
            valid = (
                manifest["format"] == MANIFEST_FORMAT
                and isinstance(files, dict)
                and all(_is_digest(entry) for entry in files.values())
            )
        except (ValueError, KeyError, TypeError):
            valid = False
        if not valid:
            raise SignatureError(f"{what}: its signed manifest has a format this runtime lacks")
        if manifest.get("model") != name or manifest.get("version") != version:
            # A valid signature of another version, copied here: a replay.
            raise SignatureError(
                f"{what}: its signature is for {manifest.get('model')!r} version "
                f"{manifest.get('version')}, not this version; refusing to load it"
            )
        return cls(manifest)

    def digest(self, filename: str, what: str) -> FileDigest:
        """The signed entry of `filename`; SignatureError when the manifest has none."""
        entry = self.manifest["files"].get(filename)
        if entry is None:
            raise SignatureError(
                f"{what}: {filename} is not among the files signed at registration; "
                "refusing to load it"
            )
        return entry

    def check(self, filename: str, data: bytes, what: str) -> None:
        """Refuse `data` unless it is exactly the signed `filename`."""
        expected = self.digest(filename, what)["sha256"]
        actual = hashlib.sha256(data).hexdigest()
        if actual != expected:
            raise SignatureError(
                f"{what}: {filename} does not match its signed sha256 (expected "
                f"{expected[:12]}…, got {actual[:12]}…): it was changed after registration; "
                "refusing to load it. Register the model again from a trusted file"
            )


def _is_digest(entry: Any) -> bool:
    return (
        isinstance(entry, dict)
        and isinstance(entry.get("sha256"), str)
        and isinstance(entry.get("size_bytes"), int)
        and (entry.get("s3_version_id") is None or isinstance(entry.get("s3_version_id"), str))
    )
