"""The registry's signing key: registrations sign a manifest with it, every load verifies it.

An asymmetric KMS key (RSA_3072, SIGN_VERIFY). The private half never leaves KMS, so who may
sign is decided by IAM (`kms:Sign`: the monitor's role and the registrar policy); the
functions that only load models get `kms:GetPublicKey` and verify locally. The key is kept
when the stack goes or the key is replaced: every version signed by it must stay verifiable.
"""

from __future__ import annotations

from typing import Any

from sklambda.infra.resources._intrinsics import ref, sub

SIGNING_KEY = "SigningKey"
SIGNING_KEY_ALIAS = "alias/${AWS::StackName}-signing"
SIGNING_KEY_SPEC = "RSA_3072"
SIGNING_KEY_USAGE = "SIGN_VERIFY"


def signing_key() -> dict[str, Any]:
    """The key and a readable alias for it (the functions are given the key's ARN, not this
    alias: whoever may update aliases could point an alias at a key of their own)."""
    return {
        SIGNING_KEY: {
            "Type": "AWS::KMS::Key",
            "DeletionPolicy": "Retain",
            "UpdateReplacePolicy": "Retain",
            "Properties": {
                "Description": sub(
                    "sklambda ${AWS::StackName}: signs model version manifests at registration"
                ),
                "KeySpec": SIGNING_KEY_SPEC,
                "KeyUsage": SIGNING_KEY_USAGE,
                "KeyPolicy": _key_policy(),
            },
        },
        "SigningKeyAlias": {
            "Type": "AWS::KMS::Alias",
            "Properties": {"AliasName": sub(SIGNING_KEY_ALIAS), "TargetKeyId": ref(SIGNING_KEY)},
        },
    }


def _key_policy() -> dict[str, Any]:
    # AWS's default key policy: the account administers the key and its IAM policies decide
    # who signs or reads the public key, so the reviewed role policies are the whole story.
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "IamPoliciesDecideWhoUsesTheKey",
                "Effect": "Allow",
                "Principal": {"AWS": sub("arn:${AWS::Partition}:iam::${AWS::AccountId}:root")},
                "Action": "kms:*",
                "Resource": "*",
            }
        ],
    }
