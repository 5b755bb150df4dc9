"""What the API tells about models: the list, and one model's metadata, schema and aliases."""

from __future__ import annotations

from typing import Any

from chalicelib.registry import AliasesDocument, Registry
from chalicelib.serving._server import parse_version
from chalicelib.stats import input_json_schema


def _aliases(document: AliasesDocument) -> dict[str, Any]:
    return {
        alias: {k: entry[k] for k in ("version", "weight", "updated_at") if k in entry}
        for alias, entry in sorted(document["aliases"].items())
    }


def list_models(registry: Registry) -> list[dict[str, Any]]:
    """Every model with versions: latest version and aliases."""
    models = []
    for name in registry.list_models():
        versions = registry.list_versions(name, missing_ok=True)
        if versions:
            aliases = _aliases(registry.get_aliases(name))
            models.append({"name": name, "latest_version": versions[-1], "aliases": aliases})
    return models


def describe_model(registry: Registry, name: str, raw_version: str | None) -> dict[str, Any]:
    """Metadata and input schema of a version (default: champion, else latest) and aliases."""
    versions = registry.list_versions(name)
    aliases = _aliases(registry.get_aliases(name))
    if raw_version is not None:
        version = parse_version(raw_version)
    elif "champion" in aliases:
        version = aliases["champion"]["version"]
    else:
        version = versions[-1]
    metadata = registry.get_metadata(name, version)
    return {
        "name": name,
        "version": version,
        "versions": versions,
        "aliases": aliases,
        "input_schema": input_json_schema(metadata["features"]),
        "metadata": metadata,
        # Whether this version would load, and if not why: its signature and signed files.
        "signature": registry.signature_status(name, version),
    }
