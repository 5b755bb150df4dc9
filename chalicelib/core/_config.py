"""Typed settings, read from the environment once per process."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from functools import lru_cache

from chalicelib.core._errors import ConfigError

# Environment variable names, in one place so the CLI, the app and the docs agree.
ENV_MODELS_BUCKET = "SKLAMBDA_MODELS_BUCKET"
ENV_DATA_BUCKET = "SKLAMBDA_DATA_BUCKET"
ENV_MODELS_PREFIX = "SKLAMBDA_MODELS_PREFIX"
ENV_BATCH_PREFIX = "SKLAMBDA_BATCH_PREFIX"
ENV_CAPTURE_PREFIX = "SKLAMBDA_CAPTURE_PREFIX"
ENV_FEEDBACK_PREFIX = "SKLAMBDA_FEEDBACK_PREFIX"
ENV_TRAINING_PREFIX = "SKLAMBDA_TRAINING_PREFIX"
ENV_REPORTS_PREFIX = "SKLAMBDA_REPORTS_PREFIX"
ENV_ALIAS_CACHE_TTL = "SKLAMBDA_ALIAS_CACHE_TTL_SECONDS"
ENV_MAX_REQUEST_BYTES = "SKLAMBDA_MAX_REQUEST_BYTES"
ENV_MAX_RECORDS = "SKLAMBDA_MAX_RECORDS"
ENV_CAPTURE_MODE = "SKLAMBDA_CAPTURE_MODE"
ENV_CAPTURE_STREAM = "SKLAMBDA_CAPTURE_STREAM"
ENV_BATCH_QUEUE = "SKLAMBDA_BATCH_QUEUE"
ENV_RETRAIN_QUEUE = "SKLAMBDA_RETRAIN_QUEUE"
ENV_RETRAIN_QUEUE_URL = "SKLAMBDA_RETRAIN_QUEUE_URL"
ENV_BATCH_CHUNK_ROWS = "SKLAMBDA_BATCH_CHUNK_ROWS"
ENV_BATCH_MAX_REJECTED = "SKLAMBDA_BATCH_MAX_REJECTED_SHARE"
ENV_BATCH_SPLIT_BYTES = "SKLAMBDA_BATCH_SPLIT_BYTES"
ENV_BATCH_PART_BYTES = "SKLAMBDA_BATCH_PART_BYTES"
ENV_BATCH_MAX_RECEIVES = "SKLAMBDA_BATCH_MAX_RECEIVES"
ENV_BATCH_RESERVE_SECONDS = "SKLAMBDA_BATCH_RESERVE_SECONDS"
ENV_MONITOR_WINDOW_HOURS = "SKLAMBDA_MONITOR_WINDOW_HOURS"
ENV_MONITOR_BATCH_ROWS = "SKLAMBDA_MONITOR_BATCH_ROWS"
ENV_MONITOR_LABEL_DAYS = "SKLAMBDA_MONITOR_LABEL_LOOKBACK_DAYS"
ENV_SIGNING_KEY = "SKLAMBDA_SIGNING_KEY"
ENV_ENDPOINT_URL = "AWS_ENDPOINT_URL"
CAPTURE_MODES = ("log", "firehose", "off")
MISSING_SIGNING_KEY = (
    f"no signing key configured: set {ENV_SIGNING_KEY} to the stack's key (`sklambda deploy` "
    "prints it; `sklambda up` uses alias/sklambda-signing) or pass --signing-key; versions "
    "are neither registered nor loaded unsigned"
)
ENV_REGION = "AWS_REGION"
ENV_DEFAULT_REGION = "AWS_DEFAULT_REGION"


@dataclass(frozen=True)
class Settings:
    """Everything the app reads from its environment. Prefixes end with '/' or are empty."""

    models_bucket: str = ""
    data_bucket: str = ""
    models_prefix: str = "models/"
    batch_prefix: str = "batch/"
    capture_prefix: str = "capture/"
    feedback_prefix: str = "feedback/"
    training_prefix: str = "training/"
    reports_prefix: str = "reports/"
    alias_cache_ttl_seconds: float = 30.0
    # Lambda's synchronous payload limit is 6 MB; API Gateway's is 10 MB.
    max_request_bytes: int = 6_000_000
    max_records: int = 1000
    # "log": one JSON line per request on stdout, shipped to Firehose by a log subscription
    # (free for the request); "firehose": PutRecordBatch from the handler; "off".
    capture_mode: str = "log"
    capture_stream: str = ""
    batch_queue: str = "sklambda-batch"
    # The queue the monitor asks the retraining function through. The stack sets its URL, so
    # the monitor sends without sqs:GetQueueUrl; elsewhere the URL is looked up by name.
    retrain_queue: str = "sklambda-retrain"
    retrain_queue_url: str = ""
    batch_chunk_rows: int = 50_000
    # Above this share of rejected rows a batch file fails and no scored file is published.
    batch_max_rejected_share: float = 0.10
    # Files above this size are split into parts of about batch_part_bytes, scored in parallel.
    batch_split_bytes: int = 1 << 30
    batch_part_bytes: int = 256 << 20
    # The batch queue's maxReceiveCount: on the last attempt a failure is written to the manifest.
    batch_max_receives: int = 3
    # With less of the invocation left than this, a batch worker starts no file and stops
    # between chunks, handing its message back: enough to abort, release and publish.
    batch_reserve_seconds: float = 60.0
    # The monitor compares the last `monitor_window_hours` of traffic with the training data.
    monitor_window_hours: int = 24
    # Rows read from each batch file (input and scored output) of the window, for drift.
    monitor_batch_rows: int | None = None  # rows read of each batch file; None: every row
    # Ground truth is joined with predictions made up to this many days before it arrived.
    monitor_label_lookback_days: int = 14
    # The KMS key (ARN, id or alias) that signs every registration and whose public half
    # every load verifies with; the stack sets its ARN. Without it nothing registers or loads.
    signing_key: str = ""
    region: str | None = None
    endpoint_url: str | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Parse settings from `env` (default: the process environment)."""
        env = os.environ if env is None else env
        return cls(
            models_bucket=env.get(ENV_MODELS_BUCKET, "").strip(),
            data_bucket=env.get(ENV_DATA_BUCKET, "").strip(),
            models_prefix=_prefix(env.get(ENV_MODELS_PREFIX, "models/")),
            batch_prefix=_prefix(env.get(ENV_BATCH_PREFIX, "batch/")),
            capture_prefix=_prefix(env.get(ENV_CAPTURE_PREFIX, "capture/")),
            feedback_prefix=_prefix(env.get(ENV_FEEDBACK_PREFIX, "feedback/")),
            training_prefix=_prefix(env.get(ENV_TRAINING_PREFIX, "training/")),
            reports_prefix=_prefix(env.get(ENV_REPORTS_PREFIX, "reports/")),
            alias_cache_ttl_seconds=_non_negative_float(
                ENV_ALIAS_CACHE_TTL, env.get(ENV_ALIAS_CACHE_TTL, "30")
            ),
            max_request_bytes=_positive_int(
                ENV_MAX_REQUEST_BYTES, env.get(ENV_MAX_REQUEST_BYTES, "6000000")
            ),
            max_records=_positive_int(ENV_MAX_RECORDS, env.get(ENV_MAX_RECORDS, "1000")),
            capture_mode=_choice(ENV_CAPTURE_MODE, env.get(ENV_CAPTURE_MODE, "log"), CAPTURE_MODES),
            capture_stream=env.get(ENV_CAPTURE_STREAM, "").strip(),
            batch_queue=env.get(ENV_BATCH_QUEUE, "sklambda-batch").strip() or "sklambda-batch",
            retrain_queue=env.get(ENV_RETRAIN_QUEUE, "sklambda-retrain").strip()
            or "sklambda-retrain",
            retrain_queue_url=env.get(ENV_RETRAIN_QUEUE_URL, "").strip(),
            batch_chunk_rows=_positive_int(
                ENV_BATCH_CHUNK_ROWS, env.get(ENV_BATCH_CHUNK_ROWS, "50000")
            ),
            batch_split_bytes=_positive_int(
                ENV_BATCH_SPLIT_BYTES, env.get(ENV_BATCH_SPLIT_BYTES, str(1 << 30))
            ),
            batch_part_bytes=_positive_int(
                ENV_BATCH_PART_BYTES, env.get(ENV_BATCH_PART_BYTES, str(256 << 20))
            ),
            batch_max_receives=_positive_int(
                ENV_BATCH_MAX_RECEIVES, env.get(ENV_BATCH_MAX_RECEIVES, "3")
            ),
            batch_reserve_seconds=_non_negative_float(
                ENV_BATCH_RESERVE_SECONDS, env.get(ENV_BATCH_RESERVE_SECONDS, "60")
            ),
            batch_max_rejected_share=_share(
                ENV_BATCH_MAX_REJECTED, env.get(ENV_BATCH_MAX_REJECTED, "0.10")
            ),
            monitor_window_hours=_positive_int(
                ENV_MONITOR_WINDOW_HOURS, env.get(ENV_MONITOR_WINDOW_HOURS, "24")
            ),
            monitor_batch_rows=(
                _positive_int(ENV_MONITOR_BATCH_ROWS, env[ENV_MONITOR_BATCH_ROWS])
                if env.get(ENV_MONITOR_BATCH_ROWS, "").strip()
                else None
            ),
            monitor_label_lookback_days=_positive_int(
                ENV_MONITOR_LABEL_DAYS, env.get(ENV_MONITOR_LABEL_DAYS, "14")
            ),
            signing_key=env.get(ENV_SIGNING_KEY, "").strip(),
            region=env.get(ENV_REGION) or env.get(ENV_DEFAULT_REGION) or None,
            endpoint_url=env.get(ENV_ENDPOINT_URL) or None,
        )

    def with_overrides(self, **overrides: str | float | None) -> Settings:
        """A copy with the given non-None values replaced (command-line options win)."""
        known = {f.name for f in fields(self)}
        unknown = set(overrides) - known
        if unknown:
            raise TypeError(f"unknown settings: {sorted(unknown)}")
        values = {k: v for k, v in overrides.items() if v is not None}
        for key in [k for k in values if k.endswith("_prefix")]:
            values[key] = _prefix(str(values[key]))
        return replace(self, **values)  # type: ignore[arg-type]

    def require_models_bucket(self) -> str:
        """The models bucket, or a ConfigError that says how to set it."""
        if not self.models_bucket:
            raise ConfigError(
                f"no models bucket configured: set {ENV_MODELS_BUCKET} or pass --models-bucket"
            )
        return self.models_bucket

    def require_signing_key(self) -> str:
        """The registry's signing key, or a ConfigError that says how to set it."""
        if not self.signing_key:
            raise ConfigError(MISSING_SIGNING_KEY)
        return self.signing_key

    def require_data_bucket(self) -> str:
        """The data bucket, or a ConfigError that says how to set it."""
        if not self.data_bucket:
            raise ConfigError(
                f"no data bucket configured: set {ENV_DATA_BUCKET} or pass --data-bucket"
            )
        return self.data_bucket


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, parsed on first use."""
    return Settings.from_env()


def reset_settings() -> None:
    """Forget the parsed settings (tests and the local stack change the environment)."""
    get_settings.cache_clear()


def _prefix(value: str) -> str:
    value = value.strip().strip("/")
    return f"{value}/" if value else ""


def _positive_int(name: str, raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, got {raw!r}") from None
    if value <= 0:
        raise ConfigError(f"{name} must be positive, got {raw!r}")
    return value


def _choice(name: str, raw: str, allowed: tuple[str, ...]) -> str:
    value = raw.strip().lower()
    if value not in allowed:
        raise ConfigError(f"{name} must be one of {', '.join(allowed)}; got {raw!r}")
    return value


def _share(name: str, raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not 0.0 <= value <= 1.0:
        raise ConfigError(f"{name} is a share between 0 and 1, got {raw!r}")
    return value


def _non_negative_float(name: str, raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number of seconds, got {raw!r}") from None
    if value < 0:
        raise ConfigError(f"{name} must not be negative, got {raw!r}")
    return value
