"""HTTP scoring speed: the Chalice handler against the estimator alone and the naive path.

    .venv/bin/python bench/bench_http.py [--iterations 2000] [--cold-runs 5]

Warm: one process, 1-record requests, interleaved so machine noise hits every path alike.
  estimator  final estimator's predict_proba on a pre-transformed 1-row ndarray (the floor)
  naive      JSON → pandas DataFrame → pipeline.predict_proba (what people write first)
  handler    the whole Lambda entry: app(event, context) for POST /models/churn/predict,
             with validation, routing, capture and metrics on (stdout to /dev/null)
Cold: fresh process → import → load the model from (moto) S3 → first prediction, median of
the runs, for the handler and for the naive path; and whether pandas was imported.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sklambda.local.events import predict_event  # noqa: E402

MODELS_BUCKET = "bench-models"


def environment(endpoint: str) -> dict[str, str]:
    return {
        **os.environ,
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_DEFAULT_REGION": "us-east-1",
        "SKLAMBDA_MODELS_BUCKET": MODELS_BUCKET,
        "SKLAMBDA_DATA_BUCKET": "bench-data",
        "SKLAMBDA_API_AUTH": "none",
        "SKLAMBDA_SIGNING_KEY": "alias/sklambda-signing",
        "PYTHONPATH": str(ROOT),
    }


def api_event(name: str, body: str) -> dict[str, Any]:
    """The API Gateway event of a one-record predict request, as Lambda hands it over."""
    return predict_event(name, body, request_id="bench")


def percentile(samples: list[float], q: float) -> float:
    return float(np.percentile(samples, q))


def warm(kinds: list[str], iterations: int) -> list[dict[str, Any]]:
    import pandas as pd

    from chalicelib.core import reset_settings
    from chalicelib.registry import open_registry
    from chalicelib.storage import default_clients
    from sklambda.local.signing import create_signing_key
    from sklambda.sample_data import FEATURES, TARGET, churn_frame, trained_reference_model

    reset_settings()
    default_clients().reset()
    import app as app_module

    clients = default_clients()
    clients.s3.create_bucket(Bucket=MODELS_BUCKET)
    create_signing_key(clients.client("kms"))
    registry = open_registry(clients)
    record = churn_frame(50, seed=3)[FEATURES].iloc[[7]]
    record_dict = {
        k: (None if isinstance(v, float) and np.isnan(v) else v)
        for k, v in record.iloc[0].to_dict().items()
    }
    body = json.dumps({"records": [record_dict]})
    results = []
    for kind in kinds:
        model, frame = trained_reference_model(kind, n_rows=5000)
        name = f"churn-{kind}"
        version = registry.register(name, model, frame, TARGET)["version"]
        registry.promote(name, version)
        event = api_event(name, body)
        context = type("Context", (), {"aws_request_id": "bench"})()
        transformed = model[:-1].transform(record)
        estimator = model[-1]

        def estimator_only(estimator: Any = estimator, transformed: Any = transformed) -> None:
            estimator.predict_proba(transformed)

        def naive(model: Any = model) -> None:
            model.predict_proba(pd.DataFrame(json.loads(body)["records"]))

        def handler(event: dict[str, Any] = event, context: Any = context) -> None:
            response = app_module.app(event, context)
            assert response["statusCode"] == 200, response

        paths = {"estimator": estimator_only, "naive": naive, "handler": handler}
        samples: dict[str, list[float]] = {p: [] for p in paths}
        with open(os.devnull, "w") as sink, contextlib.redirect_stdout(sink):
            for _ in range(50):  # warm-up: load, compile, caches
                for run in paths.values():
                    run()
            for _ in range(iterations):
                for path, run in paths.items():
                    started = time.perf_counter_ns()
                    run()
                    samples[path].append((time.perf_counter_ns() - started) / 1000.0)
        compiled = app_module.server().scorer(name, version).compiled
        base = statistics.median(samples["estimator"])
        for path in paths:
            results.append(
                {
                    "model": kind,
                    "path": path,
                    "median_us": statistics.median(samples[path]),
                    "p99_us": percentile(samples[path], 99),
                    "x_estimator": statistics.median(samples[path]) / base,
                    "compiled": compiled if path == "handler" else None,
                }
            )
    return results


COLD_HANDLER = """
import json, sys, time
import app
from bench.bench_http import api_event
event = api_event(sys.argv[1], sys.argv[2])
context = type("Context", (), {"aws_request_id": "cold"})()
response = app.app(event, context)
assert response["statusCode"] == 200, response
sys.stderr.write(json.dumps({"pandas": "pandas" in sys.modules}) + "\\n")
"""

COLD_NAIVE = """
import io, json, sys
import boto3, joblib, pandas as pd
s3 = boto3.client("s3")
key = f"models/{sys.argv[1]}/versions/1/model.joblib"
model = joblib.load(io.BytesIO(s3.get_object(Bucket="bench-models", Key=key)["Body"].read()))
model.predict_proba(pd.DataFrame(json.loads(sys.argv[2])["records"]))
sys.stderr.write(json.dumps({"pandas": True}) + "\\n")
"""


def cold(kinds: list[str], runs: int, endpoint: str) -> list[dict[str, Any]]:
    from sklambda.sample_data import FEATURES, churn_frame

    record = churn_frame(50, seed=3)[FEATURES].iloc[7].to_dict()
    record = {k: (None if isinstance(v, float) and np.isnan(v) else v) for k, v in record.items()}
    body = json.dumps({"records": [record]})
    results = []
    env = environment(endpoint)
    for kind in kinds:
        for path, script in (("handler", COLD_HANDLER), ("naive", COLD_NAIVE)):
            times, pandas_loaded = [], None
            for _ in range(runs):
                started = time.perf_counter()
                done = subprocess.run(
                    [sys.executable, "-c", script, f"churn-{kind}", body],
                    env=env,
                    cwd=ROOT,
                    capture_output=True,
                    text=True,
                    check=False,
                )
                times.append(time.perf_counter() - started)
                if done.returncode != 0:
                    raise RuntimeError(done.stderr[-2000:])
                pandas_loaded = json.loads(done.stderr.strip().splitlines()[-1])["pandas"]
            results.append(
                {
                    "model": kind,
                    "path": path,
                    "median_s": statistics.median(times),
                    "min_s": min(times),
                    "pandas_imported": pandas_loaded,
                }
            )
    return results


def table(rows: list[dict[str, Any]], columns: list[str]) -> str:
    def cell(value: Any) -> str:
        if isinstance(value, float):
            return f"{value:.3f}" if value < 100 else f"{value:.1f}"
        return "-" if value is None else str(value)

    grid = [columns] + [[cell(r.get(c)) for c in columns] for r in rows]
    widths = [max(len(row[i]) for row in grid) for i in range(len(columns))]
    return "\n".join(
        "  ".join(v.rjust(w) for v, w in zip(row, widths, strict=True)) for row in grid
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=2000)
    parser.add_argument("--cold-runs", type=int, default=5)
    parser.add_argument("--models", default="hgb,logreg")
    parser.add_argument("--port", type=int, default=45671)
    args = parser.parse_args()
    kinds = args.models.split(",")

    import logging

    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=args.port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{args.port}"
    try:
        os.environ.update(environment(endpoint))
        warm_rows = warm(kinds, args.iterations)
        print(f"warm, 1-record requests, {args.iterations} interleaved iterations (µs)")
        print(table(warm_rows, ["model", "path", "median_us", "p99_us", "x_estimator", "compiled"]))
        if args.cold_runs:
            cold_rows = cold(kinds, args.cold_runs, endpoint)
            print(
                f"\ncold start: new process → import → load from moto S3 → first prediction "
                f"(median of {args.cold_runs}, seconds)"
            )
            print(table(cold_rows, ["model", "path", "median_s", "min_s", "pandas_imported"]))
    finally:
        server.stop()


if __name__ == "__main__":
    main()
