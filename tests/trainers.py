"""Training entry points for retraining tests (policies name them as module:function)."""

from __future__ import annotations

from typing import Any


def prior_only(frame: Any, target: str, champion: Any) -> Any:
    """A deliberately poor challenger: it predicts the class shares, whatever the inputs."""
    from sklearn.dummy import DummyClassifier

    features = [c for c in frame.columns if c != target]
    return DummyClassifier(strategy="prior").fit(frame[features], frame[target])
