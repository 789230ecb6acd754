"""Each fault as a raw aiohttp client sees it, armed by URL, header, fixture or registry.

Faults that need a live session (triggers on frames, audio or streams; timers on an idle socket)
use the TTS endpoint with bare ``keep_alive`` frames, or the STT endpoint with audio.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any

import aiohttp
import pytest

from mock_soniox import JournalEntry
from mock_soniox.testing.common import BEARER, wait_for_count, with_faults
from mock_soniox.testing.pytest_plugin import MockSoniox

KEEP_ALIVE = json.dumps({"keep_alive": True})


async def connect(
    http: aiohttp.ClientSession, url: str, **kwargs: Any
) -> aiohttp.ClientWebSocketResponse:
    ws: aiohttp.ClientWebSocketResponse = await http.ws_connect(
        url, headers=BEARER, timeout=aiohttp.ClientWSTimeout(ws_close=5), **kwargs
    )
    return ws


async def receive_until_closed(ws: aiohttp.ClientWebSocketResponse) -> list[aiohttp.WSMessage]:
    """Every message up to and including the one that ends the socket."""
    messages = []
    while True:
        msg = await ws.receive(timeout=5)
        messages.append(msg)
        if msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR):
            return messages


async def run_to_close(
    http: aiohttp.ClientSession, url: str, spec: str
) -> tuple[aiohttp.ClientWebSocketResponse, list[aiohttp.WSMessage]]:
    """Connect with ``spec`` armed; the socket and every message until it ends."""
    ws = await connect(http, with_faults(url, spec))
    return ws, await receive_until_closed(ws)


def json_frames(messages: list[aiohttp.WSMessage]) -> list[dict[str, Any]]:
    return [json.loads(m.data) for m in messages if m.type == aiohttp.WSMsgType.TEXT]


# --- before the upgrade ---


@pytest.mark.parametrize("status", [401, 402, 429, 503])
async def test_refuse_rejects_the_upgrade_with_that_status(
    mock_soniox: MockSoniox, http: aiohttp.ClientSession, status: int
) -> None:
    with pytest.raises(aiohttp.WSServerHandshakeError) as info:
        await connect(http, with_faults(mock_soniox.stt_url, f"refuse:status={status}"))
    assert info.value.status == status
    refused = mock_soniox.journal.events("refused")
    assert [e.data for e in refused] == [{"status": status}]
    assert refused[0].fault == f"refuse:status={status}"


async def test_refuse_body_is_a_soniox_error(mock_soniox: MockSoniox) -> None:
    async with aiohttp.ClientSession() as http:
        url = mock_soniox.tts_url.replace("ws://", "http://")
        async with http.get(url, headers={"X-Mock-Fault": "refuse:status=402"}) as resp:
            assert resp.status == 402
            body = await resp.json()
    assert body["error_code"] == 402
    assert body["error_type"] == "organization_balance_exhausted"


async def test_fault_header_arms_like_the_query(
    mock_soniox: MockSoniox, http: aiohttp.ClientSession
) -> None:
    with pytest.raises(aiohttp.WSServerHandshakeError) as info:
        await http.ws_connect(
            mock_soniox.tts_url, headers={**BEARER, "X-Mock-Fault": "refuse:status=429"}
        )
    assert info.value.status == 429


async def refused_spec(http: aiohttp.ClientSession, url: str, spec: str) -> str:
    """The error message of the 400 that a handshake with ``spec`` armed gets."""
    async with http.get(with_faults(url, spec).replace("ws://", "http://")) as resp:
        assert resp.status == 400
        message: str = (await resp.json())["error_message"]
    return message


async def test_a_bad_spec_is_a_clear_400(
    mock_soniox: MockSoniox, http: aiohttp.ClientSession
) -> None:
    message = await refused_spec(http, mock_soniox.stt_url, "close:code=soon")
    assert "code must be an integer, got 'soon'" in message


async def test_a_tts_only_fault_on_stt_is_a_clear_400(
    mock_soniox: MockSoniox, http: aiohttp.ClientSession
) -> None:
    message = await refused_spec(http, mock_soniox.stt_url, "no_audio_end")
    assert "no_audio_end is a TTS fault" in message


async def test_delay_accept_slows_the_handshake(
    mock_soniox: MockSoniox, http: aiohttp.ClientSession
) -> None:
    started = time.monotonic()
    ws = await connect(http, with_faults(mock_soniox.tts_url, "delay_accept:ms=120"))
    waited = time.monotonic() - started
    await ws.close()
    assert waited >= 0.12


async def test_times_fails_first_n_connections_then_heals(
    mock_soniox: MockSoniox, http: aiohttp.ClientSession
) -> None:
    url = with_faults(mock_soniox.stt_url, "refuse:status=503,times=2")
    statuses = []
    for _ in range(2):
        with pytest.raises(aiohttp.WSServerHandshakeError) as info:
            await connect(http, url)
        statuses.append(info.value.status)
    ws = await connect(http, url)  # the same URL now connects
    assert statuses == [503, 503]
    assert not ws.closed
    await ws.close()


async def test_fixture_faults_arm_every_new_connection_until_cleared(
    mock_soniox: MockSoniox, http: aiohttp.ClientSession
) -> None:
    rule = mock_soniox.faults.add("refuse:status=429,endpoint=stt")
    assert mock_soniox.faults.list() == [rule]
    for _ in range(2):
        with pytest.raises(aiohttp.WSServerHandshakeError):
            await connect(http, mock_soniox.stt_url)
    tts = await connect(http, mock_soniox.tts_url)  # endpoint=stt leaves TTS alone
    await tts.close()
    mock_soniox.faults.clear()
    stt = await connect(http, mock_soniox.stt_url)
    await stt.close()
    assert mock_soniox.faults.list() == []


def test_fixture_refuses_a_bad_spec(mock_soniox: MockSoniox) -> None:
    with pytest.raises(ValueError, match="unknown fault 'boom'"):
        mock_soniox.faults.add("boom")


# --- at once, right after the upgrade ---


async def test_drop_cuts_tcp_and_the_client_sees_1006(
    mock_soniox: MockSoniox, http: aiohttp.ClientSession
) -> None:
    ws, messages = await run_to_close(http, mock_soniox.tts_url, "drop")
    assert messages[-1].type in (aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR)
    assert ws.close_code == 1006
    assert json_frames(messages) == []


@pytest.mark.parametrize("code", [1000, 1001, 1011, 4001])
async def test_close_sends_that_close_code(
    mock_soniox: MockSoniox, http: aiohttp.ClientSession, code: int
) -> None:
    _, messages = await run_to_close(http, mock_soniox.tts_url, f"close:code={code}")
    assert messages[-1].type == aiohttp.WSMsgType.CLOSE
    assert messages[-1].data == code
    assert json_frames(messages) == []


async def test_stt_error_sends_the_error_frame_then_closes(
    mock_soniox: MockSoniox, http: aiohttp.ClientSession
) -> None:
    _, messages = await run_to_close(http, mock_soniox.stt_url, "error:code=503")
    (frame,) = json_frames(messages)
    assert frame["error_code"] == 503
    assert frame["error_type"] == "service_unavailable"
    assert messages[-1].type == aiohttp.WSMsgType.CLOSE
    assert mock_soniox.journal.faults_applied() == ["error:code=503"]


async def test_tts_conn_error_has_no_stream_id_and_closes(
    mock_soniox: MockSoniox, http: aiohttp.ClientSession
) -> None:
    _, messages = await run_to_close(http, mock_soniox.tts_url, "conn_error:code=500")
    (frame,) = json_frames(messages)
    assert frame["error_code"] == 500
    assert "stream_id" not in frame
    assert messages[-1].type == aiohttp.WSMsgType.CLOSE


# --- while the client is silent (a timer per connection) ---


async def test_close_after_ms_fires_on_an_idle_tts_socket(
    mock_soniox: MockSoniox, http: aiohttp.ClientSession
) -> None:
    _, messages = await run_to_close(http, mock_soniox.tts_url, "close:code=1011,after_ms=50")
    assert messages[-1].type == aiohttp.WSMsgType.CLOSE
    assert messages[-1].data == 1011


async def test_conn_error_after_ms_fires_on_an_idle_tts_socket(
    mock_soniox: MockSoniox, http: aiohttp.ClientSession
) -> None:
    _, messages = await run_to_close(http, mock_soniox.tts_url, "conn_error:code=503,after_ms=30")
    assert [f["error_code"] for f in json_frames(messages)] == [503]
    assert messages[-1].type == aiohttp.WSMsgType.CLOSE


async def test_after_ms_follows_the_time_scale(
    mock_soniox: MockSoniox, http: aiohttp.ClientSession
) -> None:
    mock_soniox.configure(time_scale=0.01)  # 3 s of mock time is 30 ms here
    _, messages = await run_to_close(http, mock_soniox.tts_url, "close:code=4002,after_ms=3000")
    assert messages[-1].data == 4002


async def test_drop_after_ms_fires_on_an_idle_tts_socket(
    mock_soniox: MockSoniox, http: aiohttp.ClientSession
) -> None:
    ws, _ = await run_to_close(http, mock_soniox.tts_url, "drop:after_ms=30")
    assert ws.close_code == 1006


# --- triggered by what the client sends ---


async def test_drop_after_frames_cuts_mid_traffic(
    mock_soniox: MockSoniox, http: aiohttp.ClientSession
) -> None:
    ws = await connect(http, with_faults(mock_soniox.tts_url, "drop:after_frames=3"))
    for _ in range(3):
        await ws.send_str(KEEP_ALIVE)
    await receive_until_closed(ws)
    assert ws.close_code == 1006
    assert len(mock_soniox.journal.client_frames("keep_alive")) == 3


async def test_stall_answers_no_ping_so_the_client_heartbeat_gives_up(
    mock_soniox: MockSoniox, http: aiohttp.ClientSession
) -> None:
    url = with_faults(mock_soniox.tts_url, "stall:after_frames=1")
    ws = await connect(http, url, autoping=False)
    await ws.ping(b"before")
    pong = await ws.receive(timeout=5)  # not stalled yet: pongs come back
    assert (pong.type, pong.data) == (aiohttp.WSMsgType.PONG, b"before")
    await ws.close()

    ws = await connect(http, url, heartbeat=0.1)
    await ws.send_str(KEEP_ALIVE)  # the stall fires here
    await mock_soniox.journal.wait_for(lambda e: e.kind == "fault")
    messages = await receive_until_closed(ws)  # only the client's heartbeat ends this
    assert json_frames(messages) == []
    assert ws.close_code == 1006
    assert isinstance(ws.exception(), aiohttp.ServerTimeoutError)


async def test_stalled_connection_is_listed_then_released(
    mock_soniox: MockSoniox, http: aiohttp.ClientSession
) -> None:
    ws = await connect(http, with_faults(mock_soniox.tts_url, "stall"))
    await mock_soniox.journal.wait_for(lambda e: e.kind == "fault")
    (conn,) = mock_soniox.connections()
    assert conn["stalled"] is True
    with pytest.raises(ValueError, match="is stalled: it sends nothing"):
        await mock_soniox.push(conn["id"], {"never": "sent"})
    await ws.close()
    await mock_soniox.journal.wait_for(lambda e: e.kind == "closed")
    assert mock_soniox.connections() == []


async def test_delay_holds_back_every_server_frame(
    mock_soniox: MockSoniox, http: aiohttp.ClientSession
) -> None:
    ws = await connect(http, with_faults(mock_soniox.tts_url, "delay:ms=80"))
    (conn,) = mock_soniox.connections()
    started = time.monotonic()
    await mock_soniox.push(conn["id"], {"hello": 1})
    msg = await ws.receive(timeout=5)
    assert json.loads(msg.data) == {"hello": 1}
    assert time.monotonic() - started >= 0.08
    (pushed,) = mock_soniox.journal.server_frames("push")
    assert pushed.fault == "delay:ms=80"
    await ws.close()


async def test_probability_faults_are_repeatable_per_seed(
    mock_soniox: MockSoniox, http: aiohttp.ClientSession
) -> None:
    async def outcomes() -> list[int]:
        mock_soniox.faults.clear()  # forget the seeded generator: start the sequence over
        statuses = []
        for _ in range(8):
            try:
                ws = await connect(
                    http, with_faults(mock_soniox.tts_url, "refuse:status=503,p=0.5,seed=3")
                )
            except aiohttp.WSServerHandshakeError as exc:
                statuses.append(exc.status)
            else:
                statuses.append(101)
                await ws.close()
        return statuses

    first = await outcomes()
    assert first == await outcomes()
    assert {101, 503} == set(first)


async def test_the_connection_timer_leaves_no_task_behind(
    mock_soniox: MockSoniox, http: aiohttp.ClientSession
) -> None:
    ws = await connect(http, with_faults(mock_soniox.tts_url, "close:code=1011,after_ms=60000"))
    await mock_soniox.journal.wait_for(lambda e: e.kind == "open")
    await ws.close()
    await mock_soniox.journal.wait_for(lambda e: e.kind == "closed")
    loop = mock_soniox._server.loop

    async def fault_timers() -> list[str]:
        return [t.get_name() for t in asyncio.all_tasks() if t.get_name().endswith("-faults")]

    left = asyncio.run_coroutine_threadsafe(fault_timers(), loop).result(timeout=5)
    assert left == []


def event(kind: str) -> Callable[[JournalEntry], bool]:
    return lambda e: e.direction == "event" and e.kind == kind


async def test_faulted_and_abandoned_connections_leave_nothing_behind(
    mock_soniox: MockSoniox,
) -> None:
    loop = mock_soniox._server.loop

    async def task_count(settle_to: int) -> int:
        """The server loop's task count, once it is down to ``settle_to`` (or 1000 turns on)."""
        for _ in range(1000):
            if len(asyncio.all_tasks()) <= settle_to:
                break
            await asyncio.sleep(0)  # let aiohttp finish tearing down closed transports
        return len(asyncio.all_tasks())

    def server_tasks(settle_to: int = 1_000_000) -> int:
        return asyncio.run_coroutine_threadsafe(task_count(settle_to), loop).result(timeout=5)

    baseline = server_tasks()
    specs = ["stall", "drop:after_frames=1", "close:code=1011,after_ms=20", "delay:ms=1", "none"]
    rounds = 20
    async with aiohttp.ClientSession() as http:
        sockets = []
        for i in range(rounds * len(specs)):
            spec = specs[i % len(specs)]
            url = mock_soniox.tts_url if spec == "none" else with_faults(mock_soniox.tts_url, spec)
            ws = await connect(http, url)
            await ws.send_str(KEEP_ALIVE)
            sockets.append(ws)
        opened = await wait_for_count(mock_soniox.journal, event("open"), len(sockets))
    # The session is gone: every client socket was dropped without a goodbye.
    closed = await wait_for_count(mock_soniox.journal, event("closed"), len(sockets))
    assert {e.conn_id for e in closed} == {e.conn_id for e in opened}
    assert mock_soniox.connections() == []
    assert server_tasks(settle_to=baseline) == baseline
