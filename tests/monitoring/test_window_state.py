"""A version's window adds up: the merged states of any split of its traffic measure what one
window fed all of it measures. Partial aggregates (per capture object, per hour) rest on it."""

from __future__ import annotations

import json
from functools import cache
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chalicelib.monitoring._window import VersionWindow
from chalicelib.stats import build_profile, infer_signature
from sklambda.sample_data import FEATURES, TARGET, churn_frame
from tests.models import fitted_logreg, training_frame


@cache
def reference() -> tuple[dict[str, Any], dict[str, Any]]:
    signature = infer_signature(fitted_logreg(), training_frame(), TARGET)
    return dict(signature), build_profile(fitted_logreg(), training_frame(), signature)


@cache
def records(n: int = 400) -> list[dict[str, Any]]:
    """Capture records as serving writes them: inputs, prediction, probabilities, latency;
    some errors, some drifted values, an unseen region, requests of several records."""
    frame = churn_frame(n, seed=17, shift=0.6)
    frame.loc[frame.index[::9], "region"] = "atlantis"
    model = fitted_logreg()
    proba = model.predict_proba(frame[FEATURES])
    rng = np.random.default_rng(3)
    out = []
    for i, row in enumerate(frame[FEATURES].astype(object).to_dict("records")):
        inputs = {k: (None if isinstance(v, float) and np.isnan(v) else v) for k, v in row.items()}
        record: dict[str, Any] = {
            "request_id": f"r{i // 4}",
            "latency_ms": float(rng.gamma(2, 3)),
            "consumer": ("mobile", "web", None)[(i // 4) % 3],
        }
        if i % 37 == 5:
            record["error"] = "SignatureRefused"
        else:
            record |= {
                "inputs": inputs,
                "prediction": int(proba[i].argmax()),
                "probabilities": {"0": float(proba[i][0]), "1": float(proba[i][1])},
            }
        out.append(record)
    return out


def window() -> VersionWindow:
    metadata, profile = reference()
    return VersionWindow(1, metadata, profile)  # type: ignore[arg-type]


def fed(chunk: list[dict[str, Any]]) -> VersionWindow:
    built = window()
    for record in chunk:
        built.add_capture(record)
    return built


def summary(built: VersionWindow) -> dict[str, Any]:
    features, prediction = built.measure()
    return {
        "features": features,
        "prediction": prediction,
        "traffic": dict(built.traffic),
        "requests": built.requests,
        "errors": built.errors,
        "p50": built.latency.percentile(0.5),
        "p95": built.latency.percentile(0.95),
        "estimate": built.estimate.result(1) if built.estimate is not None else None,
        "consumers": {name: dict(counts) for name, counts in built.consumers.items()},
    }


def assert_same(merged: dict[str, Any], whole: dict[str, Any]) -> None:
    # Counts are exact; sums of floats (Wasserstein's, the estimate's) agree to rounding.
    for left, right in zip(merged["features"], whole["features"], strict=True):
        wasserstein = (left.pop("wasserstein", None), right.pop("wasserstein", None))
        assert left == right
        if wasserstein[1] is not None:
            assert wasserstein[0] == pytest.approx(wasserstein[1], rel=1e-9, abs=1e-12)
    assert merged["prediction"].pop("wasserstein", None) == pytest.approx(
        whole["prediction"].pop("wasserstein", None), rel=1e-9
    )
    assert merged["prediction"] == whole["prediction"]
    for key in ("traffic", "requests", "errors", "p50", "p95", "consumers"):
        assert merged[key] == whole[key], key
    assert merged["estimate"]["records"] == whole["estimate"]["records"]
    assert merged["estimate"]["accuracy"] == pytest.approx(whole["estimate"]["accuracy"])


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cuts=st.lists(st.integers(1, 99), max_size=6, unique=True))
def test_merged_slices_measure_what_the_whole_measures(cuts: list[int]) -> None:
    # Cut at request boundaries, as capture objects are (a request's records are one write).
    data = records()
    bounds = [0, *sorted(c * 4 for c in cuts), len(data)]
    slices = [data[a:b] for a, b in zip(bounds, bounds[1:], strict=False)]
    merged = window()

    for chunk in slices:
        merged.merge(json.loads(json.dumps(fed(chunk).state())))  # as stored: through JSON

    assert_same(summary(merged), summary(fed(data)))


def test_an_empty_state_adds_nothing() -> None:
    merged = fed(records()[:40])
    before = summary(fed(records()[:40]))

    merged.merge(window().state())

    assert_same(summary(merged), before)


def test_a_state_of_other_bins_is_refused() -> None:
    state = fed(records()[:40]).state()
    state["features"]["tenure_months"]["counts"].append(3)

    with pytest.raises(ValueError, match="other bins"):
        window().merge(state)
