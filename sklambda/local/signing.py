"""The registry's signing key in the embedded AWS, made as the stack makes it on AWS."""

from __future__ import annotations

from typing import Any

LOCAL_SIGNING_KEY = "alias/sklambda-signing"  # moto's key ids are random; the alias is known


def create_signing_key(kms: Any, alias: str = LOCAL_SIGNING_KEY) -> str:
    """An RSA_3072 SIGN_VERIFY key under `alias`; its ARN."""
    key = kms.create_key(
        KeySpec="RSA_3072",
        KeyUsage="SIGN_VERIFY",
        Description="sklambda: signs the manifest of every registered model version",
    )["KeyMetadata"]
    kms.create_alias(AliasName=alias, TargetKeyId=key["KeyId"])
    return str(key["Arn"])
