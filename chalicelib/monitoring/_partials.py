"""Partial aggregates: what the capture of one delivery hour, or one scored batch file, adds
to one version's window, stored once and merged by every later run.

```
reports/_partials/<model>/<version>/<yyyy-mm-ddThh>.json      a capture delivery hour
reports/_partials/<model>/<version>/batch/<digest>.json       a scored batch file (every row)
    {"format": 1, "model", "version", "slice",
     "sources": {<object key>: <size>, ...},   the objects it has added up
     "state": VersionWindow.state()}
```

A run lists each hour's capture objects and reads only those no partial has added yet, so a
24-hour window costs one new hour of reading plus 23 small documents. The `sources` make it
idempotent: an object is added to a partial at most once, whoever reads it, and an object
that lands late in an hour already aggregated (Firehose buffers up to 15 minutes) is added by
the next run. Two runs writing one partial at once: the second write is refused (If-Match),
its run still uses what it read, and whatever it had added and the first did not is added
again by a later run, never twice.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from chalicelib.core import logger
from chalicelib.storage import ObjectStore, PreconditionFailed

if TYPE_CHECKING:
    from chalicelib.monitoring._window import VersionWindow

PARTIAL_FORMAT = 1


@dataclass
class HourPartial:
    """One version's aggregate of one capture hour, and the objects it covers."""

    sources: dict[str, int] = field(default_factory=dict)  # object key -> size
    state: dict[str, Any] | None = None
    etag: str | None = None  # as read; None when there was none

    def covers(self, key: str, size: int) -> bool:
        """Whether this object (as listed now) has been added."""
        return self.sources.get(key) == size

    def usable_by(self, window: VersionWindow) -> bool:
        """Whether the stored state merges into `window`; a state that does not (written by a
        release with other bins, or damaged) is dropped, so its objects are read again."""
        if self.state is None:
            return True
        try:
            window.fresh().merge(self.state)
        except (KeyError, TypeError, ValueError):
            logger.warning("a stored partial does not fit its version's window; reading again")
            self.sources, self.state = {}, None
            return False
        return True


class PartialStore:
    """The partials of every model's versions under the reports prefix."""

    def __init__(self, data: ObjectStore, prefix: str) -> None:
        self.data = data
        self.prefix = prefix

    def key(self, model: str, version: int, slice_name: str) -> str:
        # Under one folder of their own (no model name starts with "_"), which the stack's
        # lifecycle rule expires with the capture they aggregate.
        return f"{self.prefix}_partials/{model}/{version}/{slice_name}.json"

    def read(self, model: str, version: int, slice_name: str) -> HourPartial:
        """The stored partial, or an empty one; an unreadable document counts as absent (its
        objects are read again, which costs time, never a double count)."""
        document, etag = self.data.read_json(self.key(model, version, slice_name))
        if not isinstance(document, dict) or document.get("format") != PARTIAL_FORMAT:
            return HourPartial(etag=etag)
        return HourPartial(dict(document["sources"]), document["state"], etag)

    def write(self, model: str, version: int, slice_name: str, partial: HourPartial) -> None:
        """Store `partial` unless another run changed it since it was read."""
        document = {
            "format": PARTIAL_FORMAT,
            "model": model,
            "version": version,
            "slice": slice_name,
            "sources": partial.sources,
            "state": partial.state,
        }
        try:
            self.data.replace_json(self.key(model, version, slice_name), document, partial.etag)
        except PreconditionFailed:
            logger.info(
                "partial written by another run meanwhile; this run's is not stored",
                extra={"model": model, "version": version, "slice": slice_name},
            )


def hour_slice(hour: datetime) -> str:
    """The slice name of a capture delivery hour."""
    return f"{hour:%Y-%m-%dT%H}"


def batch_slice(scored_key: str, job_id: str) -> str:
    """The slice name of one scoring of a batch file (a new upload is a new job)."""
    return "batch/" + hashlib.sha256(f"{scored_key}\n{job_id}".encode()).hexdigest()[:32]
