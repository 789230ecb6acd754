"""TTS endpoint (/tts-websocket): up to five concurrent streams per connection (protocol PART B).

The session reads client frames and routes them by ``stream_id``; each stream owns one producer
task that waits for speakable text, paces audio chunks, enforces the stream's timers and ends
with ``terminated``. Whoever removes a stream from the registry owns its ending, so a stream ends
exactly once and a late ``text_end`` gets "not found", as on the service.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
from typing import Any

from aiohttp import WSMsgType

from .connection import Connection, StreamFault, StreamInfo
from .errors import MSG_BAD_KEY, MSG_MISSING_KEY, MSG_TIMEOUT, ProtocolError, from_exception
from .tts_config import (
    CANCEL,
    CONFIG,
    KEEP_ALIVE,
    StreamConfig,
    message_kind,
    not_found,
    parse_stream_config,
    parse_text,
    scrub,
    stream_id_of,
)
from .tts_synth import Chunk, Speech, StreamEncoder, TtsSource, silence

logger = logging.getLogger("mock_soniox")

# Silence sent with audio_end when text_end arrives after all text has been spoken.
TAIL_SILENCE_S = 0.04
# Texts longer than this are synthesized in a worker thread so the loop keeps serving others.
THREAD_SYNTH_CHARS = 2000
# Encoding costs far more than synthesis: compressed formats (tens of ms even for a sentence) and
# raw speech longer than this are encoded in a worker thread too.
THREAD_ENCODE_S = 20.0
# A sentence is complete at . ! ? (or CJK equivalents) followed by whitespace, or at a newline.
_SENTENCE_END = re.compile(r"(?:[.!?\u2026\u3002\uff01\uff1f][\"')\]]*\s+|\n)")


class _StreamEnded(Exception):
    """The producer must stop: the error to send (if any) before ``terminated``."""

    def __init__(self, error: ProtocolError | None) -> None:
        super().__init__(error.message if error else "ended")
        self.error = error


class TtsStream:
    """One stream: its text buffer, timers and the task that speaks it."""

    def __init__(
        self, session: TtsSession, config: StreamConfig, source: TtsSource, slow_rtf: float | None
    ) -> None:
        self.session = session
        self.conn = session.conn
        self.config = config
        self.id = config.stream_id
        self.source = source
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
        if text:
            self.pending += text
            self.idle_deadline = asyncio.get_running_loop().time() + self.idle_s
        if text_end:
            self.text_end = True
        self.changed.set()

    # --- The producer ---

    async def _run(self) -> None:
        try:
            await self._produce()
        except _StreamEnded as ended:
            if self.session.release(self) and ended.error is not None:
                await self.session.end_stream(self.id, ended.error)
            return
        if self.session.release(self):
            await self.session.end_stream(self.id, None)

    def _check_deadlines(self, now: float) -> None:
        if now >= self.age_deadline:
            max_age = self.settings.tts_stream_max_age_s
            raise _StreamEnded(
                ProtocolError(408, f"Stream exceeded the maximum duration of {max_age:g} seconds.")
            )
        if not self.text_end and now >= self.idle_deadline:
            raise _StreamEnded(ProtocolError(408, MSG_TIMEOUT))

    def _deadline(self) -> float:
        return self.age_deadline if self.text_end else min(self.age_deadline, self.idle_deadline)

    async def _next_segment(self) -> tuple[str, bool]:
        """Wait until some text can be spoken: a complete sentence, or everything at text_end."""
        loop = asyncio.get_running_loop()
        while True:
            self._check_deadlines(loop.time())
            if self.text_end:
                text, self.pending = self.pending, ""
                return text, True
            if self.streaming:
                cut = _last_sentence_end(self.pending)
                if cut:
                    text, self.pending = self.pending[:cut], self.pending[cut:]
                    return text, False
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
                if not await self.conn.send_json(frame, kind="audio"):
                    return
                if chunk.at_s is None or self.slow:
                    next_at += settings.scaled(chunk.duration_s * self.pace)
                if next_at <= loop.time():
                    await asyncio.sleep(0)  # unpaced: still let other streams interleave
            if final:
                return


def _last_sentence_end(text: str) -> int:
    """Index just past the last complete sentence in ``text`` (0 when there is none)."""
    cut = 0
    for match in _SENTENCE_END.finditer(text):
        cut = match.end()
    return cut


class TtsSession:
    """One TTS websocket: the stream registry and the read loop."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.settings = conn.settings
        self.streams: dict[str, TtsStream] = {}
        self.tasks: set[asyncio.Task[None]] = set()
        self.authenticated = conn.key is not None
        loop = asyncio.get_running_loop()
        self.last_activity = loop.time()
        self.auth_deadline = loop.time() + self.settings.timer(
            self.settings.tts_legacy_auth_timeout_s
        )

    # --- Stream lifecycle ---

    def release(self, stream: TtsStream) -> bool:
        """Take ``stream`` out of the registry; True for the one caller that now ends it."""
        if self.streams.get(stream.id) is not stream:
            return False
        del self.streams[stream.id]
        self.conn.streams.pop(stream.id, None)
        self.last_activity = asyncio.get_running_loop().time()
        return True

    async def end_stream(
        self, stream_id: str, error: ProtocolError | None, *, fault: str | None = None
    ) -> None:
        """The stream's last words: an optional error, then ``terminated``."""
        if error is not None:
            logger.info(
                "%s: stream %s: %d %s: %s",
                self.conn.id,
                stream_id,
                error.code,
                error.error_type,
                error.message,
            )
            frame = from_exception(error, stream_id=stream_id)
            await self.conn.send_json(frame, kind="error", fault=fault)
        await self.conn.send_json(
            {"stream_id": stream_id, "terminated": True}, kind="terminated", fault=fault
        )

    async def kill(self, stream: TtsStream, error: ProtocolError | None) -> None:
        """End a live stream from the read loop: stop its producer, then error + terminated."""
        if self.release(stream):
            await stream.stop()
            await self.end_stream(stream.id, error)

    async def stream_error(self, stream_id: str, error: ProtocolError) -> None:
        """A per-stream error for a message that names a stream: error, then terminated."""
        stream = self.streams.get(stream_id)
        if stream is not None:
            await self.kill(stream, error)
        else:
            await self.end_stream(stream_id, error)

    # --- Reading ---

    async def run(self) -> None:
        try:
            await self._read_loop()
        finally:
            self.streams.clear()
            self.conn.streams.clear()
            tasks = list(self.tasks)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    def _idle_deadline(self) -> float:
        return self.last_activity + self.settings.timer(self.settings.tts_connection_idle_timeout_s)

    def _next_deadline(self) -> float:
        idle = self._idle_deadline()
        return idle if self.authenticated else min(idle, self.auth_deadline)

    async def _read_loop(self) -> None:
        conn = self.conn
        loop = asyncio.get_running_loop()
        while not conn.closed:
            timeout = self._next_deadline() - loop.time()
            try:
                msg = await conn.ws.receive(timeout=max(timeout, 0.0))
            except TimeoutError:
                if await self._on_quiet():
                    return
                continue
            if msg.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED):
                return
            if msg.type == WSMsgType.ERROR:
                # aiohttp already closed the socket (1009 for an oversized frame).
                conn.record_in("invalid", {"error": str(conn.ws.exception())})
                logger.info("%s: websocket error: %s", conn.id, conn.ws.exception())
                return
            self.last_activity = loop.time()
            if msg.type == WSMsgType.BINARY:
                conn.record_in("invalid", {"bytes": len(msg.data)})
                await conn.fail(ProtocolError(400, "Binary frames are not supported."))
                return
            if msg.type != WSMsgType.TEXT:
                continue
            if await self._on_text(msg.data):
                return
            if await conn.check_faults():
                return

    async def _on_quiet(self) -> bool:
        """A receive timed out: True when the connection must end."""
        now = asyncio.get_running_loop().time()
        if not self.authenticated and now >= self.auth_deadline:
            await self.conn.fail(ProtocolError(401, MSG_MISSING_KEY))
            return True
        if self.streams:
            self.last_activity = now  # idle only counts while no stream is active
            return False
        if now >= self._idle_deadline():
            logger.info("%s: idle, closing 1001", self.conn.id)
            await self.conn.close(1001)
            return True
        return False

    async def _on_text(self, data: str) -> bool:
        """Handle one text frame; True when the connection must end."""
        conn = self.conn
        try:
            msg = json.loads(data)
        except ValueError:
            conn.record_in("invalid", data[:200])
            await conn.fail(ProtocolError(400, "Invalid message: not valid JSON."))
            return True
        if not isinstance(msg, dict):
            conn.record_in("invalid", msg)
            await conn.fail(ProtocolError(400, "Invalid message: expected a JSON object."))
            return True
        kind = message_kind(msg)
        stream_id = stream_id_of(msg)
        conn.record_in(kind, scrub(msg), stream_id=stream_id)
        if kind == KEEP_ALIVE:
            return False
        if stream_id is None:
            await conn.fail(ProtocolError(400, "Missing required field: stream_id"))
            return True
        if kind == CONFIG:
            return await self._on_config(stream_id, msg)
        stream = self.streams.get(stream_id)
        if stream is None:
            await self.end_stream(stream_id, not_found(stream_id))
            return False
        if kind == CANCEL:
            if msg.get(CANCEL) is True and self.release(stream):
                await stream.stop()
                await self.end_stream(stream_id, None)
            return False
        try:
            text = parse_text(msg, self.settings.tts_max_text_chars)
        except ProtocolError as exc:
            await self.kill(stream, exc)
            return False
        if stream.text_end and (text.text or text.text_end):
            await self.kill(
                stream,
                ProtocolError(400, "Text received after text_end.", "invalid_stream_state"),
            )
            return False
        stream.add_text(text.text, text.text_end)
        return False

    async def _on_config(self, stream_id: str, msg: dict[str, Any]) -> bool:
        conn = self.conn
        if stream_id in self.streams:
            error = ProtocolError(
                400, f"Stream {stream_id} is already active.", "invalid_stream_state"
            )
            await self.kill(self.streams[stream_id], error)
            return False
        try:
            config = parse_stream_config(msg)
            self._authenticate(config)
        except ProtocolError as exc:
            await self.end_stream(stream_id, exc)
            return False
        limit = self.settings.tts_max_streams_per_connection
        if len(self.streams) >= limit:
            await self.end_stream(
                stream_id,
                ProtocolError(
                    400,
                    f"Maximum number of concurrent streams ({limit}) reached.",
                    "max_concurrent_streams_reached",
                ),
            )
            return False
        conn.streams_opened += 1
        faults = conn.stream_faults(conn.streams_opened)
        error_fault = _first(faults, "error")
        if error_fault is not None:
            error = ProtocolError(error_fault.code or 500, "")
            await self.end_stream(stream_id, error, fault=error_fault.spec or None)
            return False
        slow = _first(faults, "slow")
        source = conn.state.tts_source_factory(conn, config)
        stream = TtsStream(self, config, source, slow.rtf if slow else None)
        stream.no_audio_end = _first(faults, "no_audio_end") is not None
        self.streams[stream_id] = stream
        conn.streams[stream_id] = StreamInfo(stream_id, config.model, config.voice)
        stream.start()
        return False

    def _authenticate(self, config: StreamConfig) -> None:
        """Legacy auth: a connection without a handshake key authenticates with stream configs."""
        if self.conn.key is not None:
            if config.api_key is not None:
                raise ProtocolError(400, "Send the API key in one place only.")
            return
        if config.api_key is None:
            if self.authenticated:
                return
            raise ProtocolError(401, MSG_MISSING_KEY)
        if not self.settings.key_allowed(config.api_key):
            raise ProtocolError(401, MSG_BAD_KEY)
        self.authenticated = True


def _first(faults: list[StreamFault], kind: str) -> StreamFault | None:
    return next((f for f in faults if f.kind == kind), None)


async def run_session(conn: Connection) -> None:
    await TtsSession(conn).run()
