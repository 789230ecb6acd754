"""Firing armed faults on one connection as its progress counters reach their triggers.

The engine acts on a connection only through :class:`FaultTarget`, so it never imports it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from ..errors import ProtocolError
from ..settings import Settings
from .spec import CONNECTION_FAULTS, STREAM_FAULTS, FaultSpec

logger = logging.getLogger("mock_soniox")


@dataclass(frozen=True)
class StreamFault:
    """A fault armed for one TTS stream: ``error`` (code), ``no_audio_end`` or ``slow`` (rtf)."""

    kind: str
    code: int | None = None
    rtf: float | None = None
    spec: str = ""


class FaultTarget(Protocol):
    """What the engine needs of a connection (:class:`mock_soniox.connection.Connection`)."""

    id: str
    endpoint: str
    opened: float
    frames_received: int
    audio_ms: float
    streams_opened: int

    @property
    def settings(self) -> Settings: ...

    @property
    def closed(self) -> bool: ...

    def record_event(
        self, kind: str, data: Any = None, *, stream_id: str | None = None, fault: str | None = None
    ) -> None: ...

    def abort(self) -> None: ...

    def mute(self) -> None: ...

    async def close(
        self, code: int = 1000, message: bytes = b"", *, fault: str | None = None
    ) -> None: ...

    async def fail(self, exc: ProtocolError, *, fault: str | None = None) -> None: ...


class ConnectionFaults:
    """The faults armed on one connection, and the timer that fires time-based ones.

    The timer task is owned here: :meth:`start` creates it, :meth:`stop` cancels and awaits it.
    """

    def __init__(self, armed: Iterable[FaultSpec] = ()) -> None:
        self.armed = list(armed)
        self.pending = [s for s in self.armed if s.name in CONNECTION_FAULTS]
        self.delay = next((s for s in self.armed if s.name == "delay"), None)
        self.stall: FaultSpec | None = None  # set once a stall fired
        self._timer: asyncio.Task[None] | None = None
        self._firing = False
        self.fired: list[str] = []

    @classmethod
    def none(cls) -> ConnectionFaults:
        return cls()

    def specs(self) -> list[str]:
        return [s.text for s in self.armed]

    def stream_faults(self, conn: FaultTarget, index: int) -> list[StreamFault]:
        if conn.endpoint != "tts":
            return []
        out: list[StreamFault] = []
        for spec in self.armed:
            if spec.name not in STREAM_FAULTS:
                continue
            target = spec.get("stream")
            if target is not None and int(target) != index:
                continue
            code = int(spec.get("code")) if spec.name == "error" else None
            rtf = float(spec.get("rtf")) if spec.name == "slow" else None
            out.append(StreamFault(spec.name, code=code, rtf=rtf, spec=spec.text))
            conn.record_event("fault", {"spec": spec.text, "stream": index}, fault=spec.text)
        return out

    # --- connection-level faults ---

    def _due(self, conn: FaultTarget, spec: FaultSpec) -> bool:
        if spec.name == "error" and conn.endpoint == "tts":
            return False  # a stream fault there
        trigger = spec.trigger
        if trigger is None:
            return True
        key, value = trigger
        if key == "after_frames":
            return conn.frames_received >= value
        if key == "after_streams":
            return conn.streams_opened >= value
        if conn.endpoint == "stt":
            return conn.audio_ms >= value
        return self._elapsed_ms(conn) >= value

    @staticmethod
    def _elapsed_ms(conn: FaultTarget) -> float:
        """TTS ``after_ms`` is time since the upgrade, under the connection's time scale."""
        real_ms = (time.monotonic() - conn.opened) * 1000.0
        scale = conn.settings.time_scale
        return real_ms / scale if scale > 0 else real_ms

    async def check(self, conn: FaultTarget) -> bool:
        """Fire every fault whose trigger is reached; True when the connection is over."""
        for spec in list(self.pending):
            if spec in self.pending and self._due(conn, spec):
                self.pending.remove(spec)
                if await self._fire(conn, spec):
                    return True
        return False

    async def _fire(self, conn: FaultTarget, spec: FaultSpec) -> bool:
        self.fired.append(spec.text)
        logger.info("%s: fault %s", conn.id, spec.text)
        conn.record_event("fault", {"spec": spec.text}, fault=spec.text)
        if spec.name == "drop":
            conn.abort()
            return True
        if spec.name == "stall":
            self.stall = spec
            conn.mute()
            return False
        if spec.name == "close":
            await conn.close(int(spec.get("code", 1000)), fault=spec.text)
            return True
        code = int(spec.get("code"))  # error (STT) and conn_error (TTS): error frame, then close
        # No message: the connection fills in its endpoint's published default for the code.
        await conn.fail(ProtocolError(code, ""), fault=spec.text)
        return True

    # --- the timer, for faults that must fire while the client is silent ---

    def start(self, conn: FaultTarget) -> None:
        timed = [s for s in self.pending if self._timed(conn, s)]
        if timed and self._timer is None:
            self._timer = asyncio.create_task(self._run_timer(conn), name=f"{conn.id}-faults")

    @staticmethod
    def _timed(conn: FaultTarget, spec: FaultSpec) -> bool:
        trigger = spec.trigger
        return conn.endpoint == "tts" and trigger is not None and trigger[0] == "after_ms"

    async def _run_timer(self, conn: FaultTarget) -> None:
        while not conn.closed:
            timed = [s for s in self.pending if self._timed(conn, s)]
            if not timed:
                return
            due_ms = min(float(s.get("after_ms")) for s in timed)
            wait_ms = due_ms - self._elapsed_ms(conn)
            if wait_ms > 0:
                await asyncio.sleep(conn.settings.timer(wait_ms / 1000.0))
                continue
            self._firing = True
            try:
                if await self.check(conn):
                    return
            finally:
                self._firing = False

    async def stop(self) -> None:
        """Cancel the timer (unless it is mid-fire: then let it finish) and await it."""
        task, self._timer = self._timer, None
        if task is None:
            return
        if not self._firing:
            task.cancel()
        # gather() hands back the timer's own CancelledError without swallowing a cancellation
        # of the caller (the handler's finally block) the way suppressing it would.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(15.0):
                (outcome,) = await asyncio.gather(task, return_exceptions=True)
                if isinstance(outcome, Exception):
                    raise outcome

    # --- send side ---

    def send_delay_s(self, conn: FaultTarget) -> float:
        """How long each server frame waits (``delay:ms=N``; real length at time scale 0)."""
        if self.delay is None:
            return 0.0
        return conn.settings.timer(float(self.delay.get("ms")) / 1000.0)


@dataclass
class HandshakeFaults:
    """What the handshake must do before upgrading: wait, refuse, or go ahead."""

    armed: list[FaultSpec] = field(default_factory=list)

    @property
    def refuse(self) -> FaultSpec | None:
        return next((s for s in self.armed if s.name == "refuse"), None)

    @property
    def accept_delay_ms(self) -> float:
        return sum(float(s.get("ms")) for s in self.armed if s.name == "delay_accept")
