"""One Soniox stream (``stream_id``) on a shared connection: text out, events in.

The runner (``_tts_stream``) plays a livekit stream's Soniox streams one after another; each
of them sends the sentences given to it and turns the service's messages into events: audio as
16-bit PCM, character timings, its end or its failure.
"""

from __future__ import annotations

import asyncio
import binascii
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from livekit.agents import APIConnectionError, APIError, APIStatusError, tokenize, utils
from livekit.agents.utils import aio
from livekit.agents.utils.codecs import AudioStreamDecoder

from ._tts_audio import ENCODED_FORMATS, RawToPcm16
from ._tts_pool import TTSConnection, status_error
from ._tts_replay import StreamLedger
from ._tts_text import WordGrouper


@dataclass(frozen=True)
class RunSettings:
    """What one attempt needs to know, frozen at the time the livekit stream was created."""

    config: dict[str, Any]  # the stream config without its stream_id
    audio_format: str
    sample_rate: int
    aligned_transcript: bool
    stream_idle_timeout_s: float
    max_stream_age_s: float
    silence_timeout_s: float
    acquire_timeout_s: float
    retry_interval_s: float
    max_replays: int = 3  # replays of one failing stream within an attempt (<= max_retry)
    tokenizer: tokenize.SentenceTokenizer | None = None  # None: the built-in SentenceSplitter


@dataclass
class AudioEvent:
    pcm: bytes


@dataclass
class TimingsEvent:
    payload: object  # the service's ``timestamps`` object, unparsed


@dataclass
class DoneEvent:
    pass


@dataclass
class FailedEvent:
    error: APIError


StreamEvent = AudioEvent | TimingsEvent | DoneEvent | FailedEvent


class SonioxStream:
    """One Soniox ``stream_id``: the sentences given to it, its wire state and its events.

    Events go to ``handler`` as they happen while the runner is playing this stream (called from
    the connection's reader: no task wake-up and no timer per message, which were a third of a
    stream's cost), and queue up in ``events`` otherwise (before its turn, e.g. behind an
    earlier stream of the same livekit stream, and after it).
    """

    def __init__(self, settings: RunSettings, ledger: StreamLedger, *, skip_s: float, align: bool):
        self.id = utils.shortuuid()
        self.ledger = ledger
        self.events: asyncio.Queue[StreamEvent] = asyncio.Queue()
        self.handler: Callable[[StreamEvent], None] | None = None
        self.skip_s = skip_s
        self.align = align
        self.drop_total: float | None = None if skip_s > 0 else 0.0
        self.words = WordGrouper()
        self.opened_at = time.monotonic()
        self.last_heard = time.monotonic()
        self.end_requested = False
        self.cancelled = False
        self._settings = settings
        self._conn: TTSConnection | None = None
        self._sent = 0
        self._config_sent = False
        self._end_sent = False
        self._finished = False
        self._terminated = False  # the service no longer holds this stream_id
        self._audio_end = False
        self._raw = (
            None if settings.audio_format in ENCODED_FORMATS else RawToPcm16(settings.audio_format)
        )
        self._decoder: AudioStreamDecoder | None = None
        self._decode_task: asyncio.Task[None] | None = None
        self._deferred: StreamEvent | None = None

    # --- sending side ---

    @property
    def end_sent(self) -> bool:
        return self._end_sent

    @property
    def age_s(self) -> float:
        return time.monotonic() - self.opened_at

    @property
    def connection(self) -> TTSConnection | None:
        return self._conn

    def attach(self, conn: TTSConnection) -> None:
        self._conn = conn
        conn.register(self.id, self)
        self._flush()

    def add_sentence(self, text: str) -> None:
        self.ledger.add_sentence(text)
        self._flush()

    def end(self) -> None:
        """No more text for this stream: send ``text_end`` (or finish, if nothing was sent)."""
        self.end_requested = True
        if not self.ledger.sentences:
            self._finish(DoneEvent())
        self._flush()

    def _flush(self) -> None:
        conn = self._conn
        if conn is None or self._finished or self.cancelled:
            return
        while self._sent < len(self.ledger.sentences):
            if not self._config_sent:
                conn.send({**self._settings.config, "stream_id": self.id})
                self._config_sent = True
            conn.send({"stream_id": self.id, "text": self.ledger.sentences[self._sent]})
            self._sent += 1
            self.last_heard = time.monotonic()
        if self.end_requested and self._config_sent and not self._end_sent:
            conn.send({"stream_id": self.id, "text_end": True})
            self._end_sent = True
            self.last_heard = time.monotonic()

    def cancel(self) -> None:
        """Stop this stream only; the connection and its other streams carry on."""
        if self.cancelled:
            return
        self.cancelled = True
        conn = self._conn
        if conn is None:
            return
        if self._config_sent and not self._terminated:
            if not self._finished:
                conn.send({"stream_id": self.id, "cancel": True})
            conn.release_when_terminated(self.id)  # the slot stays taken until then
        else:
            conn.release(self.id)

    async def aclose(self) -> None:
        """Cancel, then close the decoder. Safe to call again, e.g. after a cancelled close."""
        self.cancel()
        if self._decoder is not None:
            # first: its worker thread is released before the first await, so a cancel landing
            # here cannot leave that thread blocked on input (which hangs the process at exit)
            await self._decoder.aclose()
        if self._decode_task is not None:
            await aio.cancel_and_wait(self._decode_task)

    # --- receiving side (called by the connection) ---

    def on_message(self, msg: dict[str, Any]) -> None:
        if msg.get("terminated"):
            self._terminated = True
        if self._finished:
            return
        self.last_heard = time.monotonic()
        if msg.get("error_code") is not None:
            self._finish(FailedEvent(status_error(msg)))
            return
        timestamps = msg.get("timestamps")
        if timestamps is not None:
            self._deliver(TimingsEvent(timestamps))
        audio = msg.get("audio")
        if isinstance(audio, str) and audio:
            try:
                # what b64decode does, without its str->bytes copy and Python wrapper
                data = binascii.a2b_base64(audio)
            except ValueError:  # binascii.Error, or a non-ASCII string
                self._finish(
                    FailedEvent(APIConnectionError("Soniox TTS sent invalid base64 audio"))
                )
                return
            self._push_audio(data)
        if msg.get("audio_end"):
            self._audio_end = True
            if self._decoder is not None:
                self._decoder.end_input()
        if msg.get("terminated"):
            if self._audio_end or self.cancelled:
                self._finish(DoneEvent())
            else:
                self._finish(
                    FailedEvent(
                        APIStatusError(
                            "Soniox TTS stream terminated without audio_end",
                            status_code=-1,
                            retryable=True,
                        )
                    )
                )

    def on_lost(self, error: APIError) -> None:
        self._terminated = True
        self._finish(FailedEvent(error))

    def _push_audio(self, data: bytes) -> None:
        if self._raw is not None:
            pcm = self._raw.feed(data)
            if pcm:
                self._deliver(AudioEvent(pcm))
            return
        if self._decoder is None:
            self._decoder = AudioStreamDecoder(
                sample_rate=self._settings.sample_rate,
                num_channels=1,
                format=ENCODED_FORMATS[self._settings.audio_format],
            )
            self._decode_task = asyncio.create_task(self._forward_decoded(self._decoder))
        self._decoder.push(data)

    async def _forward_decoded(self, decoder: AudioStreamDecoder) -> None:
        async for frame in decoder:
            self._deliver(AudioEvent(frame.data.tobytes()))
        if self._deferred is not None:
            self._deliver(self._deferred)

    def _deliver(self, event: StreamEvent) -> None:
        handler = self.handler
        if handler is not None:
            handler(event)
        else:
            self.events.put_nowait(event)

    def _finish(self, event: StreamEvent) -> None:
        if self._finished:
            return
        self._finished = True
        decoding = self._decode_task is not None and not self._decode_task.done()
        if isinstance(event, DoneEvent) and decoding:
            self._deferred = event  # after the decoder has given all its audio
        else:
            self._deliver(event)
