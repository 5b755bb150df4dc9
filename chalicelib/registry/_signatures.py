"""signature.json of each version: written at registration, verified before every load.

The manifest (`_manifest`) names every file of the version; the registry's KMS key
(`_signing`) signs it. Reading a version's files goes through `read`, which returns bytes only
once they match the verified manifest, so nothing unverified reaches an unpickler.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from chalicelib.core import MISSING_SIGNING_KEY, ConfigError, SignatureError
from chalicelib.registry._manifest import (
    MANIFEST_FORMAT,
    FileDigest,
    SignedManifest,
    VersionManifest,
    canonical_bytes,
    signature_document,
    signed_parts,
)
from chalicelib.registry._signing import SigningKey
from chalicelib.storage import JSON, ObjectMissing, ObjectStore, json_bytes


class Signatures:
    """Signs and verifies the versions stored in one bucket."""

    def __init__(self, store: ObjectStore, key: SigningKey | None) -> None:
        self._store = store
        self._key = key

    def key(self) -> SigningKey:
        """The signing key; ConfigError when none is configured (nothing goes unsigned)."""
        if self._key is None:
            raise ConfigError(MISSING_SIGNING_KEY)
        return self._key

    def sign(
        self,
        signature_key: str,
        *,
        name: str,
        version: int,
        files: Mapping[str, FileDigest],
        runtime: Mapping[str, Any],
        origin: str,
        signed_by: str,
        signed_at: str,
        replace: bool = False,
    ) -> VersionManifest:
        """Sign the manifest of `files` and store it at `signature_key` (created, or replaced
        when `replace`); the manifest."""
        key = self.key()
        arn, _ = key.public_key()
        manifest: VersionManifest = {
            "format": MANIFEST_FORMAT,
            "model": name,
            "version": version,
            "files": dict(files),
            "runtime": dict(runtime),
            "origin": origin,
            "signed_by": signed_by,
            "signed_at": signed_at,
            "key": arn,
        }
        message = canonical_bytes(manifest)
        signature, _ = key.sign(message)
        body = json_bytes(signature_document(message, signature))
        if replace:
            self._store.put_bytes(signature_key, body, content_type=JSON)
        else:
            self._store.create_bytes(signature_key, body, content_type=JSON)
        return manifest

    def verified(self, signature_key: str, name: str, version: int, what: str) -> SignedManifest:
        """The version's manifest once its signature checks out; SignatureError otherwise."""
        key = self.key()
        try:
            document, _ = self._store.get_json(signature_key)
        except ObjectMissing:
            raise SignatureError(
                f"{what} is not signed (it was registered before signing existed, or its "
                "signature was removed); refusing to load it. Check it and run "
                f"`sklambda sign {name} --version {version}`"
            ) from None
        except ValueError:
            raise SignatureError(f"{what}: its signature file is damaged") from None
        manifest, signature = signed_parts(document, what)
        key.verify(manifest, signature, what)
        return SignedManifest.parse(manifest, name, version, what)

    def read(self, signed: SignedManifest, key: str, filename: str, what: str) -> bytes:
        """The bytes of one signed file (of the S3 version that was signed, where the bucket
        keeps versions), refused unless they are what was signed."""
        digest = signed.digest(filename, what)
        try:
            data, _ = self._store.get_bytes(key, digest["s3_version_id"])
        except ObjectMissing:
            raise SignatureError(
                f"{what}: {filename}, signed at registration, is missing; refusing to load it"
            ) from None
        signed.check(filename, data, what)
        return data
