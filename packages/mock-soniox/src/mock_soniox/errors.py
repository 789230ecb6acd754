"""Error frames exactly as the service shapes them."""

from __future__ import annotations

import uuid
from typing import Any

ERRORS_URL = "https://soniox.com/docs/api-reference/errors#"

# Messages the reference documents verbatim; the rest are our wording.
MSG_INVALID_MODEL = "Invalid model specified."
MSG_BAD_KEY = "Incorrect API key provided."
MSG_MISSING_KEY = "Missing API key."
MSG_TIMEOUT = "Request timeout"
MSG_BALANCE = "Organization balance exhausted. Please either add funds manually or enable autopay."
MSG_LIMIT = "Concurrent request limit exceeded."

DEFAULT_TYPES = {
    400: "invalid_request",
    401: "unauthenticated",
    402: "organization_balance_exhausted",
    403: "permission_denied",
    408: "request_timeout",
    429: "limit_exceeded",
    500: "internal_error",
    503: "service_unavailable",
}

DEFAULT_MESSAGES = {
    400: "Invalid request.",
    401: MSG_BAD_KEY,
    402: MSG_BALANCE,
    403: "Permission denied.",
    408: MSG_TIMEOUT,
    429: MSG_LIMIT,
    500: "Internal server error.",
    503: "Cannot continue request (code 11). Please restart the request.",
}


def default_type(code: int) -> str:
    """The error_type for a code: the documented one, else by class (4xx client, 5xx server)."""
    return DEFAULT_TYPES.get(code, "invalid_request" if 400 <= code < 500 else "internal_error")


class ProtocolError(Exception):
    """A client mistake the service answers with an error frame."""

    def __init__(self, code: int, message: str, error_type: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.error_type = error_type or default_type(code)


def error_frame(
    code: int,
    message: str | None = None,
    error_type: str | None = None,
    *,
    stream_id: str | None = None,
) -> dict[str, Any]:
    """``{error_code, error_type, error_message, more_info, request_id}`` (+ ``stream_id``)."""
    etype = error_type or default_type(code)
    frame: dict[str, Any] = {}
    if stream_id is not None:
        frame["stream_id"] = stream_id
    frame.update(
        error_code=code,
        error_type=etype,
        error_message=message or DEFAULT_MESSAGES.get(code, "Error."),
        more_info=ERRORS_URL + etype.replace("_", "-"),
        request_id=str(uuid.uuid4()),
    )
    return frame


def from_exception(exc: ProtocolError, *, stream_id: str | None = None) -> dict[str, Any]:
    return error_frame(exc.code, exc.message, exc.error_type, stream_id=stream_id)
