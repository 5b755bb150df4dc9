"""Online prediction: request bodies, routing across champion, canary and shadow, scoring,
capture and feedback, and what the API tells about models.
"""

from typing import TYPE_CHECKING

from chalicelib._lazy import lazy_exports

if TYPE_CHECKING:  # what lazy_exports loads on first use
    from chalicelib.serving._capture import (
        Capturer,
        CaptureSink,
        FirehoseCaptureSink,
        LogCaptureSink,
        NoCaptureSink,
        capture_lines,
        parse_capture_line,
    )
    from chalicelib.serving._catalog import describe_model, list_models
    from chalicelib.serving._feedback import parse_feedback, store_feedback
    from chalicelib.serving._payloads import (
        ParsedPayload,
        RequestBody,
        parse_payload,
        read_body,
    )
    from chalicelib.serving._query import parse_version, query_flag, version_and_alias
    from chalicelib.serving._routing import Route, choose_route, entity_share
    from chalicelib.serving._server import (
        UNKNOWN_MODEL_TTL,
        ModelServer,
        ModelState,
        RequestInfo,
    )

__getattr__, __dir__, __all__ = lazy_exports(__name__, __file__)
