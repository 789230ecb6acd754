"""The TTS connection on its own, with a websocket the test controls to the loop iteration."""

from __future__ import annotations

import asyncio
from typing import cast

import aiohttp

from livekit.plugins.soniox._tts_pool import TTSConnection


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
    conn = TTSConnection(
        cast(aiohttp.ClientWebSocketResponse, ws),
        max_streams=5,
        keepalive_interval_s=60.0,
        on_change=lambda _: None,
    )
    conn.send({"keep_alive": True})
    async with asyncio.timeout(5):
        await ws.sending.wait()
    ws.send_done.set_result(None)
    async with asyncio.timeout(5):
        await conn.aclose()
    assert conn.closed
