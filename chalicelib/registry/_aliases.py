"""Alias state of one model, and the pure transitions that move it.

The aliases document is one JSON object per model:

    {"revision": 4,
     "aliases": {"champion": {"version": 3, "previous": [1, 2], ...},
                 "canary": {"version": 4, "weight": 0.1, "previous": [], ...}},
     "last_event": {...}}

Each change bumps `revision` and is written with If-Match on the ETag that was read, so of two
racing changes exactly one lands. `previous` is the alias's own stack of earlier versions:
promotion pushes, rollback pops, so repeated rollbacks walk back through what was live.
`last_event` rides in the same write as the change, so the history can never miss a move that
happened even if writing its separate history object fails.
"""

from __future__ import annotations

import copy
import re
from typing import NotRequired, TypedDict

from chalicelib.core import InvalidInputError, NotFoundError

CHAMPION = "champion"
CANARY = "canary"
SHADOW = "shadow"
WEIGHTED_ALIASES = {CANARY}
DEFAULT_CANARY_WEIGHT = 0.1

_ALIAS_NAME = re.compile(r"^[a-z][a-z0-9-]{0,31}$")


class AliasEntry(TypedDict):
    """Where one alias points, and the stack of versions it pointed to before."""

    version: int
    previous: list[int]
    updated_at: str
    updated_by: str
    weight: NotRequired[float]  # the canary's share of traffic


class AliasEvent(TypedDict):
    """One alias move: what, who, when and why (also stored as history/<revision>.json)."""

    action: str  # promote | rollback | remove | retire | restore
    alias: str | None  # None for retire and restore
    from_version: int | None
    to_version: int | None
    actor: str
    at: str
    reason: str
    weight: NotRequired[float]
    revision: NotRequired[int]


class Retirement(TypedDict):
    """Why a model or version was retired, when and by whom."""

    reason: str
    at: str
    by: str


class RetiredState(TypedDict):
    """What of a model is retired: the whole model (when `model` is set) and/or versions."""

    model: NotRequired[Retirement]
    versions: dict[str, Retirement]  # by version number, as text (JSON keys)


class AliasesDocument(TypedDict):
    """aliases.json: every alias of one model, its revision and its last move, and what of
    the model is retired (kept here so one conditional write checks both)."""

    revision: int
    aliases: dict[str, AliasEntry]
    last_event: AliasEvent | None
    retired: NotRequired[RetiredState]


def empty_document() -> AliasesDocument:
    """The aliases document of a model that has never had an alias."""
    return {"revision": 0, "aliases": {}, "last_event": None}


def check_alias_name(alias: str) -> None:
    """Refuse alias names that would not survive in URLs, keys and folder names."""
    if not _ALIAS_NAME.match(alias) or alias.isdigit():
        raise InvalidInputError(
            f"invalid alias {alias!r}: use lowercase letters, digits and '-', starting with a "
            "letter (e.g. champion, canary, shadow)"
        )


def check_weight(alias: str, weight: float | None) -> float | None:
    """The traffic weight to store for `alias`: required in (0, 1] for a canary, else none."""
    if alias not in WEIGHTED_ALIASES:
        if weight is not None:
            raise InvalidInputError(
                f"only the {', '.join(sorted(WEIGHTED_ALIASES))} alias takes a traffic weight"
            )
        return None
    if weight is None:
        return DEFAULT_CANARY_WEIGHT
    if not 0.0 < weight <= 1.0:
        hint = f" (for {weight:g} % use {weight / 100:g})" if 1.0 < weight <= 100.0 else ""
        raise InvalidInputError(
            f"weight must be a share of traffic between 0 and 1, got {weight:g}{hint}"
        )
    return float(weight)


def promote(
    document: AliasesDocument,
    *,
    model: str,
    alias: str,
    version: int,
    weight: float | None,
    actor: str,
    at: str,
    reason: str,
) -> AliasesDocument | None:
    """The document with `alias` moved to `version`; None when it already points there."""
    check_alias_name(alias)
    weight = check_weight(alias, weight)
    current = document["aliases"].get(alias)
    if current and current["version"] == version and current.get("weight") == weight:
        return None
    champion = document["aliases"].get(CHAMPION)
    if alias in (CANARY, SHADOW) and champion is not None and champion["version"] == version:
        raise InvalidInputError(
            f"version {version} is already the champion of {model!r}; a {alias} must be "
            "another version (it is compared with the champion)"
        )
    previous = list(current["previous"]) if current else []
    if current and current["version"] != version:
        previous.append(current["version"])
    entry = _entry(version, previous, actor, at, weight)
    return _with_change(
        document,
        alias=alias,
        entry=entry,
        event=_event("promote", alias, current, version, weight, actor, at, reason),
    )


def rollback(
    document: AliasesDocument, *, model: str, alias: str, actor: str, at: str, reason: str
) -> AliasesDocument:
    """The document with `alias` moved back to the version it pointed to before."""
    check_alias_name(alias)
    current = document["aliases"].get(alias)
    if not current:
        raise NotFoundError(
            f"model {model!r} has no {alias!r} alias, so there is nothing to roll back; "
            f"see `sklambda history {model}`"
        )
    if not current["previous"]:
        raise InvalidInputError(
            f"{alias} of {model!r} has no earlier version to roll back to "
            f"(it has only pointed to version {current['version']}); "
            f"promote another version with `sklambda promote {model} VERSION --alias {alias}`"
        )
    *rest, target = current["previous"]
    entry = _entry(target, rest, actor, at, current.get("weight"))
    return _with_change(
        document,
        alias=alias,
        entry=entry,
        event=_event("rollback", alias, current, target, entry.get("weight"), actor, at, reason),
    )


def remove(
    document: AliasesDocument, *, model: str, alias: str, actor: str, at: str, reason: str
) -> AliasesDocument:
    """The document without `alias` (ends a canary or shadow; the champion cannot go)."""
    check_alias_name(alias)
    if alias == CHAMPION:
        raise InvalidInputError(
            "the champion alias cannot be removed: promote or roll back another version instead"
        )
    current = document["aliases"].get(alias)
    if not current:
        raise NotFoundError(f"model {model!r} has no {alias!r} alias to remove")
    return _with_change(
        document,
        alias=alias,
        entry=None,
        event=_event("remove", alias, current, None, None, actor, at, reason),
    )


def _entry(
    version: int, previous: list[int], actor: str, at: str, weight: float | None
) -> AliasEntry:
    entry: AliasEntry = {
        "version": version,
        "previous": previous,
        "updated_at": at,
        "updated_by": actor,
    }
    if weight is not None:
        entry["weight"] = weight
    return entry


def with_event(document: AliasesDocument, event: AliasEvent) -> AliasesDocument:
    """A copy of `document` one revision on, with `event` as its last move."""
    changed = copy.deepcopy(document)
    changed["revision"] = document["revision"] + 1
    event["revision"] = changed["revision"]
    changed["last_event"] = event
    return changed


def _with_change(
    document: AliasesDocument, *, alias: str, entry: AliasEntry | None, event: AliasEvent
) -> AliasesDocument:
    changed = with_event(document, event)
    if entry is None:
        changed["aliases"].pop(alias, None)
    else:
        changed["aliases"][alias] = entry
    return changed


def _event(
    action: str,
    alias: str,
    current: AliasEntry | None,
    to_version: int | None,
    weight: float | None,
    actor: str,
    at: str,
    reason: str,
) -> AliasEvent:
    event: AliasEvent = {
        "action": action,
        "alias": alias,
        "from_version": current["version"] if current else None,
        "to_version": to_version,
        "actor": actor,
        "at": at,
        "reason": reason,
    }
    if weight is not None:
        event["weight"] = weight
    return event
