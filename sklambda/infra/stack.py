"""Deploy and destroy a stage's CloudFormation stack, the way `sam deploy` does.

`sklambda deploy --stage prod` runs, in order:

- `artifacts_bucket_name(account_id, region)`: the per-account, per-region bucket for code and
  templates; `ensure_artifacts_bucket(s3, bucket, region, progress)` creates and locks it down.
- `upload_artifacts(s3, bucket, stack_name, template, files, progress=...)`: uploads each zip
  once per content, rewrites the `CodeUri`/`ContentUri` that name them, uploads the template
  and returns `UploadedArtifacts` (the rewritten template and its `template_url`).
- `deploy_stack(cfn, stack_name=..., template_url=..., parameters=..., tags=..., progress=...)`:
  change set, its changes, execution, live stack events, and a `DeployResult` with the outputs.

`--dry-run` makes no AWS call: `summarize_template(template)` lists what the stack would hold.

`sklambda destroy --stage prod [--delete-data]` runs `destroy_stack(cfn, s3, ...)`, which
deletes the stack, reports the buckets CloudFormation kept (DeletionPolicy Retain) and, only
with `delete_data=True`, deletes them with every object version (`delete_bucket_and_data`).

Every function takes its boto3 clients as arguments (see `chalicelib.storage.AwsClients`) and
reports through `progress`, one line per call; `format_changes`, `format_event` and
`format_outputs` build those lines. Failures raise `StackError` (a `SklambdaError`, so the CLI
prints one line): `StackStateError` when the stack is busy or must be destroyed first,
`StackNotFoundError`, and `StackFailedError`, whose message names the first failed resource
with CloudFormation's reason. AWS refusals surface as `AwsAccessError` naming the action.
"""

from __future__ import annotations

import copy
import hashlib
import json
import posixpath
import secrets
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, cast

from chalicelib.core import AwsAccessError, SklambdaError
from chalicelib.storage import translate_aws_errors

if TYPE_CHECKING:
    from mypy_boto3_cloudformation import CloudFormationClient
    from mypy_boto3_cloudformation.literals import CapabilityType
    from mypy_boto3_cloudformation.type_defs import (
        DescribeChangeSetOutputTypeDef,
        StackEventTypeDef,
        StackTypeDef,
    )
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.type_defs import ObjectIdentifierTypeDef

Progress = Callable[[str], None]
ChangeSetType = Literal["CREATE", "UPDATE"]

DEFAULT_CAPABILITIES = ("CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND")
ARTIFACT_EXPIRY_DAYS = 90
MAX_TEMPLATE_BYTES = 1024 * 1024  # TemplateURL's limit; inline TemplateBody stops at 51,200
DELETE_BATCH = 1000  # DeleteObjects takes at most 1000 keys

_STACK_TYPE = "AWS::CloudFormation::Stack"
_SUCCESS = {"CREATE": "CREATE_COMPLETE", "UPDATE": "UPDATE_COMPLETE"}
_NO_CHANGES = ("didn't contain changes", "No updates are to be performed")
# States CloudFormation cannot update, and why; the stack has to be destroyed first.
_BLOCKED_STATES = {
    "ROLLBACK_COMPLETE": "its first deployment failed and CloudFormation cannot update it",
    "ROLLBACK_FAILED": "its first deployment failed and could not be rolled back",
    "DELETE_FAILED": "an earlier delete failed",
}
_CODE_URI_KEYS = ("CodeUri", "ContentUri")
_SYMBOLS = {"Add": "+", "Modify": "~", "Remove": "-", "Import": "<", "Dynamic": "?"}


def _quiet(line: str) -> None:
    """The default `progress`: say nothing."""


class StackError(SklambdaError):
    """A stack operation that could not start or did not finish."""

    status_code = 500
    code = "StackError"


class StackNotFoundError(StackError):
    """The stack to destroy does not exist."""

    status_code = 404
    code = "StackNotFound"


class StackStateError(StackError):
    """The stack is busy or in a state that forbids the operation."""

    status_code = 409
    code = "StackState"


class StackFailedError(StackError):
    """CloudFormation ran the operation and it failed; `details` names the failed resource."""

    code = "StackFailed"


@dataclass(frozen=True)
class ResourceChange:
    """One line of a change set."""

    action: str
    logical_id: str
    resource_type: str
    replacement: str | None = None


@dataclass(frozen=True)
class UploadedArtifacts:
    """What `upload_artifacts` put in S3, and the template that points at it."""

    template: dict[str, Any]
    template_url: str
    uploaded: tuple[str, ...]
    reused: tuple[str, ...]


@dataclass(frozen=True)
class DeployResult:
    """The outcome of `deploy_stack`; `changed` is False when there was nothing to do."""

    stack_name: str
    stack_id: str
    status: str
    changed: bool
    changes: tuple[ResourceChange, ...]
    outputs: dict[str, str]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


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


# --- Dry run -------------------------------------------------------------------------------


def summarize_template(template: Mapping[str, Any]) -> list[str]:
    """Lines describing the template's resources by type and logical id; no AWS call."""
    resources: Mapping[str, Any] = template.get("Resources", {})
    lines = [f"{len(resources)} resources{_transform_note(template)}:"]
    rows = sorted((body.get("Type", "?"), name) for name, body in resources.items())
    width = max((len(kind) for kind, _ in rows), default=0)
    for kind, name in rows:
        notes = _resource_notes(resources[name])
        lines.append(f"  {kind.ljust(width)}  {name}{notes}".rstrip())
    for section in ("Parameters", "Outputs"):
        if template.get(section):
            lines.append(f"{section}: {', '.join(template[section])}")
    return lines


def _transform_note(template: Mapping[str, Any]) -> str:
    transform = template.get("Transform")
    if not transform:
        return ""
    names = ", ".join(transform) if isinstance(transform, list) else str(transform)
    return f" before the {names} transform expands the AWS::Serverless ones"


def _resource_notes(body: Mapping[str, Any]) -> str:
    notes = []
    if body.get("DeletionPolicy") == "Retain":
        notes.append("kept when the stack is deleted")
    properties = body.get("Properties") or {}
    for key in _CODE_URI_KEYS:
        if isinstance(properties.get(key), str):
            notes.append(f"code {properties[key]}")
    return f"  ({'; '.join(notes)})" if notes else ""


# --- Artifacts bucket ----------------------------------------------------------------------


def artifacts_bucket_name(account_id: str, region: str) -> str:
    """The bucket holding every stage's code and templates in one account and region."""
    return f"sklambda-artifacts-{account_id}-{region}"


def ensure_artifacts_bucket(
    s3: S3Client, bucket: str, region: str, progress: Progress = _quiet
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
    with _aws_call(f"create artifacts bucket {bucket}"):
        try:
            s3.create_bucket(**kwargs)
        except ClientError as exc:
            code = _error_code(exc)
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

    with _aws_call(f"look up bucket {bucket}"):
        try:
            s3.head_bucket(Bucket=bucket)
        except ClientError as exc:
            if _error_code(exc) in {"404", "NoSuchBucket", "NotFound"}:
                return False
            raise
    return True


def _protect_bucket(s3: S3Client, bucket: str, region: str) -> None:
    with _aws_call(f"configure artifacts bucket {bucket}"):
        s3.put_public_access_block(
            Bucket=bucket,
            PublicAccessBlockConfiguration={
                "BlockPublicAcls": True,
                "IgnorePublicAcls": True,
                "BlockPublicPolicy": True,
                "RestrictPublicBuckets": True,
            },
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
    from sklambda.infra.resources import tls_only_statement

    arn = f"arn:{_partition(region)}:s3:::{bucket}"
    return {"Version": "2012-10-17", "Statement": [tls_only_statement("s3", [arn, f"{arn}/*"])]}


def _partition(region: str) -> str:
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    return "aws"


# --- Uploads -------------------------------------------------------------------------------


def upload_artifacts(
    s3: S3Client,
    bucket: str,
    stack_name: str,
    template: Mapping[str, Any],
    files: Mapping[str, Path],
    *,
    progress: Progress = _quiet,
) -> UploadedArtifacts:
    """Upload `files` and the template they make deployable; the input template is untouched.

    `files` maps each `CodeUri`/`ContentUri` as written in the template (`./deployment.zip`)
    to the local file. Keys are `<stack>/<sha256><suffix>`, so unchanged code is uploaded once.
    """
    locations: dict[str, str] = {}
    uploaded: list[str] = []
    reused: list[str] = []
    for uri, path in files.items():
        key = f"{stack_name}/{_file_sha256(path)}{path.suffix}"
        sent = _put_file_once(s3, bucket, key, path)
        (uploaded if sent else reused).append(key)
        progress(f"{'Uploaded' if sent else 'Unchanged'} {path.name} -> s3://{bucket}/{key}")
        locations[posixpath.normpath(uri)] = f"s3://{bucket}/{key}"

    rewritten = _with_code_locations(template, locations)
    body = json.dumps(rewritten, indent=1, sort_keys=True).encode()
    if len(body) > MAX_TEMPLATE_BYTES:
        raise StackError(
            f"the template is {len(body):,} bytes; CloudFormation accepts at most "
            f"{MAX_TEMPLATE_BYTES:,}: split the stack or trim the dashboard"
        )
    template_key = f"{stack_name}/{hashlib.sha256(body).hexdigest()}.template.json"
    sent = _put_bytes_once(s3, bucket, template_key, body)
    (uploaded if sent else reused).append(template_key)
    verb = "Uploaded" if sent else "Unchanged"
    progress(f"{verb} template ({len(body):,} bytes) -> s3://{bucket}/{template_key}")
    return UploadedArtifacts(
        template=rewritten,
        template_url=_https_url(s3, bucket, template_key),
        uploaded=tuple(uploaded),
        reused=tuple(reused),
    )


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    try:
        with path.open("rb") as stream:
            for chunk in iter(lambda: stream.read(1024 * 1024), b""):
                digest.update(chunk)
    except FileNotFoundError:
        raise StackError(f"{path} does not exist: build the deployment package first") from None
    return digest.hexdigest()


def _put_file_once(s3: S3Client, bucket: str, key: str, path: Path) -> bool:
    """Upload unless the key exists; True when bytes were sent."""
    if _refresh_if_present(s3, bucket, key):
        return False
    with _aws_call(f"upload {path.name}", bucket):
        s3.upload_file(str(path), bucket, key)  # multipart for large zips
    return True


def _put_bytes_once(s3: S3Client, bucket: str, key: str, body: bytes) -> bool:
    if _refresh_if_present(s3, bucket, key):
        return False
    with _aws_call(f"upload {key}", bucket):
        s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType="application/json")
    return True


def _refresh_if_present(s3: S3Client, bucket: str, key: str) -> bool:
    """True when `key` exists, after restarting its lifecycle clock.

    Objects expire ARTIFACT_EXPIRY_DAYS after they were written. Code deployed unchanged for
    longer must survive: rolling back a failed update redeploys it from this very key.
    """
    from botocore.exceptions import ClientError

    with _aws_call(f"check {key}", bucket):
        try:
            head = s3.head_object(Bucket=bucket, Key=key)
        except ClientError as exc:
            if _error_code(exc) in {"404", "NoSuchKey", "NotFound"}:
                return False
            raise
        # Copying an object onto itself is allowed only when its metadata is "replaced".
        s3.copy_object(
            Bucket=bucket,
            Key=key,
            CopySource={"Bucket": bucket, "Key": key},
            MetadataDirective="REPLACE",
            ContentType=head.get("ContentType", "application/octet-stream"),
            Metadata=head.get("Metadata", {}),
        )
    return True


def _with_code_locations(template: Mapping[str, Any], locations: Mapping[str, str]) -> dict:
    """A deep copy of `template` whose local CodeUri/ContentUri point at the uploaded keys."""
    rewritten = copy.deepcopy(dict(template))
    for owner, key in _code_uri_fields(rewritten):
        value = owner[key]
        if value.startswith("s3://"):
            continue
        location = locations.get(posixpath.normpath(value))
        if location is None:
            raise StackError(
                f"the template's {key} {value!r} names no file given to upload "
                f"(files: {', '.join(sorted(locations)) or 'none'})"
            )
        owner[key] = location
    return rewritten


def _code_uri_fields(node: Any) -> Iterator[tuple[dict[str, Any], str]]:
    """Every (dict, key) holding a string CodeUri/ContentUri: in resources and in Globals."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key in _CODE_URI_KEYS and isinstance(value, str):
                yield node, key
            else:
                yield from _code_uri_fields(value)
    elif isinstance(node, list):
        for item in node:
            yield from _code_uri_fields(item)


def _https_url(s3: S3Client, bucket: str, key: str) -> str:
    # Path style on the client's own endpoint, as `aws cloudformation package` builds it: it
    # names the bucket's region and also works against a local endpoint.
    return f"{s3.meta.endpoint_url}/{bucket}/{key}"


# --- Deploy --------------------------------------------------------------------------------


def deploy_stack(
    cfn: CloudFormationClient,
    *,
    stack_name: str,
    template_url: str,
    parameters: Mapping[str, str] | None = None,
    tags: Mapping[str, str] | None = None,
    capabilities: Sequence[str] = DEFAULT_CAPABILITIES,
    progress: Progress = _quiet,
    poll_seconds: float = 5,
) -> DeployResult:
    """Create or update `stack_name` through a change set and follow it to the end.

    Raises StackStateError when the stack cannot be updated now, StackFailedError naming the
    first failed resource when CloudFormation rolls back.
    """
    change_set_type = _change_set_type(stack_name, find_stack(cfn, stack_name))
    change_set_id, stack_id = _create_change_set(
        cfn, stack_name, change_set_type, template_url, parameters, tags, capabilities, progress
    )
    description = _wait_for_change_set(cfn, change_set_id, poll_seconds)
    if _has_no_changes(description):
        return _nothing_to_deploy(cfn, stack_name, change_set_id, stack_id, progress)
    if description["Status"] != "CREATE_COMPLETE":
        raise StackError(
            f"CloudFormation rejected the change set for stack {stack_name}: "
            f"{description.get('StatusReason', description['Status'])}"
        )

    changes = _all_changes(cfn, description)
    for line in format_changes(stack_name, changes):
        progress(line)
    status, events = _execute_change_set(
        cfn, change_set_id, stack_id, change_set_type, progress, poll_seconds
    )
    stack = _describe_stack(cfn, stack_id)
    if status != _SUCCESS[change_set_type]:
        raise _failure("deploy", stack_name, status, events, stack.get("StackStatusReason"))
    result = _result(stack, changed=True, changes=tuple(changes))
    for line in format_outputs(result.outputs):
        progress(line)
    progress(f"Stack {stack_name} is {status}")
    return result


def _create_change_set(
    cfn: CloudFormationClient,
    stack_name: str,
    change_set_type: ChangeSetType,
    template_url: str,
    parameters: Mapping[str, str] | None,
    tags: Mapping[str, str] | None,
    capabilities: Sequence[str],
    progress: Progress,
) -> tuple[str, str]:
    """(change set id, stack id) of a new change set; a CREATE one also creates the stack."""
    change_set_name = _new_change_set_name()
    progress(f"Creating change set {change_set_name} for stack {stack_name}")
    with _aws_call(f"create a change set for stack {stack_name}"):
        created = cfn.create_change_set(
            StackName=stack_name,
            ChangeSetName=change_set_name,
            ChangeSetType=change_set_type,
            TemplateURL=template_url,
            Parameters=[
                {"ParameterKey": k, "ParameterValue": v} for k, v in (parameters or {}).items()
            ],
            Tags=[{"Key": k, "Value": v} for k, v in (tags or {}).items()],
            Capabilities=cast("list[CapabilityType]", list(capabilities)),
            Description="sklambda deploy",
        )
    return created["Id"], created["StackId"]


def _nothing_to_deploy(
    cfn: CloudFormationClient,
    stack_name: str,
    change_set_id: str,
    stack_id: str,
    progress: Progress,
) -> DeployResult:
    # CloudFormation keeps empty change sets around; they only clutter the console.
    with _aws_call(f"delete the empty change set of stack {stack_name}"):
        cfn.delete_change_set(ChangeSetName=change_set_id)
    progress(f"No changes to deploy: stack {stack_name} is up to date")
    return _result(_describe_stack(cfn, stack_id), changed=False, changes=())


def _execute_change_set(
    cfn: CloudFormationClient,
    change_set_id: str,
    stack_id: str,
    change_set_type: ChangeSetType,
    progress: Progress,
    poll_seconds: float,
) -> tuple[str, list[StackEventTypeDef]]:
    """Run the change set and follow its events; (final stack status, events)."""
    seen = _latest_event_ids(cfn, stack_id)
    with _aws_call("execute the change set"):
        # A failed first deployment must not leave its new Retain buckets behind: they would
        # block the next attempt, which creates buckets with the same fixed names.
        cfn.execute_change_set(ChangeSetName=change_set_id, RetainExceptOnCreate=True)
    progress(f"Waiting for the stack to {change_set_type.lower()}")
    return _follow_events(cfn, stack_id, seen, progress, poll_seconds)


def find_stack(cfn: CloudFormationClient, stack_name: str) -> StackTypeDef | None:
    """The stack, or None when it does not exist."""
    from botocore.exceptions import ClientError

    with _aws_call(f"look up stack {stack_name}"):
        try:
            return cfn.describe_stacks(StackName=stack_name)["Stacks"][0]
        except ClientError as exc:
            if _error_code(exc) == "ValidationError" and "does not exist" in _error_message(exc):
                return None
            raise


def _describe_stack(cfn: CloudFormationClient, stack_id: str) -> StackTypeDef:
    with _aws_call(f"describe stack {stack_id}"):
        return cfn.describe_stacks(StackName=stack_id)["Stacks"][0]


def _change_set_type(stack_name: str, stack: StackTypeDef | None) -> ChangeSetType:
    """CREATE or UPDATE; StackStateError when the stack cannot take a change set now."""
    if stack is None or stack["StackStatus"] == "REVIEW_IN_PROGRESS":
        return "CREATE"  # REVIEW_IN_PROGRESS: created by a change set never executed
    status = stack["StackStatus"]
    if status.endswith("_IN_PROGRESS"):
        raise StackStateError(
            f"stack {stack_name} is busy ({status}): wait for the running operation to "
            "finish, then deploy again"
        )
    if status in _BLOCKED_STATES:
        raise StackStateError(
            f"stack {stack_name} is in {status}: {_BLOCKED_STATES[status]}. The stack must be "
            "destroyed first (sklambda destroy), then deployed again"
        )
    if status == "UPDATE_ROLLBACK_FAILED":
        raise StackStateError(
            f"stack {stack_name} is in UPDATE_ROLLBACK_FAILED: fix what blocked the rollback, "
            f"run `aws cloudformation continue-update-rollback --stack-name {stack_name}`, "
            "then deploy again"
        )
    return "UPDATE"


def _new_change_set_name() -> str:
    # Must start with a letter; the suffix keeps two deploys in the same second apart.
    return f"sklambda-{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"


def _wait_for_change_set(
    cfn: CloudFormationClient, change_set_id: str, poll_seconds: float
) -> DescribeChangeSetOutputTypeDef:
    while True:
        with _aws_call("describe the change set"):
            description = cfn.describe_change_set(ChangeSetName=change_set_id)
        if description["Status"] not in {"CREATE_PENDING", "CREATE_IN_PROGRESS"}:
            return description
        time.sleep(poll_seconds)


def _has_no_changes(description: DescribeChangeSetOutputTypeDef) -> bool:
    reason = description.get("StatusReason", "")
    return description["Status"] == "FAILED" and any(text in reason for text in _NO_CHANGES)


def _all_changes(
    cfn: CloudFormationClient, description: DescribeChangeSetOutputTypeDef
) -> list[ResourceChange]:
    changes = _resource_changes(description)
    token = description.get("NextToken")
    while token:
        with _aws_call("describe the change set"):
            page = cfn.describe_change_set(
                ChangeSetName=description["ChangeSetId"], NextToken=token
            )
        changes += _resource_changes(page)
        token = page.get("NextToken")
    return changes


def _resource_changes(description: DescribeChangeSetOutputTypeDef) -> list[ResourceChange]:
    changes = []
    for change in description.get("Changes", []):
        resource = change.get("ResourceChange", {})
        changes.append(
            ResourceChange(
                action=resource.get("Action", "?"),
                logical_id=resource.get("LogicalResourceId", "?"),
                resource_type=resource.get("ResourceType", "?"),
                replacement=resource.get("Replacement"),
            )
        )
    return changes


def format_changes(stack_name: str, changes: Sequence[ResourceChange]) -> list[str]:
    """The change set as aligned lines: `+ Add  Logical  Type`, replacement noted on Modify."""
    lines = [f"Changes to stack {stack_name} ({len(changes)}):"]
    id_width = max((len(c.logical_id) for c in changes), default=0)
    type_width = max((len(c.resource_type) for c in changes), default=0)
    for change in changes:
        symbol = _SYMBOLS.get(change.action, "*")
        line = (
            f"  {symbol} {change.action:<7} {change.logical_id:<{id_width}}  "
            f"{change.resource_type:<{type_width}}"
        )
        if change.action == "Modify" and change.replacement:
            line += f"  replacement: {change.replacement}"
        lines.append(line.rstrip())
    return lines


def format_outputs(outputs: Mapping[str, str]) -> list[str]:
    """The stack outputs as `Key = value` lines under a heading."""
    if not outputs:
        return []
    width = max(len(key) for key in outputs)
    return ["Outputs:"] + [f"  {key:<{width}} = {value}" for key, value in outputs.items()]


def _result(
    stack: StackTypeDef, *, changed: bool, changes: tuple[ResourceChange, ...]
) -> DeployResult:
    outputs = {o["OutputKey"]: o.get("OutputValue", "") for o in stack.get("Outputs", [])}
    return DeployResult(
        stack_name=stack["StackName"],
        stack_id=stack["StackId"],
        status=stack["StackStatus"],
        changed=changed,
        changes=changes,
        outputs=outputs,
    )


# --- Stack events --------------------------------------------------------------------------


def _latest_event_ids(cfn: CloudFormationClient, stack_id: str) -> set[str]:
    """The newest event id already there, so that only later events are shown."""
    with _aws_call("read the stack events"):
        events = cfn.describe_stack_events(StackName=stack_id)["StackEvents"]
    return {events[0]["EventId"]} if events else set()


def _follow_events(
    cfn: CloudFormationClient,
    stack_id: str,
    seen: set[str],
    progress: Progress,
    poll_seconds: float,
) -> tuple[str, list[StackEventTypeDef]]:
    """Print new events until the stack itself reaches a final status; return both.

    The stack's own events decide the end rather than DescribeStacks, which can still show
    the previous final status for a moment after a change set starts executing.
    """
    events: list[StackEventTypeDef] = []
    while True:
        fresh = _new_events(cfn, stack_id, seen)
        for event in fresh:
            progress(format_event(event))
        events += fresh
        final = next((e["ResourceStatus"] for e in reversed(fresh) if _is_final(e)), None)
        if final is not None:
            return final, events
        time.sleep(poll_seconds)


def _new_events(
    cfn: CloudFormationClient, stack_id: str, seen: set[str]
) -> list[StackEventTypeDef]:
    """Events not in `seen`, oldest first (the API lists newest first, in pages)."""
    fresh: list[StackEventTypeDef] = []
    token: str | None = None
    while True:
        with _aws_call("read the stack events"):
            page = (
                cfn.describe_stack_events(StackName=stack_id, NextToken=token)
                if token
                else cfn.describe_stack_events(StackName=stack_id)
            )
        for event in page["StackEvents"]:
            if event["EventId"] in seen:
                return _remember(fresh, seen)
            fresh.append(event)
        token = page.get("NextToken")
        if not token:
            return _remember(fresh, seen)


def _remember(fresh: list[StackEventTypeDef], seen: set[str]) -> list[StackEventTypeDef]:
    seen.update(event["EventId"] for event in fresh)
    return fresh[::-1]


def _is_stack_event(event: StackEventTypeDef) -> bool:
    # A nested stack is also an AWS::CloudFormation::Stack, under its own logical id.
    is_stack_type = event.get("ResourceType") == _STACK_TYPE
    return is_stack_type and event.get("LogicalResourceId") == event.get("StackName")


def _is_final(event: StackEventTypeDef) -> bool:
    status = event.get("ResourceStatus", "")
    return _is_stack_event(event) and not status.endswith("_IN_PROGRESS")


def format_event(event: StackEventTypeDef) -> str:
    """One event as `time  status  type  logical id  reason`."""
    timestamp = event["Timestamp"].astimezone(UTC).strftime("%H:%M:%S")
    line = (
        f"{timestamp}  {event.get('ResourceStatus', ''):<30} "
        f"{event.get('ResourceType', ''):<34} {event.get('LogicalResourceId', '')}"
    )
    reason = event.get("ResourceStatusReason")
    return f"{line}  {reason}" if reason else line


def _failure(
    operation: str,
    stack_name: str,
    status: str,
    events: Sequence[StackEventTypeDef],
    stack_reason: str | None,
) -> StackFailedError:
    culprit = _first_failed_resource(events)
    if culprit is None:
        what = stack_reason or "CloudFormation gave no reason"
        resource = reason = None
    else:
        resource = culprit.get("LogicalResourceId")
        # The CLI prints one line; some reasons span several.
        reason = " ".join(culprit.get("ResourceStatusReason", "no reason given").split())
        what = (
            f"{resource} ({culprit.get('ResourceType')}) {culprit.get('ResourceStatus')}: {reason}"
        )
    return StackFailedError(
        f"{operation} of stack {stack_name} failed ({status}): {what}{_after_failure(status)}",
        details={"stack": stack_name, "status": status, "resource": resource, "reason": reason},
    )


def _first_failed_resource(events: Sequence[StackEventTypeDef]) -> StackEventTypeDef | None:
    """The earliest failed resource, skipping those cancelled because another one failed."""
    failed = [
        e
        for e in events
        if e.get("ResourceStatus", "").endswith("_FAILED") and not _is_stack_event(e)
    ]
    causes = [e for e in failed if "cancelled" not in e.get("ResourceStatusReason", "").lower()]
    candidates = causes or failed
    return candidates[0] if candidates else None


def _after_failure(status: str) -> str:
    if status == "UPDATE_ROLLBACK_COMPLETE":
        return "; the stack rolled back and the previous version is still running"
    if status == "DELETE_FAILED":
        return "; fix the cause, then destroy again"
    if status in _BLOCKED_STATES:
        return "; destroy the stack (sklambda destroy) before deploying again"
    if status == "UPDATE_ROLLBACK_FAILED":
        return "; run `aws cloudformation continue-update-rollback` once the cause is fixed"
    return ""


# --- Destroy -------------------------------------------------------------------------------


def destroy_stack(
    cfn: CloudFormationClient,
    s3: S3Client,
    *,
    stack_name: str,
    delete_data: bool = False,
    progress: Progress = _quiet,
    poll_seconds: float = 5,
) -> DestroyResult:
    """Delete the stack; its Retain buckets stay unless `delete_data`, which empties them too."""
    stack = find_stack(cfn, stack_name)
    if stack is None:
        raise StackNotFoundError(
            f"stack {stack_name} does not exist in {cfn.meta.region_name}: nothing to destroy"
        )
    _check_deletable(stack_name, stack["StackStatus"])
    stack_id = stack["StackId"]
    buckets = _stack_buckets(cfn, stack_id)
    seen = _latest_event_ids(cfn, stack_id)
    progress(f"Deleting stack {stack_name}")
    with _aws_call(f"delete stack {stack_name}"):
        cfn.delete_stack(StackName=stack_id)
    status, events = _follow_events(cfn, stack_id, seen, progress, poll_seconds)
    if status != "DELETE_COMPLETE":
        reason = _describe_stack(cfn, stack_id).get("StackStatusReason")
        raise _failure("destroy", stack_name, status, events, reason)
    progress(f"Stack {stack_name} is deleted")

    retained = tuple(bucket for bucket in buckets if bucket_exists(s3, bucket))
    if not delete_data:
        for bucket in retained:
            progress(f"Kept bucket {bucket} and its data (DeletionPolicy Retain)")
        return DestroyResult(stack_name, stack_id, retained, (), 0)
    deleted_objects = sum(delete_bucket_and_data(s3, bucket, progress) for bucket in retained)
    return DestroyResult(stack_name, stack_id, (), retained, deleted_objects)


def _check_deletable(stack_name: str, status: str) -> None:
    if status.endswith("_IN_PROGRESS") and status != "REVIEW_IN_PROGRESS":
        raise StackStateError(
            f"stack {stack_name} is busy ({status}): wait for the running operation to "
            "finish, then destroy again"
        )


def _stack_buckets(cfn: CloudFormationClient, stack_id: str) -> list[str]:
    """Physical names of the stack's S3 buckets, read before they leave the stack."""
    buckets = []
    with _aws_call("list the stack's resources"):
        for page in cfn.get_paginator("list_stack_resources").paginate(StackName=stack_id):
            for resource in page["StackResourceSummaries"]:
                name = resource.get("PhysicalResourceId")  # absent if it was never created
                if resource["ResourceType"] == "AWS::S3::Bucket" and name:
                    buckets.append(name)
    return buckets


def delete_bucket_and_data(s3: S3Client, bucket: str, progress: Progress = _quiet) -> int:
    """Delete every object version and delete marker, then the bucket; return how many."""
    deleted = 0
    while batch := _first_versions(s3, bucket):
        for start in range(0, len(batch), DELETE_BATCH):
            deleted += _delete_versions(s3, bucket, batch[start : start + DELETE_BATCH])
        progress(f"Emptying bucket {bucket}: {deleted:,} object versions deleted")
    with _aws_call(f"delete bucket {bucket}", bucket):
        s3.delete_bucket(Bucket=bucket)
    progress(f"Deleted bucket {bucket} ({deleted:,} object versions and delete markers)")
    return deleted


def _first_versions(s3: S3Client, bucket: str) -> list[ObjectIdentifierTypeDef]:
    # Always the first page: what was listed before is deleted by now, so no markers needed.
    with _aws_call(f"list the objects of {bucket}", bucket):
        page = s3.list_object_versions(Bucket=bucket, MaxKeys=DELETE_BATCH)
    entries = [*page.get("Versions", []), *page.get("DeleteMarkers", [])]
    return [{"Key": e["Key"], "VersionId": e.get("VersionId", "null")} for e in entries]


def _delete_versions(s3: S3Client, bucket: str, versions: list[ObjectIdentifierTypeDef]) -> int:
    with _aws_call(f"delete objects of {bucket}", bucket):
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


# --- AWS errors ----------------------------------------------------------------------------


@contextmanager
def _aws_call(action: str, bucket: str | None = None) -> Iterator[None]:
    """AWS failures inside the block as AwsAccessError: one line naming the action."""
    from botocore.exceptions import ClientError

    with translate_aws_errors(action, bucket):  # credentials and endpoint problems
        try:
            yield
        except ClientError as exc:
            raise AwsAccessError(
                f"AWS refused to {action}: {_error_code(exc)}: {_error_message(exc)}"
            ) from None


def _error_code(exc: Any) -> str:
    return str(exc.response.get("Error", {}).get("Code", "Unknown"))


def _error_message(exc: Any) -> str:
    return str(exc.response.get("Error", {}).get("Message", ""))
