"""Chalice's local server, with API Gateway's own errors as the deployed stack answers them.

Chalice's local gateway refuses a request for a route the app lacks with its own
`{"message": "Missing Authentication Token"}`; the deployed API answers the same request with
its gateway responses (`sklambda.infra.resources.gateway_errors`), in the API's error shape.
The local server sends that same body, with the request id Chalice gave the request.
"""

from __future__ import annotations

from typing import Any

from chalice.config import Config
from chalice.local import (
    ChaliceRequestHandler,
    CustomLocalChalice,
    ForbiddenError,
    LocalChalice,
    LocalDevServer,
    LocalGatewayException,
)

from sklambda.infra.resources import GatewayError, gateway_errors

# The local stack checks no API key or signature (SKLAMBDA_API_AUTH=none).
LOCAL_AUTH = "none"


def local_api_server(app: Any, host: str, port: int) -> LocalDevServer:
    """Chalice's local server for `app` on host:port, not yet serving."""
    if not isinstance(app, LocalChalice):
        # What chalice.local.create_local_server does: one current request per thread.
        CustomLocalChalice.__bases__ = (LocalChalice, type(app))
        app.__class__ = CustomLocalChalice
    config = Config.create(chalice_stage="dev", app_name="sklambda")
    return LocalDevServer(app, config, host, port, handler_cls=GatewayErrorsHandler)


def gateway_error_for(error: LocalGatewayException) -> GatewayError:
    """The deployed API's answer to what Chalice's local gateway refused."""
    errors = gateway_errors(LOCAL_AUTH)
    if isinstance(error, ForbiddenError):
        # With no authorizer, the only request the local gateway forbids is one for a route
        # the app lacks: API Gateway's MISSING_AUTHENTICATION_TOKEN.
        return errors["MISSING_AUTHENTICATION_TOKEN"]
    return errors["DEFAULT_5XX" if error.CODE >= 500 else "DEFAULT_4XX"]


class GatewayErrorsHandler(ChaliceRequestHandler):
    """Chalice's request handler, sending the gateway's own errors in the API's shape."""

    def _send_error_response(self, error: LocalGatewayException) -> None:
        request_id = str(error.headers.get("x-amzn-RequestId") or "-")
        headers = {**error.headers, "Content-Type": "application/json"}
        self._send_http_response(error.CODE, headers, gateway_error_for(error).body(request_id))
