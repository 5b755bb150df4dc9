"""Signatures as the registry's users see them: whether a version would load and why not
(`describe`, `status`), and signing versions registered before signing existed (`sklambda
sign`). Loading itself verifies in `VersionStore.load`.
"""

from __future__ import annotations

import json

from chalicelib.core import ConflictError, SignatureError, iso
from chalicelib.registry._artifacts import sha256_hex
from chalicelib.registry._code_bundle import CODE_FILE
from chalicelib.registry._manifest import (
    SIGNATURE_FILE,
    FileDigest,
    SignatureStatus,
    SignedManifest,
    VersionManifest,
    file_digest,
)
from chalicelib.registry._metadata import VersionMetadata
from chalicelib.registry._versions import VersionStore, what_of
from chalicelib.storage import ObjectMissing


class SignedVersions(VersionStore):
    """The signature of each version: its state, and signing older versions."""

    def signature_status(self, name: str, version: int) -> SignatureStatus:
        """Whether a version would load: its signature, its small files read and checked, its
        artifact and code checked by size and S3's own SHA-256 (never downloaded here)."""
        try:
            signed = self.verified_manifest(name, version)
            for filename, digest in signed.manifest["files"].items():
                if filename.endswith(".json"):
                    self._read_signed(signed, name, version, filename)
                else:
                    self._check_stored(signed, name, version, filename, digest)
        except SignatureError as refused:
            return {"state": "refused", "reason": refused.message}
        manifest = signed.manifest
        return {
            "state": "verified",
            "signed_by": manifest["signed_by"],
            "signed_at": manifest["signed_at"],
            "origin": manifest["origin"],
            "key": manifest["key"],
        }

    def _check_stored(
        self, signed: SignedManifest, name: str, version: int, filename: str, digest: FileDigest
    ) -> None:
        what = what_of(name, version)
        try:
            key = self._version_key(name, version, filename)
            head = self._store.head(key, digest["s3_version_id"])
        except ObjectMissing:
            raise SignatureError(
                f"{what}: {filename}, signed at registration, is missing"
            ) from None
        if head.size != digest["size_bytes"] or head.sha256 not in (None, digest["sha256"]):
            raise SignatureError(
                f"{what}: {filename} does not match its signed sha256 (its size or S3 checksum "
                "differ): it was changed after registration; refusing to load it. Register the "
                "model again from a trusted file"
            )

    def sign_version(
        self, name: str, version: int, *, replace: bool = False
    ) -> tuple[VersionManifest, bool]:
        """Bring a version registered before signing existed (or signed with another key)
        under the chain: its files are checked against the sha256 its metadata recorded, then
        signed by the caller. (manifest, whether it was signed now); an already valid
        signature is kept."""
        self._signatures.key()
        status = self.signature_status(name, version)
        if status["state"] == "verified":
            return self.verified_manifest(name, version).manifest, False
        what = what_of(name, version)
        signature_key = self._version_key(name, version, SIGNATURE_FILE)
        if self._store.exists(signature_key) and not replace:
            raise ConflictError(
                f"{what} has a signature that does not verify ({status['reason']}). Check the "
                "version, then sign it again with --replace"
            )
        stored = {
            filename: self._store.read(self._version_key(name, version, filename))
            for filename in ("metadata.json", "model.joblib", "profile.json")
        }
        metadata: VersionMetadata = json.loads(stored["metadata.json"].body)
        _check_recorded(stored["model.joblib"].body, metadata["artifact"]["sha256"], what, "model")
        if "code" in metadata:
            stored[CODE_FILE] = self._store.read(self._version_key(name, version, CODE_FILE))
            _check_recorded(stored[CODE_FILE].body, metadata["code"]["sha256"], what, "code")
        for filename, recorded in metadata.get("plan", {}).get("sha256", {}).items():
            # A plan is signed again only where its digest was recorded at registration;
            # otherwise the version is scored by its pipeline, which is what was checked.
            stored[filename] = self._store.read(self._version_key(name, version, filename))
            _check_recorded(stored[filename].body, recorded, what, "serving plan")
        manifest = self._signatures.sign(
            signature_key,
            name=name,
            version=version,
            files={f: file_digest(o.body, o.version_id) for f, o in stored.items()},
            runtime=metadata["runtime"],
            origin="sign",
            signed_by=self._identity(),
            signed_at=iso(self._clock()),
            replace=replace,
        )
        return manifest, True


def _check_recorded(data: bytes, recorded: str, what: str, part: str) -> None:
    actual = sha256_hex(data)
    if actual != recorded:
        raise SignatureError(
            f"{what}: the {part} file does not match the sha256 recorded at registration "
            f"(expected {recorded[:12]}…, got {actual[:12]}…); it was changed, so it is not "
            "signed. Register the model again from a trusted file"
        )
