"""Soniox real-time speech-to-text for LiveKit Agents.

Public API as livekit-plugins-soniox 1.8.9 (``STT``, ``STTOptions``, the context and translation
types), plus ``endpoint_sensitivity``, ``endpoint_latency_adjustment_level``, ``update_options`` and
the ``SONIOX_STT_URL`` environment override.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import time
from dataclasses import dataclass
from typing import Literal, Never

import aiohttp
from livekit import rtc
from livekit.agents import (
    DEFAULT_API_CONNECT_OPTIONS,
    APIConnectionError,
    APIConnectOptions,
    APIError,
    APIStatusError,
    APITimeoutError,
    stt,
    utils,
)
from livekit.agents.metrics import STTMetrics
from livekit.agents.metrics.base import Metadata
from livekit.agents.types import NOT_GIVEN, NotGivenOr
from livekit.agents.utils import is_given

from ._stt_audio import SAMPLE_BYTES, AudioOutbox, Finalize, ReplayBuffer, frame_bytes, frame_to_pcm
from ._stt_config import build_config
from ._stt_transcript import FIN_MARKER, TranscriptAssembler, merge_speech_data
from .log import logger

BASE_URL = "wss://stt-rt.soniox.com/transcribe-websocket"
URL_ENV = "SONIOX_STT_URL"
API_KEY_ENV = "SONIOX_API_KEY"

KEEPALIVE_S = 5.0  # a keepalive after this long without audio (the service drops idle at 20 s)
HEARTBEAT_S = 10.0  # websocket ping period; no pong within half of it ends the connection
REPLAY_MAX_S = 60.0  # at most this much unfinalized audio is kept for re-sending
USAGE_REPORT_MS = 30_000  # report usage at least this often even without endpoints
CHUNK_MS = 100  # queued and re-sent audio goes out in websocket messages of at most this size
_KEEPALIVE = json.dumps({"type": "keepalive"})
_FINALIZE = json.dumps({"type": "finalize"})
_END_OF_AUDIO = ""


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
        async with self.stream(language=language, conn_options=once) as stream:
            for frame in frames:
                stream.push_frame(frame)
            stream.end_input()
            async for event in stream:
                request_id = event.request_id
                if event.type == stt.SpeechEventType.FINAL_TRANSCRIPT and event.alternatives:
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


class SpeechStream(stt.SpeechStream):
    """One streaming recognition session.

    The framework's retry loop (``conn_options``) calls ``_run`` once per connection; everything
    that must survive a reconnect lives on the stream: the replay buffer of audio not yet covered
    by final results, the open utterance, the end-of-input state and the usage counters.
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
        super().__init__(stt=stt, conn_options=conn_options)
        self._converter: rtc.AudioResampler | None = None
        self._converter_input_rate = 0
        self._user_offset = 0.0  # start_time_offset as set by the user (see the property)
        self._soniox = stt
        self._opts = opts
        self._config = build_config(opts, language=language if is_given(language) else None)
        hints = self._config.get("language_hints") or [""]
        self._frame_bytes = SAMPLE_BYTES * opts.num_channels
        self._bytes_per_s = opts.sample_rate * self._frame_bytes
        self._chunk_bytes = max(self._frame_bytes, self._bytes_per_s * CHUNK_MS // 1000)
        self._outbox = AudioOutbox(max_chunk_bytes=self._chunk_bytes)
        self._replay = ReplayBuffer(
            frame_bytes=self._frame_bytes,
            max_bytes=int(stt._replay_max_s * self._bytes_per_s),
        )
        self._transcript = TranscriptAssembler(
            request_id=utils.shortuuid(), fallback_language=str(hints[0])
        )
        self._base_offset = 0.0
        self._input_ended = False  # the input channel is closed and drained
        self._finalize_pending = False  # a finalize was sent and its <fin> has not come back
        self._sessions = 0
        self._session_start = 0  # replay position where the current session's audio begins
        self._session_total_ms = 0  # the current session's total_audio_proc_ms
        self._unreported_ms = 0
        self._unreported_tokens = 0
        self._last_audio_sent = time.monotonic()

    @property
    def request_id(self) -> str:
        return self._transcript.request_id

    @property
    def start_time_offset(self) -> float:
        return self._user_offset

    @start_time_offset.setter
    def start_time_offset(self, value: float) -> None:
        if value < 0:
            raise ValueError("start_time_offset must be non-negative")
        self._user_offset = value
        self._start_time_offset = value

    def push_frame(self, frame: rtc.AudioFrame) -> None:
        """Queue audio; other channel counts and sample rates are converted to the config's."""
        if self._input_ch.closed or self._event_ch.closed:
            self._check_input_not_ended()
            self._check_not_closed()
        channels, rate = self._opts.num_channels, self._opts.sample_rate
        if frame.num_channels == channels and frame.sample_rate == rate:
            self._outbox.put_audio(frame_bytes(frame))  # the common case: no conversion
            return
        if frame.num_channels != channels:
            pcm = frame_to_pcm(frame, channels)
            frame = rtc.AudioFrame(pcm, frame.sample_rate, channels, frame.samples_per_channel)
        if frame.sample_rate == rate:
            self._outbox.put_audio(frame_bytes(frame))
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
            self._outbox.put_audio(frame_bytes(converted))

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
                self._outbox.put_audio(frame_bytes(converted))

    async def _run(self) -> None:
        # Our timeline comes from the audio itself (replay positions), so the framework's
        # wall-clock additions to _start_time_offset between attempts are not used.
        self._base_offset = self._user_offset
        self._transcript.offset = self._user_offset
        started = time.monotonic()
        try:
            ws = await self._connect()
        except APIError as exc:
            self._settle_before_raise(exc, started)
            raise
        try:
            await self._session(ws)
        except APIError as exc:
            self._settle_before_raise(exc, started)
            raise
        except asyncio.CancelledError:
            self._report_usage_directly()
            raise
        finally:
            await ws.close()

    async def _connect(self) -> aiohttp.ClientWebSocketResponse:
        session = self._soniox._ensure_session()
        started = time.perf_counter()
        try:
            # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancellation (aclose)
            # that lands as the connection opens, leaving the stream running.
            async with asyncio.timeout(self._conn_options.timeout):
                ws = await session.ws_connect(
                    self._soniox._base_url,
                    headers={"Authorization": f"Bearer {self._soniox._api_key}"},
                    heartbeat=self._soniox._heartbeat_s,
                )
        except TimeoutError:
            raise APITimeoutError("Soniox STT: connection timed out") from None
        except aiohttp.WSServerHandshakeError as exc:
            raise APIStatusError(
                f"Soniox STT refused the connection: HTTP {exc.status} {exc.message}",
                status_code=exc.status,
                body=None,
            ) from None
        except (aiohttp.ClientError, OSError) as exc:
            raise APIConnectionError(f"Soniox STT: cannot connect ({type(exc).__name__})") from None
        self._report_connection_acquired(time.perf_counter() - started, False)
        return ws

    async def _session(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self._sessions += 1
        if self._replay.dropped_bytes:
            lost_s = self._replay.dropped_bytes / self._bytes_per_s
            logger.warning("Soniox STT: %.1f s of audio exceeded the replay buffer", lost_s)
            self._replay.dropped_bytes = 0
        self._session_start = self._replay.start
        self._session_total_ms = 0
        await ws.send_str(json.dumps(self._config))
        pending = self._replay.pending()
        if pending and self._sessions > 1:
            logger.info(
                "Soniox STT: reconnected, re-sending %.2f s of audio",
                len(pending) / self._bytes_per_s,
            )
        chunk = self._chunk_bytes
        for i in range(0, len(pending), chunk):
            await ws.send_bytes(pending[i : i + chunk])
        if self._finalize_pending and not self._input_ended:
            await ws.send_str(_FINALIZE)

        sender = asyncio.create_task(self._send_audio(ws), name="soniox-stt-send")
        keepalive = asyncio.create_task(self._keepalive(ws), name="soniox-stt-keepalive")
        try:
            await self._receive(ws, sender)
        finally:
            await utils.aio.cancel_and_wait(sender, keepalive)

    async def _send_audio(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        try:
            await self._send_input(ws)
        except Exception:
            await ws.close()  # wakes the receiver, which ends this attempt
            raise

    async def _send_input(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        """Outbox -> socket. Each chunk enters the replay buffer before it is sent."""
        if not self._input_ended:
            while (item := await self._outbox.get()) is not None:
                if isinstance(item, Finalize):
                    self._finalize_pending = True
                    await ws.send_str(_FINALIZE)
                    continue
                self._replay.append(item)
                self._last_audio_sent = time.monotonic()
                await ws.send_bytes(item)
            self._input_ended = True
        await ws.send_str(_END_OF_AUDIO)

    async def _keepalive(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        """Keep the session open while no audio flows (the service closes idle ones)."""
        interval = self._soniox._keepalive_s
        while True:
            idle = time.monotonic() - self._last_audio_sent
            if idle >= interval:
                await ws.send_str(_KEEPALIVE)
                self._last_audio_sent = time.monotonic()
                idle = 0.0
            await asyncio.sleep(interval - idle)

    async def _receive(
        self, ws: aiohttp.ClientWebSocketResponse, sender: asyncio.Task[None]
    ) -> None:
        while True:
            # The heartbeat bounds this wait: a silent half-open socket ends in ERROR/CLOSED.
            msg = await ws.receive()
            if msg.type == aiohttp.WSMsgType.TEXT:
                try:
                    content = json.loads(msg.data)
                except ValueError:
                    # A garbled frame means a broken connection: retry it like one.
                    raise APIConnectionError("Soniox STT: unreadable message") from None
                if self._on_message(content):
                    return
            elif msg.type in (
                aiohttp.WSMsgType.CLOSE,
                aiohttp.WSMsgType.CLOSING,
                aiohttp.WSMsgType.CLOSED,
                aiohttp.WSMsgType.ERROR,
            ):
                if sender.done() and not sender.cancelled() and sender.exception():
                    reason = type(sender.exception()).__name__
                else:
                    reason = f"close code {ws.close_code}"
                raise APIConnectionError(f"Soniox STT: connection lost ({reason})")

    def _on_message(self, frame: dict[str, object]) -> bool:
        """Handle one server frame; True once the session has finished."""
        code = frame.get("error_code")
        if code or frame.get("error_message"):
            raise _status_error(frame)
        tokens = frame.get("tokens")
        raw_tokens = tokens if isinstance(tokens, list) else []
        total = frame.get("total_audio_proc_ms")
        if isinstance(total, int | float) and total > self._session_total_ms:
            self._unreported_ms += int(total) - self._session_total_ms
            self._session_total_ms = int(total)
        time_base = self._base_offset + self._session_start / self._bytes_per_s
        before = self._transcript.final_tokens
        events = self._transcript.feed(raw_tokens, time_base)
        self._unreported_tokens += self._transcript.final_tokens - before
        self._mark_covered(frame.get("final_audio_proc_ms"), raw_tokens)
        closed = False
        for event in events:
            self._event_ch.send_nowait(event)
            closed = closed or event.type == stt.SpeechEventType.END_OF_SPEECH
        if any(t.get("text") == FIN_MARKER for t in raw_tokens if isinstance(t, dict)):
            self._finalize_pending = False
        if frame.get("finished"):
            for event in self._transcript.finish():
                self._event_ch.send_nowait(event)
            self._emit_usage()
            return True
        if closed or self._unreported_ms >= USAGE_REPORT_MS:
            self._emit_usage()
        return False

    def _mark_covered(self, final_ms: object, raw_tokens: list[dict[str, object]]) -> None:
        covered = float(final_ms) if isinstance(final_ms, int | float) else 0.0
        for token in raw_tokens:
            end = token.get("end_ms")
            if token.get("is_final") and isinstance(end, int | float):
                covered = max(covered, float(end))
        if covered > 0:
            position = self._session_start + int(covered * self._bytes_per_s / 1000)
            self._replay.mark_covered(position)

    def _usage_event(self) -> stt.SpeechEvent | None:
        if not (self._unreported_ms or self._unreported_tokens):
            return None
        usage = stt.RecognitionUsage(
            audio_duration=self._unreported_ms / 1000.0, output_tokens=self._unreported_tokens
        )
        self._unreported_ms = 0
        self._unreported_tokens = 0
        return stt.SpeechEvent(
            type=stt.SpeechEventType.RECOGNITION_USAGE,
            request_id=self.request_id,
            recognition_usage=usage,
        )

    def _emit_usage(self) -> None:
        event = self._usage_event()
        if event is not None:
            self._event_ch.send_nowait(event)

    def _report_usage_directly(self) -> None:
        """On aclose() no event can be consumed any more: hand the usage to the metrics."""
        event = self._usage_event()
        if event is None or event.recognition_usage is None:
            return
        self._soniox.emit(
            "metrics_collected",
            STTMetrics(
                request_id=self.request_id,
                timestamp=time.time(),
                duration=0.0,
                label=self._soniox.label,
                audio_duration=event.recognition_usage.audio_duration,
                output_tokens=event.recognition_usage.output_tokens,
                streamed=True,
                metadata=Metadata(model_name=self._soniox.model, model_provider="Soniox"),
            ),
        )

    def _settle_before_raise(self, exc: APIError, started: float) -> None:
        """Before an attempt fails: deliver what a retry cannot bring back, report usage."""
        retry_budget_left = self._num_retries < self._conn_options.max_retry or (
            time.monotonic() - started > self._conn_options.timeout
        )
        will_retry = exc.retryable and self._conn_options.max_retry > 0 and retry_budget_left
        events = self._transcript.connection_lost()
        if not will_retry:
            events += self._transcript.finish()
        for event in events:
            self._event_ch.send_nowait(event)
        self._emit_usage()


def _status_error(frame: dict[str, object]) -> APIStatusError:
    """The service's error frame as APIStatusError (4xx other than 408/429 are not retried)."""
    code = frame.get("error_code")
    try:
        status = int(code) if isinstance(code, int | str) else -1
    except ValueError:
        status = -1
    kind = frame.get("error_type") or "error"
    message = frame.get("error_message") or ""
    return APIStatusError(
        f"Soniox STT error {status} ({kind}): {message}",
        status_code=status,
        request_id=str(frame.get("request_id") or "") or None,
        body=frame,
    )
