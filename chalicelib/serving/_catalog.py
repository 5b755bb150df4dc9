"""What the API tells about models: the list, and one model's metadata, schema and aliases."""

from __future__ import annotations

from typing import Any

from chalicelib.registry import AliasesDocument, Registry, gone, model_retirement, retired_versions
from chalicelib.serving._query import parse_version
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
            document = registry.get_aliases(name)
            # A retired model stays listed, marked: a name that vanished would read as deleted.
            models.append(
                {
                    "name": name,
                    "latest_version": versions[-1],
                    "aliases": _aliases(document),
                    "retired": model_retirement(document) is not None,
                    "retired_versions": retired_versions(document),
                }
            )
    return models


def describe_model(registry: Registry, name: str, raw_version: str | None) -> dict[str, Any]:
    """Metadata and input schema of a version (default: champion, else latest) and aliases."""
    versions = registry.list_versions(name)
    document = registry.get_aliases(name)
    aliases = _aliases(document)
    retired = retired_versions(document)
    if raw_version is not None:
        version = parse_version(raw_version)
    elif "champion" in aliases:
        version = aliases["champion"]["version"]
    else:
        version = ([v for v in versions if v not in retired] or versions)[-1]
    error = gone(name, document, version)
    if error is not None:
        raise error
    metadata = registry.get_metadata(name, version)
    return {
        "name": name,
        "version": version,
        "versions": versions,
        "aliases": aliases,
        "retired_versions": retired,
        "input_schema": input_json_schema(metadata["features"]),
        "metadata": metadata,
        # Whether this version would load, and if not why: its signature and signed files.
        "signature": registry.signature_status(name, version),
    }
