from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from chalicelib.core import InvalidInputError
from chalicelib.scoring import Scorer
from chalicelib.stats import infer_signature
from sklambda.sample_data import FEATURES, TARGET
from tests.models import fitted_logreg, fitted_regressor, training_frame


def scorer_for(model, frame, target: str, *, compiled: bool = True) -> Scorer:
    scorer = Scorer("m", 1, model, infer_signature(model, frame, target))
    if not compiled:
        scorer._records_model = None  # what a version the compiled path does not cover gets
    return scorer


def rows(n: int) -> list[dict]:
    frame = training_frame()[FEATURES].head(n)
    return frame.astype(object).where(frame.notna(), None).to_dict("records")


def test_reference_pipeline_is_compiled_and_matches_the_pipeline() -> None:
    scorer = scorer_for(fitted_logreg(), training_frame(), TARGET)
    assert scorer.compiled
    scores = scorer.score(rows(20))
    expected = fitted_logreg().predict_proba(training_frame()[FEATURES].head(20))
    assert np.allclose([[p["0"], p["1"]] for p in scores.probabilities], expected)
    assert (
        scores.predictions == fitted_logreg().predict(training_frame()[FEATURES].head(20)).tolist()
    )


def test_fallback_path_gives_the_same_answers_with_missing_and_unseen_values() -> None:
    records = rows(10)
    records[0]["payment_method"] = None
    records[1]["contract"] = "weekly"
    records[2]["credit_score"] = None
    fast = scorer_for(fitted_logreg(), training_frame(), TARGET)
    slow = scorer_for(fitted_logreg(), training_frame(), TARGET, compiled=False)
    assert fast.compiled and not slow.compiled
    answers, expected = fast.score(records), slow.score(records)
    assert answers.predictions == expected.predictions
    assert answers.probabilities == expected.probabilities  # the same floats


def test_regressor_returns_values_without_probabilities() -> None:
    frame = training_frame()[["tenure_months", "age", "monthly_charges"]]
    scorer = scorer_for(fitted_regressor(), frame, "monthly_charges")
    scores = scorer.score([{"tenure_months": 12.0, "age": 40.0}])
    assert scores.probabilities is None
    expected = fitted_regressor().predict(pd.DataFrame({"tenure_months": [12.0], "age": [40.0]}))
    assert scores.predictions[0] == pytest.approx(expected[0])


def test_values_the_model_cannot_take_are_a_400() -> None:
    from sklearn.linear_model import LogisticRegression

    frame = training_frame()[["tenure_months", "age", TARGET]]
    model = LogisticRegression().fit(frame[["tenure_months", "age"]], frame[TARGET])
    scorer = scorer_for(model, frame, TARGET)
    with pytest.raises(InvalidInputError, match="could not score"):
        scorer.score([{"tenure_months": None, "age": 30.0}])


@pytest.mark.filterwarnings("ignore:The `probability` parameter:FutureWarning")
def test_estimators_whose_predict_is_not_the_argmax_are_asked_for_both() -> None:
    from sklearn.svm import SVC

    frame = training_frame()[["tenure_months", "age", TARGET]].head(200)
    model = SVC(probability=True, random_state=0).fit(
        frame[["tenure_months", "age"]], frame[TARGET]
    )
    scorer = scorer_for(model, frame, TARGET)
    records = frame[["tenure_months", "age"]].to_dict("records")
    assert (
        scorer.score(records).predictions == model.predict(frame[["tenure_months", "age"]]).tolist()
    )
