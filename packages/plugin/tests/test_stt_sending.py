"""How audio reaches the socket: ``push_frame`` writes it itself while the sender is idle, and
whatever has to wait (a full socket buffer, a finalize, a reconnect) keeps every byte in order."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Iterator
from typing import Any

import aiohttp
import pytest
from livekit import rtc
from livekit.agents.stt import SpeechEvent, SpeechEventType

from mock_soniox.testing.pytest_plugin import MockSoniox

from .conftest import other_tasks, speech_like_audio, wait_journal
from .test_stt_faults import assert_same_words
from .test_stt_stream import FAST_RETRY, finals, make_stt, run_stream

E = SpeechEventType
Send = Callable[..., Coroutine[Any, Any, None]]


class SendLog:
    """Wraps the websocket's ``send_bytes``: which task sent each binary frame, and (if asked)
    a send that waits for drain every ``wait_every`` frames, as a full socket buffer does."""

    def __init__(self, wait_every: int = 0, fail_at: int = 0) -> None:
        self.wait_every = wait_every
        self.fail_at = fail_at
        self.senders: list[str] = []
        self.sizes: list[int] = []

    def wrap(self, send: Send) -> Send:
        async def send_bytes(ws: aiohttp.ClientWebSocketResponse, data: bytes, *a: Any) -> None:
            task = asyncio.current_task()
            self.senders.append(task.get_name() if task else "")
            if len(self.senders) == self.fail_at:
                raise aiohttp.ClientConnectionResetError("Cannot write to closing transport")
            await send(ws, data, *a)
            self.sizes.append(len(data))
            if self.wait_every and len(self.senders) % self.wait_every == 0:
                await asyncio.sleep(0)  # the write is buffered; the sender waits for drain

        return send_bytes


@pytest.fixture
def send_log(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., SendLog]]:
    def install(**kwargs: int) -> SendLog:
        log = SendLog(**kwargs)
        send = aiohttp.ClientWebSocketResponse.send_bytes
        monkeypatch.setattr(aiohttp.ClientWebSocketResponse, "send_bytes", log.wrap(send))
        return log

    yield install


async def stream_live(
    mock: MockSoniox, stt: Any, frames: list[rtc.AudioFrame], *, flush_every: int = 0
) -> list[SpeechEvent]:
    """The first frame opens the session; the rest are pushed once it is live, a few per
    loop turn (as a room's audio arrives), so most find the sender idle."""
    async with stt.stream(conn_options=FAST_RETRY) as stream:
        stream.push_frame(frames[0])
        await wait_journal(mock.journal, lambda e: e.kind == "audio")
        for i, frame in enumerate(frames[1:], start=1):
            stream.push_frame(frame)
            if flush_every and i % flush_every == 0:
                stream.flush()
            if i % 3 == 0:
                await asyncio.sleep(0)
        stream.end_input()
        return [ev async for ev in stream]


def received_bytes(mock: MockSoniox) -> int:
    return sum(e.data["bytes"] for e in mock.journal.client_frames("audio", endpoint="stt"))


def pushed_bytes(frames: list[rtc.AudioFrame]) -> int:
    return sum(f.samples_per_channel * f.num_channels * 2 for f in frames)


def final_texts(events: list[SpeechEvent]) -> list[str]:
    return [alt.text for alt in finals(events)]


async def baseline(mock: MockSoniox, http_session: aiohttp.ClientSession) -> list[str]:
    events = await asyncio.wait_for(run_stream(make_stt(mock, http_session), FRAMES), 10)
    mock.reset()
    return final_texts(events)


FRAMES = speech_like_audio(utterances=3)


async def test_push_frame_writes_to_the_socket_itself_while_the_sender_is_idle(
    mock_soniox: MockSoniox, http_session: aiohttp.ClientSession, send_log: Any
) -> None:
    expected = await baseline(mock_soniox, http_session)
    log = send_log()
    stt = make_stt(mock_soniox, http_session)
    events = await asyncio.wait_for(stream_live(mock_soniox, stt, FRAMES), 10)
    assert final_texts(events) == expected
    assert received_bytes(mock_soniox) == pushed_bytes(FRAMES)
    # No task woke up to send a frame: the caller's own task wrote all but the first.
    assert log.senders[0] == "soniox-stt-send"
    assert set(log.senders[1:]) == {log.senders[1]} != {"soniox-stt-send"}
    assert not other_tasks()


async def test_audio_waiting_for_a_full_socket_buffer_keeps_its_order(
    mock_soniox: MockSoniox, http_session: aiohttp.ClientSession, send_log: Any
) -> None:
    expected = await baseline(mock_soniox, http_session)
    log = send_log(wait_every=4)
    stt = make_stt(mock_soniox, http_session)
    events = await asyncio.wait_for(stream_live(mock_soniox, stt, FRAMES), 10)
    assert final_texts(events) == expected  # every frame once, in order
    assert received_bytes(mock_soniox) == pushed_bytes(FRAMES)
    assert sum(log.sizes) == pushed_bytes(FRAMES)
    # Frames that came while a write waited were queued behind it (and batched by the sender).
    assert "soniox-stt-send" in log.senders[1:]
    assert max(log.sizes) > min(log.sizes)
    assert not other_tasks()


async def test_a_finalize_keeps_its_place_among_the_audio(
    mock_soniox: MockSoniox, http_session: aiohttp.ClientSession, send_log: Any
) -> None:
    send_log(wait_every=4)
    stt = make_stt(mock_soniox, http_session)
    await asyncio.wait_for(stream_live(mock_soniox, stt, FRAMES, flush_every=40), 10)
    frame_bytes = pushed_bytes(FRAMES[:1])
    before: list[int] = []
    sent = 0
    for entry in mock_soniox.journal.client_frames(endpoint="stt"):
        if entry.kind == "audio":
            sent += entry.data["bytes"]
        elif entry.kind == "finalize":
            before.append(sent // frame_bytes)
    assert before == list(range(41, len(FRAMES), 40))  # the first frame, then 40 per flush


async def test_a_write_failing_in_push_frame_reconnects_and_resends_it(
    mock_soniox: MockSoniox, http_session: aiohttp.ClientSession, send_log: Any
) -> None:
    expected = await asyncio.wait_for(run_stream(make_stt(mock_soniox, http_session), FRAMES), 10)
    mock_soniox.reset()
    log = send_log(fail_at=30)
    stt = make_stt(mock_soniox, http_session)
    errors: list[Any] = []
    stt.on("error", errors.append)
    events = await asyncio.wait_for(stream_live(mock_soniox, stt, FRAMES), 10)
    assert [type(e.error).__name__ for e in errors] == ["APIConnectionError"]
    assert [e.recoverable for e in errors] == [True]
    assert len(mock_soniox.journal.select(kind="open")) == 2
    assert log.senders[29] != "soniox-stt-send"  # it failed inside push_frame
    assert_same_words(events, expected)  # the failed frame was sent again, nothing twice
    kinds = [e.type for e in events]
    assert kinds.count(E.FINAL_TRANSCRIPT) == 3
    assert not other_tasks()
