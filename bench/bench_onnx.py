"""ONNX Runtime as the serving engine, measured before choosing: size, import time, equality.

    python3.12 -m venv /tmp/onnx && /tmp/onnx/bin/pip install -c constraints.txt \\
        scikit-learn pandas && /tmp/onnx/bin/pip install onnxruntime skl2onnx 'protobuf<7'
    (skl2onnx 1.20.0 cannot convert HistGradientBoosting under protobuf 7: a boolean in an
    AttributeProto's ints)
    PYTHONPATH=. /tmp/onnx/bin/python bench/bench_onnx.py [--rows 10000] [--runs 5]

Not a dependency of the project: it runs in a separate environment. For the two reference
churn pipelines (HistGradientBoosting and logistic regression, `sklambda.sample_data`), the
final estimator is converted by skl2onnx and run by ONNX Runtime on the matrix the pipeline's
preprocessing gives it, as float64 where the converter accepts it, else float32; predictions
and probabilities are compared with the estimator's own on `--rows` fresh rows.
  size     unpacked MiB of onnxruntime and what it pulls in (flatbuffers, protobuf)
  import   fresh process `import onnxruntime`, median of --runs
  equality rows whose predicted class differs, and the largest relative probability difference
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def unpacked_mib(*packages: str) -> float:
    import importlib.util

    total = 0
    for name in packages:
        spec = importlib.util.find_spec(name)
        if spec is None or spec.origin is None:
            continue
        root = Path(spec.origin).parent
        total += sum(f.stat().st_size for f in root.rglob("*") if f.is_file())
    return total / 2**20


def import_seconds(runs: int) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", "import onnxruntime"], check=True)
        times.append(time.perf_counter() - started)
    baseline = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", "import numpy"], check=True)
        baseline.append(time.perf_counter() - started)
    return statistics.median(times) - statistics.median(baseline)


def converted(estimator: Any, X: np.ndarray) -> tuple[Any, np.dtype[Any]]:
    """An ONNX Runtime session of the estimator, in float64 if skl2onnx can, else float32."""
    import onnxruntime
    from skl2onnx import to_onnx

    for dtype in (np.float64, np.float32):
        try:
            model = to_onnx(estimator, X[:1].astype(dtype), options={"zipmap": False})
            session = onnxruntime.InferenceSession(
                model.SerializeToString(), providers=["CPUExecutionProvider"]
            )
        except Exception:  # noqa: BLE001 - refused in this dtype (converter or runtime)
            continue
        return session, np.dtype(dtype)
    raise RuntimeError(f"skl2onnx cannot convert {type(estimator).__name__}")


def equality(kind: str, rows: int) -> dict[str, Any]:
    from sklambda.sample_data import FEATURES, churn_frame, trained_reference_model

    model, _ = trained_reference_model(kind, n_rows=5000)
    frame = churn_frame(rows, seed=123)[FEATURES]
    X = np.asarray(model[:-1].transform(frame), dtype=np.float64)
    final = model[-1]
    session, dtype = converted(final, X)
    name = session.get_inputs()[0].name
    labels, probabilities = session.run(None, {name: X.astype(dtype)})
    expected, predicted = final.predict_proba(X), final.predict(X)
    argmax = final.classes_[np.argmax(probabilities, axis=1)]
    relative = np.abs(probabilities - expected) / np.maximum(np.abs(expected), 1e-300)
    return {
        "model": kind,
        "onnx_input": str(dtype),
        "rows": rows,
        "class_differs": int(np.sum(argmax != predicted)),
        "label_differs": int(np.sum(labels != predicted)),
        "max_rel_proba_diff": float(relative.max()),
        "rows_over_1e-9": int(np.sum(relative.max(axis=1) > 1e-9)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    size = unpacked_mib("onnxruntime", "flatbuffers", "google.protobuf")
    seconds = import_seconds(args.runs)
    results = [equality(kind, args.rows) for kind in ("hgb", "logreg")]
    print(json.dumps({"unpacked_mib": round(size, 1), "import_s": round(seconds, 3)}))
    for row in results:
        print(json.dumps(row))


if __name__ == "__main__":
    main()
