"""Soniox real-time speech-to-text for LiveKit Agents.

Public API as livekit-plugins-soniox 1.8.9 (``STT``, ``STTOptions``, the context and translation
types), plus ``endpoint_sensitivity``, ``endpoint_latency_adjustment_level``, ``update_options`` and
the ``SONIOX_STT_URL`` environment override.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from typing import Literal, Never

import aiohttp
from livekit.agents import (
    DEFAULT_API_CONNECT_OPTIONS,
    APIConnectOptions,
    stt,
    utils,
)
from livekit.agents.types import NOT_GIVEN, NotGivenOr
from livekit.agents.utils import is_given

from ._stt_config import build_config

BASE_URL = "wss://stt-rt.soniox.com/transcribe-websocket"
URL_ENV = "SONIOX_STT_URL"
API_KEY_ENV = "SONIOX_API_KEY"


@dataclass
class ContextGeneralItem:
    """One ``key: value`` pair of general context (e.g. ``domain: Healthcare``)."""

    key: str
    value: str


@dataclass
class ContextTranslationTerm:
    """A preferred translation of one term."""

    source: str
    target: str


@dataclass
class ContextObject:
    """Context object for models with context_version 2, for Soniox stt-rt-v3-preview and higher.

    Learn more about context in the documentation:
    https://soniox.com/docs/stt/concepts/context
    """

    general: list[ContextGeneralItem] | None = None
    text: str | None = None
    terms: list[str] | None = None
    translation_terms: list[ContextTranslationTerm] | None = None


@dataclass
class TranslationConfig:
    """Translation configuration for the Soniox Speech-to-Text API.

    See: https://soniox.com/docs/stt/api-reference/websocket-api
    """

    type: Literal["one_way", "two_way"]
    target_language: str | None = None
    """Target language for one-way translation."""
    language_a: str | None = None
    """First language for two-way translation."""
    language_b: str | None = None
    """Second language for two-way translation."""

    def __post_init__(self) -> None:
        if self.type == "one_way" and not self.target_language:
            raise ValueError("target_language is required for one_way translation")
        if self.type == "two_way" and not (self.language_a and self.language_b):
            raise ValueError("language_a and language_b are both required for two_way translation")
        if self.type not in ("one_way", "two_way"):
            raise ValueError(f"translation type must be 'one_way' or 'two_way', not {self.type!r}")


@dataclass
class STTOptions:
    """Configuration options for Soniox Speech-to-Text service."""

    model: str = "stt-rt-v4"

    language_hints: list[str] | None = None
    language_hints_strict: bool = False
    context: ContextObject | str | None = None

    num_channels: int = 1
    sample_rate: int = 16000

    enable_speaker_diarization: bool = False
    enable_language_identification: bool = True

    max_endpoint_delay_ms: int = 500
    """Maximum delay in milliseconds between speech cessation and endpoint detection.
    Range: 500 to 3000.
    See: https://soniox.com/docs/stt/rt/endpoint-detection"""

    client_reference_id: str | None = None
    translation: TranslationConfig | None = None

    endpoint_sensitivity: float | None = None
    """stt-rt-v5 and later: -1.0 to 1.0; higher makes endpoints come sooner (unset: default)."""
    endpoint_latency_adjustment_level: int | None = None
    """stt-rt-v5 and later: 0 to 3 (unset: service default)."""

    def __post_init__(self) -> None:
        if not (500 <= self.max_endpoint_delay_ms <= 3000):
            raise ValueError("max_endpoint_delay_ms must be between 500 and 3000")
        if self.sample_rate <= 0:
            raise ValueError("sample_rate must be positive")
        if self.num_channels < 1:
            raise ValueError("num_channels must be at least 1")
        if self.endpoint_sensitivity is not None and not (-1.0 <= self.endpoint_sensitivity <= 1.0):
            raise ValueError("endpoint_sensitivity must be between -1.0 and 1.0")
        level = self.endpoint_latency_adjustment_level
        if level is not None and not (0 <= level <= 3):
            raise ValueError("endpoint_latency_adjustment_level must be between 0 and 3")


class STT(stt.STT[Never]):
    """Speech-to-Text service using Soniox Speech-to-Text API.

    Streams audio over one websocket per stream, with keepalive, heartbeat and reconnection that
    re-sends audio not yet covered by final results. ``recognize()`` runs the same protocol over a
    short-lived websocket.

    For complete API documentation, see: https://soniox.com/docs/stt/api-reference/websocket-api
    """

    def __init__(
        self,
        *,
        api_key: str | None = None,
        base_url: str = BASE_URL,
        http_session: aiohttp.ClientSession | None = None,
        params: STTOptions | None = None,
    ) -> None:
        """Initialize instance of Soniox Speech-to-Text API service.

        Args:
            api_key: Soniox API key, if not provided, will look for SONIOX_API_KEY env variable.
            base_url: Websocket URL of the service. When left at the default, the
                ``SONIOX_STT_URL`` environment variable (if set) replaces it.
            http_session: Optional aiohttp.ClientSession to use for requests.
            params: Additional configuration parameters, such as model, language hints, context and
                speaker diarization.
        """
        params = params or STTOptions()
        super().__init__(
            capabilities=stt.STTCapabilities(
                streaming=True,
                interim_results=True,
                aligned_transcript="word",
                offline_recognize=True,
                diarization=params.enable_speaker_diarization,
                manual_flush=True,
            )
        )
        key = api_key or os.getenv(API_KEY_ENV)
        if not key:
            raise ValueError(f"Soniox API key is required. Set {API_KEY_ENV} or pass api_key")
        self._api_key = key
        if base_url == BASE_URL:
            base_url = os.getenv(URL_ENV) or BASE_URL
        self._base_url = base_url
        self._http_session = http_session
        self._params = params

    @property
    def model(self) -> str:
        return self._params.model

    @property
    def provider(self) -> str:
        return "Soniox"

    @property
    def options(self) -> STTOptions:
        """The options new streams will use (a copy; change them with ``update_options``)."""
        return dataclasses.replace(self._params)

    def config_message(self, *, language: str | None = None) -> dict[str, object]:
        """The configuration frame a new session sends first."""
        return build_config(self._params, language=language)

    def update_options(
        self,
        *,
        model: NotGivenOr[str] = NOT_GIVEN,
        language_hints: NotGivenOr[list[str] | None] = NOT_GIVEN,
        context: NotGivenOr[ContextObject | str | None] = NOT_GIVEN,
        max_endpoint_delay_ms: NotGivenOr[int] = NOT_GIVEN,
        endpoint_sensitivity: NotGivenOr[float | None] = NOT_GIVEN,
        endpoint_latency_adjustment_level: NotGivenOr[int | None] = NOT_GIVEN,
        translation: NotGivenOr[TranslationConfig | None] = NOT_GIVEN,
    ) -> None:
        """Change options for sessions opened from now on (a session's config is fixed)."""
        changes: dict[str, object] = {}
        if is_given(model):
            changes["model"] = model
        if is_given(language_hints):
            changes["language_hints"] = language_hints
        if is_given(context):
            changes["context"] = context
        if is_given(max_endpoint_delay_ms):
            changes["max_endpoint_delay_ms"] = max_endpoint_delay_ms
        if is_given(endpoint_sensitivity):
            changes["endpoint_sensitivity"] = endpoint_sensitivity
        if is_given(endpoint_latency_adjustment_level):
            changes["endpoint_latency_adjustment_level"] = endpoint_latency_adjustment_level
        if is_given(translation):
            changes["translation"] = translation
        # replace() re-runs validation, so a bad value leaves the options untouched.
        self._params = dataclasses.replace(self._params, **changes)  # type: ignore[arg-type]

    def _ensure_session(self) -> aiohttp.ClientSession:
        if self._http_session is None:
            self._http_session = utils.http_context.http_session()
        return self._http_session

    async def _recognize_impl(
        self,
        buffer: utils.AudioBuffer,
        *,
        language: NotGivenOr[str] = NOT_GIVEN,
        conn_options: APIConnectOptions,
    ) -> stt.SpeechEvent:
        raise NotImplementedError("recognize() arrives with the streaming implementation")

    def stream(
        self,
        *,
        language: NotGivenOr[str] = NOT_GIVEN,
        conn_options: APIConnectOptions = DEFAULT_API_CONNECT_OPTIONS,
    ) -> SpeechStream:
        """Return a new LiveKit streaming speech-to-text session."""
        return SpeechStream(stt=self, conn_options=conn_options, language=language)


class SpeechStream(stt.SpeechStream):
    """One streaming recognition session (see the module docstring)."""

    def __init__(
        self,
        *,
        stt: STT,
        conn_options: APIConnectOptions,
        language: NotGivenOr[str] = NOT_GIVEN,
    ) -> None:
        super().__init__(stt=stt, conn_options=conn_options, sample_rate=stt._params.sample_rate)
        self._soniox = stt
        self._language = language if is_given(language) else None

    async def _run(self) -> None:
        raise NotImplementedError("streaming arrives in the next commit")
