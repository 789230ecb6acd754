"""The TTS connection and pool on their own, with websockets the test controls."""

from __future__ import annotations

import asyncio
import logging
from typing import Any, cast

import aiohttp
from tests.tts_helpers import ScriptedWebSocket, connection_on, run_settings

from livekit.plugins.soniox._tts_pool import ConnectionPool, TTSConnection
from livekit.plugins.soniox._tts_replay import StreamLedger
from livekit.plugins.soniox._tts_soniox import DoneEvent, SonioxStream
from livekit.plugins.soniox.log import logger


class HeldWebSocket:
    """Sends wait until the test lets them finish; nothing is ever received."""

    close_code: int | None = None

    def __init__(self) -> None:
        loop = asyncio.get_running_loop()
        self.sending = asyncio.Event()
        self.send_done: asyncio.Future[None] = loop.create_future()
        self.sent: list[str] = []
        self._never: asyncio.Future[None] = loop.create_future()

    async def send_str(self, data: str) -> None:
        self.sending.set()
        await self.send_done
        self.sent.append(data)

    async def receive(self) -> aiohttp.WSMessage:
        await self._never
        raise AssertionError("unreachable")

    async def close(self) -> bool:
        return True


async def test_aclose_returns_when_a_send_completes_at_that_moment() -> None:
    # On Python 3.11, wait_for around send_str swallowed the writer's cancel when the send
    # finished in the same loop iteration; the writer went back to its queue and aclose() hung.
    ws = HeldWebSocket()
    conn = connection_on(ws)
    conn.send({"keep_alive": True})
    async with asyncio.timeout(5):
        await ws.sending.wait()
    ws.send_done.set_result(None)
    async with asyncio.timeout(5):
        await conn.aclose()
    assert conn.closed


def cancelled_stream(conn: TTSConnection) -> SonioxStream:
    """A stream on ``conn`` that was cancelled after its first sentence went out."""
    stream = live_stream(conn)
    stream.cancel()
    return stream


def live_stream(conn: TTSConnection) -> SonioxStream:
    stream = SonioxStream(run_settings(), StreamLedger(), skip_s=0.0, align=False)
    stream.attach(conn)
    stream.add_sentence("Hello there. ")
    return stream


async def test_a_closed_connection_leaves_no_pending_cancel_timer_behind() -> None:
    # a cancelled stream keeps its slot until `terminated`; that wait used to outlive the
    # connection's close (and TTS.aclose()), keeping the closed connection alive for 10 s
    ws = ScriptedWebSocket()
    conn = connection_on(ws)
    conn.reserve()
    cancelled_stream(conn)
    await ws.until_sent(lambda m: bool(m.get("cancel")))
    await conn.aclose()
    loop: Any = asyncio.get_running_loop()  # its timer heap is private; read it, no more
    assert [
        handle
        for handle in loop._scheduled
        if not handle.cancelled() and getattr(handle._callback, "__self__", None) is conn
    ] == []


class Warnings(logging.Handler):
    """Sets ``seen`` when the plugin logs a warning containing ``text``."""

    def __init__(self, text: str) -> None:
        super().__init__(logging.WARNING)
        self.text = text
        self.seen = asyncio.Event()

    def emit(self, record: logging.LogRecord) -> None:
        if self.text in record.getMessage():
            self.seen.set()


async def test_a_cancel_the_service_never_confirms_retires_its_connection() -> None:
    # Without `terminated` the service may still count the cancelled stream: reusing its slot
    # could make a 6th stream on that socket, which the service refuses (400, not retried).
    sockets: list[ScriptedWebSocket] = []

    async def connect() -> aiohttp.ClientWebSocketResponse:
        sockets.append(ScriptedWebSocket())
        return cast(aiohttp.ClientWebSocketResponse, sockets[-1])

    pool = ConnectionPool(connect, cancel_grace_s=0.05)
    overdue = Warnings("terminated")
    logger.addHandler(overdue)
    try:
        first, _, _ = await pool.acquire(1.0)
        cancelled_stream(first)
        other, _, _ = await pool.acquire(1.0)
        assert other is first
        still_talking = live_stream(first)
        async with asyncio.timeout(1):
            await overdue.seen.wait()  # the grace period passed without `terminated`

        fresh, _, reused = await pool.acquire(1.0)
        assert fresh is not first and not reused  # new streams go elsewhere
        assert not first.closed  # its other stream carries on to its end
        sockets[0].reply({"stream_id": still_talking.id, "audio_end": True})
        sockets[0].reply({"stream_id": still_talking.id, "terminated": True})
        async with asyncio.timeout(1):
            assert isinstance(await still_talking.events.get(), DoneEvent)
            await sockets[0].closed.wait()  # then the suspect connection closes
        assert not sockets[1].closed.is_set()
    finally:
        logger.removeHandler(overdue)
        await pool.aclose()
