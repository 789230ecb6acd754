"""Error frames exactly as the service shapes them."""

from __future__ import annotations

import uuid
from typing import Any

ERRORS_URL = "https://soniox.com/docs/api-reference/errors#"

# Messages the reference documents verbatim; the rest are our wording. The STT endpoint has its
# own published list (``STT_*`` below); these are the TTS wording (protocol B4, 8.5).
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


# --- STT: the published error list (protocol A9), verbatim. ---
# Every message the mock can provoke is here; CONFORMANCE.md says which condition triggers each.

STT_MISSING_AUDIO_FORMAT = (
    "Missing audio format. Specify a valid audio format (e.g. s16le, f32le, wav, ogg, flac...) "
    'or "auto" for auto format detection.'
)
STT_NO_CHANNELS = "Audio data channels must be specified for PCM formats"
STT_NO_SAMPLE_RATE = "Audio data sample rate must be specified for PCM formats"
STT_DECODE_ERROR = "Audio decode error"
STT_AUDIO_TOO_LONG = "Audio is too long."
STT_CLIENT_REFERENCE_ID_TOO_LONG = "Client reference ID is too long (max length {})"
STT_CONTEXT_TOO_LONG = "Context is too long (max length {})."
STT_CONTROL_INVALID_TYPE = "Control request invalid type."
STT_CONTROL_MALFORMED = "Control request is malformed."
STT_INVALID_FORMAT = "Invalid audio data format: {}"
STT_INVALID_LANGUAGE_HINT = "Invalid language hint."
STT_INVALID_TRANSLATION_TARGET = "Invalid translation target language."
STT_HINTS_NOT_UNIQUE = "Language hints must be unique."
STT_NO_TRANSLATION = "Model does not support translations."
STT_NO_AUDIO = "No audio received."
STT_TOO_MUCH_AUDIO = "Received too much audio data in total."
STT_START_MALFORMED = "Start request is malformed."
STT_START_NOT_TEXT = "Start request must be a text message."
STT_INVALID_KEY = "Invalid API key."
STT_INVALID_TEMP_KEY = "Invalid/expired temporary API key."
STT_MISSING_KEY = MSG_MISSING_KEY
STT_BALANCE = MSG_BALANCE
STT_REQUEST_TIMEOUT = "Request timeout."
STT_DECODE_TIMEOUT = "Audio data decode timeout"
STT_START_TIMEOUT = "Start request timeout"
STT_FIRST_AUDIO_TIMEOUT = "Timed out while waiting for the first audio chunk"
STT_INPUT_TOO_SLOW = "Input too slow"
STT_RATE_LIMIT_PROJECT = "Rate limit for your project has been exceeded."
STT_CONCURRENCY_PROJECT = "Your project has exceeded max number of concurrent requests."
STT_INTERNAL = (
    "The server had an error processing your request. Sorry about that! You can retry your "
    "request, or contact us through our support email support@soniox.com if you keep seeing "
    "this error."
)
STT_CANNOT_CONTINUE = (
    "Cannot continue request (code {}). Please restart the request. "
    "Refer to: https://soniox.com/url/cannot-continue-request"
)

STT_DEFAULT_MESSAGES = {
    400: DEFAULT_MESSAGES[400],
    401: STT_INVALID_KEY,
    402: STT_BALANCE,
    403: DEFAULT_MESSAGES[403],
    408: STT_REQUEST_TIMEOUT,
    429: STT_CONCURRENCY_PROJECT,
    500: STT_INTERNAL,
    503: STT_CANNOT_CONTINUE.format(11),
}


def stt_error_frame(exc: ProtocolError) -> dict[str, Any]:
    """An STT error frame as published: ``"tokens": []`` first, then the error fields.

    An empty message takes the code's published default (what an injected fault sends)."""
    message = exc.message or STT_DEFAULT_MESSAGES.get(exc.code) or None
    return {"tokens": [], **error_frame(exc.code, message, exc.error_type)}
