"""One TTS stream: its text buffer, timers and the producer task that speaks it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from typing import Protocol

from ..connection import Connection, StreamInfo
from ..errors import MSG_TIMEOUT, ProtocolError
from .config import StreamConfig
from .encoder import Chunk, StreamEncoder, silence
from .source import Speech, TtsSource

logger = logging.getLogger("mock_soniox")

# Silence sent with audio_end when text_end arrives after all text has been spoken.
TAIL_SILENCE_S = 0.04
# Texts longer than this are synthesized in a worker thread so the loop keeps serving others.
THREAD_SYNTH_CHARS = 2000
# Encoding costs far more than synthesis: compressed formats (tens of ms even for a sentence) and
# raw speech longer than this are encoded in a worker thread too.
THREAD_ENCODE_S = 20.0
# Streamed text is synthesized at most this much at a time (at sentence ends where possible),
# so a stream holds one piece's audio, never its whole text's, however much text it was sent.
SEGMENT_CHARS = 250
# A sentence is complete at . ! ? followed by whitespace, at a newline, or at a CJK full stop,
# exclamation or question mark (U+3002, U+FF01, U+FF1F; Chinese and Japanese put no space after
# them), closing quotes and brackets included.
_SENTENCE_END = re.compile(
    r"(?:[.!?\u2026][\"')\]]*\s+|[\u3002\uff01\uff1f][\"')\]\u300d\u300f\uff09\u201d]*\s*|\n)"
)


class StreamOwner(Protocol):
    """What a stream needs of its session (:class:`mock_soniox.tts.session.TtsSession`)."""

    conn: Connection
    tasks: set[asyncio.Task[None]]

    def release(self, stream: TtsStream) -> bool: ...

    async def end_stream(
        self, stream_id: str, error: ProtocolError | None, *, fault: str | None = None
    ) -> None: ...


class _StreamEnded(Exception):
    """The producer must stop: the error to send before ``terminated``."""

    def __init__(self, error: ProtocolError) -> None:
        super().__init__(error.message)
        self.error = error


class TtsStream:
    """One stream: its text buffer, timers and the task that speaks it."""

    def __init__(
        self,
        session: StreamOwner,
        config: StreamConfig,
        source: TtsSource,
        slow_rtf: float | None,
        info: StreamInfo | None = None,
    ) -> None:
        self.session = session
        self.conn = session.conn
        self.config = config
        self.id = config.stream_id
        self.source = source
        # What the admin API shows of this stream.
        self.info = info or StreamInfo(self.id, config.model, config.voice)
        settings = self.conn.settings
        self.settings = settings
        self.encoder = StreamEncoder(config, settings.tts_chunk_ms)
        self.streaming = self.encoder.streaming and source.streaming
        # Wall seconds per second of audio; a slow fault also holds back recorded cues.
        self.slow = slow_rtf is not None
        self.pace = (
            slow_rtf if slow_rtf is not None else 1.0 / max(settings.tts_realtime_factor, 1e-9)
        )
        self.no_audio_end = False
        self.pending = ""  # received, not yet spoken
        self.text_end = False
        self.changed = asyncio.Event()
        loop = asyncio.get_running_loop()
        now = loop.time()
        self.idle_s = settings.timer(settings.tts_stream_idle_timeout_s)
        self.idle_deadline = now + self.idle_s
        self.age_deadline = now + settings.timer(settings.tts_stream_max_age_s)
        self.task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self.task = asyncio.create_task(self._run(), name=f"{self.conn.id}/{self.id}")
        # The session owns every producer until it finishes, even one already saying goodbye.
        self.session.tasks.add(self.task)
        self.task.add_done_callback(self.session.tasks.discard)

    async def stop(self) -> None:
        """Cancel and await the producer (it sends nothing more)."""
        task = self.task
        if task is None or task is asyncio.current_task():
            return
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    def add_text(self, text: str, text_end: bool) -> None:
        self.info.add_text(text, text_end)
        if text:
            self.pending += text
            self.idle_deadline = asyncio.get_running_loop().time() + self.idle_s
        if text_end:
            self.text_end = True
        self.changed.set()

    # --- The producer ---

    async def _run(self) -> None:
        """Produce, then end the stream exactly once, with ``terminated``, whatever happened."""
        error: ProtocolError | None = None
        try:
            await self._produce()
        except _StreamEnded as ended:
            error = ended.error
        except Exception:
            logger.exception("%s/%s: the stream's producer failed", self.conn.id, self.id)
            error = ProtocolError(500, "Internal server error.")
        if self.session.release(self):
            await self.session.end_stream(self.id, error)

    def _check_deadlines(self, now: float) -> None:
        if now >= self.age_deadline:
            raise self._too_old()
        if not self.text_end and now >= self.idle_deadline:
            raise _StreamEnded(ProtocolError(408, MSG_TIMEOUT))

    def _too_old(self) -> _StreamEnded:
        max_age = self.settings.tts_stream_max_age_s
        return _StreamEnded(
            ProtocolError(408, f"Stream exceeded the maximum duration of {max_age:g} seconds.")
        )

    def _deadline(self) -> float:
        return self.age_deadline if self.text_end else min(self.age_deadline, self.idle_deadline)

    async def _next_segment(self) -> tuple[str, bool]:
        """Wait until some text can be spoken; True with the stream's last piece.

        Streamable output goes a sentence (or :data:`SEGMENT_CHARS`) at a time; other output
        (compressed containers, non-streaming recordings) waits for ``text_end``.
        """
        loop = asyncio.get_running_loop()
        while True:
            self._check_deadlines(loop.time())
            cut = _segment_end(self.pending, self.text_end) if self.streaming else 0
            if cut:
                text, self.pending = self.pending[:cut], self.pending[cut:]
                return text, self.text_end and not self.pending
            if self.text_end:
                text, self.pending = self.pending, ""
                return text, True
            self.changed.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout_at(self._deadline()):
                    await self.changed.wait()

    async def _speech(self, text: str) -> Speech:
        if not text:
            return silence(self.config, TAIL_SILENCE_S)
        if len(text) > THREAD_SYNTH_CHARS:
            return await asyncio.to_thread(self.source.synthesize, text)
        return self.source.synthesize(text)

    async def _chunks(self, speech: Speech) -> list[Chunk]:
        if self.encoder.compressed or speech.duration_s > THREAD_ENCODE_S:
            return await asyncio.to_thread(self.encoder.chunks, speech)
        return self.encoder.chunks(speech)

    async def _compressed_chunks(self, text: str) -> list[Chunk]:
        """A compressed stream's chunks, its text synthesized and encoded a piece at a time.

        The encoder keeps compressed bytes only, so a long text never holds all its samples.
        """
        rest, added = text, False
        while rest:
            cut = _segment_end(rest, True)
            piece, rest = rest[:cut], rest[cut:]
            speech = await self._speech(piece)
            if len(speech.samples):
                await asyncio.to_thread(self.encoder.add, speech)
                added = True
        if not added:
            self.encoder.add(silence(self.config, TAIL_SILENCE_S))
        return await asyncio.to_thread(self.encoder.finish)

    async def _produce(self) -> None:
        loop = asyncio.get_running_loop()
        settings = self.settings
        next_at: float | None = None
        # Recorded speech: cue times count from here (the first text ready to speak), moved
        # later when the client's text comes later than it did in the recording.
        origin: float | None = None
        while True:
            text, final = await self._next_segment()
            ready_at = loop.time()  # first audio is due this long after its text is ready
            if self.encoder.compressed and self.source.streaming:
                chunks = await self._compressed_chunks(text)
            else:
                speech = await self._speech(text)
                if len(speech.samples) == 0:
                    if not final:
                        continue
                    speech = silence(self.config, TAIL_SILENCE_S)
                chunks = await self._chunks(speech)
            cued = chunks[0].at_s is not None
            if next_at is None:
                # A recording's cues hold its own time to first audio.
                first_audio_s = 0.0 if cued else settings.tts_time_to_first_audio_ms / 1000.0
                next_at = ready_at + settings.scaled(first_audio_s)
            else:
                next_at = max(next_at, ready_at)
            if cued:
                lead = settings.scaled(chunks[0].at_s or 0.0)
                origin = ready_at if origin is None else max(origin, ready_at - lead)
            for i, chunk in enumerate(chunks):
                if chunk.at_s is not None and origin is not None:
                    next_at = max(next_at, origin + settings.scaled(chunk.at_s))
                while True:
                    now = loop.time()
                    self._check_deadlines(now)
                    if now >= next_at:
                        break
                    await asyncio.sleep(min(next_at, self._deadline()) - now)
                last = final and i == len(chunks) - 1
                # A no_audio_end fault sends the last chunk as an ordinary one.
                audio_end = last and not self.no_audio_end
                frame = chunk.frame(self.id, audio_end, self.config.return_timestamps)
                # A client that stops reading holds the stream here: its cap still holds (the
                # connection's send timeout cuts off a client that never reads again).
                if not self.conn.writable_now():
                    try:
                        async with asyncio.timeout_at(self.age_deadline):
                            if not await self.conn.writable():
                                return
                    except TimeoutError:
                        raise self._too_old() from None
                if not await self.conn.send_json(frame, kind="audio"):
                    return
                self.info.add_audio(len(chunk.audio), audio_end)
                if chunk.at_s is None or self.slow:
                    next_at += settings.scaled(chunk.duration_s * self.pace)
                if next_at <= loop.time():
                    await asyncio.sleep(0)  # unpaced: still let other streams interleave
            if final:
                return


def _segment_end(text: str, complete: bool) -> int:
    """Where the next piece to synthesize ends in ``text`` (0: wait for more text).

    The last sentence end within :data:`SEGMENT_CHARS`; failing that, when the text is longer
    than that (or complete), the last space within it, or a hard cut. Complete text that fits
    is one piece.
    """
    if complete and len(text) <= SEGMENT_CHARS:
        return len(text)
    window = text[:SEGMENT_CHARS]
    cut = 0
    for match in _SENTENCE_END.finditer(window):
        cut = match.end()
    if cut or len(text) <= SEGMENT_CHARS:
        return cut
    space = window.rfind(" ")
    return space + 1 if space > 0 else SEGMENT_CHARS
