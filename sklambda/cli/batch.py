"""`sklambda batch`: upload a file to be scored, and follow it to its manifest."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sklambda.cli.command import command
from sklambda.cli.factory import CliFactory
from sklambda.cli.params import PathType, argument, option


@command(
    "batch",
    help="Upload a file to be scored; --wait for its manifest.",
    exclusive=[("version", "alias")],
)
@argument("name", help="model name")
@argument("file", type=PathType(), help=".csv, .csv.gz, .parquet or .jsonl")
@option("--version", type=int, help="score with this version (default champion)")
@option("--alias", help="score with the version of this alias")
@option("--key-path", help="path under the model folder (default: the file name)")
@option("--wait", is_flag=True, help="show progress until the manifest")
@option("--timeout", type=float, default=900.0, help="seconds to wait (900)")
def batch(
    factory: CliFactory,
    name: str,
    file: Path,
    version: int | None,
    alias: str | None,
    key_path: str | None,
    wait: bool,
    timeout: float,
) -> Any:
    from chalicelib.batch import BatchLayout
    from chalicelib.core import SklambdaError
    from sklambda.batch_client import BatchClient, ProgressBar, incoming_key

    clients = factory.create_clients()
    settings = clients.settings
    layout = BatchLayout.from_settings(settings)
    client = BatchClient(clients.s3, settings.require_data_bucket(), layout)
    selector = str(version) if version is not None else alias
    key = incoming_key(layout, name, key_path or file.name, selector)
    bar = ProgressBar()
    size = max(file.stat().st_size, 1) if file.is_file() else 1
    sent = [0]

    def uploading(chunk: int) -> None:
        sent[0] += chunk
        bar.show("uploading", sent[0] / size, f"{sent[0] / 1e6:.1f} MB")

    uploaded = client.upload(file, key, progress=uploading)
    if not wait:
        bar.finish()
        return uploaded

    def scoring(progress: dict[str, Any]) -> None:
        if progress["state"] == "queued":
            bar.show("queued", None)
            return
        read, total = progress.get("bytes_read"), progress.get("size_bytes")
        share = read / total if read is not None and total else None
        bar.show("scoring", share, f"{progress.get('rows_read', 0):,} rows")

    manifest = client.wait(uploaded, timeout=timeout, on_progress=scoring)
    bar.show("done", 1.0, manifest["status"])
    bar.finish()
    if manifest["status"] != "succeeded":
        raise SklambdaError(f"batch scoring failed: {manifest.get('reason')}")
    scored, errors = manifest["outputs"]["scored"], manifest["outputs"]["errors"]
    return {
        "status": manifest["status"],
        "reason": manifest.get("reason"),
        "rows": manifest["rows"],
        "model": manifest.get("model"),
        "scored": scored["key"] if scored else None,
        "errors": errors["key"] if errors else None,
        "duration_seconds": manifest.get("duration_seconds"),
    }


COMMANDS = [batch]
