"""Core: settings, errors, observability (logs, EMF metrics), prediction ids and UTC time.

Every other package builds on these; they import nothing of the project's.
"""

from typing import TYPE_CHECKING

from chalicelib._lazy import lazy_exports

if TYPE_CHECKING:  # what lazy_exports loads on first use
    from chalicelib.core._config import (
        MISSING_SIGNING_KEY,
        Settings,
        get_settings,
        reset_settings,
    )
    from chalicelib.core._errors import (
        AwsAccessError,
        ConfigError,
        ConflictError,
        ExplanationUnavailable,
        GoneError,
        IntegrityError,
        InvalidInputError,
        ModelCodeMissing,
        NotFoundError,
        NotReadyError,
        PayloadTooLargeError,
        RetrainFailed,
        SignatureError,
        SklambdaError,
        UnsupportedMediaTypeError,
        VersionSkewError,
        is_retryable,
    )
    from chalicelib.core._ids import new_prediction_id, new_prediction_ids, predicted_at
    from chalicelib.core._observability import (
        CAPTURE_FAILURES,
        CLIENT_ERRORS,
        LATENCY,
        NAMESPACE,
        RECORDS_SCORED,
        REQUEST_COUNT,
        SERVER_ERRORS,
        SHADOW_FAILURES,
        UNKNOWN_CATEGORIES,
        logger,
        publish,
    )
    from chalicelib.core._time import iso, now_iso, parse_iso, parse_time, utc_now

__getattr__, __dir__, __all__ = lazy_exports(__name__, __file__)
