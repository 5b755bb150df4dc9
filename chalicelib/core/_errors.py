"""One small hierarchy of errors a user can cause or meet, each with its HTTP status, and
whether trying again may help.

Messages say what to do next; they never carry stack traces, bucket names or credentials,
because the HTTP layer returns them as they are.
"""

from __future__ import annotations

from typing import Any


class SklambdaError(Exception):
    """Base of every error sklambda reports to a user."""

    status_code = 500
    code = "InternalError"
    # Whether an HTTP response may show the message. Server-side failures can name buckets,
    # keys or versions that callers have no business seeing.
    public = False
    # Whether the same work may succeed when tried again later: AWS throttled or out of reach,
    # a race lost to another writer. Most are not: a model that does not exist, an artifact
    # that fails its checksum or a file that cannot be read stay so on every attempt.
    retryable = False

    def __init__(self, message: str, *, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    def to_dict(self) -> dict[str, Any]:
        """The JSON body the HTTP layer returns for this error."""
        body: dict[str, Any] = {"error": self.code, "message": self.message}
        if self.details is not None:
            body["details"] = self.details
        return body


class InvalidInputError(SklambdaError):
    """The caller's input is malformed or fails validation."""

    status_code = 400
    code = "InvalidInput"
    public = True


class ExplanationUnavailable(InvalidInputError):
    """Explanations asked of a model version that cannot be explained exactly."""

    code = "ExplanationUnavailable"


class NotFoundError(SklambdaError):
    """A model, version or alias that does not exist."""

    status_code = 404
    code = "NotFound"
    public = True


class ConflictError(SklambdaError):
    """Someone else changed the same object first; re-read and try again."""

    status_code = 409
    code = "Conflict"
    public = True
    retryable = True


class GoneError(SklambdaError):
    """A model or version that was retired: it exists, but serves nothing until restored."""

    status_code = 410
    code = "Gone"
    public = True


class PayloadTooLargeError(SklambdaError):
    """A body or record count over the configured limits."""

    status_code = 413
    code = "PayloadTooLarge"
    public = True


class UnsupportedMediaTypeError(SklambdaError):
    """A content type the endpoint does not read."""

    status_code = 415
    code = "UnsupportedMediaType"
    public = True


class NotReadyError(SklambdaError):
    """The model exists but cannot serve yet (no champion promoted)."""

    status_code = 503
    code = "NotReady"
    public = True


class IntegrityError(SklambdaError):
    """A stored artifact does not match its recorded checksum: refuse to load it."""

    status_code = 500
    code = "ArtifactIntegrity"


class SignatureError(IntegrityError):
    """A version without a valid signature of the registry's key, or whose files differ from
    what was signed: refused before anything of it is deserialized."""

    code = "SignatureRefused"


class VersionSkewError(SklambdaError):
    """A model was pickled under library versions this runtime cannot load safely."""

    status_code = 500
    code = "VersionSkew"


class ModelCodeMissing(SklambdaError):
    """A registered model needs a module that neither its code bundle nor the runtime has."""

    status_code = 500
    code = "ModelCodeMissing"


class ConfigError(SklambdaError):
    """sklambda itself is misconfigured (missing bucket name, bad setting)."""

    status_code = 500
    code = "Configuration"


class AwsAccessError(SklambdaError):
    """AWS refused or could not be reached: credentials, permissions, endpoint, bucket."""

    status_code = 502
    code = "AwsAccess"
    retryable = True


class RetrainFailed(SklambdaError):
    """A retrain that could not finish; the champion is left untouched."""

    status_code = 422
    code = "RetrainFailed"
    public = True


def is_retryable(error: BaseException) -> bool:
    """Whether work that failed with `error` is worth trying again: sklambda's errors say so
    themselves (`retryable`); anything unexpected (a network blip, a bug that a new deployment
    fixes) is given the benefit of the doubt."""
    if isinstance(error, SklambdaError):
        return error.retryable
    return True
