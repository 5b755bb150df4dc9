"""The managed policy for the people who register models (attached to their role by hand).

`sklambda register`, `promote`, `rollback` and the other registry commands read and write the
models prefix (`retire` and `restore` also tag a version's artifacts) and sign each version's
manifest with the stack's key; `sklambda status` reads the monitor's reports. Nothing else:
scoring data, captures and feedback stay with the functions.
"""

from __future__ import annotations

from typing import Any

from sklambda.infra.resources._chalice import StageConfig
from sklambda.infra.resources._intrinsics import arn_of, sub
from sklambda.infra.resources._signing import SIGNING_KEY

REGISTRAR_POLICY = "RegistrarPolicy"
_MODELS_BUCKET_ARN = "arn:${AWS::Partition}:s3:::${ModelsBucket}"
_DATA_BUCKET_ARN = "arn:${AWS::Partition}:s3:::${DataBucket}"


def registrar_policy(config: StageConfig) -> dict[str, Any]:
    """`<stack>-registrar`: what the registry commands need, on this stack's resources only."""
    return {
        REGISTRAR_POLICY: {
            "Type": "AWS::IAM::ManagedPolicy",
            "Properties": {
                "ManagedPolicyName": sub("${AWS::StackName}-registrar"),
                "Description": sub(
                    "sklambda ${AWS::StackName}: register, promote, roll back and sign models"
                ),
                "PolicyDocument": {
                    "Version": "2012-10-17",
                    "Statement": _statements(config),
                },
            },
        }
    }


def _statements(config: StageConfig) -> list[dict[str, Any]]:
    return [
        {
            # Without it S3 answers a missing key with 403, and "no such model" or "no
            # report yet" would read as access denied (the functions' roles do the same).
            "Sid": "ListBucketsSoMissingKeysAre404",
            "Effect": "Allow",
            "Action": ["s3:ListBucket"],
            "Resource": [sub(_MODELS_BUCKET_ARN), sub(_DATA_BUCKET_ARN)],
        },
        {
            "Sid": "ManageRegistry",
            "Effect": "Allow",
            # GetObjectVersion: a signed manifest names each file by its S3 version id.
            # Tagging: `sklambda retire` / `restore` tag a version's artifacts for the
            # bucket's lifecycle rule (no function needs it).
            "Action": [
                "s3:GetObject",
                "s3:GetObjectVersion",
                "s3:PutObject",
                "s3:DeleteObject",
                "s3:GetObjectTagging",
                "s3:PutObjectTagging",
                "s3:DeleteObjectTagging",
            ],
            "Resource": [sub(f"{_MODELS_BUCKET_ARN}/{config.models_prefix}*")],
        },
        {
            "Sid": "ReadReports",
            "Effect": "Allow",
            "Action": ["s3:GetObject"],
            "Resource": [sub(f"{_DATA_BUCKET_ARN}/{config.reports_prefix}*")],
        },
        {
            "Sid": "SignModelVersions",
            "Effect": "Allow",
            "Action": ["kms:Sign", "kms:GetPublicKey"],
            "Resource": [arn_of(SIGNING_KEY)],
        },
    ]
