"""STT failure paths a deployment hits (issue 14, items 1-6): every network failure is an
APIError the retry loop handles, nothing hangs, nothing is reported twice or left unretrieved."""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from livekit.agents import APIConnectionError, APIConnectOptions
from livekit.agents.stt import SpeechEventType
from livekit.plugins import soniox

from mock_soniox.testing.pytest_plugin import MockSoniox

from .conftest import other_tasks, speech_like_audio, wait_journal
from .test_stt_faults import assert_same_words, opens
from .test_stt_stream import FAST_RETRY, make_stt, run_stream

E = SpeechEventType


@pytest.fixture
async def loop_errors() -> list[dict[str, Any]]:
    """What reaches the loop's exception handler (e.g. "Task exception was never retrieved")."""
    loop = asyncio.get_running_loop()
    seen: list[dict[str, Any]] = []
    loop.set_exception_handler(lambda _loop, context: seen.append(context))
    return seen


# --- 1: a drop while re-sending audio or right after the handshake is a retried APIError ---


@pytest.mark.parametrize(
    "second", ["drop:times=1", "drop:after_frames=2,times=1", "drop:after_frames=12,times=1"]
)
async def test_drop_during_the_reconnect_is_retried(
    mock_soniox: MockSoniox, http_session: aiohttp.ClientSession, second: str
) -> None:
    # Long unfinalized silence first, so the reconnect has seconds of audio to re-send.
    frames = speech_like_audio(utterances=2, lead_ms=6000)
    expected = await asyncio.wait_for(run_stream(make_stt(mock_soniox, http_session), frames), 10)
    mock_soniox.reset()
    mock_soniox.faults.add("drop:after_ms=5000,times=1")
    stt = make_stt(mock_soniox, http_session)
    errors: list[Any] = []

    def on_error(error: Any) -> None:
        errors.append(error)
        if len(errors) == 1:  # arm the second fault for the reconnect only
            mock_soniox.faults.add(second)

    stt.on("error", on_error)
    events = await asyncio.wait_for(run_stream(stt, frames), 10)
    assert [e.recoverable for e in errors] == [True, True]
    assert all(isinstance(e.error, APIConnectionError) for e in errors)
    assert opens(mock_soniox) == 3
    assert_same_words(events, expected)
    assert not other_tasks()


class _ResetSocket:
    """A websocket that is gone by the time the ``fail_on`` send happens."""

    def __init__(self, fail_on: str) -> None:
        self.fail_on = fail_on
        self.close_code = 1006

    async def send_str(self, data: str) -> None:
        if self.fail_on == "config" or (self.fail_on == "finalize" and "finalize" in data):
            raise aiohttp.ClientConnectionResetError("Cannot write to closing transport")

    async def send_bytes(self, data: bytes) -> None:
        if self.fail_on == "replay":
            raise aiohttp.ClientConnectionResetError("Cannot write to closing transport")

    async def receive(self) -> aiohttp.WSMessage:
        await asyncio.Event().wait()
        raise AssertionError

    async def close(self) -> bool:
        return True


@pytest.mark.parametrize("fail_on", ["config", "replay", "finalize"])
async def test_a_send_failing_as_the_session_starts_is_retried(
    mock_soniox: MockSoniox, http_session: aiohttp.ClientSession, fail_on: str
) -> None:
    """Deterministic form of the above: each send at the start of a session meets a reset."""
    stt = make_stt(mock_soniox, http_session)
    errors: list[Any] = []
    stt.on("error", errors.append)
    options = APIConnectOptions(max_retry=2, retry_interval=0.01, timeout=5.0)
    stream = stt.stream(conn_options=options)

    async def connect() -> _ResetSocket:
        return _ResetSocket(fail_on)

    stream._connect = connect  # type: ignore[assignment,method-assign]
    # Audio waiting to be re-sent and a finalize not yet answered, as after a drop.
    stream._replay.append(bytes(3200))
    stream._finalize_pending = True
    with pytest.raises(APIConnectionError) as info:
        async with asyncio.timeout(5):
            async for _ in stream:
                pass
    await stream.aclose()
    assert "after 2 attempts" in str(info.value)
    assert "ClientConnectionResetError" in str(info.value.__cause__)
    assert [e.recoverable for e in errors] == [True, True, False]


# --- 2: flush() with nothing pending still ends in a FINAL_TRANSCRIPT ---


async def test_flush_after_the_utterance_ended_yields_an_empty_final(
    mock_soniox: MockSoniox, http_session: aiohttp.ClientSession
) -> None:
    stt = make_stt(mock_soniox, http_session)
    async with stt.stream(conn_options=FAST_RETRY) as stream:
        for frame in speech_like_audio(utterances=1):
            stream.push_frame(frame)
        async with asyncio.timeout(5):
            async for ev in stream:
                if ev.type == E.END_OF_SPEECH:
                    break
            stream.flush()  # the service already ended the utterance: <fin> closes nothing
            async for ev in stream:
                if ev.type == E.FINAL_TRANSCRIPT:
                    break
        assert ev.alternatives and ev.alternatives[0].text == ""
    assert len(mock_soniox.journal.client_frames("finalize")) == 1


# --- 3: a JSON frame that is not an object is a retryable connection error ---


async def _serve(handler: Callable[[web.WebSocketResponse], Awaitable[None]]) -> Any:
    connections = 0

    async def endpoint(request: web.Request) -> web.WebSocketResponse:
        nonlocal connections
        connections += 1
        ws = web.WebSocketResponse(autoping=False)
        await ws.prepare(request)
        await handler(ws)
        return ws

    app = web.Application()
    app.router.add_get("/", endpoint)
    server = TestServer(app)
    await server.start_server()
    return server, lambda: connections


@pytest.fixture
async def one_shot_server() -> AsyncIterator[Callable[..., Any]]:
    servers: list[TestServer] = []

    async def start(handler: Callable[[web.WebSocketResponse], Awaitable[None]]) -> Any:
        server, count = await _serve(handler)
        servers.append(server)
        return str(server.make_url("/")), count

    yield start
    for server in servers:
        await server.close()


@pytest.mark.parametrize("frame", ["[1, 2]", '"text"', "42", "null"])
async def test_a_json_frame_that_is_not_an_object_is_retried(
    http_session: aiohttp.ClientSession, one_shot_server: Callable[..., Any], frame: str
) -> None:
    async def handler(ws: web.WebSocketResponse) -> None:
        await ws.receive()  # the config
        await ws.send_str(frame)
        await ws.close()

    url, connections = await one_shot_server(handler)
    stt = soniox.STT(api_key="k", base_url=url, http_session=http_session)
    retry_once = APIConnectOptions(max_retry=1, retry_interval=0.01, timeout=5.0)
    with pytest.raises(APIConnectionError):
        await asyncio.wait_for(run_stream(stt, speech_like_audio(utterances=1), retry_once), 10)
    assert connections() == 2


# --- 4: closing the socket is bounded when the peer never answers the close handshake ---


async def test_stream_ends_promptly_when_the_peer_ignores_the_close(
    http_session: aiohttp.ClientSession, one_shot_server: Callable[..., Any]
) -> None:
    async def finish_then_ignore(ws: web.WebSocketResponse) -> None:
        while (msg := await ws.receive()).type == aiohttp.WSMsgType.BINARY or msg.data != "":
            pass  # the config and the audio, up to the end-of-audio frame
        await ws.send_str('{"tokens": [], "finished": true}')
        await asyncio.sleep(30)  # alive, but never reads (so never answers) the close frame

    url, _ = await one_shot_server(finish_then_ignore)
    stt = soniox.STT(api_key="k", base_url=url, http_session=http_session)
    started = time.monotonic()
    await asyncio.wait_for(run_stream(stt, speech_like_audio(utterances=1)), 6)
    assert time.monotonic() - started < 4.0


async def test_aclose_while_the_peer_is_silent_is_prompt(
    mock_soniox: MockSoniox, http_session: aiohttp.ClientSession
) -> None:
    stt = make_stt(mock_soniox, http_session, url=f"{mock_soniox.stt_url}?fault=stall")
    stream = stt.stream(conn_options=FAST_RETRY)
    await wait_journal(mock_soniox.journal, lambda e: e.kind == "config")
    started = time.monotonic()
    await asyncio.wait_for(stream.aclose(), 15)
    assert time.monotonic() - started < 3.0
    assert not other_tasks()


# --- 5: no task exception goes unretrieved ---


class _DyingSocket:
    """A websocket whose sends fail (from ``which`` task); it only wakes its reader on close()."""

    def __init__(self, which: str) -> None:
        self.which = which
        self.closed = asyncio.Event()
        self.close_code = 1006

    async def send_str(self, data: str) -> None:
        if self.which == "keepalive" and data == '{"type": "keepalive"}':
            raise aiohttp.ClientConnectionResetError("Cannot write to closing transport")

    async def send_bytes(self, data: bytes) -> None:
        if self.which == "sender":
            raise aiohttp.ClientConnectionResetError("Cannot write to closing transport")

    async def receive(self) -> aiohttp.WSMessage:
        await self.closed.wait()
        return aiohttp.WSMessage(aiohttp.WSMsgType.CLOSED, None, None)

    async def close(self) -> bool:
        self.closed.set()
        return True


@pytest.mark.parametrize("which", ["keepalive", "sender"])
async def test_a_failing_helper_task_ends_the_session_with_its_reason(
    mock_soniox: MockSoniox,
    http_session: aiohttp.ClientSession,
    loop_errors: list[Any],
    which: str,
) -> None:
    """The keepalive and the sender are owned by the session: their failure is seen at once
    (not when the heartbeat gives up), named in the APIConnectionError, and retrieved."""
    # (The stream's own attempt meets a silent service and stays out of the way.)
    stt = make_stt(mock_soniox, http_session, url=f"{mock_soniox.stt_url}?fault=stall")
    stt._keepalive_s = 0.0
    stream = stt.stream(conn_options=FAST_RETRY)
    stream.push_frame(speech_like_audio(utterances=1)[0])
    with pytest.raises(APIConnectionError, match="ClientConnectionResetError"):
        await asyncio.wait_for(stream._session(_DyingSocket(which)), 3)  # type: ignore[arg-type]
    await stream.aclose()
    gc.collect()
    assert [c.get("message") for c in loop_errors] == []
    assert not other_tasks()


# --- 6: recognize() reports one failure once ---


async def test_recognize_reports_each_failure_once(
    mock_soniox: MockSoniox, http_session: aiohttp.ClientSession
) -> None:
    stt = make_stt(mock_soniox, http_session, url=f"{mock_soniox.stt_url}?fault=refuse:times=1")
    errors: list[Any] = []
    stt.on("error", errors.append)
    options = APIConnectOptions(max_retry=2, retry_interval=0.01, timeout=5.0)
    event = await asyncio.wait_for(
        stt.recognize(speech_like_audio(utterances=1), conn_options=options), 10
    )
    assert event.alternatives[0].text
    assert [e.recoverable for e in errors] == [True]


async def test_recognize_that_fails_for_good_reports_once(
    mock_soniox: MockSoniox, http_session: aiohttp.ClientSession
) -> None:
    stt = make_stt(mock_soniox, http_session, url=f"{mock_soniox.stt_url}?fault=refuse")
    errors: list[Any] = []
    stt.on("error", errors.append)
    options = APIConnectOptions(max_retry=1, retry_interval=0.01, timeout=5.0)
    with pytest.raises(APIConnectionError):
        await asyncio.wait_for(
            stt.recognize(speech_like_audio(utterances=1), conn_options=options), 10
        )
    assert [e.recoverable for e in errors] == [True, False]
