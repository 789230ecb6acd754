"""TTS client messages: telling them apart and validating a stream's config (protocol B2)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .. import models
from ..errors import MSG_INVALID_MODEL, ProtocolError
from ..sanitize import for_message

# Which models exist, their aliases and who supports reduce_silence: the model catalogue.

PCM_RATES = (8000, 16000, 24000, 44100, 48000)
SAMPLE_RATES: dict[str, tuple[int, ...]] = {
    "pcm_f32le": PCM_RATES,
    "pcm_s16le": PCM_RATES,
    "wav": PCM_RATES,
    "pcm_mulaw": (8000,),
    "pcm_alaw": (8000,),
    "flac": (16000, 24000, 44100, 48000),
    "mp3": (16000, 24000, 32000, 44100, 48000),
    "opus": (8000, 16000, 24000, 48000),
    "aac": (16000, 24000, 44100, 48000),
}
DEFAULT_SAMPLE_RATE: dict[str, int] = {"pcm_mulaw": 8000, "pcm_alaw": 8000}
MP3_AAC_BITRATES = (32000, 64000, 96000, 128000, 192000, 256000, 320000)
BITRATES: dict[str, tuple[int, ...]] = {
    "mp3": MP3_AAC_BITRATES,
    "aac": MP3_AAC_BITRATES,
    "opus": (16000, 32000, 64000, 96000, 128000, 256000),
}
DEFAULT_BITRATE: dict[str, int] = {"mp3": 128000, "aac": 128000, "opus": 64000}
# Formats the service offers that this mock cannot produce honestly (libsndfile has no AAC encoder).
UNSUPPORTED_FORMATS = frozenset({"aac"})

MAX_NAME_CHARS = 50
MAX_STREAM_ID_CHARS = 256
MAX_ECHOED_ID_CHARS = 1024
MAX_REFERENCE_ID_CHARS = 256
SPEED_MIN, SPEED_MAX = 0.7, 1.3

MSG_NOT_FOUND = "Stream {} not found. Send a start message first."
MSG_BAD_STREAM_ID = f"stream_id must be between 1 and {MAX_STREAM_ID_CHARS} characters long."


def not_found(stream_id: str) -> ProtocolError:
    return ProtocolError(400, MSG_NOT_FOUND.format(for_message(stream_id, MAX_ECHOED_ID_CHARS)))


@dataclass(frozen=True)
class StreamConfig:
    """A validated stream configuration, defaults filled in."""

    stream_id: str
    model: str
    language: str
    voice: str
    audio_format: str
    sample_rate: int
    bitrate: int | None = None
    speed: float = 1.0
    reduce_silence: bool = False
    return_timestamps: bool = False
    client_reference_id: str | None = None
    api_key: str | None = None


# --- Message kinds ---

KEEP_ALIVE = "keep_alive"
CANCEL = "cancel"
TEXT = "text"
TEXT_END = "text_end"
CONFIG = "config"


def message_kind(msg: dict[str, Any]) -> str:
    """Which message this is, by its keys: keep_alive, cancel, text/text_end, else a config.

    Anything that is none of the first three starts a stream, so a message with only a
    ``stream_id`` fails config validation ("Missing required field: model"), as the service does.
    """
    if KEEP_ALIVE in msg:
        return KEEP_ALIVE
    if CANCEL in msg:
        return CANCEL
    if TEXT in msg or TEXT_END in msg:
        return TEXT_END if msg.get(TEXT_END) is True else TEXT
    return CONFIG


def stream_id_of(msg: dict[str, Any]) -> str | None:
    """The stream a message is for, when it names one short enough to echo back.

    Ids up to :data:`MAX_ECHOED_ID_CHARS` get per-stream errors that name them (a config's
    over-256 id is refused that way, naming the limit); longer ones are a connection error, so
    a megabyte id cannot turn into megabytes of replies.
    """
    value = msg.get("stream_id")
    if isinstance(value, str) and 1 <= len(value) <= MAX_ECHOED_ID_CHARS:
        return value
    return None


# --- Field checks (each error names its field) ---


def _present(msg: dict[str, Any], name: str) -> Any:
    """The field's value; ``null`` counts as absent."""
    return msg.get(name)


def _required_str(msg: dict[str, Any], name: str, max_chars: int) -> str:
    value = _present(msg, name)
    if value is None:
        raise ProtocolError(400, f"Missing required field: {name}")
    return _check_str(name, value, max_chars)


def _check_str(name: str, value: Any, max_chars: int) -> str:
    if not isinstance(value, str):
        raise ProtocolError(400, f"{name} must be a string.")
    if not 1 <= len(value) <= max_chars:
        raise ProtocolError(400, f"{name} must be between 1 and {max_chars} characters long.")
    return value


def _optional_bool(msg: dict[str, Any], name: str) -> bool:
    value = _present(msg, name)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise ProtocolError(400, f"{name} must be a boolean.")
    return value


def _optional_int(msg: dict[str, Any], name: str) -> int | None:
    value = _present(msg, name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ProtocolError(400, f"{name} must be an integer.")
    return value


def _allowed_list(values: tuple[int, ...]) -> str:
    return ", ".join(str(v) for v in values)


def parse_stream_config(
    msg: dict[str, Any], catalogue: models.Catalogue | None = None
) -> StreamConfig:
    """Validate a stream's config message; raises :class:`ProtocolError` naming the bad field.

    ``model`` keeps the name the client sent; aliases are resolved only to look up what the model
    supports (fixture replay folds them itself)."""
    stream_id = _required_str(msg, "stream_id", MAX_STREAM_ID_CHARS)
    model = _required_str(msg, "model", MAX_NAME_CHARS)
    language = _required_str(msg, "language", MAX_NAME_CHARS)
    voice = _required_str(msg, "voice", MAX_NAME_CHARS)
    audio_format = _present(msg, "audio_format")
    if audio_format is None:
        raise ProtocolError(400, "Missing required field: audio_format")
    if not isinstance(audio_format, str) or audio_format not in SAMPLE_RATES:
        formats = ", ".join(SAMPLE_RATES)
        raise ProtocolError(400, f"audio_format must be one of: {formats}.")
    entry = (catalogue or models.load()).tts.resolve(model)
    if entry is None:
        raise ProtocolError(400, MSG_INVALID_MODEL, "model_not_available")

    sample_rate = _optional_int(msg, "sample_rate")
    if sample_rate is None:
        sample_rate = DEFAULT_SAMPLE_RATE.get(audio_format, 24000)
    elif sample_rate not in SAMPLE_RATES[audio_format]:
        allowed = _allowed_list(SAMPLE_RATES[audio_format])
        raise ProtocolError(400, f"sample_rate for {audio_format} must be one of: {allowed}.")

    bitrate = _optional_int(msg, "bitrate")
    if bitrate is not None:
        if audio_format not in BITRATES:
            raise ProtocolError(400, "bitrate is only supported for mp3, opus and aac.")
        if bitrate not in BITRATES[audio_format]:
            allowed = _allowed_list(BITRATES[audio_format])
            raise ProtocolError(400, f"bitrate for {audio_format} must be one of: {allowed}.")
    elif audio_format in DEFAULT_BITRATE:
        bitrate = DEFAULT_BITRATE[audio_format]

    speed = _present(msg, "speed")
    if speed is None:
        speed = 1.0
    if isinstance(speed, bool) or not isinstance(speed, (int, float)):
        raise ProtocolError(400, "speed must be a number.")
    if not SPEED_MIN <= speed <= SPEED_MAX:
        raise ProtocolError(400, f"speed must be between {SPEED_MIN} and {SPEED_MAX}.")

    reduce_silence = _optional_bool(msg, "reduce_silence")
    if reduce_silence and not entry.has("silence_reduction"):
        raise ProtocolError(400, f"reduce_silence is not supported by model {model}.")
    return_timestamps = _optional_bool(msg, "return_timestamps")

    reference = _present(msg, "client_reference_id")
    if reference is not None:
        if not isinstance(reference, str):
            raise ProtocolError(400, "client_reference_id must be a string.")
        if len(reference) > MAX_REFERENCE_ID_CHARS:
            raise ProtocolError(
                400, f"client_reference_id must be at most {MAX_REFERENCE_ID_CHARS} characters."
            )
    api_key = _present(msg, "api_key")
    if api_key is not None and not isinstance(api_key, str):
        raise ProtocolError(400, "api_key must be a string.")

    if audio_format in UNSUPPORTED_FORMATS:
        raise ProtocolError(400, f"audio_format {audio_format} is not supported by the mock.")

    return StreamConfig(
        stream_id=stream_id,
        model=model,
        language=language,
        voice=voice,
        audio_format=audio_format,
        sample_rate=sample_rate,
        bitrate=bitrate,
        speed=float(speed),
        reduce_silence=reduce_silence,
        return_timestamps=return_timestamps,
        client_reference_id=reference,
        api_key=api_key or None,
    )


@dataclass(frozen=True)
class TextMessage:
    text: str
    text_end: bool


def parse_text(msg: dict[str, Any], max_chars: int) -> TextMessage:
    """``text`` defaults to "" and ``text_end`` to false (the LiveKit plugin omits both)."""
    text = _present(msg, "text")
    if text is None:
        text = ""
    if not isinstance(text, str):
        raise ProtocolError(400, "text must be a string.")
    if len(text) > max_chars:
        raise ProtocolError(400, f"text must be at most {max_chars} characters long.")
    text_end = _optional_bool(msg, "text_end")
    return TextMessage(text, text_end)
