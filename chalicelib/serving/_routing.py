"""Which version answers a request: explicit version, named alias, or champion plus canary.

Pure: takes the aliases document and returns a Route. Canary assignment is sticky per entity
(a stable hash of model and entity id), random otherwise.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from chalicelib.core import NotFoundError, NotReadyError
from chalicelib.registry import CANARY, CHAMPION, SHADOW


@dataclass(frozen=True)
class Route:
    """The version that answers, under which alias (None for ?version=), and any shadow."""

    version: int
    alias: str | None
    shadow_version: int | None = None


def entity_share(model: str, entity_id: Any) -> float:
    """A stable number in [0, 1) for an entity, the same in every process and container."""
    digest = hashlib.blake2b(f"{model}\x00{entity_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def choose_route(
    model: str,
    aliases: Mapping[str, Any],
    *,
    version: int | None = None,
    alias: str | None = None,
    entity_id: Any = None,
    draw: Callable[[], float] = random.random,
) -> Route:
    """The route for one request; NotReadyError when no champion is promoted yet."""
    if version is not None:
        return Route(version=version, alias=None)
    if alias is not None and alias != CHAMPION:
        entry = aliases.get(alias)
        if entry is None:
            raise NotFoundError(
                f"model {model!r} has no {alias!r} alias; "
                f"set it with `sklambda promote {model} VERSION --alias {alias}`"
            )
        return Route(version=int(entry["version"]), alias=alias)
    champion = aliases.get(CHAMPION)
    if champion is None:
        raise NotReadyError(
            f"model {model!r} has no champion yet: promote a version with "
            f"`sklambda promote {model} VERSION`"
        )
    chosen = Route(version=int(champion["version"]), alias=CHAMPION)
    canary = aliases.get(CANARY)
    if alias is None and canary is not None:
        share = entity_share(model, entity_id) if entity_id is not None else draw()
        if share < float(canary.get("weight", 0.0)):
            chosen = Route(version=int(canary["version"]), alias=CANARY)
    shadow = aliases.get(SHADOW)
    if shadow is not None and int(shadow["version"]) != chosen.version:
        chosen = Route(chosen.version, chosen.alias, shadow_version=int(shadow["version"]))
    return chosen
