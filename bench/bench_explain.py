"""Explanations: time per record to explain, side by side with the time to predict.

    .venv/bin/python bench/bench_explain.py [--repeats 5] [--calls 300] [--rows 1000]

The reference churn pipelines (logistic regression; HistGradientBoosting, 100 iterations,
31 leaves) are fitted on 5,000 rows and planned as registration plans them (`make_plan`,
which also records the importance). Then, on the loaded plan and the same validated records,
interleaved call by call so both see the same machine:

  one record   `plan.predict_proba([record])` against `plan.explain([record])`: what
               `POST /predict` and `POST /predict?explain=true` add to a request's model work
               (target: explain <= 2x predict for trees, negligible for linear models);
  batch        the same on `--rows` records per call, per record (scored files with
               `--explain-batch`);
  shap         where the shap package is installed (a test dependency, never in the
               Lambda): shap's TreeExplainer / LinearExplainer on the same transformed rows,
               for reference only (its C++ against this numpy).

Medians of `--repeats` runs, each the median of its calls; the machines are shared and noisy,
so read the ratios.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def planned(kind: str) -> tuple[Any, Any, list[dict[str, Any]]]:
    """(plan, fitted pipeline, validated records) of a reference pipeline."""
    from chalicelib.registry._code_check import sample_rows
    from chalicelib.registry._planning import make_plan
    from chalicelib.scoring import Validator, matrix_order
    from chalicelib.scoring.plans import load_plan
    from chalicelib.stats import infer_signature
    from sklambda.sample_data import TARGET, churn_frame, trained_reference_model

    model, frame = trained_reference_model(kind)  # type: ignore[arg-type]
    features = infer_signature(model, frame, TARGET)["features"]
    started = time.perf_counter()
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        files, info, explained = make_plan(
            model, frame, features, str(matrix_order(model, frame, features))
        )
    took = time.perf_counter() - started
    assert info["state"] == "planned" and explained["state"] == "available", (info, explained)
    print(f"{kind}: planned, proven and importance measured at register in {took:.2f} s")
    fresh = churn_frame(2000, seed=99)
    validator = Validator(features, unknown_categories="accept")
    records = validator.validate(sample_rows(fresh, features, limit=2000)).rows
    return load_plan(files["plan.json"], files["plan.npz"]), model, records


def per_call(fn: Callable[[], Any], calls: int) -> float:
    """Median seconds of one call."""
    times = []
    for _ in range(calls):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def interleaved(pairs: dict[str, Callable[[], Any]], calls: int, repeats: int) -> dict[str, float]:
    """Median over repeats of each function's median call time, the functions taking turns."""
    runs: dict[str, list[float]] = {name: [] for name in pairs}
    for _ in range(repeats):
        for name, fn in pairs.items():
            runs[name].append(per_call(fn, calls))
    return {name: statistics.median(values) for name, values in runs.items()}


def shap_call(kind: str, model: Any, records: list[dict[str, Any]]) -> Callable[[], Any] | None:
    try:
        import shap
    except ImportError:
        return None
    import pandas as pd

    from sklambda.sample_data import FEATURES

    final = model[-1]
    background = model[:-1].transform(pd.DataFrame(records)[FEATURES])
    if kind == "hgb":
        explainer = shap.TreeExplainer(final, feature_perturbation="tree_path_dependent")
    else:
        masker = shap.maskers.Independent(background, max_samples=len(background))
        explainer = shap.LinearExplainer(final, masker)
    row = background[:1]
    return lambda: (
        explainer.shap_values(row, check_additivity=False)
        if kind == "hgb"
        else explainer.shap_values(row)
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--rows", type=int, default=1000)
    args = parser.parse_args()

    print(f"{'':24} {'predict':>12} {'explain':>12} {'explain/predict':>16}")
    for kind in ("logreg", "hgb"):
        plan, model, records = planned(kind)
        one = records[:1]
        batch = records[: args.rows]
        single = interleaved(
            {"predict": partial(plan.predict_proba, one), "explain": partial(plan.explain, one)},
            args.calls,
            args.repeats,
        )
        many = interleaved(
            {
                "predict": partial(plan.predict_proba, batch),
                "explain": partial(plan.explain, batch),
            },
            max(3, args.calls // 100),
            args.repeats,
        )
        name = {"logreg": "logistic", "hgb": "HistGradientBoosting"}[kind]
        print(
            f"{name + ', one record':24} {single['predict'] * 1e6:10.1f}µs "
            f"{single['explain'] * 1e6:10.1f}µs {single['explain'] / single['predict']:15.2f}x"
        )
        rows = len(batch)
        print(
            f"{name + f', {rows} rows':24} {many['predict'] / rows * 1e6:10.1f}µs "
            f"{many['explain'] / rows * 1e6:10.1f}µs {many['explain'] / many['predict']:15.2f}x"
            "   (per record)"
        )
        reference = shap_call(kind, model, records)
        if reference is not None:
            theirs = interleaved({"shap": reference}, args.calls, args.repeats)["shap"]
            print(f"{name + ', shap one row':24} {'':12} {theirs * 1e6:10.1f}µs   (reference)")


if __name__ == "__main__":
    main()
