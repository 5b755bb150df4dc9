"""Batch jobs: what to do with each message of the batch queue.

At-least-once delivery is expected. Each input version (bucket, key, version id / ETag) is one
job: a claim makes concurrent duplicates back off, the manifest makes late duplicates a
no-op, and the S3 event sequencer keeps an older upload from overwriting a newer result. A
job is scored whole (_scorer) or, past the split size, in parts over the queue (_fanout):
this module is the one that knows both and decides.

A failure either ends the file at once or sends its message back, by one rule
(`core.is_retryable`): a model that does not exist, an artifact that fails its checksum, a
model saved under other library versions or needing code nobody ships fail the file on the
first attempt; AWS errors and anything unexpected are retried, and the last attempt writes
the failed manifest. A message that runs out of time is handed back at once (_invocation).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from chalicelib.batch._claims import Heartbeat, JobClaims, JobInProgress
from chalicelib.batch._events import ObjectEvent, chunk_of, object_events
from chalicelib.batch._failures import failure_reason
from chalicelib.batch._fanout import SPLITTABLE, FanOut
from chalicelib.batch._invocation import UNLIMITED, Invocation, OutOfTime
from chalicelib.batch._keys import (
    BatchLayout,
    BatchTarget,
    job_id,
    parse_incoming_key,
    refusal_target,
)
from chalicelib.batch._outputs import Manifest, Manifests, new_manifest
from chalicelib.batch._scorer import FileScorer
from chalicelib.core import InvalidInputError, is_retryable, logger
from chalicelib.registry import Registry
from chalicelib.storage import ObjectStore

# Hands a message back to its queue at once: (queue ARN, receipt handle) → visibility 0.
HandBack = Callable[[str, str], None]


class BatchScorer:
    """Scores incoming batch files of one data bucket."""

    def __init__(
        self,
        s3: Any,
        bucket: str,
        layout: BatchLayout,
        registry: Registry,
        *,
        chunk_rows: int = 50_000,
        max_rejected_share: float = 0.10,
        lease_seconds: float = 960.0,
        split_bytes: int = 1 << 30,
        part_bytes: int = 256 << 20,
        enqueue: Callable[[list[str]], None] | None = None,
        max_receives: int = 3,
        reserve_seconds: float = 60.0,
        hand_back: HandBack | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.layout = layout
        self.max_receives = max_receives
        self.reserve_seconds = reserve_seconds
        self._split_bytes = split_bytes
        self._hand_back = hand_back
        store = ObjectStore(s3, bucket)
        self.manifests = Manifests(store, layout)
        self.claims = JobClaims(store, layout.jobs, lease_seconds=lease_seconds, clock=clock)
        self.files = FileScorer(
            s3,
            bucket,
            layout,
            registry,
            self.manifests,
            chunk_rows=chunk_rows,
            max_rejected_share=max_rejected_share,
        )
        self.fanout = FanOut(self.files, self.claims, store, part_bytes=part_bytes, enqueue=enqueue)

    def process(self, event: ObjectEvent, invocation: Invocation = UNLIMITED) -> Manifest | None:
        """Score the file of one event; its manifest, or None when there was nothing to do."""
        try:
            target = parse_incoming_key(event.key, self.layout)
        except InvalidInputError as exc:
            logger.warning("batch file ignored", extra={"key": event.key, "reason": exc.message})
            return self._publish_refusal(event, exc.message)
        if target is None:
            logger.info("not an incoming batch key; ignored", extra={"key": event.key})
            return None
        current = self.manifests.read(target)
        if current is not None and self.manifests.supersedes(current[0], event):
            logger.info("batch file already scored or superseded", extra={"key": event.key})
            return None
        job = job_id(event.bucket, event.key, event.version_id, event.etag)
        # Checked before the claim: a claim left behind by a function Lambda stopped would
        # block the retry for a whole lease.
        invocation.check_time("claiming a file")
        with self.claims.claim(job) as heartbeat:
            return self._run(event, target, job, heartbeat, invocation)

    def _run(
        self,
        event: ObjectEvent,
        target: BatchTarget,
        job: str,
        heartbeat: Heartbeat,
        invocation: Invocation,
    ) -> Manifest | None:
        started = time.perf_counter()
        manifest = new_manifest(event, job)
        try:
            return self._score(event, target, job, manifest, heartbeat, started, invocation)
        except Exception as exc:
            if is_retryable(exc):
                raise
            # Trying again cannot help (no such model, an artifact that fails its checksum):
            # the file fails now, with the reason, and its message is done.
            reason = failure_reason(exc, invocation)
            logger.warning("batch file failed for good", extra={"key": event.key, "reason": reason})
            model = manifest.get("model")
            version = model["version"] if model else None
            return self.manifests.finish(
                event, target, manifest, started, failed=reason, version=version
            )

    def _score(
        self,
        event: ObjectEvent,
        target: BatchTarget,
        job: str,
        manifest: Manifest,
        heartbeat: Heartbeat,
        started: float,
        invocation: Invocation,
    ) -> Manifest | None:
        scorer = self.files.scorer_for(target)
        manifest["model"] = {
            "name": target.model,
            "version": scorer.version,
            "alias": target.alias if target.version is None else None,
            "sha256": scorer.metadata["artifact"]["sha256"],
        }
        if self._should_split(target, event):
            self.fanout.start(event, target, scorer, job, manifest, invocation)
            return None  # the part that finishes last publishes the manifest
        return self.files.score(event, target, scorer, manifest, heartbeat, started, invocation)

    def _should_split(self, target: BatchTarget, event: ObjectEvent) -> bool:
        return (
            self.fanout.can_enqueue and target.fmt in SPLITTABLE and event.size > self._split_bytes
        )

    def _publish_refusal(self, event: ObjectEvent, reason: str) -> Manifest | None:
        # A file we cannot even place (bad name, unsupported type) still gets a manifest when
        # its model folder is a valid model name, so the analyst sees why nothing came back.
        target = refusal_target(event.key, self.layout)
        if target is None:
            logger.warning("no model folder to publish the refusal under", extra={"key": event.key})
            return None
        manifest = new_manifest(event)
        return self.manifests.finish(event, target, manifest, time.perf_counter(), failed=reason)

    def _target_or_refusal(self, key: str) -> BatchTarget | None:
        """Where the manifest of `key` goes, for a key that can be scored or not."""
        try:
            return parse_incoming_key(key, self.layout)
        except InvalidInputError:
            return refusal_target(key, self.layout)

    def handle_message(self, record: SQSRecord, lambda_context: Any = None) -> None:
        """Process one queue message; raises when it should come back (powertools then lists
        it as a batch item failure).

        A message fails (comes back, and goes to the DLQ after the queue's receive count) only
        for errors worth retrying; a file that can never be scored gets a failed manifest and
        its message is done. On a message's last attempt the manifest records the failure. A
        message that runs out of time is also handed back with visibility 0, so its retry
        starts at once rather than after the queue's visibility timeout.
        """
        body = record.body
        message_id = str(record.get("messageId", ""))
        receives = int((record.get("attributes") or {}).get("ApproximateReceiveCount", "1"))
        invocation = Invocation.of(
            lambda_context, message_id=message_id, reserve_seconds=self.reserve_seconds
        )
        chunk = chunk_of(body)
        try:
            if chunk is not None:
                self.fanout.run_part(chunk, invocation)
            else:
                for event in object_events(body):
                    self.process(event, invocation)
        except JobInProgress:
            raise
        except OutOfTime as exc:
            logger.warning(
                "batch message handed back: out of time",
                extra={"message_id": message_id, "attempt": receives, "reason": str(exc)},
            )
            self._give_up_if_last(body, chunk, exc, receives, invocation)
            self.hand_back(record)
            raise
        except Exception as exc:
            if not is_retryable(exc):
                # Files that fail for good got their manifest where they failed; what is left
                # here is a message nobody can read.
                logger.warning(
                    "batch message dropped", extra={"reason": failure_reason(exc, invocation)}
                )
                return
            logger.exception(
                "batch message failed",
                extra={
                    "message_id": message_id,
                    "attempt": receives,
                    "reference": invocation.reference,
                },
            )
            self._give_up_if_last(body, chunk, exc, receives, invocation)
            raise

    def hand_back(self, record: SQSRecord) -> None:
        """Make the message visible again now (best effort: it comes back anyway, later)."""
        if self._hand_back is None:
            return
        try:
            self._hand_back(record.event_source_arn, record.receipt_handle)
        except Exception:  # noqa: BLE001 - the batch item failure still returns the message
            logger.exception(
                "could not hand the message back", extra={"message_id": record.get("messageId")}
            )

    def _give_up_if_last(
        self,
        body: str,
        chunk: dict[str, Any] | None,
        error: BaseException,
        receives: int,
        invocation: Invocation,
    ) -> None:
        if receives >= self.max_receives:
            self.give_up(body, chunk, failure_reason(error, invocation), receives)

    def give_up(self, body: str, chunk: dict[str, Any] | None, reason: str, attempts: int) -> None:
        """The message failed its last attempt: say so in the manifest before it goes to the DLQ."""
        try:
            if chunk is not None:
                self.fanout.give_up(chunk, reason, attempts)
                return
            for event in object_events(body):
                target = self._target_or_refusal(event.key)
                if target is None:
                    continue
                manifest = new_manifest(event)
                self.manifests.finish(
                    event,
                    target,
                    manifest,
                    None,
                    failed=(
                        f"scoring failed after {attempts} attempts: {reason}. The message is in "
                        "the batch dead-letter queue; upload the file again to retry"
                    ),
                )
        except Exception:  # noqa: BLE001 - the message still reaches the DLQ
            logger.exception("could not record the failure in the manifest")


def handle_sqs_event(
    batch: BatchScorer, event: dict[str, Any], context: Any = None
) -> dict[str, Any]:
    """Process the batch queue's SQS event (Lambda's, as is) in Lambda's `context` (its remaining
    time bounds the work); Lambda's partial batch response
    ({"batchItemFailures": [{"itemIdentifier": <message id>}, ...]})."""
    # Even when every message fails, answer with the list rather than raising: SQS retries
    # exactly the listed messages either way, and the response keeps one shape.
    processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
    return dict(
        process_partial_response(
            event=event,
            record_handler=batch.handle_message,
            processor=processor,
            context=context,
        )
    )
