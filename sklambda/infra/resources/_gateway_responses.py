"""API Gateway's own answers in the API's error shape.

API Gateway answers some requests itself, before the function runs: an unknown route or
method, a missing or wrong API key or signature, throttling, a body over its limit, a
timeout. Its default body is `{"message": "Forbidden"}`; these gateway responses give each the
shape of every other error (`chalicelib.api.error_body`), API Gateway's request id and a
message that says what to fix.

They are set in the API's definition (`x-amazon-apigateway-gateway-responses`), not as
`AWS::ApiGateway::GatewayResponse` resources: Chalice's API is imported from that definition
in overwrite mode, which resets responses defined beside it on every change of the API, and
a change of the definition is what makes SAM deploy the stage again, so an edited response
goes live with the deploy that carries it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from chalicelib.api import error_body, server_failure_message
from chalicelib.core import PayloadTooLargeError, UnsupportedMediaTypeError
from sklambda.infra.resources._api import THROTTLE_BURST, THROTTLE_RATE
from sklambda.infra.resources._chalice import API_ROUTES, API_STAGE, REST_API, StageConfig

DEFINITION_KEY = "x-amazon-apigateway-gateway-responses"
# API Gateway puts its request id here; it is the id the function's errors carry too.
REQUEST_ID = "$context.requestId"
JSON_TYPE = "application/json"


@dataclass(frozen=True)
class GatewayError:
    """What API Gateway says for one of its response types, in the API's error shape."""

    code: str
    message: str
    headers: dict[str, str] = field(default_factory=dict)

    def template(self) -> str:
        """The response template: the error body, with API Gateway's request id in it."""
        return json.dumps(error_body(self.code, self.message, REQUEST_ID))

    def body(self, request_id: str) -> str:
        """The body API Gateway sends: the template with the request id filled in."""
        return self.template().replace(REQUEST_ID, request_id)


def gateway_errors(api_auth: str) -> dict[str, GatewayError]:
    """API Gateway's own errors for a stage's auth mode, by gateway response type."""
    errors = {
        "DEFAULT_4XX": GatewayError(
            "RequestRefused",
            "API Gateway refused the request before it reached the service; check the "
            f"method, URL and headers against the routes: {_routes()}",
        ),
        "DEFAULT_5XX": GatewayError(
            "GatewayError", server_failure_message("GatewayError", REQUEST_ID)
        ),
        "MISSING_AUTHENTICATION_TOKEN": _unknown_route(api_auth),
        "THROTTLED": _throttled(api_auth),
        "REQUEST_TOO_LARGE": GatewayError(
            PayloadTooLargeError.code,
            "the request is over API Gateway's size limit (10 MB); split the records over "
            "several requests",
        ),
        "UNSUPPORTED_MEDIA_TYPE": GatewayError(
            UnsupportedMediaTypeError.code,
            f"send {JSON_TYPE} (or text/csv to POST /models/{{name}}/predict) and set the "
            "Content-Type header to match",
        ),
        "INTEGRATION_TIMEOUT": GatewayError(
            "Timeout",
            "the service did not answer within API Gateway's 29 seconds; send fewer records "
            f"per request and retry; quote request id {REQUEST_ID} if it persists",
        ),
        "INTEGRATION_FAILURE": GatewayError(
            "IntegrationFailure", server_failure_message("IntegrationFailure", REQUEST_ID)
        ),
    }
    if api_auth == "api_key":
        errors["INVALID_API_KEY"] = GatewayError(
            "InvalidApiKey",
            "the API key is missing or not valid; send a key of this API in the x-api-key "
            "header (aws apigateway get-api-key --api-key KEY_ID --include-value shows it)",
        )
    if api_auth == "iam":
        errors.update(_iam_errors())
    return errors


def gateway_responses(config: StageConfig) -> dict[str, Any]:
    """The addition to Chalice's API: its gateway responses, in its definition."""
    responses = {
        response_type: {
            "responseParameters": {
                f"gatewayresponse.header.{name}": f"'{value}'"
                for name, value in {"Content-Type": JSON_TYPE, **error.headers}.items()
            },
            "responseTemplates": {JSON_TYPE: error.template()},
        }
        for response_type, error in gateway_errors(config.api_auth).items()
    }
    return {REST_API: {"Properties": {"DefinitionBody": {DEFINITION_KEY: responses}}}}


def _routes() -> str:
    return f"{', '.join(API_ROUTES)} (paths follow the stage: .../{API_STAGE}/models)"


def _unknown_route(api_auth: str) -> GatewayError:
    # API Gateway answers MISSING_AUTHENTICATION_TOKEN for a path or method it has no route
    # for, and under IAM auth also for a route's request that carries no signature.
    message = f"no route answers this method and path; check both against the routes: {_routes()}"
    if api_auth != "iam":
        return GatewayError("UnknownRoute", message)
    return GatewayError(
        "UnknownRouteOrUnsigned",
        f"{message}; requests to them must be signed with AWS Signature Version 4",
    )


def _throttled(api_auth: str) -> GatewayError:
    retry = "wait a moment and retry, backing off exponentially"
    if api_auth != "api_key":
        return GatewayError("Throttled", f"too many requests; {retry}", {"Retry-After": "1"})
    return GatewayError(
        "Throttled",
        f"too many requests for this API key: its usage plan allows {THROTTLE_RATE} requests "
        f"a second with bursts of {THROTTLE_BURST}; {retry}",
        {"Retry-After": "1"},
    )


def _iam_errors() -> dict[str, GatewayError]:
    return {
        "ACCESS_DENIED": GatewayError(
            "AccessDenied",
            "the signing IAM identity may not call this API; grant it execute-api:Invoke on "
            "the API's routes",
        ),
        "INVALID_SIGNATURE": GatewayError(
            "InvalidSignature",
            "the request's signature does not match; sign it with AWS Signature Version 4 for "
            "the execute-api service in the API's region, with the caller's current credentials",
        ),
        "EXPIRED_TOKEN": GatewayError(
            "ExpiredToken",
            "the credentials that signed the request have expired; refresh them and sign the "
            "request again",
        ),
    }
