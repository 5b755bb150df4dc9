"""Registry commands that add and read versions: register, models, versions, describe, and
sign (for versions registered before signing existed)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sklambda.cli.benchmark import benchmark_line
from sklambda.cli.command import command
from sklambda.cli.factory import CliFactory
from sklambda.cli.output import Result

if TYPE_CHECKING:
    from chalicelib.registry import AliasesDocument, SignatureStatus, VersionMetadata

from sklambda.cli.params import JsonObject, KeyValue, PathType, argument, option


@command("register", help="Register a fitted model as a new version.")
@argument("name", help="model name, e.g. churn")
@argument("model_file", type=PathType(), help="the fitted estimator, saved with joblib")
@option(
    "--train-data",
    "--train",
    "train_data",
    type=PathType(),
    required=True,
    help="training data the model was fitted on (.csv, .csv.gz, .parquet)",
)
@option("--target", required=True, help="the target column in --train-data")
@option("--metrics", type=JsonObject(), help="metrics as JSON, e.g. '{\"auc\": 0.91}'")
@option("--description", default="", help="free text")
@option("--tag", type=KeyValue(), multiple=True, metavar="K=V", help="a tag (repeatable)")
@option(
    "--parent",
    "parent_version",
    type=int,
    help="the version this one was derived from",
)
@option(
    "--missing-marker",
    "missing_marker",
    type=KeyValue(),
    multiple=True,
    metavar="COLUMN=TEXT",
    help="text that means a missing value in COLUMN, besides an empty cell (repeatable), "
    "e.g. age=NA for a file written by R",
)
@option(
    "--code",
    type=PathType(),
    multiple=True,
    metavar="PATH",
    help="your own module (x.py) or package directory the model imports, shipped with the "
    "version (repeatable)",
)
def register(
    factory: CliFactory,
    name: str,
    model_file: Path,
    train_data: Path,
    target: str,
    metrics: dict[str, Any] | None,
    description: str,
    tag: tuple[tuple[str, str], ...],
    parent_version: int | None,
    missing_marker: tuple[tuple[str, str], ...],
    code: tuple[Path, ...],
) -> Result:
    # joblib and pandas load here, for this command only.
    from chalicelib.registry import UserCode, build_code_archive, code_activated
    from sklambda.files import load_model_file, marker_like_values, read_table

    archive = build_code_archive(code) if code else None
    user_code = UserCode(archive) if archive else None
    markers: dict[str, list[str]] = {}
    for column, text in missing_marker:
        markers.setdefault(column, []).append(text)
    # The model's modules come from the bundle for the whole command: what loads the file
    # here is what Lambda will import, and pickling it again at register finds the very
    # modules the loaded estimator uses.
    with code_activated(user_code):
        estimator = load_model_file(model_file, user_code)
        table = read_table(train_data, markers)
        _note_marker_like_values(marker_like_values(table), target)
        registry = factory.create_registry()
        metadata = registry.register(
            name,
            estimator,
            table.frame,
            target,
            metrics=metrics or {},
            description=description,
            tags=dict(tag),
            training_data_uri=train_data.resolve().as_uri(),
            training_data_sha256=table.sha256,
            parent_version=parent_version,
            missing_markers=table.missing_markers,
            code=archive,
        )
    return Result(
        metadata,
        table=lambda: version_summary(metadata, registry.artifact_uri(name, metadata["version"])),
    )


def _note_marker_like_values(found: dict[str, list[str]], target: str) -> None:
    for column, values in found.items():
        if column != target:
            print(
                f"sklambda: note: column {column!r} holds {', '.join(map(repr, values))}, "
                "registered as a value; if that means a missing value, register with "
                f"--missing-marker {column}={values[0]}",
                file=sys.stderr,
            )


def version_summary(metadata: VersionMetadata, uri: str) -> dict[str, Any]:
    """The facts of a version a table shows."""
    return {
        "name": metadata["name"],
        "version": metadata["version"],
        "task": metadata["task"],
        "classes": metadata["classes"],
        "features": len(metadata["features"]),
        "target": metadata["target"]["name"],
        "sha256": metadata["artifact"]["sha256"],
        "size_bytes": metadata["artifact"]["size_bytes"],
        "scikit-learn": metadata["runtime"]["scikit-learn"],
        "metrics": metadata["metrics"],
        "training_rows": metadata["training_data"]["rows"],
        "code": _code_summary(metadata),
        "plan": _plan_summary(metadata),
        "explanations": explanations_summary(metadata),
        "created_at": metadata["created_at"],
        "created_by": metadata["created_by"],
        "artifact": uri,
    }


def _plan_summary(metadata: VersionMetadata) -> str | None:
    plan = metadata.get("plan")
    if plan is None:  # registered before serving plans
        return None
    if plan["state"] == "planned":
        return f"planned (proven on {plan.get('rows_checked', 0)} rows)"
    return f"not planned: {plan.get('reason', '')}"


def explanations_summary(metadata: VersionMetadata, top: int = 5) -> str | None:
    """One line: what `?explain=true` explains and the features that matter most (mean
    absolute contribution on the reference sample), or why the version is not explained."""
    explanations = metadata.get("explanations")
    if explanations is None:  # registered before explanations
        return None
    if explanations["state"] != "available":
        return f"unavailable: {explanations.get('reason', '')}"
    importance = explanations.get("importance") or {}
    ranked = sorted(importance.items(), key=lambda pair: -pair[1])
    shown = ", ".join(f"{name} {value:.3g}" for name, value in ranked[:top])
    more = f", +{len(ranked) - top} more" if len(ranked) > top else ""
    return f"exact, on the {explanations.get('scale')} scale; importance: {shown}{more}"


def _code_summary(metadata: VersionMetadata) -> str | None:
    code = metadata.get("code")
    if code is None:
        return None
    files = len(code["files"])
    return (
        f"{', '.join(code['modules'])} ({files} file{'s' if files != 1 else ''}, "
        f"{code['size_bytes']} bytes, sha256 {code['sha256'][:12]})"
    )


@command("models", help="List models with their latest version and aliases.")
def models(factory: CliFactory) -> Result:
    registry = factory.create_registry()
    rows = []
    for name in registry.list_models():
        versions = registry.list_versions(name, missing_ok=True)
        if not versions:
            continue
        document = registry.get_aliases(name)
        aliases = document["aliases"]
        rows.append(
            {
                "name": name,
                "versions": len(versions),
                "latest": versions[-1],
                "champion": _alias_version(aliases, "champion"),
                "canary": _alias_version(aliases, "canary"),
                "shadow": _alias_version(aliases, "shadow"),
                "retired": _retired_summary(document),
            }
        )
    columns = ["name", "versions", "latest", "champion", "canary", "shadow", "retired"]
    return Result(rows, columns=columns)


def _retired_summary(document: AliasesDocument) -> str | None:
    """'model', 'versions 2,3', or None: what of a model is retired."""
    from chalicelib.registry import model_retirement, retired_versions

    if model_retirement(document) is not None:
        return "model"
    numbers = retired_versions(document)
    return f"versions {','.join(map(str, numbers))}" if numbers else None


def _alias_version(aliases: dict[str, Any], alias: str) -> Any:
    entry = aliases.get(alias)
    if entry is None:
        return None
    return f"{entry['version']}@{entry['weight']:g}" if "weight" in entry else entry["version"]


@command("versions", help="List the versions of a model.")
@argument("name", help="model name")
def versions(factory: CliFactory, name: str) -> Result:
    from chalicelib.registry import version_retirement

    registry = factory.create_registry()
    document = registry.get_aliases(name)
    by_version: dict[int, list[str]] = {}
    for alias, entry in document["aliases"].items():
        by_version.setdefault(entry["version"], []).append(alias)
    rows = []
    for version in registry.list_versions(name):
        metadata = registry.get_metadata(name, version)
        retired = version_retirement(document, version)
        rows.append(
            {
                "version": version,
                "aliases": ",".join(sorted(by_version.get(version, []))) or None,
                "retired": f"retired: {retired['reason']}" if retired else None,
                "created_at": metadata["created_at"],
                "created_by": metadata["created_by"],
                "sha256": metadata["artifact"]["sha256"][:12],
                "metrics": metadata["metrics"] or None,
                "description": metadata["description"] or None,
            }
        )
    columns = [
        "version",
        "aliases",
        "retired",
        "created_at",
        "created_by",
        "sha256",
        "metrics",
        "description",
    ]
    return Result(rows, columns=columns)


@command(
    "describe",
    help="Show a version's metadata and input schema.",
    exclusive=[("version", "alias")],
)
@argument("name", help="model name")
@option("--version", type=int, help="default: the champion, else the latest")
@option("--alias", help="describe the version this alias points to")
def describe(factory: CliFactory, name: str, version: int | None, alias: str | None) -> Result:
    from chalicelib.registry import version_retirement

    registry = factory.create_registry()
    document = registry.get_aliases(name)
    if version is not None:
        chosen = version
    elif alias:
        chosen = registry.resolve(name, alias=alias)
    elif "champion" in document["aliases"]:
        chosen = document["aliases"]["champion"]["version"]
    else:
        chosen = registry.list_versions(name)[-1]
    metadata = registry.get_metadata(name, chosen)
    signature = registry.signature_status(name, chosen)
    measured = registry.get_benchmark(name, chosen)
    pointing = sorted(a for a, e in document["aliases"].items() if e["version"] == chosen)
    retired = version_retirement(document, chosen)

    def table() -> dict[str, Any]:
        summary = version_summary(metadata, registry.artifact_uri(name, chosen))
        summary["signature"] = signature_summary(signature)
        summary["aliases"] = ",".join(pointing) or None
        summary["retired"] = (
            f"retired by {retired['by']} at {retired['at']}: {retired['reason']}"
            if retired
            else None
        )
        summary["description"] = metadata["description"] or None
        summary["tags"] = metadata["tags"] or None
        summary["parent_version"] = metadata["parent_version"]
        summary["benchmark"] = benchmark_line(measured)
        summary["inputs"] = ", ".join(f"{f['name']}:{f['type']}" for f in metadata["features"])
        return summary

    described = {
        **metadata,
        "aliases": pointing,
        "retired": retired,
        "signature": signature,
        "benchmark": measured,
    }
    return Result(described, table=table)


def signature_summary(status: SignatureStatus) -> str:
    """One line: who signed a version, or why it will not load."""
    if status["state"] == "verified":
        return f"verified: signed by {status['signed_by']} at {status['signed_at']}"
    return f"REFUSED, will not load: {status['reason']}"


@command(
    "sign",
    help="Sign versions registered before signing existed, after checking their files "
    "against the sha256 recorded at registration.",
)
@argument("name", help="model name")
@option(
    "--version",
    "versions",
    type=int,
    multiple=True,
    metavar="N",
    help="a version to sign (repeatable); default: every version whose signature does not verify",
)
@option(
    "--replace",
    is_flag=True,
    default=False,
    help="replace a signature that does not verify (made with another key, or damaged)",
)
def sign(factory: CliFactory, name: str, versions: tuple[int, ...], replace: bool) -> Result:
    registry = factory.create_registry()
    chosen = list(versions) or [
        v
        for v in registry.list_versions(name)
        if registry.signature_status(name, v)["state"] != "verified"
    ]
    rows = []
    for version in chosen:
        manifest, signed_now = registry.sign_version(name, version, replace=replace)
        rows.append(
            {
                "version": version,
                "result": "signed" if signed_now else "already signed",
                "signed_by": manifest["signed_by"],
                "signed_at": manifest["signed_at"],
            }
        )
    return Result(rows, columns=["version", "result", "signed_by", "signed_at"])


COMMANDS = [register, models, versions, describe, sign]
