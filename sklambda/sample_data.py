"""A churn-like table and reference pipelines, generated locally.

Used by the demo, the tests and the benchmarks so that every one of them runs on the same
workload without downloading anything.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

import numpy as np

if TYPE_CHECKING:
    import pandas as pd
    from sklearn.pipeline import Pipeline

TARGET = "churned"
ID_COLUMN = "customer_id"

NUMERIC_FEATURES = [
    "tenure_months",
    "monthly_charges",
    "total_charges",
    "age",
    "num_products",
    "support_calls",
    "late_payments",
    "data_usage_gb",
    "call_minutes",
    "sms_count",
    "days_since_last_login",
    "avg_session_minutes",
    "discount_pct",
    "credit_score",
]

CATEGORICAL_LEVELS: dict[str, list[str]] = {
    "contract": ["month-to-month", "one-year", "two-year"],
    "payment_method": ["card", "bank-transfer", "paypal", "check"],
    "region": ["north", "south", "east", "west", "central"],
    "plan": ["basic", "standard", "premium"],
    "device": ["android", "ios", "web"],
    "channel": ["online", "store", "phone", "partner"],
}
CATEGORICAL_FEATURES = list(CATEGORICAL_LEVELS)
FEATURES = NUMERIC_FEATURES + CATEGORICAL_FEATURES


def churn_frame(
    n_rows: int = 5000,
    seed: int = 0,
    *,
    missing_rate: float = 0.02,
    shift: float = 0.0,
    with_target: bool = True,
) -> pd.DataFrame:
    """Return a churn-like frame: 14 numeric and 6 categorical features, id and target.

    `shift` moves `monthly_charges` and `tenure_months` by that many standard deviations, to
    produce drifted traffic.
    """
    import pandas as pd

    rng = np.random.default_rng(seed)
    n = n_rows
    tenure = np.clip(rng.gamma(2.0, 14.0, n) + shift * 20.0, 0, 120).round()
    monthly = np.clip(rng.normal(65.0, 25.0, n) + shift * 25.0, 10, 200).round(2)
    numeric = {
        "tenure_months": tenure,
        "monthly_charges": monthly,
        "total_charges": (tenure * monthly * rng.uniform(0.9, 1.1, n)).round(2),
        "age": rng.integers(18, 90, n).astype(float),
        "num_products": rng.integers(1, 6, n).astype(float),
        "support_calls": rng.poisson(1.5, n).astype(float),
        "late_payments": rng.poisson(0.5, n).astype(float),
        "data_usage_gb": rng.lognormal(2.0, 0.8, n).round(3),
        "call_minutes": rng.gamma(3.0, 100.0, n).round(1),
        "sms_count": rng.poisson(40, n).astype(float),
        "days_since_last_login": rng.exponential(12.0, n).round(),
        "avg_session_minutes": rng.gamma(2.0, 7.0, n).round(2),
        "discount_pct": rng.choice([0.0, 5.0, 10.0, 15.0, 20.0], n),
        "credit_score": np.clip(rng.normal(680, 70, n), 300, 850).round(),
    }
    categorical = {
        name: rng.choice(levels, n, p=_skewed(len(levels))).astype(object)
        for name, levels in CATEGORICAL_LEVELS.items()
    }
    frame = pd.DataFrame({ID_COLUMN: [f"c{seed}-{i:07d}" for i in range(n)]})
    for name, values in numeric.items():
        frame[name] = values
    for name, values in categorical.items():
        frame[name] = values

    if with_target:
        logit = (
            -2.0
            - 0.04 * (frame["tenure_months"] - 28)
            + 0.025 * (frame["monthly_charges"] - 65)
            + 0.45 * frame["support_calls"]
            + 0.6 * frame["late_payments"]
            + 0.03 * frame["days_since_last_login"]
            + np.where(frame["contract"] == "month-to-month", 1.3, -0.4)
            + np.where(frame["payment_method"] == "check", 0.5, 0.0)
        )
        frame[TARGET] = (rng.uniform(size=n) < 1.0 / (1.0 + np.exp(-logit))).astype(int)

    if missing_rate > 0:
        for name in ("credit_score", "data_usage_gb"):
            frame.loc[rng.uniform(size=n) < missing_rate, name] = np.nan
        frame.loc[rng.uniform(size=n) < missing_rate / 2, "payment_method"] = None
    return frame


def reference_pipeline(kind: Literal["hgb", "logreg"] = "hgb") -> Pipeline:
    """The reference model: ColumnTransformer(scaler, one-hot) then HGB or logistic regression."""
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    numeric = Pipeline([("impute", SimpleImputer(strategy="median")), ("scale", StandardScaler())])
    categorical = Pipeline(
        [
            ("impute", SimpleImputer(strategy="constant", fill_value="missing")),
            ("onehot", OneHotEncoder(handle_unknown="ignore")),
        ]
    )
    preprocess = ColumnTransformer(
        [("num", numeric, NUMERIC_FEATURES), ("cat", categorical, CATEGORICAL_FEATURES)]
    )
    estimator = (
        HistGradientBoostingClassifier(max_iter=100, random_state=0)
        if kind == "hgb"
        else LogisticRegression(max_iter=1000)
    )
    return Pipeline([("preprocess", preprocess), ("model", estimator)])


def trained_reference_model(
    kind: Literal["hgb", "logreg"] = "hgb", n_rows: int = 5000, seed: int = 0
) -> tuple[Pipeline, pd.DataFrame]:
    """Fit the reference pipeline on a generated frame; return (model, training frame)."""
    frame = churn_frame(n_rows, seed)
    model = reference_pipeline(kind)
    model.fit(frame[FEATURES], frame[TARGET])
    return model, frame


def _skewed(k: int) -> np.ndarray:
    weights = np.arange(k, 0, -1, dtype=float)
    return weights / weights.sum()
