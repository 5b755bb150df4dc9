"""Where batch files come in and where their results go: the key contract, pure.

<incoming>/<model>[@<version>|@<alias>]/<path>     analysts drop files here
<scored>/<model>/<path>                             scored file, same format
<scored>/<model>/<path>.manifest.json               what happened, written last
<errors>/<model>/<path>.errors.csv                  rejected rows: row, field, reason
<jobs>/<job id>.json                                claim of one input version

Every folder of <path> is a plain name: S3 keeps '..', '.' and empty segments literally, but
a result key built from them would read as a path that leaves its prefix, so such keys are
refused. A refusal's manifest goes under the model folder only when that folder is a valid
model name, and under <scored>/<model>/_refused/<hash of the key> when <path> is not safe.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from urllib.parse import unquote_plus

from chalicelib.batch.formats import format_of
from chalicelib.core import ConfigError, InvalidInputError, Settings
from chalicelib.registry import check_model_name

# Path segments that would make a result key climb out of (or blur) its prefix.
UNSAFE_SEGMENTS = frozenset({"", ".", ".."})
# Where the refusal manifests of keys whose path cannot be reused go, under <scored>/<model>/.
REFUSED_FOLDER = "_refused"


@dataclass(frozen=True)
class BatchLayout:
    """The batch prefixes of the data bucket; the output never overlaps the input."""

    incoming: str
    scored: str
    errors: str
    jobs: str

    @classmethod
    def from_settings(cls, settings: Settings) -> BatchLayout:
        """The layout under the batch prefix; ConfigError if an output could re-trigger."""
        base = settings.batch_prefix
        layout = cls(
            incoming=base + "incoming/",
            scored=base + "scored/",
            errors=base + "errors/",
            jobs=base + "_jobs/",
        )
        layout.check()
        return layout

    def check(self) -> None:
        """Refuse layouts where writing a result would notify the scorer again (a loop)."""
        for name, prefix in (("scored", self.scored), ("errors", self.errors), ("jobs", self.jobs)):
            if prefix.startswith(self.incoming) or self.incoming.startswith(prefix):
                raise ConfigError(
                    f"the batch {name} prefix {prefix!r} overlaps the incoming prefix "
                    f"{self.incoming!r}: every result would trigger another run; "
                    "give them separate prefixes"
                )


@dataclass(frozen=True)
class BatchTarget:
    """What an incoming key asks for: which model (and version or alias) and which file."""

    model: str
    version: int | None
    alias: str | None
    path: str
    fmt: str

    def scored_key(self, layout: BatchLayout) -> str:
        return f"{layout.scored}{self.model}/{self.path}"

    def manifest_key(self, layout: BatchLayout) -> str:
        return f"{layout.scored}{self.model}/{self.path}.manifest.json"

    def errors_key(self, layout: BatchLayout) -> str:
        return f"{layout.errors}{self.model}/{self.path}.errors.csv"


def decode_event_key(raw: str) -> str:
    """S3 notifications URL-encode keys ('+' for spaces); this is the real key."""
    return unquote_plus(raw)


def has_unsafe_segment(relative: str) -> bool:
    """Whether a '/'-separated path has an empty, '.' or '..' segment."""
    return any(segment in UNSAFE_SEGMENTS for segment in relative.split("/"))


def parse_incoming_key(key: str, layout: BatchLayout) -> BatchTarget | None:
    """The target of an incoming key; None for keys outside the incoming prefix."""
    if not key.startswith(layout.incoming):
        return None
    relative = key[len(layout.incoming) :]
    folder, _, path = relative.partition("/")
    if not folder or not path or path.endswith("/"):
        raise InvalidInputError(
            f"put files under {layout.incoming}<model>/<file>, e.g. "
            f"{layout.incoming}churn/customers.csv; got {key!r}"
        )
    if has_unsafe_segment(relative):
        raise InvalidInputError(
            f"cannot score {key!r}: a folder in its key is empty, '.' or '..'; upload it again "
            f"under {layout.incoming}<model>/<path> with plain folder names"
        )
    model, _, selector = folder.partition("@")
    check_model_name(model)
    version = alias = None
    if selector.isdigit():
        version = int(selector)
    elif selector:
        alias = selector
    fmt = format_of(path)
    if fmt is None:
        raise InvalidInputError(
            f"cannot score {path!r}: sklambda reads .csv, .csv.gz, .parquet and .jsonl files"
        )
    return BatchTarget(model=model, version=version, alias=alias, path=path, fmt=fmt)


def refusal_target(key: str, layout: BatchLayout) -> BatchTarget | None:
    """Where the failed manifest of an incoming key that cannot be scored goes; None when the
    key names no valid model folder (or is a folder itself): then there is nowhere to put it.

    Only a folder that passes the registry's name check becomes a key: the refused key is
    untrusted, and its path is reused only when every segment of it is a plain name.
    """
    if not key.startswith(layout.incoming):
        return None
    folder, _, path = key[len(layout.incoming) :].partition("/")
    model = folder.partition("@")[0]
    try:
        check_model_name(model)
    except InvalidInputError:
        return None
    if not path or path.endswith("/"):
        return None  # a folder marker (the S3 console's "create folder"), not a file
    if has_unsafe_segment(path):
        path = f"{REFUSED_FOLDER}/{hashlib.sha256(key.encode()).hexdigest()[:32]}"
    return BatchTarget(model=model, version=None, alias=None, path=path, fmt="")


def job_id(bucket: str, key: str, version_id: str | None, etag: str) -> str:
    """One id per input version: the same upload delivered twice maps to the same job."""
    identity = f"{bucket}\x00{key}\x00{version_id or ''}\x00{etag.strip(chr(34))}"
    return hashlib.sha256(identity.encode()).hexdigest()[:32]
