"""Create or update a stack through a change set, and follow it to the end.

`deploy_stack` picks CREATE or UPDATE from the stack's state, waits for the change set, prints
its changes (`format_changes`), executes it, follows the events and returns a `DeployResult`
with the outputs (`format_outputs`). `find_stack` looks a stack up by name.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal, cast

from sklambda.infra.progress import Progress, quiet
from sklambda.infra.stack._errors import (
    BLOCKED_STATES,
    StackError,
    StackStateError,
    aws_call,
    error_code,
    error_message,
    refuse_if_busy,
)
from sklambda.infra.stack._events import follow_events, latest_event_ids, stack_failure

if TYPE_CHECKING:
    from mypy_boto3_cloudformation import CloudFormationClient
    from mypy_boto3_cloudformation.literals import CapabilityType
    from mypy_boto3_cloudformation.type_defs import (
        DescribeChangeSetOutputTypeDef,
        StackEventTypeDef,
        StackTypeDef,
    )

ChangeSetType = Literal["CREATE", "UPDATE"]
DEFAULT_CAPABILITIES = ("CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND")
_SUCCESS = {"CREATE": "CREATE_COMPLETE", "UPDATE": "UPDATE_COMPLETE"}
_NO_CHANGES = ("didn't contain changes", "No updates are to be performed")
_SYMBOLS = {"Add": "+", "Modify": "~", "Remove": "-", "Import": "<", "Dynamic": "?"}


@dataclass(frozen=True)
class ResourceChange:
    """One line of a change set."""

    action: str
    logical_id: str
    resource_type: str
    replacement: str | None = None


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


def deploy_stack(
    cfn: CloudFormationClient,
    *,
    stack_name: str,
    template_url: str,
    parameters: Mapping[str, str] | None = None,
    tags: Mapping[str, str] | None = None,
    capabilities: Sequence[str] = DEFAULT_CAPABILITIES,
    progress: Progress = quiet,
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
    stack = describe_stack(cfn, stack_id)
    if status != _SUCCESS[change_set_type]:
        raise stack_failure("deploy", stack_name, status, events, stack.get("StackStatusReason"))
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
    with aws_call(f"create a change set for stack {stack_name}"):
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
    with aws_call(f"delete the empty change set of stack {stack_name}"):
        cfn.delete_change_set(ChangeSetName=change_set_id)
    progress(f"No changes to deploy: stack {stack_name} is up to date")
    return _result(describe_stack(cfn, stack_id), changed=False, changes=())


def _execute_change_set(
    cfn: CloudFormationClient,
    change_set_id: str,
    stack_id: str,
    change_set_type: ChangeSetType,
    progress: Progress,
    poll_seconds: float,
) -> tuple[str, list[StackEventTypeDef]]:
    """Run the change set and follow its events; (final stack status, events)."""
    seen = latest_event_ids(cfn, stack_id)
    with aws_call("execute the change set"):
        # A failed first deployment must not leave its new Retain buckets behind: they would
        # block the next attempt, which creates buckets with the same fixed names.
        cfn.execute_change_set(ChangeSetName=change_set_id, RetainExceptOnCreate=True)
    progress(f"Waiting for the stack to {change_set_type.lower()}")
    return follow_events(cfn, stack_id, seen, progress, poll_seconds)


def find_stack(cfn: CloudFormationClient, stack_name: str) -> StackTypeDef | None:
    """The stack, or None when it does not exist."""
    from botocore.exceptions import ClientError

    with aws_call(f"look up stack {stack_name}"):
        try:
            return cfn.describe_stacks(StackName=stack_name)["Stacks"][0]
        except ClientError as exc:
            if error_code(exc) == "ValidationError" and "does not exist" in error_message(exc):
                return None
            raise


def describe_stack(cfn: CloudFormationClient, stack_id: str) -> StackTypeDef:
    """The stack as it is now; it must exist."""
    with aws_call(f"describe stack {stack_id}"):
        return cfn.describe_stacks(StackName=stack_id)["Stacks"][0]


def _change_set_type(stack_name: str, stack: StackTypeDef | None) -> ChangeSetType:
    """CREATE or UPDATE; StackStateError when the stack cannot take a change set now."""
    if stack is None or stack["StackStatus"] == "REVIEW_IN_PROGRESS":
        return "CREATE"  # REVIEW_IN_PROGRESS: created by a change set never executed
    status = stack["StackStatus"]
    refuse_if_busy(stack_name, status, "deploy")
    if status in BLOCKED_STATES:
        raise StackStateError(
            f"stack {stack_name} is in {status}: {BLOCKED_STATES[status]}. The stack must be "
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
        with aws_call("describe the change set"):
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
        with aws_call("describe the change set"):
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
