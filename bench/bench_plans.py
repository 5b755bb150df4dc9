"""Serving plans: cold start, warm requests and batch throughput, against the pipeline path.

    .venv/bin/python bench/bench_plans.py [--repeats 7] [--iterations 2000] [--skip-batch]
        [--keep DIR] [--python PATH]

Builds the slim deployment package as bench_package.py does, unpacks it read-only, and in a
moto server registers the reference churn pipelines (HistGradientBoosting and logistic
regression) twice each: planned (as every registration is) and without a plan (what every
version was before plans; the pipeline path). Then, all from the package:

  cold     a fresh `python3.12 -S` → import app → POST /models/<name>/predict with one
           record → response 200, per model and path, runs alternating:
             plan      the planned version
             pipeline  the same pipeline without a plan (download, unpickle, scikit-learn)
             floor     import app, then fetch and verify the planned version's files
                       (`registry.load_plan`) with scikit-learn, SciPy and pandas blocked:
                       what no serving path can avoid
           x_floor is plan / floor (target <= 1.25), target for plan <= 0.5 s.
  warm     one process per model in the package: the estimator's own predict_proba on an
           already transformed row (the floor) and app(event, context) for the planned
           version, interleaved; x_estimator (targets: <= 1.0 HistGradientBoosting,
           <= 1.5 logistic regression).
  batch    (in this venv) rows per second of Scorer.score_frame on validated frames of
           several sizes, by the plan and by the pipeline, for the two pipelines and a random
           forest: where the plan is slower, batch keeps the pipeline (PLAN_FRAME_ROWS).
Medians; the machines are shared and noisy, so read the ratios.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.bench_http import api_event, table  # noqa: E402
from bench.bench_package import (  # noqa: E402
    MODELS_BUCKET,
    base_python,
    bench_clients,
    build_packages,
    child_environment,
    moto_server,
    one_record_body,
    unpack_read_only,
)

KINDS = ("hgb", "logreg")
COLD_TARGET_S = 0.5
FLOOR_TARGET = 1.25
WARM_TARGETS = {"hgb": 1.0, "logreg": 1.5}

COLD = """
import json, sys, time
started = time.time()
import app
context = type("Context", (), {"aws_request_id": "cold", "function_name": "api_handler"})()
response = app.app(json.loads(sys.argv[1]), context)
assert response["statusCode"] == 200, response
sys.stderr.write(json.dumps({"done": time.time(), "sklearn": "sklearn" in sys.modules}) + "\\n")
"""

FLOOR = """
import json, sys, time
from importlib.abc import MetaPathFinder
class Blocked(MetaPathFinder):
    def find_spec(self, fullname, path, target=None):
        if fullname.partition(".")[0] in ("sklearn", "scipy", "pandas"):
            raise ModuleNotFoundError(fullname, name=fullname)
sys.meta_path.insert(0, Blocked())
import app
name = json.loads(sys.argv[1])["pathParameters"]["name"]
assert app.server().registry.load_plan(name, 1) is not None
sys.stderr.write(json.dumps({"done": time.time(), "sklearn": False}) + "\\n")
"""

WARM = """
import io, json, statistics, sys, time, contextlib, os
import app, boto3, joblib, pandas as pd
event = json.loads(sys.argv[1])
name, iterations = event["pathParameters"]["name"], int(sys.argv[2])
key = f"models/{name}/versions/1/model.joblib"
body = boto3.client("s3").get_object(Bucket=sys.argv[3], Key=key)["Body"].read()
pipeline = joblib.load(io.BytesIO(body))
row = pd.DataFrame(json.loads(event["body"])["records"])
transformed = pipeline[:-1].transform(row)
estimator = pipeline[-1]
context = type("Context", (), {"aws_request_id": "warm", "function_name": "api_handler"})()
def handler():
    assert app.app(event, context)["statusCode"] == 200
paths = {"estimator": lambda: estimator.predict_proba(transformed), "handler": handler}
samples = {p: [] for p in paths}
with open(os.devnull, "w") as sink, contextlib.redirect_stdout(sink):
    for _ in range(100):
        for run in paths.values():
            run()
    for _ in range(iterations):
        for path, run in paths.items():
            started = time.perf_counter_ns()
            run()
            samples[path].append((time.perf_counter_ns() - started) / 1000.0)
planned = app.server().scorer(name, 1).planned
sys.stderr.write(json.dumps({p: statistics.median(s) for p, s in samples.items()}
                            | {"planned": planned}) + "\\n")
"""


def register(endpoint: str) -> dict[str, str]:
    """Both reference pipelines, planned and not; {model name: request event JSON}."""
    from unittest import mock

    from chalicelib.registry import open_registry
    from sklambda.sample_data import TARGET, trained_reference_model

    registry = open_registry(bench_clients(endpoint))
    body = one_record_body()
    events = {}
    not_planned = ({}, {"state": "not planned", "reason": "the bench's pipeline path"})
    for kind in KINDS:
        model, frame = trained_reference_model(kind, n_rows=5000)
        planned = registry.register(f"{kind}-plan", model, frame, TARGET)
        assert planned["plan"]["state"] == "planned", planned["plan"]
        with mock.patch("chalicelib.registry._versions.make_plan", return_value=not_planned):
            registry.register(f"{kind}-pipeline", model, frame, TARGET)
        for path in ("plan", "pipeline"):
            registry.promote(f"{kind}-{path}", 1)
            events[f"{kind}-{path}"] = json.dumps(api_event(f"{kind}-{path}", body))
    return events


def run_child(python: str, package: Path, env: dict[str, str], *args: str) -> dict[str, Any]:
    done = subprocess.run(
        [python, "-S", "-c", *args],
        cwd=package,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(done.stderr[-3000:])
    result: dict[str, Any] = json.loads(done.stderr.strip().splitlines()[-1])
    return result


def cold(
    python: str, package: Path, env: dict[str, str], events: dict[str, str], repeats: int
) -> list[dict[str, Any]]:
    runs: dict[tuple[str, str], list[float]] = {}
    sklearn: dict[tuple[str, str], bool] = {}
    plans = [(kind, path) for kind in KINDS for path in ("plan", "pipeline", "floor")]
    for round_ in range(repeats + 1):  # the first round warms moto and the page cache
        for kind, path in plans:
            event = events[f"{kind}-{'pipeline' if path == 'pipeline' else 'plan'}"]
            script = FLOOR if path == "floor" else COLD
            spawned = time.time()
            result = run_child(python, package, env, script, event)
            if round_:
                runs.setdefault((kind, path), []).append(result["done"] - spawned)
                sklearn[(kind, path)] = result["sklearn"]
    rows = []
    for kind in KINDS:
        floor = statistics.median(runs[(kind, "floor")])
        for path in ("plan", "pipeline", "floor"):
            samples = runs[(kind, path)]
            rows.append(
                {
                    "model": kind,
                    "path": path,
                    "median_s": statistics.median(samples),
                    "min_s": min(samples),
                    "x_floor": statistics.median(samples) / floor,
                    "sklearn_imported": sklearn[(kind, path)],
                }
            )
    return rows


def warm(
    python: str, package: Path, env: dict[str, str], events: dict[str, str], iterations: int
) -> list[dict[str, Any]]:
    rows = []
    for kind in KINDS:
        result = run_child(
            python, package, env, WARM, events[f"{kind}-plan"], str(iterations), MODELS_BUCKET
        )
        rows.append(
            {
                "model": kind,
                "estimator_us": result["estimator"],
                "handler_us": result["handler"],
                "x_estimator": result["handler"] / result["estimator"],
                "target": WARM_TARGETS[kind],
                "planned": result["planned"],
            }
        )
    return rows


def batch_rows(sizes: list[int]) -> list[dict[str, Any]]:
    """Rows per second of score_frame by plan and by pipeline, per model and frame size."""
    from threadpoolctl import threadpool_limits

    from chalicelib.registry._planning import make_plan
    from chalicelib.scoring import Scorer, Validator, matrix_order, model_frame
    from chalicelib.scoring import _scorer as scorer_module
    from chalicelib.scoring.plans import load_plan
    from chalicelib.stats import infer_signature
    from sklambda.sample_data import FEATURES, TARGET, churn_frame, trained_reference_model

    forest = _forest()
    models = {kind: trained_reference_model(kind, n_rows=5000) for kind in KINDS}
    models["forest"] = forest
    fresh = churn_frame(max(sizes), seed=21)[FEATURES]
    fresh = fresh.astype(object).where(fresh.notna(), None)  # missing as a request has it
    rows = []
    for kind, (model, frame) in models.items():
        signature = infer_signature(model, frame, TARGET)
        features = signature["features"]
        order = matrix_order(model, frame, features) or "C"
        files, info, _ = make_plan(model, frame, features, order)
        assert info["state"] == "planned", info
        plan = load_plan(files["plan.json"], files["plan.npz"])
        metadata = {**signature, "estimator": {"final_estimator": type(model[-1]).__name__}}
        scorer = Scorer.from_plan("m", 1, plan, metadata, lambda model=model: model)
        validator = Validator(features, unknown_categories="accept")
        for size in sizes:
            rows_in = validator.validate(fresh.head(size).to_dict("records")).rows
            validated = model_frame(rows_in, features)
            times: dict[str, list[float]] = {"plan": [], "pipeline": []}
            with threadpool_limits(limits=1):  # a Lambda has one or two vCPUs
                for _ in range(3 if size >= 10_000 else 7):
                    for path, limit in (("plan", size), ("pipeline", 0)):
                        scorer_module.PLAN_FRAME_ROWS = limit
                        started = time.perf_counter()
                        scorer.score_frame(validated)
                        times[path].append(time.perf_counter() - started)
            plan_s, pipeline_s = (statistics.median(times[p]) for p in ("plan", "pipeline"))
            rows.append(
                {
                    "model": kind,
                    "rows": size,
                    "plan_rows_s": size / plan_s,
                    "pipeline_rows_s": size / pipeline_s,
                    "x_pipeline": pipeline_s / plan_s,
                }
            )
    return rows


def _forest() -> tuple[Any, Any]:
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.pipeline import Pipeline

    from sklambda.sample_data import FEATURES, TARGET, churn_frame, reference_pipeline

    frame = churn_frame(5000, seed=0)
    steps = reference_pipeline("logreg").steps[:-1]
    model = Pipeline([*steps, ("model", RandomForestClassifier(n_estimators=100, random_state=0))])
    return model.fit(frame[FEATURES], frame[TARGET]), frame


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--iterations", type=int, default=2000)
    parser.add_argument("--batch-sizes", default="100,500,2000,10000,50000")
    parser.add_argument("--skip-batch", action="store_true")
    parser.add_argument("--keep", type=Path, help="build in this new directory and keep it")
    parser.add_argument("--python", help="the Python 3.12 to run the package with")
    parser.add_argument("--port", type=int, default=45673)
    args = parser.parse_args()
    python = base_python(args.python)

    with tempfile.TemporaryDirectory(prefix="bench-plans-") as scratch:
        build = args.keep or Path(scratch)
        build.mkdir(parents=True, exist_ok=True)
        try:
            zips, _ = build_packages(build, python, with_docstrings=False)
            package = unpack_read_only(zips["slim"], build / "unpacked-slim")
            with moto_server(args.port) as endpoint:
                events = register(endpoint)
                env = child_environment(endpoint, package)
                cold_table = cold(python, package, env, events, args.repeats)
                warm_table = warm(python, package, env, events, args.iterations)
        finally:
            subprocess.run(["chmod", "-R", "u+w", str(build)], check=False)
    print(f"\ncold start from the slim package (median of {args.repeats}, seconds)")
    print(table(cold_table, list(cold_table[0])))
    print(f"\nwarm, 1-record requests, {args.iterations} interleaved iterations (µs)")
    print(table(warm_table, list(warm_table[0])))
    for row in cold_table:
        if row["path"] == "plan":
            ok = row["median_s"] <= COLD_TARGET_S and row["x_floor"] <= FLOOR_TARGET
            print(
                f"{'PASS' if ok else 'FAIL'}  {row['model']} planned cold start "
                f"{row['median_s']:.3f} s (<= {COLD_TARGET_S}), {row['x_floor']:.2f}x floor "
                f"(<= {FLOOR_TARGET})"
            )
    for row in warm_table:
        ok = row["x_estimator"] <= row["target"]
        print(
            f"{'PASS' if ok else 'FAIL'}  {row['model']} warm {row['x_estimator']:.2f}x "
            f"estimator (<= {row['target']})"
        )
    if not args.skip_batch:
        sizes = [int(size) for size in args.batch_sizes.split(",")]
        rows = batch_rows(sizes)
        print("\nbatch: score_frame on validated frames, one thread (rows per second)")
        print(table(rows, list(rows[0])))


if __name__ == "__main__":
    main()
