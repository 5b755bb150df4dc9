"""`sklambda benchmark`: a version measured against the champion (or another version) on the
same rows, kept with the version; or a bounded load test of a deployed stage."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from chalicelib.core import InvalidInputError
from sklambda.cli.command import command
from sklambda.cli.factory import CliFactory
from sklambda.cli.output import Result
from sklambda.cli.params import PathType, argument, option

if TYPE_CHECKING:
    from chalicelib.registry import Registry, VersionMetadata

SOURCE_ROWS = 1000  # distinct rows read from the source; single records cycle through them
LOAD = "Load test of a deployed stage"


@command("benchmark", help="Measure a version against the champion on the same rows.")
@argument("name", help="model name")
@option("--version", type=int, required=True, help="the candidate version")
@option(
    "--against",
    default="champion",
    show_default=True,
    metavar="champion|VERSION",
    help="the baseline: the champion, or a version number",
)
@option(
    "--rows",
    type=int,
    default=200,
    show_default=True,
    help="single-record requests per version (p50, p99); batches are 5 of 1,000 rows",
)
@option(
    "--data",
    type=PathType(),
    help="rows to measure on (.csv, .parquet), when the registry keeps none for the version",
)
@option("--endpoint", metavar="URL", section=LOAD, help="load-test this stage instead")
@option("--rps", type=float, section=LOAD, help="requests per second")
@option("--duration", type=float, section=LOAD, help="seconds (rps × duration ≤ 10,000)")
@option("--api-key", section=LOAD, help="the stage's API key, when it asks for one")
def benchmark(
    factory: CliFactory,
    name: str,
    version: int,
    against: str,
    rows: int,
    data: Path | None,
    endpoint: str | None,
    rps: float | None,
    duration: float | None,
    api_key: str | None,
) -> Result:
    if endpoint is not None:
        return _load_test(factory, name, version, data, endpoint, rps, duration, api_key)
    if rps is not None or duration is not None or api_key is not None:
        raise InvalidInputError("--rps, --duration and --api-key go with --endpoint URL")
    if rows < 1:
        raise InvalidInputError(f"--rows must be at least 1, got {rows}")
    from chalicelib.rollout import run_benchmark

    registry = factory.create_registry()
    metadata = registry.get_metadata(name, version)
    baseline = _baseline(registry, name, version, against)
    records, rows_from = _records(factory, registry, metadata, data)
    figures = run_benchmark(
        registry, name, version, baseline, records, rows_from=rows_from, singles=rows
    )
    return Result(figures, table=lambda: benchmark_table(figures), columns=_COLUMNS)


_COLUMNS = ["measure", "candidate", "baseline", "ratio"]
_MEASURES = (
    ("p50_ms", "p50 ms (1 record)"),
    ("p99_ms", "p99 ms (1 record)"),
    ("records_per_s", "records/s (batch)"),
    ("peak_mib", "peak MiB (batch)"),
)


def benchmark_table(figures: dict[str, Any]) -> list[dict[str, Any]]:
    """Candidate, baseline and ratio per measure."""
    rows = [
        {
            "measure": label,
            "candidate": figures[key],
            "baseline": figures["baseline"][key],
            "ratio": figures["ratios"].get(key),
        }
        for key, label in _MEASURES
    ]
    versions = f"version {figures['version']} vs {figures['against_version']}"
    rows.append({"measure": "versions", "candidate": versions})
    rows.append({"measure": "rows", "candidate": f"{figures['rows']} from {figures['rows_from']}"})
    return rows


def benchmark_line(figures: dict[str, Any] | None) -> str | None:
    """One line for describe and status: p99 and throughput against the baseline."""
    if not figures:
        return None
    ratios = figures.get("ratios") or {}
    p99, rate = ratios.get("p99_ms") or 0.0, ratios.get("records_per_s") or 0.0
    return (
        f"p99 {figures['p99_ms']:.2f} ms ({p99:.2f}× version {figures['against_version']}), "
        f"{figures['records_per_s']:,.0f} records/s ({rate:.2f}×), "
        f"peak {figures['peak_mib']:.1f} MiB; at {figures['at']}"
    )


def _baseline(registry: Registry, name: str, version: int, against: str) -> int:
    if against == "champion":
        entry = registry.get_aliases(name)["aliases"].get("champion")
        if entry is None:
            raise InvalidInputError(
                f"model {name!r} has no champion to measure against; pass --against VERSION"
            )
        baseline = int(entry["version"])
    elif against.isdigit():
        baseline = int(against)
        registry.get_metadata(name, baseline)  # NotFoundError naming what exists
    else:
        raise InvalidInputError(f"--against takes 'champion' or a version number, got {against!r}")
    if baseline == version:
        raise InvalidInputError(
            f"version {version} is the baseline itself; pass --against another VERSION"
        )
    return baseline


def _records(
    factory: CliFactory, registry: Registry, metadata: VersionMetadata, data: Path | None
) -> tuple[list[dict[str, Any]], str]:
    """Rows of the version's features, and where they came from: --data, else the version's
    own holdout (retrained versions: their training files split as the policy splits them),
    else its training file when this machine can still read it."""
    from chalicelib.scoring import json_records

    features = [str(f["name"]) for f in metadata["features"]]
    markers = {
        f["name"]: f["missing_markers"] for f in metadata["features"] if f.get("missing_markers")
    }
    uri = metadata["training_data"]["uri"] or ""
    if data is not None:
        from sklambda.files import read_table

        frame, rows_from = read_table(data, markers).frame, f"--data {data.name}"
    elif uri.startswith("s3://") and "retraining" in metadata:
        frame, rows_from = _holdout(factory, registry, metadata), f"holdout of {uri}"
    elif uri.startswith("file://") and Path(uri[len("file://") :]).is_file():
        from sklambda.files import read_table

        path = Path(uri[len("file://") :])
        frame, rows_from = read_table(path, markers).frame, f"training file {path.name}"
        if len(frame) > SOURCE_ROWS:
            frame = frame.sample(n=SOURCE_ROWS, random_state=0)
    else:
        raise InvalidInputError(
            f"{metadata['name']} version {metadata['version']}: the registry keeps no holdout "
            f"rows for it and its training data ({uri or 'not recorded'}) cannot be read here; "
            "pass --data FILE with rows of its features"
        )
    missing = [f for f in features if f not in frame.columns]
    if missing:
        raise InvalidInputError(f"{rows_from} lacks the version's features: {', '.join(missing)}")
    records = json_records(frame[features], SOURCE_ROWS)
    if not records:
        raise InvalidInputError(f"{rows_from} has no rows")
    return records, rows_from


def _holdout(factory: CliFactory, registry: Registry, metadata: VersionMetadata) -> Any:
    from chalicelib.rollout._retraining import split

    name = metadata["name"]
    policy = registry.get_policy(name)
    frame, _ = factory.create_retrainer().training_data(name, policy, metadata)
    _, holdout = split(frame, metadata["target"]["name"], policy, metadata["task"])
    return holdout


def _load_test(
    factory: CliFactory,
    name: str,
    version: int,
    data: Path | None,
    endpoint: str,
    rps: float | None,
    duration: float | None,
    api_key: str | None,
) -> Result:
    from sklambda.loadtest import check_bounds, load_test

    if rps is None or duration is None:
        raise InvalidInputError("--endpoint needs --rps R and --duration S")
    check_bounds(rps, duration)  # before anything is read
    registry = factory.create_registry()
    metadata = registry.get_metadata(name, version)
    records, rows_from = _records(factory, registry, metadata, data)
    url = f"{endpoint.rstrip('/')}/models/{name}/predict?version={version}"
    figures = load_test(url, records, rps=rps, duration=duration, api_key=api_key)
    return Result({**figures, "rows_from": rows_from})


COMMANDS = [benchmark]
