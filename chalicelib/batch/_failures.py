"""What a manifest says when scoring stops on an error: what happened and what to do next.

Never an exception's class, a bucket name or a stack trace: those go to the function's log,
and the message names the invocation (its request id) to find them by.
"""

from __future__ import annotations

from chalicelib.batch._invocation import Invocation, OutOfTime
from chalicelib.core import AwsAccessError, SklambdaError


def failure_reason(error: BaseException, invocation: Invocation) -> str:
    """The manifest's words for `error`."""
    if isinstance(error, OutOfTime):
        return (
            "the batch function ran out of time before the file was scored; upload it as "
            "smaller files, or have the operator lower SKLAMBDA_BATCH_SPLIT_BYTES so that files "
            "this large are scored in parts"
        )
    if isinstance(error, AwsAccessError):
        # Its message says what to grant, and to whom, on which bucket: for the operator, who
        # finds it in the log.
        return (
            f"AWS refused a request or could not be reached while scoring ({invocation.reference}"
            "); the batch function's log has the details"
        )
    if isinstance(error, SklambdaError):
        return error.message
    return (
        f"an internal error stopped scoring ({invocation.reference}); the batch function's log "
        "has the details"
    )
