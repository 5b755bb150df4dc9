"""The HTTP edge: auth per stage, the caller's identity, and errors as JSON responses.

Error bodies are `{"error": CODE, "message": TEXT, "details": ...}`. 5xx bodies never carry
the internal message (it may name buckets or keys): they say what happened in general and
give the request id; the details go to the log.
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Callable, Mapping
from typing import Any

from chalice import IAMAuthorizer, Response

from chalicelib.core import CLIENT_ERRORS, SERVER_ERRORS, SklambdaError, logger, publish
from chalicelib.serving import RequestInfo

ENV_API_AUTH = "SKLAMBDA_API_AUTH"
API_AUTH_MODES = ("api_key", "iam", "none")
JSON_HEADERS: dict[str, str | list[str]] = {"Content-Type": "application/json"}


def route_auth(env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Route options for the stage's auth mode: API key (default), IAM, or none.

    Read when app.py is imported; `chalice package/deploy` import it with the stage's
    environment variables, so the mode set per stage in .chalice/config.json applies.
    """
    mode = (os.environ if env is None else env).get(ENV_API_AUTH, "api_key").strip().lower()
    if mode not in API_AUTH_MODES:
        raise ValueError(f"{ENV_API_AUTH} must be one of {', '.join(API_AUTH_MODES)}; got {mode!r}")
    if mode == "api_key":
        return {"api_key_required": True}
    if mode == "iam":
        return {"authorizer": IAMAuthorizer()}
    return {}


def consumer_of(context: Mapping[str, Any] | None) -> str:
    """Who is calling, for chargeback: the API key id, else the IAM principal, else anonymous."""
    identity = (context or {}).get("identity") or {}
    return str(
        identity.get("apiKeyId") or identity.get("userArn") or identity.get("caller") or "anonymous"
    )


def request_info(request: Any, lambda_context: Any) -> RequestInfo:
    """The RequestInfo of the current Chalice request."""
    context = request.context or {}
    request_id = context.get("requestId") or getattr(lambda_context, "aws_request_id", "") or "-"
    return RequestInfo(request_id=str(request_id), consumer=consumer_of(context))


def error_response(error: SklambdaError, request_id: str) -> Response:
    """The JSON response for an error a user caused (4xx) or met (5xx)."""
    if not error.public:
        body = {
            "error": error.code,
            "message": f"the service could not complete the request ({error.code}); "
            f"quote request id {request_id} when reporting it",
        }
    else:
        body = error.to_dict()
    body["request_id"] = request_id
    return Response(body=json.dumps(body), status_code=error.status_code, headers=JSON_HEADERS)


def endpoint(app: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorator for views: gives them a RequestInfo, turns errors into JSON, counts them."""

    def decorate(view: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(view)
        def wrapper(**params: Any) -> Any:
            info = request_info(app.current_request, app.lambda_context)
            info.model = params.get("name", "")
            try:
                return view(info, **params)
            except SklambdaError as error:
                _count_error(info, error.status_code, error.code)
                level = logger.error if error.status_code >= 500 else logger.info
                level(
                    "request failed",
                    extra={
                        "request_id": info.request_id,
                        "model": info.model,
                        "status": error.status_code,
                        "error": error.code,
                        "detail": error.message,
                    },
                )
                return error_response(error, info.request_id)
            except Exception:  # noqa: BLE001 - answer JSON, never the framework's trace
                _count_error(info, 500, "Unhandled")
                logger.exception(
                    "unhandled error", extra={"request_id": info.request_id, "model": info.model}
                )
                return error_response(SklambdaError("unhandled"), info.request_id)

        return wrapper

    return decorate


def _count_error(info: RequestInfo, status: int, reason: str) -> None:
    publish(
        {"Model": info.model or "-", "Consumer": info.consumer, "Reason": reason},
        counts={CLIENT_ERRORS if status < 500 else SERVER_ERRORS: 1},
    )


def reshape_framework_errors(event: Any, get_response: Callable[[Any], Response]) -> Response:
    """Give the framework's own errors (unknown route, 405, 415) the same JSON shape."""
    response = get_response(event)
    if response.status_code < 400 or not isinstance(response.body, dict):
        return response
    body = response.body
    if "Code" in body and "error" not in body:
        message = str(body.get("Message", ""))
        if response.status_code == 415:
            message += "; send application/json or text/csv"
        response.body = {"error": body["Code"], "message": message}
    return response
