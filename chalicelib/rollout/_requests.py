"""Retraining runs in its own function: the monitor asks for it through the retrain queue.

A retrain reads every training file and fits a model: it needs memory and minutes the
monitor's run should not share. The monitor sends one message a model (`RetrainRequests`);
the retraining function, fed one message at a time, retrains (`handle_retrain_event`) and
records the outcome in the model's history, as a retrain from `sklambda retrain` does.

A message names the model, the trigger, the policy's reason, the monitor run's event id and
when it was sent. A retrain that started after that moment already answers it (the retrain
lock's rule, `Registry.begin_retrain`), so a redelivered message or requests that piled up
while a retrain ran do not retrain again.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from chalicelib.core import (
    ConflictError,
    InvalidInputError,
    RetrainFailed,
    SklambdaError,
    iso,
    logger,
    parse_time,
    utc_now,
)

if TYPE_CHECKING:
    from chalicelib.rollout._retraining import Retrainer


@dataclass(frozen=True)
class RetrainRequest:
    """What the retraining function is asked to do, as the message carries it."""

    model: str
    trigger: str
    reason: str
    event_id: str
    requested_at: str  # ISO 8601, ms: compared with the retrain lock's started_at

    def to_body(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_body(cls, body: str) -> RetrainRequest:
        """The request in a message body; InvalidInputError naming what is wrong."""
        try:
            fields = json.loads(body)
        except ValueError:
            raise InvalidInputError("a retrain message must be a JSON object") from None
        if not isinstance(fields, dict):
            raise InvalidInputError("a retrain message must be a JSON object")
        wanted = ("model", "trigger", "reason", "event_id", "requested_at")
        missing = [k for k in wanted if not isinstance(fields.get(k), str) or not fields[k]]
        if missing:
            raise InvalidInputError(f"a retrain message lacks {', '.join(missing)}")
        if parse_time(fields["requested_at"]) is None:
            raise InvalidInputError("a retrain message's requested_at is not an ISO 8601 time")
        return cls(**{k: fields[k] for k in wanted})

    @property
    def requested(self) -> datetime:
        moment = parse_time(self.requested_at)
        assert moment is not None  # checked by from_body
        return moment


class RetrainRequests:
    """Sends retrain requests to the retrain queue (the SQS client is made by the caller).

    `queue_url` is the queue's URL, or a function returning it (looked up once, on the first
    request, so a monitor that never asks needs no lookup).
    """

    def __init__(
        self,
        sqs: Any,
        queue_url: str | Callable[[], str],
        *,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self._sqs = sqs
        self._queue_url = queue_url
        self._clock = clock

    def send(self, model: str, *, trigger: str, reason: str, event_id: str) -> dict[str, Any]:
        """Ask for a retrain of `model`; what was sent, with the queue's message id."""
        if callable(self._queue_url):
            self._queue_url = self._queue_url()
        request = RetrainRequest(model, trigger, reason, event_id, iso(self._clock()))
        sent = self._sqs.send_message(QueueUrl=self._queue_url, MessageBody=request.to_body())
        return {**asdict(request), "message_id": str(sent["MessageId"])}


def handle_retrain_event(retrainer: Retrainer, event: Mapping[str, Any]) -> dict[str, Any]:
    """The retrain queue's Lambda event → one retrain a message; what happened to each.

    A retrain that fails for a reason a retry would meet again (no training data, the gate,
    a bad message, one already running or already done) is recorded and the message is
    consumed; anything else raises, so SQS delivers the message again (then to the DLQ).
    """
    done = []
    for record in event.get("Records", []):
        message_id = record.get("messageId")
        try:
            request = RetrainRequest.from_body(str(record.get("body", "")))
        except InvalidInputError as exc:
            logger.error("retrain message dropped", extra={"message_id": message_id})
            done.append({"message_id": message_id, "outcome": "dropped", "error": exc.message})
            continue
        done.append({"message_id": message_id, **retrain_once(retrainer, request)})
    return {"retrains": done}


def retrain_once(retrainer: Retrainer, request: RetrainRequest) -> dict[str, Any]:
    """Retrain as `request` asks, unless a retrain since it was made already answered it."""
    context = {"model": request.model, "event_id": request.event_id}
    try:
        result = retrainer.retrain(
            request.model,
            trigger=request.trigger,
            reason=request.reason,
            requested_at=request.requested,
            request=request.event_id,
        )
    except RetrainFailed as exc:  # recorded in the model's history by the retrain itself
        return {**context, "outcome": "failed", "error": exc.message}
    except ConflictError as exc:  # one is running, or one started since the request
        logger.info("retrain skipped", extra={**context, "why": exc.message})
        return {**context, "outcome": "skipped", "reason": exc.message}
    except SklambdaError as exc:  # no champion, unknown model: nothing a retry would change
        logger.error("retrain refused", extra={**context, "error": exc.message})
        return {**context, "outcome": "refused", "error": exc.message}
    return {**context, **result}
