"""The import sweep: the package checked in a bare interpreter, as Lambda will load it.

`verify_imports` imports the app, what it loads lazily and every public scikit-learn and SciPy
module, runs each native library once and creates a client per AWS service; `verify_zip`
does the same on a zip.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from sklambda.infra.bundle._prune import AWS_SERVICES

# Packages whose public modules are all imported: pruning must not break scikit-learn, and
# SciPy's bytecode has no docstrings, which none of its modules may rely on at import.
SWEPT_PACKAGES = ("sklearn", "scipy")
# Imported as such: the functions' entry point and what they import lazily.
REQUIRED_MODULES = (
    "app",
    "chalicelib.services",
    "chalicelib.batch._jobs",
    "chalicelib.monitoring._monitor",
    "chalicelib.rollout._retraining",
    "pandas",
    "fastparquet",
    "boto3",
)


# Run with `python -S` and the package directory alone on PYTHONPATH. Besides importing, it
# runs each library's compiled code once (BLAS, LAPACK, OpenMP, Parquet codecs), which is
# what stripping the shared objects could have broken, and builds a client per AWS service.
_SWEEP = r"""
import importlib, importlib.util, json, pkgutil, sys, tempfile, warnings
warnings.simplefilter("ignore")
job = json.loads(sys.argv[1])
failures, imported, optional = {}, [], {}


def attempt(name, action):
    try:
        action()
    except ModuleNotFoundError as exc:
        # A library the package never had (cupy, torch for array_api_compat) is optional.
        top = (exc.name or "").split(".")[0]
        if top and importlib.util.find_spec(top) is None:
            optional[name] = top
        else:
            failures[name] = f"{type(exc).__name__}: {exc}"[:500]
        return False
    except BaseException as exc:
        failures[name] = f"{type(exc).__name__}: {exc}"[:500]
        return False
    imported.append(name)
    return True


def public(name):
    return not any(p.startswith("_") or p in ("tests", "test") for p in name.split("."))


def sweep(package):
    module = sys.modules[package]
    for info in pkgutil.iter_modules(module.__path__, package + "."):
        if public(info.name) and attempt(info.name, lambda: importlib.import_module(info.name)):
            if info.ispkg:
                sweep(info.name)


for name in job["modules"]:
    attempt(name, lambda: importlib.import_module(name))
for package in job["packages"]:
    if attempt(package, lambda: importlib.import_module(package)):
        sweep(package)


def numerics():
    import numpy as np, scipy.linalg, scipy.optimize, scipy.sparse, scipy.sparse.linalg
    import scipy.special, scipy.stats
    rng = np.random.default_rng(0)
    a = rng.random((60, 60)) + 60 * np.eye(60)
    np.linalg.solve(a, np.ones(60)); np.linalg.svd(a)
    scipy.linalg.lu_factor(a); scipy.special.expit(a)
    scipy.sparse.linalg.spsolve(scipy.sparse.csc_matrix(a), np.ones(60))
    scipy.optimize.minimize(lambda v: ((v - 1) ** 2).sum(), np.zeros(3), method="L-BFGS-B")
    scipy.stats.norm(0, 1).ppf(0.9); scipy.stats.poisson.pmf(2, 3); scipy.stats.ks_2samp(a[0], a[1])


def estimators():
    import numpy as np
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression
    x = np.random.default_rng(0).random((400, 5)); y = x[:, 0] > 0.5
    HistGradientBoostingClassifier(max_iter=5).fit(x, y).predict_proba(x)
    LogisticRegression().fit(x, y).predict_proba(x)


def parquet():
    import pandas as pd, fastparquet
    frame = pd.DataFrame({"a": range(100), "b": ["x", "y"] * 50})
    frame.groupby("b")["a"].sum()
    with tempfile.TemporaryDirectory() as scratch:
        for codec in ("SNAPPY", "ZSTD", "GZIP"):
            fastparquet.write(f"{scratch}/{codec}.parquet", frame, compression=codec)
            fastparquet.ParquetFile(f"{scratch}/{codec}.parquet").to_pandas()


def report():
    # Jinja2 and the report's templates and stylesheet are package files the monitor loads
    # lazily: a zip without them imports fine and fails only at the first report.
    from chalicelib.monitoring.report import render_report_html
    assert render_report_html({}).rstrip().endswith("</html>")


def aws_clients():
    import boto3
    session = boto3.session.Session(
        aws_access_key_id="x", aws_secret_access_key="x", region_name="eu-west-1"
    )
    for service in job["services"]:
        session.client(service)


for name, check in (("numerics", numerics), ("estimators", estimators),
                    ("parquet", parquet), ("report", report), ("aws-clients", aws_clients)):
    attempt(f"[{name}]", check)
print(json.dumps({"imported": len(imported), "failures": failures, "optional": optional}))
"""


@dataclass(frozen=True)
class ImportCheck:
    """The outcome of `verify_imports`: how many imports and checks passed, what failed,
    and which modules need a library the package does not include (not failures)."""

    imported: int
    failures: dict[str, str]
    optional: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.failures


def verify_imports(
    directory: Path, python: str, *, services: frozenset[str] = AWS_SERVICES
) -> ImportCheck:
    """Import the app and every public scikit-learn module from an unpacked package.

    A fresh `python -S` sees the standard library and `directory` only, and writes no
    bytecode, as on Lambda. Also runs each native library once and creates a client for
    each of `services`. Failures are keyed by module (or `[check]`) with the error.
    """
    job = {
        "modules": list(REQUIRED_MODULES),
        "packages": list(SWEPT_PACKAGES),
        "services": sorted(services),
    }
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", "/tmp"),
        "PYTHONPATH": str(directory),
        "PYTHONDONTWRITEBYTECODE": "1",
        "SKLAMBDA_API_AUTH": "none",
    }
    done = subprocess.run(
        [python, "-S", "-c", _SWEEP, json.dumps(job)],
        cwd=directory,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0 or not done.stdout.strip():
        return ImportCheck(0, {"[interpreter]": done.stderr.strip()[-2000:]})
    result = json.loads(done.stdout.strip().splitlines()[-1])
    return ImportCheck(result["imported"], result["failures"], result["optional"])


def verify_zip(zip_path: Path, python: str) -> ImportCheck:
    """`verify_imports` on a deployment zip, unpacked into a temporary directory."""
    with tempfile.TemporaryDirectory(prefix="sklambda-verify-") as scratch:
        with zipfile.ZipFile(zip_path) as archive:
            archive.extractall(scratch)
        return verify_imports(Path(scratch), python)
