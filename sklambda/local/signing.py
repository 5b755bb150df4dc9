"""The registry's signing key in the embedded AWS, made as the stack makes it on AWS."""

from __future__ import annotations

from typing import Any

LOCAL_SIGNING_KEY = "alias/sklambda-signing"  # moto's key ids are random; the alias is known


def create_signing_key(kms: Any, alias: str = LOCAL_SIGNING_KEY) -> str:
    """A key of the stack's kind (RSA_3072, SIGN_VERIFY) under `alias`; its ARN."""
    from sklambda.infra.resources import SIGNING_KEY_SPEC, SIGNING_KEY_USAGE

    key = kms.create_key(
        KeySpec=SIGNING_KEY_SPEC,
        KeyUsage=SIGNING_KEY_USAGE,
        Description="sklambda: signs the manifest of every registered model version",
    )["KeyMetadata"]
    kms.create_alias(AliasName=alias, TargetKeyId=key["KeyId"])
    return str(key["Arn"])
