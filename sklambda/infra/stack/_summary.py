"""The dry run's summary: what the stack would hold, read from the template; no AWS call."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sklambda.infra.stack._uploads import CODE_URI_KEYS


def summarize_template(template: Mapping[str, Any]) -> list[str]:
    """Lines describing the template's resources by type and logical id; no AWS call."""
    resources: Mapping[str, Any] = template.get("Resources", {})
    lines = [f"{len(resources)} resources{_transform_note(template)}:"]
    rows = sorted((body.get("Type", "?"), name) for name, body in resources.items())
    width = max((len(kind) for kind, _ in rows), default=0)
    for kind, name in rows:
        notes = _resource_notes(resources[name])
        lines.append(f"  {kind.ljust(width)}  {name}{notes}".rstrip())
    for section in ("Parameters", "Outputs"):
        if template.get(section):
            lines.append(f"{section}: {', '.join(template[section])}")
    return lines


def _transform_note(template: Mapping[str, Any]) -> str:
    transform = template.get("Transform")
    if not transform:
        return ""
    names = ", ".join(transform) if isinstance(transform, list) else str(transform)
    return f" before the {names} transform expands the AWS::Serverless ones"


def _resource_notes(body: Mapping[str, Any]) -> str:
    notes = []
    if body.get("DeletionPolicy") == "Retain":
        notes.append("kept when the stack is deleted")
    properties = body.get("Properties") or {}
    for key in CODE_URI_KEYS:
        if isinstance(properties.get(key), str):
            notes.append(f"code {properties[key]}")
    return f"  ({'; '.join(notes)})" if notes else ""
