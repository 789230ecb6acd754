"""The STT session config (the first text frame): parsed and validated as the service does.

Every documented field is checked for type, range and enum; ``null`` means "absent". Problems
raise :class:`ProtocolError` (400) so the session answers with one error frame: the published
message where the STT reference lists one for the condition (protocol A9), else a message naming
the field (the service's wording for those is not published). Which models exist and what each
supports comes from the model catalogue (:mod:`mock_soniox.models`). Unknown extra fields are
ignored (old clients still send fields of earlier API versions).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from .. import models
from ..audio import RAW_FORMATS
from ..errors import (
    MSG_INVALID_MODEL,
    STT_CLIENT_REFERENCE_ID_TOO_LONG,
    STT_CONTEXT_TOO_LONG,
    STT_HINTS_NOT_UNIQUE,
    STT_INVALID_FORMAT,
    STT_INVALID_LANGUAGE_HINT,
    STT_INVALID_TRANSLATION_TARGET,
    STT_MISSING_AUDIO_FORMAT,
    STT_NO_CHANNELS,
    STT_NO_SAMPLE_RATE,
    STT_NO_TRANSLATION,
    ProtocolError,
)
from ..sanitize import for_message

# Config fields only some models take, and the catalogue feature that says which.
FEATURE_FIELDS = {
    "endpoint_sensitivity": "endpoint_sensitivity",
    "endpoint_latency_adjustment_level": "endpoint_latency_adjustment_max_level",
    "max_endpoint_delay_ms": "max_endpoint_delay",
}

CONTAINER_FORMATS = frozenset({"aac", "aiff", "amr", "asf", "flac", "mp3", "ogg", "wav", "webm"})
# The STT spellings of raw formats (the pcm_mulaw/pcm_alaw names belong to TTS).
STT_RAW_FORMATS = frozenset(f for f in RAW_FORMATS if f not in ("pcm_mulaw", "pcm_alaw"))
# The JS SDK also lists byte-order-suffixed 8-bit names; they mean the same bytes.
RAW_FORMAT_ALIASES = {
    "pcm_s8le": "pcm_s8",
    "pcm_s8be": "pcm_s8",
    "pcm_u8le": "pcm_u8",
    "pcm_u8be": "pcm_u8",
}
# Formats whose bytes the mock can decode (and so run its audio clock on).
DECODABLE_CONTAINERS = frozenset({"auto", "wav"})

SAMPLE_RATE_RANGE = (2000, 96000)  # UNCONFIRMED: the legacy docs' range
NUM_CHANNELS_RANGE = (1, 8)  # UNCONFIRMED: the legacy docs' range
MAX_ENDPOINT_DELAY_RANGE = (500, 3000)
ENDPOINT_SENSITIVITY_RANGE = (-1.0, 1.0)
ENDPOINT_LATENCY_LEVEL_RANGE = (0, 3)
CLIENT_REFERENCE_ID_MAX = 256
DEFAULT_MAX_ENDPOINT_DELAY_MS = 2000


@dataclass(frozen=True)
class Translation:
    type: str  # "one_way" | "two_way"
    target_language: str | None = None
    language_a: str | None = None
    language_b: str | None = None


@dataclass(frozen=True)
class SttConfig:
    """A validated session config; ``model`` is canonical (aliases resolved)."""

    model: str
    audio_format: str
    sample_rate: int | None
    num_channels: int | None
    language_hints: tuple[str, ...] = ()
    language_hints_strict: bool = False
    context: dict[str, Any] | str | None = None
    enable_speaker_diarization: bool = False
    enable_language_identification: bool = False
    enable_endpoint_detection: bool = False
    max_endpoint_delay_ms: int = DEFAULT_MAX_ENDPOINT_DELAY_MS
    endpoint_sensitivity: float = 0.0
    endpoint_latency_adjustment_level: int = 0
    translation: Translation | None = None
    client_reference_id: str | None = None

    @property
    def is_raw(self) -> bool:
        return self.audio_format in STT_RAW_FORMATS


def validate_config(
    raw: dict[str, Any], *, context_max_chars: int, catalogue: models.Catalogue | None = None
) -> SttConfig:
    present = {k: v for k, v in raw.items() if v is not None}
    stt = (catalogue or models.load()).stt

    requested = present.get("model")
    if requested is None:
        raise ProtocolError(400, "Missing required field: model")
    if not isinstance(requested, str):
        raise ProtocolError(400, "model must be a string.")
    entry = stt.resolve(requested)
    if entry is None:
        raise ProtocolError(400, MSG_INVALID_MODEL, "model_not_available")
    model = entry.name

    if "audio_format" not in present:
        raise ProtocolError(400, STT_MISSING_AUDIO_FORMAT)
    audio_format = _audio_format(present["audio_format"])
    sample_rate = _int_in(present, "sample_rate", SAMPLE_RATE_RANGE)
    num_channels = _int_in(present, "num_channels", NUM_CHANNELS_RANGE)
    if audio_format in STT_RAW_FORMATS:
        if sample_rate is None:
            raise ProtocolError(400, STT_NO_SAMPLE_RATE)
        if num_channels is None:
            raise ProtocolError(400, STT_NO_CHANNELS)
    if audio_format not in STT_RAW_FORMATS and audio_format not in DECODABLE_CONTAINERS:
        raise ProtocolError(
            400,
            f"audio_format {audio_format} is valid, but mock-soniox can only decode raw formats, "
            "wav and auto (WAV); send one of those.",
        )

    for name, feature in FEATURE_FIELDS.items():
        if name in present and not entry.has(feature):
            raise ProtocolError(400, f"{name} is not supported by model {requested}.")

    max_delay = _int_in(present, "max_endpoint_delay_ms", MAX_ENDPOINT_DELAY_RANGE)
    sensitivity = _float_in(present, "endpoint_sensitivity", ENDPOINT_SENSITIVITY_RANGE)
    latency_level = _int_in(
        present, "endpoint_latency_adjustment_level", ENDPOINT_LATENCY_LEVEL_RANGE
    )

    client_reference_id = present.get("client_reference_id")
    if client_reference_id is not None:
        if not isinstance(client_reference_id, str):
            raise ProtocolError(400, "client_reference_id must be a string.")
        if len(client_reference_id) > CLIENT_REFERENCE_ID_MAX:
            raise ProtocolError(
                400, STT_CLIENT_REFERENCE_ID_TOO_LONG.format(CLIENT_REFERENCE_ID_MAX)
            )

    translation = _translation(present.get("translation"), stt.languages)
    if translation is not None and not entry.has("translation"):
        raise ProtocolError(400, STT_NO_TRANSLATION)

    return SttConfig(
        model=model,
        audio_format=audio_format,
        sample_rate=sample_rate,
        num_channels=num_channels,
        language_hints=_language_hints(present.get("language_hints"), stt.languages),
        language_hints_strict=_bool(present, "language_hints_strict"),
        context=_context(present.get("context"), context_max_chars),
        enable_speaker_diarization=_bool(present, "enable_speaker_diarization"),
        enable_language_identification=_bool(present, "enable_language_identification"),
        enable_endpoint_detection=_bool(present, "enable_endpoint_detection"),
        max_endpoint_delay_ms=DEFAULT_MAX_ENDPOINT_DELAY_MS if max_delay is None else max_delay,
        endpoint_sensitivity=0.0 if sensitivity is None else sensitivity,
        endpoint_latency_adjustment_level=0 if latency_level is None else latency_level,
        translation=translation,
        client_reference_id=client_reference_id,
    )


def _audio_format(value: Any) -> str:
    if not isinstance(value, str):
        raise ProtocolError(400, "audio_format must be a string.")
    name: str = RAW_FORMAT_ALIASES.get(value, value)
    if name == "auto" or name in CONTAINER_FORMATS or name in STT_RAW_FORMATS:
        return name
    raise ProtocolError(400, STT_INVALID_FORMAT.format(for_message(value)))


def _bool(present: dict[str, Any], name: str) -> bool:
    value = present.get(name, False)
    if not isinstance(value, bool):
        raise ProtocolError(400, f"{name} must be a boolean.")
    return value


def _int_in(present: dict[str, Any], name: str, bounds: tuple[int, int]) -> int | None:
    value = present.get(name)
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool):
        raise ProtocolError(400, f"{name} must be an integer.")
    low, high = bounds
    if not low <= value <= high:
        raise ProtocolError(400, f"{name} must be between {low} and {high}.")
    return value


def _float_in(present: dict[str, Any], name: str, bounds: tuple[float, float]) -> float | None:
    value = present.get(name)
    if value is None:
        return None
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise ProtocolError(400, f"{name} must be a number.")
    low, high = bounds
    if not low <= value <= high:
        raise ProtocolError(400, f"{name} must be between {low} and {high}.")
    return float(value)


def _is_language_code(value: Any) -> bool:
    return isinstance(value, str) and len(value) == 2 and value.isascii() and value.isalpha()


def _language(value: Any, name: str) -> str:
    if not _is_language_code(value):
        raise ProtocolError(400, f"{name} must be a two-letter ISO 639-1 language code.")
    return str(value).lower()


def _language_hints(value: Any, known: frozenset[str]) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise ProtocolError(400, "language_hints must be a list of language codes.")
    hints = []
    for hint in value:
        if not isinstance(hint, str):
            raise ProtocolError(400, "language_hints must be a list of language codes.")
        if not _is_language_code(hint) or (known and hint.lower() not in known):
            raise ProtocolError(400, STT_INVALID_LANGUAGE_HINT)
        hints.append(hint.lower())
    if len(set(hints)) != len(hints):
        raise ProtocolError(400, STT_HINTS_NOT_UNIQUE)
    return tuple(hints)


def _context(value: Any, max_chars: int) -> dict[str, Any] | str | None:
    context: dict[str, Any] | str
    if value is None:
        return None
    if isinstance(value, str):
        context, size = value, len(value)
    elif isinstance(value, dict):
        _check_context_object(value)
        context, size = value, len(json.dumps(value, ensure_ascii=False))
    else:
        raise ProtocolError(400, "context must be an object (or a string for older models).")
    if size > max_chars:
        raise ProtocolError(400, STT_CONTEXT_TOO_LONG.format(max_chars))
    return context


def _check_context_object(ctx: dict[str, Any]) -> None:
    general = ctx.get("general")
    if general is not None and not _pairs(general, "key", "value"):
        raise ProtocolError(400, "context.general must be a list of {key, value} strings.")
    text = ctx.get("text")
    if text is not None and not isinstance(text, str):
        raise ProtocolError(400, "context.text must be a string.")
    terms = ctx.get("terms")
    if terms is not None and not (
        isinstance(terms, list) and all(isinstance(t, str) for t in terms)
    ):
        raise ProtocolError(400, "context.terms must be a list of strings.")
    pairs = ctx.get("translation_terms")
    if pairs is not None and not _pairs(pairs, "source", "target"):
        raise ProtocolError(
            400, "context.translation_terms must be a list of {source, target} strings."
        )


def _pairs(value: Any, first: str, second: str) -> bool:
    return isinstance(value, list) and all(
        isinstance(item, dict)
        and isinstance(item.get(first), str)
        and isinstance(item.get(second), str)
        for item in value
    )


def _target(value: Any, name: str, known: frozenset[str]) -> str:
    code = _language(value, name)
    if known and code not in known:
        raise ProtocolError(400, STT_INVALID_TRANSLATION_TARGET)
    return code


def _translation(value: Any, known: frozenset[str]) -> Translation | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ProtocolError(400, "translation must be an object.")
    kind = value.get("type")
    if kind == "one_way":
        target = value.get("target_language")
        if target is None:
            raise ProtocolError(400, "translation.target_language is required for one_way.")
        return Translation(
            "one_way", target_language=_target(target, "translation.target_language", known)
        )
    if kind == "two_way":
        for name in ("language_a", "language_b"):
            if value.get(name) is None:
                raise ProtocolError(400, f"translation.{name} is required for two_way.")
        a = _target(value["language_a"], "translation.language_a", known)
        b = _target(value["language_b"], "translation.language_b", known)
        if a == b:
            raise ProtocolError(400, "translation.language_a and language_b must differ.")
        return Translation("two_way", language_a=a, language_b=b)
    raise ProtocolError(400, "translation.type must be one_way or two_way.")
