"""What a conformance test sent and saw, written down so two targets can be compared (drift).

A test that talks to its target through :meth:`Target.session` gets websockets of class
:class:`ObservedWebSocket`; while an :class:`Observation` is active (the pytest plugin activates
one per test when ``MOCK_SONIOX_OBSERVE`` names a file), every frame either way is recorded:
JSON frames as JSON, text as text, binary frames as their length, TTS audio as its length, the
close as its code, each with the milliseconds since the socket opened. Everything is scrubbed
with :func:`mock_soniox.sanitize.redact` before it is kept: keys are never recorded.

Tests run one at a time in a pytest process, so the active observation is one module-level slot.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from ..sanitize import redact, redact_text

MAX_TEXT_CHARS = 512  # a non-JSON text frame is kept up to this length


@dataclass
class Socket:
    """One websocket's frames, in order."""

    path: str
    opened: float = field(default_factory=time.monotonic)
    events: list[dict[str, Any]] = field(default_factory=list)

    def add(self, direction: str, **what: Any) -> None:
        t_ms = round((time.monotonic() - self.opened) * 1000, 1)
        self.events.append({"dir": direction, "t_ms": t_ms, **what})

    def as_json(self) -> dict[str, Any]:
        return {"path": self.path, "events": self.events}


@dataclass
class Observation:
    """One test's sockets and notes (facts the test states outright, e.g. which models served)."""

    sockets: list[Socket] = field(default_factory=list)
    notes: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        notes, _ = redact(self.notes)
        return {"sockets": [s.as_json() for s in self.sockets], "notes": notes}


_active: Observation | None = None


def activate(observation: Observation | None) -> None:
    """Make ``observation`` the one frames are recorded into (``None``: stop recording)."""
    global _active
    _active = observation


def active() -> Observation | None:
    return _active


def note(key: str, value: Any) -> None:
    """Record a fact under ``key`` for the drift report (a no-op when nothing observes)."""
    if _active is not None:
        _active.notes[key] = value


def text_event(text: str) -> dict[str, Any]:
    """A text frame as recorded: parsed and scrubbed when it is JSON, else scrubbed text."""
    try:
        parsed = json.loads(text)
    except ValueError:
        cleaned, _ = redact_text(text[:MAX_TEXT_CHARS])
        return {"text": cleaned}
    if isinstance(parsed, dict) and isinstance(parsed.get("audio"), str):
        parsed = {**parsed, "audio": f"<{len(parsed['audio'])} base64 chars>"}
    scrubbed, _ = redact(parsed)
    return {"json": scrubbed}


class ObservedWebSocket(aiohttp.ClientWebSocketResponse):
    """A client websocket that records its frames into the active observation, if any."""

    _observed: Socket | None = None

    def _socket(self) -> Socket | None:
        observation = _active
        if observation is None:
            return None
        if self._observed is None or self._observed not in observation.sockets:
            self._observed = Socket(path=self._response.url.path)
            observation.sockets.append(self._observed)
        return self._observed

    async def send_str(self, data: str, compress: int | None = None) -> None:
        if socket := self._socket():
            socket.add("c2s", **text_event(data))
        await super().send_str(data, compress)

    async def send_bytes(self, data: bytes, compress: int | None = None) -> None:
        if socket := self._socket():
            socket.add("c2s", binary=len(data))
        await super().send_bytes(data, compress)

    async def receive(
        self,
        timeout: float | None = None,  # noqa: ASYNC109 (aiohttp's own signature)
    ) -> aiohttp.WSMessage:
        msg = await super().receive(timeout)
        if socket := self._socket():
            if msg.type == aiohttp.WSMsgType.TEXT:
                socket.add("s2c", **text_event(msg.data))
            elif msg.type == aiohttp.WSMsgType.BINARY:
                socket.add("s2c", binary=len(msg.data))
            elif msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED):
                if not socket.events or "close" not in socket.events[-1]:
                    socket.add("s2c", close=self.close_code)
            elif msg.type == aiohttp.WSMsgType.ERROR:
                socket.add("s2c", error=type(msg.data).__name__)
        return msg
