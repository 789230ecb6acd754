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
from livekit import rtc
from livekit.agents import (
    DEFAULT_API_CONNECT_OPTIONS,
    APIConnectOptions,
    stt,
    utils,
)
from livekit.agents.types import NOT_GIVEN, NotGivenOr
from livekit.agents.utils import is_given

from ._stt_audio import frame_bytes, frame_to_pcm
from ._stt_config import build_config
from ._stt_stream import CHUNK_MS, USAGE_REPORT_MS, Link, SessionStream
from ._stt_transcript import merge_speech_data

__all__ = [
    "API_KEY_ENV",
    "BASE_URL",
    "CHUNK_MS",
    "HEARTBEAT_S",
    "KEEPALIVE_S",
    "REPLAY_MAX_S",
    "STT",
    "URL_ENV",
    "USAGE_REPORT_MS",
    "ContextGeneralItem",
    "ContextObject",
    "ContextTranslationTerm",
    "STTOptions",
    "SpeechStream",
    "TranslationConfig",
]

BASE_URL = "wss://stt-rt.soniox.com/transcribe-websocket"
URL_ENV = "SONIOX_STT_URL"
API_KEY_ENV = "SONIOX_API_KEY"

KEEPALIVE_S = 5.0  # a keepalive after this long without audio (the service drops idle at 20 s)
HEARTBEAT_S = 10.0  # websocket ping period; no pong within half of it ends the connection
REPLAY_MAX_S = 60.0  # at most this much unfinalized audio is kept for re-sending


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
        # Streams report recognize()'s usage themselves (RECOGNITION_USAGE -> STTMetrics).
        self._recognize_metrics_needed = False
        self._heartbeat_s = HEARTBEAT_S
        self._keepalive_s = KEEPALIVE_S
        self._replay_max_s = REPLAY_MAX_S

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
        """Offline recognition over the same websocket: send the audio, finish, collect."""
        frames = buffer if isinstance(buffer, list) else [buffer]
        # The framework's recognize() retries; the inner session must not retry on its own.
        once = dataclasses.replace(conn_options, max_retry=0)
        finals: list[stt.SpeechData] = []
        request_id = ""
        stream = SpeechStream(stt=self, conn_options=once, language=language)
        # recognize() reports each failure itself (and decides whether to retry): the inner
        # stream's own report would tell the same failure twice, the first as non-recoverable.
        stream._report_errors = False
        async with stream:
            for frame in frames:
                stream.push_frame(frame)
            stream.end_input()
            async for event in stream:
                request_id = event.request_id
                final = event.type == stt.SpeechEventType.FINAL_TRANSCRIPT
                if final and event.alternatives and event.alternatives[0].text:
                    finals.append(event.alternatives[0])
        return stt.SpeechEvent(
            type=stt.SpeechEventType.FINAL_TRANSCRIPT,
            request_id=request_id,
            alternatives=[merge_speech_data(finals, fallback_language=language or "")],
        )

    def stream(
        self,
        *,
        language: NotGivenOr[str] = NOT_GIVEN,
        conn_options: APIConnectOptions = DEFAULT_API_CONNECT_OPTIONS,
    ) -> SpeechStream:
        """Return a new LiveKit streaming speech-to-text session."""
        return SpeechStream(stt=self, conn_options=conn_options, language=language)


class SpeechStream(SessionStream):
    """One streaming recognition session.

    The framework's retry loop (``conn_options``) calls ``_run`` once per connection (see
    ``SessionStream``); this class is the input side.
    """

    def __init__(
        self,
        *,
        stt: STT,
        conn_options: APIConnectOptions,
        language: NotGivenOr[str] = NOT_GIVEN,
    ) -> None:
        opts = stt.options
        # Audio bypasses the base class's input channel (and its mono-only resampler): push_frame
        # converts it to the config's rate and channels and queues the bytes in the outbox. The
        # input channel is only closed, so the base class's "input ended" checks keep working.
        super().__init__(
            stt=stt,
            conn_options=conn_options,
            link=Link(
                url=stt._base_url,
                api_key=stt._api_key,
                session=stt._ensure_session,
                heartbeat_s=stt._heartbeat_s,
                keepalive_s=stt._keepalive_s,
                replay_max_s=stt._replay_max_s,
            ),
            config=build_config(opts, language=language if is_given(language) else None),
            num_channels=opts.num_channels,
            sample_rate=opts.sample_rate,
        )
        self._converter: rtc.AudioResampler | None = None
        self._converter_input_rate = 0
        self._opts = opts

    def push_frame(self, frame: rtc.AudioFrame) -> None:
        """Queue audio; other channel counts and sample rates are converted to the config's."""
        if self._input_ch.closed or self._event_ch.closed:
            self._check_input_not_ended()
            self._check_not_closed()
        channels, rate = self._opts.num_channels, self._opts.sample_rate
        if frame.num_channels == channels and frame.sample_rate == rate:
            self._send_audio(frame_bytes(frame))  # the common case: no conversion
            return
        if frame.num_channels != channels:
            pcm = frame_to_pcm(frame, channels)
            frame = rtc.AudioFrame(pcm, frame.sample_rate, channels, frame.samples_per_channel)
        if frame.sample_rate == rate:
            self._send_audio(frame_bytes(frame))
            return
        if self._converter is None or self._converter_input_rate != frame.sample_rate:
            self._flush_converter()
            self._converter = rtc.AudioResampler(
                frame.sample_rate,
                rate,
                num_channels=channels,
                quality=rtc.AudioResamplerQuality.HIGH,
            )
            self._converter_input_rate = frame.sample_rate
        for converted in self._converter.push(frame):
            self._send_audio(frame_bytes(converted))

    def flush(self) -> None:
        self._check_input_not_ended()
        self._check_not_closed()
        self._flush_converter()
        self._outbox.put_finalize()

    def end_input(self) -> None:
        """No more audio: the end-of-audio frame finalizes everything, then the stream ends."""
        self._check_input_not_ended()
        self._check_not_closed()
        self._flush_converter()
        self._input_ch.close()
        self._outbox.close()

    def _flush_converter(self) -> None:
        if self._converter is not None:
            for converted in self._converter.flush():
                self._send_audio(frame_bytes(converted))
