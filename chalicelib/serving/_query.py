"""What a request's query string says: the version or alias asked for, and true/false flags.
Each answer is checked here, so a wrong value is a 400 naming what is expected."""

from __future__ import annotations

from collections.abc import Mapping

from chalicelib.core import InvalidInputError


def version_and_alias(query: Mapping[str, str]) -> tuple[int | None, str | None]:
    """?version=N or ?alias=NAME (at most one), else (None, None): the champion."""
    raw_version, alias = query.get("version"), query.get("alias")
    if raw_version is not None and alias is not None:
        raise InvalidInputError("pass either ?version=N or ?alias=NAME, not both")
    if raw_version is None:
        return None, alias or None
    return parse_version(raw_version), None


def parse_version(raw_version: str) -> int:
    """A ?version= value as a version number; InvalidInputError saying what is expected."""
    try:
        version = int(raw_version)
    except ValueError:
        raise InvalidInputError(f"version must be a whole number, got {raw_version!r}") from None
    if version < 1:
        raise InvalidInputError(f"version must be 1 or more, got {version}")
    return version


def query_flag(query: Mapping[str, str], name: str) -> bool:
    """A true/false query parameter (absent: false); anything else is the caller's mistake."""
    raw = query.get(name)
    if raw is None:
        return False
    value = raw.strip().lower()
    if value not in ("true", "false", "1", "0"):
        raise InvalidInputError(f"{name} must be true or false, got {raw!r}")
    return value in ("true", "1")
