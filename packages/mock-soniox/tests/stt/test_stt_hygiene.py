"""Clients that vanish or abandon sessions leave nothing behind on the server."""

from __future__ import annotations

import asyncio
import json
import socket

import aiohttp

from mock_soniox.journal import JournalEntry
from mock_soniox.server.runner import ThreadedMockServer
from mock_soniox.testing.common import wait_for_count
from mock_soniox.testing.leaks import mock_allocations
from mock_soniox.testing.pytest_plugin import MockSoniox
from mock_soniox.testing.stt import BASIC_CONFIG, connect, pcm16, speech

AUDIO = pcm16(speech(("tone", 240)))


def stt_closed(entry: JournalEntry) -> bool:
    """A STT connection has finished on the server."""
    return entry.endpoint == "stt" and entry.kind == "closed"


def cut(ws: aiohttp.ClientWebSocketResponse) -> None:
    """Vanish: the TCP connection goes away without a websocket close frame."""
    sock = ws.get_extra_info("socket")
    assert sock is not None
    sock.shutdown(socket.SHUT_RDWR)


async def abandon(http: aiohttp.ClientSession, url: str, style: int) -> None:
    ws = await connect(http, url)
    if style % 4 in (1, 2):
        await ws.send_str(json.dumps(BASIC_CONFIG))
        await ws.send_bytes(AUDIO)
        await ws.receive(timeout=10)  # a result: the session is mid-stream
    if style % 4 in (0, 1):
        cut(ws)
    await ws.close()


async def server_tasks_settle(server: ThreadedMockServer, baseline: set[int]) -> int:
    """Wait (bounded) for every task born since the baseline to end; the live task count."""

    async def settle() -> int:
        me = asyncio.current_task()
        extra = [t for t in asyncio.all_tasks() if id(t) not in baseline and t is not me]
        if extra:
            await asyncio.wait(extra, timeout=10)
        return len(asyncio.all_tasks()) - 1  # not counting this coroutine's task

    future = asyncio.run_coroutine_threadsafe(settle(), server.loop)
    return await asyncio.wrap_future(future)


def server_task_ids(server: ThreadedMockServer) -> set[int]:
    ids: set[int] = server.call(lambda: {id(t) for t in asyncio.all_tasks()})
    return ids


async def test_client_vanishing_mid_stream_ends_the_session_quietly(
    mock_soniox: MockSoniox,
) -> None:
    async with aiohttp.ClientSession() as http:
        await abandon(http, mock_soniox.stt_url, 1)
        await mock_soniox.journal.wait_for(stt_closed, within=10)
    assert mock_soniox.connection_ids() == []
    assert not mock_soniox.journal.server_frames("error", endpoint="stt")


async def test_thousand_abandoned_connections_leave_nothing_behind(
    mock_soniox: MockSoniox, mock_soniox_server: ThreadedMockServer
) -> None:
    async def round_of(count: int) -> None:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=100)) as http:
            for start in range(0, count, 100):
                await asyncio.gather(
                    *(abandon(http, mock_soniox.stt_url, i) for i in range(start, start + 100))
                )
            await wait_for_count(mock_soniox.journal, stt_closed, count, within=30)

    await round_of(200)  # warm up allocator pools and caches
    baseline_ids = server_task_ids(mock_soniox_server)
    baseline_tasks = await server_tasks_settle(mock_soniox_server, baseline_ids)
    mock_soniox.journal.clear()

    with mock_allocations() as held_by_mock:
        await round_of(1000)
        tasks = await server_tasks_settle(mock_soniox_server, baseline_ids)
        mock_soniox.journal.clear()
        held = held_by_mock()

    assert tasks == baseline_tasks
    assert mock_soniox.connection_ids() == []
    state = mock_soniox_server.mock.state
    assert not +state.stt_sessions_by_key  # no session slot still held
    # A leak of ~1000 sessions (sockets, buffers, sources) would be megabytes.
    assert held < 64 * 1024, f"the mock still holds {held} bytes after 1,000 sessions"
