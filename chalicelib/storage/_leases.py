"""An S3 lease: one holder at a time for a piece of work, taken over when its holder went quiet.

Used for batch jobs, monitor runs and the retrain lock. The holder creates the lease object
with If-None-Match; a later taker reads it, and when the document says its holder is no
longer live (finished, or silent past its lease) replaces it with If-Match on the ETag it
read. Of two takers racing for the same stale lease, S3 lets one write win; the other is
told the lease is held. What "live" means is the caller's: each lease document records its
own clock (a heartbeat, a start time, a status).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from chalicelib.storage._objects import ObjectMissing, ObjectStore, PreconditionFailed


@dataclass(frozen=True)
class Lease:
    """A lease this caller holds: where, the ETag of its write, and what it wrote."""

    key: str
    etag: str
    document: Mapping[str, Any]


class LeaseHeld(Exception):
    """The lease is held by someone else; `holder` is the document they wrote."""

    def __init__(self, key: str, holder: Mapping[str, Any]) -> None:
        super().__init__(key)
        self.key = key
        self.holder = dict(holder)


def take_lease(
    store: ObjectStore,
    key: str,
    claim: Callable[[Mapping[str, Any]], Mapping[str, Any]],
    *,
    live: Callable[[Mapping[str, Any]], bool],
) -> Lease:
    """Create the lease at `key`, or take it over when `live(current)` is false.

    `claim(current)` builds the new holder's document (`current` is {} when there is none),
    so a lease document can carry state across holders. LeaseHeld when the current holder
    is live, or when another taker won the race.
    """

    def write(current: Mapping[str, Any], **condition: Any) -> Lease:
        document = claim(current)
        return Lease(key, store.put_json(key, document, **condition), document)

    try:
        return write({}, if_none_match=True)
    except PreconditionFailed:
        pass
    try:
        current, etag = store.get_json(key)
    except ObjectMissing:  # released between our write and our read: one more try
        try:
            return write({}, if_none_match=True)
        except PreconditionFailed:
            raise LeaseHeld(key, {}) from None
    if live(current):
        raise LeaseHeld(key, current)
    try:
        return write(current, if_match=etag)
    except PreconditionFailed:
        raise LeaseHeld(key, current) from None
