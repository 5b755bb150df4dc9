"""What a batch job leaves behind: the scored file and the errors file (pending multipart
uploads until the job decides), and the manifest, written last, with the job's metrics.

The manifest is the commit marker, and a published output never stays without it. Outputs
are completed first (a manifest names their ETags, so it cannot come before them), then the
manifest is written; when that write fails, the outputs it names are deleted before the
error goes on, so the retry starts from the same clean slate as the first attempt and a
reader never finds a scored file that no manifest vouches for. (A function killed between
the two steps is the one gap; the deadline check stops the work early enough to avoid it.)
"""

from __future__ import annotations

import csv
import gzip
import io
import os
import tempfile
import time
from collections import Counter
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any, BinaryIO, NotRequired, TypedDict

from chalicelib.batch._events import ObjectEvent, sequencer_newer
from chalicelib.batch._keys import BatchLayout, BatchTarget
from chalicelib.batch.formats import ID_COLUMN, Chunk, ParquetWriter, write_chunk
from chalicelib.core import logger, now_iso, parse_iso, publish, utc_now
from chalicelib.storage import MultipartWriter, ObjectMissing, ObjectStore, PreconditionFailed

# Metric names (namespace sklambda, dimensions Model, Version, Submitter): chargeback.
FILES = "BatchFiles"
FILES_FAILED = "BatchFilesFailed"
ROWS_SCORED = "BatchRowsScored"
ROWS_REJECTED = "BatchRowsRejected"
SECONDS = "BatchSeconds"

MANIFEST_FORMAT = 1


class ManifestInput(TypedDict):
    """The exact upload the manifest is about."""

    key: str
    etag: str
    version_id: str | None
    size_bytes: int
    sequencer: str
    submitter: str | None


class ManifestModel(TypedDict):
    name: str
    version: int
    alias: str | None
    sha256: str


class RowCounts(TypedDict):
    read: int
    scored: int
    rejected: int


class PublishedObject(TypedDict):
    key: str
    etag: str


class ManifestOutputs(TypedDict):
    scored: PublishedObject | None
    errors: PublishedObject | None


class Manifest(TypedDict):
    """`<scored>/<path>.manifest.json`, the commit marker of one batch file, written last.

    It grows as the file is processed: input and start first, the model once resolved,
    then rows, outputs and the verdict.
    """

    format: int
    job_id: str | None
    status: str  # running | succeeded | failed
    input: ManifestInput
    started_at: str
    # The scored file's column of prediction ids; absent in manifests of files scored before
    # batch predictions had ids (the monitor looks for ids only in files that have them).
    prediction_id_column: NotRequired[str]
    model: NotRequired[ManifestModel]
    parts: NotRequired[int]  # files scored in parts
    rows: NotRequired[RowCounts]
    error_summary: NotRequired[dict[str, int]]
    outputs: NotRequired[ManifestOutputs]
    reason: NotRequired[str | None]
    finished_at: NotRequired[str]
    duration_seconds: NotRequired[float]


ERRORS_HEADER = b"row,field,reason\n"


@dataclass
class Counts:
    """Rows read, scored and rejected (with why) in a file or a part."""

    read: int = 0
    scored: int = 0
    unknown_categories: int = 0
    rejected_rows: set[int] = field(default_factory=set)
    reasons: Counter[str] = field(default_factory=Counter)

    @property
    def rejected(self) -> int:
        return len(self.rejected_rows)

    def rows(self) -> RowCounts:
        """The manifest's `rows`."""
        return {"read": self.read, "scored": self.scored, "rejected": self.rejected}

    def summary(self) -> dict[str, int]:
        """The manifest's `error_summary`: the most frequent reasons."""
        return dict(self.reasons.most_common(20))


class Outputs:
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

    def reject(self, row: int, field: str | None, reason: str, counts: Counts) -> None:
        """List a row that cannot be scored in the errors file, and count it."""
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
        self,
        chunk: Chunk,
        results: Any,
        scored: Any,
        ids: Any,
        *,
        header: bool,
        keep: list[str] | None,
    ) -> None:
        """Write a chunk's scored rows (mask `scored`) with their prediction ids (one per
        row of `results`, core.new_prediction_ids) and results."""
        if self._parquet_path is not None:
            if self._parquet is None:
                self._parquet = ParquetWriter(self._parquet_path)
            frame = chunk.frame[scored] if keep is None else chunk.frame.loc[scored, keep]
            self._parquet.append(_joined(frame, results, ids))
            return
        write_chunk(
            self._sink,
            chunk,
            results,
            self._fmt,
            header=header,
            keep_columns=keep,
            scored=scored,
            ids=ids,
        )

    def publish(self, *, scored: bool) -> ManifestOutputs:
        """Complete the uploads (the scored one only if `scored`); the manifest's `outputs`."""
        outputs: ManifestOutputs = {"scored": None, "errors": None}
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
        """Publish nothing."""
        self._scored.abort()
        if self._errors is not None:
            self._errors.abort()


def _joined(frame: Any, results: Any, ids: Any) -> Any:
    """Input columns, prediction ids (as text), results: the columns of a Parquet chunk."""
    import pandas as pd

    results = results.reset_index(drop=True)
    results.insert(0, ID_COLUMN, pd.Series(ids.astype(f"U{ids.itemsize}"), dtype=object))
    return pd.concat([frame.reset_index(drop=True), results], axis=1)


def _csv_line(values: list[str]) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow(values)
    return buffer.getvalue().encode()


def new_manifest(event: ObjectEvent, job: str | None = None) -> Manifest:
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
        "prediction_id_column": ID_COLUMN,
    }


class Manifests:
    """The manifests of the batch files of one data bucket: read, compare, publish."""

    def __init__(self, store: ObjectStore, layout: BatchLayout) -> None:
        self.store = store
        self.layout = layout

    def read(self, target: BatchTarget) -> tuple[Manifest, str] | None:
        """The target's manifest and its ETag, or None."""
        try:
            return self.store.get_json(target.manifest_key(self.layout))
        except ObjectMissing:
            return None

    @staticmethod
    def supersedes(manifest: Manifest, event: ObjectEvent) -> bool:
        """Whether `manifest` records this input already, or a newer one."""
        seen = manifest.get("input", {})
        same = seen.get("etag") == event.etag and seen.get("version_id") == event.version_id
        return same or sequencer_newer(str(seen.get("sequencer", "")), event.sequencer)

    def still_newest(self, target: BatchTarget, event: ObjectEvent) -> bool:
        """Whether no newer upload of the key has been scored meanwhile."""
        current = self.read(target)
        return current is None or not sequencer_newer(
            str(current[0].get("input", {}).get("sequencer", "")), event.sequencer
        )

    def finish(
        self,
        event: ObjectEvent,
        target: BatchTarget,
        manifest: Manifest,
        started: float | None,
        *,
        failed: str | None,
        version: int | None = None,
    ) -> Manifest:
        """Publish the manifest (failed with the reason, or succeeded) and count the file.

        `started` is the job's time.perf_counter() start, None for a file scored in parts.
        """
        manifest["status"] = "failed" if failed else "succeeded"
        manifest["reason"] = failed
        manifest.setdefault("rows", {"read": 0, "scored": 0, "rejected": 0})
        manifest.setdefault("outputs", {"scored": None, "errors": None})
        manifest["finished_at"] = now_iso()
        if started is None:  # scored in parts, by several workers: wall clock since the start
            begun = parse_iso(manifest["started_at"])
            manifest["duration_seconds"] = round((utc_now() - begun).total_seconds(), 3)
        else:
            manifest["duration_seconds"] = round(time.perf_counter() - started, 3)
        try:
            self._write(target, manifest)
        except Exception:
            self.withdraw(manifest)
            raise
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

    def _write(self, target: BatchTarget, manifest: Manifest) -> None:
        key = target.manifest_key(self.layout)
        current = self.read(target)
        try:
            self.store.replace_json(key, manifest, None if current is None else current[1])
        except PreconditionFailed:
            logger.warning("manifest changed while publishing", extra={"key": key})

    def withdraw(self, manifest: Manifest) -> None:
        """Delete the outputs the manifest names: it could not be written, and they must not
        stay visible without it. Best effort; what cannot be deleted is logged."""
        outputs = manifest.get("outputs") or {"scored": None, "errors": None}
        for published in (outputs.get("scored"), outputs.get("errors")):
            if not published:
                continue
            try:
                self.store.delete(published["key"])
            except Exception:  # noqa: BLE001 - the original error is the one to raise
                logger.exception("could not withdraw an output", extra={"key": published["key"]})
