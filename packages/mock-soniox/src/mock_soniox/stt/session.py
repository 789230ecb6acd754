"""STT endpoint (/transcribe-websocket): one session per connection.

The session reads the config (first text frame), runs the audio clock over binary frames and
sends the result frames a :class:`ResultSource` produces. Where tokens come from is pluggable:
``MockState.stt_source_factory(conn, config)`` returns the source for one session (the default
is the synthetic transcript of :mod:`mock_soniox.stt_synth`; recorded fixtures plug in here).

Timers are deadlines around each receive (``asyncio.timeout_at``), so the session owns no tasks."""

from __future__ import annotations

import asyncio
import json
import logging
from collections import Counter
from typing import Any

from aiohttp import WSMessage, WSMsgType

from ..connection import Connection
from ..errors import MSG_BAD_KEY, MSG_LIMIT, MSG_MISSING_KEY, MSG_TIMEOUT, ProtocolError
from ..sanitize import for_message
from .clock import AudioClock
from .config import SttConfig, validate_config
from .source import ResultSource, SourceFactory

logger = logging.getLogger("mock_soniox")

Frame = dict[str, Any]


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
        msg = await self._receive(config_deadline)
        if msg is None:
            return
        config = await self._read_config(msg)
        if config is None:
            return
        clock = AudioClock(config)
        source = self.sources(conn, config)
        cap_ms = settings.timer(settings.stt_max_session_s) * 1000.0
        idle_s = settings.timer(settings.stt_idle_timeout_s)
        idle_deadline = self.loop.time() + idle_s

        while True:
            msg = await self._receive(idle_deadline)
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
                    minutes = settings.stt_max_session_s / 60
                    raise ProtocolError(
                        400,
                        f"Maximum audio duration ({minutes:g} minutes) reached.",
                        "max_duration_reached",
                    )
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
                    raise ProtocolError(400, "trailing_silence_ms must be a non-negative integer.")
                if not await self._send_all(source.on_finalize(clock.ms)):
                    return
            else:
                conn.record_in("invalid", message)
                if kind is None and "model" in message:
                    raise ProtocolError(400, "Configuration already received; send it only once.")
                raise ProtocolError(400, f"Unknown message type: {for_message(kind)!r}.")

    async def _receive(self, deadline: float) -> WSMessage | None:
        """The next data frame; None when the client closed or vanished; 408 at the deadline."""
        conn = self.conn
        try:
            async with asyncio.timeout_at(deadline):
                msg = await conn.ws.receive()
        except TimeoutError:
            raise ProtocolError(408, MSG_TIMEOUT) from None
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
            raise ProtocolError(400, "Audio received before the configuration message.")
        try:
            raw = json.loads(msg.data)
        except (ValueError, RecursionError):  # RecursionError: nested too deep to parse
            conn.record_in("invalid", {"chars": len(msg.data)})
            raise ProtocolError(400, "Invalid JSON in the configuration message.") from None
        if not isinstance(raw, dict):
            conn.record_in("invalid", {"chars": len(msg.data)})
            raise ProtocolError(400, "The configuration message must be a JSON object.")
        if "type" in raw and "model" not in raw:
            conn.record_in("invalid", raw)
            raise ProtocolError(400, "Expected a configuration message before any other message.")
        conn.record_in("config", raw)
        if await conn.check_faults():
            return None

        config_key = raw.get("api_key")
        if conn.key is None:
            if config_key is None:
                raise ProtocolError(401, MSG_MISSING_KEY)
            if not isinstance(config_key, str) or not settings.key_allowed(config_key):
                raise ProtocolError(401, MSG_BAD_KEY)
            conn.key = config_key
        elif config_key is not None:
            raise ProtocolError(
                400, "API key sent both at the handshake and in the configuration message."
            )

        config = validate_config(raw, context_max_chars=settings.stt_context_max_chars)

        counts = self.sessions_by_key
        if counts[conn.key] >= settings.stt_max_concurrent_per_key:
            raise ProtocolError(429, MSG_LIMIT, "limit_exceeded")
        counts[conn.key] += 1
        self.counted_key = conn.key
        return config

    def _parse_control(self, text: str) -> dict[str, Any]:
        try:
            message = json.loads(text)
        except (ValueError, RecursionError):
            self.conn.record_in("invalid", {"chars": len(text)})
            raise ProtocolError(400, "Invalid JSON message.") from None
        if not isinstance(message, dict):
            self.conn.record_in("invalid", {"chars": len(text)})
            raise ProtocolError(400, "Messages must be JSON objects.")
        return message

    async def _send_all(self, frames: list[Frame]) -> bool:
        for frame in frames:
            self.total_ms = max(self.total_ms, int(frame.get("total_audio_proc_ms", 0)))
            if not await self.conn.send_json(frame, kind="result"):
                return False
        return True

    async def _finish(self, source: ResultSource, clock: AudioClock) -> None:
        """Remaining finals, then ``finished: true``, then a normal close."""
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
