"""STT endpoint (/transcribe-websocket): one session per connection.

The session reads the config (first text frame), runs the audio clock over binary frames and
sends the result frames a :class:`ResultSource` produces. Where tokens come from is pluggable:
``MockState.stt_source_factory(conn, config)`` returns the source for one session (the default
is the synthetic transcript of :mod:`mock_soniox.stt_synth`; recorded fixtures plug in here).

Timers are deadlines around each receive (``asyncio.timeout_at``), so the session owns no tasks.
Each of the four has its own published 408 message (protocol A9): no config ("Start request
timeout"), config but no audio ("Timed out while waiting for the first audio chunk"), neither
audio nor keepalive ("Request timeout."), and, at a time scale above 0, audio falling behind the
wall clock by more than a margin ("Input too slow")."""

from __future__ import annotations

import asyncio
import json
import logging
from collections import Counter
from typing import Any

from aiohttp import WSMessage, WSMsgType

from .. import models
from ..connection import Connection
from ..errors import (
    STT_AUDIO_TOO_LONG,
    STT_CONCURRENCY_PROJECT,
    STT_CONTROL_INVALID_TYPE,
    STT_CONTROL_MALFORMED,
    STT_DECODE_TIMEOUT,
    STT_FIRST_AUDIO_TIMEOUT,
    STT_INPUT_TOO_SLOW,
    STT_INVALID_KEY,
    STT_INVALID_TEMP_KEY,
    STT_MISSING_KEY,
    STT_NO_AUDIO,
    STT_REQUEST_TIMEOUT,
    STT_START_MALFORMED,
    STT_START_NOT_TEXT,
    STT_START_TIMEOUT,
    STT_TOO_MUCH_AUDIO,
    ProtocolError,
)
from ..sanitize import journal_view
from .clock import AudioClock
from .config import SttConfig, validate_config
from .source import ResultSource, SourceFactory

logger = logging.getLogger("mock_soniox")

Frame = dict[str, Any]

# Temporary keys (POST /v1/auth/temporary-api-key) look like these; a refused one gets its own 401.
TEMP_KEY_PREFIXES = ("temp:", "snx_temp_")


def bad_key_message(key: str) -> str:
    """The published 401 text for a key the service does not accept."""
    return STT_INVALID_TEMP_KEY if key.startswith(TEMP_KEY_PREFIXES) else STT_INVALID_KEY


async def run_session(
    conn: Connection, sources: SourceFactory, sessions_by_key: Counter[str]
) -> None:
    """Serve one STT connection; ``sessions_by_key`` counts live sessions per key (the cap)."""
    await _Session(conn, sources, sessions_by_key).run()


class _Session:
    def __init__(
        self, conn: Connection, sources: SourceFactory, sessions_by_key: Counter[str]
    ) -> None:
        self.conn = conn
        self.sources = sources
        self.sessions_by_key = sessions_by_key
        self.settings = conn.settings
        self.loop = asyncio.get_running_loop()
        self.counted_key: str | None = None
        self.total_ms = 0  # the largest total_audio_proc_ms sent
        self.audio_bytes = 0  # non-empty binary frames' bytes, for the total cap
        # "Input too slow": the audio clock and the wall clock at the last reference point.
        self.pace_anchor: tuple[float, float] | None = None

    async def run(self) -> None:
        try:
            await self._serve()
        except ProtocolError as exc:
            self._release_key()  # before the close frame, so a client may reconnect at once
            await self.conn.fail(exc)
        finally:
            self._release_key()

    async def _serve(self) -> None:
        conn, settings = self.conn, self.settings
        config_deadline = self.loop.time() + settings.timer(settings.stt_config_timeout_s)
        msg = await self._receive([(config_deadline, 0, STT_START_TIMEOUT)])
        if msg is None:
            return
        config = await self._read_config(msg)
        if config is None:
            return
        clock = AudioClock(config)
        source = self.sources(conn, config)
        cap_ms = settings.timer(settings.stt_max_session_s) * 1000.0
        idle_s = settings.timer(settings.stt_idle_timeout_s)
        now = self.loop.time()
        idle_deadline = now + idle_s
        first_audio_deadline: float | None = now + settings.timer(
            settings.stt_first_audio_timeout_s
        )

        while True:
            # On a tie the more specific timer speaks (first audio, then too slow, then idle).
            # Container audio whose header never completed: the decoder is what timed out.
            idle_message = STT_DECODE_TIMEOUT if clock.header_pending else STT_REQUEST_TIMEOUT
            deadlines = [(idle_deadline, 2, idle_message)]
            if first_audio_deadline is not None:
                deadlines.append((first_audio_deadline, 0, STT_FIRST_AUDIO_TIMEOUT))
            slow = self._too_slow_deadline(clock)
            if slow is not None:
                deadlines.append((slow, 1, STT_INPUT_TOO_SLOW))
            msg = await self._receive(deadlines)
            if msg is None:
                return
            if msg.type == WSMsgType.BINARY:
                data: bytes = msg.data
                conn.record_in("audio", {"bytes": len(data)})
                if not data:
                    if await conn.check_faults():
                        return
                    if settings.stt_empty_binary_finishes:
                        await self._finish(source, clock)
                        return
                    continue
                idle_deadline = self.loop.time() + idle_s
                first_audio_deadline = None
                self.audio_bytes += len(data)
                if self.audio_bytes > settings.stt_max_audio_bytes:
                    raise ProtocolError(400, STT_TOO_MUCH_AUDIO)
                if self.pace_anchor is None:
                    self.pace_anchor = (self.loop.time(), clock.ms)
                pcm = clock.feed(data)
                capped = clock.ms > cap_ms
                if capped:
                    keep = clock.frames_for_ms(cap_ms)
                    pcm = pcm[: max(0, pcm.size - (clock.frames - keep))]
                    clock.frames = keep
                conn.audio_ms = clock.ms
                if await conn.check_faults():
                    return
                if not await self._send_all(source.on_audio(pcm, clock.sample_rate, clock.ms)):
                    return
                if capped:
                    await self._send_all(source.on_finish(clock.ms))
                    raise ProtocolError(400, STT_AUDIO_TOO_LONG, "max_duration_reached")
                continue

            text: str = msg.data
            if text == "":
                conn.record_in("finish")
                if await conn.check_faults():
                    return
                await self._finish(source, clock)
                return
            message = self._parse_control(text)
            kind = message.get("type")
            if kind == "keepalive":
                conn.record_in("keepalive", message)
                idle_deadline = self.loop.time() + idle_s
                self._rebase_pace(clock)  # a client pausing with keepalives is not too slow
                if await conn.check_faults():
                    return
            elif kind == "finalize":
                conn.record_in("finalize", message)
                if await conn.check_faults():
                    return
                silence = message.get("trailing_silence_ms")
                if silence is not None and (
                    not isinstance(silence, int) or isinstance(silence, bool) or silence < 0
                ):
                    raise ProtocolError(400, STT_CONTROL_MALFORMED)
                self._rebase_pace(clock)
                if not await self._send_all(source.on_finalize(clock.ms)):
                    return
            else:
                # Any other type, a missing one, or a second config.
                conn.record_in("invalid", message)
                raise ProtocolError(400, STT_CONTROL_INVALID_TYPE)

    def _too_slow_deadline(self, clock: AudioClock) -> float | None:
        """When the audio clock will have fallen too far behind the wall clock (scale > 0 only)."""
        settings = self.settings
        if self.pace_anchor is None or settings.time_scale <= 0:
            return None
        if settings.stt_input_too_slow_margin_s <= 0:
            return None
        wall0, audio0_ms = self.pace_anchor
        ahead_s = (clock.ms - audio0_ms) / 1000.0 + settings.stt_input_too_slow_margin_s
        return wall0 + settings.timer(ahead_s)

    def _rebase_pace(self, clock: AudioClock) -> None:
        if self.pace_anchor is not None:
            self.pace_anchor = (self.loop.time(), clock.ms)

    async def _receive(self, deadlines: list[tuple[float, int, str]]) -> WSMessage | None:
        """The next data frame; None when the client closed or vanished; 408 at the earliest
        deadline, with that timer's published message."""
        conn = self.conn
        deadline, _, message = min(deadlines)
        try:
            async with asyncio.timeout_at(deadline):
                msg = await conn.ws.receive()
        except TimeoutError:
            raise ProtocolError(408, message) from None
        if msg.type in (WSMsgType.TEXT, WSMsgType.BINARY):
            return msg
        if msg.type == WSMsgType.ERROR:
            # e.g. a frame over max_msg_size: aiohttp has already closed the socket (1009).
            conn.record_in("invalid", {"error": str(conn.ws.exception())})
            logger.info("%s: websocket error: %s", conn.id, conn.ws.exception())
        else:
            logger.debug("%s: client closed the connection", conn.id)
        return None

    async def _read_config(self, msg: WSMessage) -> SttConfig | None:
        """Parse, authenticate, validate and admit the first frame; None if a fault ended it."""
        conn, settings = self.conn, self.settings
        if msg.type == WSMsgType.BINARY:
            conn.record_in("invalid", {"bytes": len(msg.data)})
            raise ProtocolError(400, STT_START_NOT_TEXT)
        try:
            raw = json.loads(msg.data)
        except (ValueError, RecursionError):  # RecursionError: nested too deep to parse
            conn.record_in("invalid", {"chars": len(msg.data)})
            raise ProtocolError(400, STT_START_MALFORMED) from None
        if not isinstance(raw, dict):
            conn.record_in("invalid", {"chars": len(msg.data)})
            raise ProtocolError(400, STT_START_MALFORMED)
        if "type" in raw and "model" not in raw:
            conn.record_in("invalid", raw)
            raise ProtocolError(400, STT_START_MALFORMED)
        conn.record_in("config", raw)
        conn.config = journal_view(raw)[0]  # keys redacted, as the journal keeps it
        if await conn.check_faults():
            return None

        config_key = raw.get("api_key")
        if conn.key is None:
            if config_key is None:
                raise ProtocolError(401, STT_MISSING_KEY)
            if not isinstance(config_key, str):
                raise ProtocolError(401, STT_INVALID_KEY)
            if not settings.key_allowed(config_key):
                raise ProtocolError(401, bad_key_message(config_key))
            conn.key = config_key
        elif config_key is not None:
            raise ProtocolError(
                400, "API key sent both at the handshake and in the configuration message."
            )

        config = validate_config(
            raw,
            context_max_chars=settings.stt_context_max_chars,
            catalogue=models.load(settings.models_file),
        )

        counts = self.sessions_by_key
        if counts[conn.key] >= settings.stt_max_concurrent_per_key:
            raise ProtocolError(429, STT_CONCURRENCY_PROJECT, "limit_exceeded")
        counts[conn.key] += 1
        self.counted_key = conn.key
        return config

    def _parse_control(self, text: str) -> dict[str, Any]:
        try:
            message = json.loads(text)
        except (ValueError, RecursionError):
            self.conn.record_in("invalid", {"chars": len(text)})
            raise ProtocolError(400, STT_CONTROL_MALFORMED) from None
        if not isinstance(message, dict):
            self.conn.record_in("invalid", {"chars": len(text)})
            raise ProtocolError(400, STT_CONTROL_MALFORMED)
        return message

    async def _send_all(self, frames: list[Frame]) -> bool:
        for frame in frames:
            self.total_ms = max(self.total_ms, int(frame.get("total_audio_proc_ms", 0)))
            # Noted before it is sent (and journaled): whoever sees the result in the journal
            # also sees it in the connection's state.
            self.conn.note_result(frame)
            if not await self.conn.send_json(frame, kind="result"):
                return False
        return True

    async def _finish(self, source: ResultSource, clock: AudioClock) -> None:
        """Remaining finals, then ``finished: true``, then a normal close.

        A stream that ends before any audio arrived gets 400 "No audio received." instead."""
        if self.audio_bytes == 0:
            raise ProtocolError(400, STT_NO_AUDIO)
        if not await self._send_all(source.on_finish(clock.ms)):
            return
        total = max(self.total_ms, int(clock.ms))
        finished = {
            "tokens": [],
            "final_audio_proc_ms": total,
            "total_audio_proc_ms": total,
            "finished": True,
        }
        if await self.conn.send_json(finished, kind="finished"):
            self._release_key()  # before the close frame, so a client may reconnect at once
            await self.conn.close(1000)

    def _release_key(self) -> None:
        key, self.counted_key = self.counted_key, None
        if key is None:
            return
        counts = self.sessions_by_key
        counts[key] -= 1
        if counts[key] <= 0:
            del counts[key]
