"""The Lambda invocation a batch message is handled in: an id to find its log lines by, and
the time it has left.

Lambda stops a function at its timeout without running anything more: no `finally`, so a
claim taken stays until its lease runs out and blocks the retry, and pending uploads linger.
So the scorer looks at the clock before it claims a file and between chunks, and with less
than the reserve left it stops on its own (OutOfTime): uploads aborted, claim released, the
message handed back to the queue. Without a Lambda context (the CLI, tests that pass none)
there is no deadline.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


class OutOfTime(Exception):
    """Too little of the invocation is left to start or go on with a step of the work."""


@dataclass(frozen=True)
class Invocation:
    """One invocation: `reference` names it in messages ("request id ..."), and
    `remaining_ms` (Lambda's context method; None: no deadline) tells the time left."""

    reference: str = "no request id"
    remaining_ms: Callable[[], int] | None = None
    reserve_seconds: float = 0.0

    @classmethod
    def of(cls, context: Any, *, message_id: str, reserve_seconds: float) -> Invocation:
        """The invocation of Lambda's `context` (None when there is none)."""
        request_id = getattr(context, "aws_request_id", None)
        remaining = getattr(context, "get_remaining_time_in_millis", None)
        return cls(
            reference=f"request id {request_id}" if request_id else f"message id {message_id}",
            remaining_ms=remaining if callable(remaining) else None,
            reserve_seconds=reserve_seconds,
        )

    def check_time(self, step: str) -> None:
        """OutOfTime when less than the reserve is left to start `step`."""
        if self.remaining_ms is None:
            return
        left = self.remaining_ms() / 1000
        if left < self.reserve_seconds:
            raise OutOfTime(
                f"{left:.1f} s left before {step}, under the reserve of {self.reserve_seconds:g} s"
            )


UNLIMITED = Invocation()
