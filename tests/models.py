"""Small fitted models and training frames for tests (fast to fit, shared per session)."""

from __future__ import annotations

from functools import cache
from typing import Any

import pandas as pd

from sklambda.sample_data import FEATURES, TARGET, churn_frame, reference_pipeline


@cache
def training_frame(n_rows: int = 600) -> pd.DataFrame:
    return churn_frame(n_rows, seed=7)


@cache
def fitted_logreg() -> Any:
    frame = training_frame()
    return reference_pipeline("logreg").fit(frame[FEATURES], frame[TARGET])


@cache
def fitted_regressor() -> Any:
    from sklearn.linear_model import Ridge

    frame = training_frame()[["tenure_months", "age", "monthly_charges"]]
    return Ridge().fit(frame[["tenure_months", "age"]], frame["monthly_charges"])
