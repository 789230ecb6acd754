"""TTS endpoint (/tts-websocket): up to five concurrent streams per connection (protocol PART B).

The session reads client frames and routes them by ``stream_id``; each stream owns one producer
task that waits for speakable text, paces audio chunks, enforces the stream's timers and ends
with ``terminated``. Whoever removes a stream from the registry owns its ending, so a stream ends
exactly once and a late ``text_end`` gets "not found", as on the service."""

from __future__ import annotations

import asyncio
import json
import logging
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType

from .. import models
from ..connection import Connection, StreamInfo
from ..errors import MSG_BAD_KEY, MSG_MISSING_KEY, ProtocolError, from_exception
from ..faults.engine import StreamFault
from .config import (
    CANCEL,
    CONFIG,
    KEEP_ALIVE,
    MSG_BAD_STREAM_ID,
    StreamConfig,
    message_kind,
    not_found,
    parse_stream_config,
    parse_text,
    stream_id_of,
)
from .source import TtsSourceFactory
from .stream import TtsStream

logger = logging.getLogger("mock_soniox")

MSG_KEY_CONNECTIONS = "Maximum number of concurrent connections ({}) reached."
MSG_KEY_STREAMS = "Maximum number of concurrent streams ({}) reached for this API key."


@dataclass
class TtsKeyUsage:
    """Live TTS connections and streams per key, across connections (the per-key limits).

    The limits page says 3 per key but its two versions disagree on what counts (connections
    or streams), so both limits are settings and off by default."""

    connections: Counter[str] = field(default_factory=Counter)
    streams: Counter[str] = field(default_factory=Counter)

    @staticmethod
    def drop(counts: Counter[str], key: str) -> None:
        counts[key] -= 1
        if counts[key] <= 0:
            del counts[key]


class TtsSession:
    """One TTS websocket: the stream registry and the read loop."""

    def __init__(
        self, conn: Connection, sources: TtsSourceFactory, usage: TtsKeyUsage | None = None
    ) -> None:
        self.conn = conn
        self.sources = sources
        self.usage = usage or TtsKeyUsage()
        self.counted_key: str | None = None  # the key this connection counts against
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
        if self.counted_key is not None:
            self.usage.drop(self.usage.streams, self.counted_key)
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
            if self.conn.key is not None and not self._admit(self.conn.key):
                await self.conn.fail(self._connections_error())
                return
            await self._read_loop()
        finally:
            key, self.counted_key = self.counted_key, None
            if key is not None:
                self.usage.drop(self.usage.connections, key)
                for _ in self.streams:
                    self.usage.drop(self.usage.streams, key)
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
        msg = _parse_json(data)
        if not isinstance(msg, dict):
            conn.record_in("invalid", data)  # the journal redacts and truncates it
            reason = "not valid JSON" if msg is _INVALID else "expected a JSON object"
            await conn.fail(ProtocolError(400, f"Invalid message: {reason}."))
            return True
        kind = message_kind(msg)
        stream_id = stream_id_of(msg)
        conn.record_in(kind, msg, stream_id=stream_id)
        if kind == KEEP_ALIVE:
            return False
        if stream_id is None:
            missing = msg.get("stream_id") is None
            reason = "Missing required field: stream_id" if missing else MSG_BAD_STREAM_ID
            await conn.fail(ProtocolError(400, reason))
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
        limit = self.settings.tts_max_pending_chars
        if len(stream.pending) + len(text.text) > limit:
            message = (
                f"Too much text waiting to be spoken in this stream (limit {limit} characters)."
            )
            await self.kill(stream, ProtocolError(400, message))
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
            config = parse_stream_config(msg, models.load(self.settings.models_file))
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
        per_key = self.settings.tts_max_streams_per_key
        key = self.counted_key
        if key is not None and per_key > 0 and self.usage.streams[key] >= per_key:
            error = ProtocolError(429, MSG_KEY_STREAMS.format(per_key), "limit_exceeded")
            await self.end_stream(stream_id, error)
            return False
        conn.streams_opened += 1
        faults = conn.stream_faults(conn.streams_opened)
        error_fault = _first(faults, "error")
        if error_fault is not None:
            error = ProtocolError(error_fault.code or 500, "")
            await self.end_stream(stream_id, error, fault=error_fault.spec or None)
            return False
        slow = _first(faults, "slow")
        # Listed before its source is picked, so replay can say which fixture it matched.
        info = conn.streams[stream_id] = StreamInfo(stream_id, config.model, config.voice)
        try:
            source = self.sources(conn, config)
        except BaseException:
            conn.streams.pop(stream_id, None)
            raise
        stream = TtsStream(self, config, source, slow.rtf if slow else None, info)
        stream.no_audio_end = _first(faults, "no_audio_end") is not None
        self.streams[stream_id] = stream
        if key is not None:
            self.usage.streams[key] += 1
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
        if self.counted_key is None and not self._admit(config.api_key):
            raise self._connections_error()
        self.authenticated = True

    def _admit(self, key: str) -> bool:
        """Count this connection against ``key``; False when the per-key limit is reached."""
        limit = self.settings.tts_max_connections_per_key
        if limit > 0 and self.usage.connections[key] >= limit:
            return False
        self.usage.connections[key] += 1
        self.counted_key = key
        return True

    def _connections_error(self) -> ProtocolError:
        limit = self.settings.tts_max_connections_per_key
        return ProtocolError(429, MSG_KEY_CONNECTIONS.format(limit), "limit_exceeded")


_INVALID = object()


def _parse_json(data: str) -> Any:
    """The frame's JSON, or ``_INVALID`` (also for nesting too deep for the parser)."""
    try:
        return json.loads(data)
    except (ValueError, RecursionError):
        return _INVALID


def _first(faults: list[StreamFault], kind: str) -> StreamFault | None:
    return next((f for f in faults if f.kind == kind), None)


async def run_session(
    conn: Connection, sources: TtsSourceFactory, usage: TtsKeyUsage | None = None
) -> None:
    """Serve one TTS connection; ``sources`` picks each stream's speech (fixture or synthetic);
    ``usage`` is shared by every connection (the per-key limits)."""
    await TtsSession(conn, sources, usage).run()
