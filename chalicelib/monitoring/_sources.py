"""Where the monitor's data comes from, all in the data bucket.

- HTTP capture: Firehose objects under `capture/YYYY/MM/DD/HH/` (UTC hour of delivery), one
  JSON capture record per line. Objects holding CloudWatch Logs subscription envelopes, or
  gzipped ones, are read too, so a stream without decompression still works.
- Batch: the manifests under `batch/scored/<model>/` finished in the window name the input
  file and the scored file; every row of each is read, chunk by chunk, the inputs as batch
  scoring reads them (the model's column descriptions: a blank cell is missing, not a
  category).
  Ground truth naming a batch prediction is joined from the `prediction_id` column of the
  scored files that can hold the id: a file's ids are made while it is scored, so its
  manifest's start and finish bound them (batch.could_hold), and a file scored within the hour
  finishes in its ids' hour or the next (`_hours.hour_and_next`), which the listing's times say
  before any manifest is read.
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
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

from chalicelib.batch import (
    BatchPrediction,
    Manifest,
    check_frame,
    could_hold,
    format_of,
    labelled_rows,
    number_columns,
    read_chunks,
)
from chalicelib.core import InvalidInputError, logger, predicted_at
from chalicelib.monitoring._hours import capture_hour_prefix, hour_and_next
from chalicelib.serving import parse_capture_line
from chalicelib.storage import ObjectMissing, ObjectStore

MANIFEST_SUFFIX = ".manifest.json"
_GZIP_MAGIC = b"\x1f\x8b"


@dataclass
class Feedback:
    """Ground truth of one feedback object: actual value by prediction id, and what was
    unusable."""

    actuals: dict[str, Any] = field(default_factory=dict)
    unusable_rows: int = 0
    files: int = 0

    def made(self, oldest: datetime, newest: datetime) -> dict[str, datetime]:
        """When each labelled prediction was made, for the UUIDv7 ids made in [oldest,
        newest]: those the join looks for (other ids name nothing it can find)."""
        times = {}
        for pid in self.actuals:
            made = predicted_at(pid)
            if made is not None and oldest <= made <= newest:
                times[pid] = made
        return times


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
    def feedback_objects(
        self, model: str, start: datetime, end: datetime
    ) -> Iterator[tuple[str, datetime, int]]:
        """(key, last modified, size) of the feedback objects of `model` written in
        [start, end)."""
        for key, modified, size in self.store.list_objects(f"{self.feedback_prefix}{model}/"):
            if start <= modified < end:
                yield key, modified, size

    def written(self, key: str) -> tuple[datetime, int] | None:
        """(last modified, size) of one object, None when it is gone."""
        for found, modified, size in self.store.list_objects(key):
            if found == key:
                return modified, size
        return None

    def feedback_file(self, key: str) -> Feedback:
        """The labels of one feedback object (none if it is gone); within it, the latest row
        wins for a repeated id."""
        found = Feedback()
        try:
            body, _ = self.store.get_bytes(key)
        except ObjectMissing:
            return found
        found.files = 1
        for item in _feedback_rows(body, key):
            pid, actual = item.get("prediction_id"), item.get("actual")
            if not isinstance(pid, str) or not pid.strip() or actual in (None, ""):
                found.unusable_rows += 1
                continue
            found.actuals[pid.strip()] = actual
        return found

    def feedback_model(self, key: str) -> str | None:
        """The model a feedback object's key names (`<feedback prefix><model>/...`)."""
        if not key.startswith(self.feedback_prefix):
            return None
        model, slash, _ = key[len(self.feedback_prefix) :].partition("/")
        return model if slash and model else None

    # -- batch ----------------------------------------------------------------------------
    def batch_manifests(self, model: str, start: datetime, end: datetime) -> Iterator[Manifest]:
        """Manifests of batch files of `model` that succeeded in [start, end)."""
        return self._manifests(model, lambda modified: start <= modified < end)

    def batch_files_holding(self, model: str, times: Collection[datetime]) -> Iterator[Manifest]:
        """Manifests of succeeded batch files of `model` whose scored file can hold ids made
        at `times`; only manifests written in those times' hours or the next are read."""
        hours = {hour for made in times for hour in hour_and_next(made)}

        def in_hours(modified: datetime) -> bool:
            return modified.replace(minute=0, second=0, microsecond=0) in hours

        for manifest in self._manifests(model, in_hours):
            if could_hold(manifest, times):
                yield manifest

    def batch_labelled(
        self, model: str, made: Mapping[str, datetime], classes: Mapping[int, Sequence[Any]]
    ) -> Iterator[tuple[int, BatchPrediction]]:
        """(version, prediction) of the labelled ids `made` (id: when) in the scored batch
        files of `model`'s live versions (`classes`: each one's classes), file after file
        until every id is found."""
        wanted = dict(made)
        if not wanted:
            return  # nothing to look for: not even the listing
        for manifest in self.batch_files_holding(model, list(wanted.values())):
            version = manifest["model"]["version"]
            if version not in classes:  # a version no longer live, as for the capture
                continue
            for found in self.batch_predictions(manifest, classes[version], wanted.keys()):
                wanted.pop(found[0], None)
                yield version, found
            if not wanted:
                return

    def _manifests(self, model: str, written: Callable[[datetime], bool]) -> Iterator[Manifest]:
        """Manifests of succeeded batch files of `model` written at times `written` accepts
        (a manifest is written last, so its object's time is the file's finish)."""
        for key, modified, _ in self.store.list_objects(f"{self.scored_prefix}{model}/"):
            if not key.endswith(MANIFEST_SUFFIX) or not written(modified):
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

    def row_chunks(
        self,
        key: str,
        *,
        version_id: str | None = None,
        numbers: Mapping[str, Sequence[str]] | None = None,
    ) -> Iterator[Any]:
        """A batch file's rows as DataFrames of up to 50,000 rows, every row (or the first
        `batch_rows` when set): memory stays a chunk's whatever the file's size. Raises
        UnreadableFile for a file that is gone, empty or cannot be parsed."""
        if format_of(key) is None:
            raise UnreadableFile(key)
        limit, rows, read = self.batch_rows, 0, False
        chunk_rows = min(limit or 50_000, 50_000)
        try:
            for frame in self._frames(
                key, version_id, chunk_rows, numbers=numbers or {}, missing=numbers
            ):
                read = True
                chunk = frame if limit is None else frame.iloc[: limit - rows]
                rows += len(chunk)
                yield chunk
                if limit is not None and rows >= limit:
                    return
        except Exception as exc:  # noqa: BLE001 - an unreadable file is skipped, not fatal
            _unreadable(key, exc)
            raise UnreadableFile(key) from exc
        if not read:
            raise UnreadableFile(key)

    def batch_predictions(
        self, manifest: Manifest, classes: Sequence[Any], wanted: Collection[str]
    ) -> Iterator[BatchPrediction]:
        """The predictions of the `wanted` ids in a manifest's scored file: only its id,
        prediction and probability columns are read, and reading stops once all are found.

        A classifier without probabilities writes no proba columns: then they are left out.
        """
        published = manifest.get("outputs") or {"scored": None, "errors": None}
        scored, column = published.get("scored"), manifest.get("prediction_id_column")
        if not scored or not column:
            return
        key, left = str(scored["key"]), set(wanted)
        probas = [f"proba_{c}" for c in classes]
        attempts = [[column, "prediction", *probas]] + ([[column, "prediction"]] if probas else [])
        error: Exception | None = None
        for columns in attempts:
            try:
                for frame in self._frames(key, None, 50_000, columns, probas):
                    for found in labelled_rows(frame, column, probas, left):
                        left.discard(found[0])  # a retry without probabilities skips it
                        yield found
                    if not left:
                        return
                return
            except InvalidInputError as exc:  # a column missing: try without probabilities
                error = exc
            except Exception as exc:  # noqa: BLE001 - an unreadable file is skipped, not fatal
                error = exc
                break
        if error is not None:
            _unreadable(key, error)

    def _frames(
        self,
        key: str,
        version_id: str | None,
        chunk_rows: int,
        columns: Sequence[str] | None = None,
        numbers: Collection[str] = (),
        missing: Mapping[str, Collection[str]] | None = None,
    ) -> Iterator[Any]:
        """The frames of a batch file's chunks (see read_chunks); none when the object is
        gone or its key names no batch format. Reading errors reach the caller."""
        fmt = format_of(key)
        if fmt is None:
            return
        try:
            body = self.store.open_stream(key, version_id)
        except ObjectMissing:
            return
        with tempfile.TemporaryFile() as local:
            try:
                stream: Any = body
                if fmt == "parquet":  # Parquet needs to seek
                    for block in iter(lambda: body.read(8 << 20), b""):
                        local.write(block)
                    local.seek(0)
                    stream = local
                elif fmt == "csv.gz":
                    stream = gzip.GzipFile(fileobj=body)
                for chunk in read_chunks(
                    stream,
                    fmt,
                    chunk_rows=chunk_rows,
                    columns=columns,
                    numbers=numbers,
                    missing=missing,
                ):
                    yield chunk.frame
            finally:
                body.close()


class UnreadableFile(Exception):
    """A batch file the monitor cannot read as it was scored: skipped, with a warning."""


def _unreadable(key: str, exc: Exception) -> None:
    logger.warning("batch file unreadable for monitoring", extra={"key": key})
    logger.debug("reason", extra={"error": str(exc)})


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
