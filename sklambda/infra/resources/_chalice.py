"""What the template takes from the Chalice app: a stage's settings and Chalice's logical ids."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

# Chalice's logical ids for the app's functions and API (see `chalice package` output).
API_FUNCTION = "APIHandler"
BATCH_FUNCTION = "ScoreBatch"
MONITOR_FUNCTION = "MonitorModels"
RETRAIN_FUNCTION = "RetrainModel"
AGGREGATE_FUNCTION = "AggregateArrivals"
REST_API = "RestAPI"
# Function name suffixes: the policy files scope log writes to /aws/lambda/<stack>-<suffix>.
FUNCTION_SUFFIXES = {
    API_FUNCTION: "api",
    BATCH_FUNCTION: "batch",
    MONITOR_FUNCTION: "monitor",
    RETRAIN_FUNCTION: "retrain",
    AGGREGATE_FUNCTION: "aggregate",
}
# The SQS-triggered functions and the stack's queue each one consumes.
FUNCTION_QUEUES = {
    BATCH_FUNCTION: "BatchQueue",
    RETRAIN_FUNCTION: "RetrainQueue",
    AGGREGATE_FUNCTION: "AggregateQueue",
}
# retrain_model's lambda_timeout in .chalice/config.json: Lambda's most, as a retrain reads and
# fits all of a model's training data.
RETRAIN_TIMEOUT = 900
# aggregate_arrivals' lambda_timeout in .chalice/config.json: one message is one landed object
# (a capture delivery of a few MB, a feedback file, a batch file's rows), added to partials in
# seconds; five minutes leave room for a large batch file and for If-Match races on a partial.
AGGREGATE_TIMEOUT = 300
API_STAGE = "api"
# The app's routes (app.py), named in API Gateway's answer to a request for any other.
API_ROUTES = (
    "GET /health",
    "GET /models",
    "GET /models/{name}",
    "POST /models/{name}/predict",
    "POST /models/{name}/feedback",
    "GET /models/{name}/predictions/{prediction_id}",
    "GET /models/{name}/report",
    "GET /catalog",
)
DEFAULT_TIMEOUT = 60  # Chalice's default lambda_timeout


@dataclass(frozen=True)
class StageConfig:
    """What the template needs to know of a Chalice stage."""

    stage: str
    api_auth: str = "api_key"
    models_prefix: str = "models/"
    batch_prefix: str = "batch/"
    capture_prefix: str = "capture/"
    feedback_prefix: str = "feedback/"
    reports_prefix: str = "reports/"
    batch_timeout: int = 900
    batch_max_receives: int = 3

    @property
    def batch_reserve_seconds(self) -> int:
        """What the batch function keeps back of its timeout to stop cleanly: a minute, but
        never so much of a short timeout that it could not start any file."""
        return min(60, self.batch_timeout // 4)

    @classmethod
    def from_chalice(cls, project_dir: Path, stage: str) -> StageConfig:
        """Read .chalice/config.json the way Chalice layers it: top level, then the stage."""
        config = json.loads((project_dir / ".chalice" / "config.json").read_text())
        stages = config.get("stages", {})
        if stage not in stages:
            known = ", ".join(sorted(stages)) or "none"
            raise ValueError(f"stage {stage!r} is not in .chalice/config.json (stages: {known})")
        env = {**config.get("environment_variables", {})}
        env.update(stages[stage].get("environment_variables", {}))
        batch = {**config.get("lambda_functions", {}).get("score_batch", {})}
        batch.update(stages[stage].get("lambda_functions", {}).get("score_batch", {}))
        timeout = batch.get("lambda_timeout")
        if timeout is None:
            timeout = stages[stage].get("lambda_timeout", config.get("lambda_timeout"))
        return cls(
            stage=stage,
            api_auth=env.get("SKLAMBDA_API_AUTH", "api_key"),
            models_prefix=_prefix(env.get("SKLAMBDA_MODELS_PREFIX", "models/")),
            batch_prefix=_prefix(env.get("SKLAMBDA_BATCH_PREFIX", "batch/")),
            capture_prefix=_prefix(env.get("SKLAMBDA_CAPTURE_PREFIX", "capture/")),
            feedback_prefix=_prefix(env.get("SKLAMBDA_FEEDBACK_PREFIX", "feedback/")),
            reports_prefix=_prefix(env.get("SKLAMBDA_REPORTS_PREFIX", "reports/")),
            batch_timeout=int(timeout or DEFAULT_TIMEOUT),
            batch_max_receives=int(env.get("SKLAMBDA_BATCH_MAX_RECEIVES", "3")),
        )


def _prefix(value: str) -> str:
    """A key prefix as the functions read it (chalicelib.core's settings): no leading slash,
    one trailing slash, so the stack's prefixes (Firehose's, the capture table's, the
    policies') name the keys the functions use even when the setting omits the slash."""
    value = value.strip().strip("/")
    return f"{value}/" if value else ""
