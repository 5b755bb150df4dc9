"""A stack's events while CloudFormation works, and what they say about a failure.

`follow_events` prints each new event (`format_event`) until the stack itself reaches a final
status; `stack_failure` names the first resource that failed, with CloudFormation's reason.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import UTC
from typing import TYPE_CHECKING

from sklambda.infra.progress import Progress
from sklambda.infra.stack._errors import BLOCKED_STATES, StackFailedError, aws_call

if TYPE_CHECKING:
    from mypy_boto3_cloudformation import CloudFormationClient
    from mypy_boto3_cloudformation.type_defs import StackEventTypeDef

_STACK_TYPE = "AWS::CloudFormation::Stack"


def latest_event_ids(cfn: CloudFormationClient, stack_id: str) -> set[str]:
    """The newest event id already there, so that only later events are shown."""
    with aws_call("read the stack events"):
        events = cfn.describe_stack_events(StackName=stack_id)["StackEvents"]
    return {events[0]["EventId"]} if events else set()


def follow_events(
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
        with aws_call("read the stack events"):
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


def stack_failure(
    operation: str,
    stack_name: str,
    status: str,
    events: Sequence[StackEventTypeDef],
    stack_reason: str | None,
) -> StackFailedError:
    """The error for a failed operation: the first failed resource and its reason, what next."""
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
    if status in BLOCKED_STATES:
        return "; destroy the stack (sklambda destroy) before deploying again"
    if status == "UPDATE_ROLLBACK_FAILED":
        return "; run `aws cloudformation continue-update-rollback` once the cause is fixed"
    return ""
