"""Data for the numeric plan families' tests (linear, naive Bayes, MLP): scikit-learn's
bundled data sets, raw and standardised, rows drawn by hypothesis with extremes, and a run
of a saved plan in a process where scikit-learn, SciPy and pandas cannot be imported."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from chalicelib.scoring.plans._format import PlanWriter
from chalicelib.scoring.plans._heads import plan_head
from tests.scoring.plans.checks import assert_same

DATASETS = ("iris", "wine", "breast_cancer", "digits", "diabetes")
CLASSIFICATION = ("iris", "wine", "breast_cancer", "digits")


@cache
def dataset(name: str, scaled: bool) -> tuple[np.ndarray, np.ndarray]:
    """X and y of a bundled data set (no download); `scaled` standardises the columns, as a
    StandardScaler before the final estimator would."""
    import sklearn.datasets

    X, y = getattr(sklearn.datasets, f"load_{name}")(return_X_y=True)
    X = np.asarray(X, dtype=np.float64)
    if scaled:
        std = X.std(axis=0)
        X = (X - X.mean(axis=0)) / np.where(std == 0, 1.0, std)
    return X, y


def binary(y: np.ndarray) -> np.ndarray:
    """Two classes out of many: the first class against the rest."""
    return (y == y[0]).astype(np.int64)


_VALUES = st.one_of(
    st.floats(-5, 5, allow_nan=False, allow_subnormal=False),
    st.sampled_from([0.0, -0.0, 1.0, -1.0]),
    st.floats(-1e12, 1e12, allow_nan=False, allow_subnormal=False),
    st.sampled_from([1e6, -1e6, 1e9, -1e9, 1e-300]),
)


@st.composite
def rows(draw: Any, X: np.ndarray, max_rows: int = 12) -> np.ndarray:
    """A few rows: some of the data set's own, some drawn values (zeros, large magnitudes)."""
    n_features = X.shape[1]
    picked = draw(st.lists(st.integers(0, len(X) - 1), min_size=0, max_size=4))
    drawn = draw(
        hnp.arrays(
            np.float64, st.tuples(st.integers(0, max_rows), st.just(n_features)), elements=_VALUES
        )
    )
    scale = draw(st.sampled_from([1.0, 1e3, 1e-3]))
    matrix = np.vstack([X[picked] * scale, drawn])
    return matrix if len(matrix) else X[:1].copy()


def extreme_rows(X: np.ndarray) -> np.ndarray:
    """The data set, scaled up and down, zeros, and large random rows."""
    rng = np.random.default_rng(7)
    return np.vstack(
        [X, X * 1e4, X * -1e-4, np.zeros((2, X.shape[1])), rng.normal(0, 1e6, (20, X.shape[1]))]
    )


def assert_same_both_orders(estimator: Any, X: np.ndarray) -> None:
    """assert_same on X C-ordered and F-ordered (BLAS sums each layout its own way).
    Overflow to infinity on extreme rows is expected, on both sides."""
    with np.errstate(over="ignore", invalid="ignore"):
        assert_same(estimator, np.ascontiguousarray(X))
        assert_same(estimator, np.asfortranarray(X))


_BLOCKED_RUN = textwrap.dedent(
    """
    import importlib.abc, json, sys
    from pathlib import Path

    class Blocked(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in ("sklearn", "scipy", "pandas"):
                raise ImportError(f"{name} is blocked")
            return None

    sys.meta_path.insert(0, Blocked())
    import numpy as np
    from chalicelib.scoring.plans._format import PlanReader
    from chalicelib.scoring.plans._heads import load_head

    folder = Path(sys.argv[1])
    head = load_head(json.loads((folder / "spec.json").read_text()),
                     PlanReader((folder / "arrays.npz").read_bytes()))
    X = np.load(folder / "X.npy")
    outputs = {"predict": head.predict(X)}
    for method in ("predict_proba", "decision_function"):
        if hasattr(head, method):
            outputs[method] = getattr(head, method)(X)
    np.savez(folder / "out.npz", **outputs)
    print(sorted(m for m in sys.modules if m.split(".")[0] in ("sklearn", "scipy", "pandas")))
    """
)


def run_without_sklearn(estimator: Any, X: np.ndarray, folder: Path) -> dict[str, np.ndarray]:
    """The estimator's plan, saved here and evaluated on X in a fresh process that cannot
    import scikit-learn, SciPy or pandas; its outputs by method."""
    writer = PlanWriter()
    (folder / "spec.json").write_text(json.dumps(plan_head(estimator, writer)))
    (folder / "arrays.npz").write_bytes(writer.save())
    np.save(folder / "X.npy", X)
    done = subprocess.run(
        [sys.executable, "-c", _BLOCKED_RUN, str(folder)],
        capture_output=True,
        text=True,
        check=False,
        cwd=Path(__file__).resolve().parents[3],
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]", done.stdout
    with np.load(folder / "out.npz", allow_pickle=False) as saved:
        return {key: saved[key] for key in saved.files}
