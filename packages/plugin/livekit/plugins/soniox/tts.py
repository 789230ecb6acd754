"""Soniox real-time text-to-speech for LiveKit Agents.

Every ``SynthesizeStream`` of a ``TTS`` shares a small pool of websockets (at most five Soniox
streams per connection). Text is sent a sentence at a time, streams rotate before the service's
per-stream timeouts, and a stream that fails is replayed from the first sentence not yet heard
in full, without repeating audio that was already played.
"""

from __future__ import annotations

import asyncio
import os
import weakref
from contextvars import ContextVar
from dataclasses import dataclass, replace
from typing import Any, Never

import aiohttp
from livekit.agents import (
    DEFAULT_API_CONNECT_OPTIONS,
    APIConnectOptions,
    tokenize,
    tts,
    utils,
)
from livekit.agents.tts.tts import _ChunkedStreamFromStream
from livekit.agents.types import NOT_GIVEN, NotGivenOr
from livekit.agents.utils import is_given

from ._tts_audio import AUDIO_FORMATS
from ._tts_pool import IDLE_GRACE_S, MAX_STREAMS_PER_CONNECTION, ConnectionPool
from ._tts_soniox import RunSettings
from ._tts_stream import MAX_REPLAYS, StreamRunner
from .log import logger

WEBSOCKET_URL = "wss://tts-rt.soniox.com/tts-websocket"
URL_ENV = "SONIOX_TTS_URL"
API_KEY_ENV = "SONIOX_API_KEY"
DEFAULT_MODEL = "tts-rt-v1-preview"
DEFAULT_LANGUAGE = "en"
DEFAULT_VOICE = "Maya"
DEFAULT_AUDIO_FORMAT = "pcm_s16le"
DEFAULT_SAMPLE_RATE = 24000
NUM_CHANNELS = 1
SPEED_RANGE = (0.7, 1.3)
DEFAULT_STREAM_IDLE_TIMEOUT = 4.0
DEFAULT_MAX_STREAM_AGE = 90.0
_MODELS_WITHOUT_SILENCE_REDUCTION = ("tts-rt-v1",)  # prefixes: tts-rt-v1 and tts-rt-v1-preview


@dataclass
class _TTSOptions:
    model: str
    language: str
    voice: str
    audio_format: str
    sample_rate: int
    bitrate: int | None
    websocket_url: str
    api_key: str
    speed: float = 1.0
    reduce_silence: bool = False
    return_timestamps: bool = False
    stream_idle_timeout: float = DEFAULT_STREAM_IDLE_TIMEOUT
    max_stream_age: float = DEFAULT_MAX_STREAM_AGE

    def __repr__(self) -> str:  # never show the key
        return f"_TTSOptions(model={self.model!r}, voice={self.voice!r}, url={self.websocket_url})"


def stream_config(opts: _TTSOptions, stream_id: str | None = None) -> dict[str, Any]:
    """The message that starts one Soniox stream (sent together with its first text).

    Character timestamps are always requested: they tell the plugin how much of each sentence
    has been heard, so a failed stream can be replayed without gaps or repeats.
    """
    config: dict[str, Any] = {
        "model": opts.model,
        "language": opts.language,
        "voice": opts.voice,
        "audio_format": opts.audio_format,
        "sample_rate": opts.sample_rate,
        "speed": opts.speed,
        "return_timestamps": True,
    }
    if opts.bitrate is not None:
        config["bitrate"] = opts.bitrate
    if opts.reduce_silence:
        config["reduce_silence"] = True
    if stream_id is not None:
        config["stream_id"] = stream_id
    return config


def _validate(opts: _TTSOptions) -> None:
    if opts.audio_format not in AUDIO_FORMATS:
        raise ValueError(
            f"audio_format must be one of {', '.join(sorted(AUDIO_FORMATS))}; "
            f"got {opts.audio_format!r}"
        )
    if opts.sample_rate <= 0:
        raise ValueError("sample_rate must be a positive number of Hz")
    if not SPEED_RANGE[0] <= opts.speed <= SPEED_RANGE[1]:
        raise ValueError(f"speed must be between {SPEED_RANGE[0]} and {SPEED_RANGE[1]}")
    if opts.reduce_silence and opts.model.startswith(_MODELS_WITHOUT_SILENCE_REDUCTION):
        raise ValueError(f"reduce_silence is not supported by model {opts.model!r}")
    if opts.stream_idle_timeout <= 0 or opts.max_stream_age <= 0:
        raise ValueError("stream_idle_timeout and max_stream_age must be positive")


class TTS(tts.TTS[Never]):
    """Soniox real-time text-to-speech over shared, multiplexed websockets.

    API reference: https://soniox.com/docs/api-reference/tts/websocket-api
    """

    def __init__(
        self,
        *,
        model: str = DEFAULT_MODEL,
        language: str = DEFAULT_LANGUAGE,
        voice: str = DEFAULT_VOICE,
        audio_format: str = DEFAULT_AUDIO_FORMAT,
        sample_rate: int = DEFAULT_SAMPLE_RATE,
        bitrate: int | None = None,
        api_key: str | None = None,
        websocket_url: str = WEBSOCKET_URL,
        http_session: aiohttp.ClientSession | None = None,
        speed: float = 1.0,
        reduce_silence: bool = False,
        return_timestamps: bool = False,
        stream_idle_timeout: float = DEFAULT_STREAM_IDLE_TIMEOUT,
        max_stream_age: float = DEFAULT_MAX_STREAM_AGE,
        connection_idle_timeout: float = IDLE_GRACE_S,
        tokenizer: NotGivenOr[tokenize.SentenceTokenizer] = NOT_GIVEN,
    ) -> None:
        """Create a Soniox TTS.

        Args:
            model: Soniox TTS model.
            language: Language code, e.g. "en".
            voice: Voice name, e.g. "Maya" or "Adrian".
            audio_format: Format Soniox sends: pcm_s16le, pcm_f32le, pcm_mulaw, pcm_alaw, wav,
                mp3, opus, flac or aac. Livekit always receives 16-bit PCM.
            sample_rate: Output sample rate in Hz.
            bitrate: Codec bitrate in bps for compressed formats.
            api_key: Soniox API key; defaults to the SONIOX_API_KEY environment variable.
            websocket_url: Service URL; the SONIOX_TTS_URL environment variable overrides the
                default (an explicitly passed URL wins).
            http_session: aiohttp session for the websockets. Without one the plugin uses the
                worker's (``utils.http_context.http_session()``), as other livekit plugins do.
            speed: Speaking rate, 0.7 to 1.3.
            reduce_silence: Shorten pauses (models that support it, not tts-rt-v1*).
            return_timestamps: Give livekit word timings (an aligned transcript).
            stream_idle_timeout: Seconds without a new sentence after which the current Soniox
                stream is finished, ahead of the service's own per-stream idle timeout.
            max_stream_age: Seconds after which the next sentence starts a new Soniox stream,
                ahead of the service's 2-minute cap.
            connection_idle_timeout: Seconds a connection may sit idle before it closes (the
                last one too; the next stream opens a new one).
            tokenizer: Splits the pushed text into the sentences sent to Soniox. Defaults to
                livekit's blingfire tokenizer (CJK, abbreviations, decimals, URLs).
        """
        super().__init__(
            capabilities=tts.TTSCapabilities(streaming=True, aligned_transcript=return_timestamps),
            sample_rate=sample_rate,
            num_channels=NUM_CHANNELS,
        )
        key = api_key or os.environ.get(API_KEY_ENV)
        if not key:
            raise ValueError(
                f"Soniox API key is required: pass api_key or set the {API_KEY_ENV} "
                "environment variable"
            )
        if websocket_url == WEBSOCKET_URL:
            websocket_url = os.environ.get(URL_ENV) or WEBSOCKET_URL
        self._opts = _TTSOptions(
            model=model,
            language=language,
            voice=voice,
            audio_format=audio_format,
            sample_rate=sample_rate,
            bitrate=bitrate,
            websocket_url=websocket_url,
            api_key=key,
            speed=speed,
            reduce_silence=reduce_silence,
            return_timestamps=return_timestamps,
            stream_idle_timeout=stream_idle_timeout,
            max_stream_age=max_stream_age,
        )
        _validate(self._opts)
        self._session = http_session
        self._connection_idle_timeout = connection_idle_timeout
        # min_sentence_len=1: a short sentence (most CJK ones) goes out as soon as it is complete.
        self._tokenizer = (
            tokenizer
            if is_given(tokenizer)
            else tokenize.blingfire.SentenceTokenizer(retain_format=True, min_sentence_len=1)
        )
        self._pool: ConnectionPool | None = None
        self._streams: weakref.WeakSet[SynthesizeStream] = weakref.WeakSet()

    @property
    def model(self) -> str:
        return self._opts.model

    @property
    def provider(self) -> str:
        return "Soniox"

    def update_options(
        self,
        *,
        model: NotGivenOr[str] = NOT_GIVEN,
        language: NotGivenOr[str] = NOT_GIVEN,
        voice: NotGivenOr[str] = NOT_GIVEN,
        speed: NotGivenOr[float] = NOT_GIVEN,
    ) -> None:
        """Change options for streams created from now on (running streams keep theirs)."""
        new = replace(self._opts)
        if is_given(model):
            new.model = model
        if is_given(language):
            new.language = language
        if is_given(voice):
            new.voice = voice
        if is_given(speed):
            new.speed = speed
        _validate(new)
        self._opts = new

    def synthesize(
        self, text: str, *, conn_options: APIConnectOptions = DEFAULT_API_CONNECT_OPTIONS
    ) -> tts.ChunkedStream:
        """One-shot synthesis, through the same shared connections as ``stream()``."""
        return _ChunkedStream(tts=self, input_text=text, conn_options=conn_options)

    def stream(
        self, *, conn_options: APIConnectOptions = DEFAULT_API_CONNECT_OPTIONS
    ) -> SynthesizeStream:
        stream = SynthesizeStream(tts=self, conn_options=conn_options)
        self._streams.add(stream)
        return stream

    def prewarm(self) -> None:
        """Open a connection in the background, so the first stream does not wait for it."""
        try:
            self._ensure_pool().prewarm()
        except RuntimeError:
            logger.debug("Soniox TTS prewarm skipped: no running event loop")

    async def aclose(self) -> None:
        """Close every stream, every connection and the plugin's own HTTP session."""
        streams = list(self._streams)
        await asyncio.gather(*(s.aclose() for s in streams), return_exceptions=True)
        self._streams.clear()
        if self._pool is not None:
            await self._pool.aclose()
            self._pool = None

    def _ensure_pool(self) -> ConnectionPool:
        if self._pool is None:
            asyncio.get_running_loop()  # the pool's connections live on the running loop
            self._pool = ConnectionPool(
                self._connect,
                max_streams=MAX_STREAMS_PER_CONNECTION,
                idle_grace_s=self._connection_idle_timeout,
            )
        return self._pool

    def _ensure_session(self) -> aiohttp.ClientSession:
        # As the seed: the worker's session (its proxy settings, closed by the worker). Outside
        # a worker, wrap your code in ``async with livekit.agents.utils.http_context.open()``.
        return self._session or utils.http_context.http_session()

    async def _connect(self) -> aiohttp.ClientWebSocketResponse:
        return await self._ensure_session().ws_connect(
            self._opts.websocket_url,
            headers={"Authorization": f"Bearer {self._opts.api_key}"},
            heartbeat=20.0,
        )


_SYNTHESIZE_RETRY_BUDGET: ContextVar[int | None] = ContextVar(
    "soniox_synthesize_retry_budget", default=None
)


class _ChunkedStream(_ChunkedStreamFromStream):
    """livekit's synthesize()-over-stream(), with the call's retry budget for replays."""

    async def _run(self, output_emitter: tts.AudioEmitter) -> None:
        token = _SYNTHESIZE_RETRY_BUDGET.set(self._conn_options.max_retry)
        try:
            await super()._run(output_emitter)
        finally:
            _SYNTHESIZE_RETRY_BUDGET.reset(token)


class SynthesizeStream(tts.SynthesizeStream):
    """A streaming synthesis on the TTS's shared connections."""

    def __init__(self, *, tts: TTS, conn_options: APIConnectOptions) -> None:
        super().__init__(tts=tts, conn_options=conn_options)
        self._tts: TTS = tts
        self._opts = replace(tts._opts)
        # Replays of a failed Soniox stream are retries: never more than the caller allows
        # (FallbackAdapter passes max_retry=0 to fail over at once). synthesize()'s inner stream
        # gets max_retry=0 from livekit; it takes the budget of the synthesize() call instead.
        budget = _SYNTHESIZE_RETRY_BUDGET.get()
        self._replay_budget = conn_options.max_retry if budget is None else budget

    async def aclose(self) -> None:
        """Stop this stream now (e.g. on barge-in).

        Only this stream's Soniox streams are cancelled; the shared connections and the other
        streams on them carry on. No audio of this stream is emitted once this returns.
        """
        await super().aclose()

    async def _run(self, output_emitter: tts.AudioEmitter) -> None:
        opts = self._opts
        output_emitter.initialize(
            request_id=utils.shortuuid(),
            sample_rate=opts.sample_rate,
            num_channels=NUM_CHANNELS,
            mime_type="audio/pcm",
            stream=True,
        )
        output_emitter.start_segment(segment_id=utils.shortuuid())
        settings = RunSettings(
            config=stream_config(opts),
            audio_format=opts.audio_format,
            sample_rate=opts.sample_rate,
            aligned_transcript=opts.return_timestamps,
            stream_idle_timeout_s=opts.stream_idle_timeout,
            max_stream_age_s=opts.max_stream_age,
            silence_timeout_s=self._conn_options.timeout,
            acquire_timeout_s=self._conn_options.timeout,
            retry_interval_s=self._conn_options.retry_interval,
            max_replays=min(MAX_REPLAYS, self._replay_budget),
            tokenizer=self._tts._tokenizer,
        )
        runner = StreamRunner(
            pool=self._tts._ensure_pool(),
            settings=settings,
            emitter=output_emitter,
            input_ch=self._input_ch,
            on_first_text=self._mark_started,
            on_acquired=self._note_acquired,
        )
        await runner.run()
        output_emitter.end_segment()

    def _note_acquired(self, acquire_time: float, reused: bool) -> None:
        self._acquire_time = acquire_time
        self._connection_reused = reused
