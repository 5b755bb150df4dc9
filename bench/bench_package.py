"""Deployment package: size and cold start of Chalice's zip as it comes against the slimmed one.

    .venv/bin/python bench/bench_package.py [--repeats 5] [--keep DIR] [--python PATH]
        [--with-docstrings] [--env KEY=VALUE ...]

Builds the package the way a deploy does (`chalice package --stage prod`), slims a copy with
sklambda/infra/bundle.py and compares the two:
  size     zip and unzipped MiB (unzipped as Lambda counts it: the sum of the file sizes)
           against Lambda's 250 MiB limit for function code + layers and the 200 MiB target;
           the largest top-level packages; what each pruning rule removed.
  imports  sklambda.infra.bundle.verify_imports on both: the app, every public scikit-learn module,
           pandas, fastparquet, and the native libraries run once. A failure in the slim
           package that the raw one does not have means pruning broke something: exit 1.
  cold     both unpacked into read-only directories (chmod -R a-w; as root that does not
           stop writes, so the children also get PYTHONDONTWRITEBYTECODE=1 and the bench
           checks afterwards that no bytecode appeared). Each run is a fresh `python3.12 -S`
           of the base interpreter, which sees the standard library and PYTHONPATH=<package>
           only, with the prod stage's environment pointed at moto: it imports app, then
           sends POST /models/churn/predict with one record through the Chalice handler; the
           reference churn model (registered and promoted as `sklambda up` does) loads from
           moto S3. One untimed run of each first (moto's first requests, page cache), then
           runs alternate raw/slim so machine noise hits both alike.
           import            `import app` alone (cheap: the handlers import lazily)
           first_prediction  process spawn → response 200: interpreter start, imports, model
                             download and unpickling, the prediction (the cold start)
Medians of --repeats runs; x_raw is slim / raw; cpu_s is the child's user + system CPU
time, steadier than wall time on a busy machine (OpenMP threads spin while they wait, so it
can exceed the wall time). --with-docstrings adds slim-docs: slim, but SciPy's bytecode keeps
its docstrings (what sklambda/infra/bundle.py's DOCSTRING_FREE buys). --env sets variables in every
cold run, over the stage's: OMP_NUM_THREADS=1 shows what OpenMP's thread start-up and
spinning cost the first prediction (HistGradientBoosting predicts with OpenMP threads).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.bench_http import api_event, table  # noqa: E402
from sklambda.infra.bundle import (  # noqa: E402
    LAMBDA_UNZIPPED_LIMIT,
    MIB,
    UNZIPPED_TARGET,
    BundleReport,
    ImportCheck,
    PackageSize,
    measure_zip,
    slim_package,
    verify_imports,
)

MODELS_BUCKET = "bench-models"
DATA_BUCKET = "bench-data"
STAGE = "prod"
FUNCTION = "api_handler"
COLD_START_TARGET_S = 1.5

COLD = """
import json, sys, time
started = time.time()
import app
imported = time.time()
context = type("Context", (), {"aws_request_id": "cold", "function_name": "api_handler"})()
response = app.app(json.loads(sys.argv[1]), context)
predicted = time.time()
assert response["statusCode"] == 200, response
sys.stderr.write(json.dumps({"started": started, "imported": imported, "predicted": predicted,
                             "modules": len(sys.modules)}) + "\\n")
"""


def base_python(explicit: str | None) -> str:
    """The Python 3.12 the Lambda runtime stands for: the base interpreter, not the venv."""
    candidates = [explicit] if explicit else []
    candidates += [
        str(Path(sys.base_prefix) / "bin" / "python3.12"),
        str(Path.home() / ".pyenv" / "versions" / "3.12.1" / "bin" / "python3.12"),
    ]
    for candidate in candidates:
        if candidate and Path(candidate).is_file():
            return candidate
    raise SystemExit("no python3.12 found: pass --python (e.g. `pyenv which python3.12`)")


def chalice_package(out: Path) -> Path:
    """`chalice package` for the prod stage, as a deploy runs it; the deployment.zip."""
    done = subprocess.run(
        [
            str(Path(sys.executable).with_name("chalice")),
            "package",
            "--stage",
            STAGE,
            "--pkg-format",
            "cloudformation",
            str(out),
        ],
        cwd=ROOT,
        env={**os.environ, "AWS_DEFAULT_REGION": "eu-west-1"},
        check=False,
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise SystemExit(f"chalice package failed:\n{(done.stderr or done.stdout)[-3000:]}")
    return out / "deployment.zip"


def unpack_read_only(source: Path, directory: Path) -> Path:
    directory.mkdir(parents=True)
    with zipfile.ZipFile(source) as archive:
        archive.extractall(directory)
    subprocess.run(["chmod", "-R", "a-w", str(directory)], check=True)
    return directory


def bytecode_files(directory: Path) -> set[Path]:
    return set(directory.rglob("*.pyc"))


def stage_environment() -> dict[str, str]:
    """The API function's environment in the prod stage, from .chalice/config.json, merged
    as Chalice does: global, then the stage's, then the stage's for the function."""
    config = json.loads((ROOT / ".chalice" / "config.json").read_text())
    stage = config["stages"][STAGE]
    return {
        **config.get("environment_variables", {}),
        **stage.get("environment_variables", {}),
        **stage.get("lambda_functions", {}).get(FUNCTION, {}).get("environment_variables", {}),
    }


def child_environment(endpoint: str, package: Path) -> dict[str, str]:
    """What a cold run sees: the stage's settings with AWS pointed at moto, nothing else."""
    return {
        **stage_environment(),
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_DEFAULT_REGION": "us-east-1",
        "SKLAMBDA_MODELS_BUCKET": MODELS_BUCKET,
        "SKLAMBDA_DATA_BUCKET": DATA_BUCKET,
        "SKLAMBDA_SIGNING_KEY": "alias/sklambda-signing",  # sklambda.local.signing
        "PYTHONPATH": str(package),
        "PYTHONDONTWRITEBYTECODE": "1",
    }


@contextmanager
def moto_server(port: int) -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


def bench_clients(endpoint: str) -> Any:
    """AwsClients on the moto server at `endpoint`, with both buckets and the signing key
    made, and this process's environment pointed there (as the cold runs' is)."""
    from chalicelib.core import reset_settings
    from chalicelib.storage import default_clients
    from sklambda.local.signing import LOCAL_SIGNING_KEY, create_signing_key

    os.environ.update(
        {
            "AWS_ENDPOINT_URL": endpoint,
            "AWS_ACCESS_KEY_ID": "bench",
            "AWS_SECRET_ACCESS_KEY": "bench",
            "AWS_DEFAULT_REGION": "us-east-1",
            "SKLAMBDA_MODELS_BUCKET": MODELS_BUCKET,
            "SKLAMBDA_SIGNING_KEY": LOCAL_SIGNING_KEY,
        }
    )
    reset_settings()
    clients = default_clients()
    clients.reset()
    clients.s3.create_bucket(Bucket=MODELS_BUCKET)
    clients.s3.create_bucket(Bucket=DATA_BUCKET)
    create_signing_key(clients.client("kms"))
    return clients


def one_record_body() -> str:
    """A predict request body with one churn record (with its missing values as null)."""
    import numpy as np

    from sklambda.sample_data import FEATURES, churn_frame

    record = churn_frame(50, seed=3)[FEATURES].iloc[7].to_dict()
    record = {k: (None if isinstance(v, float) and np.isnan(v) else v) for k, v in record.items()}
    return json.dumps({"records": [record]})


def register_reference_model(endpoint: str) -> tuple[str, str]:
    """Register and promote the reference churn model in moto; (model name, request body)."""
    from sklambda.local.stack import DEMO_MODEL, register_demo_model

    register_demo_model(bench_clients(endpoint))
    return DEMO_MODEL, one_record_body()


def children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def cold_run(python: str, package: Path, env: dict[str, str], event: str) -> dict[str, float]:
    cpu_before = children_cpu_seconds()
    spawned = time.time()
    done = subprocess.run(
        [python, "-S", "-c", COLD, event],
        cwd=package,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"cold run in {package} failed:\n{done.stderr[-3000:]}")
    times = json.loads(done.stderr.strip().splitlines()[-1])
    return {
        "import_s": times["imported"] - times["started"],
        "first_prediction_s": times["predicted"] - spawned,
        "cpu_s": children_cpu_seconds() - cpu_before,
        "modules": times["modules"],
    }


def cold_starts(
    python: str,
    packages: dict[str, Path],
    endpoint: str,
    event: str,
    repeats: int,
    extra_env: dict[str, str],
) -> dict[str, list[dict[str, float]]]:
    runs: dict[str, list[dict[str, float]]] = {variant: [] for variant in packages}
    envs = {
        variant: {**child_environment(endpoint, path), **extra_env}
        for variant, path in packages.items()
    }
    for variant, path in packages.items():
        cold_run(python, path, envs[variant], event)
    for _ in range(repeats):
        for variant, path in packages.items():
            runs[variant].append(cold_run(python, path, envs[variant], event))
    return runs


def mib(count: int) -> float:
    return count / MIB


def size_rows(sizes: dict[str, PackageSize]) -> list[dict[str, Any]]:
    return [
        {
            "package": variant,
            "zip_MiB": mib(size.zip_bytes),
            "unzipped_MiB": mib(size.unzipped_bytes),
            "files": size.files,
            "limit_250": "ok" if size.within_limit else "OVER",
            "target_200": "ok" if size.within_target else "OVER",
        }
        for variant, size in sizes.items()
    ]


def top_package_rows(raw: PackageSize, slim: PackageSize) -> list[dict[str, Any]]:
    slim_sizes = dict(slim.by_top_level)
    return [
        {
            "top_level": name,
            "raw_MiB": mib(size),
            "slim_MiB": mib(slim_sizes.get(name, 0)),
            "x_raw": slim_sizes.get(name, 0) / size if size else None,
        }
        for name, size in raw.top()
    ]


def cold_rows(runs: dict[str, list[dict[str, float]]]) -> list[dict[str, Any]]:
    medians = {
        variant: {key: statistics.median(r[key] for r in samples) for key in samples[0]}
        for variant, samples in runs.items()
    }
    return [
        {
            "package": variant,
            "import_s": values["import_s"],
            "first_prediction_s": values["first_prediction_s"],
            "min_s": min(r["first_prediction_s"] for r in runs[variant]),
            "max_s": max(r["first_prediction_s"] for r in runs[variant]),
            "x_raw": values["first_prediction_s"] / medians["raw"]["first_prediction_s"],
            "cpu_s": values["cpu_s"],
            "modules": int(values["modules"]),
        }
        for variant, values in medians.items()
    ]


def regressions(checks: dict[str, ImportCheck]) -> dict[str, str]:
    """Failures of a slimmed package's sweep that the raw package does not have."""
    return {
        f"{variant}: {name}": error
        for variant, check in checks.items()
        for name, error in check.failures.items()
        if variant != "raw" and name not in checks["raw"].failures
    }


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def print_sizes(raw: PackageSize, slimmed: PackageSize, report: BundleReport) -> None:
    print(
        f"package size (MiB; Lambda's limit {mib(LAMBDA_UNZIPPED_LIMIT):.0f} for code + layers"
        f" unzipped, target {mib(UNZIPPED_TARGET):.0f})"
    )
    rows = size_rows({"raw": raw, "slim": slimmed})
    print(table(rows, list(rows[0])))
    print("\nlargest top-level entries (MiB)")
    tops = top_package_rows(raw, slimmed)
    print(table(tops, ["top_level", "raw_MiB", "slim_MiB", "x_raw"]))
    print("\nslimming")
    print("\n".join(report.lines()))


def print_imports(checks: dict[str, ImportCheck]) -> dict[str, str]:
    broken = regressions(checks)
    print("\nimport sweep (app, public sklearn modules, pandas, fastparquet, native code run)")
    for variant, check in checks.items():
        optional = ", ".join(sorted(set(check.optional.values())))
        print(
            f"  {variant}: {check.imported} passed, {len(check.failures)} failed"
            f" (needing libraries not packaged: {optional or 'none'})"
        )
        for name, error in sorted(check.failures.items()):
            print(f"    {name}: {error}")
    return broken


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--keep", type=Path, help="build in this new directory and keep it")
    parser.add_argument("--python", help="the Python 3.12 to run cold starts with")
    parser.add_argument("--port", type=int, default=45672)
    parser.add_argument(
        "--with-docstrings",
        action="store_true",
        help="also measure a slim package whose SciPy bytecode keeps its docstrings",
    )
    parser.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="set in every cold run's environment, over the stage's (e.g. OMP_NUM_THREADS=1)",
    )
    args = parser.parse_args()
    extra_env = dict(item.split("=", 1) for item in args.env)
    python = base_python(args.python)

    with tempfile.TemporaryDirectory(prefix="bench-package-") as scratch:
        build = args.keep or Path(scratch)
        build.mkdir(parents=True, exist_ok=True)
        try:
            return measure(build, python, args, extra_env)
        finally:
            # Writable again so that the directory can be removed (and inspected) later.
            subprocess.run(["chmod", "-R", "u+w", str(build)], check=False)


def slim(raw_zip: Path, build: Path, variant: str, python: str, **options: Any) -> BundleReport:
    zip_path = build / variant / "deployment.zip"
    zip_path.parent.mkdir()
    return slim_package(raw_zip, zip_path, python=python, **options)


def build_packages(
    build: Path, python: str, with_docstrings: bool
) -> tuple[dict[str, Path], BundleReport]:
    """Chalice's zip and its slimmed copies by variant, and the report of the slim one."""
    raw_zip = chalice_package(build / "chalice")
    raw = measure_zip(raw_zip)
    report = slim(raw_zip, build, "slim", python)
    zips = {"raw": raw_zip, "slim": build / "slim" / "deployment.zip"}
    print_sizes(raw, measure_zip(zips["slim"]), report)
    if with_docstrings:
        documented = slim(raw_zip, build, "slim-docs", python, docstring_free=frozenset())
        zips["slim-docs"] = build / "slim-docs" / "deployment.zip"
        print(f"slim-docs (SciPy docstrings kept): {documented.lines()[0]}")
    return zips, report


def time_cold_starts(
    python: str,
    packages: dict[str, Path],
    args: argparse.Namespace,
    extra_env: dict[str, str],
) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """Cold-start rows by variant, and how many .pyc files each run added per package."""
    bytecode_before = {variant: bytecode_files(path) for variant, path in packages.items()}
    with moto_server(args.port) as endpoint:
        name, body = register_reference_model(endpoint)
        event = json.dumps(api_event(name, body))
        runs = cold_starts(python, packages, endpoint, event, args.repeats, extra_env)
    written = {
        variant: len(bytecode_files(path) - bytecode_before[variant])
        for variant, path in packages.items()
    }
    return cold_rows(runs), written


def print_verdicts(report: BundleReport, slim_cold_s: float) -> None:
    unzipped = mib(report.unzipped_bytes)
    print(
        f"\n{verdict(report.within_limit)}  slim unzipped {unzipped:.1f} MiB"
        f" <= {mib(LAMBDA_UNZIPPED_LIMIT):.0f} MiB (Lambda's limit)"
    )
    print(
        f"{verdict(report.within_target)}  slim unzipped {unzipped:.1f} MiB"
        f" <= {mib(UNZIPPED_TARGET):.0f} MiB (target)"
    )
    print(
        f"{verdict(slim_cold_s <= COLD_START_TARGET_S)}  slim cold start {slim_cold_s:.2f} s"
        f" <= {COLD_START_TARGET_S} s (target)"
    )


COLD_COLUMNS = [
    "package",
    "import_s",
    "first_prediction_s",
    "min_s",
    "max_s",
    "x_raw",
    "cpu_s",
    "modules",
]


def measure(build: Path, python: str, args: argparse.Namespace, extra_env: dict[str, str]) -> int:
    zips, report = build_packages(build, python, args.with_docstrings)
    packages = {
        variant: unpack_read_only(path, build / f"unpacked-{variant}")
        for variant, path in zips.items()
    }
    checks = {variant: verify_imports(path, python) for variant, path in packages.items()}
    broken = print_imports(checks)
    if broken:
        print("\nFAIL: pruning broke imports the raw package has:")
        for name, error in sorted(broken.items()):
            print(f"  {name}: {error}")
        return 1

    rows, written = time_cold_starts(python, packages, args, extra_env)
    print(
        f"\ncold start: fresh `{python} -S` → import app → model from moto S3 → first"
        f" prediction (median of {args.repeats}, seconds; bytecode written during the runs:"
        f" {written}; extra environment: {extra_env or 'none'})"
    )
    print(table(rows, COLD_COLUMNS))
    print_verdicts(report, next(r for r in rows if r["package"] == "slim")["first_prediction_s"])
    if any(written.values()):
        print("FAIL: a cold run wrote bytecode into the package; the timings do not hold")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
