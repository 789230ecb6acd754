"""Faults on the TTS endpoint, end to end: a raw client running real streams.

Stream faults (``error``, ``no_audio_end``, ``slow``) target the K-th stream opened on the
connection (``stream=K``, 1-based) or every stream; connection faults can trigger on
``after_streams``.
"""

from __future__ import annotations

import json
from typing import Any

import aiohttp

from mock_soniox.testing.common import BEARER, with_faults
from mock_soniox.testing.pytest_plugin import MockSoniox

TEXT = "Faults make clients honest."


def config(stream_id: str) -> dict[str, Any]:
    return {
        "model": "tts-rt-v1-preview",
        "language": "en",
        "voice": "Maya",
        "audio_format": "pcm_s16le",
        "sample_rate": 24000,
        "stream_id": stream_id,
    }


async def connect(
    http: aiohttp.ClientSession, mock_soniox: MockSoniox, *specs: str, **kwargs: Any
) -> aiohttp.ClientWebSocketResponse:
    ws: aiohttp.ClientWebSocketResponse = await http.ws_connect(
        with_faults(mock_soniox.tts_url, *specs), headers=BEARER, **kwargs
    )
    return ws


async def speak(ws: aiohttp.ClientWebSocketResponse, stream_id: str) -> None:
    await ws.send_str(json.dumps(config(stream_id)))
    await ws.send_str(json.dumps({"stream_id": stream_id, "text": TEXT, "text_end": True}))


async def until_terminated(
    ws: aiohttp.ClientWebSocketResponse, *stream_ids: str
) -> dict[str, list[dict[str, Any]]]:
    """Each stream's frames, until every one of ``stream_ids`` has ``terminated``."""
    frames: dict[str, list[dict[str, Any]]] = {sid: [] for sid in stream_ids}
    open_streams = set(stream_ids)
    while open_streams:
        msg = await ws.receive(timeout=10)
        assert msg.type == aiohttp.WSMsgType.TEXT, msg
        frame = json.loads(msg.data)
        frames[frame["stream_id"]].append(frame)
        if frame.get("terminated"):
            open_streams.discard(frame["stream_id"])
    return frames


async def until_closed(ws: aiohttp.ClientWebSocketResponse) -> list[dict[str, Any]]:
    frames: list[dict[str, Any]] = []
    while True:
        msg = await ws.receive(timeout=10)
        if msg.type != aiohttp.WSMsgType.TEXT:
            return frames
        frames.append(json.loads(msg.data))


def shape(frames: list[dict[str, Any]]) -> list[str]:
    """A stream's frames reduced to what a client decides on."""
    out = []
    for f in frames:
        if "error_code" in f:
            out.append(f"error {f['error_code']}")
        elif f.get("terminated"):
            out.append("terminated")
        elif f.get("audio_end"):
            out.append("audio_end")
        elif "audio" in f and (not out or out[-1] != "audio"):
            out.append("audio")
    return out


async def test_error_on_the_kth_stream_only(
    mock_soniox: MockSoniox, http: aiohttp.ClientSession
) -> None:
    ws = await connect(http, mock_soniox, "error:code=408,stream=2")
    await speak(ws, "one")
    await ws.send_str(json.dumps(config("two")))  # text for it would get "not found"
    await speak(ws, "three")
    frames = await until_terminated(ws, "one", "two", "three")
    assert shape(frames["one"]) == ["audio", "audio_end", "terminated"]
    assert shape(frames["two"]) == ["error 408", "terminated"]
    assert frames["two"][0]["error_type"] == "request_timeout"
    assert shape(frames["three"]) == ["audio", "audio_end", "terminated"]
    assert not ws.closed  # per-stream errors leave the socket open
    await ws.close()


async def test_error_without_stream_hits_every_stream(
    mock_soniox: MockSoniox, http: aiohttp.ClientSession
) -> None:
    ws = await connect(http, mock_soniox, "error:code=402")
    await ws.send_str(json.dumps(config("a")))
    await ws.send_str(json.dumps(config("b")))
    frames = await until_terminated(ws, "a", "b")
    assert shape(frames["a"]) == shape(frames["b"]) == ["error 402", "terminated"]
    await ws.close()


async def test_no_audio_end_terminates_without_audio_end(
    mock_soniox: MockSoniox, http: aiohttp.ClientSession
) -> None:
    ws = await connect(http, mock_soniox, "no_audio_end:stream=1")
    await speak(ws, "first")
    await speak(ws, "second")
    frames = await until_terminated(ws, "first", "second")
    assert shape(frames["first"]) == ["audio", "terminated"]
    assert shape(frames["second"]) == ["audio", "audio_end", "terminated"]
    await ws.close()


async def test_slow_paces_audio_slower_than_real_time(
    mock_soniox: MockSoniox, http: aiohttp.ClientSession
) -> None:
    scale, rtf = 0.02, 3.0
    mock_soniox.configure(time_scale=scale)
    ws = await connect(http, mock_soniox, f"slow:rtf={rtf}")
    await speak(ws, "slow")
    await until_terminated(ws, "slow")
    await ws.close()
    text_sent = mock_soniox.journal.client_frames(endpoint="tts")[-1]
    audio = mock_soniox.journal.server_frames("audio", endpoint="tts")
    seconds = [e.data["audio"]["bytes"] / (24000 * 2) for e in audio]
    # Each chunk waits for the previous one's audio to be "played" at rtf x real time (scaled),
    # after the time to first audio: a lower bound, whatever the machine's speed.
    first_audio_s = mock_soniox.settings.tts_time_to_first_audio_ms / 1000.0
    assert audio[-1].t - text_sent.t >= (first_audio_s + sum(seconds[:-1]) * rtf) * scale
    assert {e.fault for e in mock_soniox.journal.events("fault")} == {f"slow:rtf={rtf}"}


async def test_conn_error_after_streams_fails_the_whole_connection(
    mock_soniox: MockSoniox, http: aiohttp.ClientSession
) -> None:
    ws = await connect(http, mock_soniox, "conn_error:code=503,after_streams=2")
    await speak(ws, "one")
    await until_terminated(ws, "one")
    await ws.send_str(json.dumps(config("two")))
    frames = await until_closed(ws)
    errors = [f for f in frames if "error_code" in f]
    assert [(e["error_code"], "stream_id" in e) for e in errors] == [(503, False)]
    assert ws.close_code == 1000


async def test_drop_after_streams_cuts_mid_stream(
    mock_soniox: MockSoniox, http: aiohttp.ClientSession
) -> None:
    mock_soniox.configure(time_scale=0.05)  # keep stream one busy while stream two opens
    ws = await connect(http, mock_soniox, "drop:after_streams=2")
    await speak(ws, "one")
    await ws.send_str(json.dumps(config("two")))
    frames = await until_closed(ws)
    assert ws.close_code == 1006
    assert not any(f.get("audio_end") or f.get("terminated") for f in frames)


async def test_close_after_streams_uses_the_code(
    mock_soniox: MockSoniox, http: aiohttp.ClientSession
) -> None:
    ws = await connect(http, mock_soniox, "close:code=4029,after_streams=1")
    await ws.send_str(json.dumps(config("s")))
    await until_closed(ws)
    assert ws.close_code == 4029


async def test_stall_after_a_stream_opens_sends_no_audio_and_no_pong(
    mock_soniox: MockSoniox, http: aiohttp.ClientSession
) -> None:
    ws = await connect(http, mock_soniox, "stall:after_streams=1", heartbeat=0.2)
    await speak(ws, "s")
    frames = await until_closed(ws)
    assert frames == []
    assert ws.close_code == 1006
    assert isinstance(ws.exception(), aiohttp.ServerTimeoutError)


async def test_delay_marks_every_server_frame(
    mock_soniox: MockSoniox, http: aiohttp.ClientSession
) -> None:
    ws = await connect(http, mock_soniox, "delay:ms=2")
    await speak(ws, "d")
    frames = await until_terminated(ws, "d")
    assert shape(frames["d"]) == ["audio", "audio_end", "terminated"]
    await ws.close()
    sent = mock_soniox.journal.server_frames(endpoint="tts")
    assert len(sent) == len(frames["d"])
    assert {e.fault for e in sent} == {"delay:ms=2"}


async def test_stream_error_heals_for_the_reconnecting_client(
    mock_soniox: MockSoniox, http: aiohttp.ClientSession
) -> None:
    spec = "error:code=503,stream=1,times=1"
    first = await connect(http, mock_soniox, spec)
    await first.send_str(json.dumps(config("x")))
    assert shape((await until_terminated(first, "x"))["x"]) == ["error 503", "terminated"]
    await first.close()
    second = await connect(http, mock_soniox, spec)
    await speak(second, "x")
    assert shape((await until_terminated(second, "x"))["x"]) == [
        "audio",
        "audio_end",
        "terminated",
    ]
    await second.close()


async def test_streams_show_in_the_connection_listing(
    mock_soniox: MockSoniox, http: aiohttp.ClientSession
) -> None:
    ws = await connect(http, mock_soniox, "stall:after_streams=1")
    await ws.send_str(json.dumps(config("listed")))
    await mock_soniox.journal.wait_for(lambda e: e.kind == "fault")
    (conn,) = mock_soniox.connections()
    assert [(s["stream_id"], s["voice"]) for s in conn["streams"]] == [("listed", "Maya")]
    assert (conn["streams_opened"], conn["stalled"]) == (1, True)
    await ws.close()


async def test_drop_after_ms_cuts_while_audio_is_flowing(
    mock_soniox: MockSoniox, http: aiohttp.ClientSession
) -> None:
    # At 0.1 x time, 100 characters are ~6 s of audio; slowed to 10 x real time they take ~6 s
    # to send, starting ~15 ms after the text. The drop lands 300 ms after connecting: mid-audio,
    # with a wide margin on a busy machine.
    mock_soniox.configure(time_scale=0.1)
    ws = await connect(http, mock_soniox, "drop:after_ms=3000", "slow:rtf=10")
    await ws.send_str(json.dumps(config("long")))
    text = "Every chunk that leaves before the cut is heard, and none after it. " * 2
    await ws.send_str(json.dumps({"stream_id": "long", "text": text[:100], "text_end": True}))
    frames = await until_closed(ws)
    assert ws.close_code == 1006
    assert "audio_end" not in shape(frames)
    assert "terminated" not in shape(frames)
    # The server was mid-stream: audio went out before the cut, none after it. (Frames still in
    # flight when TCP is reset may never reach the client, as on a real network.)
    journal = mock_soniox.journal
    (cut,) = journal.select(kind="fault", fault="drop:after_ms=3000")
    sent = journal.server_frames(endpoint="tts")
    assert sent, "audio was flowing when the drop came"
    assert all(e.seq < cut.seq and e.kind == "audio" for e in sent)
