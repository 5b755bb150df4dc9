"""Batch scoring of one file dropped in S3: stream it in chunks, score the good rows, account
for the bad ones, publish the scored file and its manifest once.

At-least-once delivery is expected. Each input version (bucket, key, version id / ETag) is one
job: a claim object makes concurrent duplicates back off, the manifest makes late duplicates a
no-op, and the S3 event sequencer keeps an older upload from overwriting a newer result.
"""

from __future__ import annotations

import gzip
import json
import os
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, BinaryIO

from chalicelib.batch._keys import (
    BatchLayout,
    BatchTarget,
    decode_event_key,
    job_id,
    parse_incoming_key,
)
from chalicelib.batch._validation import check_columns, check_frame
from chalicelib.batch.formats import Chunk, ParquetWriter, read_chunks, write_chunk
from chalicelib.core import InvalidInputError, NotFoundError, logger, now_iso, parse_iso, publish
from chalicelib.registry import Registry
from chalicelib.scoring import Scorer
from chalicelib.storage import MultipartWriter, ObjectMissing, ObjectStore, PreconditionFailed

# Metric names (namespace sklambda, dimensions Model, Version, Submitter): chargeback.
FILES = "BatchFiles"
FILES_FAILED = "BatchFilesFailed"
ROWS_SCORED = "BatchRowsScored"
ROWS_REJECTED = "BatchRowsRejected"
SECONDS = "BatchSeconds"

MANIFEST_FORMAT = 1
ERRORS_HEADER = b"row,field,reason\n"


class JobInProgress(Exception):
    """Another worker holds this input's claim; the message should come back later."""


@dataclass(frozen=True)
class ObjectEvent:
    """One ObjectCreated notification, as S3 sends it through SQS."""

    bucket: str
    key: str
    etag: str
    version_id: str | None
    size: int
    sequencer: str
    submitter: str | None

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> ObjectEvent:
        s3 = record["s3"]
        obj = s3["object"]
        return cls(
            bucket=s3["bucket"]["name"],
            key=decode_event_key(obj["key"]),
            etag=str(obj.get("eTag", "")).strip('"'),
            version_id=obj.get("versionId") or None,
            size=int(obj.get("size", 0)),
            sequencer=str(obj.get("sequencer", "")),
            submitter=(record.get("userIdentity") or {}).get("principalId"),
        )


def object_events(body: str) -> list[ObjectEvent]:
    """The ObjectCreated events in an SQS message body (S3's test event has none)."""
    try:
        message = json.loads(body)
    except ValueError:
        raise InvalidInputError("queue message is not JSON") from None
    records = message.get("Records", []) if isinstance(message, dict) else []
    return [
        ObjectEvent.from_record(r)
        for r in records
        if str(r.get("eventName", "")).startswith("ObjectCreated")
    ]


def sequencer_newer(a: str, b: str) -> bool:
    """Whether S3 sequencer `a` is later than `b` (hex strings of varying length)."""
    width = max(len(a), len(b))
    return a.upper().ljust(width, "0") > b.upper().ljust(width, "0")


def new_manifest(event: ObjectEvent, job: str | None = None) -> dict[str, Any]:
    """The manifest of a file as its processing starts: which input, when."""
    return {
        "format": MANIFEST_FORMAT,
        "job_id": job,
        "status": "running",
        "input": {
            "key": event.key,
            "etag": event.etag,
            "version_id": event.version_id,
            "size_bytes": event.size,
            "sequencer": event.sequencer,
            "submitter": event.submitter,
        },
        "started_at": now_iso(),
    }


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
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.s3 = s3
        self.bucket = bucket
        self.store = ObjectStore(s3, bucket)
        self.layout = layout
        self._registry = registry
        self._chunk_rows = chunk_rows
        self._max_rejected_share = max_rejected_share
        self._lease = lease_seconds
        self._split_bytes = split_bytes
        self.part_bytes = part_bytes
        self._enqueue = enqueue
        self.max_receives = max_receives
        self._clock = clock

    def enqueue(self, bodies: list[str]) -> None:
        """Put chunk jobs on the batch queue."""
        if self._enqueue is None:
            raise RuntimeError("this batch scorer has no queue to send chunk jobs to")
        self._enqueue(bodies)

    def _should_split(self, target: BatchTarget, event: ObjectEvent) -> bool:
        from chalicelib.batch._fanout import SPLITTABLE

        return (
            self._enqueue is not None
            and target.fmt in SPLITTABLE
            and event.size > self._split_bytes
        )

    def finish_fanned_out(
        self,
        event: ObjectEvent,
        target: BatchTarget,
        manifest: dict[str, Any],
        failure: str | None,
    ) -> dict[str, Any]:
        """Publish the manifest of a file that was scored in parts."""
        version = (manifest.get("model") or {}).get("version")
        return self._finish(event, target, manifest, None, failed=failure, version=version)

    # -- job control ----------------------------------------------------------------------
    def process(self, event: ObjectEvent) -> dict[str, Any] | None:
        """Score the file of one event; its manifest, or None when there was nothing to do."""
        try:
            target = parse_incoming_key(event.key, self.layout)
        except InvalidInputError as exc:
            logger.warning("batch file ignored", extra={"key": event.key, "reason": exc.message})
            return self._publish_refusal(event, exc.message)
        if target is None:
            logger.info("not an incoming batch key; ignored", extra={"key": event.key})
            return None
        manifest_key = target.manifest_key(self.layout)
        current = self._read_manifest(manifest_key)
        if current is not None and self._supersedes(current[0], event):
            logger.info("batch file already scored or superseded", extra={"key": event.key})
            return None
        job = job_id(event.bucket, event.key, event.version_id, event.etag)
        with self.claim(job) as heartbeat:
            return self._run(event, target, job, heartbeat)

    def _supersedes(self, manifest: dict[str, Any], event: ObjectEvent) -> bool:
        seen = manifest.get("input", {})
        same = seen.get("etag") == event.etag and seen.get("version_id") == event.version_id
        return same or sequencer_newer(str(seen.get("sequencer", "")), event.sequencer)

    def _read_manifest(self, key: str) -> tuple[dict[str, Any], str] | None:
        try:
            return self.store.get_json(key)
        except ObjectMissing:
            return None

    @contextmanager
    def claim(self, job: str) -> Iterator[Callable[[dict[str, Any]], None]]:
        """Hold the job's claim; yields a heartbeat that renews it and records progress."""
        key = f"{self.layout.jobs}{job}.json"
        claim = {"heartbeat_at": self._clock()}
        try:
            self.store.put_json(key, claim, if_none_match=True)
        except PreconditionFailed:
            held, etag = self.store.get_json(key)
            if self._clock() - float(held.get("heartbeat_at", 0)) < self._lease:
                raise JobInProgress(job) from None
            try:  # the previous holder stopped beating: take the job over
                self.store.put_json(key, claim, if_match=etag)
            except PreconditionFailed:
                raise JobInProgress(job) from None

        def heartbeat(progress: dict[str, Any]) -> None:
            self.store.put_json(key, {"heartbeat_at": self._clock(), **progress})

        try:
            yield heartbeat
        finally:
            self.store.delete(key)

    # -- one file -------------------------------------------------------------------------
    def _run(
        self,
        event: ObjectEvent,
        target: BatchTarget,
        job: str,
        heartbeat: Callable[[dict[str, Any]], None],
    ) -> dict[str, Any] | None:
        started = time.perf_counter()
        manifest = new_manifest(event, job)
        try:
            scorer = self.scorer_for(target)
        except NotFoundError as exc:
            return self._finish(event, target, manifest, started, failed=exc.message)
        manifest["model"] = {
            "name": target.model,
            "version": scorer.version,
            "alias": target.alias if target.version is None else None,
            "sha256": scorer.metadata["artifact"]["sha256"],
        }
        if self._should_split(target, event):
            from chalicelib.batch import _fanout as batch_fanout

            batch_fanout.start(self, event, target, scorer, job, manifest)
            return None  # the part that finishes last publishes the manifest
        with ExitStack() as cleanup:
            outputs = _Outputs(
                self.s3,
                self.bucket,
                target.fmt,
                target.scored_key(self.layout),
                target.errors_key(self.layout),
                cleanup,
            )
            try:
                counts = self._score_file(event, target, scorer, outputs, heartbeat)
            except _Superseded:
                outputs.abort()
                logger.info("input replaced by a newer upload; skipped", extra={"key": event.key})
                return None
            except InvalidInputError as exc:
                outputs.abort()
                return self._finish(
                    event, target, manifest, started, failed=exc.message, version=scorer.version
                )
            manifest["rows"] = counts.rows()
            manifest["error_summary"] = counts.summary()
            failure = self.verdict(counts.read, counts.rejected)
            if not self.still_newest(target, event):
                outputs.abort()
                logger.info("a newer upload was scored meanwhile", extra={"key": event.key})
                return None
            manifest["outputs"] = outputs.publish(scored=failure is None)
            return self._finish(
                event,
                target,
                manifest,
                started,
                failed=failure,
                version=scorer.version,
                counts=counts,
            )

    def verdict(self, read: int, rejected: int) -> str | None:
        """Why the file fails, or None: no rows, or too large a share of rejected rows."""
        if read == 0:
            return "the file has no data rows"
        share = rejected / read
        if share > self._max_rejected_share:
            return (
                f"{rejected} of {read} rows ({share:.1%}) could not be scored, over the limit "
                f"of {self._max_rejected_share:.0%}; see the errors file, fix the data and "
                "upload it again"
            )
        return None

    def scorer_for(self, target: BatchTarget, version: int | None = None) -> Scorer:
        if version is None:
            version = self._registry.resolve(target.model, target.version, target.alias)
        loaded = self._registry.load(target.model, version)
        return Scorer(target.model, version, loaded.estimator, loaded.metadata)

    def _score_file(
        self,
        event: ObjectEvent,
        target: BatchTarget,
        scorer: Scorer,
        outputs: _Outputs,
        heartbeat: Callable[[dict[str, Any]], None],
    ) -> _Counts:
        with self.open_input(event, target) as stream:
            return self.score_stream(stream, target, scorer, outputs, heartbeat, size=event.size)

    def score_stream(
        self,
        stream: BinaryIO,
        target: BatchTarget,
        scorer: Scorer,
        outputs: _Outputs,
        heartbeat: Callable[[dict[str, Any]], None],
        *,
        size: int,
        row_offset: int = 0,
        write_header: bool = True,
    ) -> _Counts:
        """Read, check, score and write every chunk of one stream (a file or a part)."""
        config = self._registry.get_config(target.model)
        keep = list(config.id_columns) or None
        counts = _Counts()
        classes = [str(c) for c in scorer.classes or []]
        first = True
        # Parsing the number columns in the reader is what keeps checking under a microsecond
        # a row; chunks with a bad value there fall back to text and get the same messages.
        numbers = [f["name"] for f in scorer.features if f["type"] == "number"]
        for chunk in read_chunks(stream, target.fmt, chunk_rows=self._chunk_rows, numbers=numbers):
            if row_offset:
                chunk.first_row += row_offset
                chunk.bad_rows = [(row + row_offset, why) for row, why in chunk.bad_rows]
            if first:
                check_columns(list(chunk.frame.columns), scorer.features)
                if keep:
                    _check_id_columns(keep, list(chunk.frame.columns))
            counts.read += len(chunk.frame) + len(chunk.bad_rows)
            for row, reason in chunk.bad_rows:
                outputs.reject(row, None, reason, counts)
            checked = check_frame(
                chunk.frame,
                scorer.features,
                first_row=chunk.first_row,
                unknown_categories=config.unknown_categories,
                strings=target.fmt in ("csv", "csv.gz"),
            )
            for row, column, reason in checked.rejected:
                outputs.reject(row, column, reason, counts)
            counts.unknown_categories += checked.unknown_categories
            results = _results(scorer, checked.model_input, classes)
            counts.scored += len(results)
            outputs.write(chunk, results, checked.scored, header=first and write_header, keep=keep)
            first = False
            heartbeat(
                {
                    "rows_read": counts.read,
                    "bytes_read": stream_position(stream),
                    "size_bytes": size,
                }
            )
        return counts

    @contextmanager
    def open_input(self, event: ObjectEvent, target: BatchTarget) -> Iterator[BinaryIO]:
        kwargs: dict[str, Any] = {"Bucket": event.bucket, "Key": event.key}
        if event.version_id:
            kwargs["VersionId"] = event.version_id
        elif event.etag:
            kwargs["IfMatch"] = f'"{event.etag}"'
        from botocore.exceptions import ClientError

        try:
            body = self.s3.get_object(**kwargs)["Body"]
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code")
            if code in {"PreconditionFailed", "NoSuchKey", "NoSuchVersion"}:
                raise _Superseded() from None
            raise
        if target.fmt == "parquet":
            # Parquet needs to seek; Lambda's /tmp holds up to 10 GB.
            with tempfile.TemporaryFile() as local:
                for block in iter(lambda: body.read(8 << 20), b""):
                    local.write(block)
                local.seek(0)
                yield local
        elif target.fmt == "csv.gz":
            with gzip.GzipFile(fileobj=body) as unzipped:
                yield unzipped  # type: ignore[misc]
        else:
            yield body

    def still_newest(self, target: BatchTarget, event: ObjectEvent) -> bool:
        current = self._read_manifest(target.manifest_key(self.layout))
        return current is None or not sequencer_newer(
            str(current[0].get("input", {}).get("sequencer", "")), event.sequencer
        )

    def give_up(self, body: str, chunk: dict[str, Any] | None, reason: str, attempts: int) -> None:
        """The message failed its last attempt: say so in the manifest before it goes to the DLQ."""
        from chalicelib.batch import _fanout as batch_fanout

        try:
            if chunk is not None:
                batch_fanout.give_up(self, chunk, reason, attempts)
                return
            for event in object_events(body):
                target = parse_incoming_key(event.key, self.layout)
                if target is None:
                    continue
                manifest = new_manifest(event)
                self._finish(
                    event,
                    target,
                    manifest,
                    None,
                    failed=(
                        f"scoring failed after {attempts} attempts ({reason}); the message is in "
                        "the batch dead-letter queue. Upload the file again to retry"
                    ),
                )
        except Exception:  # noqa: BLE001 - the message still reaches the DLQ
            logger.exception("could not record the failure in the manifest")

    def _publish_refusal(self, event: ObjectEvent, reason: str) -> dict[str, Any] | None:
        # A file we cannot even place (bad name, unsupported type) still gets a manifest when
        # its model folder is known, so the analyst sees why nothing came back.
        rest = (
            event.key[len(self.layout.incoming) :]
            if event.key.startswith(self.layout.incoming)
            else ""
        )
        folder, _, path = rest.partition("/")
        model = folder.partition("@")[0]
        if not model or not path:
            return None
        target = BatchTarget(model=model, version=None, alias=None, path=path, fmt="")
        manifest = new_manifest(event)
        return self._finish(event, target, manifest, time.perf_counter(), failed=reason)

    def _finish(
        self,
        event: ObjectEvent,
        target: BatchTarget,
        manifest: dict[str, Any],
        started: float | None,
        *,
        failed: str | None,
        version: int | None = None,
        counts: _Counts | None = None,
    ) -> dict[str, Any]:
        manifest["status"] = "failed" if failed else "succeeded"
        manifest["reason"] = failed
        manifest.setdefault("rows", {"read": 0, "scored": 0, "rejected": 0})
        manifest.setdefault("outputs", {"scored": None, "errors": None})
        manifest["finished_at"] = now_iso()
        if started is None:  # scored in parts, by several workers: wall clock since the start
            begun = parse_iso(manifest["started_at"])
            manifest["duration_seconds"] = round((datetime.now(UTC) - begun).total_seconds(), 3)
        else:
            manifest["duration_seconds"] = round(time.perf_counter() - started, 3)
        key = target.manifest_key(self.layout)
        current = self._read_manifest(key)
        try:
            if current is None:
                self.store.put_json(key, manifest, if_none_match=True)
            else:
                self.store.put_json(key, manifest, if_match=current[1])
        except PreconditionFailed:
            logger.warning("manifest changed while publishing", extra={"key": key})
        # Chargeback goes to the uploader's principal, else the file's first folder.
        folder, _, rest = target.path.partition("/")
        submitter = event.submitter or (folder if rest else "-")
        publish(
            {"Model": target.model, "Version": str(version or "-"), "Submitter": submitter},
            counts={
                FILES: 1,
                FILES_FAILED: 1 if failed else 0,
                ROWS_SCORED: manifest["rows"]["scored"] if not failed else 0,
                ROWS_REJECTED: manifest["rows"]["rejected"],
            },
            seconds={SECONDS: manifest["duration_seconds"]},
            context={"message": "batch file done", "key": event.key, "status": manifest["status"]},
        )
        logger.info(
            "batch file done",
            extra={"key": event.key, "status": manifest["status"], "reason": failed},
        )
        return manifest


class _Superseded(Exception):
    """The event's object version is gone: a newer upload replaced it."""


@dataclass
class _Counts:
    read: int = 0
    scored: int = 0
    unknown_categories: int = 0
    rejected_rows: set[int] = field(default_factory=set)
    reasons: Counter[str] = field(default_factory=Counter)

    @property
    def rejected(self) -> int:
        return len(self.rejected_rows)

    def rows(self) -> dict[str, int]:
        return {"read": self.read, "scored": self.scored, "rejected": self.rejected}

    def summary(self) -> dict[str, int]:
        return dict(self.reasons.most_common(20))


class _Outputs:
    """The scored file and the errors file of one job, as pending multipart uploads."""

    def __init__(
        self,
        s3: Any,
        bucket: str,
        fmt: str,
        scored_key: str,
        errors_key: str,
        cleanup: ExitStack,
        *,
        errors_header: bool = True,
    ) -> None:
        self._fmt = fmt
        self.s3 = s3
        self.bucket = bucket
        self.scored_key = scored_key
        self.errors_key = errors_key
        self._errors_header = errors_header
        self._scored = MultipartWriter(s3, bucket, self.scored_key)
        cleanup.callback(self._scored.close)
        self._sink: BinaryIO = self._scored  # type: ignore[assignment]
        self._gzip: gzip.GzipFile | None = None
        self._parquet: ParquetWriter | None = None
        self._parquet_path: str | None = None
        if fmt == "csv.gz":
            self._gzip = gzip.GzipFile(fileobj=self._scored, mode="wb")
            self._sink = self._gzip  # type: ignore[assignment]
        elif fmt == "parquet":
            handle, self._parquet_path = tempfile.mkstemp(suffix=".parquet")
            os.close(handle)
            cleanup.callback(os.unlink, self._parquet_path)
        self._errors: MultipartWriter | None = None
        self._errors_cleanup = cleanup

    def reject(self, row: int, field: str | None, reason: str, counts: _Counts) -> None:
        counts.rejected_rows.add(row)
        counts.reasons[f"{field}: {reason}" if field else reason] += 1
        if self._errors is None:
            self._errors = MultipartWriter(
                self.s3, self.bucket, self.errors_key, content_type="text/csv"
            )
            self._errors_cleanup.callback(self._errors.close)
            if self._errors_header:
                self._errors.write(ERRORS_HEADER)
        self._errors.write(_csv_line([str(row), field or "", reason]))

    def write(
        self, chunk: Chunk, results: Any, scored: Any, *, header: bool, keep: list[str] | None
    ) -> None:
        if self._parquet_path is not None:
            if self._parquet is None:
                self._parquet = ParquetWriter(self._parquet_path)
            frame = chunk.frame[scored] if keep is None else chunk.frame.loc[scored, keep]
            self._parquet.append(_joined(frame, results))
            return
        write_chunk(
            self._sink, chunk, results, self._fmt, header=header, keep_columns=keep, scored=scored
        )

    def publish(self, *, scored: bool) -> dict[str, Any]:
        outputs: dict[str, Any] = {"scored": None, "errors": None}
        if scored:
            if self._gzip is not None:
                self._gzip.close()
            if self._parquet is not None and self._parquet_path is not None:
                self._parquet.close()
                with open(self._parquet_path, "rb") as local:
                    for block in iter(lambda: local.read(8 << 20), b""):
                        self._scored.write(block)
            etag = self._scored.complete()
            outputs["scored"] = {"key": self.scored_key, "etag": etag.strip('"')}
        else:
            self._scored.abort()
        if self._errors is not None:
            etag = self._errors.complete()
            outputs["errors"] = {"key": self.errors_key, "etag": etag.strip('"')}
        return outputs

    def abort(self) -> None:
        self._scored.abort()
        if self._errors is not None:
            self._errors.abort()


def stream_position(stream: Any) -> int | None:
    """How far into the input the reader is, when the stream can tell (for progress)."""
    try:
        return int(stream.tell())
    except (AttributeError, OSError, ValueError):
        return None


def _results(scorer: Scorer, frame: Any, classes: list[str]) -> Any:
    import pandas as pd

    if len(frame) == 0:
        columns = ["prediction", *[f"proba_{c}" for c in classes], "model_version"]
        return pd.DataFrame(columns=columns)
    predictions, proba = scorer.score_frame(frame)
    results = pd.DataFrame({"prediction": predictions}, index=frame.index)
    if proba is not None:
        for i, name in enumerate(classes):
            results[f"proba_{name}"] = proba[:, i]
    results["model_version"] = scorer.version
    return results


def _joined(frame: Any, results: Any) -> Any:
    import pandas as pd

    return pd.concat([frame.reset_index(drop=True), results.reset_index(drop=True)], axis=1)


def _csv_line(values: list[str]) -> bytes:
    import csv
    import io

    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow(values)
    return buffer.getvalue().encode()


def _check_id_columns(keep: list[str], columns: list[str]) -> None:
    missing = [c for c in keep if c not in columns]
    if missing:
        raise InvalidInputError(
            f"the model's id columns are missing from the file: {', '.join(missing)}"
        )


def handle_messages(
    scorer: BatchScorer, messages: list[tuple[str, str, int]]
) -> dict[str, list[dict[str, str]]]:
    """Process SQS messages (id, body, receive count); Lambda's partial batch response.

    A message fails (comes back, and goes to the DLQ after the queue's receive count) only for
    errors worth retrying; a file that can never be scored gets a failed manifest and its
    message is done. On a message's last attempt the manifest records the failure.
    """
    from chalicelib.batch import _fanout as batch_fanout

    failures = []
    for message_id, body, receives in messages:
        chunk = batch_fanout.chunk_of(body)
        try:
            if chunk is not None:
                batch_fanout.run_part(scorer, chunk)
            else:
                for event in object_events(body):
                    scorer.process(event)
        except JobInProgress:
            failures.append({"itemIdentifier": message_id})
        except InvalidInputError as exc:
            logger.warning("unreadable batch message dropped", extra={"reason": exc.message})
        except Exception as exc:  # noqa: BLE001 - retried by SQS, then kept in the DLQ
            logger.exception(
                "batch message failed", extra={"message_id": message_id, "attempt": receives}
            )
            failures.append({"itemIdentifier": message_id})
            if receives >= scorer.max_receives:
                scorer.give_up(body, chunk, f"{type(exc).__name__}: {exc}"[:300], receives)
    return {"batchItemFailures": failures}
