"""Batch files in a monitor run: every row of each file scored in the window, read once.

Each succeeded manifest names the input and the scored file of one scoring job. The first to
see it (the aggregating function when the manifest lands, `_arrivals.py`, or else a run)
reads both files whole, chunk by chunk (memory stays a chunk's), into a fresh window of the
version, and stores its state as the file's partial
(`reports/_partials/<model>/<version>/batch/<digest of the job>.json`); every later run whose
window holds the file merges that partial instead of reading the file again.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from chalicelib.batch import Manifest
from chalicelib.core import logger
from chalicelib.monitoring._partials import PartialStore, batch_slice
from chalicelib.monitoring._run import MonitorRun
from chalicelib.monitoring._sources import MonitorSources, UnreadableFile
from chalicelib.monitoring._window import VersionWindow


def scan_batch(
    name: str,
    windows: Mapping[int, VersionWindow],
    run: MonitorRun,
    sources: MonitorSources,
    partials: PartialStore,
) -> None:
    """Add the batch files of `name` scored in the run's window to its versions' windows."""
    for manifest in sources.batch_manifests(name, run.start, run.at):
        model = manifest.get("model")
        window = windows.get(model["version"]) if model else None
        state = batch_partial(name, window, manifest, sources, partials) if window else None
        if window is not None and state is not None:
            window.merge(state)


def batch_partial(
    name: str,
    window: VersionWindow,
    manifest: Manifest,
    sources: MonitorSources,
    partials: PartialStore,
) -> dict[str, Any] | None:
    """The state of one scored file of `window`'s version: its stored partial, or the file
    read whole and stored as its partial; None when the file cannot be read as scored."""
    scored = manifest["outputs"]["scored"] if manifest.get("outputs") else None
    if not scored:
        return None
    job = str(manifest.get("job_id") or manifest["input"]["key"])
    slice_name = batch_slice(str(scored["key"]), job)
    partial = partials.read(name, window.version, slice_name)
    if partial.usable_by(window) and partial.state is not None:
        return partial.state
    state = _read_file(window.fresh(), manifest, sources)
    if state is None:
        return None
    partial.state = state
    partial.sources = {str(manifest["input"]["key"]): 0, str(scored["key"]): 0}
    partials.write(name, window.version, slice_name, partial)
    return state


def _read_file(
    fresh: VersionWindow, manifest: Mapping[str, Any], sources: MonitorSources
) -> dict[str, Any] | None:
    """The state of one scored file's rows (inputs and predictions), or None when either file
    cannot be read as it was scored (nothing of it is counted then)."""
    source = manifest["input"]
    scored = manifest["outputs"]["scored"]
    try:
        for inputs in sources.input_chunks(source["key"], source["version_id"], fresh.descriptions):
            fresh.add_batch_inputs(inputs)
        for outputs in sources.row_chunks(str(scored["key"])):
            fresh.add_batch_predictions(outputs)
    except UnreadableFile:
        logger.warning("batch file skipped by the monitor", extra={"key": source["key"]})
        return None
    return fresh.state()
