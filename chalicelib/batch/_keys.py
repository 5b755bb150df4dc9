"""Where batch files come in and where their results go: the key contract, pure.

<incoming>/<model>[@<version>|@<alias>]/<path>     analysts drop files here
<scored>/<model>/<path>                             scored file, same format
<scored>/<model>/<path>.manifest.json               what happened, written last
<errors>/<model>/<path>.errors.csv                  rejected rows: row, field, reason
<jobs>/<job id>.json                                claim of one input version
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from urllib.parse import unquote_plus

from chalicelib.batch.formats import format_of
from chalicelib.core import ConfigError, InvalidInputError, Settings
from chalicelib.registry import check_model_name


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


def parse_incoming_key(key: str, layout: BatchLayout) -> BatchTarget | None:
    """The target of an incoming key; None for keys outside the incoming prefix."""
    if not key.startswith(layout.incoming):
        return None
    folder, _, path = key[len(layout.incoming) :].partition("/")
    if not folder or not path or path.endswith("/"):
        raise InvalidInputError(
            f"put files under {layout.incoming}<model>/<file>, e.g. "
            f"{layout.incoming}churn/customers.csv; got {key!r}"
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


def job_id(bucket: str, key: str, version_id: str | None, etag: str) -> str:
    """One id per input version: the same upload delivered twice maps to the same job."""
    identity = f"{bucket}\x00{key}\x00{version_id or ''}\x00{etag.strip(chr(34))}"
    return hashlib.sha256(identity.encode()).hexdigest()[:32]
