"""Where the monitor's data comes from, all in the data bucket.

- HTTP capture: Firehose objects under `capture/YYYY/MM/DD/HH/` (UTC hour of delivery), one
  JSON capture record per line. Objects holding CloudWatch Logs subscription envelopes, or
  gzipped ones, are read too, so a stream without decompression still works.
- Batch: the manifests under `batch/scored/<model>/` finished in the window name the input
  file and the scored file; every row of each is read, chunk by chunk, the inputs as batch
  scoring reads them (the model's column descriptions: a blank cell is missing, not a
  category).
- Ground truth: objects under `feedback/<model>/` written in the window, by the feedback
  route (JSON lines) or dropped by people (`.jsonl`, `.json` lines or `.csv` with
  `prediction_id` and `actual` columns).
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, cast

from chalicelib.batch import Manifest, check_frame, format_of, number_columns, read_chunks
from chalicelib.core import InvalidInputError, logger
from chalicelib.serving import parse_capture_line
from chalicelib.storage import ObjectMissing, ObjectStore

MANIFEST_SUFFIX = ".manifest.json"
_GZIP_MAGIC = b"\x1f\x8b"


@dataclass
class Feedback:
    """Ground truth of the window: actual value by prediction id, and what was unusable."""

    actuals: dict[str, Any] = field(default_factory=dict)
    unusable_rows: int = 0
    files: int = 0


def hours_between(start: datetime, end: datetime) -> list[datetime]:
    """Every UTC hour that overlaps [start, end), as the hour's start."""
    hour = start.replace(minute=0, second=0, microsecond=0)
    hours = []
    while hour < end:
        hours.append(hour)
        hour += timedelta(hours=1)
    return hours


def capture_hour_prefix(capture_prefix: str, hour: datetime) -> str:
    """Firehose's default (UTC) time prefix of objects delivered in that hour."""
    return f"{capture_prefix}{hour:%Y/%m/%d/%H}/"


class MonitorSources:
    """Reads capture, batch and feedback objects of the data bucket."""

    def __init__(
        self,
        store: ObjectStore,
        *,
        capture_prefix: str,
        feedback_prefix: str,
        scored_prefix: str,
        batch_rows: int | None = None,
    ) -> None:
        self.store = store
        self.capture_prefix = capture_prefix
        self.feedback_prefix = feedback_prefix
        self.scored_prefix = scored_prefix
        self.batch_rows = batch_rows

    # -- HTTP capture ---------------------------------------------------------------------
    def capture_records(self, hour: datetime) -> Iterator[dict[str, Any]]:
        """Capture records delivered in one hour; unreadable lines are skipped and logged."""
        for key, _ in self.capture_objects(hour):
            yield from self.object_records(key)

    def capture_objects(self, hour: datetime) -> list[tuple[str, int]]:
        """(key, size) of the capture objects delivered in one hour."""
        prefix = capture_hour_prefix(self.capture_prefix, hour)
        return [(key, size) for key, _, size in self.store.list_objects(prefix)]

    def object_records(self, key: str) -> Iterator[dict[str, Any]]:
        """The capture records of one object (none if it expired since it was listed)."""
        try:
            body, _ = self.store.get_bytes(key)
        except ObjectMissing:  # expired by a lifecycle rule while we listed
            return
        yield from _records_in(body, key)

    # -- ground truth ---------------------------------------------------------------------
    def feedback(self, model: str, start: datetime, end: datetime) -> Feedback:
        """Actual values received in [start, end); the latest one wins for a repeated id."""
        found = Feedback()
        prefix = f"{self.feedback_prefix}{model}/"
        for key, modified, _ in self.store.list_objects(prefix):
            if not start <= modified < end:
                continue
            try:
                body, _ = self.store.get_bytes(key)
            except ObjectMissing:
                continue
            found.files += 1
            for item in _feedback_rows(body, key):
                pid, actual = item.get("prediction_id"), item.get("actual")
                if not isinstance(pid, str) or not pid.strip() or actual in (None, ""):
                    found.unusable_rows += 1
                    continue
                found.actuals[pid.strip()] = actual
        return found

    # -- batch ----------------------------------------------------------------------------
    def batch_manifests(self, model: str, start: datetime, end: datetime) -> Iterator[Manifest]:
        """Manifests of batch files of `model` that succeeded in [start, end)."""
        for key, modified, _ in self.store.list_objects(f"{self.scored_prefix}{model}/"):
            if not key.endswith(MANIFEST_SUFFIX) or not start <= modified < end:
                continue
            try:
                manifest, _ = self.store.get_json(key)
            except (ObjectMissing, ValueError):
                continue
            if isinstance(manifest, dict) and manifest.get("status") == "succeeded":
                yield cast("Manifest", manifest)  # JSON the batch scorer wrote as a Manifest

    def input_chunks(
        self, key: str, version_id: str | None, features: Sequence[Mapping[str, Any]]
    ) -> Iterator[Any]:
        """The model's inputs in a batch input file, chunk by chunk, read as batch scoring
        reads them (the rows it scored, as the model saw them). UnreadableFile if it cannot
        be read as the model's input (gone, columns changed since it was scored)."""
        numbers = number_columns(features)
        strings = format_of(key) in ("csv", "csv.gz")
        for frame in self.row_chunks(key, version_id=version_id, numbers=numbers):
            try:
                checked = check_frame(
                    frame, features, first_row=1, unknown_categories="accept", strings=strings
                )
            except InvalidInputError as exc:
                raise UnreadableFile(key) from exc
            yield checked.model_input

    def read_rows(
        self,
        key: str,
        *,
        version_id: str | None = None,
        numbers: Mapping[str, Sequence[str]] | None = None,
    ) -> Any:
        """The rows of a batch file (at most `batch_rows`) as one DataFrame, or None if it
        cannot be read; `numbers` are number columns with their missing markers."""
        import pandas as pd

        try:
            frames = list(self.row_chunks(key, version_id=version_id, numbers=numbers))
        except UnreadableFile:
            return None
        return pd.concat(frames, ignore_index=True) if frames else None

    def row_chunks(
        self,
        key: str,
        *,
        version_id: str | None = None,
        numbers: Mapping[str, Sequence[str]] | None = None,
    ) -> Iterator[Any]:
        """A batch file's rows as DataFrames of up to 50,000 rows, every row (or the first
        `batch_rows` when set): memory stays a chunk's whatever the file's size. Raises
        UnreadableFile for a file that is gone or cannot be parsed."""
        fmt = format_of(key)
        if fmt is None:
            raise UnreadableFile(key)
        try:
            body = self.store.open_stream(key, version_id)
        except ObjectMissing:
            raise UnreadableFile(key) from None
        limit = self.batch_rows
        rows = 0
        with tempfile.TemporaryFile() as local:
            stream: Any = body
            try:
                if fmt == "parquet":  # Parquet needs to seek
                    for block in iter(lambda: body.read(8 << 20), b""):
                        local.write(block)
                    local.seek(0)
                    stream = local
                elif fmt == "csv.gz":
                    stream = gzip.GzipFile(fileobj=body)
                chunk_rows = min(limit or 50_000, 50_000)
                for chunk in read_chunks(
                    stream, fmt, chunk_rows=chunk_rows, numbers=numbers or {}, missing=numbers
                ):
                    frame = chunk.frame
                    if limit is not None:
                        frame = frame.iloc[: limit - rows]
                    rows += len(frame)
                    yield frame
                    if limit is not None and rows >= limit:
                        return
            except Exception as exc:  # noqa: BLE001 - an unreadable file is skipped, not fatal
                logger.warning("batch file unreadable for monitoring", extra={"key": key})
                logger.debug("reason", extra={"error": str(exc)})
                raise UnreadableFile(key) from exc
            finally:
                body.close()


class UnreadableFile(Exception):
    """A batch file the monitor cannot read as it was scored: skipped, with a warning."""


def _records_in(body: bytes, key: str) -> Iterator[dict[str, Any]]:
    if body[:2] == _GZIP_MAGIC:
        body = _gunzip_all(body)
    bad = 0
    for line in body.decode("utf-8", errors="replace").splitlines():
        if not line.strip():
            continue
        record = parse_capture_line(line)
        if record is not None:
            yield record
            continue
        # A CloudWatch Logs subscription envelope (no message extraction on the stream).
        for message in _log_messages(line):
            inner = parse_capture_line(message)
            if inner is not None:
                yield inner
            else:
                bad += 1
    if bad:
        logger.warning("lines in capture object were not capture records", extra={"key": key})


def _gunzip_all(body: bytes) -> bytes:
    # Firehose concatenates gzip members; GzipFile reads them all.
    with gzip.GzipFile(fileobj=io.BytesIO(body)) as unzipped:
        return unzipped.read()


def _log_messages(line: str) -> list[str]:
    try:
        envelope = json.loads(line)
    except ValueError:
        return [line]
    if not isinstance(envelope, dict) or "logEvents" not in envelope:
        return [line]
    return [str(e.get("message", "")) for e in envelope.get("logEvents") or []]


def _feedback_rows(body: bytes, key: str) -> Iterator[dict[str, Any]]:
    if body[:2] == _GZIP_MAGIC:
        body = _gunzip_all(body)
    text = body.decode("utf-8-sig", errors="replace")
    if key.lower().removesuffix(".gz").endswith(".csv"):
        yield from csv.DictReader(io.StringIO(text))
        return
    for line in text.splitlines():
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except ValueError:
            item = None
        yield item if isinstance(item, dict) else {}
