"""The first frame an STT session sends: a pure function of the options, easy to test."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

# Structural views of the option dataclasses in ``stt`` (read-only, so the dataclasses match them):
# this module imports nothing from ``stt``, which imports it.


class _GeneralItem(Protocol):
    @property
    def key(self) -> str: ...
    @property
    def value(self) -> str: ...


class _Term(Protocol):
    @property
    def source(self) -> str: ...
    @property
    def target(self) -> str: ...


class ContextObject(Protocol):
    @property
    def general(self) -> Sequence[_GeneralItem] | None: ...
    @property
    def text(self) -> str | None: ...
    @property
    def terms(self) -> Sequence[str] | None: ...
    @property
    def translation_terms(self) -> Sequence[_Term] | None: ...


class TranslationConfig(Protocol):
    @property
    def type(self) -> str: ...
    @property
    def target_language(self) -> str | None: ...
    @property
    def language_a(self) -> str | None: ...
    @property
    def language_b(self) -> str | None: ...


class STTOptions(Protocol):
    @property
    def model(self) -> str: ...
    @property
    def language_hints(self) -> Sequence[str] | None: ...
    @property
    def language_hints_strict(self) -> bool: ...
    @property
    def context(self) -> ContextObject | str | None: ...
    @property
    def num_channels(self) -> int: ...
    @property
    def sample_rate(self) -> int: ...
    @property
    def enable_speaker_diarization(self) -> bool: ...
    @property
    def enable_language_identification(self) -> bool: ...
    @property
    def max_endpoint_delay_ms(self) -> int: ...
    @property
    def client_reference_id(self) -> str | None: ...
    @property
    def translation(self) -> TranslationConfig | None: ...
    @property
    def endpoint_sensitivity(self) -> float | None: ...
    @property
    def endpoint_latency_adjustment_level(self) -> int | None: ...


# The plugin always sends raw little-endian 16-bit PCM; frames are converted to match.
AUDIO_FORMAT = "pcm_s16le"


def context_payload(context: ContextObject | str | None) -> dict[str, Any] | str | None:
    """The ``context`` field: a plain string as is, a ContextObject without its empty sections."""
    if context is None:
        return None
    if isinstance(context, str):
        return context or None
    payload: dict[str, Any] = {}
    if context.general:
        payload["general"] = [{"key": item.key, "value": item.value} for item in context.general]
    if context.text:
        payload["text"] = context.text
    if context.terms:
        payload["terms"] = list(context.terms)
    if context.translation_terms:
        payload["translation_terms"] = [
            {"source": term.source, "target": term.target} for term in context.translation_terms
        ]
    return payload or None


def translation_payload(translation: TranslationConfig) -> dict[str, Any]:
    """Only the fields that belong to the chosen translation type."""
    if translation.type == "one_way":
        return {"type": "one_way", "target_language": translation.target_language}
    return {
        "type": "two_way",
        "language_a": translation.language_a,
        "language_b": translation.language_b,
    }


def build_config(opts: STTOptions, *, language: str | None = None) -> dict[str, Any]:
    """The session configuration message.

    Unset optional fields are omitted rather than sent as ``null`` (the service accepts both; the
    official SDK omits them). ``language`` (from ``STT.stream(language=...)``) becomes the first
    language hint.
    """
    config: dict[str, Any] = {
        "model": opts.model,
        "audio_format": AUDIO_FORMAT,
        "sample_rate": opts.sample_rate,
        "num_channels": opts.num_channels,
        "enable_endpoint_detection": True,
        "max_endpoint_delay_ms": opts.max_endpoint_delay_ms,
        "enable_speaker_diarization": opts.enable_speaker_diarization,
        "enable_language_identification": opts.enable_language_identification,
    }
    hints = list(opts.language_hints or [])
    if language and language not in hints:
        hints.insert(0, language)
    if hints:
        config["language_hints"] = hints
        if opts.language_hints_strict:
            config["language_hints_strict"] = True
    context = context_payload(opts.context)
    if context is not None:
        config["context"] = context
    if opts.endpoint_sensitivity is not None:
        config["endpoint_sensitivity"] = opts.endpoint_sensitivity
    if opts.endpoint_latency_adjustment_level is not None:
        config["endpoint_latency_adjustment_level"] = opts.endpoint_latency_adjustment_level
    if opts.translation is not None:
        config["translation"] = translation_payload(opts.translation)
    if opts.client_reference_id:
        config["client_reference_id"] = opts.client_reference_id
    return config
