"""`?explain=true` on predict (moto, through chalice's test client): each record's base and
feature contributions add up to the model's log-odds, the probability it answers; they are
captured with the prediction id; a model without an exact explanation gets a 400 that says
why, and a bad flag a 400 that says what is accepted."""

from __future__ import annotations

import json
import math

import pytest
from chalice.test import Client

from chalicelib.registry import Registry
from chalicelib.serving import parse_capture_line
from sklambda.sample_data import FEATURES, TARGET
from tests.app.test_api import post, records
from tests.models import fitted_logreg, training_frame


def test_explanations_add_up_to_the_log_odds_of_each_answer(client, champion, capsys) -> None:
    rows = records(5, start=10)
    response = post(client, "/models/churn/predict?explain=true", {"records": rows})
    assert response.status_code == 200, response.json_body
    body = response.json_body
    explanations = body["explanations"]
    assert len(explanations) == len(rows)
    model = fitted_logreg()
    log_odds = model.decision_function(training_frame()[FEATURES].iloc[10:15])
    for explanation, proba, expected in zip(
        explanations, body["probabilities"], log_odds, strict=True
    ):
        assert explanation["scale"] == "log-odds"
        assert explanation["class"] == 1  # the positive class
        assert list(explanation["contributions"]) == FEATURES  # the user's own features
        total = explanation["base"] + sum(explanation["contributions"].values())
        assert math.isclose(total, explanation["value"], rel_tol=1e-12, abs_tol=1e-12)
        assert math.isclose(explanation["value"], expected, rel_tol=1e-9)
        assert math.isclose(1 / (1 + math.exp(-explanation["value"])), proba["1"], rel_tol=1e-9)
    # All records share the base: the log-odds of the reference sample's mean row.
    assert len({e["base"] for e in explanations}) == 1

    captured = [r for r in map(parse_capture_line, capsys.readouterr().out.splitlines()) if r]
    by_id = {r["prediction_id"]: r for r in captured}
    for pid, explanation in zip(body["prediction_ids"], explanations, strict=True):
        assert by_id[pid]["explanation"] == json.loads(json.dumps(explanation))


def test_without_the_flag_nothing_is_explained(client, champion, capsys) -> None:
    body = post(client, "/models/churn/predict", {"records": records(2)}).json_body
    assert "explanations" not in body
    captured = [r for r in map(parse_capture_line, capsys.readouterr().out.splitlines()) if r]
    assert captured and all("explanation" not in r for r in captured)


@pytest.mark.parametrize("flag", ["yes", "maybe", ""])
def test_a_flag_that_is_not_true_or_false_is_a_400(client, champion, flag) -> None:
    response = post(client, f"/models/churn/predict?explain={flag}", {"records": records(1)})
    assert response.status_code == 400
    assert "explain must be true or false" in response.json_body["message"]


def test_a_model_without_an_exact_explanation_gets_a_400_saying_why(
    client: Client, registry: Registry
) -> None:
    from sklearn.naive_bayes import GaussianNB

    frame = training_frame()
    numbers = [f for f in FEATURES if frame[f].dtype.kind == "f"][:5]
    model = GaussianNB().fit(frame[numbers], frame[TARGET])
    registry.register("bayes", model, frame[[*numbers, TARGET]], TARGET)
    registry.promote("bayes", 1)
    row = {n: float(frame[n].fillna(0).iloc[0]) for n in numbers}
    response = post(client, "/models/bayes/predict?explain=true", {"records": [row]})
    assert response.status_code == 400
    body = response.json_body
    assert body["error"] == "ExplanationUnavailable"
    assert body["message"].startswith("explanations are not available for bayes version 1")
    assert "linear and logistic models, decision trees and tree ensembles" in body["message"]
    # The same request without the flag is answered.
    assert post(client, "/models/bayes/predict", {"records": [row]}).status_code == 200


def test_a_boosted_model_is_explained_over_http_as_its_pipeline_answers(
    client: Client, registry: Registry
) -> None:
    """HistGradientBoosting behind the reference churn preprocessing: each record's base and
    contributions add up to the log-odds of the probability the API answers, which is the
    pipeline's own."""
    from sklambda.sample_data import reference_pipeline

    frame = training_frame()
    model = reference_pipeline("hgb").fit(frame[FEATURES], frame[TARGET])
    registry.register("boosted", model, frame, TARGET)
    registry.promote("boosted", 1)
    rows = records(4, start=20)
    body = post(client, "/models/boosted/predict?explain=true", {"records": rows}).json_body
    expected = model.predict_proba(frame[FEATURES].iloc[20:24])[:, 1]
    for explanation, proba, wanted in zip(
        body["explanations"], body["probabilities"], expected, strict=True
    ):
        assert explanation["scale"] == "log-odds" and list(explanation["contributions"]) == FEATURES
        total = explanation["base"] + sum(explanation["contributions"].values())
        assert math.isclose(total, explanation["value"], rel_tol=1e-12, abs_tol=1e-12)
        assert math.isclose(1 / (1 + math.exp(-total)), proba["1"], rel_tol=1e-9)
        assert math.isclose(proba["1"], wanted, rel_tol=1e-9)
