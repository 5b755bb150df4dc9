"""Scale a batch file out past one Lambda: split it, score the parts in parallel, assemble.

    start      the file's worker reads it once, plans byte ranges on record boundaries
               (_split), stores the plan and queues one chunk job per part on the batch
               queue
    run_part   a worker scores its range into <jobs>/<job>/out/<part> (and err/<part>),
               then records <jobs>/<job>/done/<part>.json
    commit     whoever records the last part takes <jobs>/<job>/commit.json (If-None-Match,
               so exactly one does) and assembles the scored file with S3 UploadPartCopy:
               the data never passes back through one Lambda. The manifest comes last.

A part that cannot succeed (a model that fails its checksum) is recorded as done with its
reason, and the commit fails the file; a part that keeps failing otherwise goes to the
queue's DLQ, and on its last attempt the manifest says so. A worker short of time stops
between chunks (its part's uploads aborted, its claim released) and hands the message back.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack
from typing import Any, BinaryIO

from chalicelib.batch._claims import JobClaims
from chalicelib.batch._events import ObjectEvent, chunk_event, chunk_message
from chalicelib.batch._failures import failure_reason
from chalicelib.batch._invocation import UNLIMITED, Invocation
from chalicelib.batch._keys import BatchTarget, parse_incoming_key
from chalicelib.batch._outputs import ERRORS_HEADER, Manifest, Outputs
from chalicelib.batch._scorer import FileScorer
from chalicelib.batch._split import plan_parts
from chalicelib.core import is_retryable, logger
from chalicelib.scoring import Scorer
from chalicelib.storage import (
    MultipartWriter,
    ObjectMissing,
    ObjectStore,
    PreconditionFailed,
    translate_aws_errors,
)

SPLITTABLE = ("csv", "jsonl")  # gzip cannot be entered mid-stream; Parquet parts don't concatenate
MIN_COPY_PART = 5 * 1024 * 1024  # S3's minimum size of every part but the last


class FanOut:
    """Scores large files of one data bucket in parts, one chunk job per part."""

    def __init__(
        self,
        files: FileScorer,
        claims: JobClaims,
        store: ObjectStore,
        *,
        part_bytes: int = 256 << 20,
        enqueue: Callable[[list[str]], None] | None = None,
    ) -> None:
        self.files = files
        self.claims = claims
        self.store = store
        self.part_bytes = part_bytes
        self._enqueue = enqueue

    @property
    def can_enqueue(self) -> bool:
        """Whether there is a queue to send chunk jobs to."""
        return self._enqueue is not None

    def enqueue(self, bodies: list[str]) -> None:
        """Put chunk jobs on the batch queue."""
        if self._enqueue is None:
            raise RuntimeError("this batch scorer has no queue to send chunk jobs to")
        self._enqueue(bodies)

    def _prefix(self, job: str) -> str:
        return f"{self.files.layout.jobs}{job}/"

    def start(
        self,
        event: ObjectEvent,
        target: BatchTarget,
        scorer: Scorer,
        job: str,
        manifest: Manifest,
        invocation: Invocation = UNLIMITED,
    ) -> None:
        """Plan the parts of a large file and queue one chunk job per part."""
        plan_key = self._prefix(job) + "plan.json"
        if self.store.exists(plan_key):
            return  # a duplicate of the event that already fanned out
        with self.files.open_input(event, target) as stream:
            blocks = _while_time_left(iter(lambda: stream.read(8 << 20), b""), invocation)
            header, parts = plan_parts(blocks, self.part_bytes, target.fmt)
        plan = {
            "header": header.decode("utf-8", errors="replace"),
            "parts": [{"start": p.start, "end": p.end, "first_row": p.first_row} for p in parts],
            "model": manifest["model"],
            "manifest": manifest,
        }
        try:
            self.store.put_json(plan_key, plan, if_none_match=True)
        except PreconditionFailed:
            return
        self.enqueue([chunk_message(job, i, len(parts), event) for i in range(len(parts))])
        logger.info("batch file split", extra={"key": event.key, "parts": len(parts), "job": job})

    def run_part(self, chunk: dict[str, Any], invocation: Invocation = UNLIMITED) -> None:
        """Score one part; the last part to finish assembles the file."""
        files = self.files
        event = chunk_event(chunk)
        job, index = chunk["job"], int(chunk["part"])
        target = parse_incoming_key(event.key, files.layout)
        assert target is not None
        prefix = self._prefix(job)
        done_key = f"{prefix}done/{index:05d}.json"
        if not self.store.exists(done_key):
            plan, _ = self.store.get_json(prefix + "plan.json")
            part = plan["parts"][index]
            invocation.check_time("claiming a part")
            with self.claims.claim(f"{job}-part-{index:05d}") as heartbeat, ExitStack() as cleanup:
                outputs = Outputs(
                    files.s3,
                    files.bucket,
                    target.fmt,
                    f"{prefix}out/{index:05d}",
                    f"{prefix}err/{index:05d}",
                    cleanup,
                    errors_header=False,
                )
                result: dict[str, Any] = {"part": index}
                try:
                    scorer = files.scorer_for(target, plan["model"]["version"])
                    with _part_stream(files.s3, event, plan["header"], part) as stream:
                        counts = files.score_stream(
                            stream,
                            target,
                            scorer,
                            outputs,
                            heartbeat,
                            size=part["end"] - part["start"],
                            row_offset=part["first_row"] - 1,
                            write_header=index == 0,
                            invocation=invocation,
                        )
                    result.update(
                        read=counts.read,
                        scored=counts.scored,
                        rejected=counts.rejected,
                        reasons=dict(counts.reasons),
                    )
                    outputs.publish(scored=True)
                except Exception as exc:
                    if is_retryable(exc):
                        raise
                    # A bad part (or a model that fails its checksum) fails the file: the
                    # commit says why, once every part has reported.
                    outputs.abort()
                    result["error"] = failure_reason(exc, invocation)
                self.store.put_json(done_key, result, if_none_match=True)
        invocation.check_time("assembling the file")
        self.commit(event, target, job, int(chunk["parts"]))

    def commit(self, event: ObjectEvent, target: BatchTarget, job: str, parts: int) -> None:
        """Assemble and publish when every part is done; only one caller ever does."""
        files, store = self.files, self.store
        prefix = self._prefix(job)
        done = [k for k in store.list_keys(prefix + "done/") if k.endswith(".json")]
        if len(done) < parts:
            return
        try:
            store.put_json(prefix + "commit.json", {"parts": parts}, if_none_match=True)
        except PreconditionFailed:
            return
        plan, _ = store.get_json(prefix + "plan.json")
        results = [store.get_json(k)[0] for k in sorted(done)]
        manifest = plan["manifest"]
        rows = {
            "read": sum(r.get("read", 0) for r in results),
            "scored": sum(r.get("scored", 0) for r in results),
            "rejected": sum(r.get("rejected", 0) for r in results),
        }
        reasons: dict[str, int] = {}
        for result in results:
            for reason, count in result.get("reasons", {}).items():
                reasons[reason] = reasons.get(reason, 0) + count
        failure = next(
            (f"part {r['part'] + 1} of {parts}: {r['error']}" for r in results if r.get("error")),
            None,
        ) or files.verdict(rows["read"], rows["rejected"])
        manifest.update(
            rows=rows,
            parts=parts,
            error_summary=dict(sorted(reasons.items(), key=lambda kv: -kv[1])[:20]),
        )
        if files.manifests.still_newest(target, event):
            outputs: dict[str, Any] = {"scored": None, "errors": None}
            manifest["outputs"] = outputs
            try:
                if failure is None:
                    outputs["scored"] = self._assemble(
                        [f"{prefix}out/{i:05d}" for i in range(parts)],
                        target.scored_key(files.layout),
                        b"",
                    )
                if rows["rejected"]:
                    outputs["errors"] = self._assemble(
                        [f"{prefix}err/{i:05d}" for i in range(parts)],
                        target.errors_key(files.layout),
                        ERRORS_HEADER,
                    )
                self._finish(event, target, manifest, failure)
            except Exception:
                # Let the retried message commit again, from a clean slate: whatever was
                # assembled is taken back (a manifest that could not be written already took
                # its outputs back; deleting twice is harmless).
                files.manifests.withdraw(manifest)
                store.delete(prefix + "commit.json")
                raise
        for key in list(store.list_keys(prefix)):
            store.delete(key)

    def _assemble(self, part_keys: list[str], key: str, head: bytes) -> dict[str, str]:
        """Concatenate part objects into `key`: server-side copies when S3 allows it."""
        s3, bucket = self.files.s3, self.files.bucket
        sizes = []
        for part_key in part_keys:
            try:
                with translate_aws_errors(f"size {part_key}", bucket):
                    sizes.append(int(s3.head_object(Bucket=bucket, Key=part_key)["ContentLength"]))
            except Exception:  # noqa: BLE001 - a part without output (all rows rejected)
                sizes.append(0)
        present = [(k, s) for k, s in zip(part_keys, sizes, strict=True) if s > 0]
        copyable = not head and all(s >= MIN_COPY_PART for _, s in present[:-1])
        with translate_aws_errors(f"assemble {key}", bucket):
            if copyable and present:
                upload = s3.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
                etags = []
                for number, (part_key, _) in enumerate(present, start=1):
                    copied = s3.upload_part_copy(
                        Bucket=bucket,
                        Key=key,
                        UploadId=upload,
                        PartNumber=number,
                        CopySource={"Bucket": bucket, "Key": part_key},
                    )
                    etags.append({"PartNumber": number, "ETag": copied["CopyPartResult"]["ETag"]})
                done = s3.complete_multipart_upload(
                    Bucket=bucket, Key=key, UploadId=upload, MultipartUpload={"Parts": etags}
                )
                return {"key": key, "etag": str(done["ETag"]).strip('"'), "assembled": "copy"}
            # Small parts (under S3's 5 MiB copy minimum) are streamed: little data by definition.
            writer = MultipartWriter(s3, bucket, key)
            writer.write(head)
            for part_key, _ in present:
                body = ObjectStore(s3, bucket).open_stream(part_key)
                while block := body.read(8 << 20):
                    writer.write(block)
            return {"key": key, "etag": writer.complete().strip('"'), "assembled": "stream"}

    def give_up(self, chunk: dict[str, Any], reason: str, attempts: int) -> None:
        """Record in the manifest that a part failed for good (its message goes to the DLQ)."""
        event = chunk_event(chunk)
        target = parse_incoming_key(event.key, self.files.layout)
        if target is None:
            return
        try:
            plan, _ = self.store.get_json(self._prefix(chunk["job"]) + "plan.json")
        except ObjectMissing:
            return
        manifest = plan["manifest"]
        manifest["parts"] = int(chunk["parts"])
        failure = (
            f"part {int(chunk['part']) + 1} of {chunk['parts']} failed after {attempts} attempts: "
            f"{reason}. Its message is in the batch dead-letter queue; upload the file again to "
            "retry"
        )
        self._finish(event, target, manifest, failure)

    def _finish(
        self, event: ObjectEvent, target: BatchTarget, manifest: Manifest, failure: str | None
    ) -> None:
        model = manifest.get("model")
        version = model["version"] if model else None
        self.files.manifests.finish(event, target, manifest, None, failed=failure, version=version)


def _while_time_left(blocks: Iterable[bytes], invocation: Invocation) -> Iterator[bytes]:
    """The blocks, with OutOfTime between two when the invocation is nearly over."""
    for block in blocks:
        invocation.check_time("reading the next block of the file to split")
        yield block


class _Concat(io.RawIOBase):
    """The header line followed by a byte range of the file, as one readable stream."""

    def __init__(self, head: bytes, body: Any) -> None:
        super().__init__()
        self._head = head
        self._body = body
        self._position = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self._head:
            size = min(len(buffer), len(self._head))
            buffer[:size] = self._head[:size]
            self._head = self._head[size:]
        else:
            data = self._body.read(len(buffer))
            size = len(data)
            buffer[:size] = data
        self._position += size
        return size

    def tell(self) -> int:
        return self._position


class _PartStream:
    def __init__(self, stream: BinaryIO) -> None:
        self.stream = stream

    def __enter__(self) -> BinaryIO:
        return self.stream

    def __exit__(self, *exc: object) -> None:
        self.stream.close()


def _part_stream(s3: Any, event: ObjectEvent, header: str, part: dict[str, Any]) -> _PartStream:
    """The header, then the part's byte range of the event's object version."""
    body = ObjectStore(s3, event.bucket).open_stream(
        event.key, event.version_id, etag=event.etag, byte_range=(part["start"], part["end"])
    )
    reader = io.BufferedReader(_Concat(header.encode(), body), buffer_size=1 << 20)
    return _PartStream(reader)
