"""The analyst's side of batch scoring: upload a file, follow it, read its manifest."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

from chalicelib.batch import (
    BatchLayout,
    BatchTarget,
    Manifest,
    format_of,
    has_unsafe_segment,
    job_id,
)
from chalicelib.core import InvalidInputError, SklambdaError
from chalicelib.registry import check_model_name
from chalicelib.storage import ObjectMissing, ObjectStore, translate_aws_errors


def incoming_key(layout: BatchLayout, model: str, path: str, selector: str | None) -> str:
    """Where to put a file so that `model` (at `selector`, a version or alias) scores it."""
    check_model_name(model)
    path = path.lstrip("/")
    if has_unsafe_segment(path):  # the scorer would refuse the key: say so before uploading
        raise InvalidInputError(
            f"cannot upload to {path!r}: a folder in it is empty, '.' or '..'; "
            "use plain folder names"
        )
    folder = f"{model}@{selector}" if selector else model
    return f"{layout.incoming}{folder}/{path}"


class BatchClient:
    """Uploads files for scoring and waits for their manifests."""

    def __init__(self, s3: Any, bucket: str, layout: BatchLayout) -> None:
        self._s3 = s3
        self._store = ObjectStore(s3, bucket)
        self._bucket = bucket
        self._layout = layout

    def upload(
        self, file: Path, key: str, progress: Callable[[int], None] | None = None
    ) -> dict[str, Any]:
        """Upload `file` to `key`; (key, etag, version id) of what S3 stored."""
        if not file.is_file():
            raise InvalidInputError(f"{str(file)!r} does not exist or is not a file")
        if format_of(file.name) is None:
            raise InvalidInputError(
                f"cannot score {file.name!r}: use .csv, .csv.gz, .parquet or .jsonl"
            )
        with translate_aws_errors(f"upload {file.name}", self._bucket):
            self._s3.upload_file(str(file), self._bucket, key, Callback=progress)
            head = self._s3.head_object(Bucket=self._bucket, Key=key)
        return {"key": key, "etag": head["ETag"].strip('"'), "version_id": head.get("VersionId")}

    def wait(
        self,
        uploaded: dict[str, Any],
        *,
        timeout: float = 900.0,
        poll_seconds: float = 1.0,
        on_progress: Callable[[dict[str, Any]], None] | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> Manifest:
        """Poll until the upload's manifest appears; the manifest."""
        version_id = uploaded.get("version_id")
        if version_id == "null":
            version_id = None
        job = job_id(self._bucket, uploaded["key"], version_id, uploaded["etag"])
        target = _target_of(uploaded["key"], self._layout)
        deadline = time.monotonic() + timeout
        while True:
            manifest = self._manifest(target)
            if manifest and manifest["input"]["etag"] == uploaded["etag"]:
                return manifest
            if on_progress is not None:
                on_progress(self._progress(job))
            if time.monotonic() > deadline:
                raise SklambdaError(
                    f"no manifest after {timeout:.0f} s: the batch scorer may be busy or down; "
                    f"check the queue and look for {target.manifest_key(self._layout)} later"
                )
            sleep(poll_seconds)

    def _manifest(self, target: BatchTarget) -> Manifest | None:
        try:
            document, _ = self._store.get_json(target.manifest_key(self._layout))
        except ObjectMissing:
            return None
        return document

    def _progress(self, job: str) -> dict[str, Any]:
        try:
            document, _ = self._store.get_json(f"{self._layout.jobs}{job}.json")
        except ObjectMissing:
            return {"state": "queued"}
        return {"state": "scoring", **document}


def _target_of(key: str, layout: BatchLayout) -> BatchTarget:
    folder, _, path = key[len(layout.incoming) :].partition("/")
    model = folder.partition("@")[0]
    return BatchTarget(model=model, version=None, alias=None, path=path, fmt=format_of(path) or "")


class ProgressBar:
    """A one-line progress display on a terminal (plain lines when not a terminal)."""

    def __init__(self, out: TextIO | None = None, width: int = 30) -> None:
        self._out = out or sys.stderr
        self._width = width
        self._tty = self._out.isatty()
        self._last = ""
        self._started = time.monotonic()

    def show(self, label: str, done: float | None, detail: str = "") -> None:
        elapsed = time.monotonic() - self._started
        if done is None:
            bar = "·" * self._width
            share = "  ?%"
        else:
            filled = int(max(0.0, min(1.0, done)) * self._width)
            bar = "█" * filled + "·" * (self._width - filled)
            share = f"{done:4.0%}"
        line = f"{label:<9} [{bar}] {share} {elapsed:6.1f}s {detail}".rstrip()
        if self._tty:
            self._out.write("\r" + line.ljust(len(self._last)))
        elif line.split("]")[0] != self._last.split("]")[0]:
            self._out.write(line + "\n")
        self._out.flush()
        self._last = line

    def finish(self) -> None:
        if self._tty:
            self._out.write("\n")
            self._out.flush()
