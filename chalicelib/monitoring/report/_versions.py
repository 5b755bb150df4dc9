"""The versions of a report: their keys, names, roles, colours and their numbers per run."""

from __future__ import annotations

from typing import Any

from chalicelib.monitoring.report._values import as_dict, as_list, num, text

VERSION_COLORS = ["#2563eb", "#d97706", "#7c3aed", "#0d9488", "#db2777", "#65a30d", "#475569"]


def version_key(version: Any) -> str:
    """A version number as the trend's JSON keys spell it."""
    return text(version)


def trend_version(entry: dict[str, Any], key: str) -> dict[str, Any]:
    """A run's numbers for a version (JSON keys are strings; a dict built in Python may not be)."""
    versions = as_dict(entry.get("versions"))
    found = versions.get(key)
    number = _integer(key)
    if found is None and number is not None:
        found = versions.get(number)
    return as_dict(found)


def ordered_keys(versions: list[dict[str, Any]], trend: list[dict[str, Any]]) -> list[str]:
    """Live versions in report order, then versions only seen in the trend (newest first)."""
    live = [version_key(v.get("version")) for v in versions]
    others: list[str] = []
    for entry in trend:
        for key in map(version_key, as_dict(entry.get("versions"))):
            if key not in live and key not in others:
                others.append(key)
    numbers = {k: _integer(k) for k in others}
    others.sort(key=lambda k: (0, -n, "") if (n := numbers[k]) is not None else (1, 0, k))
    return live + others


def version_colors(versions: list[dict[str, Any]], trend: list[dict[str, Any]]) -> dict[str, str]:
    """A colour per version, kept by the same version in every chart of the page."""
    keys = ordered_keys(versions, trend)
    return {k: VERSION_COLORS[i % len(VERSION_COLORS)] for i, k in enumerate(keys)}


def version_labels(versions: list[dict[str, Any]], trend: list[dict[str, Any]]) -> dict[str, str]:
    """Legend names: 'v3 champion', or 'v2 (past)' for versions only seen in the trend."""
    roles = {
        version_key(v.get("version")): " ".join(text(r) for r in as_list(v.get("roles")))
        for v in versions
    }
    labels = {}
    for key in ordered_keys(versions, trend):
        role = roles.get(key)
        labels[key] = f"v{key} {role}" if role else f"v{key}" if key in roles else f"v{key} (past)"
    return labels


def role_chips(version: dict[str, Any], aliases: dict[str, Any], short: bool = False) -> list[str]:
    """The aliases pointing at a version, with the traffic weight when there is one."""
    chips = []
    for role in as_list(version.get("roles")):
        weight = num(as_dict(aliases.get(text(role))).get("weight"))
        chip = text(role)
        if weight is not None:
            chip += f" · {weight * 100:g}%" + ("" if short else " of traffic")
        chips.append(chip)
    return chips


def role_names(version: dict[str, Any]) -> str:
    """'champion, canary': the aliases of a version, or ''."""
    return ", ".join(text(r) for r in as_list(version.get("roles")))


def version_name(version: dict[str, Any]) -> str:
    """'version 3 (champion)'."""
    roles = role_names(version)
    return f"version {text(version.get('version'))}" + (f" ({roles})" if roles else "")


def features_of(version: dict[str, Any]) -> list[tuple[dict[str, Any], bool]]:
    """(feature, is the prediction): the prediction first when there is one, then the features
    in signature order."""
    out = []
    prediction = version.get("prediction")
    if isinstance(prediction, dict):
        out.append((prediction, True))
    out.extend((f, False) for f in as_list(version.get("features")) if isinstance(f, dict))
    return out


def _integer(key: str) -> int | None:
    """The version number a key spells ('3', '-1'), or None ('x', and '--3' or '²' too)."""
    if not key.lstrip("-").isdecimal():
        return None
    try:
        return int(key)
    except ValueError:
        return None
