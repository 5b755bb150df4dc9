"""The models and data buckets, and the customer key that encrypts them in KMS mode.

Buckets get fixed names, `<stack>-models-<account>-<region>` and `-data-`, because the
batch and aggregate queues' policies must name the data bucket before the bucket exists (the
bucket's notifications need the policies first: a Ref would be a cycle). Both are kept when
the stack is deleted (DeletionPolicy Retain): data outlives deployments.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chalicelib.monitoring._sources import MANIFEST_SUFFIX
from chalicelib.registry import RETIRED_TAG_KEY, RETIRED_TAG_VALUE
from sklambda.infra.resources._chalice import StageConfig
from sklambda.infra.resources._intrinsics import arn_of, ref, sub, tls_only_statement

if TYPE_CHECKING:
    from mypy_boto3_s3.type_defs import PublicAccessBlockConfigurationTypeDef

MODELS_BUCKET_NAME = "${AWS::StackName}-models-${AWS::AccountId}-${AWS::Region}"
DATA_BUCKET_NAME = "${AWS::StackName}-data-${AWS::AccountId}-${AWS::Region}"
# Every bucket sklambda makes has all four public-access blocks: the stack's buckets here,
# the artifacts bucket through the S3 API, which takes the same configuration.
BLOCK_PUBLIC_ACCESS: PublicAccessBlockConfigurationTypeDef = {
    "BlockPublicAcls": True,
    "BlockPublicPolicy": True,
    "IgnorePublicAcls": True,
    "RestrictPublicBuckets": True,
}


def encryption_key() -> dict[str, Any]:
    """A customer key for the buckets when EncryptionMode is KMS.

    Like S3's managed key, it may be used by principals of this account through S3 only;
    what they can read is still decided by their S3 permissions.
    """
    admin = [
        "kms:Create*",
        "kms:Describe*",
        "kms:Enable*",
        "kms:List*",
        "kms:Put*",
        "kms:Update*",
        "kms:Revoke*",
        "kms:Disable*",
        "kms:Get*",
        "kms:Delete*",
        "kms:TagResource",
        "kms:UntagResource",
        "kms:ScheduleKeyDeletion",
        "kms:CancelKeyDeletion",
    ]
    use = ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*"]
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "AccountAdministers",
                "Effect": "Allow",
                "Principal": {"AWS": sub("arn:${AWS::Partition}:iam::${AWS::AccountId}:root")},
                "Action": admin,
                "Resource": "*",
            },
            {
                "Sid": "UseThroughS3InThisAccount",
                "Effect": "Allow",
                "Principal": {"AWS": "*"},
                "Action": [*use, "kms:DescribeKey"],
                "Resource": "*",
                "Condition": {
                    "StringEquals": {
                        "kms:CallerAccount": ref("AWS::AccountId"),
                        "kms:ViaService": sub("s3.${AWS::Region}.amazonaws.com"),
                    }
                },
            },
        ],
    }
    return {
        "DataKey": {
            "Type": "AWS::KMS::Key",
            "Condition": "UseKms",
            "DeletionPolicy": "Retain",
            "UpdateReplacePolicy": "Retain",
            "Properties": {
                "Description": sub("sklambda ${AWS::StackName}: model and data buckets"),
                "EnableKeyRotation": True,
                "KeyPolicy": policy,
            },
        }
    }


def _bucket_encryption() -> dict[str, Any]:
    kms = {
        "SSEAlgorithm": "aws:kms",
        "KMSMasterKeyID": arn_of("DataKey"),
    }
    return {
        "ServerSideEncryptionConfiguration": [
            {
                "ServerSideEncryptionByDefault": {
                    "Fn::If": ["UseKms", kms, {"SSEAlgorithm": "AES256"}]
                },
                # Bucket keys cut KMS requests (and cost) by orders of magnitude.
                "BucketKeyEnabled": {"Fn::If": ["UseKms", True, False]},
            }
        ]
    }


def buckets(config: StageConfig) -> dict[str, Any]:
    """Private, encrypted, versioned buckets, TLS only; data is kept when the stack goes."""
    batch = config.batch_prefix
    models_rules: list[dict[str, Any]] = [
        {
            "Id": "ExpireOldVersions",
            "Status": "Enabled",
            "NoncurrentVersionExpiration": {"NoncurrentDays": 90},
            "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 7},
        },
        {
            # `sklambda retire` tags a version's artifacts (never metadata, history or
            # aliases); Glacier Instant Retrieval still reads them at once after a restore.
            "Id": "ArchiveRetiredArtifacts",
            "Status": "Enabled",
            "Prefix": config.models_prefix,
            "TagFilters": [{"Key": RETIRED_TAG_KEY, "Value": RETIRED_TAG_VALUE}],
            "Transitions": [
                {"StorageClass": "GLACIER_IR", "TransitionInDays": ref("RetiredArtifactsDays")}
            ],
        },
    ]
    data_rules = [
        {
            "Id": "ExpireCapture",
            "Status": "Enabled",
            "Prefix": config.capture_prefix,
            "ExpirationInDays": ref("CaptureRetentionDays"),
        },
        {
            # The monitor's hourly aggregates of the capture: of no use once it is gone.
            "Id": "ExpireCapturePartials",
            "Status": "Enabled",
            "Prefix": f"{config.reports_prefix}_partials/",
            "ExpirationInDays": ref("CaptureRetentionDays"),
        },
        {
            "Id": "ExpireBatchParts",
            "Status": "Enabled",
            "Prefix": f"{batch}_jobs/",
            "ExpirationInDays": ref("TemporaryRetentionDays"),
        },
        {
            "Id": "ExpireOldVersionsAndUploads",
            "Status": "Enabled",
            "NoncurrentVersionExpiration": {"NoncurrentDays": 30},
            "AbortIncompleteMultipartUpload": {
                "DaysAfterInitiation": ref("TemporaryRetentionDays")
            },
        },
    ]
    models = _bucket(MODELS_BUCKET_NAME, models_rules)
    data = _bucket(DATA_BUCKET_NAME, data_rules)
    # S3 checks it may send to each queue before it saves the notifications.
    data["DependsOn"] = ["BatchQueuePolicy", "AggregateQueuePolicy"]
    data["Properties"]["NotificationConfiguration"] = {
        "QueueConfigurations": [
            # Only the incoming prefix: outputs must never trigger the scorer again.
            _notify("BatchQueue", f"{batch}incoming/"),
            # What the monitor aggregates, as it lands: Firehose's capture deliveries, feedback,
            # and a scored batch file's manifest (written last, once its outputs are there).
            # The aggregating function writes only under the reports prefix: no loop.
            _notify("AggregateQueue", config.capture_prefix),
            _notify("AggregateQueue", config.feedback_prefix),
            _notify("AggregateQueue", f"{batch}scored/", suffix=MANIFEST_SUFFIX),
        ]
    }
    return {
        "ModelsBucket": models,
        "ModelsBucketPolicy": _tls_only_policy("ModelsBucket"),
        "DataBucket": data,
        "DataBucketPolicy": _tls_only_policy("DataBucket"),
    }


def _notify(queue: str, prefix: str, *, suffix: str = "") -> dict[str, Any]:
    """The data bucket's notification of objects created under `prefix` to `queue`."""
    rules = [{"Name": "prefix", "Value": prefix}]
    if suffix:
        rules.append({"Name": "suffix", "Value": suffix})
    return {
        "Event": "s3:ObjectCreated:*",
        "Queue": arn_of(queue),
        "Filter": {"S3Key": {"Rules": rules}},
    }


def data_bucket_sends(queue: str) -> dict[str, Any]:
    """A queue policy statement: S3 may send to `queue`, for this stack's data bucket only."""
    return {
        "Sid": "DataBucketNotifies",
        "Effect": "Allow",
        "Principal": {"Service": "s3.amazonaws.com"},
        "Action": "sqs:SendMessage",
        "Resource": arn_of(queue),
        "Condition": {
            "ArnEquals": {"aws:SourceArn": sub(f"arn:${{AWS::Partition}}:s3:::{DATA_BUCKET_NAME}")},
            "StringEquals": {"aws:SourceAccount": ref("AWS::AccountId")},
        },
    }


def _bucket(name: str, rules: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "Type": "AWS::S3::Bucket",
        "DeletionPolicy": "Retain",
        "UpdateReplacePolicy": "Retain",
        "Properties": {
            "BucketName": sub(name),
            "BucketEncryption": _bucket_encryption(),
            "PublicAccessBlockConfiguration": dict(BLOCK_PUBLIC_ACCESS),
            "OwnershipControls": {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]},
            "VersioningConfiguration": {"Status": "Enabled"},
            "LifecycleConfiguration": {"Rules": rules},
        },
    }


def _tls_only_policy(bucket: str) -> dict[str, Any]:
    bucket_arn = arn_of(bucket)
    objects = {"Fn::Sub": ["${Arn}/*", {"Arn": bucket_arn}]}
    return {
        "Type": "AWS::S3::BucketPolicy",
        "Properties": {
            "Bucket": ref(bucket),
            "PolicyDocument": {
                "Version": "2012-10-17",
                "Statement": [tls_only_statement("s3", [bucket_arn, objects])],
            },
        },
    }
