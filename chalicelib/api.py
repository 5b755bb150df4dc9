"""The HTTP edge: auth per stage, the caller's identity, and errors as JSON responses.

Error bodies are `{"error": CODE, "message": TEXT, "details": ..., "request_id": ID}`
(`error_body`: ours, the framework's, and API Gateway's own responses in the stack template).
5xx bodies never carry the internal message (it may name buckets or keys): they say what
happened in general and give the request id; the details go to the log.
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


def request_id_of(context: Mapping[str, Any] | None, lambda_context: Any) -> str:
    """The id a caller quotes: API Gateway's request id, else Lambda's, else "-"."""
    request_id = (context or {}).get("requestId") or getattr(lambda_context, "aws_request_id", "")
    return str(request_id or "-")


def request_info(request: Any, lambda_context: Any) -> RequestInfo:
    """The RequestInfo of the current Chalice request."""
    context = request.context or {}
    return RequestInfo(
        request_id=request_id_of(context, lambda_context), consumer=consumer_of(context)
    )


def error_body(code: str, message: str, request_id: str, details: Any = None) -> dict[str, Any]:
    """The documented shape of every error body; `details` only when there are any."""
    body: dict[str, Any] = {"error": code, "message": message}
    if details is not None:
        body["details"] = details
    body["request_id"] = request_id
    return body


def server_failure_message(code: str, request_id: str) -> str:
    """What a 5xx says instead of its internal message, which may name buckets or keys."""
    return (
        f"the service could not complete the request ({code}); "
        f"quote request id {request_id} when reporting it"
    )


def error_response(error: SklambdaError, request_id: str) -> Response:
    """The JSON response for an error a user caused (4xx) or met (5xx)."""
    if error.public:
        body = error_body(error.code, error.message, request_id, error.details)
    else:
        body = error_body(error.code, server_failure_message(error.code, request_id), request_id)
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


Middleware = Callable[[Any, Callable[[Any], Response]], Response]


def framework_errors(app: Any) -> Middleware:
    """Middleware giving the framework's own errors (405, 415, 500) the documented shape.

    `app` is the Chalice app, read at request time for the content types a route accepts.
    """

    def reshape_framework_errors(event: Any, get_response: Callable[[Any], Response]) -> Response:
        request_id = request_id_of(getattr(event, "context", None), _lambda_context(event))
        try:
            response = get_response(event)
        except Exception:  # noqa: BLE001 - raised outside any view: answer JSON, never a trace
            logger.exception("unhandled error outside a route", extra={"request_id": request_id})
            return error_response(SklambdaError("unhandled"), request_id)
        if _is_framework_error(response):
            response.body = _framework_error_body(app, event, response, request_id)
        return response

    return reshape_framework_errors


def _lambda_context(event: Any) -> Any:
    return getattr(event, "lambda_context", None)


def _is_framework_error(response: Response) -> bool:
    """Chalice's error bodies are {"Code", "Message"}; ours already have the shape."""
    body = response.body
    return response.status_code >= 400 and isinstance(body, dict) and "Code" in body


def _framework_error_body(
    app: Any, event: Any, response: Response, request_id: str
) -> dict[str, Any]:
    """Chalice's error in the documented shape, with what to do about it."""
    code = str(response.body["Code"])
    message = str(response.body.get("Message", ""))
    if response.status_code >= 500:
        message = server_failure_message(code, request_id)
    elif response.status_code == 405:
        message = _method_message(event, str(response.headers.get("Allow") or ""), message)
    elif response.status_code == 415:
        accepted = " or ".join(_accepted_types(app, event))
        message = f"{message}; send {accepted} and set the Content-Type header to match"
    return error_body(code, message, request_id)


def _method_message(event: Any, allowed: str, message: str) -> str:
    if allowed:
        return f"{message}; this path accepts {allowed}"
    # No method at all: API Gateway passed on a path this function has no route for.
    method, path = getattr(event, "method", "?"), getattr(event, "path", "?")
    return f"no route answers {method} {path}; check the method and the URL"


def _accepted_types(app: Any, event: Any) -> list[str]:
    """The content types the requested route reads (Chalice's default is JSON only)."""
    route = app.routes.get(getattr(event, "path", None), {}).get(getattr(event, "method", None))
    return list(getattr(route, "content_types", None) or ["application/json"])
