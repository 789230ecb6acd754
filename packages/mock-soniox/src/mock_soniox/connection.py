"""One live websocket of either endpoint: sending, journaling, closing."""

from __future__ import annotations

import contextlib
import itertools
import json
import logging
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiohttp import web

from .auth import HandshakeAuth
from .errors import ProtocolError, error_frame, from_exception
from .settings import Settings

if TYPE_CHECKING:
    from .app import MockState

logger = logging.getLogger("mock_soniox")

_conn_ids = itertools.count(1)


@dataclass(frozen=True)
class StreamFault:
    """A fault armed for one TTS stream: ``error`` (code), ``no_audio_end`` or ``slow`` (rtf)."""

    kind: str
    code: int | None = None
    rtf: float | None = None
    spec: str = ""


@dataclass
class StreamInfo:
    """What the admin API lists about one TTS stream."""

    stream_id: str
    model: str
    voice: str
    started: float = field(default_factory=time.monotonic)


class Connection:
    """A client's websocket, with the settings in force when it opened."""

    def __init__(
        self,
        state: MockState,
        endpoint: str,
        request: web.Request,
        ws: web.WebSocketResponse,
        auth: HandshakeAuth,
    ) -> None:
        self.id = f"{endpoint}-{next(_conn_ids)}"
        self.state = state
        self.endpoint = endpoint
        self.request = request
        self.ws = ws
        self.auth = auth
        self.settings: Settings = state.settings
        self.key: str | None = auth.key
        self.opened = time.monotonic()
        self.streams: dict[str, StreamInfo] = {}
        self.fixture: str | None = None
        # Progress the handlers keep up to date; the fault engine triggers on them.
        self.frames_received = 0
        self.audio_ms = 0.0  # STT: audio received so far, by the audio clock
        self.streams_opened = 0  # TTS: streams started on this connection

    # --- Hooks of the fault engine (faults.py). Handlers call them; they do nothing by default. ---

    async def check_faults(self) -> bool:
        """Called by a handler after each client frame; True when a fault ended the connection."""
        return False

    def stream_faults(self, index: int) -> list[StreamFault]:
        """Faults armed for the ``index``-th stream (1-based) opened on this TTS connection."""
        return []

    @property
    def closed(self) -> bool:
        return self.ws.closed

    def record_in(self, kind: str, data: Any = None, *, stream_id: str | None = None) -> None:
        """Journal one client frame (handlers call it for every frame they receive)."""
        self.frames_received += 1
        self.state.journal.record(
            self.id, self.endpoint, "c2s", kind, data, stream_id=stream_id, fixture=self.fixture
        )

    def record_event(self, kind: str, data: Any = None, *, stream_id: str | None = None) -> None:
        self.state.journal.record(
            self.id, self.endpoint, "event", kind, data, stream_id=stream_id, fixture=self.fixture
        )

    async def send_json(self, frame: dict[str, Any], *, kind: str) -> bool:
        """Send one JSON text frame; False when the client is already gone."""
        if self.ws.closed:
            return False
        stream_id = frame.get("stream_id")
        self.state.journal.record(
            self.id,
            self.endpoint,
            "s2c",
            kind,
            _journal_view(frame),
            stream_id=stream_id if isinstance(stream_id, str) else None,
            fixture=self.fixture,
        )
        try:
            await self.ws.send_str(json.dumps(frame, separators=(",", ":")))
        except (ConnectionError, RuntimeError):
            return False
        return True

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

    async def fail(self, exc: ProtocolError) -> None:
        """Connection-level error: the error frame, one log line, then a normal close."""
        logger.info("%s: %d %s: %s", self.id, exc.code, exc.error_type, exc.message)
        await self.send_json(from_exception(exc), kind="error")
        await self.close(1000)

    async def close(self, code: int = 1000, message: bytes = b"") -> None:
        if not self.ws.closed:
            self.record_event("close", {"code": code})
            with contextlib.suppress(ConnectionError, RuntimeError):
                await self.ws.close(code=code, message=message)

    def abort(self) -> None:
        """Cut TCP without a close frame: the client sees 1006."""
        self.record_event("abort")
        transport = self.request.transport
        if transport is not None:
            transport.abort()


def _journal_view(frame: dict[str, Any]) -> dict[str, Any]:
    """Audio payloads are journaled as their decoded size, not their bytes."""
    audio = frame.get("audio")
    if not isinstance(audio, str):
        return frame
    view = dict(frame)
    view["audio"] = {"bytes": len(audio) * 3 // 4 - audio[-2:].count("=")}
    return view
