"""Clients that vanish leave nothing behind: 1,000 abandoned TTS connections, some mid-stream."""

from __future__ import annotations

import asyncio
import gc
import json
from typing import Any

import aiohttp

from mock_soniox.connection import Connection
from mock_soniox.server.runner import ThreadedMockServer
from mock_soniox.testing.common import BEARER
from mock_soniox.testing.leaks import mock_allocations
from mock_soniox.testing.pytest_plugin import MockSoniox
from mock_soniox.testing.tts import stream_config
from mock_soniox.tts.session import TtsSession
from mock_soniox.tts.stream import TtsStream

CONNECTIONS = 1000
WARM_UP = 200
BATCH = 50


def server_tasks(server: ThreadedMockServer) -> int:
    """Live tasks on the server's loop (the probe's own task included, every time)."""
    count: int = server.call(lambda: len(asyncio.all_tasks(server.loop)))
    return count


def live_handler_objects() -> int:
    """Connections, TTS sessions and streams still reachable anywhere in the process."""
    gc.collect()
    kinds = (Connection, TtsSession, TtsStream)
    return sum(1 for obj in gc.get_objects() if isinstance(obj, kinds))


async def abandon(http: aiohttp.ClientSession, url: str, how: int) -> None:
    """Open a connection and leave in one of four ways (closing the session drops the rest)."""
    ws = await http.ws_connect(url, headers=BEARER)
    if how == 0:
        await ws.close()  # polite, before any stream
        return
    stream_id = f"s{how}"
    await ws.send_str(json.dumps(stream_config(stream_id)))
    if how == 1:
        return  # vanishes with a stream waiting for text
    await ws.send_str(json.dumps({"stream_id": stream_id, "text": "Hello there. " * 3}))
    await ws.send_str(json.dumps(stream_config("other")))
    await ws.send_str(json.dumps({"stream_id": "other", "text": "Bye.", "text_end": True}))
    msg = await ws.receive(timeout=10)
    assert msg.type == aiohttp.WSMsgType.TEXT
    assert "audio" in json.loads(msg.data)
    if how == 2:
        await ws.close()  # polite close mid-stream
    # how == 3: vanishes mid-stream (the session closes the TCP connection, no close frame)


async def abandon_many(url: str, count: int) -> None:
    for start in range(0, count, BATCH):
        async with aiohttp.ClientSession() as http:
            await asyncio.gather(*(abandon(http, url, i % 4) for i in range(start, start + BATCH)))


async def wait_until(predicate: Any, seconds: float = 20.0) -> None:
    """Poll state that lives on the server's thread (no event crosses threads for it)."""
    async with asyncio.timeout(seconds):
        while not predicate():  # noqa: ASYNC110
            await asyncio.sleep(0.02)


async def test_abandoned_connections_leave_no_tasks_or_memory(
    mock_soniox: MockSoniox, mock_soniox_server: ThreadedMockServer
) -> None:
    # Paced (first audio after 15 ms, audio at 40x real time), so streams are mid-flight when
    # their clients vanish; the journal is off so only the handlers' own memory is measured.
    mock_soniox.configure(time_scale=0.1, journal_enabled=False, tts_stream_idle_timeout_s=1000)
    url = mock_soniox.tts_url
    # A first round grows the allocator's pools and caches to their working size.
    await abandon_many(url, WARM_UP)
    await wait_until(lambda: not mock_soniox.connection_ids())
    tasks_before = server_tasks(mock_soniox_server)
    objects_before = live_handler_objects()

    with mock_allocations() as held_by_mock:
        await abandon_many(url, CONNECTIONS)
        await wait_until(lambda: not mock_soniox.connection_ids())
        await wait_until(lambda: server_tasks(mock_soniox_server) <= tasks_before)
        held = held_by_mock()

    assert live_handler_objects() == objects_before
    # A leaked connection keeps its session, buffers and audio: hundreds of KB for 1,000 of them.
    assert held < 64 * 1024, f"the mock still holds {held} bytes after {CONNECTIONS} connections"
