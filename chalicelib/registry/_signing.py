"""The registry's signing key in KMS: registrations are signed with it, loads verify with it.

Only principals allowed `kms:Sign` (the people who register, the retraining function) can
sign; the serving and batch functions may only read the public key. It is fetched once per
process and signatures are checked locally (`_rsa`), so a warm container never calls KMS, and
a cold one calls it once however many versions it loads (measured in bench/bench_signing.py
against one KMS Verify per load).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from chalicelib.core import AwsAccessError, SignatureError
from chalicelib.registry._manifest import ALGORITHM
from chalicelib.registry._rsa import KeyFormatError, RsaPublicKey, parse_public_key, verify_sha256


class SigningKey:
    """One KMS asymmetric key (RSA, SIGN_VERIFY), named by ARN, id or alias."""

    def __init__(self, kms: Callable[[], Any], key_id: str) -> None:
        self._kms = kms  # called on first use: no client is made for a process that never signs
        self.key_id = key_id
        self._public: tuple[str, RsaPublicKey] | None = None
        self._lock = threading.Lock()

    def sign(self, message: bytes) -> tuple[bytes, str]:
        """(signature of `message`, the ARN of the key that made it)."""
        with _kms_errors("sign the version with the registry's key", self.key_id, "kms:Sign"):
            response = self._kms().sign(
                KeyId=self.key_id,
                Message=message,
                MessageType="RAW",
                SigningAlgorithm=ALGORITHM,
            )
        return bytes(response["Signature"]), str(response["KeyId"])

    def public_key(self) -> tuple[str, RsaPublicKey]:
        """(key ARN, public key), fetched from KMS once per process."""
        if self._public is None:
            with self._lock:
                if self._public is None:
                    self._public = self._fetch_public_key()
        return self._public

    def verify(self, message: bytes, signature: bytes, what: str) -> str:
        """The key's ARN when `signature` is this key's signature of `message`; else
        SignatureError."""
        arn, public = self.public_key()
        if not verify_sha256(public, message, signature):
            raise SignatureError(
                f"{what}: its signature was not made by the registry's signing key over what "
                "is stored; refusing to load it. If the version was registered before signing "
                "existed, or with another key, check it and run `sklambda sign`"
            )
        return arn

    def _fetch_public_key(self) -> tuple[str, RsaPublicKey]:
        with _kms_errors("read the registry's public key", self.key_id, "kms:GetPublicKey"):
            response = self._kms().get_public_key(KeyId=self.key_id)
        if ALGORITHM not in response.get("SigningAlgorithms", []):
            raise AwsAccessError(
                f"the signing key {self.key_id} cannot sign with {ALGORITHM}: create it with "
                "KeySpec RSA_3072 (or RSA_2048/RSA_4096) and KeyUsage SIGN_VERIFY"
            )
        try:
            return str(response["KeyId"]), parse_public_key(bytes(response["PublicKey"]))
        except KeyFormatError as exc:
            raise AwsAccessError(
                f"the signing key {self.key_id} is not a usable RSA key ({exc})"
            ) from None


@contextmanager
def _kms_errors(action: str, key_id: str, permission: str) -> Iterator[None]:
    """KMS failures as messages that name the key and the permission to grant."""
    from botocore.exceptions import ClientError

    from chalicelib.storage import translate_aws_errors

    with translate_aws_errors(action):
        try:
            yield
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code in {"AccessDeniedException", "AccessDenied", "403", "Forbidden"}:
                raise AwsAccessError(
                    f"access denied while trying to {action}: only principals granted "
                    f"{permission} on {key_id} may do this (the stack's registrar policy "
                    "grants signing)"
                ) from None
            if code in {"NotFoundException", "DisabledException", "KMSInvalidStateException"}:
                raise AwsAccessError(
                    f"the signing key {key_id} is missing or disabled ({code}): set "
                    "SKLAMBDA_SIGNING_KEY to the stack's key"
                ) from None
            raise
