"""Delete a stack and, only when asked, the buckets it kept with every object version.

CloudFormation keeps the stack's buckets (DeletionPolicy Retain): `destroy_stack` reads their
names before the stack goes, reports the ones that outlived it, and empties and deletes them
(`delete_bucket_and_data`) only with `delete_data=True`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from sklambda.infra.progress import Progress, quiet
from sklambda.infra.stack._artifacts import bucket_exists
from sklambda.infra.stack._deploy import describe_stack, find_stack
from sklambda.infra.stack._errors import StackError, StackNotFoundError, aws_call, refuse_if_busy
from sklambda.infra.stack._events import follow_events, latest_event_ids, stack_failure

if TYPE_CHECKING:
    from mypy_boto3_cloudformation import CloudFormationClient
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.type_defs import ObjectIdentifierTypeDef

DELETE_BATCH = 1000  # DeleteObjects takes at most 1000 keys


@dataclass(frozen=True)
class DestroyResult:
    """The outcome of `destroy_stack`: which buckets outlived the stack, which were deleted."""

    stack_name: str
    stack_id: str
    retained_buckets: tuple[str, ...]
    deleted_buckets: tuple[str, ...]
    deleted_objects: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def destroy_stack(
    cfn: CloudFormationClient,
    s3: S3Client,
    *,
    stack_name: str,
    delete_data: bool = False,
    progress: Progress = quiet,
    poll_seconds: float = 5,
) -> DestroyResult:
    """Delete the stack; its Retain buckets stay unless `delete_data`, which empties them too."""
    stack = find_stack(cfn, stack_name)
    if stack is None:
        raise StackNotFoundError(
            f"stack {stack_name} does not exist in {cfn.meta.region_name}: nothing to destroy"
        )
    refuse_if_busy(stack_name, stack["StackStatus"], "destroy")
    stack_id = stack["StackId"]
    buckets = _stack_buckets(cfn, stack_id)
    seen = latest_event_ids(cfn, stack_id)
    progress(f"Deleting stack {stack_name}")
    with aws_call(f"delete stack {stack_name}"):
        cfn.delete_stack(StackName=stack_id)
    status, events = follow_events(cfn, stack_id, seen, progress, poll_seconds)
    if status != "DELETE_COMPLETE":
        reason = describe_stack(cfn, stack_id).get("StackStatusReason")
        raise stack_failure("destroy", stack_name, status, events, reason)
    progress(f"Stack {stack_name} is deleted")

    retained = tuple(bucket for bucket in buckets if bucket_exists(s3, bucket))
    if not delete_data:
        for bucket in retained:
            progress(f"Kept bucket {bucket} and its data (DeletionPolicy Retain)")
        return DestroyResult(stack_name, stack_id, retained, (), 0)
    deleted_objects = sum(delete_bucket_and_data(s3, bucket, progress) for bucket in retained)
    return DestroyResult(stack_name, stack_id, (), retained, deleted_objects)


def _stack_buckets(cfn: CloudFormationClient, stack_id: str) -> list[str]:
    """Physical names of the stack's S3 buckets, read before they leave the stack."""
    buckets = []
    with aws_call("list the stack's resources"):
        for page in cfn.get_paginator("list_stack_resources").paginate(StackName=stack_id):
            for resource in page["StackResourceSummaries"]:
                name = resource.get("PhysicalResourceId")  # absent if it was never created
                if resource["ResourceType"] == "AWS::S3::Bucket" and name:
                    buckets.append(name)
    return buckets


def delete_bucket_and_data(s3: S3Client, bucket: str, progress: Progress = quiet) -> int:
    """Delete every object version and delete marker, then the bucket; return how many."""
    deleted = 0
    while batch := _first_versions(s3, bucket):
        for start in range(0, len(batch), DELETE_BATCH):
            deleted += _delete_versions(s3, bucket, batch[start : start + DELETE_BATCH])
        progress(f"Emptying bucket {bucket}: {deleted:,} object versions deleted")
    with aws_call(f"delete bucket {bucket}", bucket):
        s3.delete_bucket(Bucket=bucket)
    progress(f"Deleted bucket {bucket} ({deleted:,} object versions and delete markers)")
    return deleted


def _first_versions(s3: S3Client, bucket: str) -> list[ObjectIdentifierTypeDef]:
    # Always the first page: what was listed before is deleted by now, so no markers needed.
    with aws_call(f"list the objects of {bucket}", bucket):
        page = s3.list_object_versions(Bucket=bucket, MaxKeys=DELETE_BATCH)
    entries = [*page.get("Versions", []), *page.get("DeleteMarkers", [])]
    return [{"Key": e["Key"], "VersionId": e.get("VersionId", "null")} for e in entries]


def _delete_versions(s3: S3Client, bucket: str, versions: list[ObjectIdentifierTypeDef]) -> int:
    with aws_call(f"delete objects of {bucket}", bucket):
        response = s3.delete_objects(
            Bucket=bucket,
            Delete={"Objects": versions, "Quiet": True},
        )
    errors = response.get("Errors", [])
    if errors:
        first = errors[0]
        raise StackError(
            f"could not delete {len(errors)} objects of bucket {bucket}, e.g. "
            f"{first.get('Key')}: {first.get('Code')} {first.get('Message', '')}".rstrip()
        )
    return len(versions)
