"""A data scientist's own code, written at test time: a `features` module (or package) with a
function for a FunctionTransformer, a custom transformer class and a trainer, and a churn
pipeline fitted with it.

The module is imported to fit, then forgotten (out of sys.modules and sys.path), so whatever
loads the model afterwards must import it from the version's code bundle, as Lambda would.
`UserModel.importable()` puts the very same module back, as in the author's own session.
"""

from __future__ import annotations

import importlib
import sys
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import joblib
import pandas as pd

from chalicelib.registry import _versions
from sklambda.sample_data import CATEGORICAL_FEATURES, FEATURES, NUMERIC_FEATURES, TARGET
from tests.models import training_frame

# POWER is read at call time from the module's globals: two versions with different values
# must each keep their own.
TRANSFORMS = '''
"""Feature engineering of the churn model."""

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin

POWER = {power}


def shape(X):
    """Signed power of the numbers: how this team likes its features."""
    values = np.asarray(X, dtype=float)
    return np.sign(values) * np.abs(values) ** POWER


class Clipper(TransformerMixin, BaseEstimator):
    """Clip each column at a high quantile seen in training."""

    def __init__(self, quantile=0.95):
        self.quantile = quantile

    def fit(self, X, y=None):
        self.high_ = np.quantile(np.asarray(X, dtype=float), self.quantile, axis=0)
        return self

    def transform(self, X):
        return np.minimum(np.asarray(X, dtype=float), self.high_)


def train(frame, target, champion):
    """The team's trainer: the champion's pipeline with a stronger regularisation."""
    from sklearn.base import clone

    frame = pd.DataFrame(frame)
    features = [c for c in frame.columns if c != target]
    model = clone(champion).set_params(model__C=0.5)
    return model.fit(frame[features], frame[target])
'''


@dataclass
class UserModel:
    """A pipeline fitted over user code, the code's path, and the saved model file."""

    estimator: Any
    code: Path  # features.py, or the features/ package directory
    model_file: Path
    folder: Path
    modules: dict[str, ModuleType]

    def proba(self, frame: pd.DataFrame) -> Any:
        return self.estimator.predict_proba(frame[FEATURES])[:, 1]

    @contextmanager
    def importable(self) -> Iterator[None]:
        """The author's session: the module imported (the same objects the pipeline uses)."""
        sys.modules.update(self.modules)
        sys.path.insert(0, str(self.folder))
        try:
            yield
        finally:
            forget(self.folder, "features")


def fit_user_model(folder: Path, *, power: float = 0.5, package: bool = False) -> UserModel:
    """Write `features` under `folder`, fit the churn pipeline with it, save it, forget it."""
    folder.mkdir(parents=True, exist_ok=True)
    source = textwrap.dedent(TRANSFORMS).format(power=power)
    if package:
        (folder / "features").mkdir()
        (folder / "features" / "__init__.py").write_text(
            "from features.transforms import Clipper, shape, train\n"
        )
        (folder / "features" / "transforms.py").write_text(source)
        code = folder / "features"
    else:
        code = folder / "features.py"
        code.write_text(source)
    sys.path.insert(0, str(folder))
    importlib.invalidate_caches()
    try:
        features = importlib.import_module("features")
        frame = training_frame()
        estimator = pipeline(features).fit(frame[FEATURES], frame[TARGET])
        model_file = folder / "model.joblib"
        joblib.dump(estimator, model_file)
        modules = {n: m for n, m in sys.modules.items() if n.partition(".")[0] == "features"}
    finally:
        forget(folder, "features")
    return UserModel(estimator, code, model_file, folder, modules)


def pipeline(features: ModuleType) -> Any:
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

    numeric = Pipeline(
        [
            ("impute", SimpleImputer(strategy="median")),
            ("shape", FunctionTransformer(features.shape)),
            ("clip", features.Clipper()),
            ("scale", StandardScaler()),
        ]
    )
    categorical = Pipeline(
        [
            ("impute", SimpleImputer(strategy="constant", fill_value="missing")),
            ("onehot", OneHotEncoder(handle_unknown="ignore")),
        ]
    )
    preprocess = ColumnTransformer(
        [("num", numeric, NUMERIC_FEATURES), ("cat", categorical, CATEGORICAL_FEATURES)]
    )
    return Pipeline([("preprocess", preprocess), ("model", LogisticRegression(max_iter=1000))])


def forget(folder: Path, module: str) -> None:
    """Make `module` unimportable again, as on a machine that never had it."""
    while str(folder) in sys.path:
        sys.path.remove(str(folder))
    for name in [n for n in sys.modules if n.partition(".")[0] == module]:
        del sys.modules[name]


def clear_loaded_models() -> None:
    """The process-wide model cache the app's registry uses: tests reuse names and versions."""
    _versions._model_cache.clear()
