"""Training entry points for retraining tests (policies name them as module:function)."""

from __future__ import annotations

from typing import Any


def prior_only(frame: Any, target: str, champion: Any) -> Any:
    """A deliberately poor challenger: it predicts the class shares, whatever the inputs."""
    from sklearn.dummy import DummyClassifier

    features = [c for c in frame.columns if c != target]
    return DummyClassifier(strategy="prior").fit(frame[features], frame[target])


def big_forest(frame: Any, target: str, champion: Any) -> Any:
    """A deliberately slow challenger: the champion's preprocessing and a forest of many deep
    trees, much slower per record than a linear model."""
    from sklearn.base import clone
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.pipeline import Pipeline

    features = [c for c in frame.columns if c != target]
    forest = RandomForestClassifier(n_estimators=300, random_state=0)
    pipeline = Pipeline([("preprocess", clone(champion[0])), ("model", forest)])
    return pipeline.fit(frame[features], frame[target])
