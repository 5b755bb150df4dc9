"""Stack errors, and AWS failures as one line naming the action that failed.

Every AWS call of the package runs inside `aws_call`: credential and endpoint problems come out
worded by chalicelib's `translate_aws_errors`, a refusal as `AwsAccessError` naming the action.
`BLOCKED_STATES` and `refuse_if_busy` say when CloudFormation cannot take an operation.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from chalicelib.core import AwsAccessError, SklambdaError
from chalicelib.storage import translate_aws_errors

# States CloudFormation cannot update, and why; the stack has to be destroyed first.
BLOCKED_STATES = {
    "ROLLBACK_COMPLETE": "its first deployment failed and CloudFormation cannot update it",
    "ROLLBACK_FAILED": "its first deployment failed and could not be rolled back",
    "DELETE_FAILED": "an earlier delete failed",
}
# What S3 answers for a bucket or key that does not exist (HEAD requests get a bare 404).
_NOT_FOUND = frozenset({"404", "NoSuchBucket", "NoSuchKey", "NotFound"})


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


def refuse_if_busy(stack_name: str, status: str, operation: str) -> None:
    """StackStateError while CloudFormation runs an operation on the stack."""
    # REVIEW_IN_PROGRESS: made by a change set never executed; nothing is running.
    if status.endswith("_IN_PROGRESS") and status != "REVIEW_IN_PROGRESS":
        raise StackStateError(
            f"stack {stack_name} is busy ({status}): wait for the running operation to "
            f"finish, then {operation} again"
        )


@contextmanager
def aws_call(action: str, bucket: str | None = None) -> Iterator[None]:
    """AWS failures inside the block as AwsAccessError: one line naming the action."""
    from botocore.exceptions import ClientError

    with translate_aws_errors(action, bucket):  # credentials and endpoint problems
        try:
            yield
        except ClientError as exc:
            raise AwsAccessError(
                f"AWS refused to {action}: {error_code(exc)}: {error_message(exc)}"
            ) from None


def error_code(exc: Any) -> str:
    """The error code of a botocore ClientError."""
    return str(exc.response.get("Error", {}).get("Code", "Unknown"))


def error_message(exc: Any) -> str:
    """The error message of a botocore ClientError."""
    return str(exc.response.get("Error", {}).get("Message", ""))


def is_not_found(exc: Any) -> bool:
    """Whether S3 answered that the bucket or key does not exist."""
    return error_code(exc) in _NOT_FOUND
