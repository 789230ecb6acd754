"""One live websocket of either endpoint: sending, journaling, closing."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from .auth import HandshakeAuth
from .errors import ProtocolError, error_frame, from_exception, stt_error_frame
from .faults import ConnectionFaults, StreamFault
from .journal import Journal
from .sanitize import for_message, journal_view
from .settings import Settings

logger = logging.getLogger("mock_soniox")

_conn_ids = itertools.count(1)
# How often a blocked sender looks at the client's write buffer again.
_WRITABLE_POLL_S = 0.01


# What the admin API keeps of texts a client sent (the journal has every frame).
MAX_KEPT_TEXT = 2000


@dataclass
class StreamInfo:
    """What the admin API lists about one TTS stream; its producer keeps it up to date."""

    stream_id: str
    model: str
    voice: str
    started: float = field(default_factory=time.monotonic)
    text: str = ""  # received so far (the last MAX_KEPT_TEXT characters)
    text_chars: int = 0
    text_end: bool = False
    audio_frames: int = 0
    audio_bytes: int = 0
    audio_end: bool = False
    match: str | None = None  # the fixture it replays, "no match", or None (not decided yet)

    @property
    def state(self) -> str:
        """``waiting`` for text, ``speaking`` while text may still come, ``finishing`` after
        ``text_end``, ``done`` once ``audio_end`` went out."""
        if self.audio_end:
            return "done"
        if self.text_end:
            return "finishing"
        return "speaking" if self.audio_frames else "waiting"

    def add_text(self, text: str, text_end: bool) -> None:
        self.text = (self.text + text)[-MAX_KEPT_TEXT:]
        self.text_chars += len(text)
        self.text_end = self.text_end or text_end

    def add_audio(self, size: int, audio_end: bool) -> None:
        self.audio_frames += 1
        self.audio_bytes += size
        self.audio_end = self.audio_end or audio_end


def new_connection_id(endpoint: str) -> str:
    """Ids are unique across both endpoints; refused handshakes take one too."""
    return f"{endpoint}-{next(_conn_ids)}"


class Connection:
    """A client's websocket, with the settings in force when it opened."""

    def __init__(
        self,
        endpoint: str,
        request: web.Request,
        ws: MutableWebSocketResponse,
        auth: HandshakeAuth,
        *,
        settings: Settings,
        journal: Journal,
    ) -> None:
        self.id = new_connection_id(endpoint)
        self.endpoint = endpoint
        self.request = request
        self.ws = ws
        self.auth = auth
        self.settings = settings
        self.journal = journal
        self.key: str | None = auth.key
        self.opened = time.monotonic()
        self.streams: dict[str, StreamInfo] = {}
        self.fixture: str | None = None
        # STT, for the admin API: the session config (as journaled), the last result's text and
        # the final transcript so far (its last MAX_KEPT_TEXT characters).
        self.config: Any = None
        self.last_result: dict[str, Any] | None = None
        self.transcript = ""
        self.no_match = False  # replay found no fixture: the synthetic source serves
        # Progress the handlers keep up to date; the fault engine triggers on them.
        self.frames_received = 0
        self.audio_ms = 0.0  # STT: audio received so far, by the audio clock
        self.streams_opened = 0  # TTS: streams started on this connection
        self.faults = ConnectionFaults.none()  # armed at the handshake (server/app.py)
        self.aborted = False

    # --- Hooks of the fault engine (faults/engine.py). Handlers call them; no-ops by default. ---

    async def check_faults(self) -> bool:
        """Called by a handler after each client frame; True when a fault ended the connection."""
        return await self.faults.check(self)

    def stream_faults(self, index: int) -> list[StreamFault]:
        """Faults armed for the ``index``-th stream (1-based) opened on this TTS connection."""
        return self.faults.stream_faults(self, index)

    def mute(self) -> None:
        """Stop answering pings (a ``stall`` fault): the client's heartbeat must notice."""
        self.ws.muted = True

    @property
    def stalled(self) -> bool:
        """A ``stall`` fault fired: nothing more goes out, not even a pong."""
        return self.faults.stall is not None

    @property
    def closed(self) -> bool:
        return self.ws.closed

    def note_match(self, fixture: str | None, *, stream_id: str | None = None) -> None:
        """Replay picked ``fixture`` (None: nothing matched) for the connection or a stream."""
        if stream_id is not None:
            info = self.streams.get(stream_id)
            if info is not None:
                info.match = fixture or "no match"
            return
        self.fixture = fixture
        self.no_match = fixture is None

    def note_result(self, frame: dict[str, Any]) -> None:
        """An STT result went out: keep its text, and the finals on the transcript."""
        tokens = frame.get("tokens")
        if not isinstance(tokens, list):
            return
        texts = [t for t in tokens if isinstance(t, dict) and isinstance(t.get("text"), str)]
        finals = "".join(t["text"] for t in texts if t.get("is_final"))
        self.transcript = (self.transcript + finals)[-MAX_KEPT_TEXT:]
        self.last_result = {
            "text": "".join(t["text"] for t in texts)[-MAX_KEPT_TEXT:],
            "final_audio_proc_ms": frame.get("final_audio_proc_ms"),
            "total_audio_proc_ms": frame.get("total_audio_proc_ms"),
        }

    def record_in(self, kind: str, data: Any = None, *, stream_id: str | None = None) -> None:
        """Journal one client frame (handlers call it for every frame they receive)."""
        self.frames_received += 1
        self.journal.record(
            self.id, self.endpoint, "c2s", kind, data, stream_id=stream_id, fixture=self.fixture
        )

    def record_event(
        self, kind: str, data: Any = None, *, stream_id: str | None = None, fault: str | None = None
    ) -> None:
        self.journal.record(
            self.id,
            self.endpoint,
            "event",
            kind,
            data,
            stream_id=stream_id,
            fixture=self.fixture,
            fault=fault,
        )

    async def send_json(
        self, frame: dict[str, Any], *, kind: str, fault: str | None = None
    ) -> bool:
        """Send one JSON text frame; False when the client is already gone."""
        if self.ws.closed or self.aborted:
            return False
        if self.stalled:
            return True  # a stalled server sends nothing; the handler carries on unaware
        delay = self.faults.send_delay_s(self)
        if delay > 0:
            await asyncio.sleep(delay)
            if self.ws.closed or self.aborted:
                return False
            fault = fault or (self.faults.delay.text if self.faults.delay else None)
        if self.journal.enabled:
            if kind == "audio" and frame.keys() == _PLAIN_AUDIO_KEYS:
                self._journal_audio(frame, fault)  # every TTS audio frame: kept cheap
            else:
                stream_id = frame.get("stream_id")
                self.journal.record(
                    self.id,
                    self.endpoint,
                    "s2c",
                    kind,
                    _journal_view(frame),
                    stream_id=stream_id if isinstance(stream_id, str) else None,
                    fixture=self.fixture,
                    fault=fault,
                )
        if not self.writable_now() and not await self.writable():
            return False
        try:
            await self.ws.send_str(json.dumps(frame, separators=(",", ":")))
        except (ConnectionError, RuntimeError):
            return False
        return True

    def _journal_audio(self, frame: dict[str, Any], fault: str | None) -> None:
        """An audio frame without timestamps, journaled without walking it: its payload as its
        size and its ``stream_id`` (the one value the client chose) through the redaction
        every journaled string gets."""
        safe_id, size = journal_view(frame["stream_id"])
        audio = frame["audio"]
        view = {
            "stream_id": safe_id,
            "audio": {"bytes": len(audio) * 3 // 4 - audio[-2:].count("=")},
            "audio_end": frame["audio_end"],
        }
        self.journal.record_view(
            self.id,
            self.endpoint,
            "s2c",
            "audio",
            view,
            size + _AUDIO_VIEW_BYTES,
            stream_id=safe_id,
            fixture=self.fixture,
            fault=fault,
        )

    def writable_now(self) -> bool:
        """True when a frame may go out at once: open, and the write buffer under its limit."""
        if self.ws.closed or self.aborted:
            return False
        transport = self.request.transport
        return (
            transport is None
            or transport.get_write_buffer_size() <= self.settings.send_buffer_bytes
        )

    async def writable(self) -> bool:
        """Wait while the client's write buffer is over ``send_buffer_bytes``; False if cut off.

        A client that leaves it full for ``send_timeout_s`` has stopped reading: it is cut off,
        so it holds neither the connection nor memory. The wait is ours, not aiohttp's: its drain
        waiter is shared by every sender on a socket, so cancelling one blocked send (a stream
        reaching its cap) would cancel them all. Cancelling this wait is harmless.
        """
        transport = self.request.transport
        limit = self.settings.send_buffer_bytes
        if transport is None or transport.get_write_buffer_size() <= limit:
            return not (self.ws.closed or self.aborted)
        loop = asyncio.get_running_loop()
        give_up = loop.time() + self.settings.timer(self.settings.send_timeout_s)
        while transport.get_write_buffer_size() > limit:
            if self.aborted or transport.is_closing():
                return False
            if loop.time() >= give_up:
                logger.info("%s: the client stopped reading; closing", self.id)
                self.record_event("send_timeout", {"seconds": self.settings.send_timeout_s})
                self.abort()
                return False
            await asyncio.sleep(_WRITABLE_POLL_S)
        return not (self.ws.closed or self.aborted)

    async def send_error(
        self,
        code: int,
        message: str | None = None,
        error_type: str | None = None,
        *,
        stream_id: str | None = None,
    ) -> bool:
        return await self.send_json(
            error_frame(code, message, error_type, stream_id=stream_id), kind="error"
        )

    async def fail(self, exc: ProtocolError, *, fault: str | None = None) -> None:
        """Connection-level error: the error frame, one log line, then a normal close.

        STT error frames carry ``"tokens": []`` as the STT reference shows them; TTS ones do not."""
        message = for_message(exc.message, 300)
        logger.info("%s: %d %s: %s", self.id, exc.code, exc.error_type, message)
        frame = stt_error_frame(exc) if self.endpoint == "stt" else from_exception(exc)
        await self.send_json(frame, kind="error", fault=fault)
        await self.close(1000, fault=fault)

    async def close(
        self, code: int = 1000, message: bytes = b"", *, fault: str | None = None
    ) -> None:
        if self.aborted:
            return
        if self.stalled and not self.ws.closed:
            self.abort()  # a stalled server sends no close frame either
            return
        if not self.ws.closed:
            self.record_event("close", {"code": code}, fault=fault)
            with contextlib.suppress(ConnectionError, RuntimeError):
                await self.ws.close(code=code, message=message)

    def abort(self) -> None:
        """Cut TCP without a close frame: the client sees 1006."""
        if self.aborted:
            return
        self.aborted = True
        self.record_event("abort")
        transport = self.request.transport
        if transport is not None:
            transport.abort()


# An audio frame the journal may keep without a walk, and what its view costs besides the id.
_PLAIN_AUDIO_KEYS = frozenset({"stream_id", "audio", "audio_end"})
_AUDIO_VIEW_BYTES = 64 + (50 + 9) + (50 + 5) + 64 + (50 + 5) + 24 + (50 + 9) + 24


def _journal_view(frame: dict[str, Any]) -> dict[str, Any]:
    """Audio payloads are journaled as their decoded size, not their bytes."""
    audio = frame.get("audio")
    if not isinstance(audio, str):
        return frame
    view = dict(frame)
    view["audio"] = {"bytes": len(audio) * 3 // 4 - audio[-2:].count("=")}
    return view


class MutableWebSocketResponse(web.WebSocketResponse):
    """A server websocket that can stop answering pings once a ``stall`` fault fires."""

    muted = False

    async def pong(self, message: bytes = b"") -> None:
        if not self.muted:
            await super().pong(message)
