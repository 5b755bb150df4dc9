"""Scoring a batch file in one go: stream it in chunks, score the good rows, account for the
bad ones, publish the scored file and its manifest once.

`score_stream` is the loop over one stream's chunks; the fan-out runs it on each part of a
large file. Which path a file takes is decided by the job (_jobs), not here.
"""

from __future__ import annotations

import gzip
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Any, BinaryIO

import numpy as np

from chalicelib.batch._claims import Heartbeat
from chalicelib.batch._events import ObjectEvent
from chalicelib.batch._invocation import UNLIMITED, Invocation
from chalicelib.batch._keys import BatchLayout, BatchTarget
from chalicelib.batch._outputs import Counts, Manifest, Manifests, Outputs
from chalicelib.batch._validation import check_columns, check_frame, number_columns
from chalicelib.batch.formats import read_chunks
from chalicelib.core import InvalidInputError, ModelCodeMissing, logger, new_prediction_ids
from chalicelib.registry import LoadedModel, Registry
from chalicelib.scoring import Scorer, explanation_columns
from chalicelib.storage import ObjectMissing, ObjectStore, PreconditionFailed


class Superseded(Exception):
    """The event's object version is gone: a newer upload replaced it."""


class FileScorer:
    """Scores the batch files of one data bucket, a file (or a part of one) at a time."""

    def __init__(
        self,
        s3: Any,
        bucket: str,
        layout: BatchLayout,
        registry: Registry,
        manifests: Manifests,
        *,
        chunk_rows: int = 50_000,
        max_rejected_share: float = 0.10,
    ) -> None:
        self.s3 = s3
        self.bucket = bucket
        self.layout = layout
        self.manifests = manifests
        self._registry = registry
        self._chunk_rows = chunk_rows
        self._max_rejected_share = max_rejected_share

    def scorer_for(self, target: BatchTarget, version: int | None = None) -> Scorer:
        """The model the target asks for (or that `version` of it), loaded."""
        if version is None:
            version = self._registry.resolve(target.model, target.version, target.alias)
            self._registry.check_servable(target.model, version)  # retired: 410, not scored
        model, number = target.model, version

        def load_pipeline() -> LoadedModel:
            try:
                return self._registry.load(model, number)
            except ModuleNotFoundError as exc:
                # The pickle names a module this runtime lacks: no retry will bring it.
                raise ModelCodeMissing(
                    f"model {model!r} version {number} needs the module {exc.name!r}, "
                    "which neither its code bundle nor the batch function provides; register "
                    "the model again with that module's file given to --code"
                ) from None

        return self._registry.load_scorer(model, number, load_pipeline=load_pipeline)

    def score(
        self,
        event: ObjectEvent,
        target: BatchTarget,
        scorer: Scorer,
        manifest: Manifest,
        heartbeat: Heartbeat,
        started: float,
        invocation: Invocation = UNLIMITED,
    ) -> Manifest | None:
        """Score the whole file; its manifest, or None when a newer upload replaced it.

        Every way out but publishing leaves nothing behind: the pending uploads are aborted
        when the block exits (also on OutOfTime or any error), and a manifest that cannot be
        written takes the outputs it names back with it (`Manifests.finish`).
        """
        with ExitStack() as cleanup:
            outputs = Outputs(
                self.s3,
                self.bucket,
                target.fmt,
                target.scored_key(self.layout),
                target.errors_key(self.layout),
                cleanup,
            )
            try:
                with self.open_input(event, target) as stream:
                    counts = self.score_stream(
                        stream,
                        target,
                        scorer,
                        outputs,
                        heartbeat,
                        size=event.size,
                        invocation=invocation,
                    )
            except Superseded:
                outputs.abort()
                logger.info("input replaced by a newer upload; skipped", extra={"key": event.key})
                return None
            except InvalidInputError as exc:
                outputs.abort()
                return self.manifests.finish(
                    event, target, manifest, started, failed=exc.message, version=scorer.version
                )
            manifest["rows"] = counts.rows()
            manifest["error_summary"] = counts.summary()
            failure = self.verdict(counts.read, counts.rejected)
            if not self.manifests.still_newest(target, event):
                outputs.abort()
                logger.info("a newer upload was scored meanwhile", extra={"key": event.key})
                return None
            manifest["outputs"] = outputs.publish(scored=failure is None)
            return self.manifests.finish(
                event, target, manifest, started, failed=failure, version=scorer.version
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

    def score_stream(
        self,
        stream: BinaryIO,
        target: BatchTarget,
        scorer: Scorer,
        outputs: Outputs,
        heartbeat: Heartbeat,
        *,
        size: int,
        row_offset: int = 0,
        write_header: bool = True,
        invocation: Invocation = UNLIMITED,
    ) -> Counts:
        """Read, check, score and write every chunk of one stream (a file or a part);
        OutOfTime before a chunk when the invocation is nearly over."""
        config = self._registry.get_config(target.model)
        keep = list(config.id_columns) or None
        explain = config.explain_batch
        unexplained = scorer.unexplained() if explain else None
        if unexplained is not None:
            raise InvalidInputError(
                f"{unexplained}; score the file without them after `sklambda configure "
                f"{target.model} --no-explain-batch`"
            )
        counts = Counts()
        classes = [str(c) for c in scorer.classes or []]
        first = True
        # Parsing the number columns in the reader is what keeps checking under a microsecond
        # a row; chunks with a bad value there fall back to text and get the same messages.
        numbers = number_columns(scorer.features)
        for chunk in read_chunks(
            stream, target.fmt, chunk_rows=self._chunk_rows, numbers=numbers, missing=numbers
        ):
            invocation.check_time("scoring the next chunk")
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
            results, refused = _results_or_refusals(scorer, checked.model_input, classes, explain)
            for row, reason in refused:
                outputs.reject(row, None, reason, counts)
            if refused:
                checked.scored &= ~np.isin(chunk.frame.index, [row for row, _ in refused])
            counts.scored += len(results)
            # Ids are made once a chunk is scored, for its scored rows only: an id's time is
            # when its prediction was made, and a rejected row has no prediction to name.
            ids = new_prediction_ids(len(results))
            outputs.write(
                chunk, results, checked.scored, ids, header=first and write_header, keep=keep
            )
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
        """The exact object version of the event, readable (Superseded if it is gone)."""
        source = ObjectStore(self.s3, event.bucket)
        try:
            body = source.open_stream(event.key, event.version_id, etag=event.etag)
        except (ObjectMissing, PreconditionFailed):
            raise Superseded() from None
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


def stream_position(stream: Any) -> int | None:
    """How far into the input the reader is, when the stream can tell (for progress)."""
    try:
        return int(stream.tell())
    except (AttributeError, OSError, ValueError):
        return None


# Rows the model itself refuses (an error from its pipeline) are found by halving the chunk;
# past this many the file is refused as a whole rather than scored a row at a time.
_MAX_REFUSED_ROWS = 100


def _results_or_refusals(
    scorer: Scorer, frame: Any, classes: list[str], explain: bool = False
) -> tuple[Any, list[tuple[int, str]]]:
    """Results of the rows the model scores, and (row, reason) for those it refuses.

    The rows it scores are scored together in one call, as the pipeline would be called on
    them (a linear model's arithmetic on one row can differ in the last bit from the same row
    among others): halving only finds the refused ones.
    """
    try:
        return _results(scorer, frame, classes, explain), []
    except InvalidInputError:
        pass
    refused: list[tuple[int, str]] = []

    def find(part: Any) -> None:
        try:
            _results(scorer, part, classes)  # scoring alone finds the refused rows
        except InvalidInputError as exc:
            if len(part) > 1:
                half = len(part) // 2
                find(part.iloc[:half])
                find(part.iloc[half:])
                return
            refused.append((int(part.index[0]), exc.message))
            if len(refused) > _MAX_REFUSED_ROWS:
                raise InvalidInputError(
                    f"the model refused more than {_MAX_REFUSED_ROWS} rows, the first "
                    f"(row {refused[0][0]}): {refused[0][1]}"
                ) from None

    find(frame)
    kept = frame.drop(index=[row for row, _ in refused])
    return _results(scorer, kept, classes, explain), refused


def _results(scorer: Scorer, frame: Any, classes: list[str], explain: bool = False) -> Any:
    """Predictions, probabilities and the version per row; with `explain`, each feature's
    contribution after them (`contrib_<feature>`, adding up to the raw output)."""
    import pandas as pd

    if len(frame) == 0:
        columns = ["prediction", *[f"proba_{c}" for c in classes], "model_version"]
        return pd.DataFrame(columns=columns + (scorer.contribution_names() if explain else []))
    predictions, proba = scorer.score_frame(frame)
    results = pd.DataFrame({"prediction": predictions}, index=frame.index)
    if proba is not None:
        for i, name in enumerate(classes):
            results[f"proba_{name}"] = proba[:, i]
    results["model_version"] = scorer.version
    if explain:
        contributions = explanation_columns(scorer.explain_frame(frame))
        results = pd.concat([results, pd.DataFrame(contributions, index=frame.index)], axis=1)
    return results


def _check_id_columns(keep: list[str], columns: list[str]) -> None:
    missing = [c for c in keep if c not in columns]
    if missing:
        raise InvalidInputError(
            f"the model's id columns are missing from the file: {', '.join(missing)}"
        )
