"""Resilience against the mock's injected faults: nothing lost, times keep increasing."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from livekit.agents import APIConnectionError, APIConnectOptions, APIStatusError
from livekit.agents.stt import SpeechEvent, SpeechEventType
from livekit.plugins import soniox

from mock_soniox.testing.pytest_plugin import MockSoniox

from .conftest import frames_duration, other_tasks, speech_like_audio
from .test_stt_stream import FAST_RETRY, all_words, make_stt, run_stream, usage_total

E = SpeechEventType


def with_fault(mock: MockSoniox, spec: str) -> str:
    return f"{mock.stt_url}?fault={spec}"


async def baseline(mock: MockSoniox, session: aiohttp.ClientSession) -> list[SpeechEvent]:
    return await asyncio.wait_for(
        run_stream(make_stt(mock, session), speech_like_audio(utterances=3)), 10
    )


def assert_same_words(got: list[SpeechEvent], expected: list[SpeechEvent]) -> None:
    """Every word once, in order, at (nearly) the same time as without the fault.

    (The mock's synthetic words are named by a hash of their session-relative timing, so a
    word recognised again on a new session may get another name: compare timings.)"""
    words, ref = all_words(got), all_words(expected)
    assert len(words) == len(ref)
    starts = [t for _, t in words]
    assert starts == sorted(starts)
    for (_, t), (_, t_ref) in zip(words, ref, strict=True):
        assert t == pytest.approx(t_ref, abs=0.05)


def opens(mock: MockSoniox) -> int:
    return len(mock.journal.select(kind="open"))


@pytest.mark.parametrize("spec", ["drop:after_ms=700,times=1", "drop:after_ms=2300,times=1"])
async def test_drop_mid_utterance_loses_no_word(
    mock_soniox: MockSoniox, http_session: aiohttp.ClientSession, spec: str
) -> None:
    expected = await baseline(mock_soniox, http_session)
    mock_soniox.reset()
    stt = make_stt(mock_soniox, http_session, url=with_fault(mock_soniox, spec))
    errors: list[Any] = []
    stt.on("error", errors.append)
    frames = speech_like_audio(utterances=3)
    events = await asyncio.wait_for(run_stream(stt, frames), 10)
    assert opens(mock_soniox) == 2
    assert [e.recoverable for e in errors] == [True]
    assert_same_words(events, expected)
    kinds = [e.type for e in events]
    assert kinds.count(E.FINAL_TRANSCRIPT) == 3
    # Usage counts what the service processed: all audio, plus what was sent again.
    assert usage_total(events) >= frames_duration(frames) - 0.02
    assert not other_tasks()


async def test_stalled_socket_is_noticed_by_the_heartbeat(
    mock_soniox: MockSoniox, http_session: aiohttp.ClientSession
) -> None:
    expected = await baseline(mock_soniox, http_session)
    mock_soniox.reset()
    stt = make_stt(
        mock_soniox, http_session, url=with_fault(mock_soniox, "stall:after_ms=1500,times=1")
    )
    stt._heartbeat_s = 0.2
    events = await asyncio.wait_for(run_stream(stt, speech_like_audio(utterances=3)), 10)
    assert opens(mock_soniox) == 2
    assert_same_words(events, expected)


async def test_429_then_ok_is_retried(
    mock_soniox: MockSoniox, http_session: aiohttp.ClientSession
) -> None:
    expected = await baseline(mock_soniox, http_session)
    mock_soniox.reset()
    stt = make_stt(mock_soniox, http_session, url=with_fault(mock_soniox, "error:code=429,times=1"))
    errors: list[Any] = []
    stt.on("error", errors.append)
    events = await asyncio.wait_for(run_stream(stt, speech_like_audio(utterances=3)), 10)
    assert [(e.recoverable, e.error.status_code) for e in errors] == [(True, 429)]
    assert "exceeded max number of concurrent requests." in str(errors[0].error)
    assert_same_words(events, expected)


async def test_503_mid_stream_reconnects(
    mock_soniox: MockSoniox, http_session: aiohttp.ClientSession
) -> None:
    expected = await baseline(mock_soniox, http_session)
    mock_soniox.reset()
    spec = "error:code=503,after_ms=1000,times=1"
    stt = make_stt(mock_soniox, http_session, url=with_fault(mock_soniox, spec))
    events = await asyncio.wait_for(run_stream(stt, speech_like_audio(utterances=3)), 10)
    assert opens(mock_soniox) == 2
    assert_same_words(events, expected)


async def test_refused_503_exhausts_the_retry_budget(
    mock_soniox: MockSoniox, http_session: aiohttp.ClientSession
) -> None:
    stt = make_stt(mock_soniox, http_session, url=with_fault(mock_soniox, "refuse:status=503"))
    errors: list[Any] = []
    stt.on("error", errors.append)
    options = APIConnectOptions(max_retry=2, retry_interval=0.01, timeout=5.0)
    with pytest.raises(APIConnectionError) as info:
        await asyncio.wait_for(run_stream(stt, speech_like_audio(1), options), 10)
    assert isinstance(info.value.__cause__, APIStatusError)
    assert info.value.__cause__.status_code == 503
    assert [e.recoverable for e in errors] == [True, True, False]
    assert not other_tasks()


@pytest.mark.parametrize("code", [400, 402, 403])
async def test_client_errors_are_not_retried(
    mock_soniox: MockSoniox, http_session: aiohttp.ClientSession, code: int
) -> None:
    stt = make_stt(mock_soniox, http_session, url=with_fault(mock_soniox, f"error:code={code}"))
    with pytest.raises(APIStatusError) as info:
        await asyncio.wait_for(run_stream(stt, speech_like_audio(1)), 10)
    assert info.value.status_code == code and not info.value.retryable
    assert opens(mock_soniox) == 1


async def test_invalid_config_surfaces_the_service_message(
    mock_soniox: MockSoniox, http_session: aiohttp.ClientSession
) -> None:
    stt = make_stt(mock_soniox, http_session, model="no-such-model")
    with pytest.raises(APIStatusError, match=r"Invalid model specified\.") as info:
        await asyncio.wait_for(run_stream(stt, speech_like_audio(1)), 10)
    assert info.value.status_code == 400


async def test_end_input_during_a_reconnect(
    mock_soniox: MockSoniox, http_session: aiohttp.ClientSession
) -> None:
    expected = await baseline(mock_soniox, http_session)
    mock_soniox.reset()
    stt = make_stt(
        mock_soniox, http_session, url=with_fault(mock_soniox, "drop:after_ms=1500,times=1")
    )
    stream = stt.stream(conn_options=FAST_RETRY)
    # end_input() exactly while the stream is between connections (the framework is about to
    # retry after the drop).
    stt.on("error", lambda _: stream.end_input())
    for frame in speech_like_audio(utterances=3):
        stream.push_frame(frame)
    events = await asyncio.wait_for(_drain(stream), 10)
    await stream.aclose()
    assert opens(mock_soniox) == 2
    assert_same_words(events, expected)
    assert len(mock_soniox.journal.client_frames("finish")) == 1
    assert not other_tasks()


async def _drain(stream: soniox.SpeechStream) -> list[SpeechEvent]:
    return [ev async for ev in stream]


async def test_a_garbled_frame_is_a_retryable_connection_error(
    http_session: aiohttp.ClientSession,
) -> None:
    """A frame that is not JSON (a broken proxy, a truncated message) is retried like a drop."""
    connections = 0

    async def garbling_service(request: web.Request) -> web.WebSocketResponse:
        nonlocal connections
        connections += 1
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        await ws.receive()  # the config
        await ws.send_str('{"tokens": [')
        await ws.close()
        return ws

    app = web.Application()
    app.router.add_get("/", garbling_service)
    async with TestServer(app) as server:
        stt = soniox.STT(api_key="k", base_url=str(server.make_url("/")), http_session=http_session)
        retry_once = APIConnectOptions(max_retry=1, retry_interval=0.01, timeout=5.0)
        with pytest.raises(APIConnectionError):
            await asyncio.wait_for(run_stream(stt, speech_like_audio(utterances=1), retry_once), 10)
    assert connections == 2  # the first attempt and one retry
