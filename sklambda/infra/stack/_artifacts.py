"""The artifacts bucket: one per account and region for every stage's code and templates.

`ensure_artifacts_bucket` creates it on first use and (re)applies its protections on every
deploy: no public access, default encryption, TLS only, objects expiring after
ARTIFACT_EXPIRY_DAYS. `bucket_exists` serves every bucket lookup of the package.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from sklambda.infra.progress import Progress, quiet
from sklambda.infra.resources import BLOCK_PUBLIC_ACCESS, tls_only_statement
from sklambda.infra.stack._errors import StackError, aws_call, error_code, is_not_found

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

ARTIFACT_EXPIRY_DAYS = 90


def artifacts_bucket_name(account_id: str, region: str) -> str:
    """The bucket holding every stage's code and templates in one account and region."""
    return f"sklambda-artifacts-{account_id}-{region}"


def ensure_artifacts_bucket(
    s3: S3Client, bucket: str, region: str, progress: Progress = quiet
) -> bool:
    """Create `bucket` in `region` unless it exists, then (re)apply its protections.

    Returns True when the bucket was created. The protections are applied on every call so
    a bucket left half-configured by an interrupted first deploy is repaired by the next.
    """
    created = _create_bucket_if_missing(s3, bucket, region)
    _protect_bucket(s3, bucket, region)
    verb = "Created" if created else "Using"
    progress(f"{verb} artifacts bucket {bucket}")
    return created


def _create_bucket_if_missing(s3: S3Client, bucket: str, region: str) -> bool:
    from botocore.exceptions import ClientError

    if bucket_exists(s3, bucket):
        return False
    kwargs: dict[str, Any] = {"Bucket": bucket}
    # us-east-1 is the default location and rejects being named as a LocationConstraint.
    if region != "us-east-1":
        kwargs["CreateBucketConfiguration"] = {"LocationConstraint": region}
    with aws_call(f"create artifacts bucket {bucket}"):
        try:
            s3.create_bucket(**kwargs)
        except ClientError as exc:
            code = error_code(exc)
            if code == "BucketAlreadyOwnedByYou":  # created meanwhile by a concurrent deploy
                return False
            if code == "BucketAlreadyExists":
                raise StackError(
                    f"the artifacts bucket name {bucket} belongs to another AWS account"
                ) from None
            raise
    return True


def bucket_exists(s3: S3Client, bucket: str) -> bool:
    """Whether `bucket` exists (and is visible to these credentials)."""
    from botocore.exceptions import ClientError

    with aws_call(f"look up bucket {bucket}"):
        try:
            s3.head_bucket(Bucket=bucket)
        except ClientError as exc:
            if is_not_found(exc):
                return False
            raise
    return True


def _protect_bucket(s3: S3Client, bucket: str, region: str) -> None:
    with aws_call(f"configure artifacts bucket {bucket}"):
        s3.put_public_access_block(
            Bucket=bucket, PublicAccessBlockConfiguration=BLOCK_PUBLIC_ACCESS
        )
        s3.put_bucket_encryption(
            Bucket=bucket,
            ServerSideEncryptionConfiguration={
                "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
            },
        )
        s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(_tls_only_policy(bucket, region)))
        s3.put_bucket_lifecycle_configuration(
            Bucket=bucket,
            LifecycleConfiguration={
                "Rules": [
                    {
                        "ID": "expire-old-artifacts",
                        "Status": "Enabled",
                        "Filter": {"Prefix": ""},
                        "Expiration": {"Days": ARTIFACT_EXPIRY_DAYS},
                        "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1},
                    }
                ]
            },
        )


def _tls_only_policy(bucket: str, region: str) -> dict[str, Any]:
    arn = f"arn:{_partition(region)}:s3:::{bucket}"
    return {"Version": "2012-10-17", "Statement": [tls_only_statement("s3", [arn, f"{arn}/*"])]}


def _partition(region: str) -> str:
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    return "aws"
