"""Faults on the STT endpoint, end to end: a raw client streaming audio into a real session.

``after_ms`` on STT counts audio received (the audio clock), so triggers land at exact points of
the stream: 100 ms chunks of 16 kHz s16le mono make the arithmetic plain.
"""

from __future__ import annotations

import json
from typing import Any

import aiohttp
import numpy as np

from mock_soniox.testing.common import BEARER, with_faults
from mock_soniox.testing.pytest_plugin import MockSoniox
from mock_soniox.testing.stt import BASIC_CONFIG

CONFIG = {**BASIC_CONFIG, "model": "stt-rt-v4"}
CHUNK_MS = 100


def chunk(i: int) -> bytes:
    """100 ms of a speech-like tone burst, different for each chunk."""
    t = np.arange(1600) / 16000.0
    tone = 0.3 * np.sin(2 * np.pi * (180 + 20 * (i % 5)) * t)
    return (tone * 32767).astype("<i2").tobytes()


async def start(
    http: aiohttp.ClientSession, mock_soniox: MockSoniox, *specs: str, **kwargs: Any
) -> aiohttp.ClientWebSocketResponse:
    ws: aiohttp.ClientWebSocketResponse = await http.ws_connect(
        with_faults(mock_soniox.stt_url, *specs), headers=BEARER, **kwargs
    )
    await ws.send_str(json.dumps(CONFIG))
    return ws


async def stream(ws: aiohttp.ClientWebSocketResponse, chunks: int) -> int:
    """Send up to ``chunks`` chunks; how many went out before the socket went away."""
    for i in range(chunks):
        if ws.closed:
            return i
        try:
            await ws.send_bytes(chunk(i))
        except ConnectionError:
            return i
    return chunks


async def read_all(ws: aiohttp.ClientWebSocketResponse) -> tuple[list[dict[str, Any]], Any]:
    """Every JSON frame until the socket ends, and how it ended (close code or message type)."""
    frames = []
    while True:
        msg = await ws.receive(timeout=10)
        if msg.type == aiohttp.WSMsgType.TEXT:
            frames.append(json.loads(msg.data))
            continue
        return frames, msg.data if msg.type == aiohttp.WSMsgType.CLOSE else ws.close_code


async def faulted_session(
    http: aiohttp.ClientSession,
    mock_soniox: MockSoniox,
    spec: str,
    chunks: int,
    *,
    finish: bool = False,
    **kwargs: Any,
) -> tuple[aiohttp.ClientWebSocketResponse, list[dict[str, Any]], Any]:
    """A session with ``spec`` armed: config, ``chunks`` of audio (then finish), read to the end.

    Returns the socket, every JSON frame and how the socket ended (as ``read_all``).
    """
    ws = await start(http, mock_soniox, spec, **kwargs)
    await stream(ws, chunks)
    if finish:
        await ws.send_str("")
    frames, ended = await read_all(ws)
    return ws, frames, ended


def audio_frames_before_fault(mock_soniox: MockSoniox) -> int:
    journal = mock_soniox.journal
    (fault,) = journal.events("fault")
    return len([e for e in journal.client_frames("audio") if e.seq < fault.seq])


async def test_error_after_ms_sends_results_then_the_error_then_closes(
    mock_soniox: MockSoniox, http: aiohttp.ClientSession
) -> None:
    # 10 chunks, exactly 1000 ms: the fault fires on the last one.
    _, frames, ended = await faulted_session(http, mock_soniox, "error:code=500,after_ms=1000", 10)
    assert frames[-1]["error_code"] == 500
    assert frames[-1]["error_type"] == "internal_error"
    results = frames[:-1]
    assert results, "results for the audio before the fault"
    assert all("tokens" in f for f in results)
    assert max(f["total_audio_proc_ms"] for f in results) <= 1000
    assert ended == 1000
    assert audio_frames_before_fault(mock_soniox) == 10


async def test_drop_after_ms_cuts_tcp_while_audio_flows(
    mock_soniox: MockSoniox, http: aiohttp.ClientSession
) -> None:
    ws, frames, _ = await faulted_session(http, mock_soniox, "drop:after_ms=500", 5)
    assert ws.close_code == 1006
    assert all("error_code" not in f for f in frames)
    assert audio_frames_before_fault(mock_soniox) == 5
    assert mock_soniox.journal.server_frames("finished") == []


async def test_drop_after_frames_counts_the_config_too(
    mock_soniox: MockSoniox, http: aiohttp.ClientSession
) -> None:
    # The third frame is the second audio chunk: the config counts too.
    ws, _, _ = await faulted_session(http, mock_soniox, "drop:after_frames=3", 2)
    assert ws.close_code == 1006
    assert audio_frames_before_fault(mock_soniox) == 2


async def test_close_after_ms_uses_the_code(
    mock_soniox: MockSoniox, http: aiohttp.ClientSession
) -> None:
    _, frames, ended = await faulted_session(http, mock_soniox, "close:code=1011,after_ms=300", 3)
    assert ended == 1011
    assert all("error_code" not in f for f in frames)


async def test_stall_withholds_results_and_pongs_until_the_client_gives_up(
    mock_soniox: MockSoniox, http: aiohttp.ClientSession
) -> None:
    # 8 chunks: 500 ms more audio after the stall, and no results for it.
    ws, frames, _ = await faulted_session(http, mock_soniox, "stall:after_ms=300", 8, heartbeat=0.2)
    assert ws.close_code == 1006
    assert isinstance(ws.exception(), aiohttp.ServerTimeoutError)
    assert frames, "results before the stall arrived"
    assert max(f["total_audio_proc_ms"] for f in frames) <= 300
    assert len(mock_soniox.journal.client_frames("audio")) == 8  # the server kept reading


async def test_delay_holds_back_results_and_the_journal_says_why(
    mock_soniox: MockSoniox, http: aiohttp.ClientSession
) -> None:
    _, frames, ended = await faulted_session(http, mock_soniox, "delay:ms=5", 3, finish=True)
    assert frames[-1]["finished"] is True
    assert ended == 1000
    sent = mock_soniox.journal.server_frames()
    assert len(sent) == len(frames)
    assert {e.fault for e in sent} == {"delay:ms=5"}


async def test_a_client_that_reconnects_with_the_same_url_recovers(
    mock_soniox: MockSoniox, http: aiohttp.ClientSession
) -> None:
    spec = "drop:after_ms=200,times=1"
    first, _, _ = await faulted_session(http, mock_soniox, spec, 4)
    assert first.close_code == 1006

    # Healed: the same spec no longer fires.
    _, frames, ended = await faulted_session(http, mock_soniox, spec, 4, finish=True)
    assert frames[-1]["finished"] is True
    assert ended == 1000
    assert mock_soniox.journal.faults_applied() == [spec]
